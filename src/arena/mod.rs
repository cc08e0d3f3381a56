//! The public arena API: [`Arena`] with its [`Builder`] and [`Stats`], the per-thread
//! [`Handle`], the iterators, [`Guard`] and [`pin`], and [`Root`].
//!
//! Everything here is a safe surface over the raw store (`raw/`): the shared-reference
//! operations (`insert`, `get`, `remove`, ...) in this file, the `&mut` operations that need
//! no grace period in `exclusive.rs`, and the collector's entry points (`collect`, `shade`,
//! `root`) in `collect.rs`, which call into `gc/`. With feature `rayon`, `par.rs` adds the
//! parallel iteration on top of the iterators' slot cursor. How a key promises what it does is in the
//! [crate docs](crate#what-a-key-promises); how the operations work is in the
//! [design document](crate::implementation).

mod collect;
mod entry;
mod error;
mod exclusive;
mod guard;
mod handle;
mod image;
mod iter;
mod memory;
mod mutator;
#[cfg(feature = "rayon")]
mod par;
mod root;
mod traits;

pub use self::entry::VacantEntry;
pub use self::error::{InsertError, InsertErrorKind};
pub use self::guard::{pin, Guard};
pub use self::handle::Handle;
pub use self::iter::{Drain, IntoIter, Iter, IterMut, Keys, Values, ValuesMut};
pub use self::mutator::Mutator;
pub use self::root::Root;

#[cfg(feature = "serde")]
pub(crate) use self::image::ImageHead;

use crate::gc::{Core, GcState};
use crate::key::Key;
use crate::key_type::ArenaKey;
use crate::raw::chunk::MAX_SLOTS;
use crate::raw::{local, Inner};
use crate::sync::alloc::NoMemory;
use crate::sync::Ordering;
use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;

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
pub struct Arena<T, K = Key> {
    /// From `Box::into_raw` in [`Builder::build`]; freed by `Drop` (or, if the arena is
    /// dropped by one of its own values during reclamation, by that reclamation; see
    /// `raw/gate.rs`).
    raw: NonNull<Core<T>>,
    /// For auto traits and drop check: an arena owns its internals and its `T`s. The key
    /// type only names keys (invariant, and neither owned nor affecting auto traits).
    _owns: PhantomData<Core<T>>,
    _key: PhantomData<fn(K) -> K>,
}

// SAFETY: an `Arena<T>` is an owning pointer to `Core<T>`, shared by reference with the
// threads that use it; `Core<T>` holds `T`s that are inserted, read and dropped on any
// thread, which `T: Send + Sync` allows (the same bounds as `Arc<Core<T>>` would need).
unsafe impl<T: Send + Sync, K> Send for Arena<T, K> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync, K> Sync for Arena<T, K> {}

impl<T, K> Arena<T, K> {
    /// The internals.
    #[inline(always)]
    pub(crate) fn inner(&self) -> &Core<T> {
        // SAFETY: `raw` is valid until `Drop`, which needs `&mut self`.
        unsafe { self.raw.as_ref() }
    }
}

/// Configures an [`Arena`] before it is built: initial capacity, a cap on slots, the
/// [`Pacing`](crate::Pacing) of [`collect_if_due`](Arena::collect_if_due), and whether its
/// keys are [distinct](Builder::distinct_keys) from other arenas'.
///
/// ```
/// let big = epoch_arena::Arena::<u64>::builder().capacity(1000).build();
/// assert!(big.capacity() >= 1000);
///
/// let arena = epoch_arena::Arena::builder().max_slots(2).build();
/// assert!(arena.try_insert('a').is_ok());
/// assert!(arena.try_insert('b').is_ok());
/// assert_eq!(arena.try_insert('c').unwrap_err().into_inner(), 'c'); // the key space is full
/// ```
pub struct Builder<T, K = Key> {
    capacity: usize,
    max_slots: u32,
    pacing: crate::gc::Pacing,
    distinct_keys: bool,
    _value: PhantomData<fn() -> (T, K)>,
}

impl<T, K> Clone for Builder<T, K> {
    fn clone(&self) -> Self {
        Builder {
            capacity: self.capacity,
            max_slots: self.max_slots,
            pacing: self.pacing,
            distinct_keys: self.distinct_keys,
            _value: PhantomData,
        }
    }
}

impl<T, K> fmt::Debug for Builder<T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("capacity", &self.capacity)
            .field("max_slots", &self.max_slots)
            .field("pacing", &self.pacing)
            .field("distinct_keys", &self.distinct_keys)
            .finish()
    }
}

