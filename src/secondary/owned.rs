//! [`SecondaryMap`]: an owned map from an arena's keys to extra data, as slotmap's
//! `SecondaryMap`.

use crate::key::Key;
use crate::key_type::ArenaKey;
use core::fmt;
use core::iter::{Enumerate, FusedIterator};
use core::marker::PhantomData;
use core::ops::{Index, IndexMut};

/// One occupied slot: the generation of the key it holds, and the value.
#[derive(Clone)]
struct Slot<V> {
    generation: u32,
    value: V,
}

/// A map from the keys of an [`Arena`](crate::Arena) to extra data, stored densely by slot
/// index: a `Vec` with one place per index, so a lookup is an index and a compare, with no
/// hashing. The same as slotmap's `SecondaryMap`, for `&mut` use on one thread at a time
/// (see [`SharedSecondaryMap`](crate::SharedSecondaryMap) for concurrent use).
///
/// Each index holds at most one entry, for one generation (one key) of that index. Lookups
/// match the whole key, so a stale key never finds the value of the key that replaced it.
/// When keys of one index meet:
///
/// * [`insert`](Self::insert) with the key already stored replaces its value and returns the
///   old one;
/// * with a *newer* key (its slot was reused) it replaces the older key's entry, dropping
///   its value, and returns `None`;
/// * with an *older* (stale) key it changes nothing, drops the value and returns `None`,
///   as slotmap does. To keep the value, use [`entry`](Self::entry), which returns `None`
///   for such a key before taking any value.
///
/// Iteration is in index order. The `Vec` grows to the largest index inserted and never
/// shrinks by itself: for a map with few keys of a large arena, a `HashMap<K, V>` is
/// smaller.
///
/// Relocation after [`Arena::compact`](crate::Arena::compact) is not supported: the map has
/// no [`Relocate`](crate::Relocate) impl, because moved keys change index; rebuild it from
/// the [`Remap`](crate::Remap) (`map.into_iter().filter_map(|(k, v)| Some((remap.get(k)?, v)))`).
///
/// ```
/// use epoch_arena::{Arena, SecondaryMap};
///
/// let mut arena = Arena::new();
/// let a = arena.insert("a");
/// let b = arena.insert("b");
/// let mut lengths = SecondaryMap::new();
/// lengths.insert(a, 1);
/// lengths.insert(b, 2);
/// assert_eq!(lengths[b], 2);
///
/// arena.take(a);
/// let c = arena.insert("c"); // may reuse a's slot with a newer generation
/// lengths.insert(c, 3);
/// assert_eq!(lengths.get(c), Some(&3));
/// if c.index() == a.index() {
///     assert_eq!(lengths.get(a), None); // the stale key finds nothing
/// }
/// ```
pub struct SecondaryMap<K: ArenaKey, V> {
    slots: Vec<Option<Slot<V>>>,
    len: usize,
    _key: PhantomData<fn(K) -> K>,
}

/// The typed key of index `index` and generation `generation`.
#[inline]
fn key_of<K: ArenaKey>(index: usize, generation: u32) -> K {
    // Indices come from keys, so they fit in a `u32`.
    K::from_key(Key::new(index as u32, generation))
}

impl<K: ArenaKey, V> SecondaryMap<K, V> {
    /// An empty map. Allocates nothing until the first insertion.
    ///
    /// ```
    /// let map: epoch_arena::SecondaryMap<epoch_arena::Key, String> =
    ///     epoch_arena::SecondaryMap::new();
    /// assert!(map.is_empty());
    /// ```
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty map with room for the indices `0..capacity` without reallocating.
    ///
    /// ```
    /// let map: epoch_arena::SecondaryMap<epoch_arena::Key, u8> =
    ///     epoch_arena::SecondaryMap::with_capacity(10);
    /// assert!(map.capacity() >= 10);
    /// ```
    pub fn with_capacity(capacity: usize) -> Self {
        SecondaryMap {
            slots: Vec::with_capacity(capacity),
            len: 0,
            _key: PhantomData,
        }
    }

