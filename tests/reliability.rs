//! Regression tests for reliability defects found in an outside review:
//!
//! * **Values that own their own arena** (defect 1): a value whose `Drop` releases the last
//!   `Arc<Arena<_>>` of the arena it lives in is dropped inside that arena's deferred
//!   reclamation. Dropping the arena there must not wait for the reclamation it is called
//!   from, or the thread deadlocks pinned and no arena in the process reclaims any more.
//! * **Forgotten guard-like objects** (defect 6): `mem::forget` on a `Drain`, `Handle`,
//!   `IterMut` or `Root` may leak values, but must never leave `len()` wrong or lose
//!   capacity for good.
//! * **Bounded reclamation** (defect 7): a removed value is dropped, and its slot reusable,
//!   within a bounded amount of later activity on the arena, and an insert that finds the
//!   arena full reclaims what it can before it reports full.
//!
//! Tests that could hang on a broken implementation run their scenario on a spawned thread
//! and wait for it with a generous liveness bound (a minute, not a timing expectation).
//!
//! All tests in this file run one at a time (they take [`serial`]): the bounded-reclamation
//! tests need that no other thread of the process holds a guard (and still allow for a
//! moment's exception, see [`in_one_of_three_runs`]), and the deadlock tests would
//! otherwise stall every other test's reclamation when they fail.

use epoch_arena::{pin, Arena, Key, Trace, Tracer};
use std::mem;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;
use testkit::{reclaim_until, DropLog, Tracked};

static SERIAL: Mutex<()> = Mutex::new(());

/// Runs the tests of this file one at a time (a failed test must not poison the others).
fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How long a scenario may take before it counts as hung: a liveness bound, not a timing
/// expectation.
const LIVENESS: Duration = Duration::from_secs(if cfg!(miri) { 600 } else { 60 });

/// Runs `scenario` on its own thread and returns its result; fails the test if it panics
/// or is still running after [`LIVENESS`] (then it is left running: it is stuck).
fn within_liveness_bound<R: Send + 'static>(
    what: &str,
    scenario: impl FnOnce() -> R + Send + 'static,
) -> R {
    let (done_tx, done_rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        let result = scenario();
        let _ = done_tx.send(());
        result
    });
    match done_rx.recv_timeout(LIVENESS) {
        // Disconnected: the scenario panicked; `join` hands us the panic.
        Ok(()) | Err(RecvTimeoutError::Disconnected) => match worker.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(RecvTimeoutError::Timeout) => panic!(
            "{what}: still not finished after {LIVENESS:?}; the thread is stuck (deadlocked \
             in `Drop for Arena` waiting for the reclamation it runs in?)"
        ),
    }
}

/// Checks that reclamation still works in the process: a value removed from a fresh arena
/// is dropped. A thread left pinned (for example deadlocked inside reclamation) stops this.
fn assert_reclamation_still_works() {
    let log = Arc::new(DropLog::default());
    let arena = Arena::new();
    let key = arena.insert(Tracked::new(0, &log));
    assert!(arena.remove(key));
    assert!(
        reclaim_until(&arena, || log.count() == 1),
        "a value removed from another arena was never dropped: reclamation is stuck process-wide"
    );
}

// ---------------------------------------------------------------------------------------
// Defect 1: a value that owns its own arena.
// ---------------------------------------------------------------------------------------

/// A value that may own an `Arc` of the arena it lives in, and may run nested reclamation
/// in its `Drop`.
struct Node {
    /// Dropped after `Drop::drop` and before `_tracked`, so `_tracked` counts only once the
    /// arena `Arc` has been released (and `Drop for Arena` has returned, if it was the last).
    _owner: Option<Arc<Arena<Node>>>,
    flush_until: Option<FlushUntil>,
    _tracked: Tracked,
}

/// Makes a value's `Drop` run reclamation (`pin().flush()`, nested inside the reclamation
/// that is dropping it) until `log` has counted `target` drops.
struct FlushUntil {
    log: Arc<DropLog>,
    target: usize,
    /// Set when the drops were counted during this value's `Drop` (so they happened in a
    /// nested reclamation), not before it.
    nested: Arc<AtomicBool>,
}

impl Node {
    fn plain(id: u64, log: &Arc<DropLog>) -> Node {
        Node {
            _owner: None,
            flush_until: None,
            _tracked: Tracked::new(id, log),
        }
    }

