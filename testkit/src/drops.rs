//! Values that count their drops, and driving reclamation until they have happened.

use epoch_arena::{pin, Arena};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Counts drops of values tagged with it, and drops of torn or already-dropped values.
///
/// Deferred reclamation catches panics from `T::drop` (see the crate docs), so a value
/// that finds itself corrupt records it here instead of panicking, and every read of the
/// count checks that nothing was.
#[derive(Default, Debug)]
pub struct DropLog {
    /// Drops of [`Tracked`] values so far.
    pub dropped: AtomicUsize,
    /// Drops that found their value torn or already dropped (should stay 0).
    pub corrupt: AtomicUsize,
}

impl DropLog {
    /// Drops so far; asserts none of them was of a torn or already-dropped value.
    pub fn count(&self) -> usize {
        assert_eq!(
            self.corrupt.load(Ordering::SeqCst),
            0,
            "a torn or already-dropped value was dropped"
        );
        self.dropped.load(Ordering::SeqCst)
    }
}

/// A value that records its drop and checks it is not torn or dropped twice.
#[derive(Debug)]
pub struct Tracked {
    /// The value's identity, chosen by the test.
    pub id: u64,
    /// `id ^ MAGIC` while the value is intact; 0 once dropped.
    pub check: u64,
    /// Where its drop is recorded.
    pub log: Arc<DropLog>,
}

/// What [`Tracked::check`] is XORed with.
pub const MAGIC: u64 = 0x9E37_79B9_7F4A_7C15;

impl Tracked {
    /// A value with identity `id` whose drop `log` records.
    pub fn new(id: u64, log: &Arc<DropLog>) -> Self {
        Tracked {
            id,
            check: id ^ MAGIC,
            log: Arc::clone(log),
        }
    }
    /// Whether the value is neither torn nor dropped.
    pub fn is_intact(&self) -> bool {
        self.check == self.id ^ MAGIC
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if !self.is_intact() {
            self.log.corrupt.fetch_add(1, Ordering::SeqCst);
        }
        self.check = 0; // a second drop would find this
        self.log.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// Drives reclamation until `done()`; returns `done()`.
///
/// All arenas share crossbeam-epoch's global epoch, and other tests in the same process
/// may hold guards for a while, so this is a liveness bound (a minute), not a timing
/// expectation: it returns as soon as `done()` holds.
pub fn reclaim_until<T: Send + Sync>(arena: &Arena<T>, mut done: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        for _ in 0..100 {
            if done() {
                return true;
            }
            arena.flush();
            pin().flush();
        }
        std::thread::yield_now();
    }
    done()
}
