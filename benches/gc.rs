//! The collector against a plain single-threaded mark-and-sweep, and a reader's latency
//! while collections run.
//!
//! Run: `cargo bench -p benches --bench gc`, then `python3 benches/report.py` for the tables and the
//! target checks.
//!
//! The heap is a random tree: node 0 is the root, node `i`'s parent is uniform among nodes
//! `0..i` (xorshift, fixed seed), so the same shape is used everywhere. Every node is
//! reachable, so a collection frees nothing and iterations are repeatable.
//!
//! Groups `gc_10k`, `gc_100k`, `gc_1m` (one per size, so the ratios come from one run;
//! `Throughput::Elements(nodes)`, so criterion's element rate is the collection rate):
//!
//! * `floor`: the tree as `Vec<Vec<u32>>` (children by index), a `Vec<u64>` mark bitmap
//!   and a `Vec<u64>` live bitmap. One collection: clear the mark bits, mark from the root
//!   with an explicit stack (test the bit, set it, push), sweep all nodes a word at a time
//!   (free `live & !marked`). One thread, no atomics.
//! * `arena_1_marker`: an `Arena<Vec<Key>>` holding the same tree (children as keys), built
//!   as a client builds it: empty vectors inserted in index order, then grown through
//!   `Arena::get_mut` by pushes in the same order as the floor's (whose `Vec<u32>`s grow
//!   the same way), so the buffers are reallocated as they grow and land wherever the
//!   allocator puts them; one
//!   `collect_with([root], CollectOptions { threads: 1, parallel_min_slots: usize::MAX })`.
//!   (`GC_PRESIZED=1` allocates every vector with its final capacity instead, in index
//!   order, as this bench did before.)
//! * `arena_2_markers`: the same with `threads: 2, parallel_min_slots: 0`.
//! * `*_garbage`: the same tree plus `nodes / 2` unreachable leaves (`Vec::new()` values)
//!   inserted before every timed collection (insertion untimed), so the sweep frees them.
//!   The floor frees the same number of nodes (it re-adds them from its free list, untimed).
//!
//! Every contender also records each collection it runs (wall time, the process's CPU time
//! from `getrusage`, and for the arena its [`CollectStats`]: wait = lock + epoch grace
//! period, clear, mark, sweep) and writes the medians to `<criterion dir>/gc_phases.json`.
//! On this project's shared 2-core machine the CPU times are the steadier numbers: other
//! processes take the CPU from the collector, which inflates wall times (the report prints
//! CPU ÷ wall as "cores").
//!
//! Group `gc_reader_latency`: an `Arena` with the 1M-node tree; a reader does `pin()` +
//! `get` of a random key + a read of the value, one guard per get.
//!
//! * `idle`: nothing else runs.
//! * `during_1m_collect`: another thread runs back-to-back 1-marker collections of that
//!   arena all the time (on 2 cores, reader and collector can each have one).
//! * `during_1m_collect_2_markers`: the same with 2-marker collections (three threads on
//!   two cores, so descheduling shows up).
//!
//! Criterion's number is the mean cost of a get (batches timed as a whole). Before it, each
//! contender times [`LATENCY_GETS`] gets one by one (`Instant` before and after each, so
//! the clock's own cost, ~20–40 ns, is in every sample), prints the percentiles and writes
//! them to `<criterion dir>/gc_reader_latency.json`. Gets slower than [`SLOW_NS`] are
//! classified by the reader thread's context-switch counters (`/proc/thread-self/status`,
//! read after each slow get): preempted by the scheduler, blocked, or neither. A pause
//! imposed by the collector would show up as slow gets with no involuntary switch, more
//! often during collections than when idle.
//!
//! With `--test` (`cargo bench -p benches --bench gc -- --test`) every benchmark runs once and the
//! latency runs are short; nothing is written to the JSON files then.
//!
//! `GC_PROFILE=<nodes>[,<collections>[,floor+arena1+arena2]]` in the environment runs no
//! criterion: it prints each contender's median, minimum and maximum time and the arena's
//! phases, for comparing process runs or for `valgrind --tool=cachegrind` (see [`profile`]).

