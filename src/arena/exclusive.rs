//! The `&mut Arena` operations: no guard-protected borrow of the arena exists, so values
//! are freed at once, without a grace period, and `clear` and `Drop` put the arena back in
//! order whatever happened before (see [`&mut` operations](crate::implementation#mut-operations)
//! and [The arena may be gone when a closure runs](crate::implementation#the-arena-may-be-gone-when-a-closure-runs)).

use super::iter::Cursor;
use super::{Arena, Drain, IterMut, ValuesMut};
use crate::gc::GcState;
use crate::key::Key;
use crate::key_type::ArenaKey;
use crate::raw::gate::{self, Gate};
use crate::raw::{local, slot, FreeSink, Inner};
use crate::sync::Ordering;

impl<T: Send + Sync, K: ArenaKey> Arena<T, K> {
    /// A unique reference to the value of a live key.
    ///
    /// ```
    /// let mut arena = epoch_arena::Arena::new();
    /// let key = arena.insert(1);
    /// *arena.get_mut(key).unwrap() += 1;
    /// assert_eq!(arena.get(key, &epoch_arena::pin()), Some(&2));
    /// ```
    pub fn get_mut(&mut self, key: K) -> Option<&mut T> {
        let key = key.to_key();
        let slot = self.inner().dir.slot(key.index())?;
        if slot.state.load(Ordering::Relaxed) == key.generation() {
            // SAFETY: OCCUPIED, so initialised; `&mut self` excludes every reader and
            // writer (deferred reclamation only touches REMOVED slots).
            Some(unsafe { slot.value_mut() })
        } else {
            None
        }
    }

    /// Removes the value of a live key and returns it, with no grace period (`&mut self`
    /// means nobody can be reading it).
    ///
    /// ```
    /// let mut arena = epoch_arena::Arena::new();
    /// let key = arena.insert(String::from("mine"));
    /// assert_eq!(arena.take(key).as_deref(), Some("mine"));
    /// assert_eq!(arena.take(key), None);
    /// ```
    pub fn take(&mut self, key: K) -> Option<T> {
        let key = key.to_key();
        let inner = self.inner();
        let slot = inner.dir.slot(key.index())?;
        let state = slot.state.load(Ordering::Relaxed);
        if state != key.generation() {
            return None;
        }
        let next = slot::freed(state);
        slot.state.store(next, Ordering::Relaxed);
        // SAFETY: OCCUPIED and exclusively ours (`&mut self`); the state now says FREE.
        let value = unsafe { slot.read() };
        inner.anchor.counters.add_taken_exclusive(1);
        if next != slot::RETIRED {
            local::return_free(&inner.anchor, key.index(), next);
        }
        Some(value)
    }