    fn owning(arena: &Arc<Arena<Node>>, id: u64, log: &Arc<DropLog>) -> Node {
        Node {
            _owner: Some(Arc::clone(arena)),
            flush_until: None,
            _tracked: Tracked::new(id, log),
        }
    }
}

/// Flushes a nested reclamation may try before giving up (it then simply was not nested).
const NESTED_FLUSHES: usize = if cfg!(miri) { 100 } else { 1000 };

impl Drop for Node {
    fn drop(&mut self) {
        let Some(f) = &self.flush_until else {
            return;
        };
        // Plain loads, not `DropLog::count`: no panicking inside reclamation.
        if f.log.dropped.load(Ordering::SeqCst) >= f.target {
            return;
        }
        for _ in 0..NESTED_FLUSHES {
            pin().flush();
            if f.log.dropped.load(Ordering::SeqCst) >= f.target {
                f.nested.store(true, Ordering::SeqCst);
                return;
            }
        }
    }
}

#[test]
fn value_releasing_the_last_arc_of_its_own_arena_is_dropped_without_deadlock() {
    let _serial = serial();
    let log = Arc::new(DropLog::default());
    let scenario_log = Arc::clone(&log);
    within_liveness_bound("one value owning its arena", move || {
        let log = scenario_log;
        let arena = Arc::new(Arena::new());
        let key = arena.insert(Node::owning(&arena, 0, &log));
        assert!(arena.remove(key));
        arena.flush();
        // The value now holds the only `Arc`: its reclamation drops the arena.
        drop(arena);
        while log.count() < 1 {
            pin().flush();
        }
    });
    assert_eq!(log.count(), 1, "the value is dropped exactly once");
    for _ in 0..64 {
        pin().flush();
    }
    assert_eq!(log.count(), 1, "the value is dropped exactly once");
    assert_reclamation_still_works();
}

#[test]
fn many_values_owning_their_arena_removed_through_arena_and_handle_are_each_dropped_once() {
    let _serial = serial();
    const VALUES: u64 = 200;
    let log = Arc::new(DropLog::default());
    let scenario_log = Arc::clone(&log);
    within_liveness_bound("200 values, some owning their arena", move || {
        let log = scenario_log;
        let arena = Arc::new(Arena::new());
        // Every third value owns the arena; all of those must be removed (a live one would
        // be a reference cycle). Of the ordinary ones, every other is removed and the rest
        // stay live until the arena drops (inside some reclamation).
        let keys: Vec<(Key, bool)> = (0..VALUES)
            .map(|i| {
                let owning = i % 3 == 0;
                let node = if owning {
                    Node::owning(&arena, i, &log)
                } else {
                    Node::plain(i, &log)
                };
                (arena.insert(node), owning)
            })
            .collect();
        let mut handle = arena.handle();
        for (i, &(key, owning)) in keys.iter().enumerate() {
            if !(owning || i % 2 == 0) {
                continue;
            }
            // Alternate between the two removal paths (about 67 each: one full batch of
            // 64 and a partial one on each path).
            let removed = if i % 4 < 2 {
                arena.remove(key)
            } else {
                handle.remove(key)
            };
            assert!(removed);
        }
        drop(handle);
        arena.flush();
        drop(arena);
        while log.count() < VALUES as usize {
            pin().flush();
        }
    });
    assert_eq!(log.count(), VALUES as usize, "every value dropped once");
    for _ in 0..64 {
        pin().flush();
    }
    assert_eq!(log.count(), VALUES as usize, "every value dropped once");
    assert_reclamation_still_works();
}

