//! Memory that goes back (compaction, shrinking, trimming) and bulk insertion, each group
//! with its peers side by side (so ratios come from one run).
//!
//! Run: `cargo bench -p benches --bench memory` (1–2 minutes on the 2-core machine).
//! Every group reports `Throughput::Elements`, so ns per slot (or per value) is the
//! per-iteration time divided by the element count.
//!
//! The value type is `[u64; 4]` (32 bytes) everywhere, as in `arena.rs`. The fragmented
//! arena is 1M values inserted into a fresh arena, then 900k of them removed with
//! `Arena::remove` in a seeded random order and reclaimed (`flush` and pins until nothing
//! waits for reclamation), leaving 100k live values. Two layouts of the 900k removed:
//!
//! * *random*: 900k of the 1M insertion positions chosen uniformly (xorshift, fixed seed);
//! * *runs*: every position `i` with `i % 1000 >= 100`, so the 100k live values sit in runs
//!   of 100 and the free slots in runs of 900 (36 KB, about eight whole pages each).
//!
//! Groups:
//!
//! * `compact_1m_100k` (random layout, `Elements(1M)` slots): `epoch-arena/compact`,
//!   `epoch-arena/shrink_to_fit`, and the peer `vec/retain+shrink`: a `Vec<Option<V>>` of
//!   1M with the same 900k set to `None`, `retain(Option::is_some)` then `shrink_to_fit`.
//!   `vec-u8x32/retain+shrink` is the same over `Option<[u8; 32]>` (33-byte elements
//!   instead of 40). Every iteration gets a fresh container built before the clock starts;
//!   only the call(s) named are timed, and the result (the `Remap`) and the container are
//!   dropped after the clock stops.
//! * `trim_1m_random` and `trim_1m_runs` (`Elements(1M)` slots, so the rate is per slot
//!   scanned): `epoch-arena/trim_fresh` is one `trim` of a freshly fragmented arena (built
//!   untimed), so the pages it gives back were resident; `epoch-arena/trim_again` is `trim`
//!   of an arena already trimmed, so there is nothing left to give back (the bookkeeping
//!   alone). `floor/scan+madvise` is the least work the job needs: over a resident
//!   `Vec` of 40-byte slots (a state word and the value) with the same layout, find the
//!   runs of free slots and `madvise` the whole pages inside them (fresh copy each time).
//! * `insert_many_1m` (`Elements(1M)`): 1M values into a fresh container, made before the
//!   clock starts and dropped (with the keys `insert_many` returns) after it stops:
//!   `epoch-arena/insert_many`, `epoch-arena/insert` (a loop, for reference), `vec/extend`
//!   (into `Vec::new()`), `vec/extend_reserved` (into `Vec::with_capacity(1M)`), and
//!   `vec/extend_reserved_cold`: the same with the pages of the capacity given back
//!   (`madvise`) before the clock starts. The arena's chunks are mmapped fresh for every
//!   arena, so each of its iterations faults its 40 MB in (and its keys' 8 MB), while glibc
//!   keeps the `Vec`'s freed 32 MB buffer resident in its heap between iterations (it raises
//!   its mmap threshold after the first free), so `vec/extend` and `vec/extend_reserved`
//!   fault nothing: `_cold` is the peer that pays for its page faults as the arena does.
//! * `trim_latency` (runs layout): a reader's `pin()` + `get` of a random live key + a read
//!   of the value, one guard per get. Before criterion's run of each contender, the reader
//!   times [`LATENCY_GETS`] gets one by one (`Instant` around each, so the clock's own cost
//!   is in every sample) and prints p50/p90/p99/p99.9/p99.99/max to stderr, with the
//!   reader's minor page faults and preemptions, the trimmer's page faults, and the TLB
//!   shootdowns the machine took meanwhile (`/proc/interrupts`):
//!   * `idle`: nothing else runs;
//!   * `spin`: another thread spins (the same CPU competition as a trimmer, no trims);
//!   * `during_trim`: another thread runs `trim` back to back (after the first, there is
//!     nothing left to give back: each trim pops, scans and pushes the free list);
//!   * `during_trim_churn`: another thread, in a loop, fills 100k free slots
//!     (`insert_many`), removes them, waits for their reclamation and trims, so every trim
//!     gives back pages that were resident (page-table updates and TLB shootdowns included).
//!
//! With `--test` every benchmark runs once and the latency runs are short.

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, Bencher, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use epoch_arena::{pin, Arena, Key};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use testkit::Rng;

