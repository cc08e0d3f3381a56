//! The registry of persistent roots that the collector scans ([`Root`](crate::Root) is the
//! handle to one entry).
//!
//! # Protocol
//!
//! The registry is a push-only list of cells (`sync/list.rs`), each holding one key's bits
//! (0 = free cell). [`Arena::root`](crate::Arena::root) claims a free cell with a CAS (or
//! pushes a new one), then *shades* the key; dropping the `Root` stores 0. Cells are freed
//! only with the arena.
//!
//! A collection scans the cells after it has switched to marking. Claiming a cell and then
//! reading the phase on one side, and switching the phase and then reading the cells on the
//! other, is the store-buffering pattern, with a `SeqCst` fence between the store and the
//! load on each side: at least one side sees the other. So a root made while a collection
//! starts is either found by the scan or shaded by `root`. (The accesses are `SeqCst` too,
//! but the fences are what the argument rests on, and what loom checks: it models `SeqCst`
//! accesses as acquire/release only, and its model `gc_try_root_vs_collect` failed without
//! the fences.)
//!
//! # Weak keys
//!
//! A key is a weak reference: it does not keep its value, and reads `None` once the value
//! is gone. [`Arena::try_root`](crate::Arena::try_root) upgrades it to a strong one only if
//! the value is still live: it registers the root as above, waits until no sweep is running
//! (a sweep that started before the registration may take the value: it was unreachable when
//! marking ended), then checks the slot. Past the wait, no running cycle can take the value
//! and every later one finds the root, so a live slot at the check stays live while the
//! `Root` does (only `remove` or a `&mut` method can end it).

use super::sweeper;
use super::Core;
use crate::key::Key;
use crate::sync::list::PushList;
use crate::sync::{fence, AtomicU64, AtomicUsize, Backoff, Ordering};

/// The roots of one arena. (The mutator registry of `mutators.rs` is another instance:
/// its cells hold a safepoint cycle instead of a key.)
pub(crate) struct RootList {
    /// Cells holding a key's bits (or a mutator's word), or 0 when free.
    cells: PushList<AtomicU64>,
    /// Cells currently free: a hint that lets `claim` skip the scan when there are none.
    free: AtomicUsize,
}

impl RootList {
    pub(crate) fn new() -> Self {
        RootList {
            cells: PushList::new(),
            free: AtomicUsize::new(0),
        }
    }

    fn cells(&self) -> impl Iterator<Item = &AtomicU64> {
        // SeqCst: the collector's scan is one side of the store-buffering pattern in the
        // module docs; it also acquires the cells published by `claim`.
        self.cells.iter(Ordering::SeqCst)
    }

    /// Registers `key`; returns its cell.
    pub(crate) fn claim(&self, key: Key) -> &AtomicU64 {
        self.claim_bits(key.to_bits())
    }

    /// Stores `bits` (not 0) in a free cell, or a new one; returns the cell.
    pub(crate) fn claim_bits(&self, bits: u64) -> &AtomicU64 {
        debug_assert_ne!(bits, 0, "0 marks a free cell");
        if self.free.load(Ordering::Relaxed) > 0 {
            for cell in self.cells() {
                if cell.load(Ordering::Relaxed) == 0
                    && cell
                        .compare_exchange(0, bits, Ordering::SeqCst, Ordering::Relaxed)
                        .is_ok()
                {
                    self.free.fetch_sub(1, Ordering::Relaxed);
                    return cell;
                }
            }
        }
        // SeqCst: this is the cell's first store of `bits` becoming visible (see the module
        // docs); it also releases the cell to `cells`.
        self.cells.push(AtomicU64::new(bits), Ordering::SeqCst)
    }

    /// Frees a cell.
    pub(crate) fn release(&self, cell: &AtomicU64) {
        cell.store(0, Ordering::Release);
        self.free.fetch_add(1, Ordering::Relaxed);
    }

    /// Every registered key.
    pub(crate) fn keys(&self) -> impl Iterator<Item = Key> + '_ {
        self.words().filter_map(Key::from_bits)
    }

    /// Every claimed cell's word (`SeqCst` loads).
    pub(crate) fn words(&self) -> impl Iterator<Item = u64> + '_ {
        self.cells()
            .map(|cell| cell.load(Ordering::SeqCst))
            .filter(|&bits| bits != 0)
    }
}

impl<T> Core<T> {
    /// Registers `key` as a root and shades it: [`Root::new`](crate::Root). Returns the cell
    /// to give back with [`unroot`](Core::unroot).
    pub(crate) fn root(&self, key: Key) -> &AtomicU64 {
        let cell = self.collector.roots.claim(key);
        // The store-buffering fence between the claim and the phase load (module docs).
        fence(Ordering::SeqCst);
        // A collection that is already marking may have scanned the registry before our
        // cell was filled: shade the key too (see the module docs).
        self.shade_seqcst(key);
        cell
    }

    /// [`root`](Core::root) only if `key`'s value is live and no running sweep will take
    /// it: `None` (and nothing registered) otherwise. See "Weak keys" in the module docs.
    pub(crate) fn try_root(&self, key: Key) -> Option<&AtomicU64> {
        let cell = self.root(key);
        // Wait out a sweep in progress: once the phase is not SWEEPING, every value that
        // sweep took is unlinked (the phase store that ends it is SeqCst, after the
        // unlinks; our SeqCst load that sees it orders them before our check), and every
        // later cycle keeps `key` (the registry argument above). A sweep never waits for
        // other threads' guards, so this waits for a bounded amount of work, except on a
        // thread that is itself sweeping this arena (a value's `Drop` run by reclamation
        // there): that thread takes the conservative answer instead of waiting for itself.
        let backoff = Backoff::new();
        while self.is_sweeping() {
            if sweeper::is_sweeping_here(self) {
                self.unroot(cell);
                return None;
            }
            backoff.snooze();
        }
        let live = self.dir.slot(key.index()).is_some_and(|slot| {
            // Acquire: as in `Arena::get`.
            slot.state.load(Ordering::Acquire) == key.generation()
        });
        if live {
            Some(cell)
        } else {
            self.unroot(cell);
            None
        }
    }

    /// Unregisters a root registered by [`root`](Core::root).
    pub(crate) fn unroot(&self, cell: &AtomicU64) {
        self.collector.roots.release(cell);
    }
}
