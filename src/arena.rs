//! [`Arena`]: the public face, and the shared internals every other module works on.

use crate::chunk::{chunk_start, ChunkDir, MAX_SLOTS, NUM_CHUNKS};
use crate::collect::GcState;
use crate::counter::Counters;
use crate::free_list::{IndexBatch, IndexPool};
use crate::guard::Guard;
use crate::handle::Handle;
use crate::iter::{Cursor, Drain, Iter, IterMut};
use crate::key::Key;
use crate::local;
use crate::reclaim::{self, Gate, RetireStack};
use crate::slot::{self, SlotRef};
use crate::sync::{AtomicU64, AtomicUsize, Ordering};
use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;
use std::sync::Arc;

/// The parts of an arena that do not depend on `T`: what deferred reclamation closures and
/// the thread-local caches hold on to (an `Arc`, and a `Weak` from the caches). It stays
/// small: `Drop for Arena` empties the pool and the counter list, so after the arena is gone
/// only this header waits for the last closure or cache to let go.
pub(crate) struct Shared {
    /// Closed when the arena drops, paused while `clear` rebuilds (see `reclaim.rs`).
    pub(crate) gate: Gate,
    pub(crate) pool: IndexPool,
    pub(crate) counters: Counters,
    /// Bumped by every `clear`, which rebuilds the free list from the slots themselves: a
    /// thread cache bound under an older value holds slots that are on the new list too, so
    /// it is dropped unused (see `local.rs`).
    binding: AtomicU64,
    /// Reclamation closures deferred and not yet run: while there are any, refills drive
    /// the epoch (see `reclaim.rs`).
    pub(crate) deferred: AtomicUsize,
}

impl Shared {
    /// The current binding (see the field).
    #[inline(always)]
    pub(crate) fn binding(&self) -> u64 {
        // Relaxed: it only changes under `&mut Arena`, and whoever uses the arena afterwards
        // got its reference through something that synchronised with that `&mut`.
        self.binding.load(Ordering::Relaxed)
    }
}

/// Everything an arena owns. Owned by the [`Arena`] through a raw pointer (so deferred
/// closures may keep its address without keeping it alive; see `reclaim.rs`).
pub(crate) struct Inner<T> {
    pub(crate) dir: ChunkDir<T>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) retire: RetireStack,
    /// The collector's phase, mark bits, grey queue and roots (see `collect.rs`).
    pub(crate) gc: GcState,
    /// For auto traits and drop check: an arena owns its `T`s.
    _owns: PhantomData<T>,
}

impl<T> Inner<T> {
    /// The slot for FREE slot `(index, state)`, which the caller owns, and the key an
    /// insertion there publishes. `None` if the index cannot be backed by memory (a `T` so
    /// large that its chunk's size overflows `isize`).
    #[inline(always)]
    pub(crate) fn prepare(&self, index: u32, state: u32) -> Option<(SlotRef<'_, T>, Key)> {
        let slot = self.dir.slot_or_alloc(index)?;
        // The owner knows the state, so there is no load of a possibly cold (or never
        // touched) state word here; debug builds check it. The last write of that state
        // reached us through the free list's Release/Acquire, the `&mut` that freed the
        // slot, or the chunk's publication.
        debug_assert_eq!(slot.state.load(Ordering::Relaxed), state, "slot {index}");
        Some((slot, Key::new(index, slot::occupied(state))))
    }

    /// Step 1 of removal: CASes the slot of a live key from OCCUPIED to REMOVED. Returns the
    /// slot if this call won; of racing callers exactly one does, and the key is dead for
    /// every later lookup. The value stays in place for reclamation.
    #[inline]
    pub(crate) fn unlink(&self, key: Key) -> Option<SlotRef<'_, T>> {
        let slot = self.dir.slot(key.index())?;
        let generation = key.generation();
        // Acquire: the winner takes the value over for reclamation, so it must see the
        // inserter's write of it.
        slot.state
            .compare_exchange(
                generation,
                slot::removed(generation),
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .ok()
            .map(|_| slot)
    }

