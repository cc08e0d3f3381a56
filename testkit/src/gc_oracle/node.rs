//! The graph value the model keeps in its arena, the log of its drops, and the payloads of
//! the panics it raises on purpose.

use crate::MAGIC;
use epoch_arena::{Key, Trace, Tracer};
use std::collections::HashMap;
use std::panic;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, Once};

/// The payload of the panic an armed [`Node`]'s `Trace` raises.
///
/// It may be raised on one of the collector's marker threads, which the collector catches and
/// resumes in the caller of `collect`.
#[derive(Debug)]
pub struct TracePanic;

/// The payload of the panic a value raises on purpose when it is dropped (a [`Node`] made
/// with [`Extras::panicky_drop`](super::Extras::panicky_drop), and the fuzz targets' own values).
#[derive(Debug)]
pub struct DropPanic;

/// Lets [`TracePanic`] and [`DropPanic`] unwind silently, on any thread; every other panic
/// still reaches the hook installed before (the default report, or libFuzzer's abort).
///
/// The model calls it; call it too before catching those panics elsewhere.
pub fn quiet_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<TracePanic>() && !info.payload().is::<DropPanic>() {
                previous(info);
            }
        }));
    });
}

/// Written over a [`Node`]'s check word by its drop: a second drop, or a read after the drop,
/// sees it.
const POISON: u64 = 0xDEAD_BEEF_DEAD_BEEF;

/// The values made with one log, and their drops by id.
#[derive(Debug, Default)]
pub struct NodeLog {
    made: AtomicU64,
    /// Values that will panic when dropped, made and not yet dropped quietly.
    panicky: AtomicU64,
    dropped: AtomicU64,
    /// Drops of torn or already dropped values.
    corrupt: AtomicUsize,
    by_id: Mutex<HashMap<u64, u32>>,
}

impl NodeLog {
    /// Values made so far.
    pub fn made(&self) -> u64 {
        self.made.load(SeqCst)
    }

    /// Drops so far (twice for a value dropped twice).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(SeqCst)
    }

    /// Values made and not dropped yet.
    pub fn undropped(&self) -> u64 {
        // Read `dropped` first: it only trails `made`.
        let d = self.dropped();
        self.made() - d
    }

    /// Drops so far, by value id.
    pub fn drops(&self) -> HashMap<u64, u32> {
        self.by_id.lock().unwrap().clone()
    }

    /// Whether a value that panics when dropped was made.
    pub fn any_panicky(&self) -> bool {
        self.panicky.load(SeqCst) != 0
    }

    /// Asserts that no torn or already dropped value was dropped.
    pub fn assert_not_corrupt(&self) {
        assert_eq!(
            self.corrupt.load(SeqCst),
            0,
            "a torn or already dropped value was dropped"
        );
    }

    /// Asserts that every value made was dropped exactly once.
    pub fn assert_all_dropped_once(&self) {
        self.assert_not_corrupt();
        let drops = self.drops();
        assert!(
            drops.iter().all(|(_, &n)| n == 1),
            "a value dropped twice: {drops:?}"
        );
        assert_eq!(drops.len() as u64, self.made(), "values not dropped");
        assert_eq!(self.dropped(), self.made(), "drops");
    }
}

/// The arena's value: a graph node whose edges can change after insertion, and whose
/// `Trace` panics (with [`TracePanic`]) while it is armed.
#[derive(Debug)]
pub struct Node {
    pub(super) id: u64,
    pub(super) edges: Mutex<Vec<Key>>,
    pub(super) bomb: AtomicBool,
    /// `id ^ MAGIC` while the value is intact; [`POISON`] once dropped.
    check: u64,
    /// `!id`: a heap cell for AddressSanitizer.
    heap: Box<u64>,
    /// Panics (with [`DropPanic`]) when dropped, after counting the drop.
    panicky: bool,
    log: Arc<NodeLog>,
}

impl Node {
    pub(super) fn new(id: u64, edges: Vec<Key>, panicky: bool, log: &Arc<NodeLog>) -> Node {
        log.made.fetch_add(1, SeqCst);
        if panicky {
            log.panicky.fetch_add(1, SeqCst);
        }
        Node {
            id,
            edges: Mutex::new(edges),
            bomb: AtomicBool::new(false),
            check: id ^ MAGIC,
            heap: Box::new(!id),
            panicky,
            log: Arc::clone(log),
        }
    }

    /// The value's identity, chosen by the model.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether the value is neither torn nor dropped.
    pub fn is_intact(&self) -> bool {
        self.check == self.id ^ MAGIC && *self.heap == !self.id
    }

    #[track_caller]
    pub(super) fn assert_intact(&self) {
        assert!(
            self.is_intact(),
            "torn or dropped value: id {:#x} check {:#x}",
            self.id,
            self.check
        );
    }

    /// Drops a value the model holds itself, without a panic.
    pub(super) fn drop_quietly(mut self) {
        if self.panicky {
            self.log.panicky.fetch_sub(1, SeqCst);
            self.panicky = false;
        }
    }
}

impl Trace for Node {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        self.assert_intact();
        if self.bomb.load(SeqCst) {
            panic::panic_any(TracePanic);
        }
        self.edges.trace(tracer);
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let intact = self.is_intact();
        *self.log.by_id.lock().unwrap().entry(self.id).or_default() += 1;
        if !intact {
            self.log.corrupt.fetch_add(1, SeqCst);
        }
        self.log.dropped.fetch_add(1, SeqCst);
        // Reclamation swallows this panic; the log keeps the finding.
        assert!(
            intact,
            "dropping a torn or already dropped value: id {:#x} check {:#x}",
            self.id, self.check
        );
        self.check = POISON;
        if self.panicky && !std::thread::panicking() {
            panic::panic_any(DropPanic);
        }
    }
}
