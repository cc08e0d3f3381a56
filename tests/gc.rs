//! Collection: reachable values survive, unreachable ones go, under concurrency too.

use epoch_arena::{pin, Arena, CollectOptions, Key, Trace, Tracer};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use testkit::{DropLog, Tracked};

/// A graph node: a name and edges, behind a lock so other threads can relink it.
struct Node {
    id: u64,
    edges: Mutex<Vec<Key>>,
    _log: Option<Tracked>,
}

impl Trace for Node {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        self.edges.trace(tracer);
    }
}

fn node(id: u64) -> Node {
    Node {
        id,
        edges: Mutex::new(Vec::new()),
        _log: None,
    }
}

fn link(arena: &Arena<Node>, from: Key, to: Key) {
    assert!(try_link(arena, from, to), "{from:?} is gone");
}

/// Shade, then store `to` into `from`'s edges; false if `from` is gone.
fn try_link(arena: &Arena<Node>, from: Key, to: Key) -> bool {
    let guard = pin();
    arena.shade(to);
    match arena.get(from, &guard) {
        Some(n) => {
            n.edges.lock().unwrap().push(to);
            true
        }
        None => false,
    }
}

/// Counts a finished writer even if it unwinds, so the collector loop always ends.
struct Finished<'a>(&'a AtomicUsize);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Release);
    }
}

fn one() -> CollectOptions {
    CollectOptions::with_threads(1)
}

/// Two markers even for the smallest arena.
fn two() -> CollectOptions {
    CollectOptions {
        threads: 2,
        parallel_min_slots: 0,
    }
}

#[test]
fn trees_dags_cycles_and_self_loops() {
    for opts in [one(), two()] {
        let arena = Arena::new();
        let keys: Vec<Key> = (0..10).map(|i| arena.insert(node(i))).collect();
        // Tree 0 -> 1, 2; 1 -> 3. DAG: 2 -> 3 too. Cycle 3 -> 0. Self-loop 4 -> 4 (unreachable).
        // Unreachable cycle 5 <-> 6 pointing into the reachable part: 5 -> 0.
        for (a, b) in [
            (0, 1),
            (0, 2),
            (1, 3),
            (2, 3),
            (3, 0),
            (4, 4),
            (5, 6),
            (6, 5),
            (5, 0),
        ] {
            link(&arena, keys[a], keys[b]);
        }
        let stats = arena.collect_with([keys[0]], opts);
        assert_eq!(stats.marked, 4);
        assert_eq!(stats.swept, 6);
        let guard = pin();
        let mut live: Vec<u64> = arena.iter(&guard).map(|(_, n)| n.id).collect();
        live.sort();
        assert_eq!(live, [0, 1, 2, 3]);
        drop(guard);
        // A second cycle with the same roots sweeps nothing more.
        let again = arena.collect_with([keys[0]], opts);
        assert_eq!((again.marked, again.swept), (4, 0));
        // No roots: everything goes.
        assert_eq!(arena.collect_with([], opts).swept, 4);
        assert!(arena.is_empty());
    }
}

#[test]
fn deep_list_does_not_overflow_the_stack() {
    const N: usize = if cfg!(miri) { 500 } else { 1_000_000 };
    let arena: Arena<Option<Key>> = Arena::new();
    let mut head = arena.insert(None);
    let tail = head;
    for _ in 1..N {
        head = arena.insert(Some(head));
    }
    let garbage = arena.insert(Some(head));
    let stats = arena.collect_with([head], one());
    assert_eq!((stats.marked, stats.swept), (N, 1));
    assert!(arena.contains(tail) && !arena.contains(garbage));
    if !cfg!(miri) {
        let stats = arena.collect_with([head], two());
        // The helper takes part if it wakes before the caller is done.
        assert!((1..=2).contains(&stats.threads));
        assert_eq!((stats.marked, stats.swept), (N, 0));
    }
}

#[test]
fn stale_foreign_and_garbage_edges_are_ignored() {
    let arena: Arena<Vec<Key>> = Arena::new();
    let dead = arena.insert(vec![]);
    arena.remove(dead);
    let foreign = Key::from_bits((1u64 << 60) | 1).unwrap(); // index far past capacity
    let other = arena.insert(vec![]); // live, but its key is only referenced with a bad generation
    let wrong_gen = Key::from_bits(other.to_bits() + 4).unwrap();
    let root = arena.insert(vec![dead, foreign, wrong_gen, other, other]);
    let stats = arena.collect_with([root, dead, foreign], one());
    assert_eq!((stats.marked, stats.swept), (2, 0));
    assert!(arena.contains(other));
}

