//! Persistent roots: [`Root`] handles and the registry the collector scans.
//!
//! # Protocol
//!
//! The registry is a push-only linked list of cells, each holding one key's bits (0 = free
//! cell). [`Arena::root`] claims a free cell with a CAS (or pushes a new one), then
//! *shades* the key; dropping the `Root` stores 0. Cells are freed only with the arena.
//!
//! A collection scans the cells after it has switched to marking. Claiming a cell (a
//! `SeqCst` CAS) and then reading the phase (`SeqCst`) on one side, and switching the phase
//! (`SeqCst`) and then reading the cells (`SeqCst`) on the other, is the store-buffering
//! pattern with every access sequentially consistent: at least one side sees the other. So
//! a root made while a collection starts is either found by the scan or shaded by `root`.
//! Push-only lists have no ABA (a push only links in front of the head it read).

use crate::arena::Arena;
use crate::key::Key;
use crate::sync::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use crate::trace::Trace;
use core::fmt;
use core::ptr;

/// One registered key.
pub(crate) struct RootCell {
    key: AtomicU64,
    next: *mut RootCell,
}

// SAFETY: `next` is written once, before the cell is published by the CAS in `claim`, and
// only read afterwards; `key` is atomic. So a cell (and a `Root` holding `&RootCell`) may be
// sent to and shared with other threads: a `Root` made on one thread and dropped on another
// is as sound as one dropped where it was made.
unsafe impl Send for RootCell {}
// SAFETY: as above.
unsafe impl Sync for RootCell {}

/// The roots of one arena.
pub(crate) struct RootList {
    head: AtomicPtr<RootCell>,
    /// Cells currently free: a hint that lets `claim` skip the scan when there are none.
    free: AtomicUsize,
}

// SAFETY: `next` is written once before a cell is published and only read afterwards; the
// rest is atomics.
unsafe impl Send for RootList {}
// SAFETY: as above.
unsafe impl Sync for RootList {}

impl RootList {
    pub(crate) fn new() -> Self {
        RootList {
            head: AtomicPtr::new(ptr::null_mut()),
            free: AtomicUsize::new(0),
        }
    }

    fn cells(&self) -> impl Iterator<Item = &RootCell> {
        // SeqCst: the collector's scan is one side of the store-buffering pattern in the
        // module docs; it also acquires the cells published by `claim`.
        let mut p = self.head.load(Ordering::SeqCst);
        core::iter::from_fn(move || {
            // SAFETY: published cells live until `Drop` (which has `&mut self`).
            let cell = unsafe { p.as_ref() }?;
            p = cell.next;
            Some(cell)
        })
    }

    /// Registers `key`; returns its cell.
    pub(crate) fn claim(&self, key: Key) -> &RootCell {
        let bits = key.to_bits();
        if self.free.load(Ordering::Relaxed) > 0 {
            for cell in self.cells() {
                if cell.key.load(Ordering::Relaxed) == 0
                    && cell
                        .key
                        .compare_exchange(0, bits, Ordering::SeqCst, Ordering::Relaxed)
                        .is_ok()
                {
                    self.free.fetch_sub(1, Ordering::Relaxed);
                    return cell;
                }
            }
        }
        let new = Box::into_raw(Box::new(RootCell {
            key: AtomicU64::new(bits),
            next: ptr::null_mut(),
        }));
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: `new` is ours alone until the CAS publishes it.
            unsafe { (*new).next = head };
            // SeqCst: this is the cell's first store of `bits` becoming visible (see the
            // module docs); it also releases the cell to `cells`.
            match self
                .head
                .compare_exchange(head, new, Ordering::SeqCst, Ordering::Relaxed)
            {
                // SAFETY: published; lives as long as `self`.
                Ok(_) => return unsafe { &*new },
                Err(h) => head = h,
            }
        }
    }

    /// Frees a cell.
    pub(crate) fn release(&self, cell: &RootCell) {
        cell.key.store(0, Ordering::Release);
        self.free.fetch_add(1, Ordering::Relaxed);
    }

    /// Every registered key.
    pub(crate) fn keys(&self) -> impl Iterator<Item = Key> + '_ {
        self.cells()
            .filter_map(|cell| Key::from_bits(cell.key.load(Ordering::SeqCst)))
    }
}

impl Drop for RootList {
    fn drop(&mut self) {
        let mut p = self.head.load(Ordering::Relaxed);
        while !p.is_null() {
            // SAFETY: every cell came from `Box::into_raw` in `claim`; `&mut self` means no
            // `Root` borrows the list any more.
            let cell = unsafe { Box::from_raw(p) };
            p = cell.next;
        }
    }
}

/// A persistent root: its key, and everything reachable from it, survives every collection
/// until the `Root` is dropped.
///
/// Made by [`Arena::root`]. A `Root` borrows its arena, so it cannot outlive it. It is `Send`
/// and `Sync`: a root made on one thread may be kept, cloned or dropped on another.
///
/// ```
/// use epoch_arena::{Arena, Trace, Tracer};
///
/// struct Leaf;
/// impl Trace for Leaf {
///     fn trace(&self, _: &mut Tracer<'_>) {}
/// }
///
/// let arena = Arena::new();
/// let kept = arena.insert(Leaf);
/// let lost = arena.insert(Leaf);
/// let root = arena.root(kept);
/// arena.collect([]);
/// assert!(arena.contains(kept) && !arena.contains(lost));
/// drop(root);
/// arena.collect([]);
/// assert!(!arena.contains(kept));
/// ```
pub struct Root<'a, T: Trace + Send + Sync> {
    arena: &'a Arena<T>,
    cell: &'a RootCell,
    key: Key,
}

impl<'a, T: Trace + Send + Sync> Root<'a, T> {
    pub(crate) fn new(arena: &'a Arena<T>, key: Key) -> Self {
        let cell = arena.inner().gc.roots.claim(key);
        // A collection that is already marking may have scanned the registry before our
        // cell was filled: shade the key too (see the module docs).
        arena.inner().shade_seqcst(key);
        Root { arena, cell, key }
    }

    /// The rooted key.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let key = arena.insert(epoch_arena::Key::from_bits(1).unwrap());
    /// assert_eq!(arena.root(key).key(), key);
    /// ```
    pub fn key(&self) -> Key {
        self.key
    }

    /// The arena this root belongs to.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let root = arena.root(arena.insert(1u8));
    /// assert!(std::ptr::eq(root.arena(), &arena));
    /// ```
    pub fn arena(&self) -> &'a Arena<T> {
        self.arena
    }
}

impl<T: Trace + Send + Sync> Clone for Root<'_, T> {
    /// Roots the same key again; each `Root` keeps it alive until it is dropped.
    fn clone(&self) -> Self {
        Root::new(self.arena, self.key)
    }
}

impl<T: Trace + Send + Sync> Drop for Root<'_, T> {
    fn drop(&mut self) {
        self.arena.inner().gc.roots.release(self.cell);
    }
}

impl<T: Trace + Send + Sync> fmt::Debug for Root<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Root").field(&self.key).finish()
    }
}
