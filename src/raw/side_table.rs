//! The side table: the unsafe core of [`SharedSecondaryMap`](crate::SharedSecondaryMap),
//! a concurrent map from slot index to one boxed `(key, value)` entry.
//!
//! # Protocol
//!
//! * **Layout.** Index `i` lives in a pointer cell of a chunk, with the same chunk geometry
//!   as the arena's slots (`raw/chunk.rs`: chunk `k` holds `BASE << k` cells, found by one
//!   bit scan). A cell holds null (no entry) or a pointer to a heap [`Entry`]: the full key
//!   (index and generation) and the value. Chunks are allocated zeroed (all cells null) the
//!   first time an insertion needs them, and published with one `compare_exchange(null →
//!   chunk, AcqRel, Acquire)`; the loser of a race frees its own copy, which nobody saw.
//!   Chunks are freed only by `Drop`.
//! * **Entries are immutable.** An entry is written completely before it is published and
//!   never written again while shared: an insertion *replaces* the cell's pointer with a new
//!   entry, a removal replaces it with null, each with one CAS. A reader therefore sees an
//!   old entry or a new one, whole.
//! * **Get**: load the cell with `Acquire` (pairs with the publishing CAS's `Release`, so the
//!   entry's contents are visible), and return the value only if the entry's key equals the
//!   key asked for, all bits: another generation of the index is another key.
//! * **Insert**: under a pin, load the cell; if it holds an entry of a *newer* generation of
//!   the index, refuse (the new entry was never published and is handed back); otherwise CAS
//!   the cell from what was loaded to the new entry, retrying on a lost race with the fresh
//!   value.
//! * **Remove**: under a pin, load the cell; if it holds an entry of exactly the key, CAS it
//!   to null (retrying while the cell still holds an entry of that key).
//! * **Reclamation.** The winner of a CAS that unlinks an entry (replace or remove) owns it,
//!   and retires it with `defer_unchecked` on the default epoch collector: it is dropped only
//!   after every guard pinned before the unlink is gone. A reader that loaded the pointer
//!   did so under such a guard, so every `&V` handed out stays valid for its guard's life.
//!   Each entry is unlinked by exactly one successful CAS (a CAS from a pointer succeeds
//!   once: a new entry is a new allocation, and its address cannot be reused before the old
//!   entry at that address is freed, after every guard that could hold it), so each value is
//!   dropped exactly once: by its retirement, by a `&mut` method that takes it out of its
//!   cell, or by `Drop` of the table, which frees what is still in the cells.
//! * **`&mut` methods** (`get_mut`, `take`, `clear`, `iter_mut`) need no pin and free at
//!   once: `&mut` means no `&V` borrowed from this table is alive, and entries in cells are
//!   never also waiting in the epoch collector.
//! * **Length.** A counter: +1 for a CAS from null, −1 for a CAS to null. Relaxed, since
//!   nothing is published through it; exact when no operation is in flight.

use super::chunk::{chunk_len, locate, NUM_CHUNKS};
use crate::key::Key;
use crate::sync::{alloc, AtomicIsize, AtomicPtr, Ordering};
use core::marker::PhantomData;
use core::ptr;
use crossbeam_epoch::Guard;

/// One published entry: the whole key and its value. Immutable while shared.
struct Entry<V> {
    key: Key,
    value: V,
}

/// A cell of a chunk: null, or an [`Entry`] from `Box::into_raw`.
type Cell<V> = AtomicPtr<Entry<V>>;

/// The concurrent side table (see the module docs).
pub(crate) struct SideTable<V> {
    /// Chunk `k`'s cells, or null.
    dir: [AtomicPtr<Cell<V>>; NUM_CHUNKS],
    /// Cells holding an entry (see "Length").
    len: AtomicIsize,
    /// The table owns its entries (drop check), and opts out of the auto traits, which are
    /// implemented below with their reasons.
    _owns: PhantomData<(Box<Entry<V>>, *const ())>,
}

// SAFETY: the table owns its `V`s (in boxes it frees), so sending it sends them: `V: Send`.
unsafe impl<V: Send> Send for SideTable<V> {}

// SAFETY: through `&SideTable` a thread reads `&V` (`V: Sync`), and drops `V`s other
// threads inserted, possibly in the epoch collector on a third thread (`V: Send`).
unsafe impl<V: Send + Sync> Sync for SideTable<V> {}