impl<T: Send + Sync, K: ArenaKey> Default for Builder<T, K> {
    fn default() -> Self {
        Builder::new()
    }
}

impl<T: Send + Sync, K: ArenaKey> Builder<T, K> {
    /// A builder with the defaults: no capacity, [`MAX_SLOTS`](crate::MAX_SLOTS), and
    /// [`Pacing::DEFAULT`](crate::Pacing::DEFAULT). The key type comes from the arena it
    /// builds ([`Arena::builder`] is the same for [`Key`]).
    ///
    /// ```
    /// use epoch_arena::{new_key_type, Arena, Builder};
    /// new_key_type! { struct NodeId; }
    ///
    /// let arena: Arena<&str, NodeId> = Builder::new().capacity(16).build();
    /// let id: NodeId = arena.insert("typed");
    /// assert!(arena.contains(id));
    /// ```
    pub fn new() -> Self {
        Builder {
            capacity: 0,
            max_slots: MAX_SLOTS,
            pacing: crate::gc::Pacing::DEFAULT,
            distinct_keys: false,
            _value: PhantomData,
        }
    }

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

    /// Sets when [`collect_if_due`](Arena::collect_if_due) collects and whether it trims
    /// afterwards. By default [`Pacing::DEFAULT`](crate::Pacing::DEFAULT): a collection is
    /// due once the values inserted since the last one reach the number live after it, and
    /// at least 4096; a cycle that leaves more than half the slot memory empty is followed
    /// by a [`trim`](Arena::trim). [`collect`](Arena::collect) still collects whenever it is
    /// called (and the schedule counts from there).
    ///
    /// ```
    /// use epoch_arena::{Arena, Pacing};
    ///
    /// let arena = Arena::builder()
    ///     .pacing(Pacing::default().with_min_inserted(100).with_trim_above(None))
    ///     .build();
    /// for i in 0..99u32 {
    ///     arena.insert(i);
    /// }
    /// assert!(arena.collect_if_due().is_none()); // 99 < 100: not yet
    /// arena.insert(99);
    /// let stats = arena.collect_if_due().expect("100 insertions: due");
    /// assert_eq!(stats.swept, 100); // nothing was rooted
    /// assert!(arena.is_empty());
    /// ```
    pub fn pacing(mut self, pacing: crate::gc::Pacing) -> Self {
        self.pacing = pacing;
        self
    }

    /// Makes the arena's keys differ from every other arena's, so that a key used with an
    /// arena that did not issue it finds nothing (in practice) instead of whatever that arena
    /// holds at the same index. Off by default.
    ///
    /// A key is a slot index and a generation, and every arena counts each slot's generations
    /// up from the same start, so by default the first key of slot 3 is the same word in
    /// every arena: a key of arena A used with arena B finds B's value at index 3 (as with
    /// `slotmap`). With `distinct_keys(true)` the arena picks its own *generation base*, a
    /// multiple of 4 in `4..2^30` taken from a process-wide counter through a fixed bijection
    /// (with a per-process random offset), and its slots count their generations up from
    /// there. The first 2^28 − 1 distinct arenas a process builds get pairwise different
    /// bases, none of them the default arenas' 0. A key of another arena then matches only if
    /// this arena's slot happens to stand at exactly the key's generation: never while
    /// neither slot was reused, and after reuse with a chance of the order of the number of
    /// reuses over 2^28. (A debugging aid, not a security boundary: keys can still be made
    /// from bits.)
    ///
    /// It costs nothing on any path: the base is the arena's initial *generation floor*
    /// (see [Memory](crate::implementation#memory)), the state fresh slots start from, and
    /// lookups still compare the key's generation with the slot's state word. Everything a
    /// key promises holds as before; keys still order by generation within an index (newer
    /// is larger), so [`SecondaryMap`](crate::SecondaryMap) and
    /// [`SharedSecondaryMap`](crate::SharedSecondaryMap) treat them as usual. Each slot
    /// serves at least 3·2^28 insertions before it retires (2^30 from base 0).
    ///
    /// A [`clone`](Clone::clone) of the arena and an arena loaded from its snapshot or serde
    /// image continue from its generations (its floor is part of the image), so that its
    /// keys keep their meaning there: they accept the original's keys, and the keys they
    /// issue later may coincide with the original's.
    ///
    /// ```
    /// use epoch_arena::{pin, Arena};
    ///
    /// let a = Arena::builder().distinct_keys(true).build();
    /// let b = Arena::builder().distinct_keys(true).build();
    /// let key_a = a.insert("in a");
    /// let key_b = b.insert("in b");
    /// assert_eq!(key_a.index(), key_b.index()); // the same slot in each arena ...
    /// assert_ne!(key_a, key_b); // ... but not the same key
    /// assert_eq!(b.get(key_a, &pin()), None); // a's key finds nothing in b
    /// assert!(!b.remove(key_a));
    ///
    /// // Default arenas share their keys' generations.
    /// let c = Arena::new();
    /// let d = Arena::new();
    /// let key_c = c.insert(1);
    /// d.insert(2);
    /// assert_eq!(d.get(key_c, &pin()), Some(&2));
    /// ```
    pub fn distinct_keys(mut self, distinct: bool) -> Self {
        self.distinct_keys = distinct;
        self
    }

