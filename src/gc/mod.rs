//! The collector: concurrent mark-and-sweep over an arena, with a write barrier.
//!
//! # The contract with mutators
//!
//! A collection keeps every value reachable from its roots (its `roots` argument and every
//! live [`Root`](crate::Root)) through [`Trace`] edges, keeps every value inserted during
//! the cycle, and removes the rest through the same epoch path as
//! [`Arena::remove`](crate::Arena::remove), while other threads keep reading, inserting and
//! removing. A thread that stores keys into values during a cycle must **shade, then
//! store**, under one guard ([`Arena::shade`](crate::Arena::shade)); keys held only in local
//! variables are not roots.
//!
//! # Where each part lives
//!
//! | file | holds |
//! |---|---|
//! | `cycle.rs` | one collection, step by step: lock, clear, birth cycle, MARKING, grace period, mark, terminate, sweep, IDLE |
//! | `phase.rs` | the phase word, the write barrier (`shade`), termination, `EndCycle` |
//! | `marker.rs` | the marker: grey, scan, the prefetch ring, re-pinning |
//! | `parallel.rs` | parallel marking by work stealing, parallel sweep |
//! | `helpers.rs` | the helper threads: started once, parked between cycles, joined on drop; spawn fallback |
//! | `sweep.rs` | the sweep of one index range |
//! | `bitmap.rs` | the mark bitmap beside each chunk |
//! | `roots.rs` | the root registry |
//! | `mutators.rs` | the mutator registry: fresh keys held until a safepoint |
//! | `trace.rs` | [`Trace`], [`Tracer`], impls for std types |
//! | `options.rs` | [`CollectOptions`], [`CollectStats`] |
//! | `pacing.rs` | [`Pacing`] and the pacer behind [`Arena::collect_if_due`](crate::Arena::collect_if_due) |
//!
//! The collector's state lives with the store as the `C` of `raw::Inner<T, C>` (the store
//! keeps it and drops it, nothing more), and the cycle number every insertion reads is the
//! store's own `raw::Stamp`. The protocol, with the argument for every ordering, is
//! [Garbage collection](crate::implementation#garbage-collection) in the design document,
//! whose step numbers the code cites.

mod bitmap;
mod cycle;
pub(crate) mod helpers;
mod marker;
pub(crate) mod mutators;
mod options;
mod pacing;
pub(crate) mod parallel;
mod phase;
mod roots;
mod sweep;
mod sweeper;
mod trace;

#[cfg(test)]
pub(crate) use self::options::MAX_THREADS;
pub use self::options::{CollectError, CollectOptions, CollectStats, PARALLEL_THRESHOLD};
pub use self::pacing::Pacing;
pub(crate) use self::pacing::{Pacer, NEVER};
pub use self::trace::{Trace, Tracer};

use self::bitmap::Bitmap;
use self::helpers::Helpers;
use self::phase::IDLE;
use self::roots::RootList;
use crate::raw::Inner;
use crate::sync::queue::GreyQueue;
use crate::sync::{AtomicU64, Mutex};
use core::any::TypeId;
use crossbeam_utils::CachePadded;

/// An arena's internals: the raw store with the collector's state.
pub(crate) type Core<T> = Inner<T, GcState>;

/// A marked value waiting to be traced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grey {
    index: u32,
    generation: u32,
}

/// The payload of a panic caught in `Trace::trace`.
type Panic = Box<dyn std::any::Any + Send + 'static>;

/// The collector's state in each arena (beside the store's [`Stamp`](crate::raw::Stamp)).
pub(crate) struct GcState {
    /// Phase, in-flight shades and version (see `phase.rs`). Read by every `shade`.
    phase: CachePadded<AtomicU64>,
    marks: Bitmap,
    grey: GreyQueue<Grey>,
    roots: RootList,
    /// Registered [`Mutator`](crate::Mutator)s and their last safepoints (see
    /// `mutators.rs`).
    mutators: mutators::Mutators,
    lock: Mutex<()>,
    /// When `collect_if_due` collects (see `pacing.rs`).
    pacer: Pacer,
    /// The arena's key type: `Tracer::edge` follows only keys of it.
    key_type: TypeId,
    /// Marker and sweeper threads, parked between cycles (see `helpers.rs`).
    helpers: Helpers,
}

impl GcState {
    pub(crate) fn new(pacing: Pacing, key_type: TypeId) -> Self {
        GcState {
            key_type,
            phase: CachePadded::new(AtomicU64::new(IDLE)),
            marks: Bitmap::new(),
            grey: GreyQueue::new(),
            roots: RootList::new(),
            mutators: mutators::Mutators::new(),
            lock: Mutex::new(()),
            pacer: Pacer::new(pacing),
            helpers: Helpers::new(),
        }
    }

    /// The pacer: the policy of `collect_if_due` and its trigger.
    #[inline]
    pub(crate) fn pacer(&self) -> &Pacer {
        &self.pacer
    }

    /// Whether a collection holds the collector now (is running, or about to start). A
    /// snapshot: one may start or finish right after.
    pub(crate) fn is_collecting(&self) -> bool {
        matches!(
            self.lock.try_lock(),
            Err(std::sync::TryLockError::WouldBlock)
        )
    }

    /// Helper threads alive (see `helpers.rs`).
    #[cfg(test)]
    pub(crate) fn helper_threads(&self) -> usize {
        self.helpers.len()
    }

    /// What the helper threads share, weakly: gone once they have all exited.
    #[cfg(test)]
    pub(crate) fn helpers_probe(&self) -> std::sync::Weak<impl Sized> {
        self.helpers.probe()
    }

    /// Bytes of mark bitmaps allocated.
    pub(crate) fn mark_bytes(&self) -> usize {
        self.marks.bytes()
    }

    /// Whether the collector is idle: the phase is IDLE, no shade is in flight, the grey
    /// queue is empty.
    #[cfg(test)]
    pub(crate) fn is_idle(&self) -> bool {
        use crate::sync::Ordering;
        let word = self.phase.load(Ordering::SeqCst);
        word & phase::PHASE == IDLE && word & phase::IN_FLIGHT_MASK == 0 && self.grey.is_empty()
    }
}