use criterion::measurement::WallTime;
use criterion::{criterion_group, BenchmarkGroup, Criterion, Throughput};
use epoch_arena::{pin, Arena, CollectOptions, CollectStats, Key};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use testkit::Rng;

// ---------------------------------------------------------------------------------------
// Shared pieces

const SEED: u64 = 0x0067_632d_7472_6565; // "gc-tree"

/// `parent[i]` for `i >= 1` (uniform in `0..i`); `parent[0]` is unused.
fn random_parents(n: usize) -> Vec<u32> {
    let mut rng = Rng::new(SEED);
    let mut parent = vec![0u32; n];
    for (i, p) in parent.iter_mut().enumerate().skip(1) {
        *p = rng.below(i) as u32;
    }
    parent
}

/// The capacity each node's children vector starts with: 0 (grown by pushes), or with
/// `GC_PRESIZED=1` in the environment each node's final child count, so the buffers are
/// allocated in index order and never move (the layout this bench used before, kept for
/// comparison: `GC_PRESIZED=1 GC_PROFILE=..`).
fn child_capacities(parent: &[u32]) -> Vec<usize> {
    let mut counts = vec![0usize; parent.len()];
    if std::env::var_os("GC_PRESIZED").is_some_and(|v| v == "1") {
        for &p in &parent[1..] {
            counts[p as usize] += 1;
        }
    }
    counts
}

/// Whether the bench binary runs in criterion's `--test` mode (one iteration each).
fn test_mode() -> bool {
    std::env::args().any(|a| a == "--test")
}

/// Where criterion writes its results (the same rule as criterion: `CRITERION_HOME`, else
/// `$CARGO_TARGET_DIR/criterion`, else `target/criterion` of this crate).
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("criterion")
}

/// Writes `json` to `<criterion dir>/<name>`, reporting (not failing on) errors.
fn write_json(name: &str, json: &str) {
    let dir = criterion_dir();
    let path = dir.join(name);
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, json)) {
        eprintln!("gc bench: could not write {}: {e}", path.display());
    }
}

/// Reads an existing JSON object file written by [`write_json`] as `key -> raw value` pairs
/// of its top level, so results of several groups (or filtered runs) accumulate. Only
/// handles the flat shape this file writes: `{"k": {...}, ...}` with no nested strings
/// containing braces.
fn read_json_entries(name: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(criterion_dir().join(name)) else {
        return out;
    };
    let text = text.trim();
    let Some(body) = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) else {
        return out;
    };
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let Some(q0) = body[i..].find('"').map(|q| q + i) else {
            break;
        };
        let Some(q1) = body[q0 + 1..].find('"').map(|q| q + q0 + 1) else {
            break;
        };
        let key = body[q0 + 1..q1].to_string();
        let Some(open) = body[q1..].find('{').map(|o| o + q1) else {
            break;
        };
        let mut depth = 0;
        let mut end = open;
        for (j, ch) in body[open..].char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + j;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.insert(key, body[open..=end].to_string());
        i = end + 1;
    }
    out
}

/// Merges `entries` into the JSON object file `name` (replacing equal keys).
fn merge_json(name: &str, entries: impl IntoIterator<Item = (String, String)>) {
    let mut all = read_json_entries(name);
    all.extend(entries);
    let body: Vec<String> = all.iter().map(|(k, v)| format!("  \"{k}\": {v}")).collect();
    write_json(name, &format!("{{\n{}\n}}\n", body.join(",\n")));
}

