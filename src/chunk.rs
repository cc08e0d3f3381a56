//! The chunk directory: where slot `i` lives.
//!
//! # Layout
//!
//! Slots live in chunks that never move. Chunk `k` holds `n = BASE << k` slots, so chunks
//! `0..k` hold `BASE·(2^k − 1)` slots together and 28 chunks of `BASE = 32` cover the whole
//! 32-bit index space. The directory is a fixed array of `NUM_CHUNKS` chunk pointers, so
//! finding a slot is arithmetic, not a loop:
//!
//! ```text
//!   i + BASE = 2^b + offset      (b = the position of the top bit of i + BASE)
//!   chunk    = b − log2(BASE)
//! ```
//!
//! A chunk is one allocation of three arrays (struct of arrays):
//!
//! ```text
//!   [ state: AtomicU32 ; n ][ next: AtomicU32 ; n ][ value: T ; n ]
//!   '---- zeroed: all slots FREE, generation 0 ---''-- untouched until written --'
//! ```
//!
//! Only the 8 bytes of metadata per slot are zeroed when the chunk is made; value pages are
//! first touched by the write that fills them. Chunks of 4 MiB and more are aligned to 2 MiB
//! and advised as transparent huge pages on Linux, which cuts page faults on growth and TLB
//! misses on random access.
//!
//! # Allocation protocol
//!
//! A chunk is allocated the first time a slot in it is handed out. The allocating thread
//! builds the chunk, then publishes it with one `compare_exchange(null → chunk, AcqRel,
//! Acquire)` on the directory entry. The loser of a race frees its own copy, which nobody
//! else ever saw, and uses the winner's. Readers load the entry with `Acquire`, which pairs
//! with the publishing CAS, so they see the zeroed states. A published chunk is never moved
//! or freed while the directory lives, so a `&T` inside it stays put.
//!
//! Chunks are freed only by `Drop for ChunkDir`, which runs when the last owner (the arena,
//! or a reclamation batch still queued in the epoch collector after the arena is gone) lets
//! go. The directory never drops values: the arena does that before.
//!
//! Under loom, atomics cannot live in raw zeroed memory, so a chunk is a boxed struct of
//! three boxed slices instead; the protocol is the same.

use crate::slot::SlotRef;
use crate::sync::{AtomicPtr, Ordering};
use core::marker::PhantomData;
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
    chunks: [AtomicPtr<u8>; NUM_CHUNKS],
    _slots: PhantomData<T>,
}

/// An allocated chunk.
pub(crate) struct ChunkRef<'a, T> {
    base: *mut u8,
    chunk: usize,
    _dir: PhantomData<&'a ChunkDir<T>>,
}

impl<'a, T> ChunkRef<'a, T> {
    /// Slot `offset` of this chunk.
    #[inline(always)]
    pub(crate) fn slot(&self, offset: usize) -> SlotRef<'a, T> {
        assert!(offset < chunk_len(self.chunk));
        // SAFETY: `base` is a published chunk of this size class (type invariant), and the
        // offset is in bounds.
        unsafe { raw::slot_at(self.base, self.chunk, offset) }
    }
}

impl<T> ChunkDir<T> {
    pub(crate) fn new() -> Self {
        ChunkDir {
            chunks: core::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            _slots: PhantomData,
        }
    }

