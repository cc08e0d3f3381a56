//! The collector's entry points on [`Arena`]: [`collect`](Arena::collect),
//! [`collect_with`](Arena::collect_with), the paced
//! [`collect_if_due`](Arena::collect_if_due), [`root`](Arena::root) and the write barrier
//! [`shade`](Arena::shade). The collector itself is in `gc/`, the pacer in `gc/pacing.rs`.

use super::{Arena, Root};
use crate::gc::{CollectError, CollectOptions, CollectStats, Trace, NEVER};
use crate::key_type::ArenaKey;

impl<T: Trace + Send + Sync, K: ArenaKey> Arena<T, K> {
    /// Collects garbage: removes every value not reachable from `roots` (and the live
    /// [`Root`]s) through [`Trace`] edges, with one marker per core. See
    /// [`collect_with`](Arena::collect_with).
    ///
    /// ```
    /// use epoch_arena::{Arena, Key, Trace, Tracer};
    /// use std::sync::Mutex;
    ///
    /// struct Node(Mutex<Vec<Key>>);
    /// impl Trace for Node {
    ///     fn trace(&self, tracer: &mut Tracer<'_>) {
    ///         self.0.trace(tracer);
    ///     }
    /// }
    ///
    /// let arena = Arena::new();
    /// let child = arena.insert(Node(Mutex::new(vec![])));
    /// let root = arena.insert(Node(Mutex::new(vec![child])));
    /// let orphan = arena.insert(Node(Mutex::new(vec![root]))); // points in, but unreachable
    /// let stats = arena.collect([root]);
    /// assert_eq!(stats.swept, 1);
    /// assert!(arena.contains(root) && arena.contains(child) && !arena.contains(orphan));
    /// ```
    pub fn collect(&self, roots: impl IntoIterator<Item = K>) -> CollectStats {
        self.collect_with(roots, CollectOptions::default())
    }

    /// Collects garbage with the given options.
    ///
    /// Keeps every value reachable from `roots` and the live [`Root`]s, and every value
    /// inserted while the collection runs; removes every other value as
    /// [`remove`](Arena::remove) would (dropped once no guard can see it). Other threads may
    /// read, insert, remove and iterate meanwhile; threads that store keys into values must
    /// follow [`shade`](Arena::shade)'s rule. Stale keys among `roots` or reported by
    /// [`Trace`] are ignored.
    ///
    /// `roots` is consumed (collected into a vector) before the collection starts. A second
    /// `collect` of the same arena waits until the first has finished, then runs its own
    /// cycle. The collection waits for guards pinned when marking starts to be dropped (an
    /// epoch grace period), so a thread holding a guard for a long time delays it.
    ///
    /// # Panics
    ///
    /// * If the calling thread holds a [`Guard`](crate::Guard) (it would wait for itself
    ///   forever).
    /// * If the `roots` iterator panics: the panic passes through before the collection has
    ///   started; nothing was swept.
    /// * If a [`Trace`] impl panics: the panic is resumed here after the cycle is abandoned;
    ///   nothing was swept and the arena is consistent.
    ///
    /// Whatever panics, the collector is left idle, ready for the next collection.
    ///
    /// ```
    /// use epoch_arena::{Arena, CollectOptions, Key};
    ///
    /// let arena: Arena<Option<Key>> = Arena::new();
    /// let mut last = arena.insert(None);
    /// let first = last;
    /// for _ in 0..1000 {
    ///     last = arena.insert(Some(last)); // a list: last -> ... -> first
    /// }
    /// let stats = arena.collect_with([last], CollectOptions::with_threads(2));
    /// assert_eq!((stats.marked, stats.swept), (1001, 0));
    /// assert!(arena.contains(first));
    /// ```
    pub fn collect_with(
        &self,
        roots: impl IntoIterator<Item = K>,
        opts: CollectOptions,
    ) -> CollectStats {
        let inner = self.inner();
        let stats = inner.collect(roots.into_iter().map(K::to_key), opts);
        // The pacer's baseline: the insertion total and the values live now (removals by any
        // path included), read once the cycle has swept. A cycle that panicked swept nothing
        // and records nothing.
        let (inserted, removed) = inner.anchor.counters.lifetime();
        inner
            .collector
            .pacer()
            .finished(inserted, inserted.saturating_sub(removed));
        stats
    }

