//! The marker: traces values from an explicit work stack, never by recursion.
//!
//! A marker validates an edge (its slot exists and its state equals the key's generation),
//! tests the mark bit, `fetch_or`s it, and pushes the value only if its own `fetch_or` set
//! the bit, so every value is traced once per cycle. Before it traces a popped value it
//! re-validates with an `Acquire` load under a pinned guard, exactly like `get`. See step 5
//! of [One cycle](crate::implementation#one-cycle).
//!
//! # The pipeline
//!
//! A value costs up to three dependent cache misses: its slot (state and the value's own
//! bytes), its mark word, and the memory `trace` reads behind the value (a `Vec`'s
//! buffer). A marker overlaps the misses of many values with two rings:
//!
//! 1. **Edges** ([`PENDING`]): an edge reported by `trace` is looked up once (slot, mark
//!    word), both lines are prefetched, and the edge is greyed `PENDING` edges later.
//! 2. **Values** ([`AHEAD`]): a grey value taken off the work stack is validated, its
//!    [`Trace::prefetch`] hint starts loading its buffer, and it is traced `AHEAD` values
//!    later.
//!
//! Both rings are private work: [`Marker::flush`] empties them before a marker takes work
//! from elsewhere, goes idle, or lets termination be attempted, so they never hide grey
//! work from the termination check.

use super::trace::{Trace, Tracer};
use super::{Core, Grey, Panic};
use crate::key::Key;
use crate::raw::slot::SlotRef;
use crate::sync::{prefetch, AtomicU32, AtomicU64, Ordering};

/// Edges a marker holds between their prefetch and their `grey`: enough to overlap the
/// cache misses of that many edges. A power of two.
const PENDING: usize = 16;

/// Values a marker holds between taking them and tracing them. A value's slot is prefetched
/// when it is taken, its buffer (the [`Trace::prefetch`] hint) `AHEAD / 2` values later,
/// and it is traced `AHEAD` values after it was taken. A power of two.
const AHEAD: usize = 16;

/// An edge waiting in the edge ring: the key, and its slot's state and its mark word as
/// looked up when it arrived (`None`: its chunk, resp. its chunk's bitmap, did not exist
/// then). An entry whose `state` is `None` is skipped, which makes a filler entry.
#[derive(Clone, Copy)]
struct Edge<'a> {
    key: Key,
    state: Option<&'a AtomicU32>,
    word: Option<&'a AtomicU64>,
    bit: u64,
}

impl Edge<'_> {
    /// A filler entry: greying it does nothing.
    fn none() -> Self {
        Edge {
            key: Key::new(0, 1),
            state: None,
            word: None,
            bit: 0,
        }
    }
}

/// A grey value waiting in the value ring, with its slot.
struct Ahead<'a, T> {
    grey: Grey,
    slot: SlotRef<'a, T>,
}

impl<T> Clone for Ahead<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Ahead<'_, T> {}

/// A delay line of `N` (a power of two) entries: each entry put in comes out `N` entries
/// later. Always full; filler entries stand for nothing.
struct Delay<E, const N: usize> {
    items: [E; N],
    pos: usize,
}

impl<E: Copy, const N: usize> Delay<E, N> {
    fn new(fill: E) -> Self {
        Delay {
            items: [fill; N],
            pos: 0,
        }
    }

    /// Puts `item` in; returns the entry put in `N` entries earlier.
    #[inline(always)]
    fn swap(&mut self, item: E) -> E {
        let old = core::mem::replace(&mut self.items[self.pos], item);
        self.pos = (self.pos + 1) & (N - 1);
        old
    }

    /// The entry put in `back` entries before the next one (`1 <= back <= N`).
    #[inline(always)]
    fn back(&self, back: usize) -> &E {
        &self.items[(self.pos + N - back) & (N - 1)]
    }

    /// Takes every entry out, oldest first, leaving fillers.
    fn drain(&mut self, fill: E, mut f: impl FnMut(E)) {
        for _ in 0..N {
            f(self.swap(fill));
        }
    }
}

/// Traces values: the per-thread part of marking.
pub(super) struct Marker<'a, T> {
    inner: &'a Core<T>,
    edges: Vec<Key>,
    pub(super) marked: usize,
    /// Edges whose slot and mark word were prefetched, greyed `PENDING` edges later.
    pending: Delay<Edge<'a>, PENDING>,
    /// Grey values taken by `visit`, traced `AHEAD` values later.
    ahead: Delay<Option<Ahead<'a, T>>, AHEAD>,
    /// Real entries (not fillers) in the two rings.
    held: usize,
}

impl<'a, T: Trace> Marker<'a, T> {
    pub(super) fn new(inner: &'a Core<T>) -> Self {
        Marker {
            inner,
            edges: Vec::new(),
            marked: 0,
            pending: Delay::new(Edge::none()),
            ahead: Delay::new(None),
            held: 0,
        }
    }

    /// Marks the value of `key` if it is live and unmarked; returns it for tracing if this
    /// call marked it.
    #[inline]
    pub(super) fn grey(&self, key: Key) -> Option<Grey> {
        self.grey_edge(self.edge(key))
    }

