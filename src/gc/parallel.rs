//! Parallel marking and sweeping.
//!
//! # Protocol
//!
//! Each marker owns a private stack and a LIFO work-stealing deque. It works from the
//! stack, moves the older half of it to the deque whenever it finds the deque empty (every
//! few dozen values), and when both run dry steals batches from the grey queue and from the
//! other markers' deques. An `active` count detects that all are idle:
//! only an active marker pushes, so all idle means all deques are empty; the caller then
//! drains the grey queue and attempts termination. The markers and sweepers other than the
//! caller are the arena's helper threads (`helpers.rs`), parked between cycles; a helper
//! that is missing or slow to wake takes no part (see [`Core::mark_parallel`]), and sweep
//! parts are claimed from a counter, so the caller sweeps what no helper claims. See step 5
//! and step 7 of [One cycle](crate::implementation#one-cycle).
//!
//! The work-stealing deques are crossbeam-deque's, which loom cannot model: under loom a
//! collection never gets here ([`PARALLEL`](crate::sync::PARALLEL)); the helper threads'
//! own protocol has its loom model.
//!
//! The atomics here are `std`'s, not `crate::sync`'s: they coordinate threads that loom
//! never runs.

use super::marker::{Marker, Repin};
use super::mutators::Spare;
use super::trace::Trace;
use super::{Core, Grey, Panic};
use crate::sync::queue::{GreyQueue, Steal, Stealer, Worker};
use crate::sync::{Backoff, Ordering};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::Mutex;

/// How many values a marker traces between two looks at whether its deque needs a share
/// of its private stack (see `work`).
const SHARE_EVERY: u32 = 32;

impl<T: Trace + Send + Sync> Core<T> {
    /// Marks with up to `threads` markers (the caller is one, the others are the arena's
    /// helper threads) sharing work by stealing. Returns the values traced, the markers
    /// that ran, and the first panic, if any.
    ///
    /// A helper that is missing (the system refused to start it) or does not wake in time
    /// takes no part; nobody waits for it. Two things make that safe. The roots go into the
    /// caller's own deque, never into a helper's (only a deque's owner pushes to it, so the
    /// deque of a helper that never joined is empty and no marked value is left untraced;
    /// the others steal the roots from the caller). And a helper counts itself in `active`
    /// when it joins, holding no work yet: if it joins after the others went idle, it finds
    /// only what shades queued since, traces it alone and goes idle again, and
    /// [`Helpers::run`](super::helpers::Helpers::run) returns only after it has.
    pub(super) fn mark_parallel(
        &self,
        threads: usize,
        roots: Vec<Grey>,
    ) -> (usize, usize, Result<(), Panic>) {
        let workers: Vec<Worker<Grey>> = (0..threads).map(|_| Worker::new_lifo()).collect();
        for item in roots {
            workers[0].push(item);
        }
        let stealers: Vec<Stealer<Grey>> = workers.iter().map(Worker::stealer).collect();
        // Each part takes its own deque (a `Worker` may not be shared).
        let deques: Vec<Mutex<Option<Worker<Grey>>>> =
            workers.into_iter().map(|w| Mutex::new(Some(w))).collect();
        // The caller; each helper adds itself when it joins.
        let active = AtomicUsize::new(1);
        let abort = AtomicBool::new(false);
        let team = Team {
            stealers: &stealers,
            active: &active,
            abort: &abort,
        };
        let results: Mutex<Vec<(usize, Result<(), Panic>)>> = Mutex::new(Vec::new());
        let job = |part: usize| {
            // If this part unwinds (it catches `Trace` panics, so only on a bug), the others
            // must not wait for it forever.
            let abort_on_unwind = AbortOnUnwind(&abort);
            let local = lock(&deques[part]).take().expect("each part runs once");
            if part != 0 {
                // SeqCst, like every access to `active`.
                active.fetch_add(1, Ordering::SeqCst);
            }
            let result = self.run_worker(part, local, team);
            lock(&results).push(result);
            core::mem::forget(abort_on_unwind);
        };
        let (ran, helper_panic) = self.collector.helpers.run(threads - 1, &job);
        let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
        let marked = results.iter().map(|r| r.0).sum();
        let first_panic = results.into_iter().find_map(|r| r.1.err()).or(helper_panic);
        (marked, ran, first_panic.map_or(Ok(()), Err))
    }

