//! [`VacantEntry`]: a slot reserved before its value exists, with the key it will have.
//!
//! Reserving takes a free slot as an insertion does, then at once stores the slot's *next*
//! free state (the one it would get if the value were inserted and removed), so that the
//! reserved key is already dead as far as the slot's memory says: filling the entry
//! publishes the value under the reserved key; dropping the entry gives the slot back at that
//! next state; and an entry that is `mem::forget`-ten leaves a free slot (found again by
//! [`Arena::clear`]) whose next key is a new one. The reserved key is never issued for any
//! other value, whichever way the entry ends. The value is counted in [`Arena::len`] only
//! once it is inserted.

use super::Arena;
use crate::key::Key;
use crate::key_type::ArenaKey;
use crate::raw::local;
use crate::raw::slot::{self, SlotRef};
use crate::sync::alloc::NoMemory;
use crate::sync::Ordering;
use core::fmt;
use core::mem::ManuallyDrop;

/// A reserved slot and the key its value will have ([`Arena::vacant_entry`]): fill it with
/// [`insert`](VacantEntry::insert), or drop it to give the slot back.
///
/// Until it is filled, the key is not live: lookups with it return `None`. If the entry is
/// dropped (or forgotten) instead, the key stays dead forever, like the key of a removed
/// value.
///
/// ```
/// use epoch_arena::Arena;
///
/// struct Node {
///     me: epoch_arena::Key,
///     name: &'static str,
/// }
///
/// let arena = Arena::new();
/// let entry = arena.vacant_entry();
/// let key = entry.key();
/// assert!(!arena.contains(key)); // not live yet
/// let same = entry.insert(Node { me: key, name: "self-aware" });
/// assert_eq!(same, key);
/// let guard = epoch_arena::pin();
/// let node = arena.get(key, &guard).unwrap();
/// assert_eq!((node.me, node.name), (key, "self-aware"));
///
/// let abandoned = arena.vacant_entry();
/// let never = abandoned.key();
/// drop(abandoned); // the slot goes back; `never` stays dead
/// let other = arena.insert(Node { me: key, name: "other" });
/// assert_ne!(other, never);
/// assert!(!arena.contains(never));
/// ```
pub struct VacantEntry<'a, T: Send + Sync, K: ArenaKey = Key> {
    arena: &'a Arena<T, K>,
    slot: SlotRef<'a, T>,
    key: Key,
    /// The slot's state while reserved, and after a drop: the next free state.
    next: u32,
}

impl<T: Send + Sync, K: ArenaKey> Arena<T, K> {
    /// Reserves a slot for a value made later: its key is known now
    /// ([`VacantEntry::key`]), the value arrives with [`VacantEntry::insert`]. Dropping the
    /// entry gives the slot back, and its key stays dead.
    ///
    /// # Panics
    /// If the key space is full (see [`try_vacant_entry`](Arena::try_vacant_entry)), or
    /// aborts if a chunk of slots cannot be allocated.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let entry = arena.vacant_entry();
    /// let key = entry.key();
    /// entry.insert(format!("I am {key:?}"));
    /// assert!(arena.contains(key));
    /// ```
    pub fn vacant_entry(&self) -> VacantEntry<'_, T, K> {
        match self.reserve_slot() {
            Ok(entry) => entry,
            Err(NoMemory::TooLarge) => super::panic_key_space_full(self.max_slots()),
            Err(NoMemory::Failed(layout)) => std::alloc::handle_alloc_error(layout),
        }
    }

    /// [`vacant_entry`](Arena::vacant_entry), or `None` if the key space is full or a
    /// chunk of slots cannot be allocated.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::<u8>::builder().max_slots(1).build();
    /// let entry = arena.try_vacant_entry().unwrap();
    /// assert!(arena.try_vacant_entry().is_none()); // the one slot is reserved
    /// drop(entry);
    /// assert!(arena.try_vacant_entry().is_some()); // and back
    /// ```
    pub fn try_vacant_entry(&self) -> Option<VacantEntry<'_, T, K>> {
        self.reserve_slot().ok()
    }

    fn reserve_slot(&self) -> Result<VacantEntry<'_, T, K>, NoMemory> {
        let inner = self.inner();
        let anchor = &inner.anchor;
        let (index, state) = self.take_slot().ok_or(NoMemory::TooLarge)?;
        // `take_slot` counted an insertion; the entry counts it only when it is filled.
        local::unbackable_index(anchor);
        let (slot, key) = match inner.prepare(index, state) {
            Ok(prepared) => prepared,
            Err(NoMemory::TooLarge) => return Err(NoMemory::TooLarge),
            Err(no_memory) => {
                local::return_free(anchor, index, state);
                return Err(no_memory);
            }
        };
        let next = slot::freed(key.generation());
        // Relaxed: readers only compare the state, which never equals a key they hold; the
        // slot's next owner synchronises through the cache or the pool (as when a failed
        // `insert_with` burns its key).
        slot.state.store(next, Ordering::Relaxed);
        Ok(VacantEntry {
            arena: self,
            slot,
            key,
            next,
        })
    }
}

impl<'a, T: Send + Sync, K: ArenaKey> VacantEntry<'a, T, K> {
    /// The key the value will have.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let entry = arena.vacant_entry();
    /// let key = entry.key();
    /// assert_eq!(entry.insert(7), key);
    /// ```
    pub fn key(&self) -> K {
        K::from_key(self.key)
    }

    /// The arena the slot is in.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::<u8>::new();
    /// let entry = arena.vacant_entry();
    /// assert!(std::ptr::eq(entry.arena(), &arena));
    /// ```
    pub fn arena(&self) -> &'a Arena<T, K> {
        self.arena
    }

    /// Fills the slot: the value is live under [`key`](VacantEntry::key) from now on.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let key = arena.vacant_entry().insert("filled");
    /// assert_eq!(arena.get(key, &epoch_arena::pin()), Some(&"filled"));
    /// ```
    pub fn insert(self, value: T) -> K {
        let this = ManuallyDrop::new(self);
        let inner = this.arena.inner();
        inner.anchor.counters.add_inserted_shared(1);
        // The slot is ours and FREE (at `next`); publishing stores the key's generation,
        // which is below `next` but above every key ever issued for the slot.
        inner.publish(this.slot, this.key, value);
        K::from_key(this.key)
    }
}

impl<T: Send + Sync, K: ArenaKey> Drop for VacantEntry<'_, T, K> {
    /// Gives the slot back, at a state above the reserved key's: that key stays dead.
    fn drop(&mut self) {
        if self.next != slot::RETIRED {
            local::return_free(&self.arena.inner().anchor, self.key.index(), self.next);
        }
    }
}

impl<T: Send + Sync, K: ArenaKey> fmt::Debug for VacantEntry<'_, T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("VacantEntry").field(&self.key()).finish()
    }
}
