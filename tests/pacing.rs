//! Pacing: `collect_if_due` collects when the policy says a cycle is due, and only then.
//!
//! No timing: every assertion is about counts (insertions, survivors, `len`). Under Miri the
//! floors and counts are smaller (every insertion is slow there); the schedules they check
//! are the same.

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
    const FLOOR: usize = if cfg!(miri) { 100 } else { 1000 };
    let arena = arena(pacing(FLOOR, 1.0));
    let keys = garbage(&arena, FLOOR - 1);
    for _ in 0..3 {
        assert!(arena.collect_if_due().is_none());
    }
    assert_eq!(arena.len(), FLOOR - 1);
    assert!(
        keys.iter().all(|&k| arena.contains(k)),
        "unreachable but kept"
    );
}

#[test]
fn at_the_floor_a_cycle_runs_and_sweeps_the_unreachable() {
    const FLOOR: usize = if cfg!(miri) { 100 } else { 1000 };
    const ROOTS: usize = 10;
    let arena = arena(pacing(FLOOR, 1.0));
    let roots = rooted(&arena, ROOTS);
    let trash = garbage(&arena, FLOOR - ROOTS - 1);
    assert!(arena.collect_if_due().is_none(), "{} inserted", FLOOR - 1);
    trash.iter().for_each(|&k| assert!(arena.contains(k)));
    let last = arena.insert(Leaf); // the FLOOR-th insertion
    let stats = arena.collect_if_due().expect("due at FLOOR insertions");
    assert_eq!(
        (stats.marked, stats.swept, stats.roots),
        (ROOTS, FLOOR - ROOTS, ROOTS)
    );
    assert_eq!(stats.trimmed, 0, "trim_above is None");
    assert_eq!(arena.len(), ROOTS);
    assert!(roots.iter().all(|r| arena.contains(r.key())));
    assert!(trash.iter().all(|&k| !arena.contains(k)) && !arena.contains(last));
    // And not again right away.
    assert!(arena.collect_if_due().is_none());
}

