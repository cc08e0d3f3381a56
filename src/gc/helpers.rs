//! The collector's helper threads: started by the first parallel collection, parked between
//! cycles, stopped and joined when the arena is dropped.
//!
//! # Protocol
//!
//! One [`Helpers`] per arena. Its threads share a [`Shared`] (a mutex-protected [`State`]
//! and two condition variables) and nothing else: no reference to the arena, so a parked
//! helper keeps nothing alive, and dropping the arena stops and joins them.
//!
//! * [`Helpers::run`] (called by a collection, which holds the collector lock, so one job
//!   at a time) publishes a job under the mutex: a pointer to the caller's closure, a new
//!   sequence number and how many helpers may join; wakes the helpers; runs part 0 itself;
//!   then, in [`Close`]'s drop (also on an unwinding panic), withdraws the job under the
//!   mutex and waits until no helper is inside it. A helper that wakes after the withdrawal
//!   finds no job and parks again. So every helper that joined has left the closure before
//!   `run` returns, and the closure outlives every use of the pointer.
//! * A helper joins a job at most once (it remembers the sequence number), takes the next
//!   part number under the mutex, runs the closure outside it (catching a panic, which
//!   `run` hands back), and counts itself out under the mutex, waking `run` when it is the
//!   last.
//! * Dropping [`Helpers`] sets `shutdown` under the mutex, wakes everyone and joins the
//!   threads. No job can be running: `run` borrows the arena.
//!
//! Parts are claimed, not assigned: a helper that does not wake in time, or was never
//! started because the system refused a thread (a thread, process or memory limit), takes
//! no part, and the job must be written so that the parts that ran finish it (the marker
//! deques of helpers that never joined stay empty; sweep parts are claimed from a counter).
//!
//! The protocol is modelled by `gc_helpers_park_and_wake` in `loom-tests`; everything here
//! uses `crate::sync`'s types.

use super::Panic;
use crate::sync::{thread, Arc, Condvar, Mutex, MutexGuard};