    /// Entries in the map.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let mut map = epoch_arena::SecondaryMap::new();
    /// map.insert(arena.insert(()), 'x');
    /// assert_eq!(map.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the map has no entries.
    ///
    /// ```
    /// let map = epoch_arena::SecondaryMap::<epoch_arena::Key, u8>::default();
    /// assert!(map.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many indices the map can hold without reallocating.
    ///
    /// ```
    /// let map = epoch_arena::SecondaryMap::<epoch_arena::Key, u8>::with_capacity(4);
    /// assert!(map.capacity() >= 4);
    /// ```
    pub fn capacity(&self) -> usize {
        self.slots.capacity()
    }

    /// Inserts `value` for `key`. Returns the old value of this same key, if any.
    ///
    /// An entry of an older generation of the index is replaced (its value dropped); if the
    /// map holds a *newer* generation, nothing changes and `value` is dropped (slotmap's
    /// behaviour; [`entry`](Self::entry) lets you keep it). Both return `None`.
    ///
    /// ```
    /// use epoch_arena::{Arena, SecondaryMap};
    ///
    /// let arena = Arena::new();
    /// let key = arena.insert(());
    /// let mut map = SecondaryMap::new();
    /// assert_eq!(map.insert(key, 1), None);
    /// assert_eq!(map.insert(key, 2), Some(1));
    /// assert_eq!(map[key], 2);
    /// ```
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.entry(key)? {
            Entry::Occupied(mut e) => Some(e.insert(value)),
            Entry::Vacant(e) => {
                e.insert(value);
                None
            }
        }
    }

    /// The slot of `key`'s index, if the `Vec` reaches it and it holds exactly `key`.
    #[inline]
    fn slot(&self, key: K) -> Option<&Slot<V>> {
        let key = key.to_key();
        match self.slots.get(key.index() as usize)? {
            Some(slot) if slot.generation == key.generation() => Some(slot),
            _ => None,
        }
    }

    /// The value of exactly `key`.
    ///
    /// ```
    /// use epoch_arena::{Arena, SecondaryMap};
    ///
    /// let mut arena = Arena::new();
    /// let key = arena.insert(());
    /// let mut map = SecondaryMap::new();
    /// map.insert(key, "v");
    /// assert_eq!(map.get(key), Some(&"v"));
    /// arena.take(key);
    /// let newer = arena.insert(());
    /// assert_eq!(map.get(newer), None);
    /// ```
    pub fn get(&self, key: K) -> Option<&V> {
        self.slot(key).map(|slot| &slot.value)
    }

    /// The value of exactly `key`, mutably.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let key = arena.insert(());
    /// let mut map = epoch_arena::SecondaryMap::new();
    /// map.insert(key, 1);
    /// *map.get_mut(key).unwrap() += 1;
    /// assert_eq!(map[key], 2);
    /// ```
    pub fn get_mut(&mut self, key: K) -> Option<&mut V> {
        let key = key.to_key();
        match self.slots.get_mut(key.index() as usize)? {
            Some(slot) if slot.generation == key.generation() => Some(&mut slot.value),
            _ => None,
        }
    }

    /// Whether the map holds a value for exactly `key`.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let key = arena.insert(());
    /// let mut map = epoch_arena::SecondaryMap::new();
    /// assert!(!map.contains_key(key));
    /// map.insert(key, ());
    /// assert!(map.contains_key(key));
    /// ```
    pub fn contains_key(&self, key: K) -> bool {
        self.slot(key).is_some()
    }

    /// Removes the value of exactly `key` and returns it. An entry of another generation of
    /// the index is left alone.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let key = arena.insert(());
    /// let mut map = epoch_arena::SecondaryMap::new();
    /// map.insert(key, 5);
    /// assert_eq!(map.remove(key), Some(5));
    /// assert_eq!(map.remove(key), None);
    /// ```
    pub fn remove(&mut self, key: K) -> Option<V> {
        self.contains_key(key).then(|| {
            let slot = self.slots[key.to_key().index() as usize].take();
            self.len -= 1;
            slot.expect("checked above").value
        })
    }

    /// Keeps only the entries for which `keep` returns `true`, visiting them in index order.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let mut map = epoch_arena::SecondaryMap::new();
    /// for i in 0..6 {
    ///     map.insert(arena.insert(()), i);
    /// }
    /// map.retain(|_, v| *v % 2 == 0);
    /// assert_eq!(map.values().copied().collect::<Vec<_>>(), [0, 2, 4]);
    /// ```
    pub fn retain(&mut self, mut keep: impl FnMut(K, &mut V) -> bool) {
        for (index, place) in self.slots.iter_mut().enumerate() {
            if let Some(slot) = place {
                if !keep(key_of(index, slot.generation), &mut slot.value) {
                    // Counted before the drop, so a panicking drop leaves `len` right.
                    let removed = place.take();
                    self.len -= 1;
                    drop(removed);
                }
            }
        }
    }

    /// Removes every entry. Keeps the allocation.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let mut map = epoch_arena::SecondaryMap::new();
    /// map.insert(arena.insert(()), 1);
    /// map.clear();
    /// assert!(map.is_empty());
    /// ```
    pub fn clear(&mut self) {
        self.len = 0;
        self.slots.clear();
    }

    /// Removes every entry, yielding them in index order. Entries the iterator does not
    /// reach are dropped with it; the map is empty afterwards either way.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let mut map = epoch_arena::SecondaryMap::new();
    /// let key = arena.insert(());
    /// map.insert(key, 'x');
    /// assert_eq!(map.drain().collect::<Vec<_>>(), [(key, 'x')]);
    /// assert!(map.is_empty());
    /// ```
    pub fn drain(&mut self) -> Drain<'_, K, V> {
        let len = core::mem::take(&mut self.len);
        Drain {
            inner: self.slots.drain(..).enumerate(),
            len,
            _key: PhantomData,
        }
    }

    /// The entries in index order.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let mut map = epoch_arena::SecondaryMap::new();
    /// let (a, b) = (arena.insert(()), arena.insert(()));
    /// map.insert(b, 2);
    /// map.insert(a, 1);
    /// let mut expected = vec![(a, &1), (b, &2)];
    /// expected.sort_by_key(|&(k, _)| k.index());
    /// assert_eq!(map.iter().collect::<Vec<_>>(), expected);
    /// ```
    pub fn iter(&self) -> Iter<'_, K, V> {
        Iter {
            inner: self.slots.iter().enumerate(),
            len: self.len,
            _key: PhantomData,
        }
    }

    /// The entries in index order, values mutably.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let mut map = epoch_arena::SecondaryMap::new();
    /// let key = arena.insert(());
    /// map.insert(key, 1);
    /// for (_, v) in map.iter_mut() {
    ///     *v += 1;
    /// }
    /// assert_eq!(map[key], 2);
    /// ```
    pub fn iter_mut(&mut self) -> IterMut<'_, K, V> {
        IterMut {
            inner: self.slots.iter_mut().enumerate(),
            len: self.len,
            _key: PhantomData,
        }
    }

    /// The keys in index order.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let mut map = epoch_arena::SecondaryMap::new();
    /// let key = arena.insert(());
    /// map.insert(key, ());
    /// assert_eq!(map.keys().collect::<Vec<_>>(), [key]);
    /// ```
    pub fn keys(&self) -> Keys<'_, K, V> {
        Keys { inner: self.iter() }
    }

    /// The values in index order.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let mut map = epoch_arena::SecondaryMap::new();
    /// map.insert(arena.insert(()), 3);
    /// assert_eq!(map.values().sum::<i32>(), 3);
    /// ```
    pub fn values(&self) -> Values<'_, K, V> {
        Values { inner: self.iter() }
    }

    /// The values in index order, mutably.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let mut map = epoch_arena::SecondaryMap::new();
    /// let key = arena.insert(());
    /// map.insert(key, 3);
    /// map.values_mut().for_each(|v| *v *= 2);
    /// assert_eq!(map[key], 6);
    /// ```
    pub fn values_mut(&mut self) -> ValuesMut<'_, K, V> {
        ValuesMut {
            inner: self.iter_mut(),
        }
    }

    /// The entry of `key`, to read, insert or modify in place; `None` if the map holds a
    /// *newer* generation of `key`'s index (`key` is stale, and nothing may be inserted for
    /// it). An entry of an older generation counts as vacant: inserting replaces it.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let key = arena.insert(());
    /// let mut counts = epoch_arena::SecondaryMap::new();
    /// for _ in 0..3 {
    ///     *counts.entry(key).unwrap().or_insert(0) += 1;
    /// }
    /// assert_eq!(counts[key], 3);
    /// ```
    pub fn entry(&mut self, key: K) -> Option<Entry<'_, K, V>> {
        let raw = key.to_key();
        match self.slots.get(raw.index() as usize) {
            Some(Some(slot)) if slot.generation == raw.generation() => {
                Some(Entry::Occupied(OccupiedEntry { map: self, key }))
            }
            Some(Some(slot)) if slot.generation > raw.generation() => None,
            _ => Some(Entry::Vacant(VacantEntry { map: self, key })),
        }
    }
}

