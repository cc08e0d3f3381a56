//! Where free slot indices come from: batches, a shared lock-free stack of batches, and
//! fresh ranges.
//!
//! # Protocol
//!
//! Indices move in [`IndexBatch`]es of up to [`BATCH`]. A thread that needs a free slot takes
//! one from its own [`SlotCache`] (a [`Handle`](crate::Handle)'s, or the thread-local cache
//! behind [`Arena::insert`](crate::Arena::insert)); when that is empty it refills:
//!
//! 1. **Pop a batch** from [`IndexPool`]'s shared stack (Treiber's, `sync/stack.rs`, which
//!    argues its ABA freedom), copied into the cache's own batch in place.
//! 2. **Reserve a fresh range** of never-used indices with one `fetch_add` on `fresh`.
//!    Indices at or beyond `max_slots` do not exist; the counter may run past it harmlessly
//!    (it is a `u64`).
//!
//! A batch on the stack holds FREE slots only, each with its current state: a removed slot
//! reaches the stack through the reclamation path (`raw/reclaim.rs`) after its grace period
//! and after its value was dropped, and the pushing CAS (`Release`) publishes those writes
//! to whoever pops it (`Acquire`). See
//! [Insert](crate::implementation#insert) and
//! [Free-slot stack](crate::implementation#free-slot-stack).

use crate::sync::stack::{Stack, Taken};
pub(crate) use crate::sync::BATCH;
use crate::sync::{AtomicU32, AtomicU64, AtomicUsize, Backoff, Ordering};
use crossbeam_epoch::{self as epoch, Guard};

/// Up to [`BATCH`] slots, as `(index, state)` pairs, used as a stack.
///
/// The owner of a FREE or REMOVED slot knows its state, so the batch carries it: whoever
/// takes the slot next stores the next state without loading the (likely cold) state word.
#[derive(Clone)]
pub(crate) struct IndexBatch {
    len: u32,
    entries: [(u32, u32); BATCH],
}

impl IndexBatch {
    pub(crate) const fn new() -> Self {
        IndexBatch {
            len: 0,
            entries: [(0, 0); BATCH],
        }
    }

    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    #[inline(always)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline(always)]
    pub(crate) fn is_full(&self) -> bool {
        self.len as usize == BATCH
    }

    /// Adds a slot and its state; the caller checks `is_full` first.
    #[inline(always)]
    pub(crate) fn push(&mut self, index: u32, state: u32) {
        self.entries[self.len as usize] = (index, state);
        self.len += 1;
    }

    #[inline(always)]
    pub(crate) fn pop(&mut self) -> Option<(u32, u32)> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        Some(self.entries[self.len as usize])
    }

    #[inline]
    pub(crate) fn as_slice(&self) -> &[(u32, u32)] {
        &self.entries[..self.len as usize]
    }

    /// Makes this batch a copy of `other`, copying only its entries.
    #[inline]
    pub(crate) fn copy_from(&mut self, other: &IndexBatch) {
        let n = other.len as usize;
        self.entries[..n].copy_from_slice(&other.entries[..n]);
        self.len = other.len;
    }

    /// A batch of the fresh slots `start..end` (at most `BATCH`), each with FREE `state`,
    /// lowest on top.
    pub(crate) fn from_range(start: u32, end: u32, state: u32) -> Self {
        debug_assert!(end > start && (end - start) as usize <= BATCH);
        let mut b = IndexBatch::new();
        // Pop order ascends, so consecutive inserts fill consecutive slots.
        for i in (start..end).rev() {
            b.push(i, state);
        }
        b
    }
}

impl core::fmt::Debug for IndexBatch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// Bits of entropy in a distinct arena's generation base ([`distinct_floor`]): the base is
/// `4·k` for `k` in `1..2^DISTINCT_BITS`, below 2^30, so it stays under
/// [`RELEASE_LIMIT`](super::release::RELEASE_LIMIT) (trim still gives memory back) and every
/// slot keeps at least 3·2^28 reuses before it retires.
pub(crate) const DISTINCT_BITS: u32 = 28;

