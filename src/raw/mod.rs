//! The raw slot store: the unsafe core of an arena, behind a safe surface.
//!
//! [`Inner`] owns the slots (`chunk`, `slot`), and with its [`Anchor`] the supply of free
//! slots (`pool`, `local`), the counts (`counter`), and reclamation (`reclaim`, `gate`).
//! The public API in `arena/` and the collector in `gc/` work through its operations:
//!
//! * [`prepare`](Inner::prepare) a FREE slot the caller owns, then
//!   [`publish`](Inner::publish) a value in it (or [`publish_with`](Inner::publish_with)
//!   one made from its own key), with one Release store of the state;
//! * [`unlink`](Inner::unlink) a live key with one CAS, then hand the slot to reclamation
//!   (`reclaim.rs`), which drops the value after its grace period and returns the slot.
//!
//! Beside the slot store, `side_table` is the unsafe core of
//! [`SharedSecondaryMap`](crate::SharedSecondaryMap): per-index cells of boxed entries,
//! replaced with one CAS and retired through the epoch collector.
//!
//! The store knows one thing of the collector: the cycle number in [`Stamp`], which every
//! insertion stores as its value's birth cycle. The rest of the collector's state is the
//! opaque `C` of [`Inner<T, C>`], which the store only keeps and drops. See
//! [Insert](crate::implementation#insert) and
//! [Remove and reclamation](crate::implementation#remove-and-reclamation).

pub(crate) mod chunk;
pub(crate) mod compact;
pub(crate) mod counter;
pub(crate) mod gate;
pub(crate) mod local;
pub(crate) mod persist;
pub(crate) mod pool;
pub(crate) mod reclaim;
pub(crate) mod release;
pub(crate) mod side_table;
pub(crate) mod slot;

use self::chunk::{chunk_start, ChunkDir, NUM_CHUNKS};
use self::counter::Counters;
use self::gate::Gate;
use self::pool::{IndexBatch, IndexPool};
use self::reclaim::RetireStack;
use self::slot::SlotRef;
use crate::key::Key;
use crate::sync::alloc::NoMemory;
use crate::sync::{AtomicU64, AtomicUsize, Ordering};
use core::marker::PhantomData;
use crossbeam_utils::CachePadded;
use std::sync::Arc;

/// The anchor of deferred work: the parts of an arena that do not depend on `T`, which
/// deferred reclamation closures and the thread-local caches hold on to (an `Arc`, and a
/// `Weak` from the caches), possibly after the arena is gone. It stays small: `Drop for
/// Arena` empties the pool and the counter list, so after the arena is gone only this
/// header waits for the last closure or cache to let go.
pub(crate) struct Anchor {
    /// Closed when the arena drops, paused while `clear` rebuilds (see `gate.rs`).
    pub(crate) gate: Gate,
    pub(crate) pool: IndexPool,
    pub(crate) counters: Counters,
    /// Bumped by every `clear`, which rebuilds the free list from the slots themselves: a
    /// thread cache bound under an older value holds slots that are on the new list too, so
    /// it is dropped unused (see `local.rs`).
    binding: AtomicU64,
    /// Reclamation closures deferred and not yet run: while there are any, refills drive
    /// the epoch (see `reclaim.rs`).
    pub(crate) deferred: AtomicUsize,
}

impl Anchor {
    fn new(max_slots: u32) -> Self {
        Anchor {
            gate: Gate::new(),
            pool: IndexPool::new(max_slots),
            counters: Counters::new(),
            binding: AtomicU64::new(0),
            deferred: AtomicUsize::new(0),
        }
    }

    /// The current binding (see the field).
    #[inline(always)]
    pub(crate) fn binding(&self) -> u64 {
        // Relaxed: it only changes under `&mut Arena`, and whoever uses the arena afterwards
        // got its reference through something that synchronised with that `&mut`.
        self.binding.load(Ordering::Relaxed)
    }

    /// Invalidates every thread cache bound so far (see the field). Only under `&mut Arena`
    /// with the gate paused.
    pub(crate) fn rebind(&self) {
        self.binding.fetch_add(1, Ordering::Relaxed);
    }

    /// Frees the pool's batches and the counter cells. Only for `Drop for Arena`, after it
    /// closed the gate: from then on nothing reads them.
    pub(crate) fn release_memory(&self) {
        self.pool.discard_stack();
        // SAFETY: the gate is closed, so no thread cache touches its cell any more, and
        // `Handle`s borrow the arena, which is being dropped.
        unsafe { self.counters.free_cells() };
    }
}

/// What the store knows of the collector: the birth stamp. Every insertion stores the low
/// 32 bits of the stamp it reads as its value's *birth* (in the slot's link word). A
/// collection advances the stamp when it starts, and its sweep spares the values born since
/// (allocation black; see [One cycle](crate::implementation#one-cycle), step 3); a
/// `Mutator`'s safepoint advances it too, so that the values inserted before the safepoint
/// and after it are told apart (see `gc/mutators.rs`). 64 bits, so that the collector
/// knows how far back a mutator's last safepoint lies however many stamps have passed.
pub(crate) struct Stamp {
    cycle: CachePadded<AtomicU64>,
}