/// A number for JSON (`null` for NaN).
fn num(x: f64, decimals: usize) -> String {
    if x.is_finite() {
        format!("{x:.decimals$}")
    } else {
        "null".to_string()
    }
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

// ---------------------------------------------------------------------------------------
// The floor: a plain mark-and-sweep over Vec<Vec<u32>>

struct Floor {
    /// Children of each node, by index.
    nodes: Vec<Vec<u32>>,
    /// Which nodes hold a value.
    live: Vec<u64>,
    /// Mark bits.
    marks: Vec<u64>,
    /// Freed node indices.
    free: Vec<u32>,
}

impl Floor {
    fn new(parent: &[u32]) -> Floor {
        let n = parent.len();
        // Empty vectors grown by pushes in child order, like the arena's (see `build_arena`).
        let mut nodes: Vec<Vec<u32>> = child_capacities(parent)
            .into_iter()
            .map(Vec::with_capacity)
            .collect();
        for (i, &p) in parent.iter().enumerate().skip(1) {
            nodes[p as usize].push(i as u32);
        }
        let words = n.div_ceil(64);
        let mut live = vec![u64::MAX; words];
        if !n.is_multiple_of(64) {
            live[words - 1] = (1u64 << (n % 64)) - 1;
        }
        Floor {
            nodes,
            live,
            marks: vec![0; words],
            free: Vec::new(),
        }
    }

    /// Makes `count` unreachable leaves live again (from the free list, or new ones).
    fn add_garbage(&mut self, count: usize) {
        for _ in 0..count {
            let i = match self.free.pop() {
                Some(i) => i as usize,
                None => {
                    self.nodes.push(Vec::new());
                    let i = self.nodes.len() - 1;
                    if i / 64 >= self.live.len() {
                        self.live.push(0);
                        self.marks.push(0);
                    }
                    i
                }
            };
            self.live[i / 64] |= 1 << (i % 64);
        }
    }

    /// One collection from `root`: returns (marked, swept).
    fn collect(&mut self, root: u32) -> (usize, usize) {
        // Clear.
        self.marks.fill(0);
        // Mark.
        let mut marked = 0;
        let mut stack = vec![root];
        self.marks[root as usize / 64] |= 1 << (root % 64);
        while let Some(i) = stack.pop() {
            marked += 1;
            for &c in &self.nodes[i as usize] {
                let (w, bit) = (c as usize / 64, 1u64 << (c % 64));
                if self.marks[w] & bit == 0 {
                    self.marks[w] |= bit;
                    stack.push(c);
                }
            }
        }
        // Sweep: every live, unmarked node is freed.
        let mut swept = 0;
        for w in 0..self.live.len() {
            let mut dead = self.live[w] & !self.marks[w];
            if dead == 0 {
                continue;
            }
            self.live[w] &= self.marks[w];
            while dead != 0 {
                let i = w * 64 + dead.trailing_zeros() as usize;
                dead &= dead - 1;
                self.nodes[i] = Vec::new();
                self.free.push(i as u32);
                swept += 1;
            }
        }
        (marked, swept)
    }
}

// ---------------------------------------------------------------------------------------
// The arena

type Node = Vec<Key>;

/// The tree in an arena: the arena and the keys (node `i` has key `keys[i]`). Empty
/// vectors inserted in index order, then grown through `get_mut` by pushes in the floor's
/// order, as a client builds a tree: each buffer is reallocated as it grows, so buffers
/// land wherever the allocator puts them, in no relation to the slots' order.
fn build_arena(parent: &[u32]) -> (Arena<Node>, Vec<Key>) {
    let mut arena: Arena<Node> = Arena::new();
    let keys: Vec<Key> = child_capacities(parent)
        .into_iter()
        .map(|c| arena.insert(Vec::with_capacity(c)))
        .collect();
    for (i, &p) in parent.iter().enumerate().skip(1) {
        arena.get_mut(keys[p as usize]).expect("live").push(keys[i]);
    }
    (arena, keys)
}

/// Pins and flushes until the arena has no value waiting for reclamation (bounded).
fn drain_reclamation(arena: &Arena<Node>) {
    arena.flush();
    for _ in 0..10_000 {
        if arena.stats().pending_reclamation == 0 {
            return;
        }
        pin().flush();
    }
}

fn one_marker() -> CollectOptions {
    CollectOptions {
        threads: 1,
        parallel_min_slots: usize::MAX,
    }
}

fn two_markers() -> CollectOptions {
    CollectOptions {
        threads: 2,
        parallel_min_slots: 0,
    }
}

/// CPU time (user + system) of the whole process so far, if the platform tells.
#[cfg(target_os = "linux")]
fn process_cpu() -> Option<Duration> {
    // SAFETY: getrusage only writes the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return None;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Some(tv(ru.ru_utime) + tv(ru.ru_stime))
}

#[cfg(not(target_os = "linux"))]
fn process_cpu() -> Option<Duration> {
    None
}

/// One timed collection: what it did, its wall time and the process's CPU time meanwhile.
struct Run {
    marked: usize,
    swept: usize,
    /// The arena's own stats (`None` for the floor).
    stats: Option<CollectStats>,
    wall: Duration,
    cpu: Option<Duration>,
}

/// Runs `collect` once; only `collect` itself is inside the wall time.
fn timed(collect: impl FnOnce() -> (usize, usize, Option<CollectStats>)) -> Run {
    let cpu0 = process_cpu();
    let start = Instant::now();
    let (marked, swept, stats) = collect();
    let wall = start.elapsed();
    let cpu = process_cpu().zip(cpu0).map(|(b, a)| b.saturating_sub(a));
    Run {
        marked,
        swept,
        stats,
        wall,
        cpu,
    }
}

/// One timed collection of the arena.
fn timed_collect(arena: &Arena<Node>, root: Key, opts: CollectOptions) -> Run {
    timed(|| {
        let s = arena.collect_with([black_box(root)], opts);
        (s.marked, s.swept, Some(s))
    })
}

/// One timed collection of the floor.
fn timed_floor(floor: &mut Floor) -> Run {
    timed(|| {
        let (marked, swept) = floor.collect(black_box(0));
        (marked, swept, None)
    })
}

/// Phase times of the collections one contender ran.
#[derive(Default)]
struct Phases {
    runs: Vec<Run>,
}

impl Phases {
    fn record(&mut self, run: Run) {
        self.runs.push(run);
    }

    /// `{"runs": N, "wait_us": .., ...}`: medians over the recorded collections.
    fn json(&self, nodes: usize) -> String {
        let us = |f: &dyn Fn(&Run) -> Option<Duration>| {
            let mut v: Vec<f64> = self
                .runs
                .iter()
                .filter_map(|r| f(r).map(|d| d.as_secs_f64() * 1e6))
                .collect();
            num(median(&mut v), 1)
        };
        let wait = us(&|r| r.stats.map(|s| s.wait_time));
        let clear = us(&|r| r.stats.map(|s| s.clear_time));
        let mark = us(&|r| r.stats.map(|s| s.mark_time));
        let sweep = us(&|r| r.stats.map(|s| s.sweep_time));
        let wall = us(&|r| Some(r.wall));
        let other = us(&|r| {
            r.stats.map(|s| {
                r.wall
                    .saturating_sub(s.wait_time + s.clear_time + s.mark_time + s.sweep_time)
            })
        });
        let cpu = us(&|r| r.cpu);
        let (threads, marked, swept) = self.runs.last().map_or((0, 0, 0), |r| {
            (r.stats.map_or(1, |s| s.threads), r.marked, r.swept)
        });
        format!(
            "{{\"nodes\": {nodes}, \"runs\": {}, \"threads\": {}, \"marked\": {}, \"swept\": {}, \
             \"wait_us\": {wait}, \"clear_us\": {clear}, \"mark_us\": {mark}, \
             \"sweep_us\": {sweep}, \"other_us\": {other}, \"wall_us\": {wall}, \
             \"cpu_us\": {cpu}}}",
            self.runs.len(),
            threads,
            marked,
            swept,
        )
    }
}

// ---------------------------------------------------------------------------------------
// Groups gc_10k, gc_100k, gc_1m

const SIZES: [(usize, &str); 3] = [(10_000, "10k"), (100_000, "100k"), (1_000_000, "1m")];

fn config_group<'a>(c: &'a mut Criterion, name: &str, n: usize) -> BenchmarkGroup<'a, WallTime> {
    let (samples, secs) = match n {
        0..=10_000 => (30, 2),
        10_001..=100_000 => (20, 3),
        _ => (15, 5),
    };
    let mut g = benches::group(
        c,
        name,
        samples,
        Duration::from_secs(1),
        Duration::from_secs(secs),
    );
    g.throughput(Throughput::Elements(n as u64));
    g
}

