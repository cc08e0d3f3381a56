//! The thread-local index cache behind [`Arena::insert`](crate::Arena::insert).
//!
//! A [`Handle`](crate::Handle) is the explicit per-thread fast path. Code that only has an
//! `&Arena` gets most of the same benefit from this cache: each thread keeps one batch of
//! free indices and one counter cell for the arena it used last. It holds only indices and
//! an `Arc` of the arena's type-independent [`Shared`] part, never a `T`, so a cache left
//! behind by a dropped arena is harmless: its indices go back to a pool nobody uses and
//! the `Arc` frees it.
//!
//! The cache is bound to one arena at a time. Using another arena rebinds it: the old
//! batch goes back to the old pool and the counter cell is released. While the cache is
//! borrowed no user code runs, except through `epoch::pin` during a refill, which may run
//! deferred reclamation and so `T::drop`; a `T::drop` that inserts into an arena finds the
//! cache borrowed and takes the slow path (`try_borrow_mut`), and so does a call during
//! thread teardown, when the cache is gone.

use crate::arena::Shared;
use crate::counter::CounterCell;
use crate::free_list::{IndexBatch, SlotCache};
use crate::sync::{thread_local, Arc};
use core::cell::RefCell;

pub(crate) struct LocalCache {
    shared: Arc<Shared>,
    cache: SlotCache,
    /// Owned from `shared.counters` until this cache drops.
    cell: *const CounterCell,
}

impl LocalCache {
    fn cell(&self) -> &CounterCell {
        // SAFETY: acquired from `self.shared.counters`, which `self.shared` keeps alive, and
        // owned by this cache until `drop`.
        unsafe { &*self.cell }
    }
}

impl Drop for LocalCache {
    fn drop(&mut self) {
        self.cache.give_back(&self.shared.pool);
        self.shared.counters.release(self.cell());
    }
}

#[cfg(not(loom))]
thread_local! {
    static LOCAL: RefCell<Option<LocalCache>> = const { RefCell::new(None) };
}

#[cfg(loom)]
thread_local! {
    static LOCAL: RefCell<Option<LocalCache>> = RefCell::new(None);
}

/// Runs `f` on this thread's cache bound to `shared`; `None` if the cache is unavailable.
///
/// Under loom the cache is always unavailable: loom keeps mock thread-locals in a
/// `HashMap` and destroys them in its randomly seeded order, so this cache's destructor
/// and crossbeam-epoch's would swap places between executions and loom would report the
/// model as non-deterministic. The fallback paths use the same pool operations, which the
/// `Handle` models cover; the cache itself is single-threaded code.
#[inline]
fn with_cache<R>(shared: &Arc<Shared>, f: impl FnOnce(&mut LocalCache) -> R) -> Option<R> {
    if cfg!(loom) {
        return None;
    }
    LOCAL
        .try_with(|local| {
            let mut local = local.try_borrow_mut().ok()?;
            let bound = matches!(&*local, Some(c) if Arc::ptr_eq(&c.shared, shared));
            if !bound {
                // Dropping the old binding returns its batch and cell; no user code runs.
                let cell: *const CounterCell = shared.counters.acquire();
                *local = Some(LocalCache {
                    shared: Arc::clone(shared),
                    cache: SlotCache::new(),
                    cell,
                });
            }
            local.as_mut().map(f)
        })
        .ok()
        .flatten()
}

/// Takes a free slot `(index, state)` for an insertion and counts it; `None` when the key
/// space is full.
#[inline]
pub(crate) fn take_index(shared: &Arc<Shared>) -> Option<(u32, u32)> {
    let fast = with_cache(shared, |local| {
        let taken = local.cache.take(&shared.pool)?;
        local.cell().add_inserted_owned(1);
        Some(taken)
    });
    match fast {
        Some(result) => result,
        None => take_index_slow(shared),
    }
}

#[cold]
fn take_index_slow(shared: &Shared) -> Option<(u32, u32)> {
    let mut batch = shared.pool.refill_one()?;
    let taken = batch.pop()?;
    shared.pool.give_back(batch);
    shared.counters.add_inserted_shared(1);
    Some(taken)
}

/// Undoes [`take_index`] for an insertion that did not happen; the slot now has FREE
/// `state` (or is RETIRED).
pub(crate) fn untake_index(shared: &Arc<Shared>, index: u32, state: u32) {
    let counted = with_cache(shared, |cache| cache.cell().add_inserted_owned(-1));
    if counted.is_none() {
        shared.counters.add_inserted_shared(-1);
    }
    if state != crate::slot::RETIRED {
        return_free(shared, index, state);
    }
}

/// Puts FREE slot `(index, state)` into this thread's cache, or back into the pool.
fn return_free(shared: &Arc<Shared>, index: u32, state: u32) {
    let done = with_cache(shared, |local| local.cache.put(&shared.pool, index, state));
    if done.is_none() {
        let mut batch = IndexBatch::new();
        batch.push(index, state);
        shared.pool.give_back(batch);
    }
}

/// Counts a removal through this thread's cell if the cache is bound to `shared`.
#[inline]
pub(crate) fn count_removed(shared: &Arc<Shared>) {
    let done = !cfg!(loom)
        && LOCAL
            .try_with(|local| match local.try_borrow() {
                Ok(local) => match &*local {
                    Some(c) if Arc::ptr_eq(&c.shared, shared) => {
                        c.cell().add_removed_owned(1);
                        true
                    }
                    _ => false,
                },
                Err(_) => false,
            })
            .unwrap_or(false);
    if !done {
        shared.counters.add_removed_shared(1);
    }
}

/// Forgets an index taken by [`take_index`] that cannot be backed by memory.
#[cold]
pub(crate) fn unbackable_index(shared: &Shared) {
    shared.counters.add_inserted_shared(-1);
}

/// Takes care of a slot freed through `&mut`: counts it as removed and reclaimed, and
/// returns it (with its new FREE `state`) to this thread's cache or to the pool, unless it
/// just retired.
pub(crate) fn free_index(shared: &Arc<Shared>, index: u32, state: u32) {
    shared.counters.add_removed_shared(1);
    shared.counters.add_reclaimed(1);
    if state != crate::slot::RETIRED {
        return_free(shared, index, state);
    }
}