#[test]
fn roots_keep_values_until_dropped() {
    let arena = Arena::new();
    let a = arena.insert(node(1));
    let b = arena.insert(node(2));
    link(&arena, a, b);
    let root = arena.root(a);
    let root2 = root.clone();
    assert_eq!(arena.collect([]).swept, 0);
    drop(root);
    assert_eq!(arena.collect([]).swept, 0, "the clone still roots a");
    assert_eq!(format!("{root2:?}"), format!("Root({a:?})"));
    drop(root2);
    assert_eq!(arena.collect([]).swept, 2);
    // Cells are reused.
    for _ in 0..if cfg!(miri) { 20 } else { 100 } {
        let k = arena.insert(node(3));
        let r = arena.root(k);
        // The previous iteration's value is no longer rooted.
        assert!(arena.collect([]).swept <= 1);
        assert!(arena.contains(k));
        drop(r);
    }
}

#[test]
fn drop_accounting_is_exact() {
    let log = Arc::new(DropLog::default());
    let arena = Arena::new();
    let mut kept = Vec::new();
    let mut root_edges = Vec::new();
    for i in 0..1000u64 {
        let k = arena.insert(Node {
            id: i,
            edges: Mutex::new(vec![]),
            _log: Some(Tracked::new(i, &log)),
        });
        if i % 3 == 0 {
            root_edges.push(k);
            kept.push(i);
        }
    }
    let root = arena.insert(Node {
        id: u64::MAX,
        edges: Mutex::new(root_edges),
        _log: None,
    });
    let stats = arena.collect_with([root], one());
    assert_eq!(stats.swept, 1000 - kept.len());
    assert!(testkit::reclaim_until(&arena, || log.count() == 1000 - kept.len()));
    let guard = pin();
    let mut live: Vec<u64> = arena
        .iter(&guard)
        .map(|(_, n)| n.id)
        .filter(|&i| i != u64::MAX)
        .collect();
    live.sort();
    assert_eq!(live, kept);
    drop(guard);
    drop(arena);
    assert_eq!(log.count(), 1000);
}

#[test]
fn values_inserted_during_a_cycle_survive_it() {
    // A Trace impl that inserts while the collector traces it: the insert happens inside the
    // cycle, so the new (unreachable) value must survive this cycle and go in the next.
    struct Spawner<'a> {
        arena: &'a std::sync::OnceLock<Arena<Spawner<'a>>>,
        born: &'a Mutex<Vec<Key>>,
    }
    impl Trace for Spawner<'_> {
        fn trace(&self, _: &mut Tracer<'_>) {
            let arena = self.arena.get().unwrap();
            let k = arena.insert(Spawner {
                arena: self.arena,
                born: self.born,
            });
            self.born.lock().unwrap().push(k);
        }
    }
    // The arena's values refer to the arena itself, so it lives behind a raw pointer and is
    // freed by hand at the end (a local would not pass drop check).
    let raw = Box::into_raw(Box::new(std::sync::OnceLock::new()));
    // SAFETY: `raw` stays valid until the `Box::from_raw` at the end, after the last use.
    let cell: &'static std::sync::OnceLock<Arena<Spawner<'static>>> = unsafe { &*raw };
    let born_raw = Box::into_raw(Box::new(Mutex::new(Vec::new())));
    // SAFETY: as for `cell`.
    let born: &'static Mutex<Vec<Key>> = unsafe { &*born_raw };
    let arena = cell.get_or_init(Arena::new);
    let root = arena.insert(Spawner { arena: cell, born });
    let stats = arena.collect_with([root], one());
    assert_eq!((stats.marked, stats.swept), (1, 0));
    let first = born.lock().unwrap()[0];
    assert!(arena.contains(first), "allocated black");
    let stats = arena.collect_with([root], one());
    assert_eq!(stats.swept, 1);
    assert!(!arena.contains(first));
    // SAFETY: made by `Box::into_raw` above; `cell`, `arena` and `born` are not used any
    // more, and dropping the values (plain references) touches nothing they point to.
    drop(unsafe { Box::from_raw(raw) });
    // SAFETY: as above; the values that pointed to it are gone.
    drop(unsafe { Box::from_raw(born_raw) });
}