/// A new chunk of null cells.
fn new_chunk<V>(chunk: usize) -> *mut Cell<V> {
    // SAFETY: a null `AtomicPtr` is all-zero bytes, equal to `AtomicPtr::new(null)`.
    let base =
        unsafe { alloc::try_new_zeroed(chunk_len(chunk), || Cell::<V>::new(ptr::null_mut())) };
    match base {
        Ok(base) => base,
        // The largest chunk holds 2^31 pointers: 16 GiB, well below `isize::MAX`.
        Err(alloc::NoMemory::TooLarge) => unreachable!("a chunk of pointers fits in isize"),
        Err(alloc::NoMemory::Failed(layout)) => std::alloc::handle_alloc_error(layout),
    }
}

/// # Safety
/// `base` came from `new_chunk::<V>(chunk)` and is not used afterwards; its cells own nothing
/// any more.
unsafe fn free_chunk<V>(base: *mut Cell<V>, chunk: usize) {
    // SAFETY: the caller's contract.
    unsafe { alloc::free(base, chunk_len(chunk)) };
}

impl<V> SideTable<V> {
    pub(crate) fn new() -> Self {
        SideTable {
            dir: core::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            len: AtomicIsize::new(0),
            _owns: PhantomData,
        }
    }

    /// The cell of `index`, if its chunk exists.
    #[inline]
    fn cell(&self, index: u32) -> Option<&Cell<V>> {
        let (chunk, offset) = locate(index);
        // Acquire pairs with the publishing CAS in `cell_or_alloc`: the null cells are
        // visible.
        let base = self.dir[chunk].load(Ordering::Acquire);
        if base.is_null() {
            return None;
        }
        // SAFETY: `base` is a published chunk of `chunk_len(chunk)` cells, `offset` is below
        // that (`locate`), and chunks live as long as the table.
        Some(unsafe { &*base.add(offset) })
    }

    /// The cell of `index`, allocating its chunk if needed.
    fn cell_or_alloc(&self, index: u32) -> &Cell<V> {
        if let Some(cell) = self.cell(index) {
            return cell;
        }
        let (chunk, _) = locate(index);
        let base = new_chunk::<V>(chunk);
        if let Err(_winner) = self.dir[chunk].compare_exchange(
            ptr::null_mut(),
            base,
            // Release publishes the null cells; Acquire on both sides so the loser sees the
            // winner's.
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            // SAFETY: ours, from `new_chunk`, and losing the CAS means nobody else saw it.
            unsafe { free_chunk(base, chunk) };
        }
        self.cell(index).expect("just allocated")
    }

    /// The value of exactly `key`, for the guard's life.
    #[inline]
    pub(crate) fn get<'g>(&'g self, key: Key, guard: &'g Guard) -> Option<&'g V> {
        let _ = guard;
        // Acquire pairs with the Release of the CAS that published the entry.
        let entry = self.cell(key.index())?.load(Ordering::Acquire);
        // SAFETY: a non-null cell holds a live entry; if it is unlinked after our load, its
        // drop is deferred until every guard pinned before the unlink, `guard` included, is
        // gone, and 'g does not outlive `guard`. Entries are never written while shared.
        let entry = unsafe { entry.as_ref() }?;
        (entry.key == key).then_some(&entry.value)
    }