/// Benchmarks one collection per iteration as `name`: `run` does any untimed preparation
/// and returns the timed collection. Every run's phases go to `phases` as `group/name`.
fn bench_collections(
    g: &mut BenchmarkGroup<'_, WallTime>,
    group_name: &str,
    name: &str,
    n: usize,
    phases: &mut Vec<(String, String)>,
    mut run: impl FnMut() -> Run,
) {
    let mut rec = Phases::default();
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let r = run();
                total += r.wall;
                rec.record(r);
            }
            total
        })
    });
    if !rec.runs.is_empty() {
        phases.push((format!("{group_name}/{name}"), rec.json(n)));
    }
}

fn gc_sizes(c: &mut Criterion) {
    for (n, label) in SIZES {
        gc_size(c, n, label);
    }
}

fn gc_size(c: &mut Criterion, n: usize, label: &str) {
    let group_name = format!("gc_{label}");
    let parent = random_parents(n);
    let garbage = n / 2;
    let mut phases: Vec<(String, String)> = Vec::new();
    let mut g = config_group(c, &group_name, n);

    {
        let mut floor = Floor::new(&parent);
        assert_eq!(
            floor.collect(0),
            (n, 0),
            "the floor's tree is fully reachable"
        );
        bench_collections(&mut g, &group_name, "floor", n, &mut phases, || {
            timed_floor(&mut floor)
        });
        bench_collections(&mut g, &group_name, "floor_garbage", n, &mut phases, || {
            floor.add_garbage(garbage);
            let run = timed_floor(&mut floor);
            assert_eq!((run.marked, run.swept), (n, garbage));
            run
        });
    }

    {
        let (arena, keys) = build_arena(&parent);
        let root = keys[0];
        drop(keys);
        for (name, opts, threads) in [
            ("arena_1_marker", one_marker(), 1),
            ("arena_2_markers", two_markers(), 2),
        ] {
            let first = arena.collect_with([root], opts);
            assert_eq!((first.marked, first.swept, first.threads), (n, 0, threads));
            bench_collections(&mut g, &group_name, name, n, &mut phases, || {
                timed_collect(&arena, root, opts)
            });
            let garbage_name = format!("{name}_garbage");
            bench_collections(&mut g, &group_name, &garbage_name, n, &mut phases, || {
                // Untimed: let the previous iteration's swept values be dropped (so their
                // slots are reused and the arena keeps its size), then insert unreachable
                // leaves.
                drain_reclamation(&arena);
                for _ in 0..garbage {
                    black_box(arena.insert(Vec::new()));
                }
                let run = timed_collect(&arena, root, opts);
                assert_eq!((run.marked, run.swept), (n, garbage));
                run
            });
        }
    }
    g.finish();
    merge_json("gc_phases.json", phases);
}

