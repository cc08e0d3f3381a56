//! The sweep: every occupied slot with a clear mark bit, not born in this cycle (nor since
//! the oldest registered mutator's last safepoint, see `mutators.rs`), is unlinked with
//! `remove`'s CAS and retired in batches through the same epoch path as `remove`. See
//! step 7 of [One cycle](crate::implementation#one-cycle).

use super::bitmap::Bitmap;
use super::mutators::Spare;
use super::Core;
use crate::raw::chunk::{chunk_len, chunk_start, locate, BASE};
use crate::raw::pool::IndexBatch;
use crate::raw::slot;
use crate::sync::Ordering;

impl<T: Send + Sync> Core<T> {
    /// Sweeps slot indices `start..end`; returns how many values were swept.
    pub(super) fn sweep_range(&self, start: u64, end: u64, spare: Spare) -> usize {
        let this = self;
        let _sweeping = super::sweeper::Sweeping::enter(this);
        let guard = crossbeam_epoch::pin();
        let marks = &this.collector.marks;
        let mut batch = IndexBatch::new();
        let mut swept = 0usize;
        let mut i = start;
        while i < end {
            let (c, _) = locate(i as u32);
            let first = chunk_start(c);
            let chunk_end = end.min(first + chunk_len(c) as u64);
            let Some(chunk) = this.dir.chunk(c) else {
                i = chunk_end;
                continue;
            };
            while i < chunk_end {
                // The slots sharing one mark word: bit numbers `i + BASE` up to the next
                // multiple of 64.
                let group_end = chunk_end.min(((i + BASE) | 63) + 1 - BASE);
                let word = marks.word_at(i as u32);
                let lo = (i + BASE) & 63;
                let hi = (group_end - 1 + BASE) & 63;
                let group = (u64::MAX >> (63 - hi)) & (u64::MAX << lo);
                if word & group != group {
                    for j in i..group_end {
                        if word & Bitmap::bit_of(j as u32) != 0 {
                            continue;
                        }
                        let slot = chunk.slot((j - first) as usize);
                        // Acquire: makes the birth cycle stored before the state visible.
                        let state = slot.state.load(Ordering::Acquire);
                        // Relaxed: read after the Acquire above; if the slot changed since, the
                        // CAS below fails.
                        if !slot::is_occupied(state)
                            || spare.spares(slot.next.load(Ordering::Relaxed))
                        {
                            continue;
                        }
                        // The same unlink as `remove`: of racing removers exactly one wins.
                        if slot
                            .state
                            .compare_exchange(
                                state,
                                slot::removed(state),
                                Ordering::Acquire,
                                Ordering::Relaxed,
                            )
                            .is_ok()
                        {
                            swept += 1;
                            if batch.is_full() {
                                let full = core::mem::replace(&mut batch, IndexBatch::new());
                                this.defer_reclaim(full, &guard);
                            }
                            batch.push(j as u32, slot::removed(state));
                        }
                    }
                }
                i = group_end;
            }
        }
        this.defer_reclaim(batch, &guard);
        this.anchor.counters.add_removed_shared(swept as isize);
        swept
    }
}
