//! Reclamation: how a removed value is dropped, and its slot reused, only after every guard
//! that could still see it is gone.
//!
//! # Protocol
//!
//! 1. **Unlink** ([`Inner::unlink`]): one CAS from OCCUPIED `g` to REMOVED `g+1`; the key is
//!    dead at once, the value stays in place.
//! 2. **Batch.** The index goes into a retire batch: a [`Handle`](crate::Handle)'s own, or,
//!    for [`Arena::remove`](crate::Arena::remove), the arena's shared [`RetireStack`]
//!    (below). Nothing is deferred per removal; the shared stack is handed on when it holds
//!    a batch, and by every refill, flush, collection and full insertion.
//! 3. **Defer** ([`Inner::defer_reclaim`]): one crossbeam-epoch closure per batch, holding
//!    the batch, an `Arc` of the arena's [`Anchor`] and the internals' address.
//! 4. **Reclaim** ([`Inner::reclaim`]): inside the [`Gate`](super::gate::Gate), each slot
//!    still in the REMOVED state its batch recorded gets its next FREE state (or RETIRED),
//!    *then* its value is dropped, and the FREE slots go back to the pool as one batch.
//!
//! The closure may run long after the arena is gone, or on the stack of the arena's own
//! drop: `raw/gate.rs` handles both. A panic from `T::drop` inside a closure is caught and
//! discarded (unwinding through crossbeam's collector would skip other closures).
//!
//! The orderings, the bound on how long a removal waits, and why every value is dropped
//! exactly once are argued in
//! [Remove and reclamation](crate::implementation#remove-and-reclamation).

use super::gate::{with_frame, Frame};
use super::pool::{IndexBatch, BATCH};
use super::slot::{self, SlotRef};
use super::{Anchor, Inner};
use crate::sync::{AtomicU32, AtomicU64, Ordering, DRIVE_ON_REFILL, RECLAIM_ROUNDS};
use crossbeam_epoch::Guard;

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
    pub(crate) fn push(&self, link: &AtomicU32, index: u32) -> bool {
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
struct InnerPtr<T, C>(*const Inner<T, C>);

impl<T: Send + Sync, C> Inner<T, C> {
    /// Hands a batch of REMOVED indices to the epoch collector.
    pub(crate) fn defer_reclaim(&self, batch: IndexBatch, guard: &Guard) {
        if batch.is_empty() {
            return;
        }
        let anchor = std::sync::Arc::clone(&self.anchor);
        // Relaxed: a hint for `drive_reclamation`, nothing is published through it.
        anchor.deferred.fetch_add(1, Ordering::Relaxed);
        let inner = InnerPtr(self as *const Inner<T, C>);
        // `defer_unchecked` lifts the `Send + 'static` bounds of `defer`:
        // * Send: the closure holds an `Arc<Anchor>` (Send + Sync), indices, and the address
        //   of `Inner<T, C>`, which is Send + Sync because `T: Send + Sync` (and the
        //   collector's state is), so running it
        //   (dropping `T`s) on another thread is fine.
        // * 'static: the closure may run after the arena, and after lifetimes inside `T`, are
        //   gone. It then finds the gate closed and touches neither the internals nor any
        //   `T` (see `raw/gate.rs`); dropping its `Arc<Anchor>` touches no `T`.
        // The guard comes from the default collector, the one every `Guard` of this crate
        // pins, so the closure waits for every reader's guard.
        // SAFETY: as argued above.
        unsafe { guard.defer_unchecked(move || reclaim_deferred(&anchor, inner, batch)) };
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
    /// Not under loom (see [`DRIVE_ON_REFILL`]).
    pub(crate) fn drive_reclamation(&self) {
        if !DRIVE_ON_REFILL {
            return;
        }
        if !self.retire.is_empty() {
            self.flush_retired();
        } else if self.anchor.deferred.load(Ordering::Relaxed) != 0 {
            crossbeam_epoch::pin().flush();
        }
    }

    /// For an insertion that found no free slot: hands pending removals on and drives the
    /// epoch a bounded number of times, until a batch of free slots appears in the pool.
    /// Returns whether one did. A guard held by this thread, or by any other, can keep the
    /// epoch from advancing; then this gives up after its rounds.
    #[cold]
    ///
    /// A trim may hold every free batch for a moment (`raw/release.rs`): the caller
    /// registers with [`IndexPool::waiting`](super::pool::IndexPool::waiting) around this
    /// call and its retry, and this waits for trims that already hold them.
    pub(crate) fn reclaim_for_insert(&self) -> bool {
        self.anchor.pool.wait_for_trims();
        if !self.anchor.pool.free_is_empty() {
            return true;
        }
        self.flush_retired();
        for _ in 0..RECLAIM_ROUNDS {
            if !self.anchor.pool.free_is_empty() {
                return true;
            }
            crossbeam_epoch::pin().flush();
        }
        !self.anchor.pool.free_is_empty()
    }

    /// The deferred closure's work, inside the gate: drop, free, return to the pool.
    fn reclaim(&self, batch: IndexBatch, frame: &Frame) {
        let mut freed = IndexBatch::new();
        let mut reclaimed = 0;
        for &(index, state) in batch.as_slice() {
            let Some(slot) = self.dir.slot(index) else {
                // Its chunk was freed by a compaction or shrink, which dropped the value.
                continue;
            };
            // Relaxed: the slot still holds the REMOVED state the remover's CAS stored,
            // unless a `clear` (or `compact`, `shrink_to_fit`) reclaimed it first; its writes happen before our
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
            // With feature `poison`, a value without drop glue is "dropped" too, so that
            // its bytes are poisoned.
            if core::mem::needs_drop::<T>() || cfg!(feature = "poison") {
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
        // Slots first, count second: whoever sees nothing pending any more (the count's
        // Release, its Acquire) finds the slots in the pool.
        self.anchor.pool.give_back(freed);
        self.anchor.counters.add_reclaimed(reclaimed);
    }

    fn slot_of_removed(&self, index: u32) -> SlotRef<'_, T> {
        match self.dir.slot(index) {
            Some(slot) => slot,
            None => unreachable!("a removed slot lives in an allocated chunk"),
        }
    }
}

/// The deferred closure (see the module docs).
fn reclaim_deferred<T: Send + Sync, C>(anchor: &Anchor, inner: InnerPtr<T, C>, batch: IndexBatch) {
    anchor.deferred.fetch_sub(1, Ordering::Relaxed);
    if !anchor.gate.enter() {
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
    anchor.gate.exit();
    if !owner.is_null() {
        // SAFETY: `Drop for Arena` ran inside this frame and handed the internals (made by
        // `Box` in `Builder::build`; `owner` is the arena's own pointer to them) to it, the
        // outermost frame for them on this thread, instead of freeing them; the inner frames
        // have left, and the closed gate keeps every other closure out.
        drop(unsafe { Box::from_raw(owner.cast::<Inner<T, C>>()) });
    }
}