/// A generation base for an arena built with
/// [`Builder::distinct_keys`](crate::Builder::distinct_keys): a FREE state (a multiple of 4)
/// in `4..2^30`, used as the arena's initial generation floor, so that its fresh slots start
/// at a generation that differs from other arenas'.
///
/// The `n`-th call of the process takes `perm((n + seed) mod 2^28)`, where `n + seed` is
/// [`process_sequence`](crate::sync::process_sequence) (`seed` drawn once per process from
/// the standard library's random hasher keys) and `perm` is a bijection of 28-bit numbers
/// (odd multiplications and xor-shifts, each invertible mod 2^28). So the first 2^28 − 1
/// distinct arenas of a process get pairwise different bases (0, the default arenas' base,
/// is skipped), and which base an arena gets differs from run to run.
pub(crate) fn distinct_floor() -> u32 {
    loop {
        let k = permute28(crate::sync::process_sequence());
        if k != 0 {
            return k << 2;
        }
    }
}

/// A bijection of `0..2^28` (the input's high bits are ignored): each step is invertible
/// modulo 2^28, an odd multiplication or an xor with the value shifted right.
fn permute28(x: u32) -> u32 {
    const MASK: u32 = (1 << DISTINCT_BITS) - 1;
    let mut x = x & MASK;
    x = x.wrapping_mul(0x9E37_79B1) & MASK;
    x ^= x >> 15;
    x = x.wrapping_mul(0x85EB_CA77) & MASK;
    x ^= x >> 13;
    x = x.wrapping_mul(0xC2B2_AE3D) & MASK;
    x ^ (x >> 16)
}

/// The shared sources of free indices of one arena.
pub(crate) struct IndexPool {
    /// Batches of FREE slots.
    free: Stack<IndexBatch>,
    fresh: AtomicU64,
    max_slots: u64,
    /// The *generation floor*: a FREE state above every state any slot had in memory that
    /// was given back to the operating system (by `trim`, `compact` or `shrink_to_fit`).
    /// Such memory reads as zero when touched again, so a state read from it means nothing;
    /// fresh slots are handed out with this state instead of 0, and `&mut` rebuilds of the
    /// free list read a slot's state as `max(state, floor)`. It only grows. See
    /// [Memory](crate::implementation#memory).
    floor: AtomicU32,
    /// Trims holding the shared stack's batches right now (see `raw/release.rs`): an
    /// insertion that finds no free slot waits for them rather than report a full arena.
    trimming: AtomicUsize,
    /// Insertions that found no free slot and wait for trims: a trim that sees one backs
    /// off, so back-to-back trims cannot starve them.
    waiters: AtomicUsize,
}

impl IndexPool {
    pub(crate) fn new(max_slots: u32) -> Self {
        IndexPool {
            free: Stack::new(),
            fresh: AtomicU64::new(0),
            max_slots: u64::from(max_slots),
            floor: AtomicU32::new(0),
            trimming: AtomicUsize::new(0),
            waiters: AtomicUsize::new(0),
        }
    }

    /// Marks a trim as about to hold batches (until [`end_trim`](IndexPool::end_trim));
    /// false if an insertion is waiting for free slots: then the trim must not take them
    /// (and still calls `end_trim`).
    pub(crate) fn begin_trim(&self) -> bool {
        // Of a trim and a waiter arriving together, at least one sees the other (the trim
        // backs off, or the waiter waits for it to end): each side increments its own
        // counter, then reads the other's with a read-modify-write. RMWs of one counter are
        // totally ordered and each reads the latest value, so whichever side's read comes
        // second in the other counter's order reads from, and acquires, the first side's
        // increment (a plain SeqCst load would do in the C++ model too; loom models SeqCst
        // as AcqRel, under which only the RMW form is a proof).
        self.trimming.fetch_add(1, Ordering::SeqCst);
        self.waiters.fetch_add(0, Ordering::SeqCst) == 0
    }

    /// Ends [`begin_trim`](IndexPool::begin_trim), after the batches are back on the stack.
    pub(crate) fn end_trim(&self) {
        // Release, after the push (itself Release): a waiter that sees the count drop with
        // Acquire finds the batches on the stack.
        self.trimming.fetch_sub(1, Ordering::Release);
    }

