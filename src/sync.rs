//! The one place that chooses between `std` and [loom].
//!
//! Every other module names atomics, `Arc`, `UnsafeCell` and thread-locals through this
//! module, so `RUSTFLAGS="--cfg loom --cfg crossbeam_loom"` swaps the whole crate onto loom's
//! model-checked types and the loom models in `loom-tests/` run the real code.
//!
//! `UnsafeCell` here has loom's closure API (`with`, `with_mut`) on `std` too, so the same
//! code compiles both ways; on `std` it compiles down to a plain pointer access.
//!
//! [loom]: https://docs.rs/loom

pub(crate) use core::sync::atomic::Ordering;

#[cfg(loom)]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::atomic::{
        AtomicBool, AtomicIsize, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize,
    };
    pub(crate) use loom::sync::{Arc, Mutex};
    pub(crate) use loom::thread_local;

    /// One step of a wait loop: under loom, yield so the model can schedule the thread we
    /// are waiting for.
    #[derive(Debug, Default)]
    pub(crate) struct Backoff;

    impl Backoff {
        pub(crate) fn new() -> Self {
            Backoff
        }
        pub(crate) fn snooze(&self) {
            loom::thread::yield_now();
        }
    }
}

#[cfg(not(loom))]
mod imp {
    pub(crate) use crossbeam_utils::Backoff;
    pub(crate) use std::sync::atomic::{
        AtomicBool, AtomicIsize, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize,
    };
    pub(crate) use std::sync::{Arc, Mutex};
    pub(crate) use std::thread_local;

    /// `core::cell::UnsafeCell` with loom's closure-based API.
    #[derive(Debug)]
    #[repr(transparent)]
    pub(crate) struct UnsafeCell<T: ?Sized>(core::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        #[inline(always)]
        #[allow(dead_code)]
        pub(crate) const fn new(value: T) -> Self {
            UnsafeCell(core::cell::UnsafeCell::new(value))
        }
    }

    impl<T: ?Sized> UnsafeCell<T> {
        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

pub(crate) use imp::*;
