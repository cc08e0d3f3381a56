//! The mark bitmap: one bit per slot, in atomic words beside each chunk.
//!
//! # Layout
//!
//! Slot `index` gets bit number `index + BASE`. Chunk `k` holds exactly the slots whose bit
//! numbers lie in `[2^top, 2^(top+1))` (`top = k + log2(BASE)`, see `raw/chunk.rs`), so each
//! chunk's bits are one contiguous run of words: words `2^top / 64 ..` for chunks of 64 slots
//! or more, or a single word of its own for a smaller chunk. A second directory, indexed like
//! the chunk directory by `top`, holds each chunk's word array. Finding a mark bit is the
//! same arithmetic as finding a slot: one bit scan, one load, one add.
//!
//! A chunk's bitmap is allocated (zeroed) the first time a collection needs it, with the
//! chunk directory's publish-by-CAS protocol: build, `compare_exchange(null → words)`, the
//! loser frees its copy. Bitmaps are never freed while the arena lives.
//!
//! # Who writes bits
//!
//! Only the collector's markers and [`Arena::shade`](crate::Arena::shade) while a cycle is
//! marking set bits, always with "test, then `fetch_or`": a marker pushes a slot onto its
//! work stack only if *its* `fetch_or` set the bit, so every slot is traced once per cycle.
//! The collector clears the words of every chunk (a bulk store of zeros) before it starts
//! marking, while no one else can be setting bits (step 2 of
//! [One cycle](crate::implementation#one-cycle)), and the sweeper only
//! reads them. Insertions never touch the bitmap: a value inserted during a cycle is
//! recognised by its birth cycle in the slot instead (step 3), which keeps the
//! insert path free of a second cache line.

use crate::raw::chunk::{chunk_len, BASE, BASE_SHIFT, NUM_CHUNKS};
use crate::sync::{AtomicPtr, AtomicU64, Ordering};
use core::ptr;

/// Words of mark bits for chunk `chunk`.
pub(crate) fn words_for(chunk: usize) -> usize {
    chunk_len(chunk).div_ceil(64)
}

/// Index of chunk `chunk`'s first word in "bit number / 64" terms: the bias subtracted
/// before indexing its array.
fn word_bias(chunk: usize) -> u64 {
    (BASE << chunk) >> 6
}

/// The mark bitmaps of one arena's chunks.
pub(crate) struct Bitmap {
    words: [AtomicPtr<AtomicU64>; NUM_CHUNKS],
}

impl Bitmap {
    pub(crate) fn new() -> Self {
        Bitmap {
            words: core::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
        }
    }

    /// Which chunk, word and bit hold slot `index`'s mark.
    #[inline(always)]
    fn locate(index: u32) -> (usize, usize, u64) {
        let n = u64::from(index) + BASE;
        let top = 63 - n.leading_zeros();
        let chunk = (top - BASE_SHIFT) as usize;
        let word = ((n >> 6) - word_bias(chunk)) as usize;
        (chunk, word, 1u64 << (n & 63))
    }

    /// The word array of chunk `chunk`, if allocated.
    #[inline(always)]
    fn chunk_words(&self, chunk: usize) -> Option<&[AtomicU64]> {
        // Acquire pairs with the publishing CAS in `alloc`: the zeroed words are visible.
        let p = self.words[chunk].load(Ordering::Acquire);
        if p.is_null() {
            return None;
        }
        // SAFETY: a non-null entry is a published `Box<[AtomicU64]>` of `words_for(chunk)`
        // words (see `alloc`), freed only by `Drop` (which has `&mut self`).
        Some(unsafe { core::slice::from_raw_parts(p, words_for(chunk)) })
    }

    /// The word array of chunk `chunk`, allocating it if needed. The fast path inlines;
    /// allocation (only ever by `clear` at the start of a cycle, or a racing shade) does not.
    #[inline(always)]
    fn chunk_words_or_alloc(&self, chunk: usize) -> &[AtomicU64] {
        if let Some(words) = self.chunk_words(chunk) {
            return words;
        }
        self.alloc_words(chunk)
    }

    #[cold]
    #[inline(never)]
    fn alloc_words(&self, chunk: usize) -> &[AtomicU64] {
        let fresh: Box<[AtomicU64]> = (0..words_for(chunk)).map(|_| AtomicU64::new(0)).collect();
        let fresh = Box::into_raw(fresh).cast::<AtomicU64>();
        // Release publishes the zeroed words; Acquire on failure to see the winner's.
        if self.words[chunk]
            .compare_exchange(ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            let mine = ptr::slice_from_raw_parts_mut(fresh, words_for(chunk));
            // SAFETY: ours from `Box::into_raw` above, never published (the CAS failed).
            drop(unsafe { Box::from_raw(mine) });
        }
        self.chunk_words(chunk)
            .expect("published by us or by the thread that won the race")
    }