// ---------------------------------------------------------------------------------------
// Group gc_reader_latency

const LATENCY_NODES: usize = 1_000_000;

/// Gets timed one by one per latency contender.
const LATENCY_GETS: usize = 4_000_000;

/// A get slower than this is classified by the context switches around it.
const SLOW_NS: u32 = 20_000;

/// The calling thread's (voluntary, involuntary) context switches, from `/proc`.
fn context_switches() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/thread-self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    Some((
        field("voluntary_ctxt_switches:")?,
        field("nonvoluntary_ctxt_switches:")?,
    ))
}

/// Gets slower than [`SLOW_NS`], by what the thread's context-switch counters say happened
/// since the previous check (checked after each slow get, outside the timed region).
#[derive(Default, Debug)]
struct Slow {
    /// An involuntary switch: the scheduler preempted the reader.
    preempted: usize,
    /// Only a voluntary switch: the reader blocked (a lock, a page fault on I/O, ...).
    blocked: usize,
    /// No switch: a stall inside the reader's own code, or the hypervisor.
    unexplained: usize,
    unexplained_max_ns: u32,
}

/// Per-get latencies (ns) of `gets` gets of random keys, each timed on its own.
fn timed_gets(arena: &Arena<Node>, keys: &[Key], rng: &mut Rng, gets: usize) -> (Vec<u32>, Slow) {
    let mut lat = Vec::with_capacity(gets);
    let mut slow = Slow::default();
    let mut switches = context_switches();
    for _ in 0..gets {
        let key = keys[rng.below(keys.len())];
        let start = Instant::now();
        let guard = pin();
        let len = arena.get(key, &guard).map_or(0, Vec::len);
        drop(guard);
        let ns = start.elapsed().as_nanos().min(u128::from(u32::MAX)) as u32;
        black_box(len);
        lat.push(ns);
        if ns > SLOW_NS {
            let now = context_switches();
            match (switches, now) {
                (Some((_, i0)), Some((_, i1))) if i1 > i0 => slow.preempted += 1,
                (Some((v0, _)), Some((v1, _))) if v1 > v0 => slow.blocked += 1,
                _ => {
                    slow.unexplained += 1;
                    slow.unexplained_max_ns = slow.unexplained_max_ns.max(ns);
                }
            }
            switches = now;
        }
    }
    (lat, slow)
}

