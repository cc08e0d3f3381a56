//! One collection, start to end: the driver of the cycle (see
//! [One cycle](crate::implementation#one-cycle) for each step and its argument).

use super::marker::Marker;
use super::options::{CollectOptions, CollectStats, MAX_THREADS};
use super::phase::{EndCycle, MARKING};
use super::trace::Trace;
use super::Core;
use crate::key::Key;
use crate::raw::chunk::{chunk_start, NUM_CHUNKS};
use crate::sync::{fence, Arc, AtomicBool, Backoff, Ordering, PARALLEL};
use std::time::Instant;

/// Waits for an epoch grace period: returns once every guard (of crossbeam-epoch's default
/// collector, which [`pin`](crate::pin) uses) that was pinned when it was called has been
/// dropped, with everything done under those guards visible to the caller.
pub(super) fn grace_period() {
    let done = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&done);
    let guard = crossbeam_epoch::pin();
    // crossbeam runs deferred functions only after every guard pinned before the deferral
    // has unpinned, and its epoch bookkeeping orders their unpinning before the run.
    guard.defer(move || flag.store(true, Ordering::Release));
    guard.flush();
    drop(guard);
    let backoff = Backoff::new();
    // Acquire pairs with the Release store in the deferred function.
    while !done.load(Ordering::Acquire) {
        crossbeam_epoch::pin().flush();
        backoff.snooze();
    }
}

impl<T: Trace + Send + Sync> Core<T> {
    /// One collection: the cycle of [One cycle](crate::implementation#one-cycle), whose
    /// step numbers the comments below follow.
    pub(crate) fn collect(
        &self,
        roots: impl IntoIterator<Item = Key>,
        opts: CollectOptions,
    ) -> CollectStats {
        assert!(
            !crossbeam_epoch::is_pinned(),
            "epoch-arena: collect was called while this thread holds a Guard; the collection \
             waits for a grace period, which that guard would block forever"
        );
        let this = self;
        let mut stats = CollectStats::default();
        // Step 1: the caller's roots, before anything changes: their iterator is the caller's
        // code, and a panic in it must not leave a cycle half-way. The `Root` registry is
        // scanned after the switch to MARKING instead (step 5, `roots.rs`).
        let roots: Vec<Key> = roots.into_iter().collect();
        // Removals waiting in the shared retire stack are handed on (the bound promised by
        // `Arena::remove`).
        this.flush_retired();
        let waited = Instant::now();
        let _lock = this
            .collector
            .lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());

        // Step 2, clear: zero the bits. Every earlier cycle, finished or aborted, emptied the
        // grey queue on its way out (`EndCycle`), and no shade pushes outside MARKING.
        let cleared = Instant::now();
        debug_assert!(
            this.collector.grey.is_empty(),
            "a grey key outlived its cycle"
        );
        let high_water = this.high_water();
        let chunks = (0..NUM_CHUNKS)
            .find(|&c| chunk_start(c) >= high_water)
            .unwrap_or(NUM_CHUNKS);
        this.collector.marks.clear(chunks);
        stats.clear_time = cleared.elapsed();

        // Steps 3 and 4: birth cycle, MARKING, grace period.
        let cycle = this.stamp.advance();
        this.set_phase(MARKING);
        // Every way out of this function from here on, a return or an unwinding panic, goes
        // through `end`'s drop: IDLE, no shade in flight, an empty grey queue (step 8).
        let end = EndCycle(this);
        let grace = Instant::now();
        grace_period();
        stats.wait_time = cleared.duration_since(waited) + grace.elapsed();

        // Step 5: mark; step 6: termination.
        let marking = Instant::now();
        let threads = if (high_water as usize) < opts.parallel_min_slots {
            1
        } else {
            opts.threads.clamp(1, MAX_THREADS)
        };
        let threads = if PARALLEL { threads } else { 1 };
        stats.threads = 1;
        let mut marker = Marker::new(this);
        let mut stack = Vec::new();
        // The store-buffering fence between the switch to MARKING and the scan of the root
        // registry (see `roots.rs`).
        fence(Ordering::SeqCst);
        // What the sweep spares besides marked values: the values born since the oldest
        // registered mutator's last safepoint (read after the grace period and the fence,
        // before marking: see `mutators.rs`).
        let (spare, mutators) = this.spare(cycle);
        stats.mutators = mutators;
        // The values it spares by their birth are roots: what they hold is kept too.
        this.fresh_roots(spare, mutators, |key| {
            if let Some(item) = marker.grey(key) {
                stack.push(item);
            }
        });
        for key in roots.into_iter().chain(this.collector.roots.keys()) {
            stats.roots += 1;
            if let Some(item) = marker.grey(key) {
                stack.push(item);
            }
        }
        let mut result = Ok(());
        if threads > 1 {
            let (marked, ran, r) = this.mark_parallel(threads, core::mem::take(&mut stack));
            marker.marked += marked;
            stats.threads = ran;
            result = r;
        }
        let backoff = Backoff::new();
        while result.is_ok() {
            result = this.mark_local(&mut stack, &mut marker);
            if result.is_ok() && this.try_finish_marking() {
                break;
            }
            backoff.snooze();
        }
        stats.marked = marker.marked;
        if let Err(payload) = result {
            // Abort: nothing is swept. Unwinding drops `end`, which returns to IDLE and waits
            // for in-flight shades (no shade may still be setting bits when the next cycle
            // clears them), and empties the grey queue.
            std::panic::resume_unwind(payload);
        }
        stats.mark_time = marking.elapsed();

        // Step 7: sweep; step 8 when `end` drops.
        let sweeping = Instant::now();
        let high_water = this.high_water();
        stats.swept = if threads > 1 {
            this.sweep_parallel(threads, high_water, spare)
        } else {
            this.sweep_range(0, high_water, spare)
        };
        drop(end);
        stats.sweep_time = sweeping.elapsed();
        stats
    }
}
