//! The thread-local index cache behind [`Arena::insert`](crate::Arena::insert).
//!
//! A [`Handle`](crate::Handle) is the explicit per-thread fast path. Code that only has an
//! `&Arena` gets most of the same benefit from this cache: each thread keeps one batch of
//! free indices and one counter cell for the arena it used last. It holds only indices, a
//! counter cell, and a `Weak` of the arena's type-independent [`Anchor`] part, never a `T`
//! and never a strong reference: nothing of a dropped arena stays alive behind a cache (the
//! `Weak` keeps only the emptied header's allocation, so its address cannot be reused by
//! another arena while the cache compares against it).
//!
//! The cache is bound to one arena, and to one *binding* of it, at a time: every
//! [`Arena::clear`](crate::Arena::clear) rebuilds the free list from the slots and bumps the
//! binding, and a cache bound before is dropped without giving its slots back (they are on
//! the new list). Using another arena rebinds it: the old batch goes back to the old pool
//! (inside the old arena's gate, so never into a dropped or rebuilding arena) and the
//! counter cell is released. Dropping an arena unbinds the dropping thread's cache.
//!
//! While the cache is borrowed no user code runs, except through `epoch::pin` during a
//! refill, which may run deferred reclamation and so `T::drop`; a `T::drop` that inserts
//! into an arena finds the cache borrowed and takes the slow path (`try_borrow_mut`), and so
//! does a call during thread teardown, when the cache is gone.

use super::counter::CounterCell;
use super::pool::{IndexBatch, SlotCache};
use super::{slot, Anchor};
use crate::sync::{thread_local_const, THREAD_CACHE};
use core::cell::RefCell;
use std::sync::{Arc, Weak};

pub(crate) struct LocalCache {
    anchor: Weak<Anchor>,
    /// `Arc::as_ptr` of the arena's `Anchor`: what `Weak::as_ptr(&anchor)` says, without its
    /// dangling check on the insert path.
    addr: *const Anchor,
    /// The arena's binding when this cache was bound (see the module docs).
    binding: u64,
    cache: SlotCache,
    /// Owned from the arena's counters until this cache drops (or the arena does).
    cell: *const CounterCell,
}

impl LocalCache {
    fn cell(&self) -> &CounterCell {
        // SAFETY: acquired from the counters of the arena this cache is bound to. Callers
        // only get here through `with_cache`, with a live `Arc` of that arena's `Anchor`,
        // so its counters (and this cell, owned by us) are alive.
        unsafe { &*self.cell }
    }

    #[inline(always)]
    fn is_arena(&self, anchor: &Arc<Anchor>) -> bool {
        core::ptr::eq(self.addr, Arc::as_ptr(anchor))
    }

    #[inline(always)]
    fn is_bound_to(&self, anchor: &Arc<Anchor>) -> bool {
        self.is_arena(anchor) && self.binding == anchor.binding()
    }
}

impl Drop for LocalCache {
    fn drop(&mut self) {
        let Some(anchor) = self.anchor.upgrade() else {
            return; // the arena and its cells are gone
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
        // SAFETY: inside the open gate (above): the cell is alive and ours.
        anchor.counters.release(unsafe { &*self.cell });
        anchor.gate.exit();
    }
}

thread_local_const! {
    static LOCAL: RefCell<Option<LocalCache>> = RefCell::new(None);
}

/// Runs `f` on this thread's cache bound to `anchor`; `None` if the cache is unavailable
/// (borrowed, torn down, or off: it is off under loom, see [`THREAD_CACHE`]).
#[inline]
fn with_cache<R>(anchor: &Arc<Anchor>, f: impl FnOnce(&mut LocalCache) -> R) -> Option<R> {
    if !THREAD_CACHE {
        return None;
    }
    LOCAL
        .try_with(|local| {
            let mut local = local.try_borrow_mut().ok()?;
            let bound = matches!(&*local, Some(c) if c.is_bound_to(anchor));
            if !bound {
                // Dropping the old binding returns its batch and cell; no user code runs.
                let cell: *const CounterCell = anchor.counters.acquire();
                *local = Some(LocalCache {
                    anchor: Arc::downgrade(anchor),
                    addr: Arc::as_ptr(anchor),
                    binding: anchor.binding(),
                    cache: SlotCache::new(),
                    cell,
                });
            }
            local.as_mut().map(f)
        })
        .ok()
        .flatten()
}

/// Drops this thread's cache if it is bound to `anchor` (for `Drop for Arena`).
pub(crate) fn unbind(anchor: &Arc<Anchor>) {
    if !THREAD_CACHE {
        return;
    }
    let _ = LOCAL.try_with(|local| {
        if let Ok(mut local) = local.try_borrow_mut() {
            if matches!(&*local, Some(c) if c.is_arena(anchor)) {
                *local = None;
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

/// Counts a removal through this thread's cell if the cache is bound to `anchor`.
#[inline]
pub(crate) fn count_removed(anchor: &Arc<Anchor>) {
    let done = THREAD_CACHE
        && LOCAL
            .try_with(|local| match local.try_borrow() {
                // Any binding of this arena will do: every cell of it counts.
                Ok(local) => match &*local {
                    Some(c) if c.is_arena(anchor) => {
                        c.cell().add_removed_owned(1);
                        true
                    }
                    _ => false,
                },
                Err(_) => false,
            })
            .unwrap_or(false);
    if !done {
        anchor.counters.add_removed_shared(1);
    }
}

/// Forgets an index taken by [`take_index`] that cannot be backed by memory.
#[cold]
pub(crate) fn unbackable_index(anchor: &Anchor) {
    anchor.counters.add_inserted_shared(-1);
}