impl<K: ArenaKey, V> Default for SecondaryMap<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: ArenaKey, V: Clone> Clone for SecondaryMap<K, V> {
    fn clone(&self) -> Self {
        SecondaryMap {
            slots: self.slots.clone(),
            len: self.len,
            _key: PhantomData,
        }
    }
}

impl<K: ArenaKey, V: fmt::Debug> fmt::Debug for SecondaryMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Equal when they hold the same keys with equal values (capacity does not count).
impl<K: ArenaKey, V: PartialEq> PartialEq for SecondaryMap<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl<K: ArenaKey, V: Eq> Eq for SecondaryMap<K, V> {}

/// Panics if the map holds no value for exactly `key`.
impl<K: ArenaKey, V> Index<K> for SecondaryMap<K, V> {
    type Output = V;

    fn index(&self, key: K) -> &V {
        match self.get(key) {
            Some(v) => v,
            None => panic!("no SecondaryMap entry for key {key:?}"),
        }
    }
}

/// Panics if the map holds no value for exactly `key`.
impl<K: ArenaKey, V> IndexMut<K> for SecondaryMap<K, V> {
    fn index_mut(&mut self, key: K) -> &mut V {
        match self.get_mut(key) {
            Some(v) => v,
            None => panic!("no SecondaryMap entry for key {key:?}"),
        }
    }
}

