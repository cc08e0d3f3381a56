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
//! [`Arena::compact`]: crate::Arena::compact

use crate::key::Key;
use core::fmt;

/// The forwarding table of one compaction: where each value that was live before it is now.
///
/// Made by [`Arena::compact`](crate::Arena::compact) and
/// [`Arena::compact_with`](crate::Arena::compact_with). Keys held inside the arena's values are
/// rewritten through it by `compact_with` (see [`Relocate`](crate::Relocate)); keys held
/// anywhere else are the caller's to rewrite with [`get`](Remap::get).
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
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Remap {
    /// The generation of slot `i`, live, after the compaction; `i < n`.
    live: Vec<u32>,
    /// `(old, new)` for every moved value, sorted by old index (all at or above `n`).
    moved: Vec<(Key, Key)>,
}

impl Remap {
    /// A table from the generations of slots `0..n` and the moved pairs (sorted by old
    /// index, all at or above `n`).
    pub(crate) fn new(live: Vec<u32>, moved: Vec<(Key, Key)>) -> Self {
        debug_assert!(moved.windows(2).all(|w| w[0].0 < w[1].0));
        debug_assert!(moved
            .first()
            .is_none_or(|(old, _)| old.index() as usize >= live.len()));
        Remap { live, moved }
    }

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
    pub fn get(&self, old: Key) -> Option<Key> {
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
    pub fn moves(&self) -> impl ExactSizeIterator<Item = (Key, Key)> + '_ {
        self.moved.iter().copied()
    }
}

impl fmt::Debug for Remap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remap")
            .field("live", &self.live.len())
            .field("moved", &self.moved.len())
            .finish()
    }
}