    /// Every live value with its key, mutably, in index order.
    ///
    /// ```
    /// let mut arena = epoch_arena::Arena::new();
    /// arena.insert(1);
    /// arena.insert(2);
    /// for (_, v) in arena.iter_mut() {
    ///     *v *= 10;
    /// }
    /// let guard = epoch_arena::pin();
    /// assert_eq!(arena.iter(&guard).map(|(_, v)| *v).sum::<i32>(), 30);
    /// ```
    pub fn iter_mut(&mut self) -> IterMut<'_, T, K> {
        IterMut::new(self)
    }

    /// Every live value, mutably, in index order.
    ///
    /// ```
    /// let mut arena = epoch_arena::Arena::new();
    /// arena.insert(1);
    /// arena.insert(2);
    /// arena.values_mut().for_each(|v| *v *= 10);
    /// assert_eq!(arena.values(&epoch_arena::pin()).sum::<i32>(), 30);
    /// ```
    pub fn values_mut(&mut self) -> ValuesMut<'_, T, K> {
        ValuesMut::new(self.iter_mut())
    }

    /// Mutable references to the values of `N` keys at once: `None` if any key is not live
    /// or two keys name the same slot (which would alias).
    ///
    /// ```
    /// let mut arena = epoch_arena::Arena::new();
    /// let a = arena.insert(1);
    /// let b = arena.insert(2);
    /// let [x, y] = arena.get_disjoint_mut([a, b]).unwrap();
    /// std::mem::swap(x, y);
    /// assert_eq!(arena.get_mut(a), Some(&mut 2));
    /// assert!(arena.get_disjoint_mut([a, a]).is_none()); // aliasing
    /// arena.take(b);
    /// assert!(arena.get_disjoint_mut([a, b]).is_none()); // b is dead
    /// ```
    pub fn get_disjoint_mut<const N: usize>(&mut self, keys: [K; N]) -> Option<[&mut T; N]> {
        let dir = &self.inner().dir;
        let mut slots = Vec::with_capacity(N);
        for (i, key) in keys.iter().enumerate() {
            let key = key.to_key();
            if keys[..i].iter().any(|k| k.to_key().index() == key.index()) {
                return None;
            }
            let slot = dir.slot(key.index())?;
            // Relaxed: `&mut self` excludes every other access.
            if slot.state.load(Ordering::Relaxed) != key.generation() {
                return None;
            }
            slots.push(slot);
        }
        let mut slots = slots.into_iter();
        Some(core::array::from_fn(|_| {
            let Some(slot) = slots.next() else {
                unreachable!("one slot per key")
            };
            // SAFETY: OCCUPIED, so initialised; `&mut self` excludes every reader and
            // writer, and the slots are pairwise distinct (checked above), so the `N`
            // references do not alias. They borrow `self` mutably for their life.
            unsafe { slot.value_mut() }
        }))
    }

    /// Keeps only the values for which `f` returns `true`; drops the others at once.
    ///
    /// If `f` or a `T::drop` panics, the panic propagates and the arena stays consistent:
    /// values already removed are gone, the rest are still there.
    ///
    /// ```
    /// let mut arena = epoch_arena::Arena::new();
    /// let keys: Vec<_> = (0..6).map(|i| arena.insert(i)).collect();
    /// arena.retain(|_, v| *v % 2 == 0);
    /// assert_eq!(arena.len(), 3);
    /// assert!(!arena.contains(keys[1]));
    /// ```
    pub fn retain(&mut self, mut f: impl FnMut(K, &mut T) -> bool) {
        let inner = self.inner();
        let mut sink = FreeSink::new(&inner.anchor);
        let mut cursor = Cursor::new(inner.high_water());
        while let Some((index, slot, state)) = cursor.next_occupied(&inner.dir, Ordering::Relaxed) {
            // SAFETY: OCCUPIED, and exclusively ours through `&mut self`.
            if f(K::from_key(Key::new(index, state)), unsafe {
                slot.value_mut()
            }) {
                continue;
            }
            // SAFETY: OCCUPIED with `state` (the cursor read it), and ours through `&mut self`.
            unsafe { sink.free_value(index, slot, state) };
        }
    }

    /// Removes every value, yielding it with its key. Values the iterator does not reach
    /// (because it is dropped early) are dropped; capacity is kept.
    ///
    /// ```
    /// let mut arena = epoch_arena::Arena::new();
    /// arena.insert('a');
    /// arena.insert('b');
    /// let drained: String = arena.drain().map(|(_, c)| c).collect();
    /// assert_eq!(drained, "ab");
    /// assert!(arena.is_empty());
    /// ```
    pub fn drain(&mut self) -> Drain<'_, T, K> {
        Drain::new(self)
    }

    /// Drops every value and keeps the capacity. Every old key dies: slots are reused with
    /// new generations.
    ///
    /// `clear` also puts the arena back in order whatever happened before: values whose
    /// removal is still waiting for its grace period are dropped now (`&mut self` means no
    /// reader can see them), and the free list is rebuilt from the slots themselves, so
    /// slots held by a forgotten [`Drain`] or [`Handle`](crate::Handle) (`mem::forget`) or by other threads'
    /// insert caches all become usable again, and [`len`](Arena::len) and
    /// [`stats`](Arena::stats) count exactly. It waits for reclamation already running on
    /// other threads to finish, as dropping the arena does.
    ///
    /// ```
    /// let mut arena = epoch_arena::Arena::new();
    /// let key = arena.insert(1);
    /// arena.clear();
    /// assert!(arena.is_empty() && !arena.contains(key));
    /// let again = arena.insert(2);
    /// assert_ne!(again, key);
    /// ```
    pub fn clear(&mut self) {
        if gate::inside(self.raw.as_ptr().cast()) {
            // A value's drop, run by reclamation of this very arena on this thread, cleared
            // it: pausing would wait for ourselves. Drop the live values only.
            self.retain(|_, _| false);
            return;
        }
        let mut first_panic = None;
        self.rebuild(|inner| {
            let anchor = &inner.anchor;
            // Counts nothing: the counts are reset below.
            let mut sink = FreeSink::new(anchor);
            // Downwards, so that the lowest slots end up on top of the free list.
            for index in (0..inner.high_water() as u32).rev() {
                let Some(slot) = inner.dir.slot(index) else {
                    // Reserved (below the high water) but its chunk was never allocated (or
                    // was given back): a slot that holds nothing, handed out as a fresh
                    // reservation would be, with the generation floor. Leaving it off the
                    // list would lose it for good.
                    sink.keep(index, anchor.pool.floor());
                    continue;
                };
                let state = slot.state.load(Ordering::Relaxed);
                let free = if slot::has_value(state) {
                    let next = slot::freed(state);
                    slot.state.store(next, Ordering::Relaxed);
                    // SAFETY: initialised (OCCUPIED or REMOVED) and ours alone: no reader
                    // (`&mut self`), no closure (paused gate); the state already says FREE,
                    // so a panic here leaves nothing to drop twice.
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
                        slot.drop_value()
                    }));
                    if let Err(payload) = r {
                        first_panic.get_or_insert(payload);
                    }
                    next
                } else {
                    state
                };
                if slot::is_free(free) {
                    // A slot whose memory was given back reads 0: the floor is above
                    // every state it had.
                    sink.keep(index, anchor.pool.free_state(free));
                }
            }
            drop(sink);
            anchor.counters.reset_exclusive();
        });
        if let Some(payload) = first_panic {
            std::panic::resume_unwind(payload);
        }
    }

    /// Runs `f` with every slot, the pool and the counts the caller's alone: this thread's
    /// cache unbound, the gate paused (no reclamation closure runs, no thread cache gives
    /// slots back), the shared free stack discarded, the shared retire stack and every
    /// owner's retire ring emptied and every thread cache invalidated. `f` rebuilds the free list. The gate resumes on every exit
    /// path, unwinding included.
    ///
    /// Not for a `&mut` call made inside a value's drop run by this arena's own reclamation
    /// on this thread (`gate::inside`): pausing would wait for ourselves.
    pub(crate) fn rebuild<R>(&mut self, f: impl FnOnce(&Inner<T, GcState>) -> R) -> R {
        let inner = self.inner();
        let anchor = &inner.anchor;
        debug_assert!(!gate::inside(self.raw.as_ptr().cast()));
        // Unbind this thread's cache first: a value's drop inside `f` may insert into
        // another arena and so rebind it, and a cache bound to this arena cannot give back
        // its slots while the gate is paused.
        local::unbind(anchor);
        anchor.gate.pause_and_wait();
        /// Resumes the gate on every exit path, unwinding included.
        struct Resume<'a>(&'a Gate);
        impl Drop for Resume<'_> {
            fn drop(&mut self) {
                self.0.resume();
            }
        }
        let _resume = Resume(&anchor.gate);
        // Nobody else touches the pool, the retire stack, the counters' totals or any slot
        // now: `&mut self` excludes every other user, and the paused gate every closure and
        // every thread cache giving slots back. Old caches are invalidated.
        anchor.pool.discard_stack();
        inner.retire.take();
        // Every owner's ring too: `f` reclaims their slots itself.
        anchor
            .counters
            .for_each_ring(crate::raw::reclaim::RetireRing::discard_exclusive);
        anchor.rebind();
        f(inner)
    }
}