    /// For an insertion that found no free slot: waits until no trim runs, so that a
    /// full-looking arena is not reported full because a trim holds the free batches.
    /// Trims are short (they only scan their batches and call `madvise`); readers never
    /// come here.
    ///
    /// Call it while registered with [`waiting`](IndexPool::waiting), and take the slot
    /// before that registration ends: no new trim starts meanwhile.
    pub(crate) fn wait_for_trims(&self) {
        // Every trim, not only one that holds the stack now: a trim that has announced
        // itself but not yet taken the stack would take it between our check and our pop.
        // Trims that announce themselves after our registration see it and back off at
        // once, so this ends (found by `trim_vs_insert_into_a_full_arena`).
        let backoff = Backoff::new();
        // A read-modify-write read: see `begin_trim`.
        while self.trimming.fetch_add(0, Ordering::SeqCst) != 0 {
            backoff.snooze();
        }
    }

    /// Registers an insertion that found no free slot (see
    /// [`wait_for_trims`](IndexPool::wait_for_trims)) until the result is dropped.
    pub(crate) fn waiting(&self) -> Waiting<'_> {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        Waiting(self)
    }

    /// The generation floor (see the field): the state fresh slots are handed out with.
    #[inline]
    pub(crate) fn floor(&self) -> u32 {
        // Relaxed: any value the floor ever had is a valid state for a fresh slot of a chunk
        // never given back, and chunks given back (`&mut` only) raised it before anyone
        // could reach them again through the `&mut` that gave them back.
        self.floor.load(Ordering::Relaxed)
    }

    /// Raises the floor to at least `state` (a FREE state).
    pub(crate) fn raise_floor(&self, state: u32) {
        debug_assert!(super::slot::is_free(state));
        self.floor.fetch_max(state, Ordering::Relaxed);
    }

    /// What a FREE slot whose memory reads `state` may be handed out with: the floor if its
    /// memory was given back (it reads 0, or less than the floor), else `state`.
    #[inline]
    pub(crate) fn free_state(&self, state: u32) -> u32 {
        debug_assert!(super::slot::is_free(state));
        state.max(self.floor())
    }

    /// Sets where fresh slots start. Only under `&mut Arena` with the pool emptied (compaction
    /// and shrinking lower the high water; `reserve` never does).
    pub(crate) fn set_high_water(&self, high_water: u64) {
        self.fresh.store(high_water, Ordering::Relaxed);
    }

    pub(crate) fn max_slots(&self) -> u64 {
        self.max_slots
    }

    /// Indices below this have been handed out at least once.
    #[inline]
    pub(crate) fn high_water(&self) -> u64 {
        self.fresh.load(Ordering::Relaxed).min(self.max_slots)
    }

    /// Pushes a non-empty batch of FREE indices onto the shared stack.
    pub(crate) fn push(&self, batch: IndexBatch) {
        debug_assert!(!batch.is_empty());
        // The push's Release publishes, through the batch, the FREE states and value drops
        // of its slots to the popper's Acquire.
        self.free.push(batch);
    }

    /// Pops a batch of FREE slots into `into` (which must be empty); false if the stack is
    /// empty. Looks at the top without pinning first: an empty stack costs one load.
    pub(crate) fn pop_into(&self, into: &mut IndexBatch) -> bool {
        debug_assert!(into.is_empty());
        if self.free_is_empty() {
            return false;
        }
        let guard = epoch::pin();
        self.free
            .pop_with(&guard, |batch| into.copy_from(batch))
            .is_some()
    }

    /// Pops a batch of FREE indices, if the shared stack has one.
    pub(crate) fn pop(&self, guard: &Guard) -> Option<IndexBatch> {
        self.free.pop_with(guard, IndexBatch::clone)
    }

    /// Takes every batch off the shared stack at once (for `trim`): their slots are the
    /// caller's until it gives them back with [`push_all`](IndexPool::push_all), and the
    /// chain must then be retired (see [`Taken`]).
    pub(crate) fn take_all(&self, guard: &Guard) -> Taken<IndexBatch> {
        self.free.take_all(guard)
    }

    /// Pushes batches of FREE slots as one chain, the first on top.
    pub(crate) fn push_all(&self, batches: impl IntoIterator<Item = IndexBatch>) {
        self.free.push_all(batches);
    }

    /// Whether the shared stack looks empty (a hint; no guard needed).
    #[inline]
    pub(crate) fn free_is_empty(&self) -> bool {
        self.free.is_empty()
    }

    /// Reserves up to `n` never-used indices.
    pub(crate) fn reserve(&self, n: u32) -> Option<(u32, u32)> {
        // Relaxed: the counter only hands out distinct numbers; the slots behind them are
        // published by the chunk directory, not by this counter.
        let start = self.fresh.fetch_add(u64::from(n), Ordering::Relaxed);
        if start >= self.max_slots {
            // Exhausted. The overshoot is harmless: any value at or past `max_slots` means
            // the same, and a u64 does not wrap at 4 billion failed attempts.
            return None;
        }
        let end = (start + u64::from(n)).min(self.max_slots);
        Some((start as u32, end as u32))
    }

    /// A batch with at least one free slot, reserving as few fresh slots as possible (for
    /// callers without a cache to keep the rest in).
    pub(crate) fn refill_one(&self) -> Option<IndexBatch> {
        if !self.free_is_empty() {
            if let Some(batch) = self.pop(&epoch::pin()) {
                return Some(batch);
            }
        }
        let floor = self.floor();
        self.reserve(1)
            .map(|(s, e)| IndexBatch::from_range(s, e, floor))
    }

    /// Returns a batch of FREE indices (possibly empty) to the pool.
    pub(crate) fn give_back(&self, batch: IndexBatch) {
        if !batch.is_empty() {
            self.push(batch);
        }
    }
}

