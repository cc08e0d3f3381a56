//! The marker: traces values from an explicit work stack, never by recursion.
//!
//! A marker validates an edge (its slot exists and its state equals the key's generation,
//! `Relaxed`: only a filter), tests the mark bit, `fetch_or`s it, and pushes the value only
//! if its own `fetch_or` set the bit, so every value is traced once per cycle. Before it
//! traces a popped value it re-validates with an `Acquire` load under a pinned guard,
//! exactly like `get`. Edges are prefetched as they arrive and greyed [`PENDING`] edges
//! later, so the cache misses of many edges overlap. See step 5 of
//! [One cycle](crate::implementation#one-cycle).

use super::trace::{Trace, Tracer};
use super::{Core, Grey, Panic};
use crate::key::Key;
use crate::sync::{prefetch, AtomicU32, Ordering};

/// Edges a marker holds between their prefetch and their `grey`: enough to overlap the
/// cache misses of that many edges.
const PENDING: usize = 16;

/// Traces values: the per-thread part of marking.
pub(super) struct Marker<'a, T> {
    inner: &'a Core<T>,
    edges: Vec<Key>,
    pub(super) marked: usize,
    /// A ring of edges whose slot and mark word were prefetched, greyed `PENDING` edges
    /// later (FIFO). Always empty when the marker goes idle or marking may terminate.
    pending: [Key; PENDING],
    head: usize,
    len: usize,
}

impl<'a, T: Trace> Marker<'a, T> {
    pub(super) fn new(inner: &'a Core<T>) -> Self {
        Marker {
            inner,
            edges: Vec::new(),
            marked: 0,
            pending: [Key::new(0, 1); PENDING],
            head: 0,
            len: 0,
        }
    }

    /// Marks the value of `key` if it is live and unmarked; returns it for tracing if this
    /// call marked it.
    #[inline]
    pub(super) fn grey(&self, key: Key) -> Option<Grey> {
        let index = key.index();
        // First the chunk (a key past the arena's chunks is ignored, and allocates no
        // bitmap), then the bit (an already marked value costs no visit to its slot), then
        // the state, then the `fetch_or`.
        let slot = self.inner.dir.slot(index)?;
        let (word, bit) = self.inner.collector.marks.word(index);
        if word.load(Ordering::Relaxed) & bit != 0 {
            return None;
        }
        // Relaxed: only a filter (stale keys are not marked). Whoever gave us the key (an
        // insert, a traced value, a root) is ordered before us, so a live key's state is
        // visible; `scan` re-validates with Acquire before reading the value.
        if slot.state.load(Ordering::Relaxed) != key.generation() {
            return None;
        }
        // Relaxed: see `Bitmap::mark`.
        (word.fetch_or(bit, Ordering::Relaxed) & bit == 0).then_some(Grey {
            index,
            generation: key.generation(),
        })
    }

    /// Traces one marked value; its unmarked live children go to `push`.
    ///
    /// A panic in `Trace::trace` unwinds out of here; the callers catch it once around their
    /// whole loop (a `catch_unwind` per value would cost every value a call).
    #[inline]
    pub(super) fn scan(&mut self, grey: Grey, mut push: impl FnMut(Grey)) {
        let Grey { index, generation } = grey;
        let Some(slot) = self.inner.dir.slot(index) else {
            return;
        };
        // Acquire pairs with `publish`'s Release, as in `get`.
        if slot.state.load(Ordering::Acquire) != generation {
            return; // removed since it was marked
        }
        // SAFETY: the state equals the value's OCCUPIED generation, so it is initialised, and
        // every marker runs pinned (a [`Repin`] in `mark_local` and `parallel::work`), so a removal after our load
        // defers the drop past our guard, as in `Arena::get`.
        let value = unsafe { slot.value_ref() };
        self.edges.clear();
        value.trace(&mut Tracer::new(
            &mut self.edges,
            self.inner.collector.key_type,
        ));
        self.marked += 1;
        for i in 0..self.edges.len() {
            let key = self.edges[i];
            // Prefetch what `grey` reads (the slot's state, the mark word) and grey the key
            // PENDING edges later, so the misses of many edges overlap.
            if let Some(slot) = self.inner.dir.slot(key.index()) {
                prefetch(slot.state as *const AtomicU32);
            }
            self.inner.collector.marks.prefetch(key.index());
            if self.len == PENDING {
                let old = core::mem::replace(&mut self.pending[self.head], key);
                self.head = (self.head + 1) % PENDING;
                if let Some(item) = self.grey(old) {
                    push(item);
                }
            } else {
                self.pending[(self.head + self.len) % PENDING] = key;
                self.len += 1;
            }
        }
    }

    /// Greys every pending edge.
    pub(super) fn flush(&mut self, mut push: impl FnMut(Grey)) {
        while self.len > 0 {
            let old = self.pending[self.head];
            self.head = (self.head + 1) % PENDING;
            self.len -= 1;
            if let Some(item) = self.grey(old) {
                push(item);
            }
        }
    }
}

impl<T: Trace + Send + Sync> Core<T> {
    /// Traces from `stack` and the grey queue until both are empty.
    pub(super) fn mark_local(
        &self,
        stack: &mut Vec<Grey>,
        marker: &mut Marker<'_, T>,
    ) -> Result<(), Panic> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut pin = Repin::new();
            loop {
                while let Some(item) = stack.pop() {
                    marker.scan(item, |child| stack.push(child));
                    pin.tick();
                }
                marker.flush(|item| stack.push(item));
                if !stack.is_empty() {
                    continue;
                }
                if !self.collector.grey.drain_into(stack) {
                    return;
                }
            }
        }))
    }
}

/// The pinned guard a marker traces under, re-pinned every 1024 values so that the epoch
/// can advance during long marks.
pub(super) struct Repin {
    guard: crossbeam_epoch::Guard,
    n: u32,
}

impl Repin {
    pub(super) fn new() -> Self {
        Repin {
            guard: crossbeam_epoch::pin(),
            n: 0,
        }
    }

    /// Counts one traced value.
    #[inline]
    pub(super) fn tick(&mut self) {
        self.n = self.n.wrapping_add(1);
        if self.n.is_multiple_of(1024) {
            self.guard.repin();
        }
    }
}
