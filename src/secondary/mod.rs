//! Secondary maps: extra data for an arena's keys, stored by slot index, kept apart from the
//! arena.
//!
//! An arena's value type is fixed, but a program often wants data of its own about some of
//! the values: a layout box per DOM node, a computed style, a visited flag. A secondary map
//! keys that data with the arena's keys, densely by slot index, so a lookup is an index and a
//! compare (no hashing), and matches the **whole key**: an entry belongs to one generation
//! of its index, so a stale key never finds the data of the key that replaced it.
//!
//! * [`SecondaryMap`] is owned and edited through `&mut` (slotmap's `SecondaryMap`), with
//!   the entry API ([`Entry`], [`OccupiedEntry`], [`VacantEntry`]) and the iterators in
//!   this module.
//! * [`SharedSecondaryMap`] is concurrent: threads insert, remove and read through `&self`,
//!   lock-free, and reads borrow a [`Guard`](crate::Guard) as the arena's do.
//!
//! In both, an entry for an index is replaced by an insertion with the same or a *newer*
//! generation of the index; an insertion with an *older* generation (a stale key) never
//! overwrites its successor's entry.
//!
//! ```
//! use epoch_arena::{pin, Arena, SecondaryMap, SharedSecondaryMap};
//!
//! let mut arena = Arena::new();
//! let a = arena.insert("a");
//! let mut owned = SecondaryMap::new();
//! let shared = SharedSecondaryMap::new();
//! owned.insert(a, 1);
//! shared.insert(a, 1).unwrap();
//!
//! arena.take(a);
//! let b = arena.insert("b"); // may reuse a's slot, with a newer generation
//! owned.insert(b, 2);
//! shared.insert(b, 2).unwrap();
//! assert_eq!((owned.get(b), shared.get(b, &pin())), (Some(&2), Some(&2)));
//! if a.index() == b.index() {
//!     // b's entry replaced a's; a's key finds nothing, and cannot write over b's.
//!     assert_eq!(owned.get(a), None);
//!     assert_eq!(owned.insert(a, 3), None);
//!     assert_eq!(owned[b], 2);
//!     assert_eq!(shared.insert(a, 3), Err(3));
//! }
//! ```

mod owned;
mod shared;

pub use self::owned::{
    Drain, Entry, IntoIter, Iter, IterMut, Keys, OccupiedEntry, SecondaryMap, VacantEntry, Values,
    ValuesMut,
};
pub use self::shared::{SharedIter, SharedIterMut, SharedSecondaryMap};