/// The 32-byte value stored everywhere.
type V = [u64; 4];

#[inline(always)]
fn val(i: u64) -> V {
    [i, i ^ 0x5555, i.wrapping_mul(3), !i]
}

/// `val(i)` as 32 bytes, for the `Option<[u8; 32]>` peer.
fn val_bytes(i: u64) -> [u8; 32] {
    let mut b = [0u8; 32];
    for (chunk, word) in b.chunks_exact_mut(8).zip(val(i)) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    b
}

/// Reads something from a value so the load cannot be optimised away.
#[inline(always)]
fn fold(v: &V) -> u64 {
    v[0] ^ v[3]
}

type Group<'a> = BenchmarkGroup<'a, WallTime>;

/// A flat-sampled group of `samples` samples. Criterion runs
/// `ceil(measure_ms / (samples × time of one timed call))` iterations per sample; for the
/// contenders that rebuild a fragmented arena (about 0.3 s, untimed) for every iteration,
/// `measure_ms` is kept below that product so that they run one iteration per sample
/// (criterion then warns that it cannot finish in time; the warning is expected).
fn config_group<'a>(
    c: &'a mut Criterion,
    name: &str,
    elements: u64,
    samples: usize,
    measure_ms: u64,
) -> Group<'a> {
    let mut g = benches::group(
        c,
        name,
        samples,
        Duration::from_millis(500),
        Duration::from_millis(measure_ms),
    );
    g.throughput(Throughput::Elements(elements));
    g
}

/// Benchmarks `routine` as contender `name` of the group: `"crate"`, or `"crate/variant"`
/// (function `crate`, parameter `variant`).
fn bench(g: &mut Group<'_>, name: &str, routine: impl FnMut(&mut Bencher<'_>)) {
    match name.split_once('/') {
        Some((function, variant)) => g.bench_function(BenchmarkId::new(function, variant), routine),
        None => g.bench_function(name, routine),
    };
}

/// Lazily built state for one contender: built on first use, so a filtered-out benchmark
/// costs nothing.
fn lazy<S>(slot: &mut Option<S>, build: impl FnOnce() -> S) -> &mut S {
    slot.get_or_insert_with(build)
}

/// Whether the bench binary runs in criterion's `--test` mode (one iteration each).
fn test_mode() -> bool {
    std::env::args().any(|a| a == "--test")
}

/// Runs `iters` iterations, each on fresh state from `make` (untimed). Only `run` is timed;
/// what it returns and the state are dropped after the clock stops, and `check` (untimed)
/// sees both first.
fn time_each<S, R>(
    iters: u64,
    mut make: impl FnMut() -> S,
    mut run: impl FnMut(&mut S) -> R,
    mut check: impl FnMut(&S, &R),
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let mut state = make();
        // Opaque before and after, so the work cannot be skipped or moved past the clock.
        let state = black_box(&mut state);
        let start = Instant::now();
        let out = run(state);
        total += start.elapsed();
        let (state, out) = black_box((state, out));
        check(state, &out);
        drop(out);
    }
    total
}

// ---------------------------------------------------------------------------------------
// The fragmented arena

const SLOTS: usize = 1_000_000;
const LIVE: usize = 100_000;
const SEED: u64 = 0x6d65_6d6f_7279; // "memory"

