//! Reclamation: how a removed value is dropped, and its slot reused, only after every guard
//! that could still see it is gone.
//!
//! # Protocol
//!
//! 1. **Unlink** ([`Inner::unlink`]): one CAS from OCCUPIED `g` to REMOVED `g+1`; the key is
//!    dead at once, the value stays in place.
//! 2. **Batch.** The index goes into its owner's [`RetireRing`] (below): a
//!    [`Handle`](crate::Handle)'s, or for [`Arena::remove`](crate::Arena::remove) the one of
//!    the thread's cache entry for the arena (`local.rs`), in the owner's counter cell, where
//!    every thread can reach it. A thread without a usable cache (inside a reclamation that
//!    runs while its cache is borrowed, in thread teardown, and always under loom) pushes
//!    onto the arena's shared [`RetireStack`] instead. Nothing is deferred per removal; a
//!    ring is handed on by its owner when it holds a batch, and every ring and the shared
//!    stack by every flush, collection and full insertion, and by refills (other owners'
//!    rings, and the refilling owner's own once it stopped removing).
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
use crate::sync::{
    thread_local_const, AtomicU32, AtomicU64, Ordering, DRIVE_ON_REFILL, RECLAIM_ROUNDS,
};
use core::cell::Cell;
use crossbeam_epoch::Guard;

/// The shared retire batch for removals made without a usable thread cache (see
/// [`RetireRing`] for the usual path).
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

/// One owner's retire batch: the removals of a [`Handle`](crate::Handle) or of a thread's
/// cache behind [`Arena::remove`](crate::Arena::remove), kept in the owner's counter cell
/// (`counter.rs`) where every thread can reach them.
///
/// A ring of [`BATCH`] entries `(index, REMOVED state)` with one producer and any number of
/// consumers. Only the cell's owner [`push`](RetireRing::push)es: it stores the entry, then
/// publishes it by storing `head` (`Release`). Plain stores, no read-modify-write: a removal
/// through a cache costs what it costs through a `Handle`. Anyone may
/// [`take`](RetireRing::take) what the ring holds: load `tail` and `head`, copy the entries
/// between them, then claim them by CASing `tail` from `t` to `h`. The owner takes when its
/// push fills the ring; every refill, `flush`, collection and full insertion of the arena
/// takes every owner's ring (so a removal waits for the same bounded activity as it did in
/// the shared [`RetireStack`]).
///
/// * A consumer that loses the CAS read entries that the owner may have overwritten since;
///   it throws them away (they are atomics, so reading them was no data race).
/// * The owner writes entry `h` only while `h − tail < BATCH`, with `tail` loaded with
///   `Acquire`: every consumer that read the entry it overwrites has claimed it (its CAS, a
///   release) before, so no claimed batch can contain an overwritten entry.
/// * `head` and `tail` are 64-bit and only grow, so the claiming CAS has no ABA.
pub(crate) struct RetireRing {
    /// Entries pushed, ever. Written only by the owner.
    head: AtomicU64,
    /// Entries taken, ever. Advanced by the winning CAS of a [`take`](RetireRing::take).
    tail: AtomicU64,
    /// `head` at the owner's previous refill (see [`idle`](RetireRing::idle)). Only the
    /// owner reads or writes it.
    checked: AtomicU64,
    /// `index << 32 | state`, at position `n % BATCH` for the `n`-th push.
    entries: [AtomicU64; BATCH],
}