    /// The slot at `index`, if its chunk exists.
    #[inline(always)]
    pub(crate) fn slot(&self, index: u32) -> Option<SlotRef<'_, T>> {
        let (chunk, offset) = locate(index);
        // Acquire pairs with the publishing CAS in `alloc`: the chunk's zeroed states are
        // visible.
        let base = self.chunks[chunk].load(Ordering::Acquire);
        if base.is_null() {
            return None;
        }
        // SAFETY: a published chunk of size class `chunk`; `offset < chunk_len(chunk)` by
        // construction of `locate`; the chunk lives as long as `self`.
        Some(unsafe { raw::slot_at(base, chunk, offset) })
    }

    /// The slot at `index`, allocating its chunk if needed. `None` only when the chunk's
    /// size overflows `isize` (a `T` so large that the index space cannot be backed).
    #[inline]
    pub(crate) fn slot_or_alloc(&self, index: u32) -> Option<SlotRef<'_, T>> {
        let (chunk, offset) = locate(index);
        let mut base = self.chunks[chunk].load(Ordering::Acquire);
        if base.is_null() {
            base = self.alloc(chunk)?;
        }
        // SAFETY: as in `slot`.
        Some(unsafe { raw::slot_at(base, chunk, offset) })
    }

    /// Chunk `chunk`, if it is allocated.
    #[inline]
    pub(crate) fn chunk(&self, chunk: usize) -> Option<ChunkRef<'_, T>> {
        let base = self.chunks[chunk].load(Ordering::Acquire);
        (!base.is_null()).then_some(ChunkRef {
            base,
            chunk,
            _dir: PhantomData,
        })
    }

    /// Makes sure chunk `chunk` exists; returns its base pointer.
    #[cold]
    pub(crate) fn alloc(&self, chunk: usize) -> Option<*mut u8> {
        let fresh = raw::new_chunk::<T>(chunk)?;
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
                // SAFETY: `fresh` came from `new_chunk` for this chunk, and losing the CAS
                // means no other thread ever saw it.
                unsafe { raw::free_chunk::<T>(fresh, chunk) };
                Some(winner)
            }
        }
    }

    /// Allocated chunks, their slots and their bytes.
    pub(crate) fn footprint(&self) -> (usize, usize, usize) {
        let (mut chunks, mut slots, mut bytes) = (0, 0, 0);
        for c in 0..NUM_CHUNKS {
            if !self.chunks[c].load(Ordering::Acquire).is_null() {
                chunks += 1;
                slots += chunk_len(c);
                bytes += raw::chunk_bytes::<T>(c);
            }
        }
        (chunks, slots, bytes)
    }
}

impl<T> Drop for ChunkDir<T> {
    fn drop(&mut self) {
        for (c, entry) in self.chunks.iter().enumerate() {
            let base = entry.load(Ordering::Acquire);
            if !base.is_null() {
                // SAFETY: published by `alloc` for this chunk; `&mut self` means nobody else
                // can reach it any more. Values were dropped by the arena before.
                unsafe { raw::free_chunk::<T>(base, c) };
            }
        }
    }
}

#[cfg(not(loom))]
mod raw {
    use super::chunk_len;
    use crate::slot::SlotRef;
    use crate::sync::{AtomicU32, UnsafeCell};
    use core::mem::{align_of, size_of, MaybeUninit};
    use std::alloc::Layout;

    /// Chunks this large get 2 MiB alignment and a huge-page hint.
    const HUGE: usize = 4 << 20;

    /// Byte offset of the value array in a chunk of `n` slots.
    #[inline(always)]
    fn values_offset<T>(n: usize) -> usize {
        let align = align_of::<T>();
        (8 * n + align - 1) & !(align - 1)
    }

    fn layout<T>(chunk: usize) -> Option<Layout> {
        let n = chunk_len(chunk);
        let size = values_offset::<T>(n).checked_add(size_of::<T>().checked_mul(n)?)?;
        let mut align = align_of::<T>().max(align_of::<AtomicU32>());
        if size >= HUGE {
            align = align.max(2 << 20);
        }
        Layout::from_size_align(size, align).ok()
    }

    pub(super) fn chunk_bytes<T>(chunk: usize) -> usize {
        layout::<T>(chunk).map_or(0, |l| l.size())
    }

    pub(super) fn new_chunk<T>(chunk: usize) -> Option<*mut u8> {
        let layout = layout::<T>(chunk)?;
        // SAFETY: the layout has non-zero size (at least 8 bytes of metadata per slot).
        let base = unsafe { std::alloc::alloc(layout) };
        if base.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        #[cfg(all(target_os = "linux", not(miri)))]
        if layout.size() >= HUGE {
            // SAFETY: advisory only, on memory we own; the range is 2 MiB aligned.
            unsafe { libc::madvise(base.cast(), layout.size(), libc::MADV_HUGEPAGE) };
        }
        // SAFETY: the metadata (states and links, 8 bytes per slot) is at the start of the
        // allocation; all-zero atomics are FREE slots with generation 0 and empty links.
        // Values stay uninitialised (`MaybeUninit`).
        unsafe { base.write_bytes(0, 8 * chunk_len(chunk)) };
        Some(base)
    }

