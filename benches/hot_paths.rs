//! The one-thread hot paths of the default API (`Arena::insert`, `Arena::remove`,
//! `Arena::get`) and of `Handle`, against `parking_lot::Mutex<slotmap::SlotMap>`, the
//! container a user writes instead (issue 14's one-thread targets).
//!
//! A plain timing loop, not criterion, so that one workload can run alone under a profiler
//! or an instruction counter:
//!
//! ```text
//! cargo bench -p benches --bench hot_paths                       # every workload, medians
//! cargo bench -p benches --bench hot_paths -- churn arena 1      # one workload, one contender, one run
//! valgrind --tool=callgrind --toggle-collect='*hot_paths::run*' target/release/deps/hot_paths-* churn arena 1
//! ```
//!
//! Every measured loop is one `#[inline(never)]` function named `run_*`, so callgrind's
//! `--toggle-collect` counts exactly its instructions (setup, fill and drop excluded); divide
//! by the operation count (printed) for instructions per operation.
//!
//! Workloads (32-byte values, as in `benches/arena.rs`):
//!
//! * `insert`: 1M insertions into a fresh container (made before, dropped after the clock).
//! * `get1`: 1M live values, 1M random lookups, one guard (or lock) per get.
//! * `get256`: the same, one guard (or lock) per 256 gets.
//! * `churn`: 100k live; 1M times remove a random live key, then insert (two calls, as a
//!   user makes them; `mutex-replace` takes the lock once for both).
//! * `two`: 1M insertions alternating between two fresh arenas (`one`: the same into one).
//! * `remove`: 1M live, each removed once in random order (the removal path alone).

use epoch_arena::{pin, Arena, Key};
use parking_lot::Mutex;
use slotmap::{DefaultKey, SlotMap};
use std::hint::black_box;
use std::time::Instant;
use testkit::Rng;

type V = [u64; 4];

#[inline(always)]
fn val(i: u64) -> V {
    [i, i ^ 0x5555, i.wrapping_mul(3), !i]
}

const N: u64 = 1_000_000;
const CHURN_LIVE: usize = 100_000;

type Locked = Mutex<SlotMap<DefaultKey, V>>;

// --- insert ---------------------------------------------------------------------------

#[inline(never)]
fn run_insert_arena(a: &Arena<V>) {
    for i in 0..N {
        black_box(a.insert(val(i)));
    }
}

#[inline(never)]
fn run_insert_handle(a: &Arena<V>) {
    let mut h = a.handle();
    for i in 0..N {
        black_box(h.insert(val(i)));
    }
}

#[inline(never)]
fn run_insert_mutex(m: &Locked) {
    for i in 0..N {
        black_box(m.lock().insert(val(i)));
    }
}

#[inline(never)]
fn run_insert_two(a: &Arena<V>, b: &Arena<V>) {
    for i in 0..N / 2 {
        black_box(a.insert(val(i)));
        black_box(b.insert(val(i)));
    }
}

// --- get ------------------------------------------------------------------------------

#[inline(never)]
fn run_get1_arena(a: &Arena<V>, keys: &[Key]) -> u64 {
    let mut sum = 0u64;
    for &k in keys {
        let g = pin();
        let v = a.get(k, &g).unwrap();
        sum = sum.wrapping_add(v[0] ^ v[3]);
    }
    sum
}

#[inline(never)]
fn run_get256_arena(a: &Arena<V>, keys: &[Key]) -> u64 {
    let mut sum = 0u64;
    for batch in keys.chunks(256) {
        let g = pin();
        for &k in batch {
            let v = a.get(k, &g).unwrap();
            sum = sum.wrapping_add(v[0] ^ v[3]);
        }
    }
    sum
}

#[inline(never)]
fn run_get1_mutex(m: &Locked, keys: &[DefaultKey]) -> u64 {
    let mut sum = 0u64;
    for &k in keys {
        let map = m.lock();
        let v = map.get(k).unwrap();
        sum = sum.wrapping_add(v[0] ^ v[3]);
    }
    sum
}