    /// Publishes `value` under `key`, replacing an entry of an older or the same generation of
    /// the index. `Ok(true)` if it replaced an entry of exactly `key`; `Err(value)` if the
    /// cell holds a newer generation (nothing changed).
    pub(crate) fn insert(&self, key: Key, value: V, guard: &Guard) -> Result<bool, V>
    where
        V: Send + 'static,
    {
        let cell = self.cell_or_alloc(key.index());
        let new = Box::into_raw(Box::new(Entry { key, value }));
        // Acquire: we read the current entry's key.
        let mut current = cell.load(Ordering::Acquire);
        loop {
            // SAFETY: loaded under `guard` (see `get`).
            if let Some(entry) = unsafe { current.as_ref() } {
                if entry.key.generation() > key.generation() {
                    // SAFETY: `new` is ours, from `Box::into_raw`, and never published.
                    let refused = unsafe { Box::from_raw(new) };
                    return Err(refused.value);
                }
            }
            match cell.compare_exchange(
                current,
                new,
                // Release publishes the new entry to readers' Acquire; Acquire so the entry
                // we unlink (and now own) is fully visible to us.
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        if current.is_null() {
            // Relaxed: a count, nothing is published through it.
            self.len.fetch_add(1, Ordering::Relaxed);
            return Ok(false);
        }
        // SAFETY: our CAS unlinked `current`, so we own it (no other CAS can unlink it again)
        // and still may read it under `guard`.
        let same = unsafe { (*current).key } == key;
        // SAFETY: unlinked by us (above), and a live box from `Box::into_raw`.
        unsafe { retire(current, guard) };
        Ok(same)
    }

    /// Unlinks the entry of exactly `key`, if the cell holds one. Whether it did.
    pub(crate) fn remove(&self, key: Key, guard: &Guard) -> bool
    where
        V: Send + 'static,
    {
        let Some(cell) = self.cell(key.index()) else {
            return false;
        };
        // Acquire: we read the current entry's key.
        let mut current = cell.load(Ordering::Acquire);
        loop {
            // SAFETY: loaded under `guard` (see `get`).
            match unsafe { current.as_ref() } {
                Some(entry) if entry.key == key => {}
                _ => return false,
            }
            match cell.compare_exchange(
                current,
                ptr::null_mut(),
                // Acquire: we own the unlinked entry now, and the epoch collector may drop it
                // on another thread (crossbeam orders that after our defer). Release: a later
                // CAS from null by an inserter synchronises with us (nothing depends on it, but
                // it keeps the cell's history a release sequence).
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        // Relaxed: a count, nothing is published through it.
        self.len.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: our CAS unlinked `current` (we own it), a live box from `Box::into_raw`.
        unsafe { retire(current, guard) };
        true
    }

    /// Entries in the table: exact when no operation is in flight.
    pub(crate) fn len(&self) -> usize {
        // Relaxed: a count (see "Length"); it can read below zero while a removal's
        // decrement overtakes the insertion's increment.
        self.len.load(Ordering::Relaxed).max(0) as usize
    }

    /// The value of exactly `key`, mutably.
    pub(crate) fn get_mut(&mut self, key: Key) -> Option<&mut V> {
        // Relaxed: `&mut self`, no other thread touches the table.
        let entry = self.cell(key.index())?.load(Ordering::Relaxed);
        // SAFETY: a non-null cell holds a live entry owned by the table, and `&mut self`
        // excludes every other access to it for the borrow's life.
        let entry = unsafe { entry.as_mut() }?;
        (entry.key == key).then_some(&mut entry.value)
    }

    /// Takes the value of exactly `key` out, at once.
    pub(crate) fn take(&mut self, key: Key) -> Option<V> {
        let cell = self.cell(key.index())?;
        // Relaxed: `&mut self`, no other thread touches the table.
        let entry = cell.load(Ordering::Relaxed);
        // SAFETY: as in `get_mut`.
        if unsafe { entry.as_ref() }?.key != key {
            return None;
        }
        cell.store(ptr::null_mut(), Ordering::Relaxed);
        self.len.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: unlinked under `&mut self`: no `&V` to it exists (every one borrowed the
        // table), and it was never retired, so we own the box.
        Some(unsafe { Box::from_raw(entry) }.value)
    }

    /// Drops every entry, at once. Keeps the chunks.
    ///
    /// A panicking `V::drop` propagates; the entries not yet dropped stay in the table (and
    /// are dropped with it).
    pub(crate) fn clear(&mut self) {
        for (chunk, slot) in self.dir.iter().enumerate() {
            // Relaxed: `&mut self`.
            let base = slot.load(Ordering::Relaxed);
            if base.is_null() {
                continue;
            }
            for offset in 0..chunk_len(chunk) {
                // SAFETY: in bounds of a published chunk (see `cell`).
                let cell = unsafe { &*base.add(offset) };
                let entry = cell.swap(ptr::null_mut(), Ordering::Relaxed);
                if !entry.is_null() {
                    self.len.fetch_sub(1, Ordering::Relaxed);
                    // SAFETY: unlinked under `&mut self` (as in `take`).
                    drop(unsafe { Box::from_raw(entry) });
                }
            }
        }
    }

    /// The entries in index order, for the guard's life.
    pub(crate) fn iter<'g>(&'g self, guard: &'g Guard) -> RawIter<'g, V> {
        let _ = guard;
        RawIter {
            table: self,
            chunk: 0,
            offset: 0,
        }
    }

    /// The entries in index order, mutably.
    pub(crate) fn iter_mut(&mut self) -> RawIterMut<'_, V> {
        RawIterMut {
            table: self,
            chunk: 0,
            offset: 0,
            _mut: PhantomData,
        }
    }

    /// The next non-null cell's entry at or after `(chunk, offset)`, advancing past it.
    fn next_entry(&self, chunk: &mut usize, offset: &mut usize, order: Ordering) -> *mut Entry<V> {
        while *chunk < NUM_CHUNKS {
            // Acquire pairs with the chunk's publishing CAS (see `cell`).
            let base = self.dir[*chunk].load(Ordering::Acquire);
            if !base.is_null() {
                while *offset < chunk_len(*chunk) {
                    // SAFETY: in bounds of a published chunk (see `cell`).
                    let cell = unsafe { &*base.add(*offset) };
                    *offset += 1;
                    let entry = cell.load(order);
                    if !entry.is_null() {
                        return entry;
                    }
                }
            }
            *chunk += 1;
            *offset = 0;
        }
        ptr::null_mut()
    }
}

/// Hands an unlinked entry to the epoch collector.
///
/// # Safety
/// `entry` is a live box from `Box::into_raw` that the caller's successful CAS unlinked
/// from its cell (so nobody else retires or frees it), and `guard` is pinned on the default
/// collector.
unsafe fn retire<V: Send + 'static>(entry: *mut Entry<V>, guard: &Guard) {
    let entry = SendPtr(entry);
    // `defer_unchecked` lifts `defer`'s bounds; the closure is `Send + 'static` in fact: it
    // owns a box of `V: Send + 'static`. Running it after every guard pinned before the
    // unlink is gone is what keeps readers' `&V` valid: every `Guard` of this crate pins the
    // default collector, as `guard` does.
    // SAFETY: as argued above; the box is ours (the caller's contract).
    unsafe {
        guard.defer_unchecked(move || {
            let entry = entry;
            drop(Box::from_raw(entry.0));
        })
    };
}

/// An owned entry pointer, moved into a deferred closure.
struct SendPtr<V>(*mut Entry<V>);

// SAFETY: it stands for the owned box, and `V: Send`.
unsafe impl<V: Send> Send for SendPtr<V> {}

impl<V> Drop for SideTable<V> {
    fn drop(&mut self) {
        for (chunk, slot) in self.dir.iter().enumerate() {
            // Relaxed: `&mut self`.
            let base = slot.load(Ordering::Relaxed);
            if base.is_null() {
                continue;
            }
            for offset in 0..chunk_len(chunk) {
                // SAFETY: in bounds of a published chunk (see `cell`).
                let entry = unsafe { &*base.add(offset) }.load(Ordering::Relaxed);
                if !entry.is_null() {
                    // SAFETY: in a cell, so owned by the table, and `&mut self` (as in
                    // `take`). A panicking `V::drop` leaks the rest: no double free.
                    drop(unsafe { Box::from_raw(entry) });
                }
            }
            // SAFETY: from `new_chunk` for this chunk; its entries are freed above.
            unsafe { free_chunk(base, chunk) };
        }
    }
}

/// Entries in index order under a guard (see [`SideTable::iter`]).
pub(crate) struct RawIter<'g, V> {
    table: &'g SideTable<V>,
    chunk: usize,
    offset: usize,
}

impl<V> Clone for RawIter<'_, V> {
    fn clone(&self) -> Self {
        RawIter { ..*self }
    }
}

impl<'g, V> Iterator for RawIter<'g, V> {
    type Item = (Key, &'g V);

    fn next(&mut self) -> Option<(Key, &'g V)> {
        // Acquire: as in `get`.
        let entry = self
            .table
            .next_entry(&mut self.chunk, &mut self.offset, Ordering::Acquire);
        // SAFETY: as in `get`: `iter` borrowed a guard for 'g.
        let entry = unsafe { entry.as_ref() }?;
        Some((entry.key, &entry.value))
    }
}

/// Entries in index order, mutably (see [`SideTable::iter_mut`]).
pub(crate) struct RawIterMut<'a, V> {
    table: &'a SideTable<V>,
    chunk: usize,
    offset: usize,
    _mut: PhantomData<&'a mut V>,
}

impl<'a, V> Iterator for RawIterMut<'a, V> {
    type Item = (Key, &'a mut V);

    fn next(&mut self) -> Option<(Key, &'a mut V)> {
        // Relaxed: the iterator holds `&mut` of the table.
        let entry = self
            .table
            .next_entry(&mut self.chunk, &mut self.offset, Ordering::Relaxed);
        // SAFETY: made from `&'a mut SideTable`, so nothing else touches its entries for
        // 'a, and each cell is visited once, so the `&mut V`s are disjoint.
        let entry = unsafe { entry.as_mut() }?;
        Some((entry.key, &mut entry.value))
    }
}

impl<V> core::iter::FusedIterator for RawIter<'_, V> {}
impl<V> core::iter::FusedIterator for RawIterMut<'_, V> {}