/// A type-erased pointer to the closure of the running job.
#[derive(Clone, Copy)]
struct JobPtr(*const (dyn Fn(usize) + Sync + 'static));

// SAFETY: the closure is `Sync`, so calling it from another thread through a shared pointer
// is allowed; the pointer is only dereferenced while the closure lives (see `Helpers::run`).
unsafe impl Send for JobPtr {}

/// What the helpers and the collector share, under [`Shared::state`].
struct State {
    /// The running job, if any: published by `run`, withdrawn by `Close`.
    job: Option<JobPtr>,
    /// Sequence number of the latest job (a helper joins each job at most once).
    seq: u64,
    /// Helpers that may still join the current job.
    open: usize,
    /// Helpers that joined the current job (its part numbers are `1..=joined`).
    joined: usize,
    /// Helpers inside the job's closure now.
    running: usize,
    /// The first panic of a helper's part.
    panic: Option<Panic>,
    /// Set once, by `Helpers`' drop: helpers exit.
    shutdown: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Helpers wait here for a job or the shutdown.
    wake: Condvar,
    /// `run` waits here for the helpers inside the job to leave.
    done: Condvar,
}

/// The helper threads of one arena's collector.
pub(crate) struct Helpers {
    shared: Arc<Shared>,
    /// The threads started so far. Only the collector (which holds the collector lock) and
    /// the drop touch it.
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
}

impl Default for Helpers {
    fn default() -> Self {
        Helpers::new()
    }
}

impl Helpers {
    pub(crate) fn new() -> Self {
        Helpers {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    job: None,
                    seq: 0,
                    open: 0,
                    joined: 0,
                    running: 0,
                    panic: None,
                    shutdown: false,
                }),
                wake: Condvar::new(),
                done: Condvar::new(),
            }),
            threads: Mutex::new(Vec::new()),
        }
    }

    /// Helper threads alive (started and not yet stopped).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.threads.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// What the helper threads share, weakly: gone once they have all exited.
    #[cfg(test)]
    pub(crate) fn probe(&self) -> std::sync::Weak<impl Sized> {
        Arc::downgrade(&self.shared)
    }

    /// Starts helpers until there are `wanted` (or the system refuses one); returns how many
    /// there are.
    fn start(&self, wanted: usize) -> usize {
        let mut threads = self.threads.lock().unwrap_or_else(|p| p.into_inner());
        while threads.len() < wanted {
            let shared = Arc::clone(&self.shared);
            match spawn(move || helper(&shared)) {
                Ok(handle) => threads.push(handle),
                // The next spawn would most likely be refused too; the next `run` tries
                // again.
                Err(_) => break,
            }
        }
        threads.len()
    }

    /// Runs `job(0)` on the calling thread and `job(1)`, `job(2)`, ... on up to `helpers`
    /// helper threads (started if needed; one the system refuses to start is missing, and
    /// one that does not wake in time takes no part). Returns once every part that started
    /// has finished: the number of parts that ran (the caller's included) and the first
    /// panic of a helper's part. A panic of the caller's part unwinds out of here, after
    /// the helpers have left the job.
    pub(crate) fn run(
        &self,
        helpers: usize,
        job: &(dyn Fn(usize) + Sync),
    ) -> (usize, Option<Panic>) {
        let helpers = self.start(helpers).min(helpers);
        if helpers == 0 {
            job(0);
            return (1, None);
        }
        let job: *const (dyn Fn(usize) + Sync + '_) = job;
        // SAFETY: only the lifetime bound changes. The pointer is dereferenced by helpers
        // between joining and leaving the job, and `Close` (below, dropped before this
        // function returns or unwinds) withdraws the job and waits until every helper that
        // joined has left, so no use outlives the borrow.
        let job = JobPtr(unsafe {
            core::mem::transmute::<
                *const (dyn Fn(usize) + Sync + '_),
                *const (dyn Fn(usize) + Sync + 'static),
            >(job)
        });
        {
            let mut state = self.lock();
            debug_assert!(state.job.is_none() && state.running == 0);
            state.job = Some(job);
            state.seq = state.seq.wrapping_add(1);
            state.open = helpers;
            state.joined = 0;
            state.panic = None;
        }
        self.shared.wake.notify_all();
        let close = Close(self);
        // SAFETY: `job` points to the closure borrowed by this call.
        unsafe { (*job.0)(0) };
        close.finish()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Withdraws the running job and waits for the helpers inside it, on every way out of
/// [`Helpers::run`].
struct Close<'a>(&'a Helpers);

impl Close<'_> {
    /// Withdraws the job, waits, and returns the parts that ran and a helper's panic.
    fn finish(self) -> (usize, Option<Panic>) {
        let result = self.close();
        core::mem::forget(self);
        result
    }

    fn close(&self) -> (usize, Option<Panic>) {
        let shared = &self.0.shared;
        let mut state = self.0.lock();
        // From now on no helper joins.
        state.job = None;
        state.open = 0;
        while state.running > 0 {
            state = shared.done.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        (1 + state.joined, state.panic.take())
    }
}

impl Drop for Close<'_> {
    fn drop(&mut self) {
        // Unwinding from the caller's part: the helpers must be out of the closure before
        // its stack frame goes. A helper's panic, if any, is dropped: the caller's goes on.
        let _ = self.close();
    }
}

/// A helper thread's life: park, join each job at most once, exit on shutdown.
fn helper(shared: &Shared) {
    let mut seen = 0u64;
    let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if state.shutdown {
            return;
        }
        match state.job {
            Some(job) if state.seq != seen && state.open > 0 => {
                seen = state.seq;
                state.open -= 1;
                state.joined += 1;
                state.running += 1;
                let part = state.joined;
                drop(state);
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    // SAFETY: we joined the job under the mutex while it was published, and
                    // `run` does not return (nor unwind past the closure) until `running`
                    // is back to 0, which we decrement only after this call.
                    unsafe { (*job.0)(part) }
                }));
                state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
                if let Err(panic) = result {
                    state.panic.get_or_insert(panic);
                }
                state.running -= 1;
                if state.running == 0 {
                    shared.done.notify_all();
                }
            }
            _ => state = shared.wake.wait(state).unwrap_or_else(|p| p.into_inner()),
        }
    }
}