impl Stamp {
    fn new() -> Self {
        Stamp {
            cycle: CachePadded::new(AtomicU64::new(0)),
        }
    }

    /// The birth an insertion stores in its slot.
    #[inline(always)]
    pub(crate) fn birth(&self) -> u32 {
        // Relaxed: a stale value only makes the new value count as older than a cycle that
        // is just starting (step 3 of the cycle).
        self.cycle.load(Ordering::Relaxed) as u32
    }

    /// Advances the stamp and returns the new one: a collection starting (only the
    /// collector, under its lock), a mutator's registration or its safepoint.
    pub(crate) fn advance(&self) -> u64 {
        // SeqCst: for a collection, ordered before the switch to MARKING that follows, and
        // one side of the registration pattern in `gc/mutators.rs`. (A safepoint needs only
        // the read-modify-write's coherence: see `Core::safepoint`.)
        self.cycle.fetch_add(1, Ordering::SeqCst) + 1
    }
}

/// Everything an arena owns: its slots, its [`Anchor`], its shared retire stack, the
/// collector's [`Stamp`] and the rest of the collector's state `C`. Owned by the arena
/// through a raw pointer (so deferred closures may keep its address without keeping it
/// alive; see `gate.rs`).
pub(crate) struct Inner<T, C> {
    pub(crate) dir: ChunkDir<T>,
    pub(crate) anchor: Arc<Anchor>,
    pub(crate) retire: RetireStack,
    pub(crate) stamp: Stamp,
    /// The collector's phase, mark bits, grey queue and roots (see `gc/`).
    pub(crate) collector: C,
    /// For auto traits and drop check: an arena owns its `T`s.
    _owns: PhantomData<T>,
}

impl<T, C> Inner<T, C> {
    /// Internals for at most `max_slots` slots, with chunks for at least `capacity` of them
    /// allocated.
    pub(crate) fn new(capacity: usize, max_slots: u32, collector: C) -> Self {
        let inner = Inner {
            dir: ChunkDir::new(),
            anchor: Arc::new(Anchor::new(max_slots)),
            retire: RetireStack::new(),
            stamp: Stamp::new(),
            collector,
            _owns: PhantomData,
        };
        let want = (capacity as u64).min(u64::from(max_slots));
        for c in 0..NUM_CHUNKS {
            if chunk_start(c) >= want {
                break;
            }
            // A failure here only means "too large to back", which `try_insert` reports.
            let _ = inner.dir.alloc(c);
        }
        inner
    }

    /// The slot for FREE slot `(index, state)`, which the caller owns, and the key an
    /// insertion there publishes. [`NoMemory::TooLarge`] if the index cannot be backed by
    /// memory (a `T` so large that its chunk's size overflows `isize`),
    /// [`NoMemory::Failed`] if allocating its chunk failed (the slot is untouched).
    #[inline(always)]
    pub(crate) fn prepare(
        &self,
        index: u32,
        state: u32,
    ) -> Result<(SlotRef<'_, T>, Key), NoMemory> {
        let slot = self.dir.try_slot_or_alloc(index)?;
        // The owner knows the state, so there is no load of a possibly cold (or never
        // touched) state word here; debug builds check it. The last write of that state
        // reached us through the free list's Release/Acquire, the `&mut` that freed the
        // slot, or the chunk's publication.
        debug_assert!(
            {
                // Equal, or lower: the memory was given back (it reads 0) or the owner
                // raised it to the generation floor (see `pool.rs`).
                let now = slot.state.load(Ordering::Relaxed);
                slot::is_free(now) && now <= state
            },
            "slot {index}: memory says {}, the owner {state}",
            slot.state.load(Ordering::Relaxed)
        );
        // SAFETY: FREE and ours (the caller owns `(index, state)`).
        unsafe { slot.check_poison(index) };
        Ok((slot, Key::new(index, slot::occupied(state))))
    }

    /// Step 1 of removal: CASes the slot of a live key from OCCUPIED to REMOVED. Returns the
    /// slot if this call won; of racing callers exactly one does, and the key is dead for
    /// every later lookup. The value stays in place for reclamation.
    #[inline]
    pub(crate) fn unlink(&self, key: Key) -> Option<SlotRef<'_, T>> {
        let slot = self.dir.slot(key.index())?;
        let generation = key.generation();
        // Acquire: the winner takes the value over for reclamation, so it must see the
        // inserter's write of it.
        slot.state
            .compare_exchange(
                generation,
                slot::removed(generation),
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .ok()
            .map(|_| slot)
    }

