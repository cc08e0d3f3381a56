//! [`AtomicKey`]: an `Option<K>` in one atomic word, for links between values that threads
//! update in place.
//!
//! A key is only a number (see [`Key`]): the cell stores `Key::to_bits`, or 0 for `None`
//! (no key has bits 0, since generations are odd). What a key *names* is published by the
//! arena's own release/acquire on the slot, not by the cell, so the ordering a user picks
//! only orders the cell against their other memory.

use crate::gc::{Trace, Tracer};
use crate::key::Key;
use crate::key_type::ArenaKey;
use crate::relocate::Relocate;
use crate::remap::AnyRemap;
use crate::sync::{AtomicU64, Ordering};
use core::fmt;
use core::marker::PhantomData;

/// An atomic `Option<K>`: one [`AtomicU64`](std::sync::atomic::AtomicU64) holding the key's
/// bits, 0 for `None`. 8 bytes, lock-free.
///
/// For values in an arena that link to other values and are edited by several threads: a
/// DOM node's parent, a graph edge. It implements [`Trace`] (the collector follows the key
/// it holds) and [`Relocate`] (a compaction rewrites it), so a value type can hold links
/// without writing either by hand. With feature `serde` it serializes as `Option<K>`.
///
/// Stores of a key must follow the collector's rule (*shade, then store*: see the
/// [crate docs](crate#garbage-collection)) while a collection may run.
///
/// ```
/// use epoch_arena::{pin, Arena, AtomicKey};
/// use std::sync::atomic::Ordering;
///
/// struct Node {
///     name: &'static str,
///     next: AtomicKey,
/// }
///
/// let arena = Arena::new();
/// let b = arena.insert(Node { name: "b", next: AtomicKey::default() });
/// let a = arena.insert(Node { name: "a", next: AtomicKey::new(Some(b)) });
/// let guard = pin();
/// let next = arena.get(a, &guard).unwrap().next.load(Ordering::Acquire).unwrap();
/// assert_eq!(arena.get(next, &guard).unwrap().name, "b");
/// ```
#[repr(transparent)]
pub struct AtomicKey<K: ArenaKey = Key> {
    bits: AtomicU64,
    _key: PhantomData<fn(K) -> K>,
}

/// The word for `key`: its bits, or 0.
#[inline]
fn to_bits<K: ArenaKey>(key: Option<K>) -> u64 {
    key.map_or(0, |k| k.to_key().to_bits())
}

/// The key for a word the cell holds: 0 is `None`, and every other word came from a key.
#[inline]
fn from_bits<K: ArenaKey>(bits: u64) -> Option<K> {
    Key::from_bits(bits).map(K::from_key)
}

/// A compare-and-exchange of keys through `cas`, one of the word's (strong or weak): the
/// keys go in as words, and the word it returns, stored or found, comes back as a key.
#[inline(always)]
fn exchange<K: ArenaKey>(
    current: Option<K>,
    new: Option<K>,
    cas: impl FnOnce(u64, u64) -> Result<u64, u64>,
) -> Result<Option<K>, Option<K>> {
    cas(to_bits(current), to_bits(new))
        .map(from_bits)
        .map_err(from_bits)
}

impl<K: ArenaKey> AtomicKey<K> {
    /// A cell holding `key`.
    ///
    /// Not a `const fn`: the crate's loom build swaps in model-checked atomics, which cannot
    /// be made in a constant. For a `static`, use a `OnceLock` or
    /// `AtomicU64` with [`Key::from_bits`].
    ///
    /// ```
    /// use epoch_arena::{Arena, AtomicKey};
    /// use std::sync::atomic::Ordering;
    ///
    /// let key = Arena::new().insert(1);
    /// let cell = AtomicKey::new(Some(key));
    /// assert_eq!(cell.load(Ordering::Relaxed), Some(key));
    /// ```
    #[inline]
    pub fn new(key: Option<K>) -> Self {
        AtomicKey {
            bits: AtomicU64::new(to_bits(key)),
            _key: PhantomData,
        }
    }

    /// The key it holds.
    ///
    /// ```
    /// use epoch_arena::{AtomicKey, Key};
    /// use std::sync::atomic::Ordering;
    ///
    /// let cell: AtomicKey<Key> = AtomicKey::default();
    /// assert_eq!(cell.load(Ordering::Acquire), None);
    /// ```
    #[inline]
    pub fn load(&self, order: Ordering) -> Option<K> {
        from_bits(self.bits.load(order))
    }