    /// Makes the key an unwinding `insert_with` closure was given stale forever: the slot
    /// goes from FREE `state` straight to the FREE state after that key's generation, so the
    /// key can never match, even if the closure stored it somewhere. Returns the new FREE
    /// state, or [`slot::RETIRED`].
    pub(crate) fn burn(slot: SlotRef<'_, T>, state: u32) -> u32 {
        let next = slot::freed(slot::occupied(state));
        // Relaxed: readers only compare the state (it never equals a key they hold), and
        // the slot's next owner synchronises through the cache or the pool.
        slot.state.store(next, Ordering::Relaxed);
        next
    }

    /// Writes and publishes a value in a slot returned by [`prepare`](Inner::prepare).
    #[inline(always)]
    pub(crate) fn publish(&self, slot: SlotRef<'_, T>, key: Key, value: T) {
        // SAFETY: the slot is FREE and ours (from `prepare`), so its cell is uninitialised
        // and no one else touches it.
        unsafe { slot.write(value) };
        // The birth cycle, in the link word an occupied slot does not otherwise use (see
        // `collect.rs`). Relaxed: the Release store below publishes it with the value.
        slot.next.store(self.gc.birth(), Ordering::Relaxed);
        // Release: a reader's Acquire load of this state sees the value written.
        slot.state.store(key.generation(), Ordering::Release);
    }

    /// Indices handed out so far; every non-FREE slot is below this.
    #[inline]
    pub(crate) fn high_water(&self) -> u64 {
        self.shared.pool.high_water()
    }
}

/// A lock-free concurrent arena: insert, read and remove values from any number of threads
/// through `&Arena`, addressed by 8-byte generational [`Key`]s.
///
/// * Reads ([`get`](Arena::get), [`iter`](Arena::iter)) take a [`Guard`] and write no
///   shared memory. A `&T` stays valid while its guard lives, even if the value is removed
///   meanwhile.
/// * [`insert`](Arena::insert) and [`remove`](Arena::remove) are lock-free. A
///   [`Handle`] (one per thread) makes them cheaper still.
/// * With `&mut Arena` there are no readers, so [`get_mut`](Arena::get_mut),
///   [`take`](Arena::take), [`retain`](Arena::retain), [`drain`](Arena::drain) and
///   [`clear`](Arena::clear) work directly, without epochs.
///
/// `Arena<T>` is `Send + Sync` when `T: Send + Sync`.
///
/// ```
/// use epoch_arena::{pin, Arena};
/// use std::thread;
///
/// let arena = Arena::new();
/// let keys: Vec<_> = thread::scope(|s| {
///     let workers: Vec<_> = (0..4)
///         .map(|t| s.spawn({ let arena = &arena; move || arena.insert(t * 10) }))
///         .collect();
///     workers.into_iter().map(|w| w.join().unwrap()).collect()
/// });
/// let guard = pin();
/// let mut values: Vec<i32> = keys.iter().map(|&k| *arena.get(k, &guard).unwrap()).collect();
/// values.sort();
/// assert_eq!(values, [0, 10, 20, 30]);
/// ```
pub struct Arena<T> {
    /// From `Box::into_raw` in [`Builder::build`]; freed by `Drop` (or, if the arena is
    /// dropped by one of its own values during reclamation, by that reclamation; see
    /// `reclaim.rs`).
    raw: NonNull<Inner<T>>,
    /// For auto traits and drop check: an arena owns its internals and its `T`s.
    _owns: PhantomData<Inner<T>>,
}

// SAFETY: an `Arena<T>` is an owning pointer to `Inner<T>`, shared by reference with the
// threads that use it; `Inner<T>` holds `T`s that are inserted, read and dropped on any
// thread, which `T: Send + Sync` allows (the same bounds as `Arc<Inner<T>>` would need).
unsafe impl<T: Send + Sync> Send for Arena<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for Arena<T> {}

