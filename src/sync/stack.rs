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
use crossbeam_epoch::{self as epoch, Atomic, Guard, Owned, Shared};

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

    /// Takes every node off the stack with one swap. The chain is the caller's to read;
    /// threads that were pinned before may still read its nodes' links (a popper that lost
    /// the race), so it is freed only after a grace period, by [`Taken::retire`].
    pub(crate) fn take_all(&self, guard: &Guard) -> Taken<T> {
        // Acquire pairs with every push's Release: the values of the chain are visible.
        let top = self.top.swap(Shared::null(), Ordering::Acquire, guard);
        Taken {
            head: top.as_raw().cast_mut(),
        }
    }

    /// Pushes `values` as one chain, the first on top, with one CAS (new nodes: a node is
    /// never pushed twice, which is what keeps pops free of ABA).
    pub(crate) fn push_all(&self, values: impl IntoIterator<Item = T>) {
        // SAFETY: `unprotected` for nodes nobody else can see until the CAS below.
        let guard = unsafe { epoch::unprotected() };
        let (mut head, mut tail) = (Shared::null(), Shared::<Node<T>>::null());
        for value in values {
            let node = Owned::new(Node {
                value,
                next: Atomic::null(),
            })
            .into_shared(guard);
            // SAFETY: `tail` is null or a node of ours, unpublished.
            let last = unsafe { tail.as_ref() };
            match last {
                Some(t) => t.next.store(node, Ordering::Relaxed),
                None => head = node,
            }
            tail = node;
        }
        // SAFETY: `tail` is null or our last node, unpublished.
        let Some(last) = (unsafe { tail.as_ref() }) else {
            return;
        };
        let mut top = self.top.load(Ordering::Relaxed, guard);
        loop {
            last.next.store(top, Ordering::Relaxed);
            // Release publishes the nodes and their values to the poppers' Acquire.
            match self
                .top
                .compare_exchange(top, head, Ordering::Release, Ordering::Relaxed, guard)
            {
                Ok(_) => return,
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

/// A chain taken off a [`Stack`] by [`take_all`](Stack::take_all). Dropping it without
/// [`retire`](Taken::retire) leaks its nodes (never frees them early).
pub(crate) struct Taken<T> {
    head: *mut Node<T>,
}

impl<T> Taken<T> {
    /// The chain's values, top first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        let mut at = self.head.cast_const();
        core::iter::from_fn(move || {
            // SAFETY: the chain is ours since the swap in `take_all`, and its nodes are
            // freed only by `retire`, which takes `self` (so not while we borrow it). Links
            // are only read by anyone else.
            let node = unsafe { at.as_ref() }?;
            // SAFETY: only the pointer value is used.
            at = node
                .next
                .load(Ordering::Relaxed, unsafe { epoch::unprotected() })
                .as_raw();
            Some(&node.value)
        })
    }
}

impl<T: Send + 'static> Taken<T> {
    /// Frees the chain after the grace period of `guard`'s epoch: every thread that could
    /// have read a node's link while it was on the stack has unpinned by then.
    pub(crate) fn retire(self, guard: &Guard) {
        /// The chain, sent to whichever thread runs the deferred function.
        struct Chain<T>(*mut Node<T>);
        // SAFETY: the nodes are ours alone (see `Taken`) and hold `T: Send`.
        unsafe impl<T: Send> Send for Chain<T> {}
        let chain = Chain(self.head);
        let free = move || {
            let chain = chain;
            let mut at = chain.0;
            while !at.is_null() {
                // SAFETY: made by `Owned::new` in `push`/`push_all`, taken off the stack by
                // `take_all`, and past its grace period: nobody reads it any more.
                let node = unsafe { Shared::from(at.cast_const()).into_owned() };
                // SAFETY: only the pointer value is used.
                at = node
                    .next
                    .load(Ordering::Relaxed, unsafe { epoch::unprotected() })
                    .as_raw()
                    .cast_mut();
            }
        };
        // SAFETY: `defer_unchecked` needs a closure that may run on another thread later: it
        // is Send (above) and 'static (it owns the chain; `T: 'static`), and it runs after
        // the grace period, as argued above.
        unsafe { guard.defer_unchecked(free) };
    }
}

impl<T> Drop for Stack<T> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no one else can push or pop.
        unsafe { self.discard() };
    }
}