/// One attempt at dropping the last `Arc` of arena A in a reclamation that runs nested
/// inside another one: the outer reclamation drops a value whose `Drop` flushes the epoch
/// collector, which runs A's reclamation, which drops the value holding A's last `Arc`.
///
/// With `same_arena` the outer reclamation is A's own (so two of A's reclamations are on
/// this thread's stack when A drops); otherwise it is another arena's. Returns whether the
/// nesting happened: the epoch collector decides when each batch runs, so the scenario
/// arranges it (both batches sealed in the same epoch, the outer one first) but another
/// thread of the process may shift the epochs.
fn nested_attempt(same_arena: bool) -> bool {
    let log = Arc::new(DropLog::default());
    let owner_log = Arc::new(DropLog::default());
    let nested = Arc::new(AtomicBool::new(false));
    let a = Arc::new(Arena::new());
    let b = Arena::new();
    let owner = a.insert(Node::owning(&a, 0, &owner_log));
    let flusher = Node {
        _owner: None,
        flush_until: Some(FlushUntil {
            log: Arc::clone(&owner_log),
            target: 1,
            nested: Arc::clone(&nested),
        }),
        _tracked: Tracked::new(1, &log),
    };
    let outer = if same_arena { &*a } else { &b };
    // Values reclaimed in the outer batch before and after the flusher, and values still
    // live in A when it drops.
    let before: Vec<Key> = (2..6).map(|i| outer.insert(Node::plain(i, &log))).collect();
    let flusher = outer.insert(flusher);
    let after: Vec<Key> = (6..10)
        .map(|i| outer.insert(Node::plain(i, &log)))
        .collect();
    for i in 10..14 {
        a.insert(Node::plain(i, &log));
    }
    let total = 13;
    {
        // While this thread stays pinned the epoch advances at most once, so the two
        // batches below are sealed in the same epoch, expire together, and the outer one
        // (queued first) runs first and finds the other one due.
        let _hold = pin();
        pin().flush();
        for &k in before.iter().chain([&flusher]).chain(&after) {
            assert!(outer.remove(k));
        }
        outer.flush();
        assert!(a.remove(owner));
        a.flush();
    }
    // `owner` holds A's last `Arc` now.
    drop(a);
    while owner_log.count() < 1 || log.count() < total {
        pin().flush();
    }
    assert_eq!(
        owner_log.count(),
        1,
        "the owning value is dropped exactly once"
    );
    assert_eq!(
        log.count(),
        total,
        "every other value is dropped exactly once"
    );
    drop(b);
    nested.load(Ordering::SeqCst)
}

/// Runs [`nested_attempt`] until the nesting happened (at most 20 times).
fn nested_scenario(same_arena: bool) {
    let nested = within_liveness_bound("last Arc released in a nested reclamation", move || {
        (0..20).any(|_| nested_attempt(same_arena))
    });
    assert!(
        nested,
        "in 20 attempts the owning value was never dropped in a reclamation nested inside \
         another one, so this test did not exercise what it is for"
    );
    assert_reclamation_still_works();
}

#[test]
fn last_arc_released_in_reclamation_nested_inside_another_arenas_reclamation() {
    let _serial = serial();
    nested_scenario(false);
}

#[test]
fn last_arc_released_in_reclamation_nested_inside_the_same_arenas_reclamation() {
    let _serial = serial();
    nested_scenario(true);
}

// ---------------------------------------------------------------------------------------
// Defect 6: forgotten guard-like objects.
// ---------------------------------------------------------------------------------------

/// `len()` must agree with what iteration finds.
fn assert_len_matches_iteration<T: Send + Sync>(arena: &Arena<T>, what: &str) -> usize {
    let seen = arena.iter(&pin()).count();
    assert_eq!(
        arena.len(),
        seen,
        "after {what}: len() disagrees with the {seen} values iteration finds"
    );
    seen
}

/// After `clear()`, the arena is empty and every one of its `max_slots` slots can be used.
fn assert_clear_restores_everything<T: Send + Sync>(
    arena: &mut Arena<T>,
    max_slots: usize,
    mut value: impl FnMut(usize) -> T,
    what: &str,
) {
    arena.clear();
    assert_eq!(arena.len(), 0, "after {what} and clear(): len()");
    assert!(arena.is_empty(), "after {what} and clear(): is_empty()");
    for i in 0..max_slots {
        assert!(
            arena.try_insert(value(i)).is_ok(),
            "after {what} and clear(): try_insert #{} failed, only {i} of max_slots = \
             {max_slots} slots are usable",
            i + 1
        );
    }
    assert_eq!(arena.len(), max_slots);
    assert_len_matches_iteration(arena, what);
}

/// Found by the `ops` fuzz target: one insertion reserves slots past the first chunk (the
/// thread cache takes a whole batch), and `clear()` used to rebuild the free list only from
/// allocated chunks, losing the reserved slots whose chunk was never allocated.
#[test]
fn clear_keeps_reserved_slots_whose_chunk_was_never_allocated() {
    let _serial = serial();
    for max_slots in [33, 64, 100, 191] {
        let mut arena = Arena::builder().max_slots(max_slots as u32).build();
        arena.insert(0usize);
        assert_clear_restores_everything(
            &mut arena,
            max_slots,
            |i| i,
            &format!("one insert into max_slots({max_slots})"),
        );
    }
}