impl<T> Arena<T> {
    /// The internals.
    #[inline(always)]
    pub(crate) fn inner(&self) -> &Inner<T> {
        // SAFETY: `raw` is valid until `Drop`, which needs `&mut self`.
        unsafe { self.raw.as_ref() }
    }
}

/// Configures an [`Arena`] before it is built: initial capacity and a cap on slots.
///
/// ```
/// let big = epoch_arena::Arena::<u64>::builder().capacity(1000).build();
/// assert!(big.capacity() >= 1000);
///
/// let arena = epoch_arena::Arena::builder().max_slots(2).build();
/// assert!(arena.try_insert('a').is_ok());
/// assert!(arena.try_insert('b').is_ok());
/// assert_eq!(arena.try_insert('c'), Err('c')); // the key space is full
/// ```
pub struct Builder<T> {
    capacity: usize,
    max_slots: u32,
    _value: PhantomData<fn() -> T>,
}

impl<T> Clone for Builder<T> {
    fn clone(&self) -> Self {
        Builder {
            capacity: self.capacity,
            max_slots: self.max_slots,
            _value: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Builder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("capacity", &self.capacity)
            .field("max_slots", &self.max_slots)
            .finish()
    }
}

impl<T: Send + Sync> Default for Builder<T> {
    fn default() -> Self {
        Builder {
            capacity: 0,
            max_slots: MAX_SLOTS,
            _value: PhantomData,
        }
    }
}

impl<T: Send + Sync> Builder<T> {
    /// Allocates chunks for at least `slots` slots up front (capped at `max_slots`).
    pub fn capacity(mut self, slots: usize) -> Self {
        self.capacity = slots;
        self
    }

    /// Caps the number of slots (and so of live values plus values waiting for
    /// reclamation). By default (and at most) [`MAX_SLOTS`](crate::MAX_SLOTS).
    pub fn max_slots(mut self, max_slots: u32) -> Self {
        self.max_slots = max_slots;
        self
    }

    /// Builds the arena.
    pub fn build(self) -> Arena<T> {
        let inner = Inner {
            dir: ChunkDir::new(),
            shared: Arc::new(Shared {
                gate: Gate::new(),
                pool: IndexPool::new(self.max_slots),
                counters: Counters::new(),
                binding: AtomicU64::new(0),
                deferred: AtomicUsize::new(0),
            }),
            retire: RetireStack::new(),
            gc: GcState::new(),
            _owns: PhantomData,
        };
        let want = (self.capacity as u64).min(u64::from(self.max_slots));
        for c in 0..NUM_CHUNKS {
            if chunk_start(c) >= want {
                break;
            }
            // A failure here only means "too large to back", which `try_insert` reports.
            let _ = inner.dir.alloc(c);
        }
        Arena {
            raw: NonNull::from(Box::leak(Box::new(inner))),
            _owns: PhantomData,
        }
    }
}

/// A snapshot of an arena's size and memory.
///
/// ```
/// let arena = epoch_arena::Arena::new();
/// arena.insert(1u64);
/// let stats = arena.stats();
/// assert_eq!(stats.live, 1);
/// assert!(stats.slots >= 1 && stats.chunks >= 1);
/// assert!(stats.bytes_reserved >= stats.slots * 8);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Values in the arena (as [`Arena::len`]).
    pub live: usize,
    /// Slots in allocated chunks (as [`Arena::capacity`]).
    pub slots: usize,
    /// Slot indices handed out at least once.
    pub high_water: usize,
    /// Allocated chunks.
    pub chunks: usize,
    /// Bytes of chunk memory allocated (slots: value plus 8 bytes of state each).
    pub bytes_reserved: usize,
    /// Removed values whose grace period has not ended yet: not dropped, slot not reusable.
    pub pending_reclamation: usize,
    /// Bytes of mark bitmaps (one bit per slot, allocated by the first collection).
    pub mark_bytes: usize,
}