/// Which of the `SLOTS` insertion positions are removed, and the order they are removed in.
struct Plan {
    removed: Vec<bool>,
    order: Vec<u32>,
}

/// A seeded random permutation of `0..SLOTS`.
fn permutation(seed: u64) -> Vec<u32> {
    let mut rng = Rng::new(seed);
    let mut p: Vec<u32> = (0..SLOTS as u32).collect();
    for i in (1..SLOTS).rev() {
        p.swap(i, rng.below(i + 1));
    }
    p
}

impl Plan {
    /// 900k positions chosen uniformly, removed in random order.
    fn random() -> Plan {
        let perm = permutation(SEED);
        let order = perm[..SLOTS - LIVE].to_vec();
        Plan::from_order(order)
    }

    /// Runs of 900 removed after runs of 100 kept, removed in random order.
    fn runs() -> Plan {
        let order = permutation(SEED ^ 1)
            .into_iter()
            .filter(|&i| i % 1000 >= 100)
            .collect();
        Plan::from_order(order)
    }

    fn from_order(order: Vec<u32>) -> Plan {
        let mut removed = vec![false; SLOTS];
        for &i in &order {
            removed[i as usize] = true;
        }
        assert_eq!(order.len(), SLOTS - LIVE);
        Plan { removed, order }
    }

    /// `Some(value)` at the live positions, `None` at the removed ones.
    fn vec<E>(&self, value: impl Fn(u64) -> E) -> Vec<Option<E>> {
        self.removed
            .iter()
            .enumerate()
            .map(|(i, &r)| (!r).then(|| value(i as u64)))
            .collect()
    }
}

/// Pins and flushes until nothing waits for reclamation; panics if that does not happen.
fn drain_reclamation(arena: &Arena<V>) {
    arena.flush();
    for _ in 0..100_000 {
        if arena.stats().pending_reclamation == 0 {
            return;
        }
        arena.flush();
        pin().flush();
    }
    panic!(
        "memory bench: {} values still wait for reclamation",
        arena.stats().pending_reclamation
    );
}

/// A fresh arena with `SLOTS` values inserted, the plan's removed and reclaimed; and the
/// keys of the live values.
fn fragmented(plan: &Plan) -> (Arena<V>, Vec<Key>) {
    let arena = Arena::new();
    let keys = arena.insert_many((0..SLOTS as u64).map(val));
    for &i in &plan.order {
        assert!(arena.remove(keys[i as usize]));
    }
    drain_reclamation(&arena);
    let live: Vec<Key> = keys
        .into_iter()
        .zip(&plan.removed)
        .filter(|(_, &r)| !r)
        .map(|(k, _)| k)
        .collect();
    debug_assert_eq!(arena.len(), LIVE);
    (arena, live)
}

// ---------------------------------------------------------------------------------------
// compact_1m_100k

fn compact_1m_100k(c: &mut Criterion) {
    let mut plan = None;
    let mut g = config_group(c, "compact_1m_100k", SLOTS as u64, 30, 300);

    bench(&mut g, "epoch-arena/compact", |b| {
        let plan = lazy(&mut plan, Plan::random);
        b.iter_custom(|iters| {
            time_each(
                iters,
                || fragmented(plan).0,
                |arena| arena.compact(),
                |arena, remap| {
                    assert_eq!((remap.live(), arena.len()), (LIVE, LIVE));
                },
            )
        })
    });

    bench(&mut g, "epoch-arena/shrink_to_fit", |b| {
        let plan = lazy(&mut plan, Plan::random);
        b.iter_custom(|iters| {
            time_each(
                iters,
                || fragmented(plan).0,
                |arena| arena.shrink_to_fit(),
                |arena, ()| assert_eq!(arena.len(), LIVE),
            )
        })
    });

    let mut template = None;
    bench(&mut g, "vec/retain+shrink", |b| {
        let plan = lazy(&mut plan, Plan::random);
        let template = lazy(&mut template, || plan.vec(val));
        b.iter_custom(|iters| {
            time_each(
                iters,
                || template.clone(),
                |v| {
                    v.retain(Option::is_some);
                    v.shrink_to_fit();
                },
                |v, ()| assert_eq!(v.len(), LIVE),
            )
        })
    });
    drop(template);

    let mut template = None;
    bench(&mut g, "vec-u8x32/retain+shrink", |b| {
        let plan = lazy(&mut plan, Plan::random);
        let template = lazy(&mut template, || plan.vec(val_bytes));
        b.iter_custom(|iters| {
            time_each(
                iters,
                || template.clone(),
                |v| {
                    v.retain(Option::is_some);
                    v.shrink_to_fit();
                },
                |v, ()| assert_eq!(v.len(), LIVE),
            )
        })
    });
    g.finish();
}

