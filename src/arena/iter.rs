//! Iterators over an arena's values, all on one [`Cursor`] over its slots.

use super::{Arena, Guard};
use crate::key::Key;
use crate::key_type::ArenaKey;
use crate::raw::chunk::{chunk_start, locate, ChunkDir};
use crate::raw::slot::{self, SlotRef};
use crate::raw::FreeSink;
use crate::sync::Ordering;
use core::fmt;
use core::iter::FusedIterator;
use core::marker::PhantomData;

/// Walks slot indices `0..end`, skipping chunks that were never allocated.
#[derive(Debug, Clone)]
pub(crate) struct Cursor {
    next: u64,
    end: u64,
}

impl Cursor {
    pub(crate) fn new(end: u64) -> Self {
        Cursor { next: 0, end }
    }

    /// Walks slot indices `start..end` only (for the parallel iterators, which split the
    /// index space into ranges).
    #[cfg(feature = "rayon")]
    pub(crate) fn range(start: u64, end: u64) -> Self {
        Cursor { next: start, end }
    }

    #[inline]
    pub(crate) fn next_slot<'d, T>(
        &mut self,
        dir: &'d ChunkDir<T>,
    ) -> Option<(u32, SlotRef<'d, T>)> {
        while self.next < self.end {
            let (chunk, offset) = locate(self.next as u32);
            match dir.chunk(chunk) {
                None => self.next = chunk_start(chunk + 1),
                Some(c) => {
                    let index = self.next as u32;
                    self.next += 1;
                    return Some((index, c.slot(offset)));
                }
            }
        }
        None
    }

    /// The next OCCUPIED slot, with its index and its state loaded with `order`.
    #[inline]
    pub(crate) fn next_occupied<'d, T>(
        &mut self,
        dir: &'d ChunkDir<T>,
        order: Ordering,
    ) -> Option<(u32, SlotRef<'d, T>, u32)> {
        while let Some((index, slot)) = self.next_slot(dir) {
            let state = slot.state.load(order);
            if slot::is_occupied(state) {
                return Some((index, slot, state));
            }
        }
        None
    }

    fn remaining(&self) -> usize {
        self.end.saturating_sub(self.next) as usize
    }
}

/// Live values with their keys, borrowed for a guard's life: [`Arena::iter`].
pub struct Iter<'g, T, K = Key> {
    dir: &'g ChunkDir<T>,
    cursor: Cursor,
    _guard: PhantomData<&'g Guard>,
    _key: PhantomData<fn() -> K>,
}

impl<'g, T, K> Iter<'g, T, K> {
    pub(crate) fn new(dir: &'g ChunkDir<T>, high_water: u64, _guard: &'g Guard) -> Self {
        Iter {
            dir,
            cursor: Cursor::new(high_water),
            _guard: PhantomData,
            _key: PhantomData,
        }
    }

    /// The live values of slot indices `start..end` only (for
    /// [`Arena::par_for_each`], which walks the index space in ranges).
    #[cfg(feature = "rayon")]
    pub(crate) fn range(dir: &'g ChunkDir<T>, start: u64, end: u64, _guard: &'g Guard) -> Self {
        Iter {
            dir,
            cursor: Cursor::range(start, end),
            _guard: PhantomData,
            _key: PhantomData,
        }
    }
}

impl<'g, T, K: ArenaKey> Iterator for Iter<'g, T, K> {
    type Item = (K, &'g T);

    fn next(&mut self) -> Option<(K, &'g T)> {
        // Acquire pairs with the inserter's Release, as in `get`.
        let (index, slot, state) = self.cursor.next_occupied(self.dir, Ordering::Acquire)?;
        // SAFETY: as in `Arena::get`: OCCUPIED when loaded under a guard that lives for 'g,
        // so the value stays initialised and unmoved for 'g.
        Some((K::from_key(Key::new(index, state)), unsafe {
            slot.value_ref()
        }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.cursor.remaining()))
    }
}

/// Once the cursor passes the end it stays there.
impl<T, K: ArenaKey> FusedIterator for Iter<'_, T, K> {}

/// A copy of the iterator at its position, under the same guard.
impl<T, K> Clone for Iter<'_, T, K> {
    fn clone(&self) -> Self {
        Iter {
            dir: self.dir,
            cursor: self.cursor.clone(),
            _guard: PhantomData,
            _key: PhantomData,
        }
    }
}

impl<T, K> fmt::Debug for Iter<'_, T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter")
            .field("cursor", &self.cursor)
            .finish()
    }
}

