//! Nothing here: this package only holds the benchmarks `arena.rs`, `gc.rs`, `memory.rs` and
//! `snapshot.rs`. Run one with
//! `cargo bench -p benches --bench arena` (or `gc`, `memory`, `snapshot`), then
//! `python3 benches/report.py`.
