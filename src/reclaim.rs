//! Reclamation: how a removed value is dropped, and its slot reused, only after every guard
//! that could still see it is gone.
//!
//! # Protocol
//!
//! 1. **Unlink.** `remove` CASes the slot's state from OCCUPIED `g` to REMOVED `g+1`
//!    (`Acquire` on success, so the remover has seen the inserter's value write). Of racing
//!    removers exactly one CAS succeeds, and every `get` that loads the state afterwards
//!    fails its compare: the key is dead at once. The value stays in place.
//! 2. **Batch.** The index goes into a retire batch: the [`Handle`](crate::Handle)'s own,
//!    or, for [`Arena::remove`](crate::Arena::remove), the arena's shared
//!    [`RetireStack`]. Nothing is deferred per removal. The shared stack is handed on when it
//!    holds 64 removals, and also whenever any thread refills its insert cache (at most
//!    every 64 insertions), flushes, collects, or finds the arena full: so a removal waits
//!    for a bounded amount of later activity, never for ever.
//! 3. **Defer.** A full batch is handed to crossbeam-epoch with *one* deferred closure that
//!    holds the batch, an `Arc` of the arena's small type-independent [`Shared`] part (its
//!    [`Gate`]) and a raw pointer to the arena's internals. crossbeam runs the closure only
//!    after every thread that was pinned when the batch was sealed has unpinned. A reader
//!    that loaded OCCUPIED `g` did so while pinned, before the unlink, hence before the seal,
//!    so its `&T` outlives its guard never. (crossbeam's `push_bag` puts a `SeqCst` fence
//!    between our unlink and its reading of the global epoch; this is crossbeam's standard
//!    "unlink, then defer" contract, and the deferral here only comes later still.)
//! 4. **Reclaim.** Inside the gate, the closure takes each slot whose state is still the
//!    REMOVED state it recorded (a [`clear`](crate::Arena::clear) may have reclaimed it
//!    already), stores its next FREE state (or RETIRED when the generation would wrap),
//!    *then* drops the value, and finally pushes the FREE indices as one batch onto the free
//!    list, whose `Release` push publishes the drops and state writes to the next popper.
//!    The slot is not on any free list until that push, so its FREE state only tells
//!    everyone else (`Drop for Arena`, `clear`) that the value is no longer theirs to drop.
//!
//! # The arena may be gone by then
//!
//! crossbeam's default collector runs deferred closures whenever some thread pins, possibly
//! long after the arena was dropped, and possibly never (its collector is a static). So:
//!
//! * the closure keeps only the small [`Shared`] part alive, never the chunks: dropping the
//!   arena frees every chunk, bitmap and list at once, whatever waits in epoch bags;
//! * the [`Gate`] orders closures against `Drop for Arena`: dropping the arena *closes* the
//!   gate and waits for closures already inside to leave; a closure that arrives later
//!   finds the gate closed and touches nothing (its raw pointer is dangling by then). The
//!   arena then drops every value still present, live or REMOVED, itself. So every value is
//!   dropped exactly once, before `Drop for Arena` returns, and no `T` is touched after it
//!   (`T` may borrow data that dies with the arena).
//! * **A value may own its arena.** If a value's `drop`, run by a closure, releases the last
//!   `Arc<Arena<_>>` of the very arena being reclaimed, `Drop for Arena` runs on the stack of
//!   that closure, inside the gate. Waiting for the closure to leave would wait for ever. So
//!   every closure records a [`Frame`] in a thread-local list while it is inside; `Drop for
//!   Arena` counts its own arena's frames on this thread, waits only for the *other*
//!   closures, drops the remaining values, and hands the internals' memory to the outermost
//!   such frame instead of freeing it. Each frame sees its arena gone when the value's drop
//!   returns and stops touching slots; the outermost one frees the memory on its way out.
//! * [`Arena::clear`](crate::Arena::clear) *pauses* the gate the same way (waiting for the
//!   closures inside), reclaims every REMOVED slot itself and rebuilds the free list; a
//!   closure that arrives while it is paused, or later, finds its slots no longer in the
//!   state it recorded and skips them.
//!
//! # Panics in `T::drop`
//!
//! A panic escaping a deferred closure would unwind through crossbeam's collector and skip
//! every other closure in its bag. The closure therefore catches a panic from `T::drop`
//! (the panic hook has already reported it), discards it, and goes on: the slot is reclaimed
//! as if the drop had finished, and nothing is dropped twice.

use crate::arena::{Inner, Shared};
use crate::free_list::{IndexBatch, BATCH};
use crate::slot::{self, SlotRef};
use crate::sync::{AtomicU64, AtomicUsize, Backoff, Ordering};
use core::cell::Cell;
use core::ptr;
use crossbeam_epoch::Guard;

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
    gone: Cell<bool>,
    /// Set on the outermost such frame, to the arena's own pointer to the internals (the
    /// one with the provenance to free them): it frees them on its way out.
    owner: Cell<*mut ()>,
    prev: *const Frame,
}