/// Live values with their keys, mutably: [`Arena::iter_mut`].
pub struct IterMut<'a, T, K = Key> {
    dir: &'a ChunkDir<T>,
    cursor: Cursor,
    /// Live values not yet yielded: exact, since `&mut` excludes every other change.
    left: usize,
    _unique: PhantomData<&'a mut T>,
    _key: PhantomData<fn() -> K>,
}

impl<'a, T: Send + Sync, K: ArenaKey> IterMut<'a, T, K> {
    pub(crate) fn new(arena: &'a mut Arena<T, K>) -> Self {
        let left = arena.len();
        let inner = arena.inner();
        IterMut {
            dir: &inner.dir,
            cursor: Cursor::new(inner.high_water()),
            left,
            _unique: PhantomData,
            _key: PhantomData,
        }
    }
}

impl<'a, T, K: ArenaKey> Iterator for IterMut<'a, T, K> {
    type Item = (K, &'a mut T);

    fn next(&mut self) -> Option<(K, &'a mut T)> {
        let (index, slot, state) = self.cursor.next_occupied(self.dir, Ordering::Relaxed)?;
        self.left = self.left.saturating_sub(1);
        // SAFETY: OCCUPIED; the iterator borrows the arena mutably for 'a, and the cursor
        // visits each slot once, so the `&mut`s never alias.
        Some((K::from_key(Key::new(index, state)), unsafe {
            slot.value_mut()
        }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

/// The count is the arena's `len`, exact under `&mut`.
impl<T, K: ArenaKey> ExactSizeIterator for IterMut<'_, T, K> {}

impl<T, K: ArenaKey> FusedIterator for IterMut<'_, T, K> {}

impl<T, K> fmt::Debug for IterMut<'_, T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IterMut")
            .field("cursor", &self.cursor)
            .finish()
    }
}

/// Removes and yields every value: [`Arena::drain`]. Dropping it early drops the rest.
pub struct Drain<'a, T, K = Key> {
    dir: &'a ChunkDir<T>,
    cursor: Cursor,
    sink: FreeSink<'a>,
    /// Live values not yet taken: exact, since `&mut` excludes every other change.
    left: usize,
    _unique: PhantomData<&'a mut T>,
    _key: PhantomData<fn() -> K>,
}

impl<'a, T: Send + Sync, K: ArenaKey> Drain<'a, T, K> {
    pub(crate) fn new(arena: &'a mut Arena<T, K>) -> Self {
        let left = arena.len();
        let inner = arena.inner();
        Drain {
            dir: &inner.dir,
            cursor: Cursor::new(inner.high_water()),
            sink: FreeSink::new(&inner.anchor),
            left,
            _unique: PhantomData,
            _key: PhantomData,
        }
    }
}

impl<T, K> Drain<'_, T, K> {
    /// The next value, unlinked from its slot, with its untyped key.
    fn next_raw(&mut self) -> Option<(Key, T)> {
        let (index, slot, state) = self.cursor.next_occupied(self.dir, Ordering::Relaxed)?;
        self.left = self.left.saturating_sub(1);
        let next = slot::freed(state);
        slot.state.store(next, Ordering::Relaxed);
        self.sink.free(index, next);
        // SAFETY: OCCUPIED and exclusively ours (the arena is borrowed mutably); the state
        // says FREE now, so the value is moved out exactly once.
        Some((Key::new(index, state), unsafe { slot.read() }))
    }
}

impl<T, K: ArenaKey> Iterator for Drain<'_, T, K> {
    type Item = (K, T);

    #[inline]
    fn next(&mut self) -> Option<(K, T)> {
        self.next_raw()
            .map(|(key, value)| (K::from_key(key), value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

/// The count is the arena's `len`, exact under `&mut`.
impl<T, K: ArenaKey> ExactSizeIterator for Drain<'_, T, K> {}

impl<T, K: ArenaKey> FusedIterator for Drain<'_, T, K> {}

impl<T, K> Drop for Drain<'_, T, K> {
    fn drop(&mut self) {
        // Each value is unlinked before it is dropped, so a panicking drop leaves the arena
        // consistent (the rest stay in it).
        while let Some(item) = self.next_raw() {
            drop(item);
        }
    }
}

impl<T, K> fmt::Debug for Drain<'_, T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Drain")
            .field("cursor", &self.cursor)
            .finish()
    }
}

/// The keys of an arena's values, in index order ([`Arena::keys`]); as [`Iter`].
pub struct Keys<'g, T, K = Key> {
    iter: Iter<'g, T, K>,
}

impl<'g, T, K: ArenaKey> Keys<'g, T, K> {
    pub(crate) fn new(iter: Iter<'g, T, K>) -> Self {
        Keys { iter }
    }
}