#[test]
fn insertions_through_a_handle_count() {
    // Still more than two of a handle's 64-slot batches under Miri.
    const FLOOR: usize = if cfg!(miri) { 150 } else { 500 };
    let arena = arena(pacing(FLOOR, 1.0));
    {
        let mut handle = arena.handle();
        for _ in 0..FLOOR - 1 {
            handle.insert(Leaf);
        }
        assert!(arena.collect_if_due().is_none());
        handle.insert(Leaf);
        // The handle is still alive (its cell is counted while it is owned).
        let stats = arena
            .collect_if_due()
            .expect("FLOOR insertions through a handle");
        assert_eq!(stats.swept, FLOOR);
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
    let floor = if cfg!(miri) { 6 } else { 100 };
    // Survivors: `many` (so many that half of them is still above the floor), or half the
    // floor.
    let many = 5 * floor;
    for (survivors, growth, expected) in [
        (many, 1.0, many),       // proportional: as many again as survived
        (floor / 2, 1.0, floor), // the floor
        (many, 2.0, 2 * many),   // GOGC=200
        (many, 0.5, many / 2),
        (many, 0.0, floor),
        (many, f64::NAN, floor), // NaN counts as 0
        (many, -3.0, floor),     // and so does a negative factor
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
    const FLOOR: usize = if cfg!(miri) { 30 } else { 100 };
    // Before any collection the arena counts from empty: no survivors yet.
    let arena = arena(pacing(FLOOR, 1.0));
    let roots = rooted(&arena, FLOOR - 1);
    assert!(arena.collect_if_due().is_none());
    let more = rooted(&arena, 1);
    let stats = arena.collect_if_due().expect("due at the floor");
    assert_eq!((stats.marked, stats.swept), (FLOOR, 0));
    // FLOOR survived: the next is due after FLOOR more.
    assert_eq!(inserts_until_due(&arena, 10 * FLOOR), FLOOR);
    assert_eq!(arena.len(), FLOOR);
    drop((roots, more));
}

#[test]
fn a_collection_by_hand_resets_the_schedule() {
    const FLOOR: usize = if cfg!(miri) { 100 } else { 1000 };
    const FIRST: usize = FLOOR / 10 * 9;
    let arena = arena(pacing(FLOOR, 1.0));
    garbage(&arena, FIRST);
    assert_eq!(arena.collect([]).swept, FIRST);
    // FIRST + this = the old trigger, but the schedule now counts from the collection.
    garbage(&arena, FLOOR - FIRST);
    assert!(arena.collect_if_due().is_none());
    assert_eq!(arena.len(), FLOOR - FIRST);
    assert_eq!(inserts_until_due(&arena, 5 * FLOOR), FIRST);
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
    // Outside Miri, well past the default floor (4096).
    const N: usize = if cfg!(miri) { 200 } else { 20_000 };
    let arena = arena(Pacing::never());
    let roots = rooted(&arena, 3);
    for _ in 0..N {
        arena.insert(Leaf);
        assert!(arena.collect_if_due().is_none());
    }
    assert_eq!(arena.len(), N + 3);
    // Collections by hand still work, and the policy stays "never".
    assert_eq!(arena.collect([]).swept, N);
    garbage(&arena, N);
    assert!(arena.collect_if_due().is_none());
    assert_eq!(arena.len(), N + 3);
    drop(roots);
}

#[test]
fn a_loop_of_garbage_and_collect_if_due_stays_bounded() {
    // The default policy; under Miri with a smaller floor, and fewer roots and insertions.
    // Either way the roots are first below the floor, then above it, and each arena runs
    // several cycles.
    let floor = if cfg!(miri) {
        32
    } else {
        Pacing::default().min_inserted
    };
    let rooted_counts = if cfg!(miri) { [8, 80] } else { [1000, 10_000] };
    let insertions = if cfg!(miri) { 320 } else { 200_000 };
    for rooted_count in rooted_counts {
        let policy = Pacing::default()
            .with_min_inserted(floor)
            .with_trim_above(None);
        let arena = arena(policy);
        let roots = rooted(&arena, rooted_count);
        let mut cycles = 0;
        let mut max_len = 0;
        for _ in 0..insertions {
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
        assert!(cycles >= insertions / bound, "{cycles} cycles");
        assert!(roots.iter().all(|r| arena.contains(r.key())));
    }
}

#[test]
fn threads_share_the_schedule_and_keep_their_roots() {
    const THREADS: usize = 2;
    const EACH: usize = if cfg!(miri) { 300 } else { 50_000 };
    const FLOOR: usize = if cfg!(miri) { 150 } else { 2000 };
    let rooted_count = if cfg!(miri) { 30 } else { 300 };
    let arena = arena(pacing(FLOOR, 1.0));
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
    const ROOTS: usize = if cfg!(miri) { 20 } else { 100 };
    const GARBAGE: usize = if cfg!(miri) { 400 } else { 50_000 };
    const FLOOR: usize = if cfg!(miri) { 100 } else { 1000 };
    let alive = Arc::new(());
    let pacing = Pacing::default()
        .with_min_inserted(FLOOR)
        .with_trim_above(Some(0.5));
    let arena: Arena<Counted> = Arena::builder().pacing(pacing).build();
    let roots: Vec<_> = (0..ROOTS)
        .map(|_| arena.root(arena.insert(Counted(Arc::clone(&alive)))))
        .collect();
    for _ in 0..GARBAGE {
        arena.insert(Counted(Arc::clone(&alive)));
    }
    // Sweep by hand (a collection by hand never trims) and wait until the swept values are
    // dropped and their slots free: only free slots' memory can go back.
    let stats = arena.collect([]);
    assert_eq!((stats.swept, stats.trimmed), (GARBAGE, 0));
    arena.flush();
    while Arc::strong_count(&alive) > 1 + ROOTS {
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
            assert!(n < 100 * FLOOR, "never due");
        }
    };
    assert_eq!(n, FLOOR);
    assert!(roots.iter().all(|r| arena.contains(r.key())));
    // The arena still works after the trim.
    let key = arena.insert(Counted(Arc::clone(&alive)));
    assert!(arena.contains(key));
}