#[cfg(not(loom))]
crate::sync::thread_local! {
    static FRAMES: Cell<*const Frame> = const { Cell::new(ptr::null()) };
}

#[cfg(loom)]
crate::sync::thread_local! {
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
fn with_frame<R>(inner: *const (), f: impl FnOnce(&Frame) -> R) -> (R, *mut ()) {
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

/// The shared retire batch for removals that come without a [`Handle`](crate::Handle).
///
/// A push-only Treiber stack threaded through the slots' `next` links, emptied whole with
/// one `swap`. The head word packs `count << 32 | (top index + 1)` (0 = empty), so a push
/// that makes the count reach [`BATCH`] knows to take the stack. Push-only stacks emptied by
/// `swap` have no ABA: a push's effect depends only on the top it links to, which its CAS
/// checks.
pub(crate) struct RetireStack {
    head: AtomicU64,
}

impl RetireStack {
    pub(crate) fn new() -> Self {
        RetireStack {
            head: AtomicU64::new(0),
        }
    }

    /// Pushes REMOVED slot `index` (whose link is `link`); returns true when the stack holds
    /// a full batch and the caller should [`take`](RetireStack::take) it.
    pub(crate) fn push(&self, link: &crate::sync::AtomicU32, index: u32) -> bool {
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            link.store(head as u32, Ordering::Relaxed);
            let count = (head >> 32) + 1;
            let new = (count << 32) | (u64::from(index) + 1);
            // Release publishes our link store to the taker's Acquire swap.
            match self
                .head
                .compare_exchange_weak(head, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return count as usize >= BATCH,
                Err(h) => head = h,
            }
        }
    }

    /// Whether the stack looks empty (a hint).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head.load(Ordering::Relaxed) == 0
    }

    /// Empties the stack; returns `top index + 1` of the taken chain (0 if it was empty).
    pub(crate) fn take(&self) -> u32 {
        if self.is_empty() {
            return 0;
        }
        self.head.swap(0, Ordering::Acquire) as u32
    }
}

/// What a deferred closure carries besides its batch: the arena's internals, by address.
struct InnerPtr<T>(*const Inner<T>);

impl<T: Send + Sync> Inner<T> {
    /// Hands a batch of REMOVED indices to the epoch collector.
    pub(crate) fn defer_reclaim(&self, batch: IndexBatch, guard: &Guard) {
        if batch.is_empty() {
            return;
        }
        let shared = std::sync::Arc::clone(&self.shared);
        // Relaxed: a hint for `drive_reclamation`, nothing is published through it.
        shared.deferred.fetch_add(1, Ordering::Relaxed);
        let inner = InnerPtr(self as *const Inner<T>);
        // `defer_unchecked` lifts the `Send + 'static` bounds of `defer`:
        // * Send: the closure holds an `Arc<Shared>` (Send + Sync), indices, and the address
        //   of `Inner<T>`, which is Send + Sync because `T: Send + Sync`, so running it
        //   (dropping `T`s) on another thread is fine.
        // * 'static: the closure may run after the arena, and after lifetimes inside `T`, are
        //   gone. It then finds the gate closed and touches neither the internals nor any
        //   `T` (see the module docs); dropping its `Arc<Shared>` touches no `T`.
        // The guard comes from the default collector, the one every `Guard` of this crate
        // pins, so the closure waits for every reader's guard.
        // SAFETY: as argued above.
        unsafe { guard.defer_unchecked(move || reclaim_deferred(&shared, inner, batch)) };
    }

    /// Takes the shared retire stack and defers it, whatever its size.
    pub(crate) fn defer_shared_retired(&self, guard: &Guard) {
        let mut link = self.retire.take();
        let mut batch = IndexBatch::new();
        while link != 0 {
            let index = link - 1;
            let slot = self.slot_of_removed(index);
            // Relaxed: the swap in `take` acquired every pusher's link store, and each
            // pusher's state CAS came before its push.
            link = slot.next.load(Ordering::Relaxed);
            batch.push(index, slot.state.load(Ordering::Relaxed));
            if batch.is_full() {
                let full = core::mem::replace(&mut batch, IndexBatch::new());
                self.defer_reclaim(full, guard);
            }
        }
        self.defer_reclaim(batch, guard);
    }

    /// Hands every pending shared removal to the epoch collector and pushes this thread's
    /// deferred work to the global queue, trying to advance the epoch once.
    pub(crate) fn flush_retired(&self) {
        let guard = crossbeam_epoch::pin();
        self.defer_shared_retired(&guard);
        guard.flush();
    }