    /// Builds the arena.
    pub fn build(self) -> Arena<T, K> {
        let gc = GcState::new(self.pacing, core::any::TypeId::of::<K>());
        let inner = Inner::new(self.capacity, self.max_slots, gc);
        if self.distinct_keys {
            // Before anyone can take a fresh slot: they all start at this floor.
            inner
                .anchor
                .pool
                .raise_floor(crate::raw::pool::distinct_floor());
        }
        Arena {
            raw: NonNull::from(Box::leak(Box::new(inner))),
            _owns: PhantomData,
            _key: PhantomData,
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
    /// Bytes of chunk memory resident now (as [`Arena::resident_bytes`]): `bytes_reserved`
    /// minus what [`trim`](Arena::trim) gave back and was not touched again.
    pub resident_bytes: usize,
    /// Values inserted over the arena's life.
    pub inserted: usize,
    /// Values removed over the arena's life, by any means (`remove`, `take`, `retain`,
    /// `drain`, `clear`, garbage collection). `inserted - removed` is `live`.
    pub removed: usize,
}

impl<T: Send + Sync, K: ArenaKey> Default for Arena<T, K> {
    /// An empty arena of any key type (as [`Arena::new`] and [`Arena::with_key`]).
    fn default() -> Self {
        Builder::new().build()
    }
}

/// The constructors for the default key type [`Key`] (as `HashMap::new` is for its default
/// hasher: a default type parameter does not guide inference). For a typed key,
/// [`Arena::with_key`], [`Arena::with_capacity_and_key`], [`Builder::new`] or `Default`.
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
}

impl<T: Send + Sync, K: ArenaKey> Arena<T, K> {
    /// An empty arena handing out keys of type `K` (see
    /// [`new_key_type!`](crate::new_key_type)).
    ///
    /// ```
    /// use epoch_arena::{new_key_type, Arena};
    /// new_key_type! { struct NodeId; }
    ///
    /// let arena = Arena::<String, NodeId>::with_key();
    /// let id: NodeId = arena.insert("typed".to_string());
    /// assert!(arena.contains(id));
    /// ```
    pub fn with_key() -> Self {
        Builder::new().build()
    }

    /// [`with_key`](Arena::with_key), with chunks for at least `slots` values already
    /// allocated.
    ///
    /// ```
    /// use epoch_arena::{new_key_type, Arena};
    /// new_key_type! { struct NodeId; }
    ///
    /// let arena = Arena::<u8, NodeId>::with_capacity_and_key(100);
    /// assert!(arena.capacity() >= 100);
    /// ```
    pub fn with_capacity_and_key(slots: usize) -> Self {
        Builder::new().capacity(slots).build()
    }

    /// Inserts a value and returns its key.
    ///
    /// Uses a per-thread cache of free slots; a [`Handle`] is faster still.
    ///
    /// # Panics
    /// If the key space is full (see [`try_insert`](Arena::try_insert), which returns the
    /// value instead), with the message `epoch-arena: the key space is full (N slots)`. If
    /// the memory for a new chunk of slots cannot be allocated, the process aborts through
    /// [`handle_alloc_error`](std::alloc::handle_alloc_error), as for `Vec`;
    /// `try_insert` reports that too.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let key = arena.insert("value");
    /// assert_eq!(arena.get(key, &epoch_arena::pin()), Some(&"value"));
    /// ```
    #[inline]
    pub fn insert(&self, value: T) -> K {
        match self.try_insert(value) {
            Ok(key) => key,
            Err(err) => err.fail(self.max_slots()),
        }
    }