/// A value holding keys whose `Trace` panics if its flag is set.
struct Bomb(bool, Vec<Key>);

impl Trace for Bomb {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        assert!(!self.0, "boom");
        self.1.trace(tracer);
    }
}

#[test]
fn a_panicking_trace_aborts_the_cycle() {
    let arena = Arena::new();
    let garbage = arena.insert(Bomb(false, vec![]));
    let bomb = arena.insert(Bomb(true, vec![]));
    let root = arena.insert(Bomb(false, vec![bomb]));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        arena.collect_with([root], one())
    }));
    assert!(r.is_err());
    assert_eq!(arena.len(), 3, "nothing swept");
    assert!(arena.contains(garbage));
    // The arena still works, and the next cycle (without the bomb) is exact.
    let stats = arena.collect_with([garbage], one());
    assert_eq!((stats.marked, stats.swept), (1, 2));
}

/// Checks that the collector is idle, as every way out of a cycle must leave it: `shade`
/// marks nothing. Inserts values with `make` past every chunk a collection has cleared so
/// far, shades them all, and returns their keys (unreachable, so the next cycle sweeps
/// them). If the phase were still MARKING, the shade of a key in a chunk whose mark bitmap
/// no collection has allocated yet would allocate that bitmap to set the key's bit, and
/// `mark_bytes` would grow.
fn assert_shade_marks_nothing<T: Trace + Send + Sync>(
    arena: &Arena<T>,
    mut make: impl FnMut() -> T,
) -> Vec<Key> {
    let before = arena.stats();
    // Chunks double in size, so this reaches at least one chunk past the high-water mark.
    let fresh: Vec<Key> = (0..2 * before.high_water + 64)
        .map(|_| arena.insert(make()))
        .collect();
    for &key in &fresh {
        arena.shade(key);
    }
    assert_eq!(
        arena.stats().mark_bytes,
        before.mark_bytes,
        "a shade marked a value outside a collection"
    );
    fresh
}

/// A graph for the panic tests: `root` reaches `reachable` nodes (a chain with a fan-out),
/// and there are `garbage` unreachable ones.
fn small_graph(arena: &Arena<Node>) -> (Key, usize, usize) {
    let root = arena.insert(node(0));
    let mut last = root;
    for i in 1..100 {
        let k = arena.insert(node(i));
        link(arena, if i % 3 == 0 { root } else { last }, k);
        last = k;
        arena.insert(node(u64::MAX)); // garbage
    }
    (root, 100, 99)
}

#[test]
fn a_panicking_roots_iterator_leaves_the_collector_idle() {
    for opts in [one(), two()] {
        let arena = Arena::new();
        let (root, reachable, garbage) = small_graph(&arena);
        let mut yielded = 0;
        let roots = std::iter::from_fn(|| {
            yielded += 1;
            assert!(yielded < 3, "the roots iterator panics midway");
            Some(root)
        });
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            arena.collect_with(roots, opts)
        }));
        assert!(r.is_err(), "the panic reaches the caller");
        assert_eq!(arena.len(), reachable + garbage, "nothing swept");
        let fresh = assert_shade_marks_nothing(&arena, || node(u64::MAX));
        // The arena is usable and the next cycles are exact: the shaded values are swept.
        let stats = arena.collect_with([root], opts);
        assert_eq!(
            (stats.marked, stats.swept),
            (reachable, garbage + fresh.len())
        );
        assert!(fresh.iter().all(|&k| !arena.contains(k)));
        let stats = arena.collect_with([root], opts);
        assert_eq!((stats.marked, stats.swept), (reachable, 0));
        assert_eq!(arena.len(), reachable);
    }
}

#[test]
#[cfg_attr(miri, ignore = "64 collector threads are too slow under miri")]
fn an_absurd_thread_count_collects_correctly() {
    let arena = Arena::new();
    let (root, reachable, garbage) = small_graph(&arena);
    let opts = CollectOptions {
        threads: usize::MAX,
        parallel_min_slots: 0,
    };
    let stats = arena.collect_with([root], opts);
    assert!((1..=64).contains(&stats.threads), "{}", stats.threads);
    assert_eq!((stats.marked, stats.swept), (reachable, garbage));
    let fresh = assert_shade_marks_nothing(&arena, || node(u64::MAX));
    let stats = arena.collect_with([root], opts);
    assert_eq!((stats.marked, stats.swept), (reachable, fresh.len()));
    assert_eq!(arena.len(), reachable);
}

