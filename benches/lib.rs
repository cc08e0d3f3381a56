//! The benchmarks `arena.rs`, `gc.rs`, `memory.rs`, `snapshot.rs`, `par.rs` and
//! `hot_paths.rs` live in this package. Run one with
//! `cargo bench -p benches --bench arena` (or `gc`, `memory`, `snapshot`, `par`), then
//! `python3 benches/report.py`.
//!
//! The library holds what the criterion benches share: [`group`], their one group setup.

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode};
use std::time::Duration;

/// A benchmark group with `samples` samples, `warm_up` then `measure` of timing, and flat
/// sampling (every sample runs the same number of iterations: the workloads here are long,
/// and a linear ramp would spend the time budget on its first samples). Callers add the
/// throughput.
pub fn group<'a>(
    c: &'a mut Criterion,
    name: impl Into<String>,
    samples: usize,
    warm_up: Duration,
    measure: Duration,
) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(samples)
        .warm_up_time(warm_up)
        .measurement_time(measure)
        .sampling_mode(SamplingMode::Flat);
    g
}