#[test]
fn forgotten_drain_leaves_len_and_capacity_right() {
    let _serial = serial();
    let log = Arc::new(DropLog::default());
    let mut arena = Arena::builder().max_slots(10).build();
    for i in 0..10 {
        arena.insert(Tracked::new(i, &log));
    }
    let mut drain = arena.drain();
    for _ in 0..3 {
        assert!(drain.next().is_some());
    }
    mem::forget(drain);
    assert_eq!(
        log.count(),
        3,
        "the three drained values were dropped by us"
    );
    let seen = assert_len_matches_iteration(&arena, "forgetting a Drain that yielded 3 of 10");
    assert_eq!(
        seen, 7,
        "the 7 values the Drain did not reach are still there"
    );
    assert_clear_restores_everything(
        &mut arena,
        10,
        |i| Tracked::new(100 + i as u64, &log),
        "forgetting a Drain",
    );
    assert_eq!(
        log.count(),
        10,
        "clear() dropped the 7 remaining values once each"
    );
}

#[test]
fn forgotten_handle_leaves_len_and_capacity_right() {
    let _serial = serial();
    let log = Arc::new(DropLog::default());
    let mut arena = Arena::builder().max_slots(8).build();
    {
        let mut handle = arena.handle();
        let keys: Vec<Key> = (0..6)
            .map(|i| handle.insert(Tracked::new(i, &log)))
            .collect();
        // Three removals wait in the retire ring of the handle's counter cell (which `clear`
        // empties: it drops those values itself), and the handle's cache
        // still holds the two slots it has not used.
        for &k in &keys[..3] {
            assert!(handle.remove(k));
        }
        mem::forget(handle);
    }
    let seen = assert_len_matches_iteration(&arena, "forgetting a Handle");
    assert_eq!(seen, 3);
    assert_clear_restores_everything(
        &mut arena,
        8,
        |i| Tracked::new(100 + i as u64, &log),
        "forgetting a Handle with pending removals and cached free slots",
    );
    // The three values removed through the forgotten handle may have leaked, but nothing
    // was dropped twice (`count` checks) and the three cleared ones were dropped.
    assert!((3..=6).contains(&log.count()), "drops: {}", log.count());
}

#[test]
fn forgotten_iter_mut_leaves_len_and_capacity_right() {
    let _serial = serial();
    let log = Arc::new(DropLog::default());
    let mut arena = Arena::builder().max_slots(8).build();
    for i in 0..8 {
        arena.insert(Tracked::new(i, &log));
    }
    let mut iter = arena.iter_mut();
    for _ in 0..3 {
        assert!(iter.next().is_some());
    }
    // Whether or not `IterMut` has a destructor, forgetting it must be harmless.
    #[allow(clippy::forget_non_drop)]
    mem::forget(iter);
    let seen = assert_len_matches_iteration(&arena, "forgetting an IterMut");
    assert_eq!(seen, 8, "iterating changes nothing");
    assert_clear_restores_everything(
        &mut arena,
        8,
        |i| Tracked::new(100 + i as u64, &log),
        "forgetting an IterMut",
    );
    assert_eq!(log.count(), 8);
}

/// A value without edges for the collector.
struct Leaf {
    _tracked: Tracked,
}

