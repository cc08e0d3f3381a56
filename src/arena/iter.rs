//! Iterators over an arena's values, all on one [`Cursor`] over its slots.

use super::{Arena, Guard};
use crate::key::Key;
use crate::raw::chunk::{chunk_start, locate, ChunkDir};
use crate::raw::slot::{self, SlotRef};
use crate::raw::FreeSink;
use crate::sync::Ordering;
use core::fmt;
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
pub struct Iter<'g, T> {
    dir: &'g ChunkDir<T>,
    cursor: Cursor,
    _guard: PhantomData<&'g Guard>,
}

impl<'g, T> Iter<'g, T> {
    pub(crate) fn new(dir: &'g ChunkDir<T>, high_water: u64, _guard: &'g Guard) -> Self {
        Iter {
            dir,
            cursor: Cursor::new(high_water),
            _guard: PhantomData,
        }
    }
}

impl<'g, T> Iterator for Iter<'g, T> {
    type Item = (Key, &'g T);

    fn next(&mut self) -> Option<(Key, &'g T)> {
        // Acquire pairs with the inserter's Release, as in `get`.
        let (index, slot, state) = self.cursor.next_occupied(self.dir, Ordering::Acquire)?;
        // SAFETY: as in `Arena::get`: OCCUPIED when loaded under a guard that lives for 'g,
        // so the value stays initialised and unmoved for 'g.
        Some((Key::new(index, state), unsafe { slot.value_ref() }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.cursor.remaining()))
    }
}

impl<T> fmt::Debug for Iter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter")
            .field("cursor", &self.cursor)
            .finish()
    }
}

/// Live values with their keys, mutably: [`Arena::iter_mut`].
pub struct IterMut<'a, T> {
    dir: &'a ChunkDir<T>,
    cursor: Cursor,
    _unique: PhantomData<&'a mut T>,
}

impl<'a, T: Send + Sync> IterMut<'a, T> {
    pub(crate) fn new(arena: &'a mut Arena<T>) -> Self {
        let inner = arena.inner();
        IterMut {
            dir: &inner.dir,
            cursor: Cursor::new(inner.high_water()),
            _unique: PhantomData,
        }
    }
}

impl<'a, T> Iterator for IterMut<'a, T> {
    type Item = (Key, &'a mut T);

    fn next(&mut self) -> Option<(Key, &'a mut T)> {
        let (index, slot, state) = self.cursor.next_occupied(self.dir, Ordering::Relaxed)?;
        // SAFETY: OCCUPIED; the iterator borrows the arena mutably for 'a, and the cursor
        // visits each slot once, so the `&mut`s never alias.
        Some((Key::new(index, state), unsafe { slot.value_mut() }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.cursor.remaining()))
    }
}

impl<T> fmt::Debug for IterMut<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IterMut")
            .field("cursor", &self.cursor)
            .finish()
    }
}

/// Removes and yields every value: [`Arena::drain`]. Dropping it early drops the rest.
pub struct Drain<'a, T> {
    dir: &'a ChunkDir<T>,
    cursor: Cursor,
    sink: FreeSink<'a>,
    _unique: PhantomData<&'a mut T>,
}

impl<'a, T: Send + Sync> Drain<'a, T> {
    pub(crate) fn new(arena: &'a mut Arena<T>) -> Self {
        let inner = arena.inner();
        Drain {
            dir: &inner.dir,
            cursor: Cursor::new(inner.high_water()),
            sink: FreeSink::new(&inner.anchor),
            _unique: PhantomData,
        }
    }
}

impl<T> Iterator for Drain<'_, T> {
    type Item = (Key, T);

    fn next(&mut self) -> Option<(Key, T)> {
        let (index, slot, state) = self.cursor.next_occupied(self.dir, Ordering::Relaxed)?;
        let next = slot::freed(state);
        slot.state.store(next, Ordering::Relaxed);
        self.sink.free(index, next);
        // SAFETY: OCCUPIED and exclusively ours (the arena is borrowed mutably); the state
        // says FREE now, so the value is moved out exactly once.
        Some((Key::new(index, state), unsafe { slot.read() }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.cursor.remaining()))
    }
}

impl<T> Drop for Drain<'_, T> {
    fn drop(&mut self) {
        // Each value is unlinked before it is dropped, so a panicking drop leaves the arena
        // consistent (the rest stay in it).
        for item in self.by_ref() {
            drop(item);
        }
    }
}

impl<T> fmt::Debug for Drain<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Drain")
            .field("cursor", &self.cursor)
            .finish()
    }
}