    /// One marker thread: its own deque first, then the grey queue, then the others'.
    /// Returns the values it traced and the panic of a `Trace` impl, if one panicked.
    fn run_worker(
        &self,
        me: usize,
        local: Worker<Grey>,
        team: Team<'_>,
    ) -> (usize, Result<(), Panic>) {
        let mut marker = Marker::new(self);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.work(me, &local, team, &mut marker)
        }));
        if result.is_err() {
            team.abort.store(true, Ordering::Relaxed);
        }
        (marker.marked, result)
    }

    fn work(&self, me: usize, local: &Worker<Grey>, team: Team<'_>, marker: &mut Marker<'_, T>) {
        let mut pin = Repin::new();
        // Private work first: a push or pop here is a plain store, where the deque's pop
        // pays a fence. Every `SHARE_EVERY` items, if the deque is empty (thieves took it or
        // nothing was shared yet), the older half of the stack moves to the deque, where
        // idle markers steal it. Still, only an active marker holds work, and an idle one
        // holds none in either place.
        let mut stack: Vec<Grey> = Vec::new();
        let mut since_share = 0u32;
        loop {
            let item = match stack
                .pop()
                .or_else(|| local.pop())
                .or_else(|| {
                    marker.flush(|c| stack.push(c));
                    stack.pop()
                })
                .or_else(|| team.steal(&self.collector.grey, local, me))
            {
                Some(item) => item,
                None => {
                    // Idle. All markers idle (and so all deques empty: only an active marker
                    // pushes) ends this parallel phase; the caller then drains the grey
                    // queue and attempts termination.
                    team.active.fetch_sub(1, Ordering::SeqCst);
                    let backoff = Backoff::new();
                    loop {
                        if team.abort.load(Ordering::Relaxed) {
                            return;
                        }
                        if !self.collector.grey.is_empty()
                            || team.stealers.iter().any(|s| !s.is_empty())
                        {
                            team.active.fetch_add(1, Ordering::SeqCst);
                            if let Some(item) = team.steal(&self.collector.grey, local, me) {
                                break item;
                            }
                            team.active.fetch_sub(1, Ordering::SeqCst);
                        } else if team.active.load(Ordering::SeqCst) == 0 {
                            return;
                        }
                        backoff.snooze();
                    }
                }
            };
            if team.abort.load(Ordering::Relaxed) {
                return;
            }
            marker.visit(item, |child| stack.push(child));
            pin.tick();
            since_share += 1;
            if since_share == SHARE_EVERY {
                since_share = 0;
                if stack.len() > 1 && local.is_empty() {
                    // The older half: nearer the roots, so larger subtrees for a thief.
                    let half = stack.len() / 2;
                    for grey in stack.drain(..half) {
                        local.push(grey);
                    }
                }
            }
        }
    }

    /// Sweeps `0..high_water` in up to `threads` contiguous parts, claimed one at a time by
    /// the caller and the helper threads that join: a part no helper claims (a helper that
    /// is missing or slow to wake) is swept by the caller.
    pub(super) fn sweep_parallel(&self, threads: usize, high_water: u64, spare: Spare) -> usize {
        let part = high_water
            .div_ceil(threads as u64)
            .next_multiple_of(64)
            .max(64);
        let parts = high_water.div_ceil(part);
        let next = AtomicU64::new(0);
        let swept = AtomicUsize::new(0);
        let job = |_| loop {
            // Relaxed: the counter only hands out distinct part numbers.
            let p = next.fetch_add(1, Ordering::Relaxed);
            if p >= parts {
                // Hand this thread's deferred batches to the global queue now: a helper
                // thread parks after its job, and a batch left in its thread-local bag would
                // wait for its next job (or forever) before any thread could reclaim it. Only
                // here: the one-thread sweep (and every loom model) leaves its batches to the
                // caller's own later pins.
                crossbeam_epoch::pin().flush();
                return;
            }
            let (start, end) = (p * part, ((p + 1) * part).min(high_water));
            // Relaxed: read after `Helpers::run` returns, which the helpers' leaving the job
            // (under its mutex) happens-before.
            swept.fetch_add(self.sweep_range(start, end, spare), Ordering::Relaxed);
        };
        let helpers = (parts as usize).min(threads).saturating_sub(1);
        // A helper's panic (a value's drop run by reclamation inside the sweep) loses the
        // rest of its part until the next cycle, as a panic in the caller's would.
        let _ = self.collector.helpers.run(helpers, &job);
        swept.into_inner()
    }
}

/// Locks `m`, ignoring poison (every holder leaves the data consistent).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Sets its flag if dropped by an unwinding panic (disarmed with `mem::forget`).
struct AbortOnUnwind<'a>(&'a AtomicBool);

impl Drop for AbortOnUnwind<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[derive(Clone, Copy)]
struct Team<'a> {
    stealers: &'a [Stealer<Grey>],
    active: &'a std::sync::atomic::AtomicUsize,
    abort: &'a AtomicBool,
}

impl Team<'_> {
    /// A batch from the grey queue or from another marker, into `local`; pops one.
    fn steal(&self, grey: &GreyQueue<Grey>, local: &Worker<Grey>, me: usize) -> Option<Grey> {
        loop {
            let mut retry = false;
            match grey.steal_batch_and_pop(local) {
                Steal::Success(item) => return Some(item),
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
            for (other, stealer) in self.stealers.iter().enumerate() {
                if other == me {
                    continue;
                }
                match stealer.steal_batch_and_pop(local) {
                    Steal::Success(item) => return Some(item),
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            if !retry {
                return None;
            }
        }
    }
}
