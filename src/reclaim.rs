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
//!    [`RetireStack`]. Nothing is deferred per removal.
//! 3. **Defer.** A full batch is handed to crossbeam-epoch with *one* deferred closure that
//!    holds *one* `Arc` of the arena's internals. crossbeam runs the closure only after every
//!    thread that was pinned when the batch was sealed has unpinned. A reader that loaded
//!    OCCUPIED `g` did so while pinned, before the unlink, hence before the seal, so its
//!    `&T` outlives its guard never. (crossbeam's `push_bag` puts a `SeqCst` fence between
//!    our unlink and its reading of the global epoch; this is crossbeam's standard
//!    "unlink, then defer" contract, and the deferral here only comes later still.)
//! 4. **Reclaim.** The closure drops each value, sets each state to its next FREE value (or
//!    RETIRED when the generation would wrap), and pushes the FREE indices as one batch onto
//!    the free list, whose `Release` push publishes the drops and state writes to the next
//!    popper.
//!
//! # The arena may be gone by then
//!
//! crossbeam's default collector runs deferred closures whenever some thread pins, possibly
//! long after the arena was dropped, and possibly never (its collector is a static). So:
//!
//! * the closure's `Arc` keeps the chunk memory alive: reclaiming never touches freed memory;
//! * [`Gate`] orders closures against `Drop for Arena`: dropping the arena *closes* the gate
//!   and waits for closures already inside to leave; a closure that arrives later finds the
//!   gate closed and touches nothing. The arena then drops every value still present, live
//!   or REMOVED, itself. So every value is dropped exactly once, before `Drop for Arena`
//!   returns, and no `T` is touched after it (`T` may borrow data that dies with the arena).
//!
//! # Panics in `T::drop`
//!
//! A panic escaping a deferred closure would unwind through crossbeam's collector and skip
//! every other closure in its bag. The closure therefore catches a panic from `T::drop`
//! (the panic hook has already reported it), discards it, and goes on: the slot is reclaimed
//! as if the drop had finished, and nothing is dropped twice.

use crate::arena::Inner;
use crate::free_list::{IndexBatch, BATCH};
use crate::slot::{self, SlotRef};
use crate::sync::{Arc, AtomicU64, AtomicUsize, Backoff, Ordering};
use crossbeam_epoch::Guard;

/// Orders deferred reclamation against dropping the arena.
///
/// One word: bit 0 = closed, the rest = twice the number of closures inside.
pub(crate) struct Gate {
    state: AtomicUsize,
}

const CLOSED: usize = 1;

impl Gate {
    pub(crate) fn new() -> Self {
        Gate {
            state: AtomicUsize::new(0),
        }
    }

    /// Enters, unless the gate is closed.
    ///
    /// A single `fetch_add` linearises against `close`'s `fetch_or`: either the closer sees
    /// us inside and waits, or we see it closed and back out.
    pub(crate) fn enter(&self) -> bool {
        // Acquire: nothing to acquire when open (the epoch already ordered us after the
        // remover), but it keeps the back-out path obviously ordered after `close`.
        let s = self.state.fetch_add(2, Ordering::Acquire);
        if s & CLOSED != 0 {
            self.state.fetch_sub(2, Ordering::Relaxed);
            false
        } else {
            true
        }
    }

    /// Leaves; Release publishes everything done inside to `close_and_wait`.
    pub(crate) fn exit(&self) {
        self.state.fetch_sub(2, Ordering::Release);
    }

    /// Closes the gate and waits until no closure is inside.
    pub(crate) fn close_and_wait(&self) {
        let mut s = self.state.fetch_or(CLOSED, Ordering::AcqRel);
        let backoff = Backoff::new();
        while s >> 1 != 0 {
            backoff.snooze();
            // Acquire pairs with `exit`: the closures' drops and state writes are visible.
            s = self.state.load(Ordering::Acquire);
        }
    }
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

