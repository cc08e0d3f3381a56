//! Pacing: `collect_if_due` collects when the policy says a cycle is due, and only then.
//!
//! No timing: every assertion is about counts (insertions, survivors, `len`).

use epoch_arena::{pin, Arena, Key, Pacing, Root, Trace, Tracer};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

/// A value with no edges.
struct Leaf;

impl Trace for Leaf {
    fn trace(&self, _: &mut Tracer<'_>) {}
}

/// Pacing with the given floor and growth, never trimming (so no test here but
/// `a_paced_cycle_trims_a_fragmented_arena` depends on `trim`).
fn pacing(min_inserted: usize, growth: f64) -> Pacing {
    Pacing::proportional(growth)
        .with_min_inserted(min_inserted)
        .with_trim_above(None)
}

fn arena(pacing: Pacing) -> Arena<Leaf> {
    Arena::builder().pacing(pacing).build()
}

fn garbage(arena: &Arena<Leaf>, n: usize) -> Vec<Key> {
    (0..n).map(|_| arena.insert(Leaf)).collect()
}

fn rooted(arena: &Arena<Leaf>, n: usize) -> Vec<Root<'_, Leaf>> {
    (0..n).map(|_| arena.root(arena.insert(Leaf))).collect()
}

#[test]
fn the_default_is_proportional_with_a_floor_and_trims_above_half() {
    let p = Pacing::default();
    assert_eq!(
        (p.growth, p.min_inserted, p.trim_above),
        (1.0, 4096, Some(0.5))
    );
    assert_eq!(p, Pacing::DEFAULT);
    let never = Pacing::never();
    assert_eq!(never.min_inserted, usize::MAX);
    assert_eq!(never.trim_above, None);
}

#[test]
fn below_the_floor_nothing_is_collected() {
    let arena = arena(pacing(1000, 1.0));
    let keys = garbage(&arena, 999);
    for _ in 0..3 {
        assert!(arena.collect_if_due().is_none());
    }
    assert_eq!(arena.len(), 999);
    assert!(
        keys.iter().all(|&k| arena.contains(k)),
        "unreachable but kept"
    );
}

#[test]
fn at_the_floor_a_cycle_runs_and_sweeps_the_unreachable() {
    let arena = arena(pacing(1000, 1.0));
    let roots = rooted(&arena, 10);
    let trash = garbage(&arena, 989);
    assert!(arena.collect_if_due().is_none(), "999 inserted");
    trash.iter().for_each(|&k| assert!(arena.contains(k)));
    let last = arena.insert(Leaf); // the 1000th insertion
    let stats = arena.collect_if_due().expect("due at 1000 insertions");
    assert_eq!((stats.marked, stats.swept, stats.roots), (10, 990, 10));
    assert_eq!(stats.trimmed, 0, "trim_above is None");
    assert_eq!(arena.len(), 10);
    assert!(roots.iter().all(|r| arena.contains(r.key())));
    assert!(trash.iter().all(|&k| !arena.contains(k)) && !arena.contains(last));
    // And not again right away.
    assert!(arena.collect_if_due().is_none());
}

#[test]
fn insertions_through_a_handle_count() {
    let arena = arena(pacing(500, 1.0));
    {
        let mut handle = arena.handle();
        for _ in 0..499 {
            handle.insert(Leaf);
        }
        assert!(arena.collect_if_due().is_none());
        handle.insert(Leaf);
        // The handle is still alive (its cell is counted while it is owned).
        let stats = arena
            .collect_if_due()
            .expect("500 insertions through a handle");
        assert_eq!(stats.swept, 500);
    }
    assert!(arena.is_empty());
}

/// Inserts garbage one at a time, calling `collect_if_due` after each, until it collects;
/// returns how many were inserted (the last one included).
fn inserts_until_due(arena: &Arena<Leaf>, limit: usize) -> usize {
    for n in 1..=limit {
        arena.insert(Leaf);
        if arena.collect_if_due().is_some() {
            return n;
        }
    }
    panic!("no cycle within {limit} insertions");
}