impl Drop for Helpers {
    fn drop(&mut self) {
        let threads = core::mem::take(self.threads.get_mut().unwrap_or_else(|p| p.into_inner()));
        if threads.is_empty() {
            return; // never started any (and never touched the shared state)
        }
        self.lock().shutdown = true;
        self.shared.wake.notify_all();
        let me = thread::current().id();
        for handle in threads {
            // A helper never drops its own arena (a job borrows it); should one ever run
            // this drop, it is left to exit on its own rather than join itself.
            if handle.thread().id() != me {
                let _ = handle.join();
            }
        }
    }
}

/// Starts a helper thread, or returns the error if the system refuses (a thread, process or
/// memory limit).
fn spawn(f: impl FnOnce() + Send + 'static) -> std::io::Result<thread::JoinHandle<()>> {
    #[cfg(test)]
    if refuse_spawn() {
        return Err(std::io::ErrorKind::WouldBlock.into());
    }
    thread::Builder::new()
        .name("epoch-arena-gc".into())
        .spawn(f)
}

#[cfg(test)]
crate::sync::thread_local_const! {
    /// How many more helper threads `spawn` may start on this thread; `None`: no limit.
    static SPAWNS_LEFT: core::cell::Cell<Option<usize>> = core::cell::Cell::new(None);
}

/// For tests: lets `spawn` on this thread start at most `spawns` more helper threads
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// Runs a job whose part 0 waits until part 1 has started, so that exactly two parts run
    /// (the helper is woken and the job stays open until it joins); `part1` runs in part 1.
    fn run_two(helpers: &Helpers, part1: impl Fn() + Sync) -> (usize, Option<Panic>) {
        let joined = AtomicBool::new(false);
        let finished = AtomicUsize::new(0);
        let result = helpers.run(1, &|part| {
            if part == 0 {
                while !joined.load(Ordering::Acquire) {
                    std::thread::yield_now();
                }
            } else {
                joined.store(true, Ordering::Release);
                for _ in 0..1000 {
                    std::thread::yield_now(); // still running when part 0 returns
                }
                part1();
            }
            finished.fetch_add(1, Ordering::Relaxed);
        });
        // A part that panicked did not count itself.
        let panicked = usize::from(result.1.is_some());
        assert_eq!(
            finished.load(Ordering::Relaxed) + panicked,
            result.0,
            "run returned while a part was still running"
        );
        result
    }

    #[test]
    fn helpers_are_reused_and_stopped_and_joined_on_drop() {
        let helpers = Helpers::new();
        let probe = helpers.probe();
        for _ in 0..5 {
            let (parts, panic) = run_two(&helpers, || ());
            assert_eq!((parts, panic.is_none()), (2, true));
            assert_eq!(helpers.len(), 1, "a helper was started again");
        }
        drop(helpers);
        // Joined: the thread has exited and dropped its share.
        assert!(probe.upgrade().is_none(), "a helper outlived its collector");
    }

    #[test]
    fn a_panicking_part_is_handed_back_and_its_helper_survives() {
        let helpers = Helpers::new();
        let (parts, panic) = run_two(&helpers, || panic!("part 1 panics"));
        assert_eq!(parts, 2);
        assert_eq!(
            panic.and_then(|p| p.downcast_ref::<&str>().copied()),
            Some("part 1 panics")
        );
        let (parts, panic) = run_two(&helpers, || ());
        assert_eq!((parts, panic.is_none(), helpers.len()), (2, true, 1));
    }

    #[test]
    fn a_refused_spawn_leaves_the_job_to_the_caller() {
        let helpers = Helpers::new();
        limit_spawns(Some(1));
        let parts = AtomicUsize::new(0);
        let (ran, _) = helpers.run(3, &|_| {
            parts.fetch_add(1, Ordering::Relaxed);
        });
        limit_spawns(None);
        assert_eq!(helpers.len(), 1);
        assert!((1..=2).contains(&ran));
        assert_eq!(parts.load(Ordering::Relaxed), ran);
    }
}
