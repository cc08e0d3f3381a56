//! The thread-local cache behind `Arena::insert` and `Arena::remove` (`raw/local.rs`): one
//! entry per arena for the last few arenas a thread used, and per-owner retire rings that
//! any thread's flush or refill can take (`raw/reclaim.rs`).
//!
//! What must hold: an index cached for one arena is never handed out by another, also not by
//! a new arena allocated where a dropped one was; removals that wait in an idle thread's (or
//! a forgotten handle's) ring are still dropped, once, within bounded activity elsewhere.

use epoch_arena::{pin, Arena, Key};
use std::collections::HashMap;
use std::sync::{Arc, Barrier, Mutex, MutexGuard};
use std::thread;
use testkit::{reclaim_until, DropLog, Rng, Tracked};

/// The tests that count drops of removed values run one at a time: a guard held by another
/// test of this process would delay reclamation (not break it).
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

const ROUNDS: u64 = if cfg!(miri) { 60 } else { 3000 };

/// Inserts into and removes from `arenas` round-robin from one thread, checking after every
/// step that each arena holds exactly what a model of it says.
fn round_robin(arenas: usize) {
    let log = Arc::new(DropLog::default());
    let all: Vec<Arena<Tracked>> = (0..arenas).map(|_| Arena::new()).collect();
    let mut model: Vec<HashMap<Key, u64>> = vec![HashMap::new(); arenas];
    let mut rng = Rng::new(arenas as u64);
    let mut inserted = 0;
    for step in 0..ROUNDS {
        let a = (step as usize) % arenas;
        let id = (a as u64) << 32 | step;
        let key = all[a].insert(Tracked::new(id, &log));
        inserted += 1;
        assert!(
            model[a].insert(key, id).is_none(),
            "arena {a} handed out live key {key:?} again"
        );
        if rng.below(3) == 0 {
            let victim = *model[a].keys().nth(rng.below(model[a].len())).unwrap();
            assert!(all[a].remove(victim));
            model[a].remove(&victim);
        }
    }
    let guard = pin();
    for (a, arena) in all.iter().enumerate() {
        assert_eq!(arena.len(), model[a].len(), "arena {a}: len");
        for (&key, &id) in &model[a] {
            let value = arena.get(key, &guard).expect("a live key finds its value");
            assert!(value.is_intact());
            assert_eq!(value.id, id, "arena {a}: key {key:?} finds another value");
        }
        assert_eq!(arena.iter(&guard).count(), model[a].len());
    }
    drop(guard);
    drop(all);
    // Every value of every arena dropped exactly once (`count` checks for twice).
    assert_eq!(log.count(), inserted);
}

#[test]
fn two_arenas_used_alternately_keep_their_own_slots() {
    round_robin(2);
}

#[test]
fn more_arenas_than_the_cache_holds_keep_their_own_slots() {
    // More arenas than cache entries (4): entries are replaced, giving their slots back.
    round_robin(7);
}

/// A thread's cache entry for an arena dropped elsewhere must not serve a new arena, even one
/// whose internals land at the same address: the entry holds a `Weak`, so the address is not
/// reused while the entry exists. If it served it, the new arena's first insertion on this
/// thread would take the old arena's next cached slot (index 1) instead of a fresh one.
#[test]
fn a_new_arena_never_gets_a_dropped_arenas_cached_slots() {
    for round in 0..if cfg!(miri) { 8 } else { 200 } {
        let old = Arena::new();
        assert_eq!(old.insert(round).index(), 0);
        // Dropped on another thread, so this thread's entry for it stays.
        thread::scope(|s| {
            s.spawn(move || drop(old));
        });
        let new = Arena::new();
        let key = new.insert(round + 1000);
        assert_eq!(
            key.index(),
            0,
            "round {round}: the new arena used a stale cache entry"
        );
        assert_eq!(new.len(), 1);
        assert_eq!(new.get(key, &pin()), Some(&(round + 1000)));
    }
}

/// The same with the roles of the threads swapped: a worker caches an arena, the arena is
/// dropped while the worker lives, and the worker goes on with new arenas.
#[test]
fn a_worker_caching_a_dropped_arena_goes_on_with_new_ones() {
    let log = Arc::new(DropLog::default());
    let arena = Arc::new(Arena::new());
    let cached = Arc::new(Barrier::new(2));
    let dropped = Arc::new(Barrier::new(2));
    let worker = {
        let (arena, log) = (Arc::clone(&arena), Arc::clone(&log));
        let (cached, dropped) = (Arc::clone(&cached), Arc::clone(&dropped));
        thread::spawn(move || {
            let key = arena.insert(Tracked::new(0, &log));
            assert!(arena.remove(key)); // a removal waits in this thread's ring too
            arena.insert(Tracked::new(1, &log));
            drop(arena);
            cached.wait();
            dropped.wait();
            for round in 0..if cfg!(miri) { 4 } else { 50 } {
                let new = Arena::new();
                let key = new.insert(Tracked::new(100 + round, &log));
                assert_eq!(
                    key.index(),
                    0,
                    "round {round}: a stale cache entry was used"
                );
                assert!(new.remove(key));
                assert_eq!(new.len(), 0);
            }
        })
    };
    cached.wait();
    // The last reference: the arena drops here, while the worker's cache holds its slots,
    // its counter cell and the ring with the removal.
    drop(match Arc::try_unwrap(arena) {
        Ok(arena) => arena,
        Err(_) => panic!("the worker let go of its Arc"),
    });
    assert_eq!(
        log.count(),
        2,
        "both values (one of them removed) dropped with the arena"
    );
    dropped.wait();
    worker.join().unwrap();
    // Each new arena dropped its removed value with itself.
    assert_eq!(log.count(), 2 + if cfg!(miri) { 4 } else { 50 });
}