    /// Collects, as [`collect([])`](Arena::collect) would, if the arena's
    /// [`Pacing`](crate::Pacing) says a collection is due; then trims if the arena is
    /// fragmented beyond [`Pacing::trim_above`](crate::Pacing::trim_above). Returns what the
    /// collection did (with [`trimmed`](CollectStats::trimmed) set), or `None` if it did not
    /// collect.
    ///
    /// Call it now and then from any thread (after a batch of insertions, once per frame or
    /// request) and a long-running arena stays bounded without a hand-written schedule. By
    /// default ([`Pacing::DEFAULT`](crate::Pacing::DEFAULT)) a collection is due once the
    /// values inserted since the last collection (by this method or by `collect`) reach the
    /// number live after it, and at least 4096.
    ///
    /// The roots are the live [`Root`]s only: keys held elsewhere, outside any value, are not
    /// roots, exactly as with `collect([])`. Values are kept or swept as
    /// [`collect_with`](Arena::collect_with) describes, with
    /// [`CollectOptions::default`].
    ///
    /// # Cost
    ///
    /// When no collection is due: a relaxed load of the trigger, then a sum of the arena's
    /// insertion counters (three loads per [`Handle`](crate::Handle) or inserting thread
    /// alive at the same time, at most, plus three), with no write to shared memory and no
    /// read-modify-write. With [`Pacing::never`](crate::Pacing::never), one load.
    ///
    /// # When it returns `None` although a collection is due
    ///
    /// * The calling thread holds a [`Guard`](crate::Guard) (where `collect` would panic).
    /// * Another collection is running; it resets the schedule when it finishes. (Rarely, a
    ///   collection starting in the same instant is waited for instead.)
    /// * Another thread's `collect_if_due` has claimed the due collection.
    ///
    /// # Panics
    ///
    /// If a [`Trace`] impl panics, as [`collect_with`](Arena::collect_with) does; the
    /// collection stays due.
    ///
    /// ```
    /// use epoch_arena::{Arena, Pacing, Trace, Tracer};
    ///
    /// struct Leaf;
    /// impl Trace for Leaf {
    ///     fn trace(&self, _: &mut Tracer<'_>) {}
    /// }
    ///
    /// let pacing = Pacing::default().with_min_inserted(1000).with_trim_above(None);
    /// let arena = Arena::builder().pacing(pacing).build();
    /// let kept = arena.root(arena.insert(Leaf));
    /// let mut cycles = 0;
    /// for _ in 0..10_000 {
    ///     arena.insert(Leaf); // garbage: nothing refers to it
    ///     if arena.collect_if_due().is_some() {
    ///         cycles += 1;
    ///     }
    ///     assert!(arena.len() <= 1 + 1000);
    /// }
    /// assert_eq!(cycles, 10);
    /// assert!(arena.contains(kept.key()));
    /// ```
    #[inline]
    pub fn collect_if_due(&self) -> Option<CollectStats> {
        let inner = self.inner();
        let trigger = inner.collector.pacer().trigger();
        if trigger == NEVER || inner.anchor.counters.lifetime().0 < trigger {
            return None;
        }
        self.collect_due(trigger)
    }

    /// The due path of [`collect_if_due`](Arena::collect_if_due): `trigger` was reached.
    #[cold]
    #[inline(never)]
    fn collect_due(&self, trigger: usize) -> Option<CollectStats> {
        let gc = &self.inner().collector;
        if crossbeam_epoch::is_pinned() || gc.is_collecting() {
            return None;
        }
        let claim = gc.pacer().claim(trigger)?;
        // `collect_with` sets the next trigger; if it panics, dropping `claim` restores this
        // one.
        let mut stats = self.collect_with([], CollectOptions::default());
        claim.done();
        if gc.pacer().policy().should_trim(|| self.fragmentation()) {
            stats.trimmed = self.trim();
        }
        Some(stats)
    }

