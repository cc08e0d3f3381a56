//! Nothing here: this package only holds the benchmarks `arena.rs` and `gc.rs`. Run them with
//! `cargo bench -p benches --bench arena` (or `--bench gc`), then `python3 benches/report.py`.
