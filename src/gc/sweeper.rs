//! Which arena, if any, this thread is sweeping: so that `try_root`, called from a value's
//! `Drop` run by reclamation on a sweeping thread, does not wait for its own sweep.

use crate::sync::thread_local_const;
use core::cell::Cell;
use core::ptr;

thread_local_const! {
    static SWEEPING: Cell<*const ()> = Cell::new(ptr::null());
}

/// Marks this thread as sweeping the internals at `inner` until dropped (nesting restores
/// the outer mark).
pub(super) struct Sweeping {
    outer: *const (),
}

impl Sweeping {
    pub(super) fn enter<T>(inner: &T) -> Self {
        let this = (inner as *const T).cast::<()>();
        let outer = SWEEPING.with(|s| s.replace(this));
        Sweeping { outer }
    }
}

impl Drop for Sweeping {
    fn drop(&mut self) {
        SWEEPING.with(|s| s.set(self.outer));
    }
}

/// Whether this thread is sweeping the internals at `inner`.
pub(super) fn is_sweeping_here<T>(inner: &T) -> bool {
    let this = (inner as *const T).cast::<()>();
    SWEEPING.with(|s| s.get() == this)
}
