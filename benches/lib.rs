//! Nothing here: this package only holds the benchmarks `arena.rs`, `gc.rs`, `memory.rs`,
//! `snapshot.rs` and `par.rs`. Run one with
//! `cargo bench -p benches --bench arena` (or `gc`, `memory`, `snapshot`, `par`), then
//! `python3 benches/report.py`.
