//! [`SharedSecondaryMap`]: a secondary map that threads insert into, remove from and read
//! through `&self`, on the side table of `raw/side_table.rs`.

use crate::arena::Guard;
use crate::key_type::ArenaKey;
use crate::raw::side_table::{RawIter, RawIterMut, SideTable};
use core::fmt;
use core::iter::FusedIterator;
use core::marker::PhantomData;

/// A concurrent secondary map: extra data for the keys of an arena, inserted, removed and
/// read through `&self` from any thread, lock-free, with the arena's [`Guard`] discipline.
///
/// Each slot index holds at most one entry, for one generation (one key) of that index.
/// Lookups match the whole key, so a stale key never finds the value of the key that
/// replaced it:
///
/// * [`get`](Self::get) returns the value of exactly that key, borrowed for the guard's life
///   (one acquire load and one compare, no shared write). A value replaced or removed meanwhile
///   stays valid until the guard drops, as in the arena.
/// * [`insert`](Self::insert) replaces the entry of the same or an older generation of the
///   index, and refuses (handing the value back) if the map holds a *newer* one: a late
///   insertion for a stale key cannot overwrite data of the key that superseded it.
/// * [`remove`](Self::remove) removes only the entry of exactly that key.
///
/// Replaced and removed values are dropped through crossbeam-epoch, after every guard pinned
/// before their removal is gone, on whichever thread runs the reclamation; so the concurrent
/// writers need `V: Send + 'static`. The `&mut` methods ([`get_mut`](Self::get_mut),
/// [`take`](Self::take), [`clear`](Self::clear), [`iter_mut`](Self::iter_mut)) need no
/// guard and drop at once. Dropping the map drops every value still in it; values already
/// replaced or removed are dropped by the epoch collector as usual (drive it with
/// [`Guard::flush`]).
///
/// Memory: cells are allocated in chunks, like the arena's slots, up to the largest index
/// inserted (8 bytes a cell), plus one heap entry per value. Chunks are kept until the map
/// drops.
///
/// ```
/// use epoch_arena::{pin, Arena, SharedSecondaryMap};
///
/// let arena = Arena::new();
/// let names = SharedSecondaryMap::new();
/// let keys: Vec<_> = (0..4).map(|i| arena.insert(i)).collect();
///
/// std::thread::scope(|s| {
///     for &key in &keys {
///         let names = &names;
///         s.spawn(move || {
///             names.insert(key, format!("node {}", key.index())).unwrap();
///         });
///     }
/// });
/// let guard = pin();
/// assert_eq!(names.len(), 4);
/// assert_eq!(names.get(keys[2], &guard).unwrap(), &format!("node {}", keys[2].index()));
///
/// // A stale key finds nothing, and cannot overwrite its successor's entry.
/// arena.remove(keys[0]);
/// let reused = arena.insert(9);
/// if reused.index() == keys[0].index() {
///     names.insert(reused, "new".to_string()).unwrap();
///     assert_eq!(names.get(keys[0], &guard), None);
///     assert_eq!(names.insert(keys[0], "late".to_string()), Err("late".to_string()));
/// }
/// ```
pub struct SharedSecondaryMap<K: ArenaKey, V> {
    table: SideTable<V>,
    _key: PhantomData<fn(K) -> K>,
}

impl<K: ArenaKey, V> SharedSecondaryMap<K, V> {
    /// An empty map. Allocates nothing until the first insertion.
    ///
    /// ```
    /// let map: epoch_arena::SharedSecondaryMap<epoch_arena::Key, u8> =
    ///     epoch_arena::SharedSecondaryMap::new();
    /// assert!(map.is_empty());
    /// ```
    pub fn new() -> Self {
        SharedSecondaryMap {
            table: SideTable::new(),
            _key: PhantomData,
        }
    }

    /// The value of exactly `key`, borrowed for the guard's life.
    ///
    /// ```
    /// use epoch_arena::{pin, Arena, SharedSecondaryMap};
    ///
    /// let arena = Arena::new();
    /// let key = arena.insert(());
    /// let map = SharedSecondaryMap::new();
    /// map.insert(key, 7).unwrap();
    /// let guard = pin();
    /// let seven = map.get(key, &guard).unwrap();
    /// map.remove(key);
    /// assert_eq!(map.get(key, &guard), None); // removed...
    /// assert_eq!(*seven, 7); // ...but still valid while the guard lives
    /// ```
    #[inline]
    pub fn get<'g>(&'g self, key: K, guard: &'g Guard) -> Option<&'g V> {
        self.table.get(key.to_key(), &guard.inner)
    }

