//! The one place that chooses between `std` and [loom].
//!
//! Every other module names atomics, `Arc`, `Mutex`, `UnsafeCell`, thread-locals, the
//! collector's work queues and the memory its atomics live in through this module, so
//! `RUSTFLAGS="--cfg loom --cfg crossbeam_loom"` swaps the whole crate onto loom's
//! model-checked types and the loom models in `loom-tests/` run the real code. No other
//! file says `cfg(loom)`: what loom changes beyond the types is the short list of
//! [model sizes](#model-sizes) below, read as constants.
//!
//! `UnsafeCell` here has loom's closure API (`with`, `with_mut`) on `std` too, so the same
//! code compiles both ways; on `std` it compiles down to a plain pointer access.
//!
//! The lock-free building blocks the arena is made of live here too, once each:
//! [`list`] (a push-only list), [`stack`] (Treiber's stack under epoch protection),
//! [`queue`] (the collector's grey queue and work-stealing deques) and [`alloc`] (arrays of
//! atomics in zeroed memory).
//!
//! # Model sizes
//!
//! Under loom a model must cross every boundary in a few operations, and every atomic
//! operation multiplies its state space, so loom runs the same code with smaller sizes:
//! chunk 0 has 2 slots ([`BASE_SHIFT`]), batches hold 2 indices ([`BATCH`]), an insertion
//! that finds the key space full drives the epoch once ([`RECLAIM_ROUNDS`]), refills do not
//! drive reclamation ([`DRIVE_ON_REFILL`]), the thread-local insert cache is off
//! ([`THREAD_CACHE`]), and a collection runs on the caller alone ([`PARALLEL`]). See the
//! [verification map](crate::implementation#verification-map).
//!
//! [loom]: https://docs.rs/loom

pub(crate) mod alloc;
pub(crate) mod list;
pub(crate) mod queue;
pub(crate) mod stack;

pub(crate) use core::sync::atomic::Ordering;

/// The next number of a process-wide sequence that starts at a random point: successive
/// calls, from any threads, return successive `u32`s (wrapping), the first of them drawn
/// once per process from the standard library's random hasher keys.
///
/// Plain `std` types also under loom, on purpose: loom's atomics belong to one model run and
/// cannot live in a `static`, and no model depends on these numbers (they only pick
/// [`Builder::distinct_keys`](crate::Builder::distinct_keys)' generation bases; see
/// `raw/pool.rs`).
pub(crate) fn process_sequence() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    static START: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(0x5EED);
        hasher.finish() as u32
    });
    // Relaxed: only the values matter, each returned once.
    NEXT.fetch_add(1, Ordering::Relaxed).wrapping_add(start)
}

/// log2 of the size of chunk 0 (see `raw/chunk.rs`). Small under loom and miri so tests
/// cross chunk boundaries.
pub(crate) const BASE_SHIFT: u32 = if cfg!(loom) {
    1
} else if cfg!(miri) {
    2
} else {
    5
};

/// Indices per batch: the unit of refill, of return and of retirement (see `raw/pool.rs`).
pub(crate) const BATCH: usize = if cfg!(loom) { 2 } else { 64 };

/// How often an insertion that found no free slot drives the epoch (see
/// `raw/reclaim.rs`). Two advances free a batch deferred now; crossbeam runs at most 8 due
/// bags per advance attempt. Under loom, one round: each is a full pin and flush of the
/// model's collector, and the models that fill an arena drive the epoch themselves.
pub(crate) const RECLAIM_ROUNDS: usize = if cfg!(loom) { 1 } else { 16 };

/// Whether refills drive reclamation (see `raw/reclaim.rs`). Not under loom: there the
/// insert cache is off, so every insertion refills, and pinning and flushing on each of them
/// multiplies the models' state space for no new interleaving (it only calls `defer` and
/// `flush`, which the models exercise directly).
pub(crate) const DRIVE_ON_REFILL: bool = !cfg!(loom);

/// Whether the thread-local insert cache is on (see `raw/local.rs`). Not under loom: loom
/// keeps mock thread-locals in a `HashMap` and destroys them in its randomly seeded order, so
/// this cache's destructor and crossbeam-epoch's would swap places between executions and
/// loom would report the model as non-deterministic. The fallback paths use the same pool
/// operations, which the `Handle` models cover; the cache itself is single-threaded code.
pub(crate) const THREAD_CACHE: bool = !cfg!(loom);

/// Whether a collection may start marker and sweeper threads (see `gc/parallel.rs`). Not
/// under loom: they are OS threads and crossbeam-deque, which loom cannot model; the
/// protocol under test is the phase word and the mark bits.
pub(crate) const PARALLEL: bool = !cfg!(loom);

#[cfg(loom)]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::atomic::{
        fence, AtomicBool, AtomicIsize, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize,
    };
    pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
    pub(crate) use loom::thread;

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

    /// The number of cores: one under loom.
    pub(crate) fn cores() -> usize {
        1
    }

    /// A prefetch hint: nothing under loom.
    #[inline(always)]
    pub(crate) fn prefetch<P>(p: *const P) {
        let _ = p;
    }

    /// `thread_local!` with the initialiser evaluated lazily (loom's macro takes no
    /// `const { .. }`).
    macro_rules! thread_local_const {
        ($(#[$attr:meta])* static $name:ident: $t:ty = $init:expr;) => {
            loom::thread_local! { $(#[$attr])* static $name: $t = $init; }
        };
    }
    pub(crate) use thread_local_const;
}

#[cfg(not(loom))]
mod imp {
    pub(crate) use crossbeam_utils::Backoff;
    pub(crate) use std::sync::atomic::{
        fence, AtomicBool, AtomicIsize, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize,
    };
    pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard};
    pub(crate) use std::thread;

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

    /// The number of cores ([`std::thread::available_parallelism`]), asked once.
    pub(crate) fn cores() -> usize {
        static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// A prefetch hint for the cache line at `p` (no-op where unsupported).
    #[inline(always)]
    pub(crate) fn prefetch<P>(p: *const P) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is a hint; it never faults, whatever the address.
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = p;
    }

    /// `thread_local!` with a `const` initialiser (loom's macro takes none).
    macro_rules! thread_local_const {
        ($(#[$attr:meta])* static $name:ident: $t:ty = $init:expr;) => {
            std::thread_local! { $(#[$attr])* static $name: $t = const { $init }; }
        };
    }
    pub(crate) use thread_local_const;
}

pub(crate) use imp::*;