impl IndexPool {
    /// Frees every batch on the shared stack. For `clear` (gate paused) and `Drop for Arena`
    /// (gate closed), with the arena borrowed mutably: then no thread pushes (closures and
    /// caches giving slots back are kept out by the gate) or pops (that takes `&Arena`), so
    /// no one can hold a node of the stack.
    pub(crate) fn discard_stack(&self) {
        // SAFETY: exclusive access to the stack, as above.
        unsafe { self.free.discard() };
    }
}

/// An insertion registered as waiting for trims ([`IndexPool::waiting`]).
pub(crate) struct Waiting<'a>(&'a IndexPool);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One owner's supply of free slots: a batch of recycled ones, then a range of fresh ones.
///
/// Owned by a [`Handle`](crate::Handle) or a thread's cache. Fresh slots are a plain range
/// (their state is 0), so inserting into a new arena builds no batches at all.
#[derive(Debug)]
pub(crate) struct SlotCache {
    free: IndexBatch,
    fresh: u32,
    fresh_end: u32,
    /// The state of the fresh slots: the pool's floor when they were reserved.
    fresh_state: u32,
}

impl SlotCache {
    pub(crate) const fn new() -> Self {
        SlotCache {
            free: IndexBatch::new(),
            fresh: 0,
            fresh_end: 0,
            fresh_state: 0,
        }
    }

    /// Takes a FREE slot `(index, state)`, refilling from `pool`; `None` when the key space
    /// is full.
    #[inline(always)]
    pub(crate) fn take(&mut self, pool: &IndexPool) -> Option<(u32, u32)> {
        match self.take_held() {
            Some(taken) => Some(taken),
            None => self.refill(pool),
        }
    }

    /// Takes a FREE slot `(index, state)` this cache holds, without refilling.
    #[inline(always)]
    pub(crate) fn take_held(&mut self) -> Option<(u32, u32)> {
        if let Some(taken) = self.free.pop() {
            return Some(taken);
        }
        if self.fresh < self.fresh_end {
            let index = self.fresh;
            self.fresh += 1;
            return Some((index, self.fresh_state));
        }
        None
    }

