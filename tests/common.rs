//! Helpers shared by the integration tests.
#![allow(dead_code)]

use epoch_arena::{pin, Arena};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Counts drops of values tagged with it.
#[derive(Default, Debug)]
pub struct DropLog {
    pub dropped: AtomicUsize,
}

/// A value that records its drop and checks it is not torn or dropped twice.
#[derive(Debug)]
pub struct Tracked {
    pub id: u64,
    pub check: u64,
    pub log: Arc<DropLog>,
}

pub const MAGIC: u64 = 0x9E37_79B9_7F4A_7C15;

impl Tracked {
    pub fn new(id: u64, log: &Arc<DropLog>) -> Self {
        Tracked {
            id,
            check: id ^ MAGIC,
            log: Arc::clone(log),
        }
    }
    pub fn is_intact(&self) -> bool {
        self.check == self.id ^ MAGIC
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        assert!(self.is_intact(), "dropped a torn or already-dropped value");
        self.check = 0; // a second drop would fail the assertion above
        self.log.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// Drives reclamation until `done()` or the budget runs out; returns `done()`.
pub fn reclaim_until<T: Send + Sync>(arena: &Arena<T>, mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..10_000 {
        if done() {
            return true;
        }
        arena.flush();
        pin().flush();
    }
    done()
}
