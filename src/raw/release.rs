//! Giving memory back while other threads work: [`Inner::trim`], and how much memory the
//! slots hold ([`Inner::resident_bytes`]).
//!
//! # Protocol
//!
//! Trimming gives back the pages in which no slot holds anything, without moving a value and
//! without stopping anyone:
//!
//! 1. **Own the free slots.** Trim takes the pool's whole shared stack with one swap
//!    (after handing its own thread's cache back). While it holds them, those FREE slots are its
//!    alone, exactly as they are an inserter's between popping and publishing: nobody else
//!    writes them, and readers only load their state words, which never match a key (a key
//!    carries an OCCUPIED generation). Inserters meanwhile take other batches, or fresh slots.
//! 2. **Raise the floor.** The memory of a released page reads as zero when touched again,
//!    so the states of its slots are lost. Trim raises the pool's generation floor to the
//!    highest state among the slots it will release. Every later reader of a FREE state from
//!    memory (the `&mut` rebuilds: `clear`, `compact`, `shrink_to_fit`) takes
//!    `max(state, floor)`, and the batches carry each slot's state anyway, so a slot handed
//!    out again gets a generation above every key that ever named it.
//! 3. **Release whole pages.** For each run of consecutive owned slots, the pages lying
//!    entirely inside the run go back to the operating system (`MADV_DONTNEED` on Linux).
//!    A page shared with a slot trim does not own is kept.
//! 4. **Give the batches back**, in the order they were taken, as one chain of new nodes
//!    pushed with one CAS; the taken chain is freed after a grace period (a popper that
//!    lost the race may still read its links), as one deferred function. The slots are as usable as
//!    before: the next insert into one faults in a zero page and stores the state its batch
//!    carries.
//!
//! Slots in other threads' caches, live, waiting for reclamation, retired, or with a state
//! past [`RELEASE_LIMIT`] keep their pages. Where pages cannot be given back (miri, loom,
//! other systems), step 3 zeroes the owned slots' state and link words instead, so the same
//! protocol runs under the model checker. See [Memory](crate::implementation#memory).

use super::chunk::{chunk_len, chunk_start, ChunkRef, NUM_CHUNKS};
use super::local;
use super::pool::{IndexBatch, IndexPool};
use super::slot::Slot;
use super::Inner;
use crate::sync::alloc::{self, PAGE, RELEASES_PAGES};
use crate::sync::stack::Taken;
use crate::sync::Ordering;
use crossbeam_epoch::{self as epoch, Guard};

/// Slots whose state is at or past this keep their memory: releasing them would raise the
/// floor so high that new slots start close to retirement. It leaves every new slot at
/// least 2^29 reuses.
pub(crate) const RELEASE_LIMIT: u32 = 1 << 31;

/// The batches trim holds: pushed back in their order, as new nodes with one CAS, and the
/// taken chain retired, however trim ends.
struct Held<'a> {
    pool: &'a IndexPool,
    taken: Option<Taken<IndexBatch>>,
    guard: &'a Guard,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Some(taken) = self.taken.take() {
            self.pool.push_all(taken.iter().cloned());
            taken.retire(self.guard);
        }
        self.pool.end_trim();
    }
}

impl<T, C> Inner<T, C> {
    /// Gives back the memory of pages in which no slot holds anything; returns the bytes
    /// released that were resident (where that is unknown, the bytes of the slots reset).
    pub(crate) fn trim(&self) -> usize {
        let anchor = &self.anchor;
        local::unbind(anchor);
        if anchor.pool.free_is_empty() {
            return 0;
        }
        let high_water = self.high_water();
        let guard = epoch::pin();
        if !anchor.pool.begin_trim() {
            // An insertion waits for free slots: let it have them.
            anchor.pool.end_trim();
            return 0;
        }
        // Step 1: one swap takes every batch; one CAS will give them back (no batch is
        // copied out and no node freed one by one, so readers' pins do not pay for it).
        let held = Held {
            pool: &anchor.pool,
            taken: Some(anchor.pool.take_all(&guard)),
            guard: &guard,
        };
        let Some(taken) = held.taken.as_ref() else {
            return 0;
        };
        // One bit per owned slot below the high water read first (slots above it came from
        // fresh ranges reserved meanwhile; they are left alone).
        let mut owned = vec![0u64; (high_water as usize).div_ceil(64)];
        let mut floor = 0;
        for batch in taken.iter() {
            for &(index, state) in batch.as_slice() {
                if u64::from(index) < high_water && state < RELEASE_LIMIT {
                    owned[index as usize / 64] |= 1 << (index % 64);
                    floor = floor.max(state);
                }
            }
        }
        // Step 2.
        anchor.pool.raise_floor(floor);
        // Step 3.
        let mut released = 0;
        for c in 0..NUM_CHUNKS {
            let start = chunk_start(c);
            if start >= high_water {
                break;
            }
            let Some(chunk) = self.dir.chunk(c) else {
                continue;
            };
            let end = (start + chunk_len(c) as u64).min(high_water);
            let mut i = start;
            while i < end {
                let Some(run) = next_run(&owned, i, end) else {
                    break;
                };
                // SAFETY: every slot of the run is FREE and owned by this call (step 1).
                released += unsafe {
                    release_run(&chunk, (run.0 - start) as usize, (run.1 - start) as usize)
                };
                i = run.1;
            }
        }
        // Step 4: `held` drops.
        drop(held);
        released
    }

