//! [`Key`]: a slot index and a generation packed in one 64-bit word.
//!
//! Layout of [`Key::to_bits`]: the index in the high 32 bits, the generation in the low 32.
//! Keys therefore order by index first, which is also the order [`Arena::iter`] yields them.
//!
//! The generation of every key an arena hands out is `≡ 1 (mod 4)` (see the slot state
//! machine in `slot.rs`), so it is never zero: `Key` wraps a `NonZeroU64` and `Option<Key>`
//! is 8 bytes. [`Key::from_bits`] accepts exactly the words some arena could have produced.
//!
//! [`Arena::iter`]: crate::Arena::iter

use core::fmt;
use core::num::NonZeroU64;

/// A handle to a value in an [`Arena`](crate::Arena): slot index plus generation, 8 bytes.
///
/// # What a key promises
///
/// A key names one insertion. While that value is in the arena, [`Arena::get`] with the key
/// returns it. Once the value is removed (by [`remove`], [`take`], [`retain`], [`clear`],
/// [`drain`] or a garbage collection), the key is *stale* forever: every lookup returns
/// `None`, even after the slot is reused for another value, because reuse bumps the slot's
/// generation, and a slot whose 32-bit generation would wrap is retired instead of reused.
/// A stale key can never read a wrong value.
///
/// A key carries no arena identity: a key of one arena used with another arena names
/// whatever that arena has at the same index and generation (like `slotmap`). Keep keys with
/// the arena they came from. To have such mix-ups found rather than silently answered,
/// build arenas with [`Builder::distinct_keys`](crate::Builder::distinct_keys): their
/// generations start from a per-arena base, so another arena's key practically never
/// matches.
///
/// ```
/// use epoch_arena::{Arena, Key};
///
/// let arena = Arena::new();
/// let key = arena.insert("hello");
/// assert_eq!(std::mem::size_of::<Key>(), 8);
/// assert_eq!(std::mem::size_of::<Option<Key>>(), 8);
/// assert_eq!(Key::from_bits(key.to_bits()), Some(key));
/// assert!(arena.remove(key));
/// assert!(!arena.contains(key)); // stale forever
/// ```
///
/// [`Arena::get`]: crate::Arena::get
/// [`remove`]: crate::Arena::remove
/// [`take`]: crate::Arena::take
/// [`retain`]: crate::Arena::retain
/// [`clear`]: crate::Arena::clear
/// [`drain`]: crate::Arena::drain
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct Key(NonZeroU64);

impl Key {
    /// Packs an index and an occupied generation. `generation` must be `≡ 1 (mod 4)`.
    #[inline]
    pub(crate) fn new(index: u32, generation: u32) -> Key {
        debug_assert_eq!(generation & 3, 1, "keys carry occupied generations");
        let bits = (u64::from(index) << 32) | u64::from(generation);
        // `generation` is odd, so `bits` is never zero; `from_bits` would also work but
        // this is on the insert path.
        match NonZeroU64::new(bits) {
            Some(nz) => Key(nz),
            None => unreachable!("an odd generation is never zero"),
        }
    }

    /// The key as one 64-bit word: `index << 32 | generation`.
    ///
    /// ```
    /// # let arena = epoch_arena::Arena::new();
    /// let key = arena.insert(1u8);
    /// assert_eq!(key.to_bits() >> 32, u64::from(key.index()));
    /// assert_eq!(key.to_bits() as u32, key.generation());
    /// ```
    #[inline]
    pub fn to_bits(self) -> u64 {
        self.0.get()
    }

    /// Rebuilds a key from [`to_bits`](Key::to_bits).
    ///
    /// Returns `None` for words no arena ever hands out (a generation that is not
    /// `≡ 1 (mod 4)`, including zero). Any other word is accepted: looking it up in an arena
    /// is always safe and finds a value only if that exact index and generation is live.
    ///
    /// ```
    /// use epoch_arena::{Arena, Key};
    ///
    /// assert_eq!(Key::from_bits(0), None);
    /// assert_eq!(Key::from_bits(2), None); // generation 2 is never handed out
    /// let made_up = Key::from_bits((7 << 32) | 5).unwrap();
    /// let arena: Arena<u32> = Arena::new();
    /// let guard = epoch_arena::pin();
    /// assert_eq!(arena.get(made_up, &guard), None);
    /// ```
    #[inline]
    pub fn from_bits(bits: u64) -> Option<Key> {
        if bits as u32 & 3 == 1 {
            NonZeroU64::new(bits).map(Key)
        } else {
            None
        }
    }

    /// The slot index.
    ///
    /// ```
    /// # let arena = epoch_arena::Arena::new();
    /// let a = arena.insert('a');
    /// let b = arena.insert('b');
    /// assert_ne!(a.index(), b.index());
    /// ```
    #[inline]
    pub fn index(self) -> u32 {
        (self.0.get() >> 32) as u32
    }

    /// The slot generation at insertion (always `≡ 1 (mod 4)`).
    ///
    /// ```
    /// # let arena = epoch_arena::Arena::new();
    /// let key = arena.insert(());
    /// assert_eq!(key.generation() % 4, 1);
    /// ```
    #[inline]
    pub fn generation(self) -> u32 {
        self.0.get() as u32
    }
}

impl fmt::Debug for Key {
    /// `Key(3v5)`: index 3, generation 5.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({}v{})", self.index(), self.generation())
    }
}

impl From<Key> for u64 {
    fn from(key: Key) -> u64 {
        key.to_bits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips() {
        for &(i, g) in &[(0, 1), (1, 5), (u32::MAX - 1, 0xFFFF_FFFD), (12345, 9)] {
            let k = Key::new(i, g);
            assert_eq!((k.index(), k.generation()), (i, g));
            assert_eq!(Key::from_bits(k.to_bits()), Some(k));
        }
    }

    #[test]
    fn from_bits_rejects_impossible_generations() {
        for g in [0u32, 2, 3, 4, 6, 7, u32::MAX] {
            assert_eq!(Key::from_bits((9 << 32) | u64::from(g)), None, "gen {g}");
        }
        assert!(Key::from_bits(1).is_some());
    }

    #[test]
    fn ordering_is_index_first() {
        assert!(Key::new(1, 9) < Key::new(2, 1));
        assert!(Key::new(1, 1) < Key::new(1, 5));
        assert_eq!(format!("{:?}", Key::new(3, 5)), "Key(3v5)");
    }
}