    /// Stores `key`.
    ///
    /// ```
    /// use epoch_arena::{Arena, AtomicKey};
    /// use std::sync::atomic::Ordering;
    ///
    /// let key = Arena::new().insert(1);
    /// let cell = AtomicKey::default();
    /// cell.store(Some(key), Ordering::Release);
    /// assert_eq!(cell.load(Ordering::Acquire), Some(key));
    /// ```
    #[inline]
    pub fn store(&self, key: Option<K>, order: Ordering) {
        self.bits.store(to_bits(key), order);
    }

    /// Stores `key` and returns the key it held.
    ///
    /// ```
    /// use epoch_arena::{Arena, AtomicKey};
    /// use std::sync::atomic::Ordering;
    ///
    /// let key = Arena::new().insert(1);
    /// let cell = AtomicKey::new(Some(key));
    /// assert_eq!(cell.swap(None, Ordering::AcqRel), Some(key));
    /// assert_eq!(cell.load(Ordering::Relaxed), None);
    /// ```
    #[inline]
    pub fn swap(&self, key: Option<K>, order: Ordering) -> Option<K> {
        from_bits(self.bits.swap(to_bits(key), order))
    }

    /// Stores `new` if the cell holds `current`. `Ok` with the previous key (`current`) if
    /// it did, `Err` with the key it holds if not. As
    /// [`AtomicU64::compare_exchange`](std::sync::atomic::AtomicU64::compare_exchange).
    ///
    /// ```
    /// use epoch_arena::{Arena, AtomicKey};
    /// use std::sync::atomic::Ordering::{Acquire, Relaxed};
    ///
    /// let arena = Arena::new();
    /// let (a, b) = (arena.insert(1), arena.insert(2));
    /// let cell = AtomicKey::new(Some(a));
    /// assert_eq!(cell.compare_exchange(Some(a), Some(b), Acquire, Relaxed), Ok(Some(a)));
    /// assert_eq!(cell.compare_exchange(Some(a), None, Acquire, Relaxed), Err(Some(b)));
    /// ```
    #[inline]
    pub fn compare_exchange(
        &self,
        current: Option<K>,
        new: Option<K>,
        success: Ordering,
        failure: Ordering,
    ) -> Result<Option<K>, Option<K>> {
        exchange(current, new, |c, n| {
            self.bits.compare_exchange(c, n, success, failure)
        })
    }

    /// As [`compare_exchange`](Self::compare_exchange), but may fail spuriously (even when
    /// the cell holds `current`), which is cheaper in a retry loop on some platforms.
    ///
    /// ```
    /// use epoch_arena::{Arena, AtomicKey};
    /// use std::sync::atomic::Ordering::{AcqRel, Acquire};
    ///
    /// let key = Arena::new().insert(1);
    /// let cell = AtomicKey::default();
    /// let mut seen = cell.load(Acquire);
    /// while let Err(now) = cell.compare_exchange_weak(seen, Some(key), AcqRel, Acquire) {
    ///     seen = now;
    /// }
    /// assert_eq!(cell.load(Acquire), Some(key));
    /// ```
    #[inline]
    pub fn compare_exchange_weak(
        &self,
        current: Option<K>,
        new: Option<K>,
        success: Ordering,
        failure: Ordering,
    ) -> Result<Option<K>, Option<K>> {
        exchange(current, new, |c, n| {
            self.bits.compare_exchange_weak(c, n, success, failure)
        })
    }

    /// The key it holds, read through `&mut` (no other thread can be accessing the cell).
    ///
    /// ```
    /// use epoch_arena::{Arena, AtomicKey};
    ///
    /// let key = Arena::new().insert(1);
    /// let mut cell = AtomicKey::new(Some(key));
    /// assert_eq!(cell.get_mut(), Some(key));
    /// ```
    #[inline]
    pub fn get_mut(&mut self) -> Option<K> {
        // Relaxed: `&mut self` excludes every other access, so any ordering reads the last
        // store (`AtomicU64::get_mut` has no loom counterpart; the code is the same).
        self.load(Ordering::Relaxed)
    }

    /// Stores `key` through `&mut` (no other thread can be accessing the cell).
    ///
    /// ```
    /// use epoch_arena::{AtomicKey, Key};
    ///
    /// let mut cell = AtomicKey::<Key>::default();
    /// cell.set_mut(None);
    /// assert_eq!(cell.into_inner(), None);
    /// ```
    #[inline]
    pub fn set_mut(&mut self, key: Option<K>) {
        // Relaxed: `&mut self` (see `get_mut`).
        self.store(key, Ordering::Relaxed);
    }