    /// The word holding slot `index`'s mark and its bit, if the chunk's bitmap is allocated
    /// (`None`: it is not, and [`word`](Bitmap::word) would allocate it). The marker looks a
    /// word up once, prefetches it, and marks through it later.
    #[inline(always)]
    pub(crate) fn find(&self, index: u32) -> (Option<&AtomicU64>, u64) {
        let (chunk, word, bit) = Self::locate(index);
        (self.chunk_words(chunk).and_then(|w| w.get(word)), bit)
    }

    /// Whether slot `index` is marked. Unallocated bitmaps read as unmarked.
    #[cfg(test)]
    pub(crate) fn is_marked(&self, index: u32) -> bool {
        let (chunk, word, bit) = Self::locate(index);
        self.chunk_words(chunk)
            .is_some_and(|w| w[word].load(Ordering::Relaxed) & bit != 0)
    }

    /// The word holding slot `index`'s mark, and its bit; allocates the chunk's bitmap if
    /// needed, so call it only for slots of allocated chunks.
    #[inline(always)]
    pub(crate) fn word(&self, index: u32) -> (&AtomicU64, u64) {
        let (chunk, word, bit) = Self::locate(index);
        (&self.chunk_words_or_alloc(chunk)[word], bit)
    }

    /// Marks slot `index`; returns true if this call set the bit. Tests before it
    /// `fetch_or`s, so marking an already marked slot writes nothing.
    ///
    /// Relaxed is enough: the bit itself carries no data. Whoever sets it pushes the slot on
    /// a work queue (whose push and pop synchronise), and the sweeper reads the bits only
    /// after marking has ended, ordered by the collector's phase change.
    #[inline(always)]
    pub(crate) fn mark(&self, index: u32) -> bool {
        let (chunk, word, bit) = Self::locate(index);
        let word = &self.chunk_words_or_alloc(chunk)[word];
        if word.load(Ordering::Relaxed) & bit != 0 {
            return false;
        }
        word.fetch_or(bit, Ordering::Relaxed) & bit == 0
    }

    /// The mark word holding slot `index` and the bits of that word that belong to slots
    /// `index..` in the same word (for the sweeper, which walks 64 slots per word).
    #[inline]
    pub(crate) fn word_at(&self, index: u32) -> u64 {
        let (chunk, word, _) = Self::locate(index);
        self.chunk_words(chunk)
            .map_or(0, |w| w[word].load(Ordering::Relaxed))
    }

    /// Bit of slot `index` within its word.
    #[inline(always)]
    pub(crate) fn bit_of(index: u32) -> u64 {
        Self::locate(index).2
    }

    /// Clears every mark bit of chunks `0..chunks`, allocating missing bitmaps. Returns the
    /// number of words cleared.
    pub(crate) fn clear(&self, chunks: usize) -> usize {
        let mut cleared = 0;
        for chunk in 0..chunks.min(NUM_CHUNKS) {
            for w in self.chunk_words_or_alloc(chunk) {
                w.store(0, Ordering::Relaxed);
            }
            cleared += words_for(chunk);
        }
        cleared
    }

    /// Bytes of bitmap allocated.
    pub(crate) fn bytes(&self) -> usize {
        (0..NUM_CHUNKS)
            .filter(|&c| self.chunk_words(c).is_some())
            .map(|c| words_for(c) * 8)
            .sum()
    }
}

impl Drop for Bitmap {
    fn drop(&mut self) {
        for chunk in 0..NUM_CHUNKS {
            let p = self.words[chunk].load(Ordering::Relaxed);
            if !p.is_null() {
                let words = ptr::slice_from_raw_parts_mut(p, words_for(chunk));
                // SAFETY: published by `chunk_words_or_alloc` from `Box::into_raw` with this
                // length; `&mut self` means no one can reach it any more.
                drop(unsafe { Box::from_raw(words) });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::chunk::{chunk_start, locate};

    #[test]
    fn bits_are_distinct_and_stay_in_their_chunk() {
        let dir = Bitmap::new();
        let n = (chunk_start(5)) as u32;
        for i in 0..n {
            let (chunk, word, bit) = Bitmap::locate(i);
            assert_eq!(chunk, locate(i).0, "index {i}");
            assert!(word < words_for(chunk), "index {i}");
            assert_eq!(bit.count_ones(), 1);
            assert!(!dir.is_marked(i));
            assert!(dir.mark(i), "index {i} was marked before");
            assert!(!dir.mark(i), "index {i} marked twice");
            assert!(dir.is_marked(i));
            assert_ne!(dir.word_at(i) & Bitmap::bit_of(i), 0);
        }
        // Every bit set exactly once: the popcount equals the number of indices.
        let ones: u32 = (0..5)
            .map(|c| {
                dir.chunk_words(c)
                    .unwrap()
                    .iter()
                    .map(|w| w.load(Ordering::Relaxed).count_ones())
                    .sum::<u32>()
            })
            .sum();
        assert_eq!(ones, n);
        assert_eq!(dir.clear(5), (0..5).map(words_for).sum::<usize>());
        assert!((0..n).all(|i| !dir.is_marked(i)));
        assert!(dir.bytes() >= 8 * 5);
    }
}