    /// The refill paths' part of the bound in [`Arena::remove`](crate::Arena::remove): hands
    /// the shared retire stack on if it holds anything, and while reclamation closures of
    /// this arena wait in epoch bags, pushes this thread's bag out and tries to advance the
    /// epoch. Called once per 64 insertions of a thread at most.
    ///
    /// Not under loom: there the insert cache is off, so every insertion takes this path,
    /// and pinning and flushing on each of them multiplies the models' state space for no
    /// new interleaving (this only calls `defer` and `flush`, which the models exercise
    /// directly).
    pub(crate) fn drive_reclamation(&self) {
        if cfg!(loom) {
            return;
        }
        if !self.retire.is_empty() {
            self.flush_retired();
        } else if self.shared.deferred.load(Ordering::Relaxed) != 0 {
            crossbeam_epoch::pin().flush();
        }
    }

    /// For an insertion that found no free slot: hands pending removals on and drives the
    /// epoch a bounded number of times, until a batch of free slots appears in the pool.
    /// Returns whether one did. A guard held by this thread, or by any other, can keep the
    /// epoch from advancing; then this gives up after its rounds.
    #[cold]
    pub(crate) fn reclaim_for_insert(&self) -> bool {
        self.flush_retired();
        for _ in 0..RECLAIM_ROUNDS {
            if !self.shared.pool.free_is_empty() {
                return true;
            }
            crossbeam_epoch::pin().flush();
        }
        !self.shared.pool.free_is_empty()
    }

    /// The deferred closure's work, inside the gate: drop, free, return to the pool.
    fn reclaim(&self, batch: IndexBatch, frame: &Frame) {
        let mut freed = IndexBatch::new();
        let mut reclaimed = 0;
        for &(index, state) in batch.as_slice() {
            let slot = self.slot_of_removed(index);
            // Relaxed: the slot still holds the REMOVED state the remover's CAS stored,
            // unless a `clear` reclaimed it first; that clear's writes happen before our
            // `Gate::enter` (its `resume` is Release, our enter Acquire). The remover's
            // CAS, and the inserter's value write before it, happen before this closure
            // (crossbeam's deferral synchronises deferrer and runner).
            if slot.state.load(Ordering::Relaxed) != state {
                continue;
            }
            debug_assert!(slot::has_value(state) && !slot::is_occupied(state));
            let next = slot::freed(state);
            // The value is this batch's alone until the push below, FREE or not: say so
            // first, so that a `Drop for Arena` running inside the value's drop (the value
            // owned its arena) does not drop it again. Relaxed: the free-list push below
            // publishes it to the next owner; `get`s only compare it.
            slot.state.store(next, Ordering::Relaxed);
            reclaimed += 1;
            if core::mem::needs_drop::<T>() {
                let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    // SAFETY: REMOVED until just now: initialised, and its grace period is
                    // over, so no reader holds a reference; this batch is the slot's only
                    // owner (the FREE state is not on any free list yet).
                    unsafe { slot.drop_value() }
                }));
                if let Err(payload) = dropped {
                    // Dropping a payload can panic too; leaking it cannot.
                    core::mem::forget(payload);
                }
                if frame.gone.get() {
                    // The arena was dropped inside that drop, on this stack: it dropped the
                    // rest of this batch and hands us only its memory to free.
                    return;
                }
            }
            if next != slot::RETIRED {
                freed.push(index, next);
            }
        }
        self.shared.counters.add_reclaimed(reclaimed);
        self.shared.pool.give_back(freed);
    }

    fn slot_of_removed(&self, index: u32) -> SlotRef<'_, T> {
        match self.dir.slot(index) {
            Some(slot) => slot,
            None => unreachable!("a removed slot lives in an allocated chunk"),
        }
    }
}

/// How often [`Inner::reclaim_for_insert`] drives the epoch. Two advances free a batch
/// deferred now; crossbeam runs at most 8 due bags per advance attempt. Under loom, one
/// round: each is a full pin and flush of the model's collector, and the models that fill
/// an arena drive the epoch themselves.
const RECLAIM_ROUNDS: usize = if cfg!(loom) { 1 } else { 16 };

/// The deferred closure (see the module docs).
fn reclaim_deferred<T: Send + Sync>(shared: &Shared, inner: InnerPtr<T>, batch: IndexBatch) {
    shared.deferred.fetch_sub(1, Ordering::Relaxed);
    if !shared.gate.enter() {
        // Closed: the arena dropped every value itself. Paused: a `clear` reclaims them.
        return;
    }
    let ptr = inner.0;
    let ((), owner) = with_frame(ptr.cast(), |frame| {
        // SAFETY: we are inside the open gate, so `Drop for Arena` has not freed the
        // internals: it waits for us to leave, or, if it runs on this very stack, hands
        // them to our frame instead of freeing them.
        let inner = unsafe { &*ptr };
        inner.reclaim(batch, frame);
    });
    shared.gate.exit();
    if !owner.is_null() {
        // SAFETY: `Drop for Arena` ran inside this frame and handed the internals (made by
        // `Box` in `Builder::build`; `owner` is the arena's own pointer to them) to it, the
        // outermost frame for them on this thread, instead of freeing them; the inner frames
        // have left, and the closed gate keeps every other closure out.
        drop(unsafe { Box::from_raw(owner.cast::<Inner<T>>()) });
    }
}
