//! [`Handle`]: one thread's fast path into one arena.

use super::{panic_key_space_full, Arena, InsertError};
use crate::key::Key;
use crate::key_type::ArenaKey;
use crate::raw::counter::CounterCell;
use crate::raw::pool::SlotCache;
use crate::raw::slot;
use crate::sync::alloc::NoMemory;
use core::fmt;

/// One thread's fast path into one [`Arena`]: [`insert`](Handle::insert),
/// [`insert_with`](Handle::insert_with) and [`remove`](Handle::remove) with the same meaning
/// as the arena's, but cheaper.
///
/// A handle keeps a private batch of up to 64 free slots, and a batch of up to 64 removals
/// waiting to be handed to the epoch collector in its own counter cell (where a
/// [`flush`](Arena::flush) or refill on any thread can reach them). So an insertion is a
/// few plain stores with no atomic read-modify-write, and a removal is one CAS and a few
/// plain stores. Refills and hand-offs happen once per 64 operations.
///
/// Dropping the handle (or [`flush`](Handle::flush)) returns unused free slots to the arena
/// and hands pending removals to the collector. Make one handle per thread and keep it for
/// a batch of work; a handle can move between threads but is used through `&mut`.
///
/// ```
/// use epoch_arena::Arena;
///
/// let arena = Arena::new();
/// std::thread::scope(|s| {
///     for t in 0..2 {
///         let arena = &arena;
///         s.spawn(move || {
///             let mut handle = arena.handle();
///             for i in 0..1000 {
///                 let key = handle.insert(t * 1000 + i);
///                 if i % 2 == 0 {
///                     handle.remove(key);
///                 }
///             }
///         });
///     }
/// });
/// assert_eq!(arena.len(), 1000);
/// ```
pub struct Handle<'a, T: Send + Sync, K: ArenaKey = Key> {
    arena: &'a Arena<T, K>,
    cache: SlotCache,
    cell: &'a CounterCell,
    /// Whether this handle pushed into its cell's retire ring since it last handed it on
    /// (so that a handle that removed nothing never touches the ring's atomics).
    pushed: bool,
}

impl<'a, T: Send + Sync, K: ArenaKey> Handle<'a, T, K> {
    pub(crate) fn new(arena: &'a Arena<T, K>) -> Self {
        Handle {
            arena,
            cache: SlotCache::new(),
            pushed: false,
            cell: arena.inner().anchor.counters.acquire(),
        }
    }