impl<T: Send + Sync> Default for Arena<T> {
    fn default() -> Self {
        Arena::new()
    }
}

impl<T: Send + Sync> Arena<T> {
    /// An empty arena. No chunk is allocated until the first insertion.
    ///
    /// ```
    /// let arena: epoch_arena::Arena<String> = epoch_arena::Arena::new();
    /// assert!(arena.is_empty());
    /// assert_eq!(arena.capacity(), 0);
    /// ```
    pub fn new() -> Self {
        Builder::default().build()
    }

    /// A [`Builder`] for capacity and a cap on slots.
    ///
    /// ```
    /// use epoch_arena::Arena;
    ///
    /// let arena = Arena::<String>::builder().capacity(64).build();
    /// assert!(arena.capacity() >= 64);
    /// let inferred = Arena::builder().max_slots(8).build();
    /// inferred.insert(1u8);
    /// ```
    pub fn builder() -> Builder<T> {
        Builder::default()
    }

    /// An empty arena with chunks for at least `slots` values already allocated.
    ///
    /// ```
    /// let arena: epoch_arena::Arena<u32> = epoch_arena::Arena::with_capacity(100);
    /// assert!(arena.capacity() >= 100);
    /// ```
    pub fn with_capacity(slots: usize) -> Self {
        Builder::default().capacity(slots).build()
    }

    /// Inserts a value and returns its key.
    ///
    /// Uses a per-thread cache of free slots; a [`Handle`] is faster still.
    ///
    /// # Panics
    /// If the key space is full (see [`try_insert`](Arena::try_insert)).
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let key = arena.insert("value");
    /// assert_eq!(arena.get(key, &epoch_arena::pin()), Some(&"value"));
    /// ```
    #[inline]
    pub fn insert(&self, value: T) -> Key {
        match self.try_insert(value) {
            Ok(key) => key,
            Err(_) => full(self.max_slots()),
        }
    }

    /// Inserts a value, or gives it back if the key space is full.
    ///
    /// The key space is full when every slot index below [`max_slots`](Arena::max_slots)
    /// is live, waiting for its grace period, retired after 2^30 reuses, or sitting in
    /// another thread's cache (at most 64 per [`Handle`] or thread).
    ///
    /// ```
    /// let arena = epoch_arena::Arena::builder().max_slots(1).build();
    /// assert!(arena.try_insert(1).is_ok());
    /// assert_eq!(arena.try_insert(2), Err(2));
    /// ```
    #[inline]
    pub fn try_insert(&self, value: T) -> Result<Key, T> {
        let inner = self.inner();
        let Some((index, state)) = self.take_slot() else {
            return Err(value);
        };
        match inner.prepare(index, state) {
            Some((slot, key)) => {
                inner.publish(slot, key, value);
                Ok(key)
            }
            None => {
                local::unbackable_index(&inner.shared);
                Err(value)
            }
        }
    }

    /// A free slot for an insertion, counted as inserted; `None` when the key space is full.
    #[inline(always)]
    fn take_slot(&self) -> Option<(u32, u32)> {
        match local::take_cached(&self.inner().shared) {
            Some(taken) => Some(taken),
            None => self.take_slot_slow(),
        }
    }

    /// The refill path, once per 64 insertions of a thread: also hands the removals waiting
    /// in the shared retire stack to reclamation (the bound in [`remove`](Arena::remove)),
    /// and, when the key space looks full, reclaims what it can before giving up.
    #[cold]
    #[inline(never)]
    fn take_slot_slow(&self) -> Option<(u32, u32)> {
        let inner = self.inner();
        inner.drive_reclamation();
        if let Some(taken) = local::take_index(&inner.shared) {
            return Some(taken);
        }
        if inner.reclaim_for_insert() {
            return local::take_index(&inner.shared);
        }
        None
    }