    /// Whether the map holds a value for exactly `key`.
    ///
    /// ```
    /// use epoch_arena::{Arena, SharedSecondaryMap};
    ///
    /// let arena = Arena::new();
    /// let key = arena.insert(());
    /// let map = SharedSecondaryMap::new();
    /// assert!(!map.contains_key(key));
    /// map.insert(key, "x").unwrap();
    /// assert!(map.contains_key(key));
    /// ```
    pub fn contains_key(&self, key: K) -> bool {
        let guard = crate::pin();
        self.get(key, &guard).is_some()
    }

    /// Entries in the map: exact when no insertion or removal is in flight, approximate
    /// while some are.
    ///
    /// ```
    /// use epoch_arena::{Arena, SharedSecondaryMap};
    ///
    /// let arena = Arena::new();
    /// let map = SharedSecondaryMap::new();
    /// map.insert(arena.insert(()), 1).unwrap();
    /// assert_eq!(map.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether [`len`](Self::len) is 0.
    ///
    /// ```
    /// let map = epoch_arena::SharedSecondaryMap::<epoch_arena::Key, ()>::default();
    /// assert!(map.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entries in index order, each borrowed for the guard's life. Entries inserted or
    /// removed while iterating may or may not be seen; every yielded value is the value of
    /// the yielded key.
    ///
    /// ```
    /// use epoch_arena::{pin, Arena, SharedSecondaryMap};
    ///
    /// let arena = Arena::new();
    /// let map = SharedSecondaryMap::new();
    /// for i in 0..3 {
    ///     map.insert(arena.insert(()), i).unwrap();
    /// }
    /// let guard = pin();
    /// let sum: i32 = map.iter(&guard).map(|(_, v)| v).sum();
    /// assert_eq!(sum, 3);
    /// ```
    pub fn iter<'g>(&'g self, guard: &'g Guard) -> SharedIter<'g, K, V> {
        SharedIter {
            raw: self.table.iter(&guard.inner),
            _key: PhantomData,
        }
    }

    /// The value of exactly `key`, mutably; no guard needed.
    ///
    /// ```
    /// use epoch_arena::{Arena, SharedSecondaryMap};
    ///
    /// let arena = Arena::new();
    /// let key = arena.insert(());
    /// let mut map = SharedSecondaryMap::new();
    /// map.insert(key, 1).unwrap();
    /// *map.get_mut(key).unwrap() += 1;
    /// assert_eq!(map.take(key), Some(2));
    /// ```
    pub fn get_mut(&mut self, key: K) -> Option<&mut V> {
        self.table.get_mut(key.to_key())
    }

    /// Removes the value of exactly `key` and returns it, at once (no grace period: `&mut`).
    ///
    /// ```
    /// use epoch_arena::{Arena, SharedSecondaryMap};
    ///
    /// let arena = Arena::new();
    /// let key = arena.insert(());
    /// let mut map = SharedSecondaryMap::new();
    /// map.insert(key, String::from("v")).unwrap();
    /// assert_eq!(map.take(key).as_deref(), Some("v"));
    /// assert_eq!(map.take(key), None);
    /// ```
    pub fn take(&mut self, key: K) -> Option<V> {
        self.table.take(key.to_key())
    }

    /// Drops every value, at once. Keeps the allocated cells.
    ///
    /// A panicking `V::drop` propagates; the values not yet dropped stay in the map.
    ///
    /// ```
    /// use epoch_arena::{Arena, SharedSecondaryMap};
    ///
    /// let arena = Arena::new();
    /// let mut map = SharedSecondaryMap::new();
    /// map.insert(arena.insert(()), 1).unwrap();
    /// map.clear();
    /// assert!(map.is_empty());
    /// ```
    pub fn clear(&mut self) {
        self.table.clear();
    }

    /// The entries in index order, mutably.
    ///
    /// ```
    /// use epoch_arena::{pin, Arena, SharedSecondaryMap};
    ///
    /// let arena = Arena::new();
    /// let key = arena.insert(());
    /// let mut map = SharedSecondaryMap::new();
    /// map.insert(key, 1).unwrap();
    /// for (_, v) in map.iter_mut() {
    ///     *v *= 10;
    /// }
    /// assert_eq!(map.get(key, &pin()), Some(&10));
    /// ```
    pub fn iter_mut(&mut self) -> SharedIterMut<'_, K, V> {
        SharedIterMut {
            raw: self.table.iter_mut(),
            _key: PhantomData,
        }
    }
}

