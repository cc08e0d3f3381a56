//! The chunk directory: where slot `i` lives.
//!
//! # Layout
//!
//! Slots live in chunks that never move. Chunk `k` holds `BASE << k` slots, so chunks 0..k
//! hold `BASE·(2^k − 1)` slots together and 28 chunks of `BASE = 32` cover the whole 32-bit
//! index space. The directory is a fixed array of `NUM_CHUNKS` chunk pointers, so finding a
//! slot is arithmetic, not a loop:
//!
//! ```text
//!   i + BASE = 2^b + offset      (b = the position of the top bit of i + BASE)
//!   chunk    = b − log2(BASE)
//! ```
//!
//! # Allocation protocol
//!
//! A chunk is allocated the first time a slot in it is handed out. The allocating thread
//! builds the chunk (zeroed memory, which is all-FREE slots), then publishes it with one
//! `compare_exchange(null → chunk, AcqRel, Acquire)` on the directory entry. The loser of a
//! race frees its own copy, which nobody else ever saw, and uses the winner's. Readers load
//! the entry with `Acquire`, which pairs with the publishing CAS, so they see the zeroed
//! states. A published chunk is never moved or freed while the directory lives, so a
//! `&Slot` (and a `&T` inside it) stays put.
//!
//! Chunks are freed only by `Drop for ChunkDir`, which runs when the last owner (the arena,
//! or a reclamation batch still queued in the epoch collector after the arena is gone)
//! lets go. The directory never drops values: the arena does that before.

use crate::slot::Slot;
use crate::sync::{AtomicPtr, Ordering};
use core::ptr;

/// log2 of the size of chunk 0. Small under loom and miri so tests cross chunk boundaries.
pub(crate) const BASE_SHIFT: u32 = if cfg!(loom) {
    1
} else if cfg!(miri) {
    2
} else {
    5
};
/// Slots in chunk 0.
pub(crate) const BASE: u64 = 1 << BASE_SHIFT;
/// Enough chunks to address every `u32` index.
pub(crate) const NUM_CHUNKS: usize = (33 - BASE_SHIFT) as usize;
/// The largest number of slots an arena can have: indices `0..MAX_SLOTS` (the all-ones
/// index is never handed out, so `index + 1` always fits in a `u32` link).
pub const MAX_SLOTS: u32 = u32::MAX;

/// Which chunk holds slot `index`, and where in it.
#[inline(always)]
pub(crate) fn locate(index: u32) -> (usize, usize) {
    let i = u64::from(index) + BASE;
    let top = 63 - i.leading_zeros();
    ((top - BASE_SHIFT) as usize, (i - (1u64 << top)) as usize)
}

/// Slots in chunk `chunk`.
#[inline(always)]
pub(crate) fn chunk_len(chunk: usize) -> usize {
    (BASE as usize) << chunk
}

/// The index of the first slot of chunk `chunk`.
#[inline(always)]
pub(crate) fn chunk_start(chunk: usize) -> u64 {
    (BASE << chunk) - BASE
}

/// The directory of an arena's chunks.
pub(crate) struct ChunkDir<T> {
    chunks: [AtomicPtr<Slot<T>>; NUM_CHUNKS],
}

impl<T> ChunkDir<T> {
    pub(crate) fn new() -> Self {
        ChunkDir {
            chunks: core::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
        }
    }

    /// The slot at `index`, if its chunk exists.
    #[inline(always)]
    pub(crate) fn slot(&self, index: u32) -> Option<&Slot<T>> {
        let (chunk, offset) = locate(index);
        // Acquire pairs with the publishing CAS in `alloc`: the chunk's initial (zeroed or
        // constructed) slots are visible.
        let base = self.chunks[chunk].load(Ordering::Acquire);
        if base.is_null() {
            return None;
        }
        // SAFETY: a published chunk has `chunk_len(chunk)` slots, `offset` is below that by
        // construction of `locate`, and the chunk lives as long as `self`.
        Some(unsafe { &*base.add(offset) })
    }

    /// The slot at `index`, allocating its chunk if needed. `None` only when the chunk's
    /// size overflows `isize` (a `T` so large the index space cannot be backed).
    #[inline]
    pub(crate) fn slot_or_alloc(&self, index: u32) -> Option<&Slot<T>> {
        match self.slot(index) {
            Some(slot) => Some(slot),
            None => {
                let (chunk, offset) = locate(index);
                let base = self.alloc(chunk)?;
                // SAFETY: as in `slot`.
                Some(unsafe { &*base.add(offset) })
            }
        }
    }