#[test]
fn the_next_cycle_is_due_after_max_of_floor_and_growth_times_survivors() {
    let floor = 100;
    for (survivors, growth, expected) in [
        (500, 1.0, 500),  // proportional: as many again as survived
        (50, 1.0, floor), // the floor
        (500, 2.0, 1000), // GOGC=200
        (500, 0.5, 250),
        (500, 0.0, floor),
        (500, f64::NAN, floor), // NaN counts as 0
        (500, -3.0, floor),     // and so does a negative factor
    ] {
        let arena = arena(pacing(floor, growth));
        let roots = rooted(&arena, survivors);
        // `survivors >= floor` insertions so far, or not: either way, collect now by hand.
        let stats = arena.collect([]);
        assert_eq!(stats.marked, survivors);
        assert_eq!(arena.len(), survivors);
        // The schedule counts from the end of that cycle.
        let n = inserts_until_due(&arena, 10 * expected);
        assert_eq!(n, expected, "{survivors} survivors, growth {growth}");
        assert_eq!(arena.len(), survivors);
        // A paced cycle sets the schedule the same way.
        let n = inserts_until_due(&arena, 10 * expected);
        assert_eq!(n, expected, "{survivors} survivors, growth {growth}, again");
        assert!(roots.iter().all(|r| arena.contains(r.key())));
    }
}

#[test]
fn the_first_cycle_is_due_at_the_floor_however_much_is_rooted() {
    // Before any collection the arena counts from empty: no survivors yet.
    let arena = arena(pacing(100, 1.0));
    let roots = rooted(&arena, 99);
    assert!(arena.collect_if_due().is_none());
    let more = rooted(&arena, 1);
    let stats = arena.collect_if_due().expect("due at the floor");
    assert_eq!((stats.marked, stats.swept), (100, 0));
    // 100 survived: the next is due after 100 more.
    assert_eq!(inserts_until_due(&arena, 1000), 100);
    assert_eq!(arena.len(), 100);
    drop((roots, more));
}

#[test]
fn a_collection_by_hand_resets_the_schedule() {
    let arena = arena(pacing(1000, 1.0));
    garbage(&arena, 900);
    assert_eq!(arena.collect([]).swept, 900);
    // 900 + 100 = the old trigger, but the schedule now counts from the collection.
    garbage(&arena, 100);
    assert!(arena.collect_if_due().is_none());
    assert_eq!(arena.len(), 100);
    assert_eq!(inserts_until_due(&arena, 5000), 900);
}

#[test]
fn a_pinned_thread_gets_none_not_a_panic() {
    let arena = arena(pacing(100, 1.0));
    garbage(&arena, 200);
    {
        let guard = pin();
        assert!(arena.collect_if_due().is_none());
        assert!(arena.collect_if_due().is_none());
        drop(guard);
    }
    assert_eq!(arena.len(), 200, "nothing collected while pinned");
    // Still due once unpinned.
    let stats = arena.collect_if_due().expect("due");
    assert_eq!(stats.swept, 200);
}

#[test]
fn never_never_collects() {
    let arena = arena(Pacing::never());
    let roots = rooted(&arena, 3);
    for _ in 0..20_000 {
        arena.insert(Leaf);
        assert!(arena.collect_if_due().is_none());
    }
    assert_eq!(arena.len(), 20_003);
    // Collections by hand still work, and the policy stays "never".
    assert_eq!(arena.collect([]).swept, 20_000);
    garbage(&arena, 20_000);
    assert!(arena.collect_if_due().is_none());
    assert_eq!(arena.len(), 20_003);
    drop(roots);
}

#[test]
fn a_loop_of_garbage_and_collect_if_due_stays_bounded() {
    let floor = Pacing::default().min_inserted;
    for rooted_count in [1000, 10_000] {
        let arena = arena(Pacing::default().with_trim_above(None));
        let roots = rooted(&arena, rooted_count);
        let mut cycles = 0;
        let mut max_len = 0;
        for _ in 0..200_000 {
            arena.insert(Leaf);
            if let Some(stats) = arena.collect_if_due() {
                cycles += 1;
                assert_eq!(stats.marked, rooted_count);
            }
            max_len = max_len.max(arena.len());
        }
        // Live after each cycle: the roots; the next is due after max(floor, roots) more.
        let bound = rooted_count + floor.max(rooted_count);
        assert!(max_len <= bound, "{max_len} > {bound}");
        assert!(max_len < 3 * floor + rooted_count);
        assert!(cycles >= 200_000 / bound, "{cycles} cycles");
        assert!(roots.iter().all(|r| arena.contains(r.key())));
    }
}

#[test]
fn threads_share_the_schedule_and_keep_their_roots() {
    const THREADS: usize = 2;
    const EACH: usize = 50_000;
    let rooted_count = 300;
    let arena = arena(pacing(2000, 1.0));
    let roots = rooted(&arena, rooted_count);
    let cycles = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                let mut handle = arena.handle();
                for _ in 0..EACH {
                    handle.insert(Leaf);
                    if let Some(stats) = arena.collect_if_due() {
                        cycles.fetch_add(1, Ordering::Relaxed);
                        // Values inserted during the cycle are kept, not marked.
                        assert_eq!(stats.marked, rooted_count);
                    }
                }
            });
        }
    });
    let cycles = cycles.into_inner();
    assert!(
        cycles >= 1,
        "no paced cycle in {} insertions",
        THREADS * EACH
    );
    assert!(roots.iter().all(|r| arena.contains(r.key())));
    arena.collect([]);
    assert_eq!(arena.len(), rooted_count);
}