/// Gets of random keys, timed as a whole.
fn untimed_gets(arena: &Arena<Node>, keys: &[Key], rng: &mut Rng, gets: u64) -> Duration {
    let start = Instant::now();
    let mut sum = 0usize;
    for _ in 0..gets {
        let key = keys[rng.below(keys.len())];
        let guard = pin();
        sum += arena.get(key, &guard).map_or(0, Vec::len);
    }
    black_box(sum);
    start.elapsed()
}

/// Percentiles of one latency run, printed and returned as JSON.
fn latency_summary(
    name: &str,
    mut lat: Vec<u32>,
    slow: &Slow,
    wall: Duration,
    collections: usize,
    stats: &[CollectStats],
) -> String {
    lat.sort_unstable();
    let p = |q: f64| lat[((lat.len() - 1) as f64 * q).round() as usize];
    let over = |ns: u32| lat.iter().rev().take_while(|&&l| l > ns).count();
    let mean = lat.iter().map(|&l| u64::from(l)).sum::<u64>() as f64 / lat.len() as f64;
    let mut mark_ms: Vec<f64> = stats
        .iter()
        .map(|s| s.mark_time.as_secs_f64() * 1e3)
        .collect();
    let mut total_ms: Vec<f64> = stats
        .iter()
        .map(|s| (s.wait_time + s.clear_time + s.mark_time + s.sweep_time).as_secs_f64() * 1e3)
        .collect();
    let (mark_ms, total_ms) = (median(&mut mark_ms), median(&mut total_ms));
    let (gets, wall_s, max) = (lat.len(), wall.as_secs_f64(), lat[lat.len() - 1]);
    let (p50, p90, p99, p999, p9999) = (p(0.5), p(0.9), p(0.99), p(0.999), p(0.9999));
    let (over_1us, over_10us, over_100us, over_1ms) =
        (over(1_000), over(10_000), over(100_000), over(1_000_000));
    let Slow {
        preempted,
        blocked,
        unexplained,
        unexplained_max_ns,
    } = slow;
    println!(
        "gc_reader_latency/{name}: {gets} gets in {wall_s:.2} s, {collections} collections \
         (median {total_ms:.1} ms each, mark {mark_ms:.1} ms); per get (ns, incl. clock): \
         mean {mean:.0}, p50 {p50}, p90 {p90}, p99 {p99}, p99.9 {p999}, p99.99 {p9999}, \
         max {max}; >1us {over_1us}, >10us {over_10us}, >100us {over_100us}, \
         >1ms {over_1ms}; >{slow_us}us: {preempted} preempted, {blocked} blocked, \
         {unexplained} with no context switch (max {unexplained_max_ns} ns)",
        slow_us = SLOW_NS / 1000,
    );
    let (collection_ms, mark_ms) = (num(total_ms, 2), num(mark_ms, 2));
    format!(
        "{{\"gets\": {gets}, \"wall_s\": {wall_s:.3}, \"collections\": {collections}, \
         \"collection_ms\": {collection_ms}, \"mark_ms\": {mark_ms}, \"mean_ns\": {mean:.1}, \
         \"p50_ns\": {p50}, \"p90_ns\": {p90}, \"p99_ns\": {p99}, \"p999_ns\": {p999}, \
         \"p9999_ns\": {p9999}, \"max_ns\": {max}, \"over_1us\": {over_1us}, \
         \"over_10us\": {over_10us}, \"over_100us\": {over_100us}, \"over_1ms\": {over_1ms}, \
         \"slow_ns\": {SLOW_NS}, \"slow_preempted\": {preempted}, \"slow_blocked\": {blocked}, \
         \"slow_unexplained\": {unexplained}, \"slow_unexplained_max_ns\": {unexplained_max_ns}}}"
    )
}

