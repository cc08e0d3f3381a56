//! [`Remap`]: the forwarding table of one compaction ([`Arena::compact`]).
//!
//! After a compaction every live value sits in slots `0..n` (`n` = the number of live
//! values). A value that was already there kept its key; a value that lived above was moved
//! into a hole below `n` and got a new key there, with a generation above every generation
//! that slot had before. The table holds, for each slot below `n`, its generation after the
//! compaction, and the `(old, new)` pairs of the moved values, sorted by old index. So:
//!
//! * a key with index below `n` is current exactly when its generation is the slot's
//!   generation now (a hole's old keys are older, hence lower);
//! * a key with index at or above `n` was moved when its pair is in the table (binary
//!   search), and was dead otherwise.
//!
//! [`Remap::get`] is therefore idempotent: a key it returns maps to itself.
//!
//! The table itself is untyped ([`AnyRemap`], what [`Relocate`](crate::Relocate) takes, so
//! that the trait stays dyn-compatible); [`Remap<K>`] wraps it with the arena's key type for
//! typed lookups, and the table records that type, so relocation rewrites only keys of it.
//!
//! [`Arena::compact`]: crate::Arena::compact

use crate::key::Key;
use crate::key_type::ArenaKey;
use core::any::TypeId;
use core::fmt;
use core::marker::PhantomData;
use core::ops::Deref;

/// The forwarding table of one compaction: where each value that was live before it is now.
///
/// Made by [`Arena::compact`](crate::Arena::compact) and
/// [`Arena::compact_with`](crate::Arena::compact_with), typed with the arena's key type `K`.
/// Keys held inside the arena's values are rewritten through it by `compact_with` (see
/// [`Relocate`](crate::Relocate)); keys held anywhere else are the caller's to rewrite with
/// [`get`](Remap::get). It dereferences to the untyped [`AnyRemap`], which
/// [`Relocate::relocate`](crate::Relocate::relocate) takes.
///
/// ```
/// use epoch_arena::Arena;
///
/// let mut arena = Arena::new();
/// let keys: Vec<_> = (0..10).map(|i| arena.insert(i)).collect();
/// for &k in &keys[..9] {
///     arena.take(k);
/// }
/// let remap = arena.compact();
/// assert_eq!(remap.moved(), 1);
/// let moved = remap.get(keys[9]).unwrap();
/// assert_eq!(arena.get(moved, &epoch_arena::pin()), Some(&9));
/// assert_eq!(remap.get(keys[0]), None); // it was dead before the compaction
/// assert!(!arena.contains(keys[9])); // the old key is dead now
/// ```
pub struct Remap<K = Key> {
    table: AnyRemap,
    _key: PhantomData<fn(K) -> K>,
}

/// The table of a [`Remap`] without its key type: what [`Relocate`](crate::Relocate) takes.
///
/// It knows the key type of the arena it came from, and
/// [`relocate_key`](AnyRemap::relocate_key) rewrites only keys of that type: a value holding
/// keys of several arenas (a `NodeId` and a `StyleId`, from
/// [`new_key_type!`](crate::new_key_type)) is relocated by each arena's compaction in the
/// fields of that arena's key type only.
#[derive(Clone, PartialEq, Eq)]
pub struct AnyRemap {
    /// The generation of slot `i`, live, after the compaction; `i < n`.
    live: Vec<u32>,
    /// `(old, new)` for every moved value, sorted by old index (all at or above `n`).
    moved: Vec<(Key, Key)>,
    /// The compacted arena's key type.
    key_type: TypeId,
}

impl AnyRemap {
    /// A table from the generations of slots `0..n` and the moved pairs (sorted by old
    /// index, all at or above `n`), for the key type [`Key`] until [`typed`](Self::typed).
    pub(crate) fn new(live: Vec<u32>, moved: Vec<(Key, Key)>) -> Self {
        debug_assert!(moved.windows(2).all(|w| w[0].0 < w[1].0));
        debug_assert!(moved
            .first()
            .is_none_or(|(old, _)| old.index() as usize >= live.len()));
        AnyRemap {
            live,
            moved,
            key_type: TypeId::of::<Key>(),
        }
    }

    /// This table as the remap of an arena of key type `K`.
    pub(crate) fn typed<K: ArenaKey>(mut self) -> Remap<K> {
        self.key_type = TypeId::of::<K>();
        Remap {
            table: self,
            _key: PhantomData,
        }
    }

    /// The current key of the value `old` named, untyped: `Some(old)` if it stayed put, its
    /// new key if it moved, `None` if `old` named no live value before the compaction.
    #[inline]
    fn get_raw(&self, old: Key) -> Option<Key> {
        let index = old.index() as usize;
        if let Some(&generation) = self.live.get(index) {
            return (generation == old.generation()).then_some(old);
        }
        let at = self
            .moved
            .binary_search_by_key(&old.index(), |(o, _)| o.index())
            .ok()?;
        let (o, new) = self.moved[at];
        (o == old).then_some(new)
    }