/// A value whose first trace stops the collection until the test lets it go.
enum Held {
    Leaf,
    Blocker(Arc<Barrier>, AtomicBool),
}

impl Trace for Held {
    fn trace(&self, _: &mut Tracer<'_>) {
        if let Held::Blocker(barrier, armed) = self {
            if armed.swap(false, Ordering::Relaxed) {
                barrier.wait(); // the collection is running
                barrier.wait(); // let it finish
            }
        }
    }
}

#[test]
fn while_another_collection_runs_collect_if_due_returns_none_at_once() {
    let arena: Arena<Held> = Arena::builder().pacing(pacing(100, 1.0)).build();
    let barrier = Arc::new(Barrier::new(2));
    let blocker =
        arena.root(arena.insert(Held::Blocker(Arc::clone(&barrier), AtomicBool::new(true))));
    for _ in 0..200 {
        arena.insert(Held::Leaf);
    }
    let stats = std::thread::scope(|s| {
        let collector = s.spawn(|| arena.collect([]));
        barrier.wait();
        // Due (201 insertions), but a collection holds the collector: no waiting for it.
        assert!(arena.collect_if_due().is_none());
        barrier.wait();
        collector.join().unwrap()
    });
    assert_eq!((stats.marked, stats.swept), (1, 200));
    // That collection reset the schedule.
    assert!(arena.collect_if_due().is_none());
    assert_eq!(arena.len(), 1);
    drop(blocker);
}

#[test]
fn a_panicking_trace_leaves_the_cycle_due() {
    struct Bomb(AtomicBool);
    impl Trace for Bomb {
        fn trace(&self, _: &mut Tracer<'_>) {
            assert!(!self.0.swap(false, Ordering::Relaxed), "boom");
        }
    }
    let arena: Arena<Bomb> = Arena::builder().pacing(pacing(100, 1.0)).build();
    let bomb = arena.root(arena.insert(Bomb(AtomicBool::new(true))));
    for _ in 0..99 {
        arena.insert(Bomb(AtomicBool::new(false)));
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| arena.collect_if_due()));
    assert!(result.is_err(), "the Trace panic passes through");
    assert_eq!(arena.len(), 100, "nothing swept");
    let stats = arena.collect_if_due().expect("still due");
    assert_eq!((stats.marked, stats.swept), (1, 99));
    drop(bomb);
}

/// Needs `Arena::trim` and `Arena::fragmentation` (src/arena/memory.rs).
#[test]
fn a_paced_cycle_trims_a_fragmented_arena() {
    struct Counted(#[allow(dead_code)] Arc<()>);
    impl Trace for Counted {
        fn trace(&self, _: &mut Tracer<'_>) {}
    }
    let alive = Arc::new(());
    let pacing = Pacing::default()
        .with_min_inserted(1000)
        .with_trim_above(Some(0.5));
    let arena: Arena<Counted> = Arena::builder().pacing(pacing).build();
    let roots: Vec<_> = (0..100)
        .map(|_| arena.root(arena.insert(Counted(Arc::clone(&alive)))))
        .collect();
    for _ in 0..50_000 {
        arena.insert(Counted(Arc::clone(&alive)));
    }
    // Sweep by hand (a collection by hand never trims) and wait until the swept values are
    // dropped and their slots free: only free slots' memory can go back.
    let stats = arena.collect([]);
    assert_eq!((stats.swept, stats.trimmed), (50_000, 0));
    arena.flush();
    while Arc::strong_count(&alive) > 1 + 100 {
        pin().flush();
    }
    // Most of the slot memory now holds nothing: the next paced cycle trims.
    let n = {
        let mut n = 0;
        loop {
            n += 1;
            arena.insert(Counted(Arc::clone(&alive)));
            if let Some(stats) = arena.collect_if_due() {
                assert!(stats.trimmed > 0, "fragmented, but nothing trimmed");
                break n;
            }
            assert!(n < 100_000, "never due");
        }
    };
    assert_eq!(n, 1000);
    assert!(roots.iter().all(|r| arena.contains(r.key())));
    // The arena still works after the trim.
    let key = arena.insert(Counted(Arc::clone(&alive)));
    assert!(arena.contains(key));
}