    /// Inserts the value `f` makes from its own key (for values that refer to themselves).
    ///
    /// Until `f` returns, the key is not live: `get` with it returns `None`. If `f` panics,
    /// the arena is unchanged and the key `f` was given stays dead forever (the slot is
    /// reused with a later generation), so storing it somewhere before panicking is safe.
    ///
    /// # Panics
    /// If the key space is full, or if `f` panics.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let key = arena.insert_with(|me| (me, "knows its own key"));
    /// assert_eq!(arena.get(key, &epoch_arena::pin()).unwrap().0, key);
    /// ```
    pub fn insert_with(&self, f: impl FnOnce(Key) -> T) -> Key {
        let shared = &self.inner().shared;
        let Some((index, state)) = self.take_slot() else {
            full(self.max_slots())
        };
        let Some((slot, key)) = self.inner().prepare(index, state) else {
            local::unbackable_index(shared);
            full(self.max_slots())
        };
        /// If `f` unwinds: makes the key `f` saw stale forever and puts the slot back.
        struct Untake<'a, T> {
            shared: &'a Arc<Shared>,
            slot: SlotRef<'a, T>,
            index: u32,
            state: u32,
        }
        impl<T> Drop for Untake<'_, T> {
            fn drop(&mut self) {
                let next = Inner::burn(self.slot, self.state);
                local::untake_index(self.shared, self.index, next);
            }
        }
        let untake = Untake {
            shared,
            slot,
            index,
            state,
        };
        let value = f(key);
        core::mem::forget(untake);
        self.inner().publish(slot, key, value);
        key
    }

    /// The value of a live key, borrowed for as long as the guard.
    ///
    /// One acquire load and one compare; no shared memory is written. Returns `None` for a
    /// stale key, a key made from arbitrary bits, or an index past the arena's capacity.
    ///
    /// ```
    /// use epoch_arena::{pin, Arena};
    ///
    /// let arena = Arena::new();
    /// let key = arena.insert(42);
    /// let guard = pin();
    /// assert_eq!(arena.get(key, &guard), Some(&42));
    /// arena.remove(key);
    /// assert_eq!(arena.get(key, &guard), None);
    /// ```
    #[inline]
    pub fn get<'g>(&'g self, key: Key, guard: &'g Guard) -> Option<&'g T> {
        let _ = guard;
        let slot = self.inner().dir.slot(key.index())?;
        // Acquire pairs with `publish`'s Release: the value write is visible.
        if slot.state.load(Ordering::Acquire) == key.generation() {
            // The state equals the key's (OCCUPIED) generation, so the value is initialised.
            // It stays so while `guard` lives: a removal after our load defers the drop until
            // every guard pinned before the removal, ours included, is gone, and the slot
            // cannot be reused before it is dropped. Nobody gets `&mut` to it while `&self`
            // is borrowed.
            // SAFETY: initialised and unchanged for 'g (above), which the guard outlives.
            Some(unsafe { slot.value_ref() })
        } else {
            None
        }
    }

    /// Whether the key is live.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let key = arena.insert(());
    /// assert!(arena.contains(key));
    /// arena.remove(key);
    /// assert!(!arena.contains(key));
    /// ```
    #[inline]
    pub fn contains(&self, key: Key) -> bool {
        self.inner()
            .dir
            .slot(key.index())
            .is_some_and(|slot| slot.state.load(Ordering::Acquire) == key.generation())
    }

    /// Removes the value of a live key; returns whether this call removed it.
    ///
    /// Of several threads removing the same key, exactly one gets `true`. The key is dead
    /// for every later lookup at once; the value is dropped, and its slot reused, only
    /// after every [`Guard`] pinned before the removal is gone (see
    /// [`flush`](Arena::flush)).
    ///
    /// # When the value is dropped
    ///
    /// Removals through `Arena::remove` are handed to reclamation in batches: when 64 have
    /// accumulated, whenever any thread refills its insert cache (at most every 64 of its
    /// insertions into this arena), on [`flush`](Arena::flush) and
    /// [`collect`](Arena::collect), and when an insertion finds the key space full. From
    /// then on the value is dropped, and its slot reusable, once crossbeam-epoch's global
    /// epoch has advanced twice; pinning threads drive that (while reclamation of this arena
    /// is pending, every refill tries to advance it, and so does [`Guard::flush`]), and a
    /// guard held by any thread delays it.
    /// An insertion that finds no free slot first hands on pending removals and drives the
    /// epoch (up to 16 attempts) before it reports the arena full.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let key = arena.insert('x');
    /// assert!(arena.remove(key));
    /// assert!(!arena.remove(key));
    /// ```
    pub fn remove(&self, key: Key) -> bool {
        let Some(slot) = self.inner().unlink(key) else {
            return false;
        };
        let inner = self.inner();
        local::count_removed(&inner.shared);
        if inner.retire.push(slot.next, key.index()) {
            let guard = crossbeam_epoch::pin();
            inner.defer_shared_retired(&guard);
        }
        true
    }

    /// Hands every pending removal to the epoch collector now and asks it to run.
    ///
    /// Removals through [`Arena::remove`] are deferred in batches of 64; this defers a
    /// partial batch too, then [`flushes`](Guard::flush) this thread's epoch bag. Values are
    /// dropped once the epoch advances past every guard pinned before their removal, which
    /// may take a few more pins. Removals through a [`Handle`] are flushed by
    /// [`Handle::flush`] or by dropping the handle.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let arena = epoch_arena::Arena::new();
    /// let value = Arc::new(());
    /// let key = arena.insert(Arc::clone(&value));
    /// arena.remove(key);
    /// arena.flush();
    /// while Arc::strong_count(&value) > 1 {
    ///     epoch_arena::pin().flush();
    /// }
    /// assert_eq!(arena.stats().pending_reclamation, 0);
    /// ```
    pub fn flush(&self) {
        self.inner().flush_retired();
    }

    /// Values in the arena.
    ///
    /// Exact when no other thread inserts or removes at the same time; otherwise a count
    /// the arena had recently.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let a = arena.insert(1);
    /// arena.insert(2);
    /// arena.remove(a);
    /// assert_eq!(arena.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.inner().shared.counters.sum().0
    }

    /// Whether the arena holds no values (see [`len`](Arena::len)).
    ///
    /// ```
    /// let arena: epoch_arena::Arena<u8> = Default::default();
    /// assert!(arena.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slots in allocated chunks.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// arena.insert(0);
    /// assert!(arena.capacity() >= 1);
    /// ```
    pub fn capacity(&self) -> usize {
        self.inner().dir.footprint().1
    }

    /// The cap on slots this arena was built with (see [`Builder::max_slots`]).
    ///
    /// ```
    /// assert_eq!(epoch_arena::Arena::<u8>::new().max_slots(), epoch_arena::MAX_SLOTS);
    /// ```
    pub fn max_slots(&self) -> u32 {
        self.inner().shared.pool.max_slots() as u32
    }

    /// Every live value with its key, in index order.
    ///
    /// Concurrent insertions and removals are allowed: the iterator yields every value that
    /// is live for the whole iteration, and may or may not yield values inserted or removed
    /// meanwhile. Each yielded `&T` is valid for the guard's life.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// for i in 0..3 {
    ///     arena.insert(i);
    /// }
    /// let guard = epoch_arena::pin();
    /// let sum: i32 = arena.iter(&guard).map(|(_, v)| v).sum();
    /// assert_eq!(sum, 3);
    /// ```
    pub fn iter<'g>(&'g self, guard: &'g Guard) -> Iter<'g, T> {
        Iter::new(self.inner(), guard)
    }

    /// A per-thread fast path for insertions and removals.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let mut handle = arena.handle();
    /// let key = handle.insert(5);
    /// assert!(handle.remove(key));
    /// ```
    pub fn handle(&self) -> Handle<'_, T> {
        Handle::new(self)
    }

    /// Sizes and memory: live values, slots, chunks, bytes, pending reclamation.
    pub fn stats(&self) -> Stats {
        let (live, pending_reclamation) = self.inner().shared.counters.sum();
        let (chunks, slots, bytes_reserved) = self.inner().dir.footprint();
        Stats {
            live,
            slots,
            high_water: self.inner().high_water() as usize,
            chunks,
            bytes_reserved,
            pending_reclamation,
            mark_bytes: self.inner().gc.marks.bytes(),
        }
    }

    /// A unique reference to the value of a live key.
    ///
    /// ```
    /// let mut arena = epoch_arena::Arena::new();
    /// let key = arena.insert(1);
    /// *arena.get_mut(key).unwrap() += 1;
    /// assert_eq!(arena.get(key, &epoch_arena::pin()), Some(&2));
    /// ```
    pub fn get_mut(&mut self, key: Key) -> Option<&mut T> {
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
    pub fn take(&mut self, key: Key) -> Option<T> {
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
        inner.shared.counters.add_taken_exclusive(1);
        if next != slot::RETIRED {
            local::return_free(&inner.shared, key.index(), next);
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
    pub fn iter_mut(&mut self) -> IterMut<'_, T> {
        IterMut::new(self)
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
    pub fn retain(&mut self, mut f: impl FnMut(Key, &mut T) -> bool) {
        let inner = self.inner();
        let mut sink = FreeSink::new(&inner.shared);
        let mut cursor = Cursor::new(inner.high_water());
        while let Some((index, slot)) = cursor.next_slot(&inner.dir) {
            let state = slot.state.load(Ordering::Relaxed);
            if !slot::is_occupied(state) {
                continue;
            }
            // SAFETY: OCCUPIED, and exclusively ours through `&mut self`.
            if f(Key::new(index, state), unsafe { slot.value_mut() }) {
                continue;
            }
            let next = slot::freed(state);
            slot.state.store(next, Ordering::Relaxed);
            sink.free(index, next);
            // SAFETY: initialised and ours; the state already says FREE, so a panic here
            // leaves nothing to drop twice.
            unsafe { slot.drop_value() };
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
    pub fn drain(&mut self) -> Drain<'_, T> {
        Drain::new(self)
    }

    /// Drops every value and keeps the capacity. Every old key dies: slots are reused with
    /// new generations.
    ///
    /// `clear` also puts the arena back in order whatever happened before: values whose
    /// removal is still waiting for its grace period are dropped now (`&mut self` means no
    /// reader can see them), and the free list is rebuilt from the slots themselves, so
    /// slots held by a forgotten [`Drain`] or [`Handle`] (`mem::forget`) or by other threads'
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
        let inner = self.inner();
        if reclaim::inside(self.raw.as_ptr().cast()) {
            // A value's drop, run by reclamation of this very arena on this thread, cleared
            // it: pausing would wait for ourselves. Drop the live values only.
            self.retain(|_, _| false);
            return;
        }
        let shared = &inner.shared;
        // Unbind this thread's cache first: a value's drop below may insert into another
        // arena and so rebind it, and a cache bound to this arena cannot give back its slots
        // while the gate is paused.
        local::unbind(shared);
        shared.gate.pause_and_wait();
        /// Resumes the gate on every exit path, unwinding included.
        struct Resume<'a>(&'a Gate);
        impl Drop for Resume<'_> {
            fn drop(&mut self) {
                self.0.resume();
            }
        }
        let _resume = Resume(&shared.gate);
        // Nobody else touches the pool, the retire stack, the counters' totals or any slot
        // now: `&mut self` excludes every other user, and the paused gate every closure and
        // every thread cache giving slots back. Old caches are invalidated.
        shared.pool.discard_stack();
        inner.retire.take();
        shared.binding.fetch_add(1, Ordering::Relaxed);
        let mut first_panic = None;
        let mut batch = IndexBatch::new();
        // Downwards, so that the lowest slots end up on top of the free list.
        for index in (0..inner.high_water() as u32).rev() {
            let Some(slot) = inner.dir.slot(index) else {
                continue;
            };
            let state = slot.state.load(Ordering::Relaxed);
            let free = if slot::has_value(state) {
                let next = slot::freed(state);
                slot.state.store(next, Ordering::Relaxed);
                // SAFETY: initialised (OCCUPIED or REMOVED) and ours alone: no reader
                // (`&mut self`), no closure (paused gate); the state already says FREE, so a
                // panic here leaves nothing to drop twice.
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
                if batch.is_full() {
                    shared
                        .pool
                        .give_back(core::mem::replace(&mut batch, IndexBatch::new()));
                }
                batch.push(index, free);
            }
        }
        shared.pool.give_back(batch);
        shared.counters.reset_exclusive();
        drop(_resume);
        if let Some(payload) = first_panic {
            std::panic::resume_unwind(payload);
        }
    }
}