    /// Rewrites `key` to its value's current key, if `key` is of the compacted arena's key
    /// type and named a live value before the compaction; leaves it as it is otherwise (a
    /// dead key stays dead; a key of another type belongs to an arena this compaction did
    /// not move). What every [`Relocate`](crate::Relocate) impl ends in.
    ///
    /// ```
    /// use epoch_arena::{new_key_type, Arena};
    /// new_key_type! { struct NodeId; struct StyleId; }
    ///
    /// let mut nodes: Arena<u8, NodeId> = Arena::default();
    /// let styles: Arena<u8, StyleId> = Arena::default();
    /// let a = nodes.insert(1);
    /// let mut node = nodes.insert(2);
    /// let mut style = styles.insert(3);
    /// nodes.take(a);
    /// let remap = nodes.compact();
    /// remap.relocate_key(&mut node); // moved into the hole
    /// remap.relocate_key(&mut style); // a StyleId: left as it is
    /// let guard = epoch_arena::pin();
    /// assert_eq!(nodes.get(node, &guard), Some(&2));
    /// assert_eq!(styles.get(style, &guard), Some(&3));
    /// ```
    #[inline]
    pub fn relocate_key<K: ArenaKey>(&self, key: &mut K) {
        if TypeId::of::<K>() == self.key_type {
            if let Some(new) = self.get_raw(key.to_key()) {
                *key = K::from_key(new);
            }
        }
    }

    /// How many values changed key.
    ///
    /// ```
    /// let mut arena = epoch_arena::Arena::new();
    /// arena.insert(1);
    /// assert_eq!(arena.compact().moved(), 0);
    /// ```
    pub fn moved(&self) -> usize {
        self.moved.len()
    }

    /// Values live after the compaction (they fill slots `0..len`).
    ///
    /// ```
    /// let mut arena = epoch_arena::Arena::new();
    /// arena.insert(1);
    /// arena.insert(2);
    /// assert_eq!(arena.compact().live(), 2);
    /// ```
    pub fn live(&self) -> usize {
        self.live.len()
    }
}

impl<K: ArenaKey> Remap<K> {
    /// The key of `old`'s value after the compaction: `Some(old)` if it stayed put, its new
    /// key if it moved, `None` if `old` named no live value before the compaction (stale,
    /// removed, or never issued). A key returned by `get` maps to itself.
    ///
    /// ```
    /// let mut arena = epoch_arena::Arena::new();
    /// let a = arena.insert('a');
    /// let b = arena.insert('b');
    /// arena.take(a);
    /// let remap = arena.compact();
    /// let b2 = remap.get(b).unwrap();
    /// assert_eq!(remap.get(b2), Some(b2));
    /// assert_eq!(remap.get(a), None);
    /// ```
    #[inline]
    pub fn get(&self, old: K) -> Option<K> {
        self.table.get_raw(old.to_key()).map(K::from_key)
    }

    /// The `(old, new)` key of every moved value, in old-index order.
    ///
    /// ```
    /// let mut arena = epoch_arena::Arena::new();
    /// let a = arena.insert(1);
    /// let b = arena.insert(2);
    /// arena.take(a);
    /// let remap = arena.compact();
    /// let pairs: Vec<_> = remap.moves().collect();
    /// assert_eq!(pairs, [(b, remap.get(b).unwrap())]);
    /// ```
    pub fn moves(&self) -> impl ExactSizeIterator<Item = (K, K)> + '_ {
        self.table
            .moved
            .iter()
            .map(|&(old, new)| (K::from_key(old), K::from_key(new)))
    }

    /// The untyped table, as [`Relocate`](crate::Relocate) takes it (also reached through
    /// `Deref`).
    ///
    /// ```
    /// let mut arena = epoch_arena::Arena::<u8>::new();
    /// let remap = arena.compact();
    /// assert_eq!(remap.as_any().live(), 0);
    /// ```
    pub fn as_any(&self) -> &AnyRemap {
        &self.table
    }
}

impl<K> Deref for Remap<K> {
    type Target = AnyRemap;

    fn deref(&self) -> &AnyRemap {
        &self.table
    }
}

impl<K: ArenaKey> Default for Remap<K> {
    /// The table of compacting an empty arena: every key maps to `None`.
    ///
    /// ```
    /// let remap: epoch_arena::Remap = Default::default();
    /// assert_eq!((remap.live(), remap.moved()), (0, 0));
    /// ```
    fn default() -> Self {
        AnyRemap::new(Vec::new(), Vec::new()).typed()
    }
}

impl<K> Clone for Remap<K> {
    fn clone(&self) -> Self {
        Remap {
            table: self.table.clone(),
            _key: PhantomData,
        }
    }
}

impl<K> PartialEq for Remap<K> {
    fn eq(&self, other: &Self) -> bool {
        self.table == other.table
    }
}

impl<K> Eq for Remap<K> {}

impl<K> fmt::Debug for Remap<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remap")
            .field("live", &self.table.live.len())
            .field("moved", &self.table.moved.len())
            .finish()
    }
}

impl fmt::Debug for AnyRemap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnyRemap")
            .field("live", &self.live.len())
            .field("moved", &self.moved.len())
            .finish()
    }
}