/// A thread that removes `keys` through `Arena::remove` (into its own retire ring), then
/// stays alive and idle until [`finish`](IdleRemover::finish).
struct IdleRemover {
    done: Arc<Barrier>,
    thread: thread::JoinHandle<()>,
}

impl IdleRemover {
    /// Starts the thread and returns once its removals are done.
    fn start<T: Send + Sync + 'static>(arena: &Arc<Arena<T>>, keys: Vec<Key>) -> Self {
        let removed = Arc::new(Barrier::new(2));
        let done = Arc::new(Barrier::new(2));
        let thread = {
            let (arena, removed, done) =
                (Arc::clone(arena), Arc::clone(&removed), Arc::clone(&done));
            thread::spawn(move || {
                for &k in &keys {
                    assert!(arena.remove(k));
                }
                removed.wait();
                done.wait();
            })
        };
        removed.wait();
        IdleRemover { done, thread }
    }

    /// Lets the thread end and joins it.
    fn finish(self) {
        self.done.wait();
        self.thread.join().unwrap();
    }
}

/// Removals that wait in the ring of a thread that stays alive and idle are handed on by a
/// flush on another thread.
#[test]
fn an_idle_threads_removals_are_handed_on_by_anothers_flush() {
    let _serial = serial();
    let log = Arc::new(DropLog::default());
    let arena = Arc::new(Arena::new());
    let keys: Vec<Key> = (0..3)
        .map(|i| arena.insert(Tracked::new(i, &log)))
        .collect();
    let idle = IdleRemover::start(&arena, keys);
    let dropped = reclaim_until(&arena, || log.count() == 3);
    idle.finish();
    assert!(
        dropped,
        "removals in an idle thread's ring were never handed on"
    );
    assert_eq!(arena.len(), 0);
    assert_eq!(arena.stats().pending_reclamation, 0);
}

/// The same, handed on by another thread's insertions alone (their refills), without any
/// flush.
#[test]
fn an_idle_threads_removals_are_handed_on_by_anothers_inserts() {
    let _serial = serial();
    const BOUND: usize = 64 * 64;
    let removed_log = Arc::new(DropLog::default());
    let other_log = Arc::new(DropLog::default());
    let arena = Arc::new(Arena::new());
    let keys: Vec<Key> = (0..3)
        .map(|i| arena.insert(Tracked::new(i, &removed_log)))
        .collect();
    let idle = IdleRemover::start(&arena, keys);
    let mut inserts = 0;
    while removed_log.count() < 3 && inserts < BOUND {
        arena.insert(Tracked::new(1000 + inserts as u64, &other_log));
        inserts += 1;
    }
    idle.finish();
    assert_eq!(
        removed_log.count(),
        3,
        "3 removals of an idle thread still waiting after {inserts} inserts elsewhere: {:?}",
        arena.stats()
    );
    assert_eq!(other_log.count(), 0);
}

/// A forgotten `Handle`'s pending removals sit in its counter cell's ring, which `flush`
/// takes.
#[test]
fn a_forgotten_handles_removals_are_handed_on_by_flush() {
    let _serial = serial();
    let log = Arc::new(DropLog::default());
    let arena = Arena::new();
    let mut handle = arena.handle();
    let keys: Vec<Key> = (0..5)
        .map(|i| handle.insert(Tracked::new(i, &log)))
        .collect();
    for &k in &keys[..3] {
        assert!(handle.remove(k));
    }
    std::mem::forget(handle);
    assert!(
        reclaim_until(&arena, || log.count() == 3),
        "a forgotten handle's removals were never handed on"
    );
    assert_eq!(arena.len(), 2);
    drop(arena);
    assert_eq!(log.count(), 5);
}

/// `clear` with removals waiting in a released cell's ring (the thread that made them has
/// exited): each value is dropped once, by `clear`, and later flushes find nothing to drop
/// again; the arena is whole afterwards.
#[test]
fn clear_with_removals_in_rings_drops_each_value_once() {
    let _serial = serial();
    let log = Arc::new(DropLog::default());
    let mut arena = Arena::new();
    let keys: Vec<Key> = (0..10)
        .map(|i| arena.insert(Tracked::new(i, &log)))
        .collect();
    thread::scope(|s| {
        let arena = &arena;
        s.spawn(move || {
            for &k in &keys[..5] {
                assert!(arena.remove(k));
            }
        });
    });
    arena.clear();
    assert_eq!(log.count(), 10);
    for _ in 0..64 {
        arena.flush();
        pin().flush();
    }
    assert_eq!(log.count(), 10, "a value was dropped again after clear");
    let again: Vec<Key> = (0..10)
        .map(|i| arena.insert(Tracked::new(100 + i, &log)))
        .collect();
    assert_eq!(arena.len(), 10);
    let guard = pin();
    for (i, &k) in again.iter().enumerate() {
        assert_eq!(arena.get(k, &guard).map(|v| v.id), Some(100 + i as u64));
    }
}
