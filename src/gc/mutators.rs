//! The mutator registry: what lets a [`Mutator`](crate::Mutator) hold fresh keys across
//! guards, until its next [`safepoint`](crate::Mutator::safepoint).
//!
//! # Protocol
//!
//! Each registered mutator owns one cell of a second [`RootList`]; the cell holds
//! `REGISTERED | since`, where `since` is the birth stamp (`raw::Stamp`, 64 bits) its last
//! safepoint (or its registration) set. Both *advance* the stamp and stores the
//! new value: the values the mutator inserted before it read older stamps, those it inserts
//! after read `since` or newer (one thread's accesses to one atomic are seen in order). So
//! a mutator's fresh values, those whose keys it may hold unlinked, are exactly its values
//! born at or after `since`.
//!
//! A collection reads the cells after its grace period (step 4 of
//! [One cycle](crate::implementation#one-cycle)) and before marking, and its sweep spares
//! every value born no earlier than the oldest `since` it read: **allocation black,
//! stretched back** to the oldest mutator's last safepoint. The argument, case by case, is
//! [Mutators and safepoints](crate::implementation#mutators-and-safepoints); in short:
//!
//! * A fresh key of a mutator that has not passed a safepoint since its insertion: the
//!   collection reads a `since` no newer than the key's birth, so the sweep spares it.
//! * A key linked before a safepoint whose new `since` the collection read: the link's store
//!   (shade, then store, under one guard) happened before the safepoint's `Release` store,
//!   which the collection's read acquires, before marking; so marking sees the store (or the
//!   shade marked the key), as for any store made before marking starts.
//! * A mutator registered after the collection's read: claiming the cell and then reading
//!   the stamp on one side, and advancing the stamp and then reading the cells on the
//!   other, is store buffering with a `SeqCst` fence on each side (the collection's fence is
//!   the one before its root scan). If the read missed the cell, the mutator's insertions
//!   read the collection's new stamp: born in this cycle, they are spared anyway.
//! * A move into a value born in the cycle: a mutator may fill a fresh value under a guard
//!   pinned before the switch to MARKING (so its shades read IDLE), with keys it unlinks
//!   from elsewhere, and link the value only after the cycle. Sparing the value is not
//!   enough: only tracing it finds what it holds. So whenever a mutator is registered, the
//!   collection greys every live value its sweep spares by birth, those born during the
//!   cycle included ([`fresh_roots`](Core::fresh_roots)).
//!
//! Births are stored in 32 bits. The sweep compares them with wrapping arithmetic, which
//! is exact within 2^31 stamps; the cells hold all 64 bits, so a mutator whose last
//! safepoint lies 2^31 stamps or more back is seen as such, and the sweep then spares
//! everything (it cannot tell that mutator's values by their 32-bit births).
//!
//! An insertion through a mutator costs what a [`Handle`](crate::Handle)'s does; a safepoint
//! is one read-modify-write of the stamp and one store. Dropping a mutator frees its cell:
//! its fresh keys are given up, as at a safepoint.

use super::roots::RootList;
use super::Core;
use crate::key::Key;
use crate::raw::chunk::{chunk_len, chunk_start, NUM_CHUNKS};
use crate::raw::slot;
use crate::sync::{fence, AtomicU64, Ordering};

/// Set in every claimed cell, so that `since == 0` is not a free cell.
const REGISTERED: u64 = 1 << 63;

/// The registered mutators of one arena.
pub(crate) struct Mutators {
    cells: RootList,
}

impl Mutators {
    pub(crate) fn new() -> Self {
        Mutators {
            cells: RootList::new(),
        }
    }
}

/// Ages (in stamps, wrapping) at or beyond this are read as births *after* the cycle's own
/// stamp: values inserted during the cycle, after a safepoint advanced the stamp.
const FUTURE: u32 = 1 << 31;

/// What a sweep spares besides marked values: every value born at most `age` stamps before
/// the cycle's stamp `cycle`, or after it. With no mutator registered, `age` is 0: exactly
/// the values born during the cycle.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spare {
    pub(crate) cycle: u32,
    pub(crate) age: u32,
}

impl Spare {
    /// Whether a value born at stamp `birth` (low 32 bits) is spared.
    #[inline]
    pub(crate) fn spares(self, birth: u32) -> bool {
        let age = self.cycle.wrapping_sub(birth);
        age <= self.age || age >= FUTURE
    }
}

impl<T> Core<T> {
    /// Registers a mutator whose fresh values are those born from now on; returns its cell.
    pub(crate) fn register_mutator(&self) -> &AtomicU64 {
        // Advanced, as at a safepoint, so that values inserted before the registration
        // are not fresh for it.
        let since = self.stamp.advance();
        let cell = self.collector.mutators.cells.claim_bits(REGISTERED | since);
        // The store-buffering fence between the claim and the insertions' stamp loads (see
        // the module docs): if a collection's read of the cells missed this one, every
        // insertion after this fence reads that collection's stamp.
        fence(Ordering::SeqCst);
        cell
    }