    /// # Safety
    /// `base` came from `new_chunk::<T>(chunk)` and is not used afterwards.
    pub(super) unsafe fn free_chunk<T>(base: *mut u8, chunk: usize) {
        let layout = layout::<T>(chunk).expect("allocated with this layout");
        // SAFETY: allocated by `new_chunk` with this layout (caller's contract).
        unsafe { std::alloc::dealloc(base, layout) };
    }

    /// # Safety
    /// `base` is a live chunk of size class `chunk` and `offset < chunk_len(chunk)`.
    #[inline(always)]
    pub(super) unsafe fn slot_at<'a, T>(
        base: *mut u8,
        chunk: usize,
        offset: usize,
    ) -> SlotRef<'a, T> {
        let n = chunk_len(chunk);
        let states = base.cast::<AtomicU32>();
        // SAFETY: the three arrays lie inside the allocation (see `layout`), suitably
        // aligned, initialised (zeroed metadata; `MaybeUninit` values), and `offset < n`.
        unsafe {
            let values = base
                .add(values_offset::<T>(n))
                .cast::<UnsafeCell<MaybeUninit<T>>>();
            SlotRef {
                state: &*states.add(offset),
                next: &*states.add(n + offset),
                value: &*values.add(offset),
            }
        }
    }
}

#[cfg(loom)]
mod raw {
    use super::chunk_len;
    use crate::slot::SlotRef;
    use crate::sync::{AtomicU32, UnsafeCell};
    use core::mem::MaybeUninit;

    struct LoomChunk<T> {
        states: Box<[AtomicU32]>,
        links: Box<[AtomicU32]>,
        values: Box<[UnsafeCell<MaybeUninit<T>>]>,
    }

    pub(super) fn chunk_bytes<T>(chunk: usize) -> usize {
        chunk_len(chunk) * (8 + core::mem::size_of::<T>())
    }

    pub(super) fn new_chunk<T>(chunk: usize) -> Option<*mut u8> {
        let n = chunk_len(chunk);
        let c = LoomChunk::<T> {
            states: (0..n).map(|_| AtomicU32::new(0)).collect(),
            links: (0..n).map(|_| AtomicU32::new(0)).collect(),
            values: (0..n)
                .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
                .collect(),
        };
        Some(Box::into_raw(Box::new(c)).cast())
    }

    /// # Safety
    /// `base` came from `new_chunk::<T>` and is not used afterwards.
    pub(super) unsafe fn free_chunk<T>(base: *mut u8, _chunk: usize) {
        // SAFETY: made by `Box::into_raw` in `new_chunk` (caller's contract).
        drop(unsafe { Box::from_raw(base.cast::<LoomChunk<T>>()) });
    }

    /// # Safety
    /// `base` is a live chunk and `offset` is in bounds.
    pub(super) unsafe fn slot_at<'a, T>(
        base: *mut u8,
        _chunk: usize,
        offset: usize,
    ) -> SlotRef<'a, T> {
        // SAFETY: a live `LoomChunk<T>` (caller's contract).
        let c = unsafe { &*base.cast::<LoomChunk<T>>() };
        SlotRef {
            state: &c.states[offset],
            next: &c.links[offset],
            value: &c.values[offset],
        }
    }
}

#[cfg(all(test, not(loom)))]
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
    fn chunks_are_allocated_once_and_zeroed() {
        let dir = ChunkDir::<[u64; 4]>::new();
        assert!(dir.slot(0).is_none());
        let a = dir.slot_or_alloc(3).unwrap();
        let b = dir.slot_or_alloc(3).unwrap();
        assert!(core::ptr::eq(a.state, b.state) && core::ptr::eq(a.value, b.value));
        let (chunks, slots, bytes) = dir.footprint();
        assert_eq!((chunks, slots), (1, BASE as usize));
        assert_eq!(bytes, slots * (8 + 32), "8 bytes of metadata per slot");
        assert!(dir.slot(BASE as u32).is_none());
        let chunk = dir.chunk(0).unwrap();
        for off in 0..chunk_len(0) {
            let s = chunk.slot(off);
            assert_eq!(s.state.load(Ordering::Relaxed), 0);
            assert_eq!(s.next.load(Ordering::Relaxed), 0);
            assert_eq!(s.value as *const _ as usize % 8, 0);
        }
    }

    #[test]
    fn zero_sized_values_take_only_metadata() {
        let dir = ChunkDir::<()>::new();
        dir.slot_or_alloc(0).unwrap();
        assert_eq!(dir.footprint().2, BASE as usize * 8);
    }
}