#[test]
fn a_panicking_trace_leaves_the_collector_idle() {
    for opts in [one(), two()] {
        let arena = Arena::new();
        let bomb = arena.insert(Bomb(true, vec![]));
        let leaves: Vec<Key> = (0..100)
            .map(|_| arena.insert(Bomb(false, vec![])))
            .collect();
        let root = arena.insert(Bomb(false, [&leaves[..], &[bomb]].concat()));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            arena.collect_with([root], opts)
        }));
        assert!(r.is_err());
        assert_eq!(arena.len(), 102, "nothing swept");
        let fresh = assert_shade_marks_nothing(&arena, || Bomb(false, vec![]));
        let stats = arena.collect_with(leaves.iter().copied(), opts);
        assert_eq!((stats.marked, stats.swept), (100, 2 + fresh.len()));
    }
}

#[test]
#[should_panic(expected = "holds a Guard")]
fn collecting_while_pinned_panics() {
    let arena: Arena<Key> = Arena::new();
    let _guard = pin();
    arena.collect([]);
}

#[test]
fn two_concurrent_collections_sweep_each_value_once() {
    let arena = Arena::new();
    let root = arena.insert(node(0));
    let n = if cfg!(miri) { 400 } else { 2000 };
    for i in 1..n {
        let k = arena.insert(node(i));
        if i % 2 == 0 {
            link(&arena, root, k);
        }
    }
    let swept = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let stats = arena.collect_with([root], two());
                swept.fetch_add(stats.swept, Ordering::Relaxed);
            });
        }
    });
    assert_eq!(swept.load(Ordering::Relaxed), n as usize / 2);
    assert_eq!(arena.len(), n as usize / 2);
}