    /// Refills from `pool` (the cache must be empty) and takes one slot.
    #[cold]
    pub(crate) fn refill(&mut self, pool: &IndexPool) -> Option<(u32, u32)> {
        if pool.pop_into(&mut self.free) {
            return self.free.pop();
        }
        // The floor before the reservation: it can only have grown since any chunk of ours
        // was given back.
        let floor = pool.floor();
        let (start, end) = pool.reserve(BATCH as u32)?;
        self.fresh = start + 1;
        self.fresh_end = end;
        self.fresh_state = floor;
        Some((start, floor))
    }

    /// Puts FREE slot `(index, state)` back; it is the next one taken.
    pub(crate) fn put(&mut self, pool: &IndexPool, index: u32, state: u32) {
        if self.free.is_full() {
            pool.give_back(core::mem::replace(&mut self.free, IndexBatch::new()));
        }
        self.free.push(index, state);
    }

    /// Free slots held.
    pub(crate) fn len(&self) -> usize {
        self.free.len() + (self.fresh_end - self.fresh) as usize
    }

    /// Returns every held slot to `pool`.
    pub(crate) fn give_back(&mut self, pool: &IndexPool) {
        pool.give_back(core::mem::replace(&mut self.free, IndexBatch::new()));
        if self.fresh < self.fresh_end {
            pool.give_back(IndexBatch::from_range(
                self.fresh,
                self.fresh_end,
                self.fresh_state,
            ));
        }
        self.fresh = 0;
        self.fresh_end = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_ranges_stop_at_max() {
        let pool = IndexPool::new(100);
        assert_eq!(pool.reserve(64), Some((0, 64)));
        assert_eq!(pool.reserve(64), Some((64, 100)));
        assert_eq!(pool.reserve(64), None);
        assert_eq!(pool.high_water(), 100);
    }

    #[test]
    fn slot_cache_prefers_recycled_then_fresh_and_gives_everything_back() {
        let pool = IndexPool::new(1000);
        let mut cache = SlotCache::new();
        assert_eq!(cache.take(&pool), Some((0, 0)));
        assert_eq!(cache.len(), BATCH - 1);
        cache.put(&pool, 500, 8);
        assert_eq!(cache.take(&pool), Some((500, 8)));
        assert_eq!(cache.take(&pool), Some((1, 0)));
        cache.give_back(&pool);
        assert_eq!(cache.len(), 0);
        // The fresh remainder went to the stack and comes back before new fresh ranges.
        assert_eq!(cache.take(&pool), Some((2, 0)));
        assert_eq!(pool.high_water(), BATCH as u64);
    }

    #[test]
    fn stack_is_lifo_and_drops_leftovers() {
        let pool = IndexPool::new(1000);
        pool.push(IndexBatch::from_range(0, 3, 0));
        pool.push(IndexBatch::from_range(10, 12, 0));
        let g = epoch::pin();
        assert_eq!(pool.pop(&g).unwrap().as_slice(), &[(11, 0), (10, 0)]);
        pool.push(IndexBatch::from_range(20, 21, 0));
        assert_eq!(pool.pop(&g).unwrap().as_slice(), &[(20, 0)]);
        drop(g);
        // One node left; Drop frees it (miri checks for the leak).
    }

    #[test]
    fn distinct_floors_are_free_states_below_2_30_and_pairwise_different() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..if cfg!(miri) { 100 } else { 100_000 } {
            let floor = distinct_floor();
            assert!(super::super::slot::is_free(floor), "{floor}");
            assert!(floor != 0 && floor < 1 << 30, "{floor}");
            assert!(seen.insert(floor), "{floor} twice");
        }
    }

    #[test]
    fn permute28_is_a_bijection_on_a_window() {
        // Injective on consecutive inputs (the way `distinct_floor` walks it), and it only
        // depends on the low 28 bits.
        let n: u32 = if cfg!(miri) { 1 << 8 } else { 1 << 20 };
        let mut seen = std::collections::HashSet::new();
        for x in 0..n {
            let y = permute28(x.wrapping_sub(n / 2));
            assert!(y < 1 << DISTINCT_BITS && seen.insert(y), "collision at {x}");
        }
        assert_eq!(permute28(5), permute28(5 | 1 << 28));
    }
}