/// Collects indices freed through `&mut` and returns them to the pool in batches.
///
/// Each value is counted as it is freed, not when the sink drops, so a `Drain` that is
/// `mem::forget`-ten leaves the counts right; its last partial batch of slots is then lost
/// until the next [`Arena::clear`], which rebuilds the free list.
pub(crate) struct FreeSink<'a> {
    shared: &'a Shared,
    batch: IndexBatch,
}

impl<'a> FreeSink<'a> {
    /// A sink for an arena borrowed mutably (the counting relies on it).
    pub(crate) fn new(shared: &'a Shared) -> Self {
        FreeSink {
            shared,
            batch: IndexBatch::new(),
        }
    }

    /// Records a removed value whose slot now has FREE `state` (or just retired).
    pub(crate) fn free(&mut self, index: u32, state: u32) {
        self.shared.counters.add_taken_exclusive(1);
        if state != slot::RETIRED {
            if self.batch.is_full() {
                self.shared
                    .pool
                    .give_back(core::mem::replace(&mut self.batch, IndexBatch::new()));
            }
            self.batch.push(index, state);
        }
    }
}

impl Drop for FreeSink<'_> {
    fn drop(&mut self) {
        self.shared
            .pool
            .give_back(core::mem::replace(&mut self.batch, IndexBatch::new()));
    }
}