/// Inserts each pair in order, with [`insert`](SecondaryMap::insert)'s rules.
impl<K: ArenaKey, V> FromIterator<(K, V)> for SecondaryMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut map = SecondaryMap::new();
        map.extend(iter);
        map
    }
}

/// Inserts each pair in order, with [`insert`](SecondaryMap::insert)'s rules.
impl<K: ArenaKey, V> Extend<(K, V)> for SecondaryMap<K, V> {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<'a, K: ArenaKey, V> IntoIterator for &'a SecondaryMap<K, V> {
    type Item = (K, &'a V);
    type IntoIter = Iter<'a, K, V>;

    fn into_iter(self) -> Iter<'a, K, V> {
        self.iter()
    }
}

impl<'a, K: ArenaKey, V> IntoIterator for &'a mut SecondaryMap<K, V> {
    type Item = (K, &'a mut V);
    type IntoIter = IterMut<'a, K, V>;

    fn into_iter(self) -> IterMut<'a, K, V> {
        self.iter_mut()
    }
}

impl<K: ArenaKey, V> IntoIterator for SecondaryMap<K, V> {
    type Item = (K, V);
    type IntoIter = IntoIter<K, V>;

    fn into_iter(self) -> IntoIter<K, V> {
        IntoIter {
            inner: self.slots.into_iter().enumerate(),
            len: self.len,
            _key: PhantomData,
        }
    }
}

/// The iterators: each walks the slots with their indices, skips the empty ones, and counts
/// down the entries left, so the size is exact.
macro_rules! slot_iterator {
    ($(#[$doc:meta])* $name:ident<$($lt:lifetime,)? K, V>, $inner:ty, $item:ty, |$index:ident, $slot:ident| $make:expr) => {
        $(#[$doc])*
        pub struct $name<$($lt,)? K, V> {
            inner: Enumerate<$inner>,
            len: usize,
            _key: PhantomData<fn(K) -> K>,
        }

        impl<$($lt,)? K: ArenaKey, V> Iterator for $name<$($lt,)? K, V> {
            type Item = $item;

            #[inline]
            fn next(&mut self) -> Option<$item> {
                for ($index, place) in self.inner.by_ref() {
                    if let Some($slot) = place {
                        self.len -= 1;
                        return Some($make);
                    }
                }
                None
            }

            #[inline]
            fn size_hint(&self) -> (usize, Option<usize>) {
                (self.len, Some(self.len))
            }
        }

        impl<$($lt,)? K: ArenaKey, V> ExactSizeIterator for $name<$($lt,)? K, V> {}

        impl<$($lt,)? K: ArenaKey, V> FusedIterator for $name<$($lt,)? K, V> {}

        impl<$($lt,)? K, V> fmt::Debug for $name<$($lt,)? K, V> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).field("len", &self.len).finish_non_exhaustive()
            }
        }
    };
}