    /// Empties the stack; returns `top index + 1` of the taken chain (0 if it was empty).
    pub(crate) fn take(&self) -> u32 {
        if self.head.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        self.head.swap(0, Ordering::Acquire) as u32
    }
}

impl<T: Send + Sync> Inner<T> {
    /// Hands a batch of REMOVED indices to the epoch collector.
    pub(crate) fn defer_reclaim(this: &Arc<Self>, batch: IndexBatch, guard: &Guard) {
        if batch.is_empty() {
            return;
        }
        let inner = Arc::clone(this);
        // `defer_unchecked` lifts the `Send + 'static` bounds of `defer`:
        // * Send: the closure holds an `Arc<Inner<T>>` and indices; `Inner<T>` is Send + Sync
        //   because `T: Send + Sync`, so running it (dropping `T`s) on another thread is fine.
        // * 'static: the closure may run after the arena, and after lifetimes inside `T`, are
        //   gone. It then finds the gate closed and touches no `T` (see the module docs), and
        //   dropping the `Arc` frees chunk memory without dropping any `T`.
        // The guard comes from the default collector, the one every `Guard` of this crate
        // pins, so the closure waits for every reader's guard.
        // SAFETY: the closure is Send and touches no `T` once the arena is gone (above).
        unsafe { guard.defer_unchecked(move || inner.reclaim(batch)) };
    }

    /// Takes the shared retire stack and defers it, whatever its size.
    pub(crate) fn defer_shared_retired(this: &Arc<Self>, guard: &Guard) {
        let mut link = this.retire.take();
        let mut batch = IndexBatch::new();
        while link != 0 {
            let index = link - 1;
            let slot = this.slot_of_removed(index);
            // Relaxed: the swap in `take` acquired every pusher's link store, and each
            // pusher's state CAS came before its push.
            link = slot.next.load(Ordering::Relaxed);
            batch.push(index, slot.state.load(Ordering::Relaxed));
            if batch.is_full() {
                let full = core::mem::replace(&mut batch, IndexBatch::new());
                Inner::defer_reclaim(this, full, guard);
            }
        }
        Inner::defer_reclaim(this, batch, guard);
    }

    /// The deferred closure: drop, free, return to the pool.
    fn reclaim(&self, batch: IndexBatch) {
        if !self.gate.enter() {
            return;
        }
        let mut freed = IndexBatch::new();
        for &(index, state) in batch.as_slice() {
            let slot = self.slot_of_removed(index);
            // The batch carries the REMOVED state the remover's CAS stored; the remover's
            // CAS, and the inserter's value write before it, happen before this closure
            // (crossbeam's deferral synchronises deferrer and runner).
            debug_assert_eq!(slot.state.load(Ordering::Relaxed), state);
            debug_assert!(slot::has_value(state) && !slot::is_occupied(state));
            if core::mem::needs_drop::<T>() {
                let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    // SAFETY: REMOVED: initialised, and its grace period is over, so no
                    // reader holds a reference; this batch is the slot's only owner.
                    unsafe { slot.drop_value() }
                }));
                if let Err(payload) = dropped {
                    // Dropping a payload can panic too; leaking it cannot.
                    core::mem::forget(payload);
                }
            }
            let next = slot::freed(state);
            // Relaxed: the free-list push below publishes it to the next owner; concurrent
            // `get`s only compare it (it never equals an OCCUPIED generation they hold).
            slot.state.store(next, Ordering::Relaxed);
            if next != slot::RETIRED {
                freed.push(index, next);
            }
        }
        self.shared.counters.add_reclaimed(batch.len() as isize);
        self.shared.pool.give_back(freed);
        self.gate.exit();
    }

    fn slot_of_removed(&self, index: u32) -> SlotRef<'_, T> {
        match self.dir.slot(index) {
            Some(slot) => slot,
            None => unreachable!("a removed slot lives in an allocated chunk"),
        }
    }
}