impl<K: ArenaKey, V: Send + 'static> SharedSecondaryMap<K, V> {
    /// Inserts `value` for `key`, replacing the entry of that index if it is of the same or an
    /// older generation.
    ///
    /// * `Ok(true)`: it replaced the value of this same key;
    /// * `Ok(false)`: there was no value for this key (the index was empty, or held an older
    ///   generation's value, now replaced);
    /// * `Err(value)`: the map holds a value for a *newer* generation of the index (`key` is
    ///   stale); nothing changed, and `value` is handed back.
    ///
    /// A replaced value is dropped once every guard pinned before the replacement is gone.
    ///
    /// ```
    /// use epoch_arena::{Arena, SharedSecondaryMap};
    ///
    /// let arena = Arena::new();
    /// let key = arena.insert(());
    /// let map = SharedSecondaryMap::new();
    /// assert_eq!(map.insert(key, 'a'), Ok(false));
    /// assert_eq!(map.insert(key, 'b'), Ok(true));
    /// ```
    pub fn insert(&self, key: K, value: V) -> Result<bool, V> {
        let guard = crossbeam_epoch::pin();
        self.table.insert(key.to_key(), value, &guard)
    }

    /// Removes the value of exactly `key`; whether there was one. It is dropped once every
    /// guard pinned before the removal is gone. An entry of another generation of the index
    /// is left alone.
    ///
    /// ```
    /// use epoch_arena::{Arena, SharedSecondaryMap};
    ///
    /// let arena = Arena::new();
    /// let key = arena.insert(());
    /// let map = SharedSecondaryMap::new();
    /// map.insert(key, 1).unwrap();
    /// assert!(map.remove(key));
    /// assert!(!map.remove(key));
    /// ```
    pub fn remove(&self, key: K) -> bool {
        let guard = crossbeam_epoch::pin();
        self.table.remove(key.to_key(), &guard)
    }
}

impl<K: ArenaKey, V> Default for SharedSecondaryMap<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: ArenaKey, V: fmt::Debug> fmt::Debug for SharedSecondaryMap<K, V> {
    /// The entries as a map, read under a fresh guard.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let guard = crate::pin();
        f.debug_map().entries(self.iter(&guard)).finish()
    }
}

/// The entries of a [`SharedSecondaryMap`] in index order, under a guard
/// ([`SharedSecondaryMap::iter`]).
pub struct SharedIter<'g, K, V> {
    raw: RawIter<'g, V>,
    _key: PhantomData<fn(K) -> K>,
}

impl<K, V> Clone for SharedIter<'_, K, V> {
    fn clone(&self) -> Self {
        SharedIter {
            raw: self.raw.clone(),
            _key: PhantomData,
        }
    }
}

impl<'g, K: ArenaKey, V> Iterator for SharedIter<'g, K, V> {
    type Item = (K, &'g V);

    #[inline]
    fn next(&mut self) -> Option<(K, &'g V)> {
        self.raw.next().map(|(k, v)| (K::from_key(k), v))
    }
}

impl<K: ArenaKey, V> FusedIterator for SharedIter<'_, K, V> {}

impl<K, V> fmt::Debug for SharedIter<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("SharedIter { .. }")
    }
}

/// The entries of a [`SharedSecondaryMap`] in index order, mutably
/// ([`SharedSecondaryMap::iter_mut`]).
pub struct SharedIterMut<'a, K, V> {
    raw: RawIterMut<'a, V>,
    _key: PhantomData<fn(K) -> K>,
}

impl<'a, K: ArenaKey, V> Iterator for SharedIterMut<'a, K, V> {
    type Item = (K, &'a mut V);

    #[inline]
    fn next(&mut self) -> Option<(K, &'a mut V)> {
        self.raw.next().map(|(k, v)| (K::from_key(k), v))
    }
}

impl<K: ArenaKey, V> FusedIterator for SharedIterMut<'_, K, V> {}

impl<K, V> fmt::Debug for SharedIterMut<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("SharedIterMut { .. }")
    }
}
