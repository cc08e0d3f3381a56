//! Parallel marking and sweeping.
//!
//! # Protocol
//!
//! Each marker owns a LIFO work-stealing deque and, when it runs dry, steals batches from
//! the grey queue and from the other markers. An `active` count detects that all are idle:
//! only an active marker pushes, so all idle means all deques are empty; the caller then
//! drains the grey queue and attempts termination. A marker thread the system refuses to
//! start is simply missing (see [`Core::mark_parallel`]); a sweeper thread that cannot start
//! leaves its part to the caller. See step 5 and step 7 of
//! [One cycle](crate::implementation#one-cycle).
//!
//! Marker and sweeper threads are OS threads, which loom cannot model: under loom a
//! collection never gets here ([`PARALLEL`](crate::sync::PARALLEL)).
//!
//! The atomics here are `std`'s, not `crate::sync`'s: they coordinate OS threads that loom
//! never runs.

use super::marker::{Marker, Repin};
use super::trace::Trace;
use super::{Core, Grey, Panic};
use crate::sync::queue::{GreyQueue, Steal, Stealer, Worker};
use crate::sync::{Backoff, Ordering};
use std::sync::atomic::{AtomicBool, AtomicUsize};

impl<T: Trace + Send + Sync> Core<T> {
    /// Marks with up to `threads` markers (the caller is one) sharing work by stealing.
    /// Returns the values traced, the markers that ran, and the first panic, if any.
    ///
    /// A marker thread the system refuses to start (a thread, process or memory limit) is
    /// simply missing; nobody waits for it. Two things make that safe. The roots go into the
    /// caller's own deque, never into one whose thread may not start (only a deque's owner
    /// pushes to it, so a refused marker's deque is empty and no marked value is left
    /// untraced; the others steal the roots from the caller). And a marker is counted in
    /// `active` just before its spawn and uncounted if the spawn fails, while the caller,
    /// counted from the start, is still spawning and holds the roots: so the count cannot
    /// reach 0 before the caller itself goes idle, and reaches 0 once every marker that
    /// runs is idle.
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
        // The caller; each marker thread adds itself below.
        let active = AtomicUsize::new(1);
        let abort = AtomicBool::new(false);
        let team = Team {
            stealers: &stealers,
            active: &active,
            abort: &abort,
        };
        let results: Vec<(usize, Result<(), Panic>)> = std::thread::scope(|s| {
            // If the caller unwinds from here, the markers it started must not wait for it
            // forever: the scope joins them before the panic goes on.
            let abort_on_unwind = AbortOnUnwind(&abort);
            let mut workers = workers.into_iter().enumerate();
            let (_, mine) = workers.next().expect("threads >= 1");
            let mut handles = Vec::with_capacity(threads - 1);
            for (me, w) in workers {
                // SeqCst, like every access to `active`.
                active.fetch_add(1, Ordering::SeqCst);
                match spawn(s, move || self.run_worker(me, w, team)) {
                    Ok(handle) => handles.push(handle),
                    Err(_) => {
                        // Its (empty) deque was dropped with the closure.
                        active.fetch_sub(1, Ordering::SeqCst);
                        // The next spawn would most likely be refused too.
                        break;
                    }
                }
            }
            let mut results = vec![self.run_worker(0, mine, team)];
            results.extend(handles.into_iter().map(|h| match h.join() {
                Ok(r) => r,
                Err(payload) => (0, Err(payload)),
            }));
            core::mem::forget(abort_on_unwind);
            results
        });
        let ran = results.len();
        let marked = results.iter().map(|r| r.0).sum();
        let first_panic = results.into_iter().find_map(|r| r.1.err());
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
        loop {
            let item = match local
                .pop()
                .or_else(|| {
                    marker.flush(|c| local.push(c));
                    local.pop()
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
            marker.scan(item, |child| local.push(child));
            pin.tick();
        }
    }

    /// Sweeps `0..high_water` in up to `threads` contiguous parts, the caller taking the
    /// first. A part whose thread the system refuses to start is swept by the caller, and so
    /// is every part after it (the next spawn would most likely be refused too).
    pub(super) fn sweep_parallel(&self, threads: usize, high_water: u64, cycle: u32) -> usize {
        let this = self;
        let part = high_water.div_ceil(threads as u64).next_multiple_of(64);
        std::thread::scope(|s| {
            let mut handles = Vec::with_capacity(threads - 1);
            // The parts from here on are left to the caller.
            let mut rest = high_water;
            for t in 1..threads as u64 {
                let (start, end) = ((t * part).min(high_water), ((t + 1) * part).min(high_water));
                if start == end {
                    break; // so is every later part
                }
                match spawn(s, move || this.sweep_range(start, end, cycle)) {
                    Ok(handle) => handles.push(handle),
                    Err(_) => {
                        rest = start;
                        break;
                    }
                }
            }
            let mut mine = this.sweep_range(0, part.min(high_water), cycle);
            if rest < high_water {
                mine += this.sweep_range(rest, high_water, cycle);
            }
            mine + handles
                .into_iter()
                .map(|h| h.join().unwrap_or(0))
                .sum::<usize>()
        })
    }
}

/// Starts a collector thread in `s`, or returns the error if the system refuses (a thread,
/// process or memory limit). `std::thread::Scope::spawn` would panic instead.
fn spawn<'scope, R: Send + 'scope>(
    s: &'scope std::thread::Scope<'scope, '_>,
    f: impl FnOnce() -> R + Send + 'scope,
) -> std::io::Result<std::thread::ScopedJoinHandle<'scope, R>> {
    #[cfg(test)]
    if refuse_spawn() {
        return Err(std::io::ErrorKind::WouldBlock.into());
    }
    std::thread::Builder::new().spawn_scoped(s, f)
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

#[cfg(test)]
crate::sync::thread_local_const! {
    /// How many more collector threads `spawn` may start on this thread; `None`: no limit.
    static SPAWNS_LEFT: core::cell::Cell<Option<usize>> = core::cell::Cell::new(None);
}

/// For tests: lets `spawn` on this thread start at most `spawns` more collector threads
/// (`None`: no limit), as a thread limit would.
#[cfg(test)]
pub(crate) fn limit_spawns(spawns: Option<usize>) {
    SPAWNS_LEFT.with(|left| left.set(spawns));
}

/// For `spawn`: whether to refuse this spawn (see [`limit_spawns`]).
#[cfg(test)]
fn refuse_spawn() -> bool {
    SPAWNS_LEFT.with(|left| match left.get() {
        None => false,
        Some(0) => true,
        Some(n) => {
            left.set(Some(n - 1));
            false
        }
    })
}