// ---------------------------------------------------------------------------------------
// trim_1m_random / trim_1m_runs

/// A slot of the trim floor: a state word (0 = free) and the value, 40 bytes like the
/// arena's slots. All-zero bytes are a free slot, so released pages read back as free.
#[derive(Clone, Copy)]
#[repr(C)]
struct FloorSlot {
    state: u64,
    value: V,
}

/// The floor of a trim: over resident slots, finds the runs of free ones and gives back
/// the whole pages inside each. Returns the bytes given back.
fn scan_and_madvise(slots: &mut [FloorSlot]) -> usize {
    const PAGE: usize = 4096;
    let base = slots.as_mut_ptr() as usize;
    let size = std::mem::size_of::<FloorSlot>();
    let mut released = 0;
    let mut i = 0;
    while i < slots.len() {
        if slots[i].state != 0 {
            i += 1;
            continue;
        }
        let start = i;
        while i < slots.len() && slots[i].state == 0 {
            i += 1;
        }
        let lo = (base + start * size).next_multiple_of(PAGE);
        let hi = (base + i * size) / PAGE * PAGE;
        if hi > lo {
            // SAFETY: `[lo, hi)` is page aligned and lies inside the free slots
            // `start..i`, which nothing else references; their bytes read back as zero,
            // a valid (free) `FloorSlot`.
            unsafe { libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_DONTNEED) };
            released += hi - lo;
        }
    }
    released
}

fn trim_group(c: &mut Criterion, name: &str, make_plan: fn() -> Plan) {
    let mut plan = None;
    let mut g = config_group(c, name, SLOTS as u64, 20, 200);
    let mut reported = false;

    bench(&mut g, "epoch-arena/trim_fresh", |b| {
        let plan = lazy(&mut plan, make_plan);
        if !reported {
            reported = true;
            let (arena, _) = fragmented(plan);
            let before = arena.resident_bytes();
            let frag = arena.fragmentation();
            let start = Instant::now();
            let released = arena.trim();
            let took = start.elapsed();
            eprintln!(
                "{name}: before trim {:.1} MB resident (fragmentation {frag:.3}); one trim \
                 released {:.1} MB in {:.2} ms; after {:.1} MB resident (fragmentation {:.3})",
                before as f64 / 1e6,
                released as f64 / 1e6,
                took.as_secs_f64() * 1e3,
                arena.resident_bytes() as f64 / 1e6,
                arena.fragmentation(),
            );
        }
        b.iter_custom(|iters| {
            time_each(
                iters,
                || fragmented(plan).0,
                |arena| arena.trim(),
                |arena, _| assert_eq!(arena.len(), LIVE),
            )
        })
    });

    let mut trimmed = None;
    bench(&mut g, "epoch-arena/trim_again", |b| {
        let plan = lazy(&mut plan, make_plan);
        let (arena, _) = lazy(&mut trimmed, || {
            let (arena, live) = fragmented(plan);
            arena.trim();
            (arena, live)
        });
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(arena.trim());
            }
            start.elapsed()
        })
    });
    drop(trimmed);

    let mut template = None;
    bench(&mut g, "floor/scan+madvise", |b| {
        let plan = lazy(&mut plan, make_plan);
        let template = lazy(&mut template, || {
            plan.vec(val)
                .into_iter()
                .map(|v| {
                    v.map_or(
                        FloorSlot {
                            state: 0,
                            value: [0; 4],
                        },
                        |value| FloorSlot { state: 1, value },
                    )
                })
                .collect::<Vec<_>>()
        });
        b.iter_custom(|iters| {
            time_each(
                iters,
                || template.clone(),
                |v| scan_and_madvise(v),
                |_, _| {},
            )
        })
    });
    g.finish();
}