    /// A safepoint of the mutator owning `cell`: its fresh values are those born from now on.
    pub(crate) fn safepoint(&self, cell: &AtomicU64) {
        // This thread's insertions before the advance read older stamps, those after it
        // read this one or newer (coherence of the stamp).
        let since = self.stamp.advance();
        // Release: the caller's stores before this (its links of fresh keys) happen-before
        // a collection that reads the new word.
        cell.store(REGISTERED | since, Ordering::Release);
    }

    /// Frees the cell of a mutator that is going away.
    pub(crate) fn unregister_mutator(&self, cell: &AtomicU64) {
        self.collector.mutators.cells.release(cell);
    }

    /// What the sweep of the cycle with stamp `cycle` spares, read from the registered
    /// mutators; and how many were read. Called after the grace period and the `SeqCst`
    /// fence before marking.
    pub(super) fn spare(&self, cycle: u64) -> (Spare, usize) {
        let mut oldest = cycle;
        let mut count = 0;
        // SeqCst loads (`words`): acquire the safepoints' stores, and the read side of the
        // store-buffering pattern of registration.
        for word in self.collector.mutators.cells.words() {
            count += 1;
            oldest = oldest.min(word & !REGISTERED);
        }
        let age = cycle - oldest;
        let spare = Spare {
            cycle: cycle as u32,
            // Beyond the exact range of 32-bit births: spare everything (module docs).
            age: if age < u64::from(FUTURE) {
                age as u32
            } else {
                u32::MAX
            },
        };
        (spare, count)
    }

    /// Reports the key of every live value the sweep spares by its birth (born no earlier
    /// than the oldest mutator's last safepoint, or during the cycle): spared values are
    /// roots, so that what they hold is kept too. One pass over the slot states below
    /// `high_water`, only when `mutators` (the cells [`spare`](Core::spare) read) is not
    /// zero. Returns how many it reported.
    ///
    /// The values born during the cycle are reported too. A mutator may fill such a value
    /// under a guard pinned before the switch to MARKING, so its shades read IDLE, and link
    /// it only after the cycle: nothing but tracing it finds what it holds (the case "a
    /// move into a value born in the cycle" of the module docs).
    pub(super) fn fresh_roots(
        &self,
        spare: Spare,
        mutators: usize,
        mut report: impl FnMut(Key),
    ) -> usize {
        if mutators == 0 {
            return 0;
        }
        let high_water = self.high_water();
        let mut n = 0;
        for c in 0..NUM_CHUNKS {
            let first = chunk_start(c);
            if first >= high_water {
                break;
            }
            let Some(chunk) = self.dir.chunk(c) else {
                continue;
            };
            let len = (high_water - first).min(chunk_len(c) as u64) as usize;
            for i in 0..len {
                let slot = chunk.slot(i);
                // Acquire: the birth stored before the state is visible (as in the sweep).
                let state = slot.state.load(Ordering::Acquire);
                if !slot::is_occupied(state) {
                    continue;
                }
                // Relaxed: read after the Acquire above; a value replaced since is filtered
                // out by the marker's own validation of the key.
                if spare.spares(slot.next.load(Ordering::Relaxed)) {
                    report(Key::new((first + i as u64) as u32, state));
                    n += 1;
                }
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Arena;

    #[test]
    fn spare_keeps_the_cycle_the_window_and_the_future_only() {
        let none = Spare { cycle: 10, age: 0 };
        assert!(none.spares(10), "born in the cycle");
        assert!(
            none.spares(11) && none.spares(10 + FUTURE - 1),
            "born after its stamp"
        );
        assert!(!none.spares(9) && !none.spares(0));
        let window = Spare { cycle: 10, age: 3 };
        assert!(window.spares(7) && !window.spares(6));
        // Wrapping: a cycle just past 2^32 and births just before it.
        let wrapped = Spare { cycle: 2, age: 5 };
        assert!(wrapped.spares(u32::MAX - 2) && !wrapped.spares(u32::MAX - 3));
        let all = Spare {
            cycle: 10,
            age: u32::MAX,
        };
        assert!((0..64u32).all(|b| all.spares(b.wrapping_mul(77_777_777))));
    }

    /// The cells hold all 64 bits of `since`: a mutator whose last safepoint lies 2^31
    /// stamps or more back makes the sweep spare everything instead of misreading 32-bit
    /// births; within the window, the age is exact.
    #[test]
    fn spare_reads_the_oldest_mutator_and_gives_up_beyond_the_window() {
        let arena = Arena::<u32>::new();
        let core = arena.inner();
        assert_eq!(core.spare(7).0.age, 0);
        assert_eq!(core.spare(7).1, 0);
        let cell = core.register_mutator();
        cell.store(REGISTERED | 1000, Ordering::SeqCst);
        let (spare, count) = core.spare(1005);
        assert_eq!((spare.age, spare.cycle, count), (5, 1005, 1));
        // A safepoint after the cycle's stamp: nothing older than the cycle is fresh.
        assert_eq!(core.spare(999).0.age, 0);
        let far = 1000 + u64::from(FUTURE);
        assert_eq!(core.spare(far).0.age, u32::MAX);
        assert_eq!(core.spare(far - 1).0.age, FUTURE - 1);
        core.unregister_mutator(cell);
        let (spare, count) = core.spare(far);
        assert_eq!((spare.age, count), (0, 0));
    }
}