slot_iterator!(
    /// The entries of a [`SecondaryMap`] in index order ([`SecondaryMap::iter`]).
    Iter<'a, K, V>,
    core::slice::Iter<'a, Option<Slot<V>>>,
    (K, &'a V),
    |index, slot| (key_of(index, slot.generation), &slot.value)
);

slot_iterator!(
    /// The entries of a [`SecondaryMap`] in index order, values mutably
    /// ([`SecondaryMap::iter_mut`]).
    IterMut<'a, K, V>,
    core::slice::IterMut<'a, Option<Slot<V>>>,
    (K, &'a mut V),
    |index, slot| (key_of(index, slot.generation), &mut slot.value)
);

slot_iterator!(
    /// The entries of a [`SecondaryMap`] in index order, by value
    /// ([`IntoIterator`] for `SecondaryMap`).
    IntoIter<K, V>,
    std::vec::IntoIter<Option<Slot<V>>>,
    (K, V),
    |index, slot| (key_of(index, slot.generation), slot.value)
);

slot_iterator!(
    /// The entries of a [`SecondaryMap`] removed by [`SecondaryMap::drain`], in index order.
    Drain<'a, K, V>,
    std::vec::Drain<'a, Option<Slot<V>>>,
    (K, V),
    |index, slot| (key_of(index, slot.generation), slot.value)
);

impl<K, V> Clone for Iter<'_, K, V> {
    fn clone(&self) -> Self {
        Iter {
            inner: self.inner.clone(),
            len: self.len,
            _key: PhantomData,
        }
    }
}

/// The keys of a [`SecondaryMap`] in index order ([`SecondaryMap::keys`]).
#[derive(Debug)]
pub struct Keys<'a, K, V> {
    inner: Iter<'a, K, V>,
}

/// The values of a [`SecondaryMap`] in index order ([`SecondaryMap::values`]).
#[derive(Debug)]
pub struct Values<'a, K, V> {
    inner: Iter<'a, K, V>,
}

/// The values of a [`SecondaryMap`] in index order, mutably ([`SecondaryMap::values_mut`]).
#[derive(Debug)]
pub struct ValuesMut<'a, K, V> {
    inner: IterMut<'a, K, V>,
}

/// Iterators that project [`Iter`] or [`IterMut`].
macro_rules! projection {
    ($name:ident, $item:ty, |$k:pat_param, $v:pat_param| $make:expr) => {
        impl<'a, K: ArenaKey, V> Iterator for $name<'a, K, V> {
            type Item = $item;

            #[inline]
            fn next(&mut self) -> Option<$item> {
                self.inner.next().map(|($k, $v)| $make)
            }

            #[inline]
            fn size_hint(&self) -> (usize, Option<usize>) {
                self.inner.size_hint()
            }
        }

        impl<K: ArenaKey, V> ExactSizeIterator for $name<'_, K, V> {}

        impl<K: ArenaKey, V> FusedIterator for $name<'_, K, V> {}
    };
}

projection!(Keys, K, |k, _| k);
projection!(Values, &'a V, |_, v| v);
projection!(ValuesMut, &'a mut V, |_, v| v);

impl<K, V> Clone for Keys<'_, K, V> {
    fn clone(&self) -> Self {
        Keys {
            inner: self.inner.clone(),
        }
    }
}

impl<K, V> Clone for Values<'_, K, V> {
    fn clone(&self) -> Self {
        Values {
            inner: self.inner.clone(),
        }
    }
}

/// The entry of one key in a [`SecondaryMap`] ([`SecondaryMap::entry`]).
#[derive(Debug)]
pub enum Entry<'a, K: ArenaKey, V> {
    /// The map holds a value for exactly this key.
    Occupied(OccupiedEntry<'a, K, V>),
    /// The map holds no value for this key (nothing at its index, or an older generation's
    /// value, which inserting replaces).
    Vacant(VacantEntry<'a, K, V>),
}

/// An entry holding a value ([`Entry::Occupied`]).
pub struct OccupiedEntry<'a, K: ArenaKey, V> {
    map: &'a mut SecondaryMap<K, V>,
    key: K,
}

/// An entry without a value for its key ([`Entry::Vacant`]).
pub struct VacantEntry<'a, K: ArenaKey, V> {
    map: &'a mut SecondaryMap<K, V>,
    key: K,
}