fn trim_1m_random(c: &mut Criterion) {
    trim_group(c, "trim_1m_random", Plan::random);
}

fn trim_1m_runs(c: &mut Criterion) {
    trim_group(c, "trim_1m_runs", Plan::runs);
}

// ---------------------------------------------------------------------------------------
// insert_many_1m

const INSERT_N: u64 = 1_000_000;

fn insert_many_1m(c: &mut Criterion) {
    let mut g = config_group(c, "insert_many_1m", INSERT_N, 20, 2000);
    let values = || (0..INSERT_N).map(val);

    bench(&mut g, "epoch-arena/insert_many", |b| {
        b.iter_custom(|iters| {
            time_each(
                iters,
                Arena::<V>::new,
                |arena| arena.insert_many(values()),
                |arena, keys| assert_eq!((arena.len(), keys.len()), (SLOTS, SLOTS)),
            )
        })
    });
    bench(&mut g, "epoch-arena/insert", |b| {
        b.iter_custom(|iters| {
            time_each(
                iters,
                Arena::<V>::new,
                |arena| {
                    for v in values() {
                        black_box(arena.insert(v));
                    }
                },
                |arena, ()| assert_eq!(arena.len(), SLOTS),
            )
        })
    });
    bench(&mut g, "vec/extend", |b| {
        b.iter_custom(|iters| {
            time_each(
                iters,
                Vec::<V>::new,
                |v| v.extend(values()),
                |v, ()| assert_eq!(v.len(), SLOTS),
            )
        })
    });
    bench(&mut g, "vec/extend_reserved", |b| {
        b.iter_custom(|iters| {
            time_each(
                iters,
                || Vec::<V>::with_capacity(SLOTS),
                |v| v.extend(values()),
                |v, ()| assert_eq!(v.len(), SLOTS),
            )
        })
    });
    bench(&mut g, "vec/extend_reserved_cold", |b| {
        b.iter_custom(|iters| {
            time_each(
                iters,
                || {
                    let mut v = Vec::<V>::with_capacity(SLOTS);
                    release_spare(&mut v);
                    v
                },
                |v| v.extend(values()),
                |v, ()| assert_eq!(v.len(), SLOTS),
            )
        })
    });
    g.finish();
}

/// Gives the whole pages of `v`'s spare capacity back to the kernel, so that filling it
/// faults fresh zeroed pages in, as the arena's new chunks do.
fn release_spare(v: &mut Vec<V>) {
    const PAGE: usize = 4096;
    let spare = v.spare_capacity_mut();
    let start = spare.as_mut_ptr() as usize;
    let end = start + std::mem::size_of_val(spare);
    let (lo, hi) = (start.next_multiple_of(PAGE), end / PAGE * PAGE);
    if hi > lo {
        // SAFETY: the range is page aligned and inside the vector's unused capacity, which
        // holds nothing; the pages read back as zero, and nothing reads them before writing.
        unsafe { libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_DONTNEED) };
    }
}

// ---------------------------------------------------------------------------------------
// trim_latency

/// Gets timed one by one per latency contender.
const LATENCY_GETS: usize = 2_000_000;

/// Free slots the churning trimmer fills and frees again before each trim.
const CHURN: usize = 100_000;

