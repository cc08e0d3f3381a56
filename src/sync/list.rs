//! A push-only list: nodes are linked in front of the head and never unlinked until the
//! list itself goes.
//!
//! Push-only lists have no ABA: a push's effect depends only on the head it links to, which
//! its CAS checks. A node's `next` is written before the node is published (by that CAS) and
//! only read afterwards, so it is a plain pointer. Readers walk the list with no guard:
//! nodes live until the list drops (or [`PushList::free_all`]).
//!
//! Used for the counter cells of `raw/counter.rs` and the root cells of `gc/roots.rs`; each
//! picks the orderings its protocol needs.

use super::{AtomicPtr, Ordering};
use core::ptr;

struct Node<T> {
    value: T,
    next: *mut Node<T>,
}

/// A push-only list of `T`s.
pub(crate) struct PushList<T> {
    head: AtomicPtr<Node<T>>,
}

// SAFETY: the list owns its nodes; a node's `next` is written once before the node is
// published and only read afterwards, so the raw pointers carry no unsynchronised access.
// Values are shared with every thread that walks the list (`T: Sync`) and dropped by
// whichever thread drops the list (`T: Send`).
unsafe impl<T: Send + Sync> Send for PushList<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for PushList<T> {}

impl<T> PushList<T> {
    pub(crate) fn new() -> Self {
        PushList {
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Links a new node holding `value` in front of the list and returns the value.
    /// `order` is the success ordering of the publishing CAS: at least `Release`, which
    /// publishes the node to readers that load the head with `Acquire`.
    pub(crate) fn push(&self, value: T, order: Ordering) -> &T {
        let new = Box::into_raw(Box::new(Node {
            value,
            next: ptr::null_mut(),
        }));
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: `new` is ours alone until the CAS publishes it.
            unsafe { (*new).next = head };
            match self
                .head
                .compare_exchange(head, new, order, Ordering::Relaxed)
            {
                // SAFETY: published; lives as long as `self`.
                Ok(_) => return unsafe { &(*new).value },
                Err(h) => head = h,
            }
        }
    }

    /// Every value, newest first. `order` is the ordering of the head load: at least
    /// `Acquire`, which pairs with `push`'s CAS so the nodes are visible.
    #[inline]
    pub(crate) fn iter(&self, order: Ordering) -> impl Iterator<Item = &T> {
        let mut p = self.head.load(order);
        core::iter::from_fn(move || {
            // SAFETY: published nodes live until `Drop` or `free_all` (see `free_all`'s
            // contract), neither of which can run while `&self` is borrowed by a reader.
            let node = unsafe { p.as_ref() }?;
            p = node.next;
            Some(&node.value)
        })
    }

    /// Frees every node now, leaving the list empty.
    ///
    /// # Safety
    /// Nobody may use a value of this list afterwards, or walk or push to the list
    /// concurrently.
    pub(crate) unsafe fn free_all(&self) {
        let mut p = self.head.swap(ptr::null_mut(), Ordering::Acquire);
        while !p.is_null() {
            // SAFETY: made by `Box::into_raw` in `push`, unlinked by the swap, and unused
            // from now on (the caller's contract).
            let node = unsafe { Box::from_raw(p) };
            p = node.next;
        }
    }
}

impl<T> Drop for PushList<T> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no one else can reach the list or its values any more.
        unsafe { self.free_all() };
    }
}