    /// The key it holds, consuming the cell.
    ///
    /// ```
    /// use epoch_arena::{Arena, AtomicKey};
    ///
    /// let key = Arena::new().insert(1);
    /// assert_eq!(AtomicKey::new(Some(key)).into_inner(), Some(key));
    /// ```
    #[inline]
    pub fn into_inner(mut self) -> Option<K> {
        self.get_mut()
    }
}

/// Holds `None`.
impl<K: ArenaKey> Default for AtomicKey<K> {
    fn default() -> Self {
        AtomicKey::new(None)
    }
}

/// `AtomicKey(Some(Key(3v5)))`, read with `Relaxed`.
impl<K: ArenaKey> fmt::Debug for AtomicKey<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Relaxed: a snapshot for printing; orders nothing.
        f.debug_tuple("AtomicKey")
            .field(&self.load(Ordering::Relaxed))
            .finish()
    }
}

impl<K: ArenaKey> From<Option<K>> for AtomicKey<K> {
    fn from(key: Option<K>) -> Self {
        AtomicKey::new(key)
    }
}

impl<K: ArenaKey> From<K> for AtomicKey<K> {
    fn from(key: K) -> Self {
        AtomicKey::new(Some(key))
    }
}

/// Reports the key it holds, read with `Relaxed`.
///
/// Relaxed is enough: the collector accepts any key it reads, stale or current (a stale key
/// is ignored), and a key is only a number: what it names is published by the arena's own
/// release/acquire on the slot. The key that must not be missed is the one a mutator stores
/// while a collection runs, and that one is already shaded before the store (*shade, then
/// store*), so whether the collector reads it here does not matter.
impl<K: ArenaKey> Trace for AtomicKey<K> {
    #[inline]
    fn trace(&self, tracer: &mut Tracer<'_>) {
        if let Some(key) = self.load(Ordering::Relaxed) {
            tracer.edge(key);
        }
    }
}

/// Through [`get_mut`](AtomicKey::get_mut) and [`set_mut`](AtomicKey::set_mut): a
/// compaction has the arena exclusively. A key the remap does not know is left as it is
/// (it stays dead), as [`Relocate`]'s rule asks.
impl<K: ArenaKey> Relocate for AtomicKey<K> {
    fn relocate(&mut self, remap: &AnyRemap) {
        if let Some(mut key) = self.get_mut() {
            remap.relocate_key(&mut key);
            self.set_mut(Some(key));
        }
    }
}

/// As `Option<K>`, read with `Relaxed` (serializing a cell others are writing takes a
/// snapshot of one moment).
///
/// ```
/// use epoch_arena::{Arena, AtomicKey};
/// use std::sync::atomic::Ordering;
///
/// let key = Arena::new().insert(1);
/// let json = serde_json::to_string(&AtomicKey::new(Some(key))).unwrap();
/// assert_eq!(json, serde_json::to_string(&Some(key)).unwrap());
/// let back: AtomicKey = serde_json::from_str(&json).unwrap();
/// assert_eq!(back.load(Ordering::Relaxed), Some(key));
/// let none: AtomicKey = serde_json::from_str("null").unwrap();
/// assert_eq!(none.into_inner(), None);
/// ```
#[cfg(feature = "serde")]
impl<K: ArenaKey + serde::Serialize> serde::Serialize for AtomicKey<K> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.load(Ordering::Relaxed).serialize(serializer)
    }
}

/// From `Option<K>`.
#[cfg(feature = "serde")]
impl<'de, K: ArenaKey + serde::Deserialize<'de>> serde::Deserialize<'de> for AtomicKey<K> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Option::<K>::deserialize(deserializer).map(AtomicKey::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_is_zero_and_keys_round_trip() {
        let k = Key::from_bits((3 << 32) | 5).unwrap();
        let cell = AtomicKey::new(Some(k));
        assert_eq!(cell.swap(None, Ordering::SeqCst), Some(k));
        assert_eq!(cell.bits.load(Ordering::SeqCst), 0);
        assert_eq!(
            format!("{:?}", AtomicKey::from(k)),
            "AtomicKey(Some(Key(3v5)))"
        );
        assert_eq!(core::mem::size_of::<AtomicKey>(), 8);
    }
}