/// Back-to-back collections on another thread, while it is alive.
struct Background {
    stop: AtomicBool,
    started: AtomicUsize,
    done: Mutex<Vec<CollectStats>>,
}

impl Background {
    /// Collections started so far, and the stats of those finished.
    fn snapshot(&self) -> (usize, usize) {
        (
            self.started.load(Ordering::Relaxed),
            self.done.lock().unwrap().len(),
        )
    }
}

/// Runs `f` while another thread runs back-to-back collections with `opts` (if any).
fn with_collector<R>(
    arena: &Arena<Node>,
    root: Key,
    opts: Option<CollectOptions>,
    f: impl FnOnce(Option<&Background>) -> R,
) -> R {
    let Some(opts) = opts else {
        return f(None);
    };
    let bg = Background {
        stop: AtomicBool::new(false),
        started: AtomicUsize::new(0),
        done: Mutex::new(Vec::new()),
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            while !bg.stop.load(Ordering::Relaxed) {
                bg.started.fetch_add(1, Ordering::Relaxed);
                let stats = arena.collect_with([root], opts);
                assert_eq!((stats.marked, stats.swept), (LATENCY_NODES, 0));
                bg.done.lock().unwrap().push(stats);
            }
        });
        // Start once the first collection is under way.
        while bg.started.load(Ordering::Relaxed) == 0 {
            std::hint::spin_loop();
        }
        let r = f(Some(&bg));
        bg.stop.store(true, Ordering::Relaxed);
        r
    })
}

/// Times `gets` gets one by one (with the background collector, if any, running) and
/// returns the summary as JSON.
fn latency_histogram(
    name: &str,
    arena: &Arena<Node>,
    keys: &[Key],
    gets: usize,
    bg: Option<&Background>,
) -> String {
    let mut rng = Rng::new(SEED ^ 0xfeed);
    let before = bg.map(Background::snapshot);
    let start = Instant::now();
    let (lat, slow) = timed_gets(arena, keys, &mut rng, gets);
    let wall = start.elapsed();
    let (collections, stats) = match (bg, before) {
        (Some(bg), Some((started, done))) => {
            let (started_now, done_now) = bg.snapshot();
            let all = bg.done.lock().unwrap();
            (started_now - started, all[done..done_now].to_vec())
        }
        _ => (0, Vec::new()),
    };
    latency_summary(name, lat, &slow, wall, collections, &stats)
}