#[derive(Clone, Copy, PartialEq)]
enum Other {
    Idle,
    Spin,
    Trim,
    TrimChurn,
}

/// What the other thread did while the gets were timed.
#[derive(Default)]
struct Background {
    stop: AtomicBool,
    started: AtomicBool,
    trims: AtomicUsize,
    released: AtomicUsize,
    /// Minor page faults the other thread took during its trims.
    faults: AtomicUsize,
    trim_ns: Mutex<Vec<u64>>,
}

/// The other thread's loop.
fn background(arena: &Arena<V>, other: Other, bg: &Background) {
    let mut spins = 0u64;
    while !bg.stop.load(Ordering::Relaxed) {
        bg.started.store(true, Ordering::Relaxed);
        match other {
            Other::Idle => return,
            Other::Spin => {
                spins = spins.wrapping_add(1);
                std::hint::spin_loop();
            }
            Other::Trim | Other::TrimChurn => {
                if other == Other::TrimChurn {
                    let keys = arena.insert_many((0..CHURN as u64).map(val));
                    for k in keys {
                        arena.remove(k);
                    }
                    drain_reclamation(arena);
                }
                let faults = thread_faults_and_preemptions().0;
                let start = Instant::now();
                let released = arena.trim();
                let ns = start.elapsed().as_nanos() as u64;
                let faults = thread_faults_and_preemptions().0 - faults;
                bg.faults
                    .fetch_add(faults.max(0) as usize, Ordering::Relaxed);
                bg.trims.fetch_add(1, Ordering::Relaxed);
                bg.released.fetch_add(released, Ordering::Relaxed);
                bg.trim_ns.lock().unwrap().push(ns);
            }
        }
    }
    black_box(spins);
}

/// Runs `f` while another thread does `other`.
fn with_background<R>(arena: &Arena<V>, other: Other, f: impl FnOnce(&Background) -> R) -> R {
    let bg = Background::default();
    if other == Other::Idle {
        return f(&bg);
    }
    std::thread::scope(|s| {
        s.spawn(|| background(arena, other, &bg));
        while !bg.started.load(Ordering::Relaxed) {
            std::hint::spin_loop();
        }
        let r = f(&bg);
        bg.stop.store(true, Ordering::Relaxed);
        r
    })
}

/// The calling thread's (minor page faults, involuntary context switches) so far.
fn thread_faults_and_preemptions() -> (i64, i64) {
    // SAFETY: `getrusage` writes the struct it is given; all-zero is a valid `rusage`.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_THREAD, &mut usage) != 0 {
            return (-1, -1);
        }
        (usage.ru_minflt, usage.ru_nivcsw)
    }
}

/// TLB shootdown interrupts taken so far, summed over every CPU (`/proc/interrupts`,
/// Linux x86; 0 elsewhere).
fn tlb_shootdowns() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/interrupts") else {
        return 0;
    };
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix("TLB:"))
        .map_or(0, |rest| {
            rest.split_whitespace()
                .map_while(|w| w.parse::<u64>().ok())
                .sum()
        })
}