    /// The slots of chunk `chunk`, if it is allocated.
    #[inline]
    pub(crate) fn chunk(&self, chunk: usize) -> Option<&[Slot<T>]> {
        let base = self.chunks[chunk].load(Ordering::Acquire);
        if base.is_null() {
            None
        } else {
            // SAFETY: a published chunk is `chunk_len(chunk)` initialised slots that live as
            // long as `self`.
            Some(unsafe { core::slice::from_raw_parts(base, chunk_len(chunk)) })
        }
    }

    /// Makes sure chunk `chunk` exists; returns its base pointer.
    #[cold]
    pub(crate) fn alloc(&self, chunk: usize) -> Option<*mut Slot<T>> {
        let fresh = new_chunk::<T>(chunk_len(chunk))?;
        match self.chunks[chunk].compare_exchange(
            ptr::null_mut(),
            fresh,
            // Release publishes the chunk's initialisation; Acquire on both sides so the
            // loser sees the winner's.
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => Some(fresh),
            Err(winner) => {
                // SAFETY: `fresh` came from `new_chunk` with this length, and losing the CAS
                // means no other thread ever saw it.
                unsafe { free_chunk(fresh, chunk_len(chunk)) };
                Some(winner)
            }
        }
    }

    /// Allocated chunks and the bytes they take.
    pub(crate) fn footprint(&self) -> (usize, usize, usize) {
        let (mut chunks, mut slots) = (0, 0);
        for c in 0..NUM_CHUNKS {
            if !self.chunks[c].load(Ordering::Acquire).is_null() {
                chunks += 1;
                slots += chunk_len(c);
            }
        }
        (chunks, slots, slots * core::mem::size_of::<Slot<T>>())
    }
}

impl<T> Drop for ChunkDir<T> {
    fn drop(&mut self) {
        for (c, entry) in self.chunks.iter().enumerate() {
            let base = entry.load(Ordering::Acquire);
            if !base.is_null() {
                // SAFETY: published by `alloc` with this length; `&mut self` means nobody
                // else can reach it any more. Values were dropped by the arena before.
                unsafe { free_chunk(base, chunk_len(c)) };
            }
        }
    }
}

fn new_chunk<T>(len: usize) -> Option<*mut Slot<T>> {
    let layout = std::alloc::Layout::array::<Slot<T>>(len).ok()?;
    if crate::sync::ZEROED_CHUNKS {
        if layout.size() == 0 {
            return Some(ptr::NonNull::dangling().as_ptr());
        }
        // SAFETY: the layout has non-zero size. All-zero bytes are a valid `Slot<T>`: two
        // zero atomics (a FREE slot with generation 0) and a `MaybeUninit<T>`.
        let p = unsafe { std::alloc::alloc_zeroed(layout) };
        if p.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        Some(p.cast())
    } else {
        let slots: Box<[Slot<T>]> = (0..len).map(|_| Slot::new()).collect();
        Some(Box::into_raw(slots).cast())
    }
}

/// # Safety
/// `base` came from `new_chunk::<T>(len)` and is not used afterwards.
unsafe fn free_chunk<T>(base: *mut Slot<T>, len: usize) {
    if crate::sync::ZEROED_CHUNKS {
        let layout = std::alloc::Layout::array::<Slot<T>>(len).expect("allocated before");
        if layout.size() != 0 {
            // SAFETY: allocated by `alloc_zeroed` with this layout (caller's contract).
            unsafe { std::alloc::dealloc(base.cast(), layout) };
        }
    } else {
        // SAFETY: built as a `Box<[Slot<T>]>` of this length (caller's contract).
        drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(base, len)) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_walks_chunks_in_order() {
        let mut expect = (0usize, 0usize);
        for i in 0..(BASE as u32 * 64) {
            assert_eq!(locate(i), expect, "index {i}");
            assert_eq!(chunk_start(expect.0) + expect.1 as u64, u64::from(i));
            expect.1 += 1;
            if expect.1 == chunk_len(expect.0) {
                expect = (expect.0 + 1, 0);
            }
        }
    }

    #[test]
    fn directory_covers_the_index_space() {
        let (c, off) = locate(MAX_SLOTS - 1);
        assert!(c < NUM_CHUNKS);
        assert!(off < chunk_len(c));
        assert!(
            chunk_start(NUM_CHUNKS - 1) + chunk_len(NUM_CHUNKS - 1) as u64 >= u64::from(MAX_SLOTS)
        );
    }

    #[test]
    fn chunks_are_allocated_once() {
        let dir = ChunkDir::<u64>::new();
        assert!(dir.slot(0).is_none());
        let a = dir.slot_or_alloc(3).unwrap() as *const _;
        let b = dir.slot_or_alloc(3).unwrap() as *const _;
        assert_eq!(a, b);
        assert_eq!(dir.footprint().0, 1);
        assert!(dir.slot(BASE as u32).is_none());
    }
}