#[inline(never)]
fn run_get256_mutex(m: &Locked, keys: &[DefaultKey]) -> u64 {
    let mut sum = 0u64;
    for batch in keys.chunks(256) {
        let map = m.lock();
        for &k in batch {
            let v = map.get(k).unwrap();
            sum = sum.wrapping_add(v[0] ^ v[3]);
        }
    }
    sum
}

// --- churn ----------------------------------------------------------------------------

#[inline(never)]
fn run_churn_arena(a: &Arena<V>, keys: &mut [Key], rng: &mut Rng) {
    for i in 0..N {
        let at = rng.below(keys.len());
        assert!(a.remove(keys[at]));
        keys[at] = a.insert(val(i));
    }
}

#[inline(never)]
fn run_churn_handle(a: &Arena<V>, keys: &mut [Key], rng: &mut Rng) {
    let mut h = a.handle();
    for i in 0..N {
        let at = rng.below(keys.len());
        assert!(h.remove(keys[at]));
        keys[at] = h.insert(val(i));
    }
}

#[inline(never)]
fn run_churn_mutex(m: &Locked, keys: &mut [DefaultKey], rng: &mut Rng) {
    for i in 0..N {
        let at = rng.below(keys.len());
        assert!(m.lock().remove(keys[at]).is_some());
        keys[at] = m.lock().insert(val(i));
    }
}

#[inline(never)]
fn run_churn_mutex_replace(m: &Locked, keys: &mut [DefaultKey], rng: &mut Rng) {
    for i in 0..N {
        let at = rng.below(keys.len());
        let mut map = m.lock();
        assert!(map.remove(keys[at]).is_some());
        keys[at] = map.insert(val(i));
    }
}

// --- remove ---------------------------------------------------------------------------

#[inline(never)]
fn run_remove_arena(a: &Arena<V>, keys: &[Key]) {
    for &k in keys {
        assert!(a.remove(k));
    }
}

#[inline(never)]
fn run_remove_handle(a: &Arena<V>, keys: &[Key]) {
    let mut h = a.handle();
    for &k in keys {
        assert!(h.remove(k));
    }
}

#[inline(never)]
fn run_remove_mutex(m: &Locked, keys: &[DefaultKey]) {
    for &k in keys {
        assert!(m.lock().remove(k).is_some());
    }
}

// --- driver ---------------------------------------------------------------------------

fn shuffled<K: Copy>(keys: &[K], seed: u64) -> Vec<K> {
    let mut v = keys.to_vec();
    let mut rng = Rng::new(seed);
    for i in (1..v.len()).rev() {
        v.swap(i, rng.below(i + 1));
    }
    v
}

fn lookups<K: Copy>(keys: &[K]) -> Vec<K> {
    let mut rng = Rng::new(0x6E7);
    (0..N).map(|_| keys[rng.below(keys.len())]).collect()
}

fn fill_arena(n: usize) -> (Arena<V>, Vec<Key>) {
    let a = Arena::new();
    let keys = (0..n as u64).map(|i| a.insert(val(i))).collect();
    (a, keys)
}

fn fill_mutex(n: usize) -> (Locked, Vec<DefaultKey>) {
    let m = Mutex::new(SlotMap::new());
    let keys = (0..n as u64).map(|i| m.lock().insert(val(i))).collect();
    (m, keys)
}

