//! Live and pending counts without a contended counter.
//!
//! A single shared `fetch_add` per insert would cost 8 ns alone and bounce one cache line
//! between every inserting thread. Instead each [`Handle`](crate::Handle) (and each thread's
//! cache behind [`Arena::insert`](crate::Arena::insert)) owns a [`CounterCell`] for as long as
//! it lives: a cache-padded pair of counters that only its owner writes, with a plain
//! load + store (no read-modify-write). [`Counters::sum`] adds all cells up:
//! `live = inserted − removed`, `pending = removed − reclaimed`. A removal touches one
//! counter, and reclamation counts whole batches.
//!
//! Cells sit on a push-only list (`sync/list.rs`); a released cell keeps its counts (they are
//! part of the arena's total) and is handed to the next owner that asks, so the list grows to
//! the largest number of simultaneous owners and no further. Threads without a cell (plain
//! [`Arena::remove`](crate::Arena::remove), the reclamation path) use the first cell, which is
//! never owned, with read-modify-writes.
//!
//! Removals through `&mut Arena` (`take`, `retain`, `drain`, `clear`) need no grace period
//! and are counted at once, one by one, in `taken`: a `Drain` that is `mem::forget`-ten
//! leaves no count behind. `live = inserted − removed − taken`.
//!
//! The sum is exact when no operation runs concurrently; while other threads insert or
//! remove it is a value the count had recently (each cell is read once, `Relaxed`). See
//! [Counting](crate::implementation#counting).

use super::reclaim::RetireRing;
use crate::sync::list::PushList;
use crate::sync::{AtomicBool, AtomicIsize, Ordering};
use crossbeam_utils::CachePadded;

/// One owner's share of the counts, and its retire batch.
///
/// `repr(C)`: the counters and the ring's head and tail, which every insertion or removal
/// of the owner touches, share the first cache line.
#[repr(C)]
pub(crate) struct CounterCell {
    /// Values inserted through this cell.
    inserted: AtomicIsize,
    /// Values removed through this cell.
    removed: AtomicIsize,
    owned: AtomicBool,
    /// The owner's removals waiting to be handed to the epoch collector (see
    /// [`RetireRing`]): only the owner pushes, anyone may take. A released cell keeps its
    /// entries until someone takes them (the next owner, or any refill, flush or collection).
    pub(crate) retired: RetireRing,
}

impl CounterCell {
    fn new(owned: bool) -> Self {
        CounterCell {
            inserted: AtomicIsize::new(0),
            removed: AtomicIsize::new(0),
            owned: AtomicBool::new(owned),
            retired: RetireRing::new(),
        }
    }

    /// Counts insertions. Only the owner of the cell may call this.
    #[inline(always)]
    pub(crate) fn add_inserted_owned(&self, n: isize) {
        // Single writer: a load and a store, no read-modify-write.
        let v = self.inserted.load(Ordering::Relaxed);
        self.inserted.store(v.wrapping_add(n), Ordering::Relaxed);
    }

    /// Counts removals. Only the owner of the cell may call this.
    #[inline(always)]
    pub(crate) fn add_removed_owned(&self, n: isize) {
        let v = self.removed.load(Ordering::Relaxed);
        self.removed.store(v.wrapping_add(n), Ordering::Relaxed);
    }
}

/// The cells of one arena.
pub(crate) struct Counters {
    /// The cell for callers that own none; updated with read-modify-writes.
    shared: CachePadded<CounterCell>,
    /// Values whose reclamation finished (dropped after their grace period, or removed
    /// through `&mut` without one).
    reclaimed: CachePadded<AtomicIsize>,
    /// Values removed through `&mut Arena`, which need no grace period. Written only under
    /// `&mut Arena`, so a plain load and store.
    taken: AtomicIsize,
    /// Ownable cells.
    cells: PushList<CachePadded<CounterCell>>,
}

impl Counters {
    pub(crate) fn new() -> Self {
        Counters {
            shared: CachePadded::new(CounterCell::new(true)),
            reclaimed: CachePadded::new(AtomicIsize::new(0)),
            taken: AtomicIsize::new(0),
            cells: PushList::new(),
        }
    }