impl<'a, K: ArenaKey, V> Entry<'a, K, V> {
    /// The entry's value, inserting `default` if vacant.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let key = arena.insert(());
    /// let mut map = epoch_arena::SecondaryMap::new();
    /// assert_eq!(*map.entry(key).unwrap().or_insert(1), 1);
    /// assert_eq!(*map.entry(key).unwrap().or_insert(2), 1);
    /// ```
    pub fn or_insert(self, default: V) -> &'a mut V {
        self.or_insert_with(|| default)
    }

    /// The entry's value, inserting `make()` if vacant.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let key = arena.insert(());
    /// let mut map = epoch_arena::SecondaryMap::new();
    /// map.entry(key).unwrap().or_insert_with(Vec::new).push(1);
    /// assert_eq!(map[key], [1]);
    /// ```
    pub fn or_insert_with(self, make: impl FnOnce() -> V) -> &'a mut V {
        match self {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(make()),
        }
    }

    /// The entry's value, inserting `V::default()` if vacant.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let key = arena.insert(());
    /// let mut map = epoch_arena::SecondaryMap::<_, u32>::new();
    /// *map.entry(key).unwrap().or_default() += 5;
    /// assert_eq!(map[key], 5);
    /// ```
    pub fn or_default(self) -> &'a mut V
    where
        V: Default,
    {
        self.or_insert_with(V::default)
    }

    /// Calls `f` on the value if occupied; returns the entry.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let key = arena.insert(());
    /// let mut map = epoch_arena::SecondaryMap::new();
    /// map.entry(key).unwrap().and_modify(|v| *v += 1).or_insert(0);
    /// map.entry(key).unwrap().and_modify(|v| *v += 1).or_insert(0);
    /// assert_eq!(map[key], 1);
    /// ```
    pub fn and_modify(mut self, f: impl FnOnce(&mut V)) -> Self {
        if let Entry::Occupied(e) = &mut self {
            f(e.get_mut());
        }
        self
    }

    /// The entry's key.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let key = arena.insert(());
    /// let mut map = epoch_arena::SecondaryMap::<_, ()>::new();
    /// assert_eq!(map.entry(key).unwrap().key(), key);
    /// ```
    pub fn key(&self) -> K {
        match self {
            Entry::Occupied(e) => e.key,
            Entry::Vacant(e) => e.key,
        }
    }
}

impl<'a, K: ArenaKey, V> OccupiedEntry<'a, K, V> {
    /// The occupied slot.
    fn slot(&self) -> &Slot<V> {
        self.map.slots[self.key.to_key().index() as usize]
            .as_ref()
            .expect("an occupied entry's slot is occupied")
    }

    /// The occupied slot, mutably.
    fn slot_mut(&mut self) -> &mut Slot<V> {
        self.map.slots[self.key.to_key().index() as usize]
            .as_mut()
            .expect("an occupied entry's slot is occupied")
    }

    /// The entry's key.
    ///
    /// ```
    /// use epoch_arena::secondary::Entry;
    /// let arena = epoch_arena::Arena::new();
    /// let key = arena.insert(());
    /// let mut map = epoch_arena::SecondaryMap::new();
    /// map.insert(key, 1);
    /// if let Some(Entry::Occupied(e)) = map.entry(key) {
    ///     assert_eq!(e.key(), key);
    /// }
    /// ```
    pub fn key(&self) -> K {
        self.key
    }

    /// The value.
    ///
    /// ```
    /// use epoch_arena::secondary::Entry;
    /// let arena = epoch_arena::Arena::new();
    /// let key = arena.insert(());
    /// let mut map = epoch_arena::SecondaryMap::new();
    /// map.insert(key, 1);
    /// if let Some(Entry::Occupied(e)) = map.entry(key) {
    ///     assert_eq!(e.get(), &1);
    /// }
    /// ```
    pub fn get(&self) -> &V {
        &self.slot().value
    }

