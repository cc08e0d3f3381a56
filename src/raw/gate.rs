//! The gate that orders deferred work against dropping and clearing the arena, and the
//! reclamation frames that let a value own its arena.
//!
//! # Protocol
//!
//! One word: bit 0 = closed (the arena is gone), bit 1 = paused (a `clear` is rebuilding),
//! the rest = four times the number of parties inside. Deferred reclamation closures and
//! thread caches giving slots back [`enter`](Gate::enter) with one `fetch_add` and back out
//! if they find the gate closed or paused; `Drop for Arena` closes it and `clear` pauses it
//! with one `fetch_or`, then waits for the count to drop. A single read-modify-write on each
//! side linearises the race: either the closer sees the party inside and waits, or the
//! party sees the bit and backs out.
//!
//! A closure at work links a [`Frame`] into a thread-local list, so that a `Drop for Arena`
//! running on that closure's own stack (a value owned its arena) waits only for the *other*
//! parties and hands the internals' memory to the outermost frame instead of freeing it.
//!
//! The whole argument, with what each side may touch, is in
//! [The arena may be gone when a closure runs](crate::implementation#the-arena-may-be-gone-when-a-closure-runs).

use crate::sync::{thread_local_const, AtomicUsize, Backoff, Ordering};
use core::cell::Cell;
use core::ptr;

/// Orders deferred work (reclamation closures, thread caches giving slots back) against
/// dropping and clearing the arena.
///
/// One word: bit 0 = closed (the arena is gone), bit 1 = paused (a `clear` is rebuilding),
/// the rest = four times the number of parties inside.
pub(crate) struct Gate {
    state: AtomicUsize,
}

const CLOSED: usize = 1;
const PAUSED: usize = 2;
const ONE: usize = 4;

impl Gate {
    pub(crate) fn new() -> Self {
        Gate {
            state: AtomicUsize::new(0),
        }
    }

    /// Enters, unless the gate is closed or paused.
    ///
    /// A single `fetch_add` linearises against `close`'s and `pause`'s `fetch_or`: either
    /// the closer sees us inside and waits, or we see the bit and back out.
    pub(crate) fn enter(&self) -> bool {
        // Acquire pairs with `resume`'s Release: a closure entering after a `clear` sees
        // the states it wrote (and so skips the slots it reclaimed).
        let s = self.state.fetch_add(ONE, Ordering::Acquire);
        if s & (CLOSED | PAUSED) != 0 {
            // Relaxed: we did nothing inside that a waiter would need to see.
            self.state.fetch_sub(ONE, Ordering::Relaxed);
            false
        } else {
            true
        }
    }

    /// Leaves; Release publishes everything done inside to `close_and_wait` and
    /// `pause_and_wait`.
    pub(crate) fn exit(&self) {
        self.state.fetch_sub(ONE, Ordering::Release);
    }

    /// Waits until only `mine` parties (this thread's own frames, which cannot leave while
    /// we run on their stack) are inside.
    fn wait_until(&self, mut s: usize, mine: usize) {
        let backoff = Backoff::new();
        while s / ONE != mine {
            backoff.snooze();
            // Acquire pairs with `exit`: the closures' drops and state writes are visible.
            s = self.state.load(Ordering::Acquire);
        }
    }

    /// Closes the gate for good and waits until no one but this thread's `mine` frames is
    /// inside.
    pub(crate) fn close_and_wait(&self, mine: usize) {
        let s = self.state.fetch_or(CLOSED, Ordering::AcqRel);
        self.wait_until(s, mine);
    }

    /// Pauses the gate and waits until no one is inside (the caller has checked that it
    /// runs inside no frame of this arena).
    pub(crate) fn pause_and_wait(&self) {
        let s = self.state.fetch_or(PAUSED, Ordering::AcqRel);
        self.wait_until(s, 0);
    }

    /// Ends a pause; Release publishes the rebuild to everyone who enters later.
    pub(crate) fn resume(&self) {
        self.state.fetch_and(!PAUSED, Ordering::Release);
    }
}

/// A reclamation closure at work on this thread: one entry of a thread-local list (the
/// frames live on the closures' stacks). See the module docs.
pub(crate) struct Frame {
    /// The arena's internals this closure works on, as an address.
    inner: *const (),
    /// Set when the arena is dropped on this thread while this frame is inside.
    pub(crate) gone: Cell<bool>,
    /// Set on the outermost such frame, to the arena's own pointer to the internals (the
    /// one with the provenance to free them): it frees them on its way out.
    owner: Cell<*mut ()>,
    prev: *const Frame,
}

thread_local_const! {
    static FRAMES: Cell<*const Frame> = Cell::new(ptr::null());
}

/// The frames on this thread for the internals at `inner`, innermost first.
fn for_each_frame(inner: *const (), mut f: impl FnMut(&Frame)) {
    let _ = FRAMES.try_with(|head| {
        let mut p = head.get();
        // SAFETY: frames are linked in `with_frame` and unlinked before their stack slot
        // dies; this list is only touched by its own thread.
        while let Some(frame) = unsafe { p.as_ref() } {
            if frame.inner == inner {
                f(frame);
            }
            p = frame.prev;
        }
    });
}

/// Runs `f` with a frame for `inner` linked into this thread's list. Returns `f`'s result
/// and, if the arena was dropped inside `f` and this frame now owns the internals, the
/// pointer to free them with (else null).
pub(crate) fn with_frame<R>(inner: *const (), f: impl FnOnce(&Frame) -> R) -> (R, *mut ()) {
    let prev = FRAMES.try_with(Cell::get).unwrap_or(ptr::null());
    let frame = Frame {
        inner,
        gone: Cell::new(false),
        owner: Cell::new(ptr::null_mut()),
        prev,
    };
    /// Unlinks the frame, on unwind too (`reclaim` catches user panics, but be safe).
    struct Unlink(*const Frame);
    impl Drop for Unlink {
        fn drop(&mut self) {
            let _ = FRAMES.try_with(|head| head.set(self.0));
        }
    }
    // If the thread-local is gone (thread teardown), the frame is simply not listed: the
    // arena's `Drop` then cannot find it, which only matters if that drop also runs on this
    // stack, and a thread being torn down has no arena left on it to drop.
    let _ = FRAMES.try_with(|head| head.set(&frame));
    let unlink = Unlink(prev);
    let r = f(&frame);
    drop(unlink);
    (r, frame.owner.get())
}

/// Called by `Drop for Arena` for internals at `inner` (its owning pointer): marks this
/// thread's frames for them as gone, makes the outermost one the owner, and returns how many
/// there are.
pub(crate) fn hand_over(inner: *mut ()) -> usize {
    let mut n = 0;
    let mut outermost: *const Frame = ptr::null();
    for_each_frame(inner.cast_const(), |frame| {
        frame.gone.set(true);
        outermost = frame;
        n += 1;
    });
    // SAFETY: a frame of this thread's list, alive (see `for_each_frame`).
    if let Some(frame) = unsafe { outermost.as_ref() } {
        frame.owner.set(inner);
    }
    n
}

/// Whether this thread runs inside a reclamation closure of the internals at `inner`.
pub(crate) fn inside(inner: *const ()) -> bool {
    let mut any = false;
    for_each_frame(inner, |_| any = true);
    any
}