    /// Inserts a value, or gives it back if the key space is full.
    ///
    /// The key space is full when every slot index below [`max_slots`](Arena::max_slots)
    /// is live, waiting for its grace period, retired after 2^30 reuses, or sitting in
    /// another thread's cache (at most 64 per [`Handle`] or thread). An insertion that finds
    /// no free slot while a [`trim`](Arena::trim) holds the free slots waits for the trim
    /// to give them back.
    ///
    /// The error says why ([`InsertErrorKind`]): `Full`, or `AllocFailed` when the memory
    /// for a new chunk of slots could not be allocated (which [`insert`](Arena::insert)
    /// turns into an abort, as `Vec` does). Either way the value comes back with
    /// [`InsertError::into_inner`] and the arena is unchanged.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::builder().max_slots(1).build();
    /// assert!(arena.try_insert(1).is_ok());
    /// let full = arena.try_insert(2).unwrap_err();
    /// assert_eq!(full.kind(), epoch_arena::InsertErrorKind::Full);
    /// assert_eq!(full.into_inner(), 2);
    /// ```
    #[inline]
    pub fn try_insert(&self, value: T) -> Result<K, InsertError<T>> {
        let inner = self.inner();
        let Some((index, state)) = self.take_slot() else {
            return Err(InsertError::full(value));
        };
        match inner.prepare(index, state) {
            Ok((slot, key)) => {
                inner.publish(slot, key, value);
                Ok(K::from_key(key))
            }
            Err(NoMemory::TooLarge) => {
                local::unbackable_index(&inner.anchor);
                Err(InsertError::full(value))
            }
            Err(no_memory) => {
                // The slot is untouched: it goes back, and a later insertion tries again.
                local::untake_index(&inner.anchor, index, state);
                Err(InsertError::no_memory(value, no_memory))
            }
        }
    }

    /// A free slot for an insertion, counted as inserted; `None` when the key space is full.
    #[inline(always)]
    fn take_slot(&self) -> Option<(u32, u32)> {
        match local::take_cached(&self.inner().anchor) {
            Some(taken) => Some(taken),
            None => self.take_slot_slow(),
        }
    }

