//! The thread-local cache behind [`Arena::insert`](crate::Arena::insert) and
//! [`Arena::remove`](crate::Arena::remove).
//!
//! A [`Handle`](crate::Handle) is the explicit per-thread fast path. Code that only has an
//! `&Arena` gets the same benefit from this cache: for each of the last [`WAYS`] arenas a
//! thread used, it keeps one batch of free indices and one counter cell, whose retire ring
//! holds the thread's removals (see `reclaim.rs`). An entry holds only indices, a counter
//! cell, and a `Weak` of the arena's type-independent [`Anchor`] part, never a `T` and never
//! a strong reference: nothing of a dropped arena stays alive behind a cache (the `Weak`
//! keeps only the emptied header's allocation, so its address cannot be reused by another
//! arena while an entry compares against it).
//!
//! Entries are found by the anchor's address, compared in a small array of tags, and
//! replaced in the order they were bound, so a thread that alternates between a few arenas
//! keeps every one's batch.
//!
//! An entry is bound to one arena, and to one *binding* of it: every
//! [`Arena::clear`](crate::Arena::clear) rebuilds the free list from the slots and bumps the
//! binding, and an entry bound before is dropped without giving its slots back (they are on
//! the new list). Dropping an entry (replaced by another arena's, or at thread exit) gives
//! its batch back to its pool (inside that arena's gate, so never into a dropped or
//! rebuilding arena) and releases its counter cell; removals still in the cell's ring stay
//! there for the next owner or any refill, flush or collection of the arena to take.
//! Dropping an arena drops the dropping thread's entry for it.
//!
//! While the cache is borrowed no user code runs, except through `epoch::pin` during a
//! refill, which may run deferred reclamation and so `T::drop`; a `T::drop` that inserts
//! into or removes from an arena finds the cache borrowed and takes the slow path
//! (`try_borrow_mut`), and so does a call during thread teardown, when the cache is gone.

use super::counter::CounterCell;
use super::pool::{IndexBatch, SlotCache};
use super::reclaim::RetireRing;
use super::{slot, Anchor};
use crate::sync::{thread_local_const, THREAD_CACHE};
use core::cell::RefCell;
use core::ptr;
use std::sync::{Arc, Weak};

/// Arenas a thread keeps a cache entry for at once.
pub(crate) const WAYS: usize = 4;

pub(crate) struct LocalCache {
    anchor: Weak<Anchor>,
    /// The arena's binding when this entry was bound (see the module docs).
    binding: u64,
    cache: SlotCache,
    /// Owned from the arena's counters until this entry drops (or the arena does).
    cell: *const CounterCell,
}

impl LocalCache {
    /// The entry of an empty way: bound to nothing (see [`Local::entries`]).
    const fn unbound() -> Self {
        LocalCache {
            anchor: Weak::new(),
            binding: 0,
            cache: SlotCache::new(),
            cell: ptr::null(),
        }
    }

    #[inline(always)]
    fn cell(&self) -> &CounterCell {
        // SAFETY: acquired from the counters of the arena this entry is bound to. Callers
        // only get here through `with_cache`, with a live `Arc` of that arena's `Anchor`
        // borrowed from the live arena, so its counters (and this cell, owned by us) are
        // alive: they are freed only by `Drop for Arena`.
        unsafe { &*self.cell }
    }
}

impl Drop for LocalCache {
    fn drop(&mut self) {
        let Some(anchor) = self.anchor.upgrade() else {
            return; // an empty way, or the arena and its cells are gone
        };
        // Inside the gate the pool and the cells are alive: a dropped arena has closed it
        // (and freed them). A clearing one pauses it while it rebuilds the pool: then our
        // slots are on the new list anyway, and the cell stays marked owned (it keeps its
        // counts and is freed with the arena). Waiting out the pause instead could deadlock:
        // this drop may run inside a reclamation closure the `clear` is waiting for.
        if !anchor.gate.enter() {
            return;
        }
        if self.binding == anchor.binding() {
            self.cache.give_back(&anchor.pool);
        }
        // SAFETY: inside the open gate (above): the cell is alive and ours. Its ring keeps
        // what it holds, for whoever takes it next.
        anchor.counters.release(unsafe { &*self.cell });
        anchor.gate.exit();
    }
}