    /// Counts insertions from a thread that owns no cell.
    #[inline]
    pub(crate) fn add_inserted_shared(&self, n: isize) {
        self.shared.inserted.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts removals from a thread that owns no cell.
    #[inline]
    pub(crate) fn add_removed_shared(&self, n: isize) {
        self.shared.removed.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts finished reclamations.
    #[inline]
    pub(crate) fn add_reclaimed(&self, n: isize) {
        // Release: reclamation counts after it gave the slots back, so a `sum` that reads
        // this count (Acquire) and sees nothing pending finds them in the pool.
        self.reclaimed.fetch_add(n, Ordering::Release);
    }

    /// Counts values removed through `&mut Arena`. Only with the arena borrowed mutably:
    /// nobody else writes `taken` then, so a load and a store are enough.
    #[inline]
    pub(crate) fn add_taken_exclusive(&self, n: isize) {
        let v = self.taken.load(Ordering::Relaxed);
        self.taken.store(v.wrapping_add(n), Ordering::Relaxed);
    }

    /// Makes the counts say "empty, nothing pending": for `clear`, which has dropped every
    /// value. Only under `&mut Arena` with the gate paused, so that no closure adds to
    /// `reclaimed` meanwhile.
    pub(crate) fn reset_exclusive(&self) {
        let (inserted, removed) = self.totals();
        self.taken
            .store(inserted.wrapping_sub(removed), Ordering::Relaxed);
        self.reclaimed.store(removed, Ordering::Relaxed);
    }

    /// Takes ownership of a cell: a released one if there is one, else a new one.
    pub(crate) fn acquire(&self) -> &CounterCell {
        // Acquire: the cells published by `push` below are visible.
        for cell in self.cells.iter(Ordering::Acquire) {
            // Acquire pairs with `release`: the previous owner's last counts are visible, so
            // our single-writer load + store continues from them.
            if !cell.owned.load(Ordering::Relaxed)
                && cell
                    .owned
                    .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return cell;
            }
        }
        // Release publishes the cell to `acquire` and `sum`.
        self.cells
            .push(CachePadded::new(CounterCell::new(true)), Ordering::Release)
    }

    /// Gives a cell back; its counts stay part of the total.
    pub(crate) fn release(&self, cell: &CounterCell) {
        // Release: the next owner's Acquire sees our last counts.
        cell.owned.store(false, Ordering::Release);
    }

    /// Insertions and grace-period removals, summed over all cells.
    fn totals(&self) -> (isize, isize) {
        let (mut inserted, mut removed) = (
            self.shared.inserted.load(Ordering::Relaxed),
            self.shared.removed.load(Ordering::Relaxed),
        );
        for cell in self.cells.iter(Ordering::Acquire) {
            inserted = inserted.wrapping_add(cell.inserted.load(Ordering::Relaxed));
            removed = removed.wrapping_add(cell.removed.load(Ordering::Relaxed));
        }
        (inserted, removed)
    }

    /// (values inserted, values removed) over the arena's life: removals through the epoch
    /// path and through `&mut Arena` (garbage collections included). Same consistency as
    /// [`sum`](Counters::sum).
    pub(crate) fn lifetime(&self) -> (usize, usize) {
        let (inserted, removed) = self.totals();
        let taken = self.taken.load(Ordering::Relaxed);
        (
            inserted.max(0) as usize,
            removed.wrapping_add(taken).max(0) as usize,
        )
    }

    /// (live, pending reclamation) summed over all cells.
    pub(crate) fn sum(&self) -> (usize, usize) {
        // Read `reclaimed` first: it only trails `removed`, so reading it before the cells
        // can only overstate `pending` a little, never make it negative. Acquire pairs with
        // `add_reclaimed`'s Release: the slots of what we count as reclaimed are in the pool.
        let reclaimed = self.reclaimed.load(Ordering::Acquire);
        let (inserted, removed) = self.totals();
        let taken = self.taken.load(Ordering::Relaxed);
        let live = inserted.wrapping_sub(removed).wrapping_sub(taken).max(0) as usize;
        let pending = removed.wrapping_sub(reclaimed).max(0) as usize;
        (live, pending)
    }

    /// Runs `f` on the retire ring of every ownable cell, owned or not (the shared cell's
    /// ring is never pushed to).
    #[inline]
    pub(crate) fn for_each_ring(&self, mut f: impl FnMut(&RetireRing)) {
        // Acquire: the cells published by `push` in `acquire` are visible.
        for cell in self.cells.iter(Ordering::Acquire) {
            f(&cell.retired);
        }
    }

    /// Frees every cell now.
    ///
    /// # Safety
    /// Nobody may use a cell of this list, or the list, afterwards (see `Drop for Arena`).
    pub(crate) unsafe fn free_cells(&self) {
        // SAFETY: the caller's contract.
        unsafe { self.cells.free_all() };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_reused_and_counts_survive_release() {
        let c = Counters::new();
        let a = c.acquire();
        a.add_inserted_owned(5);
        let b = c.acquire();
        assert!(!core::ptr::eq(a, b));
        b.add_removed_owned(2);
        c.add_inserted_shared(1);
        c.add_removed_shared(1);
        c.add_reclaimed(2);
        assert_eq!(c.sum(), (3, 1));
        c.release(a);
        let a2 = c.acquire();
        assert!(core::ptr::eq(a, a2));
        a2.add_inserted_owned(1);
        assert_eq!(c.sum(), (4, 1));
        c.release(a2);
        c.release(b);
    }
}