    /// The refill path, once per 64 insertions of a thread: also hands the removals waiting
    /// in other threads' retire batches (and this thread's, if it stopped removing) to
    /// reclamation (the bound in [`remove`](Arena::remove)), and, when the key space looks
    /// full, reclaims what it can before giving up.
    #[cold]
    #[inline(never)]
    fn take_slot_slow(&self) -> Option<(u32, u32)> {
        let inner = self.inner();
        local::with_own_ring(&inner.anchor, |own| inner.drive_reclamation(own));
        if let Some(taken) = local::take_index(&inner.anchor) {
            return Some(taken);
        }
        let _waiting = inner.anchor.pool.waiting();
        if inner.reclaim_for_insert() {
            return local::take_index(&inner.anchor);
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
    pub fn insert_with(&self, f: impl FnOnce(K) -> T) -> K {
        let inner = self.inner();
        let anchor = &inner.anchor;
        let Some(taken) = self.take_slot() else {
            panic_key_space_full(self.max_slots())
        };
        let prepared = match inner.prepare(taken.0, taken.1) {
            Ok(prepared) => prepared,
            Err(NoMemory::TooLarge) => {
                local::unbackable_index(anchor);
                panic_key_space_full(self.max_slots())
            }
            Err(NoMemory::Failed(layout)) => {
                local::untake_index(anchor, taken.0, taken.1);
                std::alloc::handle_alloc_error(layout)
            }
        };
        let key = prepared.1;
        inner.publish_with(
            prepared,
            taken,
            |key| f(K::from_key(key)),
            |index, next| local::untake_index(anchor, index, next),
        );
        K::from_key(key)
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
    pub fn get<'g>(&'g self, key: K, guard: &'g Guard) -> Option<&'g T> {
        let _ = guard;
        let key = key.to_key();
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
    pub fn contains(&self, key: K) -> bool {
        let key = key.to_key();
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
    /// Removals through `Arena::remove` wait in the removing thread's retire batch for this
    /// arena and are handed to reclamation in batches: when the thread's batch holds 64,
    /// whenever another thread refills its insert cache (at most every 64 of its insertions
    /// into this arena), when the removing thread refills after a refill without removals in
    /// between, on [`flush`](Arena::flush) and [`collect`](Arena::collect) on any thread, and
    /// when an insertion finds the key space full. From then on the value is dropped, and its
    /// slot reusable, once crossbeam-epoch's global epoch has advanced twice; pinning threads
    /// drive that (while reclamation of this arena is pending, every fourth refill of a
    /// thread tries to advance it, and so does [`Guard::flush`]), and a guard held by any
    /// thread delays it.
    /// An insertion that finds no free slot first hands on pending removals and drives the
    /// epoch (up to 16 attempts) before it reports the arena full.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let key = arena.insert('x');
    /// assert!(arena.remove(key));
    /// assert!(!arena.remove(key));
    /// ```
    pub fn remove(&self, key: K) -> bool {
        let key = key.to_key();
        let inner = self.inner();
        let Some(slot) = inner.unlink(key) else {
            return false;
        };
        // Into this thread's retire ring for the arena (a full one is handed on), as a
        // `Handle` does; without a thread cache, onto the shared retire stack.
        let removed = crate::raw::slot::removed(key.generation());
        if !local::retire(&inner.anchor, key.index(), removed, |ring| {
            inner.hand_off_ring(ring)
        }) {
            inner.remove_shared(slot, key.index());
        }
        true
    }

    /// Hands every pending removal to the epoch collector now and asks it to run.
    ///
    /// Removals through [`Arena::remove`] and through [`Handle`]s are deferred in batches of
    /// 64 per thread or handle; this defers every partial batch too, of every thread and
    /// handle, then [`flushes`](Guard::flush) this thread's epoch bag. Values are dropped
    /// once the epoch advances past every guard pinned before their removal, which may take
    /// a few more pins.
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
        self.inner().anchor.counters.sum().0
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
        self.inner().anchor.pool.max_slots() as u32
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
    pub fn iter<'g>(&'g self, guard: &'g Guard) -> Iter<'g, T, K> {
        Iter::new(&self.inner().dir, self.inner().high_water(), guard)
    }

    /// The keys of every live value, in index order (as [`iter`](Arena::iter)).
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let a = arena.insert('a');
    /// let b = arena.insert('b');
    /// let keys: Vec<_> = arena.keys(&epoch_arena::pin()).collect();
    /// assert_eq!(keys, [a, b]);
    /// ```
    pub fn keys<'g>(&'g self, guard: &'g Guard) -> Keys<'g, T, K> {
        Keys::new(self.iter(guard))
    }

    /// Every live value, in index order (as [`iter`](Arena::iter)).
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// arena.insert(1);
    /// arena.insert(2);
    /// assert_eq!(arena.values(&epoch_arena::pin()).sum::<i32>(), 3);
    /// ```
    pub fn values<'g>(&'g self, guard: &'g Guard) -> Values<'g, T, K> {
        Values::new(self.iter(guard))
    }

    /// A per-thread fast path for insertions and removals.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let mut handle = arena.handle();
    /// let key = handle.insert(5);
    /// assert!(handle.remove(key));
    /// ```
    pub fn handle(&self) -> Handle<'_, T, K> {
        Handle::new(self)
    }

    /// A [`Mutator`]: a [`Handle`] whose fresh keys survive every collection until its
    /// next [`safepoint`](Mutator::safepoint), so that it may insert, unpin, and link later.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::<u32>::new();
    /// let mut m = arena.mutator();
    /// let key = m.insert(1);
    /// arena.collect([]);
    /// assert!(arena.contains(key)); // fresh: no safepoint since its insertion
    /// ```
    pub fn mutator(&self) -> Mutator<'_, T, K> {
        Mutator::new(self)
    }

    /// Sizes and memory: live values, slots, chunks, bytes, pending reclamation.
    pub fn stats(&self) -> Stats {
        let (live, pending_reclamation) = self.inner().anchor.counters.sum();
        // Residency before the chunks: chunks only grow under `&self`, so a concurrent
        // growth cannot make `resident_bytes` exceed `bytes_reserved`.
        let resident_bytes = self.resident_bytes();
        let (chunks, slots, bytes_reserved) = self.inner().dir.footprint();
        let (inserted, removed) = self.inner().anchor.counters.lifetime();
        Stats {
            live,
            slots,
            high_water: self.inner().high_water() as usize,
            chunks,
            bytes_reserved,
            pending_reclamation,
            mark_bytes: self.inner().collector.mark_bytes(),
            resident_bytes,
            inserted,
            removed,
        }
    }
}

/// The panic of `insert` and `insert_with` when the key space is full.
#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn panic_key_space_full(max_slots: u32) -> ! {
    panic!("epoch-arena: the key space is full ({max_slots} slots); use try_insert to handle this")
}

impl<T: fmt::Debug + Send + Sync, K: ArenaKey> fmt::Debug for Arena<T, K> {
    /// Prints the live entries as a map from key to value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let guard = crate::pin();
        f.debug_map().entries(self.iter(&guard)).finish()
    }
}
