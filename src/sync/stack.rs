//! Treiber's stack of heap nodes under crossbeam-epoch protection.
//!
//! A `push` links a new node on top with a `Release` CAS; a pop reads the top with `Acquire`
//! under an epoch guard, reads its `next` and CASes the top from the node to `next`.
//!
//! *ABA*: a stale popper could see the same node on top again only if that node were freed
//! and its address reused, or pushed again. Neither happens while the popper is pinned: a
//! popped node is never pushed again (each push allocates a new node) and is freed through
//! `defer_destroy`, so its memory cannot be reused until every guard that might hold it is
//! gone. Reading `next` of a node another thread just popped is therefore always a read of
//! live, unchanged memory.
//!
//! Used for the free-slot pool of `raw/pool.rs` (see
//! [Free-slot stack](crate::implementation#free-slot-stack)).

use super::Ordering;
use crossbeam_epoch::{self as epoch, Atomic, Guard, Owned};

struct Node<T> {
    value: T,
    next: Atomic<Node<T>>,
}

/// A lock-free stack of `T`s.
pub(crate) struct Stack<T> {
    top: Atomic<Node<T>>,
}

impl<T> Stack<T> {
    pub(crate) fn new() -> Self {
        Stack {
            top: Atomic::null(),
        }
    }

    /// Pushes `value` on top.
    pub(crate) fn push(&self, value: T) {
        let mut node = Owned::new(Node {
            value,
            next: Atomic::null(),
        });
        // SAFETY: `unprotected` is fine for a push: it dereferences no shared node, it only
        // links ours (which nobody else can see yet) in front of the current top.
        let guard = unsafe { epoch::unprotected() };
        let mut top = self.top.load(Ordering::Relaxed, guard);
        loop {
            node.next.store(top, Ordering::Relaxed);
            // Release publishes the node and what its value stands for to the popper's
            // Acquire.
            match self
                .top
                .compare_exchange(top, node, Ordering::Release, Ordering::Relaxed, guard)
            {
                Ok(_) => return,
                Err(e) => {
                    top = e.current;
                    node = e.new;
                }
            }
        }
    }

    /// Pops the top node and returns what `take` makes of its value, or `None` if the stack
    /// is empty.
    #[inline]
    pub(crate) fn pop_with<R>(&self, guard: &Guard, take: impl FnOnce(&T) -> R) -> Option<R> {
        let mut top = self.top.load(Ordering::Acquire, guard);
        loop {
            // SAFETY: we are pinned and nodes are freed only through `defer_destroy` after
            // being popped, so `top` (if non-null) is live memory.
            let node = unsafe { top.as_ref() }?;
            let next = node.next.load(Ordering::Relaxed, guard);
            match self
                .top
                .compare_exchange(top, next, Ordering::Acquire, Ordering::Acquire, guard)
            {
                Ok(_) => {
                    let taken = take(&node.value);
                    // SAFETY: the node is unlinked, so no thread pinned from now on can reach
                    // it; threads pinned before may still read `next`, hence the deferral.
                    unsafe { guard.defer_destroy(top) };
                    return Some(taken);
                }
                Err(e) => top = e.current,
            }
        }
    }

    /// Whether the stack looks empty (a hint; no guard needed).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        // SAFETY: only the pointer value is inspected, never dereferenced.
        self.top
            .load(Ordering::Relaxed, unsafe { epoch::unprotected() })
            .is_null()
    }

    /// Frees every node now.
    ///
    /// # Safety
    /// No other thread may push or pop concurrently, so that no one holds a node of the
    /// stack.
    pub(crate) unsafe fn discard(&self) {
        // SAFETY: exclusive access to the stack (the caller's contract).
        let guard = unsafe { epoch::unprotected() };
        let mut top = self
            .top
            .swap(epoch::Shared::null(), Ordering::Acquire, guard);
        while !top.is_null() {
            // SAFETY: every node on the stack was made by `Owned::new`, and the swap made
            // the chain ours alone.
            let node = unsafe { top.into_owned() };
            top = node.next.load(Ordering::Relaxed, guard);
        }
    }
}

impl<T> Drop for Stack<T> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no one else can push or pop.
        unsafe { self.discard() };
    }
}