/// Times `gets` gets of random live keys one by one and prints the percentiles.
fn latency_histogram(name: &str, arena: &Arena<V>, keys: &[Key], gets: usize, bg: &Background) {
    let mut rng = Rng::new(SEED ^ 0xfeed);
    // Written before the clock starts, so that its page faults are not the reader's.
    let mut lat: Vec<u32> = vec![1; gets];
    let (trims0, released0) = (
        bg.trims.load(Ordering::Relaxed),
        bg.released.load(Ordering::Relaxed),
    );
    let (faults0, preempted0) = thread_faults_and_preemptions();
    let (tlb0, trim_faults0) = (tlb_shootdowns(), bg.faults.load(Ordering::Relaxed));
    let start = Instant::now();
    let mut sum = 0u64;
    for l in lat.iter_mut() {
        let key = keys[rng.below(keys.len())];
        let t = Instant::now();
        let guard = pin();
        sum = sum.wrapping_add(arena.get(key, &guard).map_or(0, fold));
        drop(guard);
        *l = t.elapsed().as_nanos().min(u128::from(u32::MAX)) as u32;
    }
    let wall = start.elapsed();
    let (faults1, preempted1) = thread_faults_and_preemptions();
    let (tlb1, trim_faults1) = (tlb_shootdowns(), bg.faults.load(Ordering::Relaxed));
    black_box(sum);
    let trims = bg.trims.load(Ordering::Relaxed) - trims0;
    let released = bg.released.load(Ordering::Relaxed) - released0;
    let mut trim_ns = bg.trim_ns.lock().unwrap().clone();
    trim_ns.sort_unstable();
    let trim_ms = trim_ns
        .get(trim_ns.len() / 2)
        .map_or(0.0, |&ns| ns as f64 / 1e6);
    lat.sort_unstable();
    let p = |q: f64| lat[((lat.len() - 1) as f64 * q).round() as usize];
    let over = |ns: u32| lat.iter().rev().take_while(|&&l| l > ns).count();
    let mean = lat.iter().map(|&l| u64::from(l)).sum::<u64>() as f64 / lat.len() as f64;
    eprintln!(
        "trim_latency/{name}: {gets} gets in {:.2} s, {trims} trims (median {trim_ms:.2} ms, \
         {:.1} MB released in all); per get (ns, incl. clock): mean {mean:.0}, p50 {}, p90 {}, \
         p99 {}, p99.9 {}, p99.99 {}, max {}; >1us {}, >10us {}, >100us {}; the reader took \
         {} minor page faults and was preempted {} times; the trimmer took {} minor page \
         faults; {} TLB shootdowns (all CPUs, whole process and machine)",
        wall.as_secs_f64(),
        released as f64 / 1e6,
        p(0.5),
        p(0.9),
        p(0.99),
        p(0.999),
        p(0.9999),
        lat[lat.len() - 1],
        over(1_000),
        over(10_000),
        over(100_000),
        faults1 - faults0,
        preempted1 - preempted0,
        trim_faults1 - trim_faults0,
        tlb1 - tlb0,
    );
}

/// Gets of random live keys, timed as a whole.
fn untimed_gets(arena: &Arena<V>, keys: &[Key], rng: &mut Rng, gets: u64) -> Duration {
    let start = Instant::now();
    let mut sum = 0u64;
    for _ in 0..gets {
        let key = keys[rng.below(keys.len())];
        let guard = pin();
        sum = sum.wrapping_add(arena.get(key, &guard).map_or(0, fold));
    }
    black_box(sum);
    start.elapsed()
}

fn trim_latency(c: &mut Criterion) {
    let mut state = None;
    let gets = if test_mode() { 10_000 } else { LATENCY_GETS };
    let contenders = [
        ("idle", Other::Idle),
        ("spin", Other::Spin),
        ("during_trim", Other::Trim),
        ("during_trim_churn", Other::TrimChurn),
    ];
    let mut g = c.benchmark_group("trim_latency");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(1));
    for (name, other) in contenders {
        let mut histogram_done = false;
        let mut rng = Rng::new(SEED ^ 0xbeef);
        g.bench_function(name, |b| {
            // Built, and the histogram taken, only when the filter selects a contender.
            let (arena, keys) = lazy(&mut state, || fragmented(&Plan::runs()));
            with_background(arena, other, |bg| {
                if !histogram_done {
                    histogram_done = true;
                    latency_histogram(name, arena, keys, gets, bg);
                }
                b.iter_custom(|iters| untimed_gets(arena, keys, &mut rng, iters))
            });
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    compact_1m_100k,
    trim_1m_random,
    trim_1m_runs,
    insert_many_1m,
    trim_latency
);
criterion_main!(benches);