fn gc_reader_latency(c: &mut Criterion) {
    let n = LATENCY_NODES;
    let parent = random_parents(n);
    let (arena, keys) = build_arena(&parent);
    let root = keys[0];
    let gets = if test_mode() { 10_000 } else { LATENCY_GETS };

    let contenders: [(&str, Option<CollectOptions>); 3] = [
        ("idle", None),
        ("during_1m_collect", Some(one_marker())),
        ("during_1m_collect_2_markers", Some(two_markers())),
    ];
    let mut summaries = Vec::new();
    let mut g = c.benchmark_group("gc_reader_latency");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));
    for (name, opts) in contenders {
        with_collector(&arena, root, opts, |bg| {
            let mut histogram_done = false;
            let mut rng = Rng::new(SEED ^ 0xbeef);
            g.bench_function(name, |b| {
                // Once, and only when criterion's filter selects this benchmark.
                if !histogram_done {
                    histogram_done = true;
                    let json = latency_histogram(name, &arena, &keys, gets, bg);
                    summaries.push((name.to_string(), json));
                }
                b.iter_custom(|iters| untimed_gets(&arena, &keys, &mut rng, iters))
            });
        });
    }
    g.finish();
    if !test_mode() {
        merge_json("gc_reader_latency.json", summaries);
    }
}

// ---------------------------------------------------------------------------------------
// Profile mode

/// `GC_PROFILE=<nodes>[,<collections>[,<contenders>]]` runs no criterion: it builds the tree
/// once per contender (`floor`, `arena1`, `arena2`, comma-free: `floor+arena1`; all three by
/// default), runs the collections (20 by default) and prints each contender's median,
/// minimum and maximum wall time, and the process's transparent-huge-page and RSS totals.
/// Start it several times to compare process runs, or under `valgrind --tool=cachegrind`
/// (one contender, few collections) for instruction and simulated cache-miss counts.
fn profile(spec: &str) {
    let mut parts = spec.split(',');
    let n: usize = parts
        .next()
        .and_then(|p| p.parse().ok())
        .expect("GC_PROFILE=<nodes>,..");
    let runs: usize = parts.next().and_then(|p| p.parse().ok()).unwrap_or(20);
    let which = parts.next().unwrap_or("floor+arena1+arena2");
    let parent = random_parents(n);
    let report = |name: &str, mut times: Vec<f64>| {
        let (min, max) = (
            times.iter().copied().fold(f64::MAX, f64::min),
            times.iter().copied().fold(0.0, f64::max),
        );
        let med = median(&mut times);
        println!(
            "{name:>8} {n:>8} nodes: median {:.3} ms, min {:.3}, max {:.3}, {:.1} ns/node",
            med * 1e3,
            min * 1e3,
            max * 1e3,
            med * 1e9 / n as f64
        );
    };
    for contender in which.split('+') {
        match contender {
            "floor" => {
                let mut floor = Floor::new(&parent);
                let times = (0..runs)
                    .map(|_| timed_floor(&mut floor).wall.as_secs_f64())
                    .collect();
                report(contender, times);
            }
            "arena1" | "arena2" => {
                let opts = if contender == "arena1" {
                    one_marker()
                } else {
                    two_markers()
                };
                let (arena, keys) = build_arena(&parent);
                let mut phases = Phases::default();
                let times = (0..runs)
                    .map(|_| {
                        let r = timed_collect(&arena, keys[0], opts);
                        assert_eq!((r.marked, r.swept), (n, 0));
                        let wall = r.wall.as_secs_f64();
                        phases.record(r);
                        wall
                    })
                    .collect();
                report(contender, times);
                println!("{contender:>8} phases: {}", phases.json(n));
            }
            other => panic!("unknown contender {other}"),
        }
    }
    if let Ok(rollup) = std::fs::read_to_string("/proc/self/smaps_rollup") {
        for line in rollup.lines() {
            if line.starts_with("Rss:") || line.starts_with("AnonHugePages:") {
                println!("{}", line.split_whitespace().collect::<Vec<_>>().join(" "));
            }
        }
    }
}

criterion_group!(benches, gc_sizes, gc_reader_latency);

fn main() {
    if let Ok(spec) = std::env::var("GC_PROFILE") {
        profile(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