impl RetireRing {
    pub(crate) fn new() -> Self {
        RetireRing {
            head: AtomicU64::new(0),
            tail: AtomicU64::new(0),
            checked: AtomicU64::new(0),
            entries: core::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// Records REMOVED slot `(index, state)`. Only the owner of the cell may call this, and
    /// only while the ring is not full: a push that returns true filled it, and the owner
    /// must [`take`](RetireRing::take) before its next push.
    #[inline(always)]
    pub(crate) fn push(&self, index: u32, state: u32) -> bool {
        // Relaxed: only we write `head`.
        let h = self.head.load(Ordering::Relaxed);
        // Acquire pairs with the consumers' claiming CAS: they are done reading the entry
        // we are about to overwrite (see the type's docs).
        let t = self.tail.load(Ordering::Acquire);
        debug_assert!(h - t < BATCH as u64, "retire ring overfull");
        // Relaxed: the `head` store below publishes it.
        self.entries[(h % BATCH as u64) as usize]
            .store(u64::from(index) << 32 | u64::from(state), Ordering::Relaxed);
        // Release: a consumer that loads this head (Acquire) sees the entry, and our unlink
        // CAS before it.
        self.head.store(h + 1, Ordering::Release);
        h + 1 - t >= BATCH as u64
    }

    /// Whether the ring looks empty (a hint).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head.load(Ordering::Relaxed) == self.tail.load(Ordering::Relaxed)
    }

    /// For the owner's refill: whether the ring holds entries and the owner pushed none
    /// since its previous call, so that no push of its own will fill it soon (an owner that
    /// only inserts now). Then the refill hands them on itself.
    pub(crate) fn idle(&self) -> bool {
        // Relaxed: only the owner writes `head` and `checked`; `tail` is only a hint here.
        let h = self.head.load(Ordering::Relaxed);
        let before = self.checked.load(Ordering::Relaxed);
        self.checked.store(h, Ordering::Relaxed);
        h == before && h != self.tail.load(Ordering::Relaxed)
    }

    /// Entries held (a hint, for `Debug`).
    pub(crate) fn len(&self) -> usize {
        let t = self.tail.load(Ordering::Relaxed);
        self.head.load(Ordering::Relaxed).saturating_sub(t) as usize
    }

    /// Takes every entry the ring holds; `None` if it is empty. Any thread.
    pub(crate) fn take(&self) -> Option<IndexBatch> {
        // Acquire: pairs with a previous claim, so `t` is not older than what we compare.
        let mut t = self.tail.load(Ordering::Acquire);
        loop {
            // Acquire pairs with the owner's Release store: the entries below it are written.
            let h = self.head.load(Ordering::Acquire);
            if h == t {
                return None;
            }
            if h - t > BATCH as u64 {
                // Our `t` is stale: others claimed past it and the owner pushed on.
                t = self.tail.load(Ordering::Acquire);
                continue;
            }
            let mut batch = IndexBatch::new();
            for n in t..h {
                // Relaxed: ordered by the head load above; if the owner overwrote it
                // meanwhile, our CAS below fails and the copy is thrown away.
                let e = self.entries[(n % BATCH as u64) as usize].load(Ordering::Relaxed);
                batch.push((e >> 32) as u32, e as u32);
            }
            // AcqRel: Release so the owner's Acquire load of `tail` orders its overwrites
            // after our reads; Acquire to continue from a competing claim's view on failure.
            match self
                .tail
                .compare_exchange(t, h, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some(batch),
                Err(now) => t = now,
            }
        }
    }

    /// Forgets every entry. Only under `&mut Arena` (`clear`, `compact`, `shrink_to_fit`,
    /// which reclaim every REMOVED slot themselves): no owner pushes and no one takes.
    pub(crate) fn discard_exclusive(&self) {
        let h = self.head.load(Ordering::Relaxed);
        self.tail.store(h, Ordering::Relaxed);
    }
}

/// How many refills of a thread pass between two pushes of its epoch bag while
/// reclamation is pending (see [`Inner::drive_reclamation`]).
pub(crate) const DRIVE_EVERY: u32 = 4;

thread_local_const! {
    static REFILLS: Cell<u32> = Cell::new(0);
}

/// Counts a refill of this thread; true every [`DRIVE_EVERY`]-th time (and when the count
/// is unavailable, in thread teardown).
fn drive_tick() -> bool {
    REFILLS
        .try_with(|n| {
            let now = n.get().wrapping_add(1);
            n.set(now);
            now % DRIVE_EVERY == 0
        })
        .unwrap_or(true)
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

    /// Counts the removal of REMOVED slot `index` and pushes it onto the shared retire
    /// stack, deferring the stack when it holds a batch: [`Arena::remove`](crate::Arena::remove)
    /// on a thread without a usable cache.
    #[cold]
    #[inline(never)]
    pub(crate) fn remove_shared(&self, slot: SlotRef<'_, T>, index: u32) {
        self.anchor.counters.add_removed_shared(1);
        if self.retire.push(slot.next, index) {
            self.defer_shared_retired(&crossbeam_epoch::pin());
        }
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

    /// Takes what `ring` holds (an owner's retire ring of this arena) and defers it.
    #[cold]
    pub(crate) fn hand_off_ring(&self, ring: &RetireRing) {
        if let Some(batch) = ring.take() {
            self.defer_reclaim(batch, &crossbeam_epoch::pin());
        }
    }

    /// Hands every pending removal (the shared retire stack and every owner's ring) to the
    /// epoch collector and pushes this thread's deferred work to the global queue, trying
    /// to advance the epoch once.
    pub(crate) fn flush_retired(&self) {
        self.flush_retired_except(core::ptr::null());
    }

    /// [`flush_retired`](Inner::flush_retired), leaving the ring at `own` (the caller's own,
    /// which it hands on itself when full) alone.
    fn flush_retired_except(&self, own: *const RetireRing) {
        let guard = crossbeam_epoch::pin();
        self.defer_shared_retired(&guard);
        self.anchor.counters.for_each_ring(|ring| {
            if core::ptr::eq(ring, own) {
                return;
            }
            if let Some(batch) = ring.take() {
                self.defer_reclaim(batch, &guard);
            }
        });
        guard.flush();
    }

    /// The refill paths' part of the bound in [`Arena::remove`](crate::Arena::remove),
    /// called once per 64 insertions of an owner at most, with the owner's own retire ring
    /// (null if none):
    ///
    /// * it hands on the removals waiting in the shared retire stack and in every *other*
    ///   owner's ring, if there are any; the caller's own ring only if it did not change
    ///   since the caller's previous refill ([`RetireRing::idle`]): while the owner keeps
    ///   removing, its ring fills and is handed on by its own removals, and taking its
    ///   partial batches would only make more, smaller batches;
    /// * while reclamation closures of this arena wait in epoch bags, every
    ///   [`DRIVE_EVERY`]-th refill of this thread pushes its bag out and tries to advance
    ///   the epoch. Pushing a bag seals it and copies it into the global queue, about 2 KiB
    ///   of copying and an allocation, whatever the bag holds: doing so on every refill cost
    ///   a third of the instructions of a remove-and-insert loop.
    ///
    /// Not under loom (see [`DRIVE_ON_REFILL`]).
    pub(crate) fn drive_reclamation(&self, own: Option<&RetireRing>) {
        if !DRIVE_ON_REFILL {
            return;
        }
        // The owner's own ring is left alone while it keeps pushing (it fills and is handed
        // on by its own removals); once it sat unchanged from one refill to the next, this
        // refill takes it like any other.
        let own: *const RetireRing = match own {
            Some(ring) if !ring.idle() => ring,
            _ => core::ptr::null(),
        };
        let mut others = !self.retire.is_empty();
        self.anchor.counters.for_each_ring(|ring| {
            others |= !core::ptr::eq(ring, own) && !ring.is_empty();
        });
        if others {
            self.flush_retired_except(own);
        } else if self.anchor.deferred.load(Ordering::Relaxed) != 0 && drive_tick() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retire_ring_fills_at_a_batch_and_takes_in_push_order_across_the_wrap() {
        let ring = RetireRing::new();
        assert!(ring.take().is_none());
        for round in 0..3u32 {
            // Each round starts at a different offset of the ring (3 entries left over).
            for i in 0..BATCH as u32 - 1 {
                assert!(!ring.push(round * 1000 + i, 4 * i + 2), "full too early");
            }
            assert!(ring.push(round * 1000 + 999, 2), "a batch fills the ring");
            let batch = ring.take().expect("a full ring");
            assert_eq!(batch.len(), BATCH);
            assert_eq!(batch.as_slice()[0], (round * 1000, 2));
            assert_eq!(batch.as_slice()[BATCH - 1], (round * 1000 + 999, 2));
            assert!(ring.take().is_none() && ring.is_empty());
            for i in 0..3 {
                assert!(!ring.push(i, 6));
            }
            assert_eq!(ring.take().map(|b| b.len()), Some(3));
        }
    }

    #[test]
    fn retire_ring_idle_only_after_a_refill_without_pushes() {
        let ring = RetireRing::new();
        assert!(!ring.idle(), "empty");
        ring.push(1, 2);
        assert!(!ring.idle(), "pushed since the last check");
        assert!(ring.idle(), "nothing pushed since");
        ring.take();
        assert!(!ring.idle(), "empty again");
    }

    #[test]
    fn retire_ring_takers_on_other_threads_take_each_entry_once() {
        let ring = RetireRing::new();
        let n: u32 = if cfg!(miri) { 200 } else { 100_000 };
        let taken = std::sync::Mutex::new(Vec::new());
        let done = AtomicU32::new(0);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| loop {
                    let finished = done.load(Ordering::SeqCst) == 1;
                    if let Some(b) = ring.take() {
                        taken.lock().unwrap().extend_from_slice(b.as_slice());
                    } else if finished {
                        break;
                    }
                });
            }
            let mut mine = Vec::new();
            for i in 0..n {
                if ring.push(i, 2) {
                    if let Some(b) = ring.take() {
                        mine.extend_from_slice(b.as_slice());
                    }
                }
            }
            done.store(1, Ordering::SeqCst);
            taken.lock().unwrap().extend(mine);
        });
        let mut all: Vec<u32> = taken.into_inner().unwrap().iter().map(|e| e.0).collect();
        all.sort_unstable();
        assert_eq!(
            all,
            (0..n).collect::<Vec<_>>(),
            "each entry taken exactly once"
        );
    }
}