impl Trace for Leaf {
    fn trace(&self, _: &mut Tracer<'_>) {}
}

#[test]
fn forgotten_root_leaves_len_and_capacity_right() {
    let _serial = serial();
    let log = Arc::new(DropLog::default());
    let mut arena = Arena::builder().max_slots(8).build();
    let keys: Vec<Key> = (0..8)
        .map(|i| {
            arena.insert(Leaf {
                _tracked: Tracked::new(i, &log),
            })
        })
        .collect();
    mem::forget(arena.root(keys[0]));
    mem::forget(arena.root(keys[1]));
    // The forgotten roots still root their values (a leak is allowed).
    let stats = arena.collect([]);
    assert_eq!((stats.marked, stats.swept), (2, 6));
    assert!(arena.contains(keys[0]) && arena.contains(keys[1]));
    let seen = assert_len_matches_iteration(&arena, "forgetting two Roots and collecting");
    assert_eq!(seen, 2);
    assert!(reclaim_until(&arena, || arena.stats().pending_reclamation == 0));
    assert_clear_restores_everything(
        &mut arena,
        8,
        |i| Leaf {
            _tracked: Tracked::new(100 + i as u64, &log),
        },
        "forgetting two Roots",
    );
    // The forgotten roots name keys that died with clear(): they must not keep the new
    // values in their slots alive.
    let stats = arena.collect([]);
    assert_eq!(
        stats.swept, 8,
        "stale forgotten roots kept new values alive"
    );
    assert_eq!(arena.len(), 0);
    assert_len_matches_iteration(&arena, "collecting with stale forgotten roots");
}

// ---------------------------------------------------------------------------------------
// Defect 7: removed values are dropped within bounded later activity.
// ---------------------------------------------------------------------------------------

/// Runs a bounded-reclamation scenario up to three times, and passes if one run does.
///
/// The bounds hold while no other thread of the process holds a guard. [`serial`] gives
/// that between tests except for a moment: the thread libtest ran the previous test on may
/// still be running crossbeam-epoch's thread-exit code, pinned, after that test returned.
/// On a loaded machine that thread can be descheduled there, and every grace period waits
/// for it (4 copies of this suite run side by side on 2 cores failed about 1 run in 600
/// without the retry). A defect fails every run.
fn in_one_of_three_runs(scenario: impl Fn() -> Result<(), String>) {
    let mut failures = Vec::new();
    for _ in 0..3 {
        match scenario() {
            Ok(()) => return,
            Err(why) => failures.push(why),
        }
        // Not a timing expectation: time for a descheduled pinned thread to run again.
        thread::sleep(Duration::from_millis(20));
    }
    panic!("failed in all 3 runs:\n{}", failures.join("\n"));
}

#[test]
fn full_arena_reclaims_a_removed_value_before_reporting_full() {
    let _serial = serial();
    in_one_of_three_runs(|| {
        let log = Arc::new(DropLog::default());
        let arena = Arena::builder().max_slots(1).build();
        let key = arena.insert(Tracked::new(0, &log));
        assert!(arena.remove(key));
        // No flush, and no guard held by this test: the only slot must become usable
        // again.
        if arena.try_insert(Tracked::new(1, &log)).is_err() {
            return Err(format!(
                "max_slots(1): try_insert after remove reported the arena full although \
                 this test holds no guard; stats: {:?}",
                arena.stats()
            ));
        }
        assert_eq!(log.count(), 1, "the removed value was dropped");
        assert_eq!(arena.len(), 1);
        Ok(())
    });
}

#[test]
fn full_arena_reclaims_a_value_removed_through_a_handle_before_reporting_full() {
    let _serial = serial();
    in_one_of_three_runs(|| {
        let log = Arc::new(DropLog::default());
        let arena = Arena::builder().max_slots(1).build();
        let mut handle = arena.handle();
        let key = handle.insert(Tracked::new(0, &log));
        assert!(handle.remove(key));
        if handle.try_insert(Tracked::new(1, &log)).is_err() {
            return Err(format!(
                "max_slots(1): Handle::try_insert after Handle::remove reported the arena \
                 full although this test holds no guard; handle: {handle:?}, stats: {:?}",
                arena.stats()
            ));
        }
        assert_eq!(log.count(), 1, "the removed value was dropped");
        drop(handle);
        assert_eq!(arena.len(), 1);
        Ok(())
    });
}

#[test]
fn a_few_removed_values_are_dropped_within_bounded_later_inserts() {
    let _serial = serial();
    const BOUND: usize = 64 * 16;
    in_one_of_three_runs(|| {
        let removed_log = Arc::new(DropLog::default());
        let other_log = Arc::new(DropLog::default());
        let arena = Arena::new();
        let keys: Vec<Key> = (0..5)
            .map(|i| arena.insert(Tracked::new(i, &removed_log)))
            .collect();
        for &k in &keys {
            assert!(arena.remove(k));
        }
        // Only ordinary later activity on this arena: no flush, no explicit pin.
        let mut inserts = 0;
        while removed_log.count() < 5 {
            if inserts == BOUND {
                return Err(format!(
                    "5 values removed with Arena::remove (no flush) were still not all \
                     dropped after {inserts} later inserts into the same arena: {} dropped, \
                     stats {:?}",
                    removed_log.count(),
                    arena.stats()
                ));
            }
            arena.insert(Tracked::new(1000 + inserts as u64, &other_log));
            inserts += 1;
        }
        assert_eq!(removed_log.count(), 5);
        assert_eq!(other_log.count(), 0);
        assert_eq!(arena.len(), inserts);
        Ok(())
    });
}