    /// The value, mutably, for the entry's life.
    ///
    /// ```
    /// use epoch_arena::secondary::Entry;
    /// let arena = epoch_arena::Arena::new();
    /// let key = arena.insert(());
    /// let mut map = epoch_arena::SecondaryMap::new();
    /// map.insert(key, 1);
    /// if let Some(Entry::Occupied(mut e)) = map.entry(key) {
    ///     *e.get_mut() += 1;
    /// }
    /// assert_eq!(map[key], 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut V {
        &mut self.slot_mut().value
    }

    /// The value, mutably, for the map's borrow.
    ///
    /// ```
    /// use epoch_arena::secondary::Entry;
    /// let arena = epoch_arena::Arena::new();
    /// let key = arena.insert(());
    /// let mut map = epoch_arena::SecondaryMap::new();
    /// map.insert(key, 1);
    /// if let Some(Entry::Occupied(e)) = map.entry(key) {
    ///     *e.into_mut() = 3;
    /// }
    /// assert_eq!(map[key], 3);
    /// ```
    pub fn into_mut(self) -> &'a mut V {
        let index = self.key.to_key().index() as usize;
        &mut self.map.slots[index]
            .as_mut()
            .expect("an occupied entry's slot is occupied")
            .value
    }

    /// Replaces the value, returning the old one.
    ///
    /// ```
    /// use epoch_arena::secondary::Entry;
    /// let arena = epoch_arena::Arena::new();
    /// let key = arena.insert(());
    /// let mut map = epoch_arena::SecondaryMap::new();
    /// map.insert(key, 1);
    /// if let Some(Entry::Occupied(mut e)) = map.entry(key) {
    ///     assert_eq!(e.insert(2), 1);
    /// }
    /// assert_eq!(map[key], 2);
    /// ```
    pub fn insert(&mut self, value: V) -> V {
        core::mem::replace(self.get_mut(), value)
    }

    /// Removes the entry, returning its value.
    ///
    /// ```
    /// use epoch_arena::secondary::Entry;
    /// let arena = epoch_arena::Arena::new();
    /// let key = arena.insert(());
    /// let mut map = epoch_arena::SecondaryMap::new();
    /// map.insert(key, 1);
    /// if let Some(Entry::Occupied(e)) = map.entry(key) {
    ///     assert_eq!(e.remove(), 1);
    /// }
    /// assert!(map.is_empty());
    /// ```
    pub fn remove(self) -> V {
        let index = self.key.to_key().index() as usize;
        self.map.len -= 1;
        self.map.slots[index]
            .take()
            .expect("an occupied entry's slot is occupied")
            .value
    }
}

impl<'a, K: ArenaKey, V> VacantEntry<'a, K, V> {
    /// The entry's key.
    ///
    /// ```
    /// use epoch_arena::secondary::Entry;
    /// let arena = epoch_arena::Arena::new();
    /// let key = arena.insert(());
    /// let mut map = epoch_arena::SecondaryMap::<_, ()>::new();
    /// if let Some(Entry::Vacant(e)) = map.entry(key) {
    ///     assert_eq!(e.key(), key);
    /// }
    /// ```
    pub fn key(&self) -> K {
        self.key
    }

    /// Inserts `value` for the entry's key, replacing (dropping) an older generation's
    /// value at its index, and returns it mutably.
    ///
    /// ```
    /// use epoch_arena::secondary::Entry;
    /// let arena = epoch_arena::Arena::new();
    /// let key = arena.insert(());
    /// let mut map = epoch_arena::SecondaryMap::new();
    /// if let Some(Entry::Vacant(e)) = map.entry(key) {
    ///     *e.insert(1) += 1;
    /// }
    /// assert_eq!(map[key], 2);
    /// ```
    pub fn insert(self, value: V) -> &'a mut V {
        let key = self.key.to_key();
        let index = key.index() as usize;
        let map = self.map;
        if map.slots.len() <= index {
            map.slots.resize_with(index + 1, || None);
        }
        let place = &mut map.slots[index];
        if place.is_none() {
            map.len += 1;
        }
        let old = place.replace(Slot {
            generation: key.generation(),
            value,
        });
        // Dropped after the new value is in place, so a panicking drop leaves the map
        // consistent (the new entry counted and present).
        drop(old);
        &mut place.as_mut().expect("just inserted").value
    }
}

impl<K: ArenaKey, V: fmt::Debug> fmt::Debug for OccupiedEntry<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OccupiedEntry")
            .field("key", &self.key)
            .field("value", self.get())
            .finish()
    }
}

impl<K: ArenaKey, V> fmt::Debug for VacantEntry<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VacantEntry")
            .field("key", &self.key)
            .finish()
    }
}