#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn full(max_slots: u32) -> ! {
    panic!("epoch-arena: the key space is full ({max_slots} slots); use try_insert to handle this")
}

impl<T> Drop for Arena<T> {
    fn drop(&mut self) {
        let raw = self.raw.as_ptr();
        let inner = self.inner();
        // Reclamation closures of this arena running on this thread's stack (this drop runs
        // inside a value's drop) cannot leave before we return: mark them, wait only for the
        // others, and let the outermost free the memory (see `reclaim.rs`).
        let mine = reclaim::hand_over(raw.cast());
        // From here on no deferred closure and no thread cache touches the arena.
        inner.shared.gate.close_and_wait(mine);
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
        inner.shared.release_memory();
        local::unbind(&inner.shared);
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

impl Shared {
    /// Frees the pool's batches and the counter cells. Only for `Drop for Arena`, after it
    /// closed the gate: from then on nothing reads them.
    fn release_memory(&self) {
        self.pool.discard_stack();
        // SAFETY: the gate is closed, so no thread cache touches its cell any more, and
        // `Handle`s borrow the arena, which is being dropped.
        unsafe { self.counters.free_cells() };
    }
}

impl<T: fmt::Debug + Send + Sync> fmt::Debug for Arena<T> {
    /// Prints the live entries as a map from key to value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let guard = crate::pin();
        f.debug_map().entries(self.iter(&guard)).finish()
    }
}

impl<'a, T: Send + Sync> IntoIterator for &'a mut Arena<T> {
    type Item = (Key, &'a mut T);
    type IntoIter = IterMut<'a, T>;
    fn into_iter(self) -> IterMut<'a, T> {
        self.iter_mut()
    }
}