    /// A persistent root: `key` (and all it reaches) survives every collection until the
    /// returned [`Root`] is dropped.
    ///
    /// Rooting a key while a collection is marking also shades it, so the running cycle
    /// keeps it too. A collection that has finished marking may still sweep the key if it
    /// was unreachable when marking ended.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let key = arena.insert(42u32);
    /// let root = arena.root(key);
    /// arena.collect([]);
    /// assert!(arena.contains(root.key()));
    /// ```
    pub fn root(&self, key: K) -> Root<'_, T, K> {
        Root::new(self, key)
    }

    /// Upgrades a key, the *weak* reference, to a [`Root`], the strong one: roots the value
    /// only if it is still live, atomically with respect to a concurrent collection or
    /// removal. `None` if the value is gone, or is garbage that a sweep in progress is taking
    /// (it was unreachable when that cycle's marking ended).
    ///
    /// Past the check, no collection takes the value while the `Root` lives; only
    /// [`remove`](Arena::remove) (or a `&mut` method) can still end it, as for any key. May
    /// wait for a sweep in progress to finish (never for marking or for other threads'
    /// guards). See [Persistent roots and weak keys](crate::implementation#persistent-roots-and-weak-keys).
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let kept = arena.insert("kept");
    /// let gone = arena.insert("gone");
    /// let strong = arena.try_root(kept).expect("live");
    /// arena.collect([]); // nothing but the root keeps anything
    /// assert_eq!(strong.key(), kept);
    /// assert!(arena.contains(kept));
    /// assert!(arena.try_root(gone).is_none()); // collected: the weak key reads as gone
    /// ```
    pub fn try_root(&self, key: K) -> Option<Root<'_, T, K>> {
        Root::try_new(self, key)
    }

    /// [`collect`](Arena::collect), or an error instead of its panic when this thread is
    /// pinned (holds a [`Guard`](crate::Guard), or runs inside a value's `Drop` during
    /// reclamation): a collection waits for a grace period, which that pin would block
    /// forever.
    ///
    /// ```
    /// use epoch_arena::{Arena, CollectError};
    ///
    /// let arena = Arena::new();
    /// let key = arena.insert(1u8);
    /// let guard = epoch_arena::pin();
    /// assert_eq!(arena.try_collect([key]).unwrap_err(), CollectError::Pinned);
    /// drop(guard);
    /// assert_eq!(arena.try_collect([key]).unwrap().marked, 1);
    /// ```
    pub fn try_collect(
        &self,
        roots: impl IntoIterator<Item = K>,
    ) -> Result<CollectStats, CollectError> {
        if crossbeam_epoch::is_pinned() {
            return Err(CollectError::Pinned);
        }
        Ok(self.collect(roots))
    }

    /// The write barrier: call it with a key *before* storing that key into a value of
    /// this arena, while pinned by the same guard as the store.
    ///
    /// If a collection is marking, the key's value is marked (it and everything it reaches
    /// survive the cycle). Otherwise this is one relaxed load. Stale keys are ignored.
    ///
    /// The full rule: keys stored into values while a collection runs survive it if each
    /// store is preceded by `shade(key)` under one guard. Keys held only in local variables
    /// are not roots: if nothing reachable holds them, a collection may sweep their values
    /// and the keys go stale (`get` returns `None`, never another value). Use
    /// [`root`](Arena::root) to keep such a key. A key fresh from `insert` counts as local
    /// until it is stored, so **insert and link under one guard**: pin, insert, shade, store,
    /// unpin (below). See the [crate docs](crate#garbage-collection).
    ///
    /// ```
    /// use epoch_arena::{pin, Arena, Key, Trace, Tracer};
    /// use std::sync::Mutex;
    ///
    /// struct Node(Mutex<Vec<Key>>);
    /// impl Trace for Node {
    ///     fn trace(&self, tracer: &mut Tracer<'_>) {
    ///         self.0.trace(tracer);
    ///     }
    /// }
    ///
    /// let arena = Arena::new();
    /// let parent = arena.root(arena.insert(Node(Mutex::new(vec![]))));
    /// std::thread::scope(|s| {
    ///     s.spawn(|| arena.collect([])); // may run at any point of what follows
    ///     let guard = pin(); // pinned before the insert ...
    ///     let child = arena.insert(Node(Mutex::new(vec![])));
    ///     arena.shade(child); // ... shade, then store ...
    ///     arena.get(parent.key(), &guard).unwrap().0.lock().unwrap().push(child);
    ///     drop(guard); // ... and only then unpin
    /// });
    /// arena.collect([]);
    /// let guard = pin();
    /// assert_eq!(arena.get(parent.key(), &guard).unwrap().0.lock().unwrap().len(), 1);
    /// ```
    #[inline]
    pub fn shade(&self, key: K) {
        self.inner().shade(key.to_key());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gc::{Tracer, MAX_THREADS};
    use crate::key::Key;
    use std::sync::mpsc;
    use std::time::Duration;

    /// The collector is idle: the phase is IDLE, no shade is in flight, the grey queue is
    /// empty.
    fn assert_idle<T>(arena: &Arena<T>) {
        assert!(arena.inner().collector.is_idle());
    }

    /// A rooted binary tree of `n` nodes (node i has children 2i+1 and 2i+2) and `n` garbage
    /// nodes, each pointing into the tree, interleaved in the index range so that every
    /// part of a parallel sweep has garbage. Returns the arena, the tree (root first) and
    /// the garbage.
    fn tree_and_garbage(n: usize) -> (Arena<Vec<Key>>, Vec<Key>, Vec<Key>) {
        let arena = Arena::new();
        let mut tree = vec![None; n];
        let mut garbage = Vec::with_capacity(n);
        for i in (0..n).rev() {
            let children = [2 * i + 1, 2 * i + 2]
                .iter()
                .filter_map(|&c| tree.get(c).copied().flatten())
                .collect();
            let key = arena.insert(children);
            tree[i] = Some(key);
            garbage.push(arena.insert(vec![key]));
        }
        (
            arena,
            tree.into_iter().map(Option::unwrap).collect(),
            garbage,
        )
    }

    /// Runs `body` on a new thread that may start at most `spawns` collector threads, and
    /// fails if it takes more than 120 s (a marker waiting for one that never started
    /// would wait forever).
    fn with_spawn_limit(spawns: Option<usize>, body: impl FnOnce() + Send + 'static) {
        let (done, finished) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            crate::gc::helpers::limit_spawns(spawns);
            body();
            done.send(()).unwrap();
        });
        match finished.recv_timeout(Duration::from_secs(120)) {
            // Disconnected: `body` panicked; `join` passes the panic on.
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                if let Err(panic) = thread.join() {
                    std::panic::resume_unwind(panic);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("the collection with {spawns:?} thread spawns allowed never finished")
            }
        }
    }

    #[test]
    fn refused_collector_threads_leave_the_work_to_those_that_started() {
        let n = if cfg!(miri) { 100 } else { 5000 };
        // Four threads asked for: three helper spawns, refused from the `spawns`-th on (and
        // tried again, and refused again, by the sweep and by the second collection). Miri
        // (slow with threads) takes every other limit.
        let limits: &[Option<usize>] = if cfg!(miri) {
            &[Some(0), Some(2), None]
        } else {
            &[Some(0), Some(1), Some(2), Some(3), Some(4), None]
        };
        for &spawns in limits {
            with_spawn_limit(spawns, move || {
                let (arena, tree, garbage) = tree_and_garbage(n);
                let opts = CollectOptions {
                    threads: 4,
                    parallel_min_slots: 0,
                };
                let stats = arena.collect_with([tree[0]], opts);
                let helpers = spawns.unwrap_or(3).min(3);
                assert_eq!(
                    arena.inner().collector.helper_threads(),
                    helpers,
                    "{spawns:?} spawns allowed"
                );
                // A helper that wakes after the others finished takes no part.
                assert!((1..=1 + helpers).contains(&stats.threads), "{spawns:?}");
                assert_eq!((stats.marked, stats.swept), (n, n), "{spawns:?}");
                assert!(tree.iter().all(|&k| arena.contains(k)), "{spawns:?}");
                assert!(garbage.iter().all(|&k| !arena.contains(k)), "{spawns:?}");
                assert_idle(&arena);
                let again = arena.collect_with([tree[0]], opts);
                assert_eq!((again.marked, again.swept), (n, 0), "{spawns:?}");
                assert_eq!(
                    arena.inner().collector.helper_threads(),
                    helpers,
                    "{spawns:?}"
                );
            });
        }
    }

    /// Helper threads start with the first parallel collection, serve the next ones parked
    /// in between, hold nothing of the arena, and are stopped and joined when it drops.
    #[test]
    fn helper_threads_persist_and_go_with_their_arena() {
        let (arena, tree, _garbage) = tree_and_garbage(if cfg!(miri) { 64 } else { 2000 });
        let opts = CollectOptions {
            threads: 3,
            parallel_min_slots: 0,
        };
        assert_eq!(arena.inner().collector.helper_threads(), 0);
        for _ in 0..3 {
            let stats = arena.collect_with([tree[0]], opts);
            assert!((1..=3).contains(&stats.threads));
            assert_eq!(arena.inner().collector.helper_threads(), 2);
        }
        let probe = arena.inner().collector.helpers_probe();
        drop(arena);
        assert!(
            probe.upgrade().is_none(),
            "a helper thread outlived its arena"
        );
    }

    #[test]
    fn a_panicking_roots_iterator_leaves_the_collector_idle() {
        for threads in [1, 4] {
            let (arena, tree, garbage) = tree_and_garbage(64);
            let opts = CollectOptions {
                threads,
                parallel_min_slots: 0,
            };
            let roots = [tree[0]].into_iter().chain(core::iter::once_with(|| {
                panic!("the roots iterator panics")
            }));
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                arena.collect_with(roots, opts)
            }));
            assert!(result.is_err());
            assert_idle(&arena);
            assert_eq!(arena.len(), 128, "nothing swept");
            // A shade now is a no-op: it neither marks nor queues.
            arena.shade(garbage[0]);
            assert_idle(&arena);
            let stats = arena.collect_with([tree[0]], opts);
            assert_eq!((stats.marked, stats.swept), (64, 64));
            assert_idle(&arena);
        }
    }

    #[test]
    fn a_panicking_trace_leaves_the_collector_idle() {
        struct Bomb(bool, Vec<Key>);
        impl Trace for Bomb {
            fn trace(&self, tracer: &mut Tracer<'_>) {
                assert!(!self.0, "boom");
                self.1.trace(tracer);
            }
        }
        for threads in [1, 4] {
            let arena = Arena::new();
            let bomb = arena.insert(Bomb(true, vec![]));
            let leaves: Vec<Key> = (0..100)
                .map(|_| arena.insert(Bomb(false, vec![])))
                .collect();
            let root = arena.insert(Bomb(false, [&leaves[..], &[bomb]].concat()));
            let opts = CollectOptions {
                threads,
                parallel_min_slots: 0,
            };
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                arena.collect_with([root], opts)
            }));
            assert!(result.is_err());
            assert_idle(&arena);
            assert_eq!(arena.len(), 102, "nothing swept");
            let stats = arena.collect_with(leaves.iter().copied(), opts);
            assert_eq!((stats.marked, stats.swept), (100, 2));
            assert_idle(&arena);
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "64 collector threads are too slow under miri")]
    fn an_absurd_thread_count_is_clamped() {
        let (arena, tree, garbage) = tree_and_garbage(5000);
        let opts = CollectOptions {
            threads: usize::MAX,
            parallel_min_slots: 0,
        };
        let stats = arena.collect_with([tree[0]], opts);
        assert!(stats.threads <= MAX_THREADS);
        assert_eq!((stats.marked, stats.swept), (5000, 5000));
        assert!(garbage.iter().all(|&k| !arena.contains(k)));
        assert_idle(&arena);
    }
}