impl<T, K: ArenaKey> Iterator for Keys<'_, T, K> {
    type Item = K;

    #[inline]
    fn next(&mut self) -> Option<K> {
        self.iter.next().map(|(key, _)| key)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

impl<T, K: ArenaKey> FusedIterator for Keys<'_, T, K> {}

impl<T, K> Clone for Keys<'_, T, K> {
    fn clone(&self) -> Self {
        Keys {
            iter: self.iter.clone(),
        }
    }
}

impl<T, K> fmt::Debug for Keys<'_, T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Keys").field(&self.iter).finish()
    }
}

/// The values of an arena, in index order ([`Arena::values`]); as [`Iter`].
pub struct Values<'g, T, K = Key> {
    iter: Iter<'g, T, K>,
}

impl<'g, T, K: ArenaKey> Values<'g, T, K> {
    pub(crate) fn new(iter: Iter<'g, T, K>) -> Self {
        Values { iter }
    }
}

impl<'g, T, K: ArenaKey> Iterator for Values<'g, T, K> {
    type Item = &'g T;

    #[inline]
    fn next(&mut self) -> Option<&'g T> {
        self.iter.next().map(|(_, value)| value)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

impl<T, K: ArenaKey> FusedIterator for Values<'_, T, K> {}

impl<T, K> Clone for Values<'_, T, K> {
    fn clone(&self) -> Self {
        Values {
            iter: self.iter.clone(),
        }
    }
}

impl<T, K> fmt::Debug for Values<'_, T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Values").field(&self.iter).finish()
    }
}

/// The values of an arena, mutably, in index order ([`Arena::values_mut`]); exact size.
pub struct ValuesMut<'a, T, K = Key> {
    iter: IterMut<'a, T, K>,
}

impl<'a, T: Send + Sync, K: ArenaKey> ValuesMut<'a, T, K> {
    pub(crate) fn new(iter: IterMut<'a, T, K>) -> Self {
        ValuesMut { iter }
    }
}

impl<'a, T, K: ArenaKey> Iterator for ValuesMut<'a, T, K> {
    type Item = &'a mut T;

    #[inline]
    fn next(&mut self) -> Option<&'a mut T> {
        self.iter.next().map(|(_, value)| value)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

impl<T, K: ArenaKey> ExactSizeIterator for ValuesMut<'_, T, K> {}

impl<T, K: ArenaKey> FusedIterator for ValuesMut<'_, T, K> {}

impl<T, K> fmt::Debug for ValuesMut<'_, T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ValuesMut").field(&self.iter).finish()
    }
}

/// The arena's values with their keys, by value, in index order: the arena's owning
/// iterator (`for (key, value) in arena`). Exact size. Values not yet yielded are dropped
/// with the iterator.
pub struct IntoIter<T, K = Key> {
    /// Each slot yielded is marked FREE before its value moves out, so that the arena's
    /// `Drop` drops exactly the values not yet yielded.
    arena: Arena<T, K>,
    cursor: Cursor,
    left: usize,
}

impl<T: Send + Sync, K: ArenaKey> IntoIter<T, K> {
    pub(crate) fn new(arena: Arena<T, K>) -> Self {
        let left = arena.len();
        let cursor = Cursor::new(arena.inner().high_water());
        IntoIter {
            arena,
            cursor,
            left,
        }
    }
}

impl<T, K: ArenaKey> Iterator for IntoIter<T, K> {
    type Item = (K, T);

    fn next(&mut self) -> Option<(K, T)> {
        let dir = &self.arena.inner().dir;
        // Relaxed: the iterator owns the arena; nothing else reaches it.
        let (index, slot, state) = self.cursor.next_occupied(dir, Ordering::Relaxed)?;
        self.left = self.left.saturating_sub(1);
        slot.state.store(slot::freed(state), Ordering::Relaxed);
        // SAFETY: OCCUPIED and exclusively ours (the arena is owned); the state says FREE
        // now, so the value is moved out exactly once and the arena's `Drop` skips it.
        let value = unsafe { slot.read() };
        Some((K::from_key(Key::new(index, state)), value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

/// The count is the arena's `len`, exact for an owned arena.
impl<T, K: ArenaKey> ExactSizeIterator for IntoIter<T, K> {}

impl<T, K: ArenaKey> FusedIterator for IntoIter<T, K> {}

impl<T, K> fmt::Debug for IntoIter<T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoIter")
            .field("cursor", &self.cursor)
            .field("left", &self.left)
            .finish()
    }
}
