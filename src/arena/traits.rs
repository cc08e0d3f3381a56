//! The std traits of [`Arena`]: `Clone` (keys stay valid in the clone), `FromIterator`,
//! `Extend`, and `IntoIterator` by value and by `&mut`. There is no `IntoIterator for
//! &Arena`: the items would borrow a guard the iterator itself owns, which a `&'a T` could
//! outlive; [`Arena::iter`] takes the guard from the caller.

use super::{Arena, Builder, IntoIter, IterMut};
use crate::key_type::ArenaKey;
use crate::raw::persist::{Restorer, SlotImage};

/// A copy of the arena in which **every key keeps its meaning**: a key live here finds an
/// equal value in the clone, a dead key stays dead there, and the clone never issues a key
/// this arena ever issued (it copies every slot's generation, the floor and the key space
/// limit, as [persistence](crate::implementation#persistence) does). The clone gets this
/// arena's [`Pacing`](crate::Pacing), none of its roots, and memory only for the slots in
/// use.
///
/// Like [`iter`](Arena::iter), each slot is read once: values inserted or removed by other
/// threads during the clone may or may not be in it. If `T::clone` panics, the partial
/// clone is dropped and this arena is unchanged.
///
/// ```
/// let arena = epoch_arena::Arena::new();
/// let a = arena.insert(String::from("a"));
/// let b = arena.insert(String::from("b"));
/// arena.remove(a);
/// let copy = arena.clone();
/// let guard = epoch_arena::pin();
/// assert_eq!(copy.get(b, &guard).map(String::as_str), Some("b"));
/// assert_eq!(copy.get(a, &guard), None); // dead here, dead there
/// let c = copy.insert(String::from("c"));
/// assert_ne!(c, a); // never reissued
/// ```
impl<T: Clone + Send + Sync, K: ArenaKey> Clone for Arena<T, K> {
    fn clone(&self) -> Self {
        let head = self.image_head();
        let pacing = *self.inner().collector.pacer().policy();
        let copy: Arena<T, K> = Builder::new()
            .max_slots(head.max_slots)
            .pacing(pacing)
            .build();
        {
            let mut restorer = match Restorer::new(copy.inner(), head.floor) {
                Ok(restorer) => restorer,
                Err(why) => unreachable!("an arena's own floor is refused: {why}"),
            };
            let copied = self.walk_image(head.slots, |_, image| match image {
                SlotImage::Live(generation, value) => restorer.live_slot(generation, value.clone()),
                SlotImage::Free(state) => restorer.free_slot(state),
                SlotImage::Retired => restorer.retired_slot(),
            });
            if let Err(why) = copied {
                unreachable!("an arena's own image is refused: {why}");
            }
            restorer.finish();
        }
        copy
    }
}

/// An arena of the values ([`insert_many`](Arena::insert_many) into a new arena, with the
/// iterator's size hint as the capacity). Which slot each value gets is not specified.
///
/// ```
/// use epoch_arena::Arena;
///
/// let arena: Arena<char> = "abc".chars().collect();
/// let mut values: Vec<char> = arena.values(&epoch_arena::pin()).copied().collect();
/// values.sort();
/// assert_eq!(values, ['a', 'b', 'c']);
/// ```
impl<T: Send + Sync, K: ArenaKey> FromIterator<T> for Arena<T, K> {
    fn from_iter<I: IntoIterator<Item = T>>(values: I) -> Self {
        let values = values.into_iter();
        let arena: Arena<T, K> = Builder::new().capacity(values.size_hint().0).build();
        arena.insert_many(values);
        arena
    }
}

/// Inserts every value ([`insert_many`](Arena::insert_many), without the keys).
///
/// # Panics
/// If the key space fills up (as [`insert`](Arena::insert)); the values inserted before
/// stay.
///
/// ```
/// let mut arena = epoch_arena::Arena::new();
/// arena.insert(0);
/// arena.extend(1..4);
/// assert_eq!(arena.len(), 4);
/// ```
impl<T: Send + Sync, K: ArenaKey> Extend<T> for Arena<T, K> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, values: I) {
        self.insert_many(values);
    }
}

/// The values with their keys, by value, in index order.
///
/// ```
/// let arena = epoch_arena::Arena::new();
/// let a = arena.insert("a");
/// let b = arena.insert("b");
/// let all: Vec<_> = arena.into_iter().collect();
/// assert_eq!(all, [(a, "a"), (b, "b")]);
/// ```
impl<T: Send + Sync, K: ArenaKey> IntoIterator for Arena<T, K> {
    type Item = (K, T);
    type IntoIter = IntoIter<T, K>;

    fn into_iter(self) -> IntoIter<T, K> {
        IntoIter::new(self)
    }
}

/// [`iter_mut`](Arena::iter_mut).
impl<'a, T: Send + Sync, K: ArenaKey> IntoIterator for &'a mut Arena<T, K> {
    type Item = (K, &'a mut T);
    type IntoIter = IterMut<'a, T, K>;

    fn into_iter(self) -> IterMut<'a, T, K> {
        self.iter_mut()
    }
}