impl<T, K> Drop for Arena<T, K> {
    fn drop(&mut self) {
        let raw = self.raw.as_ptr();
        let inner = self.inner();
        // Reclamation closures of this arena running on this thread's stack (this drop runs
        // inside a value's drop) cannot leave before we return: mark them, wait only for the
        // others, and let the outermost free the memory (see `raw/gate.rs`).
        let mine = gate::hand_over(raw.cast());
        // From here on no deferred closure and no thread cache touches the arena.
        inner.anchor.gate.close_and_wait(mine);
        let mut first_panic = None;
        if core::mem::needs_drop::<T>() {
            let mut cursor = Cursor::new(inner.high_water());
            while let Some((_, slot)) = cursor.next_slot(&inner.dir) {
                // Relaxed: the gate's Acquire ordered us after every closure's writes.
                let state = slot.state.load(Ordering::Relaxed);
                if slot::has_value(state) {
                    // Say FREE first, so that a value whose drop drops another value of this
                    // arena, or panics, is never dropped twice.
                    slot.state.store(slot::freed(state), Ordering::Relaxed);
                    // SAFETY: initialised (OCCUPIED or REMOVED), and ours alone: `&mut self`
                    // excludes readers and the closed gate excludes reclamation.
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
                        slot.drop_value()
                    }));
                    if let Err(payload) = r {
                        first_panic.get_or_insert(payload);
                    }
                }
            }
        }
        // Give back what the type-independent part holds, now rather than when the last
        // closure or thread cache lets go of it, and unbind this thread's cache.
        inner.anchor.release_memory();
        local::unbind(&inner.anchor);
        if mine == 0 {
            // SAFETY: made by `Box::into_raw` in `Builder::build`; no closure is inside the
            // closed gate and none will enter, and `&mut self` excludes every other user.
            drop(unsafe { Box::from_raw(raw) });
        }
        if let Some(payload) = first_panic {
            std::panic::resume_unwind(payload);
        }
    }
}