/// A thread's cache: up to [`WAYS`] entries, found by their arena's address.
struct Local {
    /// For each way, `Arc::as_ptr` of its entry's `Anchor` (null for an empty way: what
    /// `Weak::as_ptr(&entry.anchor)` says, without its dangling check) and the binding the
    /// entry was bound under: the hit test reads this one cache line only.
    tags: [(*const Anchor, u64); WAYS],
    /// The way the next new arena replaces when none is empty: ways are replaced in the
    /// order they were bound (first in, first out), which costs the hit path nothing.
    next: usize,
    /// Empty ways hold an unbound entry (a dangling `Weak`, no cell), whose drop does
    /// nothing.
    entries: [LocalCache; WAYS],
}

impl Local {
    const fn new() -> Self {
        Local {
            tags: [(ptr::null(), 0); WAYS],
            next: 0,
            entries: [const { LocalCache::unbound() }; WAYS],
        }
    }

    /// The way of the entry bound to `anchor`, binding one if there is none.
    #[inline(always)]
    fn way(&mut self, anchor: &Arc<Anchor>) -> usize {
        let addr = Arc::as_ptr(anchor);
        let binding = anchor.binding();
        for way in 0..WAYS {
            let (tag, bound) = self.tags[way];
            if ptr::eq(tag, addr) {
                if bound == binding {
                    return way;
                }
                // An older binding of this arena: its slots are on the new free list.
                return self.bind(way, anchor);
            }
        }
        let way = match self.tags.iter().position(|t| t.0.is_null()) {
            Some(empty) => empty,
            None => {
                let victim = self.next;
                self.next = (victim + 1) % WAYS;
                victim
            }
        };
        self.bind(way, anchor)
    }

    /// Binds `way` to `anchor`, dropping what it held (which gives its batch and cell back;
    /// no user code runs).
    #[cold]
    #[inline(never)]
    fn bind(&mut self, way: usize, anchor: &Arc<Anchor>) -> usize {
        self.tags[way] = (ptr::null(), 0);
        self.entries[way] = LocalCache::unbound();
        let cell: *const CounterCell = anchor.counters.acquire();
        let binding = anchor.binding();
        self.entries[way] = LocalCache {
            anchor: Arc::downgrade(anchor),
            binding,
            cache: SlotCache::new(),
            cell,
        };
        self.tags[way] = (Arc::as_ptr(anchor), binding);
        way
    }
}

thread_local_const! {
    static LOCAL: RefCell<Local> = RefCell::new(Local::new());
}

/// Runs `f` on this thread's cache entry bound to `anchor`; `None` if the cache is
/// unavailable (borrowed, torn down, or off: it is off under loom, see [`THREAD_CACHE`]).
#[inline(always)]
fn with_cache<R>(anchor: &Arc<Anchor>, f: impl FnOnce(&mut LocalCache) -> R) -> Option<R> {
    if !THREAD_CACHE {
        return None;
    }
    LOCAL
        .try_with(|local| {
            let mut local = local.try_borrow_mut().ok()?;
            let way = local.way(anchor);
            // The mask only spares a bounds check: `way < WAYS`, a power of two.
            Some(f(&mut local.entries[way & (WAYS - 1)]))
        })
        .ok()
        .flatten()
}

/// Drops this thread's cache entry for `anchor`, if it has one (for `Drop for Arena`,
/// `trim` and the `&mut` rebuilds).
pub(crate) fn unbind(anchor: &Arc<Anchor>) {
    if !THREAD_CACHE {
        return;
    }
    let addr = Arc::as_ptr(anchor);
    let _ = LOCAL.try_with(|local| {
        if let Ok(mut local) = local.try_borrow_mut() {
            for way in 0..WAYS {
                if ptr::eq(local.tags[way].0, addr) {
                    local.tags[way] = (ptr::null(), 0);
                    local.entries[way] = LocalCache::unbound();
                }
            }
        }
    });
}

/// Takes a free slot `(index, state)` this thread's cache holds and counts it; `None` when
/// the cache is empty (or unavailable): then [`take_index`] refills.
#[inline(always)]
pub(crate) fn take_cached(anchor: &Arc<Anchor>) -> Option<(u32, u32)> {
    with_cache(anchor, |local| {
        let taken = local.cache.take_held()?;
        local.cell().add_inserted_owned(1);
        Some(taken)
    })
    .flatten()
}