/// Seconds of one run of `workload` for `contender`; `None` if the pair does not exist.
fn once(workload: &str, contender: &str) -> Option<f64> {
    let t = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        f();
        start.elapsed().as_secs_f64()
    };
    Some(match (workload, contender) {
        ("insert", "arena") => {
            let a = Arena::new();
            t(&mut || run_insert_arena(&a))
        }
        ("insert", "handle") => {
            let a = Arena::new();
            t(&mut || run_insert_handle(&a))
        }
        ("insert", "mutex") => {
            let m = Mutex::new(SlotMap::new());
            t(&mut || run_insert_mutex(&m))
        }
        ("two", "arena") => {
            let (a, b) = (Arena::new(), Arena::new());
            t(&mut || run_insert_two(&a, &b))
        }
        ("two", "one") => {
            let a = Arena::new();
            t(&mut || run_insert_arena(&a))
        }
        ("get1" | "get256", "arena") => {
            let (a, keys) = fill_arena(N as usize);
            let look = lookups(&keys);
            if workload == "get1" {
                t(&mut || {
                    black_box(run_get1_arena(&a, &look));
                })
            } else {
                t(&mut || {
                    black_box(run_get256_arena(&a, &look));
                })
            }
        }
        ("get1" | "get256", "mutex") => {
            let (m, keys) = fill_mutex(N as usize);
            let look = lookups(&keys);
            if workload == "get1" {
                t(&mut || {
                    black_box(run_get1_mutex(&m, &look));
                })
            } else {
                t(&mut || {
                    black_box(run_get256_mutex(&m, &look));
                })
            }
        }
        ("churn", "arena" | "handle") => {
            let (a, mut keys) = fill_arena(CHURN_LIVE);
            let mut rng = Rng::new(0xC4);
            if contender == "arena" {
                t(&mut || run_churn_arena(&a, &mut keys, &mut rng))
            } else {
                t(&mut || run_churn_handle(&a, &mut keys, &mut rng))
            }
        }
        ("churn", "mutex" | "mutex-replace") => {
            let (m, mut keys) = fill_mutex(CHURN_LIVE);
            let mut rng = Rng::new(0xC4);
            if contender == "mutex" {
                t(&mut || run_churn_mutex(&m, &mut keys, &mut rng))
            } else {
                t(&mut || run_churn_mutex_replace(&m, &mut keys, &mut rng))
            }
        }
        ("remove", "arena" | "handle") => {
            let (a, keys) = fill_arena(N as usize);
            let keys = shuffled(&keys, 0x5E);
            if contender == "arena" {
                t(&mut || run_remove_arena(&a, &keys))
            } else {
                t(&mut || run_remove_handle(&a, &keys))
            }
        }
        ("remove", "mutex") => {
            let (m, keys) = fill_mutex(N as usize);
            let keys = shuffled(&keys, 0x5E);
            t(&mut || run_remove_mutex(&m, &keys))
        }
        _ => return None,
    })
}

const PAIRS: &[(&str, &[&str])] = &[
    ("insert", &["arena", "handle", "mutex"]),
    ("get1", &["arena", "mutex"]),
    ("get256", &["arena", "mutex"]),
    ("churn", &["arena", "handle", "mutex", "mutex-replace"]),
    ("two", &["arena", "one"]),
    ("remove", &["arena", "handle", "mutex"]),
];

fn main() {
    // `cargo bench` passes `--bench`; ignore flags.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let reps: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(7);
    for &(workload, contenders) in PAIRS {
        if args.first().is_some_and(|w| w != workload) {
            continue;
        }
        for &contender in contenders {
            if args.get(1).is_some_and(|c| c != contender) {
                continue;
            }
            // Interleaving contenders per repetition would be fairer against drift, but
            // one process per workload keeps the heaps apart; medians absorb most noise.
            let mut times: Vec<f64> = (0..reps)
                .map(|_| once(workload, contender).expect("a listed pair"))
                .collect();
            times.sort_by(f64::total_cmp);
            let median = times[times.len() / 2] * 1e9 / N as f64;
            let (lo, hi) = (
                times[0] * 1e9 / N as f64,
                times[times.len() - 1] * 1e9 / N as f64,
            );
            println!("{workload:8} {contender:14} median {median:7.2} ns/op  (min {lo:.2}, max {hi:.2}, {reps} runs, {N} ops)");
        }
    }
}
