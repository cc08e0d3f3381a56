//! What a collection is asked to do ([`CollectOptions`]) and what it did ([`CollectStats`]).

use crate::sync;
use std::time::Duration;

/// What one collection did.
///
/// ```
/// use epoch_arena::{Arena, Key};
///
/// let arena = Arena::new();
/// let leaf = arena.insert(None::<Key>);
/// let root = arena.insert(Some(leaf));
/// arena.insert(None); // unreachable
/// let stats = arena.collect([root]);
/// assert_eq!((stats.marked, stats.swept), (2, 1));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CollectStats {
    /// Values found reachable and traced.
    pub marked: usize,
    /// Values swept (unlinked; dropped after their grace period).
    pub swept: usize,
    /// Root keys considered: the `roots` argument plus live [`Root`](crate::Root)s.
    pub roots: usize,
    /// Markers that took part: 1 for small arenas (see
    /// [`CollectOptions::parallel_min_slots`]), otherwise up to [`CollectOptions::threads`]
    /// (at most 64): the caller and the arena's helper threads that joined the marking.
    /// Helper threads are started by the first parallel collection and parked between
    /// cycles; one that wakes after the others have finished takes no part, nor one the
    /// system refused to start (the caller then marks with those that did, or alone).
    pub threads: usize,
    /// [`Mutator`](crate::Mutator)s registered when marking began. The sweep spared every
    /// value born since the oldest one's last [`safepoint`](crate::Mutator::safepoint).
    pub mutators: usize,
    /// Time spent waiting for another collection and for the epoch grace period.
    pub wait_time: Duration,
    /// Time spent clearing the mark bits.
    pub clear_time: Duration,
    /// Time spent marking (tracing), including termination.
    pub mark_time: Duration,
    /// Time spent sweeping.
    pub sweep_time: Duration,
    /// Bytes of slot memory given back by the [`trim`](crate::Arena::trim) that
    /// [`collect_if_due`](crate::Arena::collect_if_due) runs after its cycle when the arena is
    /// fragmented beyond [`Pacing::trim_above`](crate::Pacing::trim_above); 0 if it did not
    /// trim, and always 0 from [`collect`](crate::Arena::collect) and
    /// [`collect_with`](crate::Arena::collect_with).
    pub trimmed: usize,
}

/// Options for [`Arena::collect_with`](crate::Arena::collect_with).
///
/// ```
/// use epoch_arena::CollectOptions;
///
/// let default = CollectOptions::default();
/// assert!(default.threads >= 1);
/// let two = CollectOptions { threads: 2, ..Default::default() };
/// assert_eq!(two, CollectOptions::with_threads(2));
/// let always_parallel = CollectOptions { threads: 2, parallel_min_slots: 0 };
/// # let _ = always_parallel;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectOptions {
    /// Marker (and sweeper) threads, the caller included; 0 counts as 1, and more than 64
    /// count as 64 (far more threads than cores only contend). The other `threads - 1` are
    /// the arena's helper threads: started by the first collection that asks for them,
    /// parked between cycles, stopped and joined when the arena is dropped. If the system
    /// refuses to start a thread (a thread, process or memory limit), the collection goes
    /// on with the threads that did start, down to the caller alone, and a later one tries
    /// again.
    pub threads: usize,
    /// Extra threads are only started when the arena has handed out at least this many
    /// slots; below it the calling thread collects alone, because starting a thread costs
    /// more than it saves. Default [`PARALLEL_THRESHOLD`].
    pub parallel_min_slots: usize,
}

/// The default [`CollectOptions::parallel_min_slots`]: 524,288 slots. Below a few hundred
/// thousand values, starting marker threads and sharing the bitmap cost more than a second
/// marker saves, so smaller arenas are collected by the calling thread alone; tune
/// [`parallel_min_slots`](CollectOptions::parallel_min_slots) for your machine.
pub const PARALLEL_THRESHOLD: usize = 1 << 19;

/// The most threads a collection uses (see [`CollectOptions::threads`]).
pub(crate) const MAX_THREADS: usize = 64;

impl CollectOptions {
    /// The default options with `threads` markers.
    pub fn with_threads(threads: usize) -> Self {
        CollectOptions {
            threads,
            ..Default::default()
        }
    }
}

impl Default for CollectOptions {
    /// One marker per core ([`std::thread::available_parallelism`]), extra threads from
    /// [`PARALLEL_THRESHOLD`] slots on.
    fn default() -> Self {
        CollectOptions {
            threads: sync::cores(),
            parallel_min_slots: PARALLEL_THRESHOLD,
        }
    }
}

/// Why [`Arena::try_collect`](crate::Arena::try_collect) did not collect.
///
/// ```
/// let err = epoch_arena::CollectError::Pinned;
/// assert!(err.to_string().contains("pinned"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CollectError {
    /// This thread is pinned (it holds a [`Guard`](crate::Guard), or runs inside a value's
    /// `Drop` during reclamation): the collection's grace period would wait for it forever.
    Pinned,
}

impl core::fmt::Display for CollectError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CollectError::Pinned => f.write_str(
                "cannot collect while this thread is pinned: the grace period would wait for \
                 it forever",
            ),
        }
    }
}

impl std::error::Error for CollectError {}