/// Takes a free slot `(index, state)` for an insertion, refilling the cache, and counts it;
/// `None` when the key space is full.
#[inline]
pub(crate) fn take_index(anchor: &Arc<Anchor>) -> Option<(u32, u32)> {
    let fast = with_cache(anchor, |local| {
        let taken = local.cache.take(&anchor.pool)?;
        local.cell().add_inserted_owned(1);
        Some(taken)
    });
    match fast {
        Some(result) => result,
        None => take_index_slow(anchor),
    }
}

#[cold]
fn take_index_slow(anchor: &Anchor) -> Option<(u32, u32)> {
    let mut batch = anchor.pool.refill_one()?;
    let taken = batch.pop()?;
    anchor.pool.give_back(batch);
    anchor.counters.add_inserted_shared(1);
    Some(taken)
}

/// Undoes [`take_index`] for an insertion that did not happen; the slot now has FREE
/// `state` (or is RETIRED).
pub(crate) fn untake_index(anchor: &Arc<Anchor>, index: u32, state: u32) {
    let counted = with_cache(anchor, |cache| cache.cell().add_inserted_owned(-1));
    if counted.is_none() {
        anchor.counters.add_inserted_shared(-1);
    }
    if state != slot::RETIRED {
        return_free(anchor, index, state);
    }
}

/// Puts FREE slot `(index, state)` into this thread's cache, or back into the pool.
pub(crate) fn return_free(anchor: &Arc<Anchor>, index: u32, state: u32) {
    let done = with_cache(anchor, |local| local.cache.put(&anchor.pool, index, state));
    if done.is_none() {
        let mut batch = IndexBatch::new();
        batch.push(index, state);
        anchor.pool.give_back(batch);
    }
}

/// Counts a removal of REMOVED slot `(index, state)` and records it in this thread's retire
/// ring for `anchor`; if that fills the ring, runs `hand_off` on it (after the cache is
/// released, so that the reclamation it may run can use the cache). False if the cache is
/// unavailable: then the caller counts and retires the slot the shared way.
///
/// `anchor` must be the anchor of an arena the caller borrows (so its cells are alive).
#[inline(always)]
pub(crate) fn retire(
    anchor: &Arc<Anchor>,
    index: u32,
    state: u32,
    hand_off: impl FnOnce(&RetireRing),
) -> bool {
    let pushed = with_cache(anchor, |local| {
        let cell = local.cell();
        cell.add_removed_owned(1);
        // We own the cell: we may push. A full ring is taken before our next push.
        cell.retired.push(index, state).then_some(local.cell)
    });
    match pushed {
        None => false,
        Some(None) => true,
        Some(Some(cell)) => {
            // SAFETY: a cell of the arena the caller borrows (our contract), so alive until
            // that arena drops. We may have released it since (a `T::drop` run by `hand_off`
            // cannot, but we take it first anyway); taking a ring is allowed to anyone.
            hand_off(unsafe { &(*cell).retired });
            true
        }
    }
}

/// Runs `f` with this thread's retire ring for `anchor` (`None` if the cache is
/// unavailable), outside the cache's borrow: for the refill path's
/// [`drive_reclamation`](super::Inner::drive_reclamation), which may run reclamation.
///
/// `anchor` must be the anchor of an arena the caller borrows (so its cells are alive).
pub(crate) fn with_own_ring<R>(
    anchor: &Arc<Anchor>,
    f: impl FnOnce(Option<&RetireRing>) -> R,
) -> R {
    let cell = with_cache(anchor, |local| local.cell);
    // SAFETY: a cell of the arena the caller borrows (our contract), alive until that arena
    // drops; we only read its ring as its owner may (`idle`) and take from it.
    f(cell.map(|cell| unsafe { &(*cell).retired }))
}

/// Forgets an index taken by [`take_index`] that cannot be backed by memory.
#[cold]
pub(crate) fn unbackable_index(anchor: &Anchor) {
    anchor.counters.add_inserted_shared(-1);
}