    /// Bytes of chunk memory resident now: by the operating system's page tables where it
    /// tells ([`RELEASES_PAGES`]; see `sync/alloc.rs`), else the bytes of slots whose state word is not zero
    /// (what was released reads as zero there too).
    pub(crate) fn resident_bytes(&self) -> usize {
        let mut bytes = 0;
        for c in 0..NUM_CHUNKS {
            let Some(chunk) = self.dir.chunk(c) else {
                continue;
            };
            let len = chunk_len(c);
            let size = alloc::array_bytes::<Slot<T>>(len);
            bytes += match alloc::resident(chunk.base_bytes(), size) {
                Some(resident) => resident,
                None => {
                    let used = (0..len)
                        .filter(|&o| chunk.slot(o).state.load(Ordering::Relaxed) != 0)
                        .count();
                    used * core::mem::size_of::<Slot<T>>()
                }
            };
        }
        bytes
    }
}

/// The next run `[a, b)` of set bits in `owned` within `[from, end)`.
fn next_run(owned: &[u64], from: u64, end: u64) -> Option<(u64, u64)> {
    let bit = |i: u64| owned[(i / 64) as usize] >> (i % 64) & 1 != 0;
    let mut a = from;
    while a < end {
        let word = owned[(a / 64) as usize] >> (a % 64);
        if word == 0 {
            a = (a / 64 + 1) * 64;
            continue;
        }
        a += u64::from(word.trailing_zeros());
        break;
    }
    if a >= end {
        return None;
    }
    let mut b = a;
    while b < end {
        let word = !owned[(b / 64) as usize] >> (b % 64);
        if word == 0 {
            b = (b / 64 + 1) * 64;
            continue;
        }
        b += u64::from(word.trailing_zeros());
        break;
    }
    let b = b.min(end);
    debug_assert!(bit(a) && (b == end || !bit(b)));
    Some((a, b))
}

/// Gives back the memory of slots `[a, b)` (offsets in `chunk`): the whole pages inside
/// them, or, where pages cannot be given back, their state and link words (zeroed, as a
/// released page reads). Returns the bytes released that were resident (or, for the second
/// way, the bytes of the slots whose state was not zero yet).
///
/// # Safety
/// Every slot of the run is FREE and owned by the caller, whose owned-state is in its batch
/// (the floor was raised above it).
unsafe fn release_run<T>(chunk: &ChunkRef<'_, T>, a: usize, b: usize) -> usize {
    let size = core::mem::size_of::<Slot<T>>();
    if RELEASES_PAGES {
        let base = chunk.base_bytes() as usize;
        let first = (base + a * size).next_multiple_of(PAGE);
        let last = (base + b * size) & !(PAGE - 1);
        if last <= first {
            return 0;
        }
        // SAFETY: the pages lie inside the run (rounded inwards), whose slots are FREE and
        // ours alone (the caller's contract): nobody writes them, readers only load their
        // state words atomically, and all-zero bytes are a valid FREE slot.
        unsafe { alloc::release(first as *mut u8, last - first) }
    } else {
        let mut bytes = 0;
        for o in a..b {
            let slot = chunk.slot(o);
            // The states these slots really have travel in their batches. Release models
            // what giving a page back does on a real system: `madvise` unmaps it with a TLB
            // shootdown, an interrupt that is a full barrier on every CPU that may read the
            // page, after the floor was raised (step 2). So a `&self` reader that loads a
            // zero (Acquire) and then the floor sees the raised floor: a snapshot relies on
            // it (`raw/persist.rs`).
            if slot.state.swap(0, Ordering::Release) != 0 {
                bytes += size;
            }
            slot.next.store(0, Ordering::Relaxed);
        }
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_found_across_words() {
        let mut owned = vec![0u64; 4];
        for i in (3..70).chain(128..256) {
            owned[i / 64] |= 1 << (i % 64);
        }
        assert_eq!(next_run(&owned, 0, 256), Some((3, 70)));
        assert_eq!(next_run(&owned, 70, 256), Some((128, 256)));
        assert_eq!(next_run(&owned, 130, 200), Some((130, 200)));
        assert_eq!(next_run(&owned, 70, 128), None);
        assert_eq!(next_run(&owned, 0, 3), None);
    }
}