    /// Looks up the slot and the mark word of `key`.
    #[inline(always)]
    fn edge(&self, key: Key) -> Edge<'a> {
        let (word, bit) = self.inner.collector.marks.find(key.index());
        Edge {
            key,
            state: self.inner.dir.slot(key.index()).map(|slot| slot.state),
            word,
            bit,
        }
    }

    /// [`grey`](Marker::grey) with the slot and mark word already looked up.
    #[inline(always)]
    fn grey_edge(&self, edge: Edge<'a>) -> Option<Grey> {
        let Edge {
            key,
            state,
            word,
            bit,
        } = edge;
        // First the chunk (a key past the arena's chunks is ignored, and allocates no
        // bitmap), then the bit (an already marked value costs no visit to its slot), then
        // the state, then the `fetch_or`.
        let state = state?;
        let word = match word {
            Some(word) => word,
            // The chunk's bitmap did not exist when the edge arrived (a chunk allocated
            // during the cycle): allocate it now.
            None => self.inner.collector.marks.word(key.index()).0,
        };
        if word.load(Ordering::Relaxed) & bit != 0 {
            return None;
        }
        // Relaxed: only a filter (stale keys are not marked). Whoever gave us the key (an
        // insert, a traced value, a root) is ordered before us, so a live key's state is
        // visible; `visit` and `scan` re-validate with Acquire before reading the value.
        if state.load(Ordering::Relaxed) != key.generation() {
            return None;
        }
        // Relaxed: see `Bitmap::mark`.
        (word.fetch_or(bit, Ordering::Relaxed) & bit == 0).then_some(Grey {
            index: key.index(),
            generation: key.generation(),
        })
    }

    /// Takes a grey value: prefetches its slot, issues the buffer prefetch of the value
    /// taken `AHEAD / 2` values earlier, and traces the value taken `AHEAD` values earlier
    /// (its unmarked live children go to `push`).
    ///
    /// A panic in `Trace::trace` unwinds out of here; the callers catch it once around their
    /// whole loop (a `catch_unwind` per value would cost every value a call).
    #[inline]
    pub(super) fn visit(&mut self, grey: Grey, push: impl FnMut(Grey)) {
        let Some(slot) = self.inner.dir.slot(grey.index) else {
            return;
        };
        prefetch(slot.state as *const AtomicU32);
        if let Some(mid) = *self.ahead.back(AHEAD / 2) {
            // Acquire pairs with `publish`'s Release, as in `get`.
            if mid.slot.state.load(Ordering::Acquire) == mid.grey.generation {
                // Every marker runs pinned (a [`Repin`] in `mark_local` and
                // `parallel::work`), and the reference does not outlive this statement
                // (`scan` re-validates under the guard it runs under).
                // SAFETY: the state equals the value's OCCUPIED generation, so it is
                // initialised; we are pinned (above), so a removal after our load defers
                // the drop past our guard, as in `Arena::get`.
                unsafe { mid.slot.value_ref() }.prefetch();
            }
        }
        self.held += 1;
        if let Some(old) = self.ahead.swap(Some(Ahead { grey, slot })) {
            self.held -= 1;
            self.scan(old, push);
        }
    }

    /// Traces one value taken by `visit`; its unmarked live children go to `push`.
    #[inline]
    fn scan(&mut self, ahead: Ahead<'a, T>, mut push: impl FnMut(Grey)) {
        let Ahead { grey, slot } = ahead;
        // Acquire pairs with `publish`'s Release, as in `get`: the value may have been
        // removed since it was marked.
        if slot.state.load(Ordering::Acquire) != grey.generation {
            return;
        }
        // SAFETY: as in `visit`: initialised (the state matches) and protected by the guard
        // the marker holds now (it does not re-pin inside this call).
        let value = unsafe { slot.value_ref() };
        self.edges.clear();
        value.trace(&mut Tracer::new(
            &mut self.edges,
            self.inner.collector.key_type,
        ));
        self.marked += 1;
        for i in 0..self.edges.len() {
            // Look up and prefetch what `grey_edge` reads (the slot's state, the mark word),
            // and grey the edge PENDING edges later, so the misses of many edges overlap.
            let edge = self.edge(self.edges[i]);
            let Some(state) = edge.state else {
                continue; // past the arena's chunks: nothing to mark
            };
            prefetch(state as *const AtomicU32);
            if let Some(word) = edge.word {
                prefetch(word as *const AtomicU64);
            }
            self.held += 1;
            let old = self.pending.swap(edge);
            if old.state.is_some() {
                self.held -= 1;
                if let Some(item) = self.grey_edge(old) {
                    push(item);
                }
            }
        }
    }

    /// Traces every value in the value ring and greys every pending edge (children go to
    /// `push`): afterwards the marker holds no private work.
    pub(super) fn flush(&mut self, mut push: impl FnMut(Grey)) {
        if self.held == 0 {
            return;
        }
        // Tracing adds edges, never values: the value ring is empty after this.
        let mut ahead = core::mem::replace(&mut self.ahead, Delay::new(None));
        ahead.drain(None, |old| {
            if let Some(old) = old {
                self.held -= 1;
                self.scan(old, &mut push);
            }
        });
        let mut pending = core::mem::replace(&mut self.pending, Delay::new(Edge::none()));
        pending.drain(Edge::none(), |old| {
            if old.state.is_some() {
                self.held -= 1;
                if let Some(item) = self.grey_edge(old) {
                    push(item);
                }
            }
        });
        self.pending = pending;
        debug_assert_eq!(self.held, 0);
    }

    /// Whether the marker holds no private work (both rings hold only fillers).
    pub(super) fn is_flushed(&self) -> bool {
        self.held == 0
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
                    marker.visit(item, |child| stack.push(child));
                    pin.tick();
                }
                marker.flush(|item| stack.push(item));
                if !stack.is_empty() {
                    continue;
                }
                debug_assert!(marker.is_flushed());
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