    /// The arena this handle works on.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let mut handle = arena.handle();
    /// let key = handle.insert(1);
    /// assert!(handle.arena().contains(key));
    /// ```
    pub fn arena(&self) -> &'a Arena<T, K> {
        self.arena
    }

    #[inline(always)]
    fn take_index(&mut self) -> Option<(u32, u32)> {
        match self.cache.take_held() {
            Some(taken) => Some(taken),
            None => self.take_index_slow(),
        }
    }

    /// The refill path, once per 64 insertions: also hands the arena's shared pending
    /// removals on (see [`Arena::remove`]), and when the key space looks full, this handle's
    /// own pending removals too, then reclaims what it can before giving up.
    #[cold]
    #[inline(never)]
    fn take_index_slow(&mut self) -> Option<(u32, u32)> {
        let inner = self.arena.inner();
        inner.drive_reclamation(Some(&self.cell.retired));
        if let Some(taken) = self.cache.refill(&inner.anchor.pool) {
            return Some(taken);
        }
        if self.pushed {
            self.hand_off();
        }
        let _waiting = inner.anchor.pool.waiting();
        if inner.reclaim_for_insert() {
            return self.cache.refill(&inner.anchor.pool);
        }
        None
    }

    /// Inserts a value and returns its key (see [`Arena::insert`]).
    ///
    /// # Panics
    /// If the key space is full.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let key = arena.handle().insert("v");
    /// assert!(arena.contains(key));
    /// ```
    #[inline]
    pub fn insert(&mut self, value: T) -> K {
        match self.try_insert(value) {
            Ok(key) => key,
            Err(err) => err.fail(self.arena.max_slots()),
        }
    }

    /// Inserts every value and returns their keys, in order: first into the free slots
    /// this handle holds, then as [`Arena::insert_many`] does (whole batches of free slots,
    /// then one contiguous fresh range written in one pass).
    ///
    /// # Panics
    /// As [`Arena::insert_many`].
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let mut handle = arena.handle();
    /// let keys = handle.insert_many(["a", "b", "c"]);
    /// assert_eq!(arena.get(keys[2], &epoch_arena::pin()), Some(&"c"));
    /// ```
    pub fn insert_many(&mut self, values: impl IntoIterator<Item = T>) -> Vec<K> {
        let mut values = values.into_iter();
        let mut keys = Vec::with_capacity(values.size_hint().0);
        while self.cache.len() > 0 {
            let Some(value) = values.next() else {
                return keys;
            };
            keys.push(self.insert(value));
        }
        keys.extend(self.arena.insert_many(values));
        keys
    }

    /// Inserts a value, or gives it back if the key space is full (see
    /// [`Arena::try_insert`]).
    ///
    /// ```
    /// let arena = epoch_arena::Arena::builder().max_slots(1).build();
    /// let mut handle = arena.handle();
    /// assert!(handle.try_insert(1).is_ok());
    /// assert_eq!(handle.try_insert(2).unwrap_err().into_inner(), 2);
    /// ```
    #[inline]
    pub fn try_insert(&mut self, value: T) -> Result<K, InsertError<T>> {
        let Some((index, state)) = self.take_index() else {
            return Err(InsertError::full(value));
        };
        let (slot, key) = match self.arena.inner().prepare(index, state) {
            Ok(prepared) => prepared,
            Err(NoMemory::TooLarge) => return Err(InsertError::full(value)),
            Err(no_memory) => {
                // The slot is untouched: back to the cache, for a later insertion to retry.
                self.cache
                    .put(&self.arena.inner().anchor.pool, index, state);
                return Err(InsertError::no_memory(value, no_memory));
            }
        };
        self.arena.inner().publish(slot, key, value);
        self.cell.add_inserted_owned(1);
        Ok(K::from_key(key))
    }

    /// Inserts the value `f` makes from its own key (see [`Arena::insert_with`]). If `f`
    /// panics, the key it was given is stale forever and the slot goes back to this handle's
    /// cache.
    ///
    /// # Panics
    /// If the key space is full, or if `f` panics.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let mut handle = arena.handle();
    /// let key = handle.insert_with(|k| k.index());
    /// assert_eq!(arena.get(key, &epoch_arena::pin()), Some(&key.index()));
    /// ```
    pub fn insert_with(&mut self, f: impl FnOnce(K) -> T) -> K {
        let Some(taken) = self.take_index() else {
            panic_key_space_full(self.arena.max_slots())
        };
        let inner = self.arena.inner();
        let prepared = match inner.prepare(taken.0, taken.1) {
            Ok(prepared) => prepared,
            Err(NoMemory::TooLarge) => panic_key_space_full(self.arena.max_slots()),
            Err(NoMemory::Failed(layout)) => {
                self.cache.put(&inner.anchor.pool, taken.0, taken.1);
                std::alloc::handle_alloc_error(layout)
            }
        };
        let key = prepared.1;
        let (cache, pool) = (&mut self.cache, &inner.anchor.pool);
        inner.publish_with(
            prepared,
            taken,
            |key| f(K::from_key(key)),
            |index, next| {
                if next != slot::RETIRED {
                    cache.put(pool, index, next);
                }
            },
        );
        self.cell.add_inserted_owned(1);
        K::from_key(key)
    }

    /// Removes the value of a live key; returns whether this call removed it (see
    /// [`Arena::remove`]).
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let mut handle = arena.handle();
    /// let key = handle.insert(1);
    /// assert!(handle.remove(key));
    /// assert!(!arena.remove(key));
    /// ```
    #[inline]
    pub fn remove(&mut self, key: K) -> bool {
        let key = key.to_key();
        if self.arena.inner().unlink(key).is_none() {
            return false;
        }
        self.cell.add_removed_owned(1);
        // We own the cell, so we may push; a full ring is handed on before the next push.
        self.pushed = true;
        if self
            .cell
            .retired
            .push(key.index(), slot::removed(key.generation()))
        {
            self.hand_off();
        }
        true
    }

    /// Hands this handle's pending removals to the epoch collector.
    #[cold]
    fn hand_off(&mut self) {
        self.pushed = false;
        self.arena.inner().hand_off_ring(&self.cell.retired);
    }

    /// Hands pending removals to the epoch collector and returns unused free slots to the
    /// arena. Dropping the handle does the same.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let mut handle = arena.handle();
    /// let key = handle.insert(1);
    /// handle.remove(key);
    /// handle.flush();
    /// ```
    pub fn flush(&mut self) {
        if self.pushed {
            self.hand_off();
        }
        self.cache.give_back(&self.arena.inner().anchor.pool);
    }
}

impl<T: Send + Sync, K: ArenaKey> Drop for Handle<'_, T, K> {
    fn drop(&mut self) {
        self.flush();
        self.arena.inner().anchor.counters.release(self.cell);
    }
}

impl<T: Send + Sync, K: ArenaKey> fmt::Debug for Handle<'_, T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("cached_free", &self.cache.len())
            .field("pending_removals", &self.cell.retired.len())
            .finish_non_exhaustive()
    }
}