/// Writers insert nodes and link them under shade into a rooted tree, and move subtrees
/// around (link into the new parent first, then unlink from the old one), while a reader
/// walks the tree and checks every edge resolves, and a collector runs cycle after cycle.
#[test]
#[cfg_attr(miri, ignore = "too slow under miri")]
fn collection_concurrent_with_linking_writers_and_a_walking_reader() {
    let arena: Arena<Node> = Arena::new();
    let root = arena.insert(node(0));
    let stop = AtomicBool::new(false);
    let broken = AtomicUsize::new(0);
    let walks = AtomicUsize::new(0);
    let garbage_made = AtomicUsize::new(0);
    let swept_total = AtomicUsize::new(0);
    let writers_done = AtomicUsize::new(0);
    let cycles = AtomicUsize::new(0);
    std::thread::scope(|s| {
        // Two writers.
        for w in 0..2u64 {
            let (arena, garbage_made, writers_done, broken) =
                (&arena, &garbage_made, &writers_done, &broken);
            s.spawn(move || {
                let _finished = Finished(writers_done);
                // This writer's nodes, each with the position of its parent in `mine`
                // (always smaller: parents are older, so moves never make a cycle).
                let mut mine: Vec<(Key, usize)> = vec![(root, 0)];
                let mut rng = testkit::Rng::new(w);
                let mut next = move |n: usize| rng.below(n);
                for i in 1..=20_000u64 {
                    // Insert and link under one guard: until it is linked, the new key is
                    // held only here (see `Arena::shade`).
                    let guard = pin();
                    let child = arena.insert(node(w << 32 | i));
                    let parent = next(mine.len());
                    let linked = try_link(arena, mine[parent].0, child);
                    drop(guard);
                    if !linked {
                        broken.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    mine.push((child, parent));
                    if i % 5 == 0 {
                        // Garbage: a node linked nowhere.
                        arena.insert(node(u64::MAX));
                        garbage_made.fetch_add(1, Ordering::Relaxed);
                    }
                    if mine.len() > 2 {
                        // Move an older node under another older node: shade and link
                        // first, then unlink from the old parent. Only the barrier keeps
                        // it alive if the collector traced the new parent already and
                        // traces the old one after the unlink.
                        let x = 1 + next(mine.len() - 1);
                        let (moved, old) = mine[x];
                        let new = next(x);
                        if new != old {
                            if !try_link(arena, mine[new].0, moved) {
                                broken.fetch_add(1, Ordering::Relaxed);
                            }
                            let guard = pin();
                            match arena.get(mine[old].0, &guard) {
                                Some(p) => p.edges.lock().unwrap().retain(|&k| k != moved),
                                None => {
                                    broken.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            mine[x].1 = new;
                        }
                    }
                    if mine.len() > 5000 {
                        mine.truncate(1);
                    }
                }
            });
        }
        // A reader walking the tree from the root.
        {
            let (arena, stop, broken, walks) = (&arena, &stop, &broken, &walks);
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let guard = pin();
                    let mut stack = vec![root];
                    let mut seen = std::collections::HashSet::new();
                    while let Some(k) = stack.pop() {
                        if !seen.insert(k) {
                            continue;
                        }
                        match arena.get(k, &guard) {
                            Some(n) => stack.extend(n.edges.lock().unwrap().iter().copied()),
                            None => {
                                broken.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        if seen.len() > 2000 {
                            break;
                        }
                    }
                    walks.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        // The collector, until the writers are done and the reader has walked at least
        // once (on a loaded machine the reader may not have been scheduled yet).
        loop {
            let stats = arena.collect([root]);
            swept_total.fetch_add(stats.swept, Ordering::Relaxed);
            cycles.fetch_add(1, Ordering::Relaxed);
            if writers_done.load(Ordering::Acquire) == 2 && walks.load(Ordering::Relaxed) > 0 {
                break;
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert_eq!(
        broken.load(Ordering::Relaxed),
        0,
        "a reachable node was swept"
    );
    assert!(walks.load(Ordering::Relaxed) > 0);
    assert!(cycles.load(Ordering::Relaxed) > 0);
    // Quiescent now: one more cycle leaves exactly the reachable nodes.
    let stats = arena.collect([root]);
    let guard = pin();
    let mut reachable = std::collections::HashSet::new();
    let mut stack = vec![root];
    while let Some(k) = stack.pop() {
        if reachable.insert(k) {
            stack.extend(
                arena
                    .get(k, &guard)
                    .unwrap()
                    .edges
                    .lock()
                    .unwrap()
                    .iter()
                    .copied(),
            );
        }
    }
    assert_eq!(stats.marked, reachable.len());
    assert_eq!(arena.len(), reachable.len());
    assert!(
        swept_total.load(Ordering::Relaxed) + stats.swept >= garbage_made.load(Ordering::Relaxed)
    );
}

/// The reachable part of `edges` (by index) from `roots`, by a plain depth-first search.
fn reachable_from(edges: &[Vec<usize>], roots: &[usize]) -> Vec<bool> {
    let mut seen = vec![false; edges.len()];
    let mut stack = roots.to_vec();
    while let Some(i) = stack.pop() {
        if !std::mem::replace(&mut seen[i], true) {
            stack.extend(&edges[i]);
        }
    }
    seen
}

/// The marker's pipeline (edges greyed 16 edges after they arrive, values traced 16 values
/// after they are taken, both rings flushed before the marker looks for more work) against
/// a plain search: graphs with fan-outs from 0 to far past a ring's length, long chains,
/// duplicate, stale and foreign edges, several roots, one and two markers. Every reachable
/// value survives, every other one goes, and each is traced once.
#[test]
fn the_marker_pipeline_marks_exactly_the_reachable_values() {
    let n = if cfg!(miri) { 120 } else { 4000 };
    for (seed, opts) in [(1, one()), (2, one()), (3, two()), (4, two())] {
        let mut rng = testkit::Rng::new(0x6d61726b ^ seed);
        // Fan-out: mostly 0-2, sometimes a burst of up to 40 edges (past both rings).
        let edges: Vec<Vec<usize>> = (0..n)
            .map(|i| {
                let fan = match rng.below(10) {
                    0..=5 => rng.below(3),
                    6..=8 => usize::from(i + 1 < n), // a chain link
                    _ => rng.below(41),
                };
                (0..fan)
                    .map(|k| {
                        if fan == 1 && i + 1 < n {
                            i + 1
                        } else if k % 7 == 6 {
                            i // a self-loop or a duplicate
                        } else {
                            rng.below(n)
                        }
                    })
                    .collect()
            })
            .collect();
        let roots = [0, rng.below(n), rng.below(n)];
        let live = reachable_from(&edges, &roots);
        let arena: Arena<Vec<Key>> = Arena::new();
        let keys: Vec<Key> = (0..n).map(|_| arena.insert(Vec::new())).collect();
        let dead = arena.insert(Vec::new());
        arena.remove(dead);
        let foreign = Key::from_bits((1u64 << 60) | 1).unwrap();
        let mut arena = arena;
        for (i, out) in edges.iter().enumerate() {
            let v = arena.get_mut(keys[i]).unwrap();
            v.extend(out.iter().map(|&j| keys[j]));
            if i % 5 == 0 {
                v.extend([dead, foreign]); // edges to nothing, between the real ones
                v.rotate_right(1);
            }
        }
        let stats = arena.collect_with(roots.iter().map(|&r| keys[r]), opts);
        let expected = live.iter().filter(|&&l| l).count();
        assert_eq!(
            (stats.marked, stats.swept),
            (expected, n - expected),
            "seed {seed}"
        );
        for (i, &l) in live.iter().enumerate() {
            assert_eq!(arena.contains(keys[i]), l, "seed {seed}: node {i}");
        }
        // The survivors are marked again, and only they.
        let again = arena.collect_with(roots.iter().map(|&r| keys[r]), opts);
        assert_eq!((again.marked, again.swept), (expected, 0), "seed {seed}");
    }
}

/// A value whose `Trace::prefetch` hint is called by the collector on the value itself,
/// never on a removed or unrelated one, and before its `trace`.
#[test]
fn prefetch_hints_are_called_on_live_values_before_their_trace() {
    struct Hinted {
        id: usize,
        edges: Vec<Key>,
        hinted: AtomicBool,
        bad: Arc<AtomicUsize>,
    }
    impl Trace for Hinted {
        fn trace(&self, tracer: &mut Tracer<'_>) {
            self.edges.trace(tracer);
        }
        fn prefetch(&self) {
            if self.id == usize::MAX {
                self.bad.fetch_add(1, Ordering::Relaxed); // the unreachable marker value
            }
            self.hinted.store(true, Ordering::Relaxed);
            self.edges.prefetch();
        }
    }
    let bad = Arc::new(AtomicUsize::new(0));
    let mut arena: Arena<Hinted> = Arena::new();
    let new = |id, bad: &Arc<AtomicUsize>| Hinted {
        id,
        edges: Vec::new(),
        hinted: AtomicBool::new(false),
        bad: bad.clone(),
    };
    let keys: Vec<Key> = (0..200).map(|i| arena.insert(new(i, &bad))).collect();
    arena.insert(new(usize::MAX, &bad));
    for i in 1..200 {
        let parent = keys[(i - 1) / 3];
        arena.get_mut(parent).unwrap().edges.push(keys[i]);
    }
    let stats = arena.collect_with([keys[0]], one());
    assert_eq!((stats.marked, stats.swept), (200, 1));
    assert_eq!(bad.load(Ordering::Relaxed), 0);
    // A value is hinted once `AHEAD / 2` more values have been taken after it; those traced
    // by a flush (when the work stack ran dry) before that were not (36 of 200 here, one
    // marker being deterministic).
    let guard = pin();
    let hinted = keys
        .iter()
        .filter(|&&k| arena.get(k, &guard).unwrap().hinted.load(Ordering::Relaxed))
        .count();
    assert!(hinted >= 150, "only {hinted} of 200 values were hinted");
}

/// What a helper thread sweeps is reclaimed while the helper is parked: its part's deferred
/// batches leave its thread-local bag before it parks (a batch left there waited for the
/// helper's next job, and the model test found reclamation stuck).
#[test]
fn values_a_parked_helper_swept_are_reclaimed() {
    let log = Arc::new(DropLog::default());
    let arena = Arena::new();
    let n = if cfg!(miri) { 256 } else { 50_000 };
    for i in 0..n {
        arena.insert(Node {
            id: i,
            edges: Mutex::new(Vec::new()),
            _log: Some(Tracked::new(i, &log)),
        });
    }
    let stats = arena.collect_with([], two());
    assert_eq!(stats.swept as u64, n);
    assert!(
        testkit::reclaim_until(&arena, || log.count() as u64 == n),
        "{} of {n} dropped: a swept batch is stuck",
        log.count()
    );
}