    /// Writes and publishes a value in a slot returned by [`prepare`](Inner::prepare).
    #[inline(always)]
    pub(crate) fn publish(&self, slot: SlotRef<'_, T>, key: Key, value: T) {
        // SAFETY: the slot is FREE and ours (from `prepare`), so its cell is uninitialised
        // and no one else touches it.
        unsafe { slot.write(value) };
        // The birth cycle, in the link word an occupied slot does not otherwise use (see
        // `slot.rs`). Relaxed: the Release store below publishes it with the value.
        slot.next.store(self.stamp.birth(), Ordering::Relaxed);
        // Release: a reader's Acquire load of this state sees the value written.
        slot.state.store(key.generation(), Ordering::Release);
    }

    /// Publishes the value `f` makes from its own key in a slot returned by
    /// [`prepare`](Inner::prepare) for FREE slot `(index, state)`: `insert_with`.
    ///
    /// If `f` unwinds, the key it was given is made stale forever: the slot goes from FREE
    /// `state` straight to the FREE state after that key's generation, so the key can never
    /// match, even if `f` stored it somewhere. Then `put_back(index, new_state)` returns the
    /// slot (the new state may be [`slot::RETIRED`]), and the panic goes on.
    #[inline]
    pub(crate) fn publish_with(
        &self,
        (slot, key): (SlotRef<'_, T>, Key),
        (index, state): (u32, u32),
        f: impl FnOnce(Key) -> T,
        put_back: impl FnOnce(u32, u32),
    ) {
        /// Burns the key and puts the slot back if dropped (disarmed with `mem::forget`).
        struct Burn<'a, T, P: FnOnce(u32, u32)> {
            slot: SlotRef<'a, T>,
            index: u32,
            state: u32,
            put_back: Option<P>,
        }
        impl<T, P: FnOnce(u32, u32)> Drop for Burn<'_, T, P> {
            fn drop(&mut self) {
                let next = slot::freed(slot::occupied(self.state));
                // Relaxed: readers only compare the state (it never equals a key they hold),
                // and the slot's next owner synchronises through the cache or the pool.
                self.slot.state.store(next, Ordering::Relaxed);
                if let Some(put_back) = self.put_back.take() {
                    put_back(self.index, next);
                }
            }
        }
        let burn = Burn {
            slot,
            index,
            state,
            put_back: Some(put_back),
        };
        let value = f(key);
        core::mem::forget(burn);
        self.publish(slot, key, value);
    }

    /// Indices handed out so far; every non-FREE slot is below this.
    #[inline]
    pub(crate) fn high_water(&self) -> u64 {
        self.anchor.pool.high_water()
    }
}

/// Collects indices freed through `&mut` and returns them to the pool in batches.
///
/// Each value is counted as it is freed, not when the sink drops, so a `Drain` that is
/// `mem::forget`-ten leaves the counts right; its last partial batch of slots is then lost
/// until the next [`Arena::clear`](crate::Arena::clear), which rebuilds the free list.
pub(crate) struct FreeSink<'a> {
    anchor: &'a Anchor,
    batch: IndexBatch,
}

impl<'a> FreeSink<'a> {
    /// A sink for an arena borrowed mutably (the counting relies on it).
    pub(crate) fn new(anchor: &'a Anchor) -> Self {
        FreeSink {
            anchor,
            batch: IndexBatch::new(),
        }
    }

    /// Records a removed value whose slot now has FREE `state` (or just retired).
    pub(crate) fn free(&mut self, index: u32, state: u32) {
        self.anchor.counters.add_taken_exclusive(1);
        if state != slot::RETIRED {
            self.keep(index, state);
        }
    }

    /// Frees the OCCUPIED slot `(index, slot)` whose state is `state` and drops its value:
    /// the way `retain` and `par_retain` remove a value through `&mut`. The state says FREE
    /// before the value's `Drop` runs, so a panic there leaves nothing to drop twice.
    ///
    /// # Safety
    /// `state` is the slot's current OCCUPIED state, and the slot is exclusively the
    /// caller's (through `&mut` of its arena).
    pub(crate) unsafe fn free_value<T>(&mut self, index: u32, slot: SlotRef<'_, T>, state: u32) {
        let next = slot::freed(state);
        // Relaxed: `&mut` of the arena excludes every other access.
        slot.state.store(next, Ordering::Relaxed);
        self.free(index, next);
        // SAFETY: OCCUPIED, so initialised, and exclusively ours (the caller's contract);
        // the state already says FREE.
        unsafe { slot.drop_value() };
    }

    /// Adds FREE slot `(index, state)` to the batch, without counting anything.
    pub(crate) fn keep(&mut self, index: u32, state: u32) {
        if self.batch.is_full() {
            self.anchor
                .pool
                .give_back(core::mem::replace(&mut self.batch, IndexBatch::new()));
        }
        self.batch.push(index, state);
    }
}

impl Drop for FreeSink<'_> {
    fn drop(&mut self) {
        self.anchor
            .pool
            .give_back(core::mem::replace(&mut self.batch, IndexBatch::new()));
    }
}
