//! Feature `rayon`: `Arena::par_for_each` on 2 threads against `Arena::iter` on one.
//!
//! Run: `cargo bench -p benches --bench par` (or `-- par_for_each` for the group).
//!
//! Group `par_for_each` (`Throughput::Elements(1M)`): an arena of 1M live 32-byte values
//! (`[u64; 4]`), made once. Every contender folds each value into a `u64` and sums:
//!
//! * `iter_1t/<op>`: one guard, `arena.iter(&guard).for_each(..)` on the bench thread.
//! * `par_for_each_2t/<op>`: `arena.par_for_each(..)` in a 2-thread rayon pool (built once,
//!   entered with `install`). `par_for_each` takes a `Fn`, so each worker adds into its own
//!   cache-padded slot (indexed by `rayon::current_thread_index`, relaxed load and store,
//!   no read-modify-write), and the slots are summed afterwards.
//!
//! `<op>` is `sum` (the fold is `v[0] ^ v[3]`: memory-bound) or `work` (a few rounds of
//! multiply, rotate and xor per value: compute-bound). On 2 cores the best ratio is 2.
//! Measured once on this project's shared 2-core machine (medians, 10 samples, 3 s):
//! `sum` 10.0 ms one thread against 6.5 ms two (1.54x), `work` 20.0 ms against 10.6 ms
//! (1.89x).

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use epoch_arena::{pin, Arena};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The 32-byte value.
type V = [u64; 4];

/// How a value is folded into the sum.
type Op = fn(&V) -> u64;

const N: u64 = 1_000_000;

#[inline(always)]
fn sum_op(v: &V) -> u64 {
    v[0] ^ v[3]
}

#[inline(always)]
fn work_op(v: &V) -> u64 {
    let mut x = v[0] ^ v[1].rotate_left(7);
    for &w in v {
        x = (x ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29) ^ (x >> 17);
    }
    x
}

/// One accumulator per worker, each on its own cache lines.
#[repr(align(128))]
#[derive(Default)]
struct Slot(AtomicU64);

fn par_sum(pool: &rayon::ThreadPool, arena: &Arena<V>, op: Op) -> u64 {
    let slots: Vec<Slot> = (0..pool.current_num_threads())
        .map(|_| Slot::default())
        .collect();
    pool.install(|| {
        arena.par_for_each(|_, v| {
            let slot = &slots[rayon::current_thread_index().unwrap_or(0)].0;
            slot.store(
                slot.load(Ordering::Relaxed).wrapping_add(op(v)),
                Ordering::Relaxed,
            );
        })
    });
    slots
        .iter()
        .fold(0u64, |acc, s| acc.wrapping_add(s.0.load(Ordering::Relaxed)))
}

fn seq_sum(arena: &Arena<V>, op: Op) -> u64 {
    let guard = pin();
    let mut sum = 0u64;
    arena
        .iter(&guard)
        .for_each(|(_, v)| sum = sum.wrapping_add(op(v)));
    sum
}

fn par_for_each(c: &mut Criterion) {
    let arena: Arena<V> = Arena::with_capacity(N as usize);
    for i in 0..N {
        arena.insert([i, i ^ 0x5555, i.wrapping_mul(3), !i]);
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a 2-thread rayon pool");
    let mut g = c.benchmark_group("par_for_each");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(N));
    let ops: [(&str, Op); 2] = [("sum", sum_op), ("work", work_op)];
    for (name, op) in ops {
        // Both ways compute the same sum (addition commutes, wrapping or not).
        assert_eq!(seq_sum(&arena, op), par_sum(&pool, &arena, op));
        g.bench_function(BenchmarkId::new("iter_1t", name), |b| {
            b.iter(|| black_box(seq_sum(&arena, op)))
        });
        g.bench_function(BenchmarkId::new("par_for_each_2t", name), |b| {
            b.iter(|| black_box(par_sum(&pool, &arena, op)))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = par_for_each
}
criterion_main!(benches);
