//! The collector: concurrent mark-and-sweep over the arena, with a write barrier.
//!
//! # The contract with mutators
//!
//! A collection ([`Arena::collect`]) keeps every value reachable from the *roots* (its
//! `roots` argument and every live [`Root`](crate::Root)) through [`Trace`] edges, keeps
//! every value inserted during the cycle, and removes the rest, through the same epoch path
//! as [`Arena::remove`]. Other threads may `get`, `insert`, `remove` and iterate meanwhile.
//! A thread that changes the graph during a cycle must follow one rule:
//!
//! > **Shade, then store.** Before storing a key `k` into a value in the arena (or into a
//! > value about to be inserted), call [`Arena::shade(k)`](Arena::shade), and do both while
//! > pinned by one [`Guard`](crate::Guard) (the guard that gave you `&V` does).
//!
//! Keys held only in local variables are **not** roots. A collection may sweep the value of
//! such a key if nothing reachable holds it; the key then goes stale (`get` returns `None`,
//! never another value). Root it with [`Arena::root`] to keep it. A key fresh from `insert`
//! is such a key until it is stored: to insert a value and link it into the graph, pin the
//! guard *before* the insert and store the key before dropping it (the tests' writers do
//! exactly this). Then either the guard was pinned before the cycle's switch to MARKING, and
//! the collector waits for it (step 4) and sees the store, or it was pinned after, and the
//! insert reads the new cycle number, so the value is allocated black (step 3).
//!
//! # One cycle
//!
//! ```text
//!  lock ─▶ clear bits ─▶ cycle += 1 ─▶ MARKING ─▶ grace ─▶ mark roots, trace ─▶ SWEEPING ─▶ sweep ─▶ IDLE
//!                                        │        period   (parallel, stealing)  (no shade     (parallel)
//!                                        └── shade marks and queues keys ───────┘  in flight)
//! ```
//!
//! 1. **Lock.** The `roots` argument is first collected into a vector: its iterator is the
//!    caller's code, which may panic or block, so it runs before the cycle changes anything.
//!    (The registry of [`Root`](crate::Root)s is different: it is scanned after the switch to
//!    MARKING, step 5, see `root.rs`.) Collections of one arena are serialised by a mutex:
//!    a second concurrent `collect` *waits* for the first to finish, then runs its own
//!    cycle. So a value is never swept by two collections.
//! 2. **Clear.** The mark bits of every chunk are zeroed (a bulk store; ~16 KiB per million
//!    slots). Nobody else writes bits now: shades only mark while the phase is MARKING, and
//!    the previous cycle left MARKING only with no shade in flight.
//! 3. **Birth cycle.** The cycle number goes up by one. Every insertion stores the cycle
//!    number it reads into the slot's link word (unused while a slot is occupied, and in the
//!    same cache line as the state, so this costs the insert path one load and one store).
//!    The sweep skips values born in the current cycle: that is *allocation black*, without
//!    inserts ever touching the bitmap. An insert racing with the increment itself may read
//!    the old number; its value then counts as older than the cycle, like a key held only
//!    in a local variable.
//! 4. **Marking starts; grace period.** The phase word becomes MARKING (`SeqCst`), then the
//!    collector waits for an epoch grace period: every guard pinned before the switch is
//!    dropped. A mutator whose shade still read the old phase did so inside such a guard
//!    (the rule above), and its store came before it unpinned, so the tracing that follows
//!    sees the store. A mutator pinned after the switch sees MARKING in its shade (its pin's
//!    `SeqCst` fence orders it after the switch).
//! 5. **Mark.** Roots are marked, then traced from an explicit work stack, never by
//!    recursion. A marker tests a slot's bit before it `fetch_or`s it and pushes the slot
//!    only if its own `fetch_or` set the bit, so every value is traced once. With more
//!    than one marker, each has a crossbeam-deque worker and steals from the others when it
//!    runs dry. Markers trace under a pinned guard and re-validate the generation before
//!    reading a value, exactly like `get`, so tracing a value that is removed concurrently
//!    is safe. Stale or foreign edges fail that check and are ignored. If a marker thread
//!    cannot be started (a thread, process or memory limit), the cycle goes on with the
//!    markers that did start, down to the caller alone: the roots start in the caller's own
//!    deque, and a marker whose thread did not start is not counted as active.
//! 6. **Shade** (the write barrier) marks its key and pushes it on a shared grey queue that
//!    the markers drain. Outside MARKING it is one relaxed load of the phase word. Inside, it
//!    brackets its work with two read-modify-writes on the phase word: the first counts it
//!    *in flight*, the second uncounts it and bumps a version.
//! 7. **Termination.** When the markers run out of work, the collector reads the phase
//!    word, checks that no shade is in flight and that the grey queue is empty, and CASes
//!    the word from exactly that value to SWEEPING. Any shade that started or finished in
//!    between changed the word, so the CAS fails and marking resumes. After the CAS there
//!    are no grey values and no black→white edges (shade-then-store), so every reachable
//!    value is marked; a later store can only store a marked key (or a local one), and
//!    shade can stop marking.
//! 8. **Sweep.** Every occupied slot with a clear bit, not born in this cycle, is unlinked
//!    with the same CAS as `remove` (so a racing `remove` and the sweep never both win) and
//!    retired in batches through crossbeam-epoch: a reader holding `&T` keeps a valid
//!    value until its guard drops. The sweep reads a whole mark word at a time and skips
//!    fully marked runs of 64 slots without touching them. With more than one thread the
//!    index range is split into parts; a part whose thread cannot be started is swept by
//!    the caller.
//! 9. **Idle.** The phase returns to IDLE, the collector waits until no shade is in flight
//!    and empties the grey queue (already empty here). A drop guard made right after the
//!    switch to MARKING does this, so every way out of a cycle, a return or an unwinding
//!    panic, leaves the collector idle.
//!
//! A `Trace` impl that panics aborts the cycle: markers stop, nothing is swept, and the
//! panic resumes in the caller of `collect`, unwinding through the drop guard of step 9 (the
//! phase returns to IDLE, in-flight shades finish, the grey queue is emptied), as does any
//! other panic after the switch to MARKING. So no shade marks a value or queues a key after
//! the cycle, and the next cycle's clear races with no shade.
//!
//! [`Arena::collect`]: crate::Arena::collect
//! [`Arena::remove`]: crate::Arena::remove
//! [`Arena::shade`]: crate::Arena::shade

use crate::arena::{Arena, Inner};
use crate::chunk::{chunk_len, chunk_start, locate, BASE, NUM_CHUNKS};
use crate::free_list::IndexBatch;
use crate::key::Key;
use crate::mark::MarkDir;
use crate::root::{Root, RootList};
use crate::slot;
use crate::sync::{Arc, AtomicBool, AtomicU32, AtomicU64, Backoff, Mutex, Ordering};
use crate::trace::{Trace, Tracer};
use crossbeam_utils::CachePadded;
use std::time::{Duration, Instant};

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
    /// Root keys considered: the `roots` argument plus live [`Root`]s.
    pub roots: usize,
    /// Markers that ran: 1 for small arenas (see [`CollectOptions::parallel_min_slots`]),
    /// otherwise [`CollectOptions::threads`] (at most 64), or fewer if the system refused to
    /// start more threads (the caller then marks with those that did start, or alone).
    pub threads: usize,
    /// Time spent waiting for another collection and for the epoch grace period.
    pub wait_time: Duration,
    /// Time spent clearing the mark bits.
    pub clear_time: Duration,
    /// Time spent marking (tracing), including termination.
    pub mark_time: Duration,
    /// Time spent sweeping.
    pub sweep_time: Duration,
}

/// Options for [`Arena::collect_with`].
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
    /// count as 64 (the collector starts `threads - 1` threads per phase; far more threads
    /// than cores only contend). If the system refuses to start a thread (a thread, process
    /// or memory limit), the collection goes on with the threads that did start, down to
    /// the caller alone.
    pub threads: usize,
    /// Extra threads are only started when the arena has handed out at least this many
    /// slots; below it the calling thread collects alone, because starting a thread costs
    /// more than it saves. Default [`PARALLEL_THRESHOLD`].
    pub parallel_min_slots: usize,
}

/// The default [`CollectOptions::parallel_min_slots`]: 524,288 slots. On the 2-core machine
/// this crate is measured on, a second marker loses below a few hundred thousand values
/// (starting threads and sharing the bitmap cost more than it saves).
pub const PARALLEL_THRESHOLD: usize = 1 << 19;

/// The most threads a collection uses (see [`CollectOptions::threads`]).
const MAX_THREADS: usize = 64;

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
            threads: cores(),
            parallel_min_slots: PARALLEL_THRESHOLD,
        }
    }
}

#[cfg(not(loom))]
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

#[cfg(loom)]
fn cores() -> usize {
    1
}

/// A marked value waiting to be traced: `(index, generation)`.
type Item = (u32, u32);

/// The payload of a panic caught in `Trace::trace`.
type Panic = Box<dyn std::any::Any + Send + 'static>;

// The phase word: bits 0–1 phase, bits 2–31 shades in flight (×4), bits 32–63 a version
// that every finished shade bumps.
const IDLE: u64 = 0;
const MARKING: u64 = 1;
const SWEEPING: u64 = 2;
const PHASE: u64 = 3;
const IN_FLIGHT: u64 = 4;
const IN_FLIGHT_MASK: u64 = 0xffff_fffc;
const VERSION: u64 = 1 << 32;

/// The collector's state in each arena.
pub(crate) struct GcState {
    /// Phase, in-flight shades and version (see above). Read by every `shade`.
    word: CachePadded<AtomicU64>,
    /// The current cycle number: every insert reads it (birth cycle).
    cycle: CachePadded<AtomicU32>,
    pub(crate) marks: MarkDir,
    grey: GreyQueue,
    pub(crate) roots: RootList,
    lock: Mutex<()>,
}

impl GcState {
    pub(crate) fn new() -> Self {
        GcState {
            word: CachePadded::new(AtomicU64::new(IDLE)),
            cycle: CachePadded::new(AtomicU32::new(0)),
            marks: MarkDir::new(),
            grey: GreyQueue::new(),
            roots: RootList::new(),
            lock: Mutex::new(()),
        }
    }

    /// The birth cycle an insertion stores in its slot.
    #[inline(always)]
    pub(crate) fn birth(&self) -> u32 {
        // Relaxed: see step 3 in the module docs; a stale value only makes the new value
        // count as older than a cycle that is just starting.
        self.cycle.load(Ordering::Relaxed)
    }
}

/// The queue shades push onto and markers drain.
#[cfg(not(loom))]
struct GreyQueue(crossbeam_deque::Injector<Item>);

#[cfg(not(loom))]
impl GreyQueue {
    fn new() -> Self {
        GreyQueue(crossbeam_deque::Injector::new())
    }
    fn push(&self, item: Item) {
        self.0.push(item);
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Moves queued items onto `stack`; returns whether there were any.
    fn drain_into(&self, stack: &mut Vec<Item>) -> bool {
        let before = stack.len();
        loop {
            match self.0.steal() {
                crossbeam_deque::Steal::Success(item) => stack.push(item),
                crossbeam_deque::Steal::Empty => break,
                crossbeam_deque::Steal::Retry => continue,
            }
        }
        stack.len() > before
    }
    /// Discards every queued item.
    fn clear(&self) {
        while !matches!(self.0.steal(), crossbeam_deque::Steal::Empty) {}
    }
}

/// Under loom, a mutex-protected vector: the protocol under test is the phase word and the
/// mark bits, not crossbeam-deque (which loom cannot model).
#[cfg(loom)]
struct GreyQueue(Mutex<Vec<Item>>);

#[cfg(loom)]
impl GreyQueue {
    fn new() -> Self {
        GreyQueue(Mutex::new(Vec::new()))
    }
    fn push(&self, item: Item) {
        self.0.lock().unwrap().push(item);
    }
    fn is_empty(&self) -> bool {
        self.0.lock().unwrap().is_empty()
    }
    fn drain_into(&self, stack: &mut Vec<Item>) -> bool {
        let mut q = self.0.lock().unwrap();
        let any = !q.is_empty();
        stack.append(&mut q);
        any
    }
    fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}

/// Waits for an epoch grace period: returns once every guard (of crossbeam-epoch's default
/// collector, which [`pin`](crate::pin) uses) that was pinned when it was called has been
/// dropped, with everything done under those guards visible to the caller.
fn grace_period() {
    let done = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&done);
    let guard = crossbeam_epoch::pin();
    // crossbeam runs deferred functions only after every guard pinned before the deferral
    // has unpinned, and its epoch bookkeeping orders their unpinning before the run.
    guard.defer(move || flag.store(true, Ordering::Release));
    guard.flush();
    drop(guard);
    let backoff = Backoff::new();
    // Acquire pairs with the Release store in the deferred function.
    while !done.load(Ordering::Acquire) {
        crossbeam_epoch::pin().flush();
        backoff.snooze();
    }
}

/// A prefetch hint for the cache line at `p` (no-op where unsupported).
#[inline(always)]
pub(crate) fn prefetch<P>(p: *const P) {
    #[cfg(all(target_arch = "x86_64", not(loom)))]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(all(target_arch = "x86_64", not(loom))))]
    let _ = p;
}

/// Edges a marker holds between their prefetch and their `grey`: enough to overlap the
/// cache misses of that many edges.
const PENDING: usize = 16;

/// Traces values: the per-thread part of marking.
struct Marker<'a, T> {
    inner: &'a Inner<T>,
    edges: Vec<Key>,
    marked: usize,
    /// A ring of edges whose slot and mark word were prefetched, greyed `PENDING` edges
    /// later (FIFO). Always empty when the marker goes idle or marking may terminate.
    pending: [Key; PENDING],
    head: usize,
    len: usize,
}

impl<'a, T: Trace> Marker<'a, T> {
    fn new(inner: &'a Inner<T>) -> Self {
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
    fn grey(&self, key: Key) -> Option<Item> {
        let index = key.index();
        // First the chunk (a key past the arena's chunks is ignored, and allocates no
        // bitmap), then the bit (an already marked value costs no visit to its slot), then
        // the state, then the `fetch_or`.
        let slot = self.inner.dir.slot(index)?;
        let (word, bit) = self.inner.gc.marks.word(index);
        if word.load(Ordering::Relaxed) & bit != 0 {
            return None;
        }
        // Relaxed: only a filter (stale keys are not marked). Whoever gave us the key (an
        // insert, a traced value, a root) is ordered before us, so a live key's state is
        // visible; `scan` re-validates with Acquire before reading the value.
        if slot.state.load(Ordering::Relaxed) != key.generation() {
            return None;
        }
        // Relaxed: see `MarkDir::mark`.
        (word.fetch_or(bit, Ordering::Relaxed) & bit == 0).then_some((index, key.generation()))
    }

    /// Traces one marked value; its unmarked live children go to `push`.
    ///
    /// A panic in `Trace::trace` unwinds out of here; the callers catch it once around their
    /// whole loop (a `catch_unwind` per value would cost every value a call).
    #[inline]
    fn scan(&mut self, (index, generation): Item, mut push: impl FnMut(Item)) {
        let Some(slot) = self.inner.dir.slot(index) else {
            return;
        };
        // Acquire pairs with `publish`'s Release, as in `get`.
        if slot.state.load(Ordering::Acquire) != generation {
            return; // removed since it was marked
        }
        // SAFETY: the state equals the value's OCCUPIED generation, so it is initialised, and
        // every marker runs pinned (`mark_local`, `run_worker`), so a removal after our load
        // defers the drop past our guard, as in `Arena::get`.
        let value = unsafe { slot.value_ref() };
        self.edges.clear();
        value.trace(&mut Tracer::new(&mut self.edges));
        self.marked += 1;
        for i in 0..self.edges.len() {
            let key = self.edges[i];
            // Prefetch what `grey` reads (the slot's state, the mark word) and grey the key
            // PENDING edges later, so the misses of many edges overlap.
            if let Some(slot) = self.inner.dir.slot(key.index()) {
                prefetch(slot.state as *const AtomicU32);
            }
            self.inner.gc.marks.prefetch(key.index());
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
    fn flush(&mut self, mut push: impl FnMut(Item)) {
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

impl<T> Inner<T> {
    /// The write barrier's fast path: one relaxed load outside marking.
    #[inline]
    pub(crate) fn shade(&self, key: Key) {
        if self.gc.word.load(Ordering::Relaxed) & PHASE == MARKING {
            self.shade_slow(key);
        }
    }

    /// [`shade`](Inner::shade) for [`Root`]: the phase load is `SeqCst` (see `root.rs`).
    pub(crate) fn shade_seqcst(&self, key: Key) {
        if self.gc.word.load(Ordering::SeqCst) & PHASE == MARKING {
            self.shade_slow(key);
        }
    }

    #[cold]
    fn shade_slow(&self, key: Key) {
        let gc = &self.gc;
        // SeqCst: counts us in flight in the single total order the collector's
        // terminating CAS is part of; returns the phase that is current now.
        let word = gc.word.fetch_add(IN_FLIGHT, Ordering::SeqCst);
        if word & PHASE == MARKING {
            if let Some(slot) = self.dir.slot(key.index()) {
                // Relaxed: a filter, as in `Marker::grey`.
                if slot.state.load(Ordering::Relaxed) == key.generation()
                    && gc.marks.mark(key.index())
                {
                    gc.grey.push((key.index(), key.generation()));
                }
            }
        }
        // Release: the collector that reads this version has seen our push.
        gc.word
            .fetch_add(VERSION.wrapping_sub(IN_FLIGHT), Ordering::Release);
    }

    /// Sets the phase bits, keeping the in-flight count and version.
    fn set_phase(&self, phase: u64) {
        let word = &self.gc.word;
        let mut w = word.load(Ordering::Relaxed);
        loop {
            match word.compare_exchange_weak(
                w,
                (w & !PHASE) | phase,
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => w = now,
            }
        }
    }

    /// Waits until no shade is in flight.
    fn wait_for_shades(&self) {
        let backoff = Backoff::new();
        while self.gc.word.load(Ordering::SeqCst) & IN_FLIGHT_MASK != 0 {
            backoff.snooze();
        }
    }

    /// Ends marking if no shade is in flight and none happened since `seen`, and the grey
    /// queue is empty (step 7 of the module docs).
    fn try_finish_marking(&self) -> bool {
        let w = self.gc.word.load(Ordering::SeqCst);
        if w & IN_FLIGHT_MASK != 0 || !self.gc.grey.is_empty() {
            return false;
        }
        self.gc
            .word
            .compare_exchange(
                w,
                (w & !PHASE) | SWEEPING,
                Ordering::SeqCst,
                Ordering::Relaxed,
            )
            .is_ok()
    }
}

/// Ends a cycle that has switched to MARKING, however it ends (step 9 of the module docs):
/// made right after the switch, dropped after the sweep or by an unwinding panic (a `Trace`
/// impl's, which `collect` resumes, or any other).
struct EndCycle<'a, T>(&'a Inner<T>);

impl<T> Drop for EndCycle<'_, T> {
    fn drop(&mut self) {
        let inner = self.0;
        // From now on a shade that counts itself in flight reads IDLE and does nothing.
        inner.set_phase(IDLE);
        // One counted before that may still set a bit and push its key: wait for it, so
        // that no bit is set after we return (the next cycle clears the bits with no shade
        // racing) and no key is queued after the queue is emptied below.
        inner.wait_for_shades();
        // Empty after a finished marking (termination saw it empty and nothing was pushed
        // since); after an abort it may hold shaded keys, which no marker will take now.
        inner.gc.grey.clear();
    }
}

impl<T: Trace + Send + Sync> Inner<T> {
    /// Traces from `stack` and the grey queue until both are empty.
    fn mark_local(&self, stack: &mut Vec<Item>, marker: &mut Marker<'_, T>) -> Result<(), Panic> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut guard = crossbeam_epoch::pin();
            let mut n = 0u32;
            loop {
                while let Some(item) = stack.pop() {
                    marker.scan(item, |child| stack.push(child));
                    n = n.wrapping_add(1);
                    if n.is_multiple_of(1024) {
                        // Let the epoch advance during long marks.
                        guard.repin();
                    }
                }
                marker.flush(|item| stack.push(item));
                if !stack.is_empty() {
                    continue;
                }
                if !self.gc.grey.drain_into(stack) {
                    return;
                }
            }
        }))
    }

    /// Sweeps slot indices `start..end`; returns how many values were swept.
    fn sweep_range(&self, start: u64, end: u64, cycle: u32) -> usize {
        let this = self;
        let guard = crossbeam_epoch::pin();
        let marks = &this.gc.marks;
        let mut batch = IndexBatch::new();
        let mut swept = 0usize;
        let mut i = start;
        while i < end {
            let (c, _) = locate(i as u32);
            let first = chunk_start(c);
            let chunk_end = end.min(first + chunk_len(c) as u64);
            let Some(chunk) = this.dir.chunk(c) else {
                i = chunk_end;
                continue;
            };
            while i < chunk_end {
                // The slots sharing one mark word: bit numbers `i + BASE` up to the next
                // multiple of 64.
                let group_end = chunk_end.min(((i + BASE) | 63) + 1 - BASE);
                let word = marks.word_at(i as u32);
                let lo = (i + BASE) & 63;
                let hi = (group_end - 1 + BASE) & 63;
                let group = (u64::MAX >> (63 - hi)) & (u64::MAX << lo);
                if word & group != group {
                    for j in i..group_end {
                        if word & MarkDir::bit_of(j as u32) != 0 {
                            continue;
                        }
                        let slot = chunk.slot((j - first) as usize);
                        // Acquire: makes the birth cycle stored before the state visible.
                        let state = slot.state.load(Ordering::Acquire);
                        // Relaxed: read after the Acquire above; if the slot changed since, the
                        // CAS below fails.
                        if !slot::is_occupied(state) || slot.next.load(Ordering::Relaxed) == cycle {
                            continue;
                        }
                        // The same unlink as `remove`: of racing removers exactly one wins.
                        if slot
                            .state
                            .compare_exchange(
                                state,
                                slot::removed(state),
                                Ordering::Acquire,
                                Ordering::Relaxed,
                            )
                            .is_ok()
                        {
                            swept += 1;
                            if batch.is_full() {
                                let full = core::mem::replace(&mut batch, IndexBatch::new());
                                this.defer_reclaim(full, &guard);
                            }
                            batch.push(j as u32, slot::removed(state));
                        }
                    }
                }
                i = group_end;
            }
        }
        this.defer_reclaim(batch, &guard);
        this.shared.counters.add_removed_shared(swept as isize);
        swept
    }

    /// One collection (see the module docs).
    fn collect(&self, roots: impl IntoIterator<Item = Key>, opts: CollectOptions) -> CollectStats {
        assert!(
            !crossbeam_epoch::is_pinned(),
            "epoch-arena: collect was called while this thread holds a Guard; the collection \
             waits for a grace period, which that guard would block forever"
        );
        let this = self;
        let mut stats = CollectStats::default();
        // The caller's roots, before anything changes (step 1 of the module docs): their
        // iterator is the caller's code, and a panic in it must not leave a cycle half-way.
        // The `Root` registry is scanned after the switch to MARKING instead (`root.rs`).
        let roots: Vec<Key> = roots.into_iter().collect();
        // Removals waiting in the shared retire stack are handed on (the bound promised by
        // `Arena::remove`).
        this.flush_retired();
        let waited = Instant::now();
        let _lock = this.gc.lock.lock().unwrap_or_else(|p| p.into_inner());

        // Clear: zero the bits. Every earlier cycle, finished or aborted, emptied the grey
        // queue on its way out (`EndCycle`), and no shade pushes outside MARKING.
        let cleared = Instant::now();
        debug_assert!(this.gc.grey.is_empty(), "a grey key outlived its cycle");
        let high_water = this.high_water();
        let chunks = (0..NUM_CHUNKS)
            .find(|&c| chunk_start(c) >= high_water)
            .unwrap_or(NUM_CHUNKS);
        this.gc.marks.clear(chunks);
        stats.clear_time = cleared.elapsed();

        // Birth cycle, MARKING, grace period.
        let cycle = this.gc.cycle.load(Ordering::Relaxed).wrapping_add(1);
        this.gc.cycle.store(cycle, Ordering::SeqCst);
        this.set_phase(MARKING);
        // Every way out of this function from here on, a return or an unwinding panic, goes
        // through `end`'s drop: IDLE, no shade in flight, an empty grey queue (step 9).
        let end = EndCycle(this);
        let grace = Instant::now();
        grace_period();
        stats.wait_time = cleared.duration_since(waited) + grace.elapsed();

        // Mark.
        let marking = Instant::now();
        let threads = if (high_water as usize) < opts.parallel_min_slots {
            1
        } else {
            opts.threads.clamp(1, MAX_THREADS)
        };
        let threads = if cfg!(loom) { 1 } else { threads };
        stats.threads = 1;
        let mut marker = Marker::new(this);
        let mut stack = Vec::new();
        for key in roots.into_iter().chain(this.gc.roots.keys()) {
            stats.roots += 1;
            if let Some(item) = marker.grey(key) {
                stack.push(item);
            }
        }
        let mut result = Ok(());
        if threads > 1 {
            let (marked, ran, r) = this.mark_parallel(threads, core::mem::take(&mut stack));
            marker.marked += marked;
            stats.threads = ran;
            result = r;
        }
        let backoff = Backoff::new();
        while result.is_ok() {
            result = this.mark_local(&mut stack, &mut marker);
            if result.is_ok() && this.try_finish_marking() {
                break;
            }
            backoff.snooze();
        }
        stats.marked = marker.marked;
        if let Err(payload) = result {
            // Abort: nothing is swept. Unwinding drops `end`, which returns to IDLE and waits
            // for in-flight shades (no shade may still be setting bits when the next cycle
            // clears them), and empties the grey queue.
            std::panic::resume_unwind(payload);
        }
        stats.mark_time = marking.elapsed();

        // Sweep.
        let sweeping = Instant::now();
        let high_water = this.high_water();
        stats.swept = if threads > 1 {
            this.sweep_parallel(threads, high_water, cycle)
        } else {
            this.sweep_range(0, high_water, cycle)
        };
        drop(end);
        stats.sweep_time = sweeping.elapsed();
        stats
    }
}

#[cfg(not(loom))]
impl<T: Trace + Send + Sync> Inner<T> {
    /// Marks with up to `threads` markers (the caller is one) sharing work by stealing.
    /// Returns the values traced, the markers that ran, and the first panic, if any.
    ///
    /// A marker thread the system refuses to start (a thread, process or memory limit) is
    /// simply missing; nobody waits for it. Two things make that safe. The roots go into the
    /// caller's own deque, never into one whose thread may not start (only a deque's owner
    /// pushes to it, so a refused marker's deque is empty and no marked value is left
    /// untraced; the others steal the roots from the caller). And a marker is counted in
    /// `active` just before its spawn and uncounted if the spawn fails, while the caller,
    /// counted from the start, is still spawning and holds the roots: so the count cannot
    /// reach 0 before the caller itself goes idle, and reaches 0 once every marker that
    /// runs is idle.
    fn mark_parallel(&self, threads: usize, roots: Vec<Item>) -> (usize, usize, Result<(), Panic>) {
        use crossbeam_deque::{Stealer, Worker};
        use std::sync::atomic::AtomicUsize;

        let workers: Vec<Worker<Item>> = (0..threads).map(|_| Worker::new_lifo()).collect();
        for item in roots {
            workers[0].push(item);
        }
        let stealers: Vec<Stealer<Item>> = workers.iter().map(Worker::stealer).collect();
        // The caller; each marker thread adds itself below.
        let active = AtomicUsize::new(1);
        let abort = std::sync::atomic::AtomicBool::new(false);
        let ctx = Workers {
            stealers: &stealers,
            active: &active,
            abort: &abort,
        };
        let results: Vec<(usize, Result<(), Panic>)> = std::thread::scope(|s| {
            // If the caller unwinds from here, the markers it started must not wait for it
            // forever: the scope joins them before the panic goes on.
            let abort_on_unwind = AbortOnUnwind(&abort);
            let mut workers = workers.into_iter().enumerate();
            let (_, mine) = workers.next().expect("threads >= 1");
            let mut handles = Vec::with_capacity(threads - 1);
            for (me, w) in workers {
                // SeqCst, like every access to `active`.
                active.fetch_add(1, Ordering::SeqCst);
                match spawn(s, move || self.run_worker(me, w, ctx)) {
                    Ok(handle) => handles.push(handle),
                    Err(_) => {
                        // Its (empty) deque was dropped with the closure.
                        active.fetch_sub(1, Ordering::SeqCst);
                        // The next spawn would most likely be refused too.
                        break;
                    }
                }
            }
            let mut results = vec![self.run_worker(0, mine, ctx)];
            results.extend(handles.into_iter().map(|h| match h.join() {
                Ok(r) => r,
                Err(payload) => (0, Err(payload)),
            }));
            core::mem::forget(abort_on_unwind);
            results
        });
        let ran = results.len();
        let marked = results.iter().map(|r| r.0).sum();
        let first_panic = results.into_iter().find_map(|r| r.1.err());
        (marked, ran, first_panic.map_or(Ok(()), Err))
    }

    /// One marker thread: its own deque first, then the grey queue, then the others'.
    /// Returns the values it traced and the panic of a `Trace` impl, if one panicked.
    fn run_worker(
        &self,
        me: usize,
        local: crossbeam_deque::Worker<Item>,
        ctx: Workers<'_>,
    ) -> (usize, Result<(), Panic>) {
        let mut marker = Marker::new(self);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.work(me, &local, ctx, &mut marker)
        }));
        if result.is_err() {
            ctx.abort.store(true, Ordering::Relaxed);
        }
        (marker.marked, result)
    }

    fn work(
        &self,
        me: usize,
        local: &crossbeam_deque::Worker<Item>,
        ctx: Workers<'_>,
        marker: &mut Marker<'_, T>,
    ) {
        let mut guard = crossbeam_epoch::pin();
        let mut n = 0u32;
        loop {
            let item = match local
                .pop()
                .or_else(|| {
                    marker.flush(|c| local.push(c));
                    local.pop()
                })
                .or_else(|| ctx.steal(&self.gc.grey, local, me))
            {
                Some(item) => item,
                None => {
                    // Idle. All markers idle (and so all deques empty: only an active marker
                    // pushes) ends this parallel phase; the caller then drains the grey
                    // queue and attempts termination.
                    ctx.active.fetch_sub(1, Ordering::SeqCst);
                    let backoff = Backoff::new();
                    loop {
                        if ctx.abort.load(Ordering::Relaxed) {
                            return;
                        }
                        if !self.gc.grey.is_empty() || ctx.stealers.iter().any(|s| !s.is_empty()) {
                            ctx.active.fetch_add(1, Ordering::SeqCst);
                            if let Some(item) = ctx.steal(&self.gc.grey, local, me) {
                                break item;
                            }
                            ctx.active.fetch_sub(1, Ordering::SeqCst);
                        } else if ctx.active.load(Ordering::SeqCst) == 0 {
                            return;
                        }
                        backoff.snooze();
                    }
                }
            };
            if ctx.abort.load(Ordering::Relaxed) {
                return;
            }
            marker.scan(item, |child| local.push(child));
            n = n.wrapping_add(1);
            if n.is_multiple_of(1024) {
                guard.repin();
            }
        }
    }

    /// Sweeps `0..high_water` in up to `threads` contiguous parts, the caller taking the
    /// first. A part whose thread the system refuses to start is swept by the caller, and so
    /// is every part after it (the next spawn would most likely be refused too).
    fn sweep_parallel(&self, threads: usize, high_water: u64, cycle: u32) -> usize {
        let this = self;
        let part = high_water.div_ceil(threads as u64).next_multiple_of(64);
        std::thread::scope(|s| {
            let mut handles = Vec::with_capacity(threads - 1);
            // The parts from here on are left to the caller.
            let mut rest = high_water;
            for t in 1..threads as u64 {
                let (start, end) = ((t * part).min(high_water), ((t + 1) * part).min(high_water));
                if start == end {
                    break; // so is every later part
                }
                match spawn(s, move || this.sweep_range(start, end, cycle)) {
                    Ok(handle) => handles.push(handle),
                    Err(_) => {
                        rest = start;
                        break;
                    }
                }
            }
            let mut mine = this.sweep_range(0, part.min(high_water), cycle);
            if rest < high_water {
                mine += this.sweep_range(rest, high_water, cycle);
            }
            mine + handles
                .into_iter()
                .map(|h| h.join().unwrap_or(0))
                .sum::<usize>()
        })
    }
}

/// Starts a collector thread in `s`, or returns the error if the system refuses (a thread,
/// process or memory limit). `std::thread::Scope::spawn` would panic instead.
#[cfg(not(loom))]
fn spawn<'scope, R: Send + 'scope>(
    s: &'scope std::thread::Scope<'scope, '_>,
    f: impl FnOnce() -> R + Send + 'scope,
) -> std::io::Result<std::thread::ScopedJoinHandle<'scope, R>> {
    #[cfg(test)]
    if tests::refuse_spawn() {
        return Err(std::io::ErrorKind::WouldBlock.into());
    }
    std::thread::Builder::new().spawn_scoped(s, f)
}

/// Sets its flag if dropped by an unwinding panic (disarmed with `mem::forget`).
#[cfg(not(loom))]
struct AbortOnUnwind<'a>(&'a std::sync::atomic::AtomicBool);

#[cfg(not(loom))]
impl Drop for AbortOnUnwind<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[cfg(loom)]
impl<T: Trace + Send + Sync> Inner<T> {
    fn mark_parallel(&self, _: usize, _: Vec<Item>) -> (usize, usize, Result<(), Panic>) {
        unreachable!("one marker under loom")
    }
    fn sweep_parallel(&self, _: usize, _: u64, _: u32) -> usize {
        unreachable!("one sweeper under loom")
    }
}

/// What the marker threads share.
#[cfg(not(loom))]
#[derive(Clone, Copy)]
struct Workers<'a> {
    stealers: &'a [crossbeam_deque::Stealer<Item>],
    active: &'a std::sync::atomic::AtomicUsize,
    abort: &'a std::sync::atomic::AtomicBool,
}

#[cfg(not(loom))]
impl Workers<'_> {
    /// A batch from the grey queue or from another marker, into `local`; pops one.
    fn steal(
        &self,
        grey: &GreyQueue,
        local: &crossbeam_deque::Worker<Item>,
        me: usize,
    ) -> Option<Item> {
        use crossbeam_deque::Steal;
        loop {
            let mut retry = false;
            match grey.0.steal_batch_and_pop(local) {
                Steal::Success(item) => return Some(item),
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
            for (other, stealer) in self.stealers.iter().enumerate() {
                if other == me {
                    continue;
                }
                match stealer.steal_batch_and_pop(local) {
                    Steal::Success(item) => return Some(item),
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            if !retry {
                return None;
            }
        }
    }
}

impl<T: Trace + Send + Sync> Arena<T> {
    /// Collects garbage: removes every value not reachable from `roots` (and the live
    /// [`Root`]s) through [`Trace`] edges, with one marker per core. See
    /// [`collect_with`](Arena::collect_with).
    ///
    /// ```
    /// use epoch_arena::{Arena, Key, Trace, Tracer};
    /// use std::sync::Mutex;
    ///
    /// struct Node(Mutex<Vec<Key>>);
    /// impl Trace for Node {
    ///     fn trace(&self, tracer: &mut Tracer<'_>) {
    ///         self.0.trace(tracer);
    ///     }
    /// }
    ///
    /// let arena = Arena::new();
    /// let child = arena.insert(Node(Mutex::new(vec![])));
    /// let root = arena.insert(Node(Mutex::new(vec![child])));
    /// let orphan = arena.insert(Node(Mutex::new(vec![root]))); // points in, but unreachable
    /// let stats = arena.collect([root]);
    /// assert_eq!(stats.swept, 1);
    /// assert!(arena.contains(root) && arena.contains(child) && !arena.contains(orphan));
    /// ```
    pub fn collect(&self, roots: impl IntoIterator<Item = Key>) -> CollectStats {
        self.collect_with(roots, CollectOptions::default())
    }

    /// Collects garbage with the given options.
    ///
    /// Keeps every value reachable from `roots` and the live [`Root`]s, and every value
    /// inserted while the collection runs; removes every other value as
    /// [`remove`](Arena::remove) would (dropped once no guard can see it). Other threads may
    /// read, insert, remove and iterate meanwhile; threads that store keys into values must
    /// follow [`shade`](Arena::shade)'s rule. Stale keys among `roots` or reported by
    /// [`Trace`] are ignored.
    ///
    /// `roots` is consumed (collected into a vector) before the collection starts. A second
    /// `collect` of the same arena waits until the first has finished, then runs its own
    /// cycle. The collection waits for guards pinned when marking starts to be dropped (an
    /// epoch grace period), so a thread holding a guard for a long time delays it.
    ///
    /// # Panics
    ///
    /// * If the calling thread holds a [`Guard`](crate::Guard) (it would wait for itself
    ///   forever).
    /// * If the `roots` iterator panics: the panic passes through before the collection has
    ///   started; nothing was swept.
    /// * If a [`Trace`] impl panics: the panic is resumed here after the cycle is abandoned;
    ///   nothing was swept and the arena is consistent.
    ///
    /// Whatever panics, the collector is left idle, ready for the next collection.
    ///
    /// ```
    /// use epoch_arena::{Arena, CollectOptions, Key};
    ///
    /// let arena: Arena<Option<Key>> = Arena::new();
    /// let mut last = arena.insert(None);
    /// let first = last;
    /// for _ in 0..1000 {
    ///     last = arena.insert(Some(last)); // a list: last -> ... -> first
    /// }
    /// let stats = arena.collect_with([last], CollectOptions::with_threads(2));
    /// assert_eq!((stats.marked, stats.swept), (1001, 0));
    /// assert!(arena.contains(first));
    /// ```
    pub fn collect_with(
        &self,
        roots: impl IntoIterator<Item = Key>,
        opts: CollectOptions,
    ) -> CollectStats {
        self.inner().collect(roots, opts)
    }

    /// A persistent root: `key` (and all it reaches) survives every collection until the
    /// returned [`Root`] is dropped.
    ///
    /// Rooting a key while a collection is marking also shades it, so the running cycle
    /// keeps it too. A collection that has finished marking may still sweep the key if it
    /// was unreachable when marking ended.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let key = arena.insert(42u32);
    /// let root = arena.root(key);
    /// arena.collect([]);
    /// assert!(arena.contains(root.key()));
    /// ```
    pub fn root(&self, key: Key) -> Root<'_, T> {
        Root::new(self, key)
    }

    /// The write barrier: call it with a key *before* storing that key into a value of
    /// this arena, while pinned by the same guard as the store.
    ///
    /// If a collection is marking, the key's value is marked (it and everything it reaches
    /// survive the cycle). Otherwise this is one relaxed load. Stale keys are ignored.
    ///
    /// The full rule: keys stored into values while a collection runs survive it if each
    /// store is preceded by `shade(key)` under one guard. Keys held only in local variables
    /// are not roots: if nothing reachable holds them, a collection may sweep their values
    /// and the keys go stale (`get` returns `None`, never another value). Use
    /// [`root`](Arena::root) to keep such a key. A key fresh from `insert` counts as local
    /// until it is stored, so **insert and link under one guard**: pin, insert, shade, store,
    /// unpin (below). See the [crate docs](crate#garbage-collection).
    ///
    /// ```
    /// use epoch_arena::{pin, Arena, Key, Trace, Tracer};
    /// use std::sync::Mutex;
    ///
    /// struct Node(Mutex<Vec<Key>>);
    /// impl Trace for Node {
    ///     fn trace(&self, tracer: &mut Tracer<'_>) {
    ///         self.0.trace(tracer);
    ///     }
    /// }
    ///
    /// let arena = Arena::new();
    /// let parent = arena.root(arena.insert(Node(Mutex::new(vec![]))));
    /// std::thread::scope(|s| {
    ///     s.spawn(|| arena.collect([])); // may run at any point of what follows
    ///     let guard = pin(); // pinned before the insert ...
    ///     let child = arena.insert(Node(Mutex::new(vec![])));
    ///     arena.shade(child); // ... shade, then store ...
    ///     arena.get(parent.key(), &guard).unwrap().0.lock().unwrap().push(child);
    ///     drop(guard); // ... and only then unpin
    /// });
    /// arena.collect([]);
    /// let guard = pin();
    /// assert_eq!(arena.get(parent.key(), &guard).unwrap().0.lock().unwrap().len(), 1);
    /// ```
    #[inline]
    pub fn shade(&self, key: Key) {
        self.inner().shade(key);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::sync::mpsc;

    std::thread_local! {
        /// How many more collector threads `spawn` may start on this thread; `None`: no limit.
        static SPAWNS_LEFT: Cell<Option<usize>> = const { Cell::new(None) };
    }

    /// For `spawn`: whether to refuse this spawn, as a thread limit would.
    pub(super) fn refuse_spawn() -> bool {
        SPAWNS_LEFT.with(|left| match left.get() {
            None => false,
            Some(0) => true,
            Some(n) => {
                left.set(Some(n - 1));
                false
            }
        })
    }

    /// The collector is idle: the phase is IDLE, no shade is in flight, the grey queue is
    /// empty.
    fn assert_idle<T>(arena: &Arena<T>) {
        let gc = &arena.inner().gc;
        let word = gc.word.load(Ordering::SeqCst);
        assert_eq!(word & PHASE, IDLE, "phase");
        assert_eq!(word & IN_FLIGHT_MASK, 0, "shades in flight");
        assert!(gc.grey.is_empty(), "grey queue");
    }

    /// A rooted binary tree of `n` nodes (node i has children 2i+1 and 2i+2) and `n` garbage
    /// nodes, each pointing into the tree, interleaved in the index range so that every
    /// part of a parallel sweep has garbage. Returns the arena, the tree (root first) and
    /// the garbage.
    fn tree_and_garbage(n: usize) -> (Arena<Vec<Key>>, Vec<Key>, Vec<Key>) {
        let arena = Arena::new();
        let mut tree = vec![None; n];
        let mut garbage = Vec::with_capacity(n);
        for i in (0..n).rev() {
            let children = [2 * i + 1, 2 * i + 2]
                .iter()
                .filter_map(|&c| tree.get(c).copied().flatten())
                .collect();
            let key = arena.insert(children);
            tree[i] = Some(key);
            garbage.push(arena.insert(vec![key]));
        }
        (
            arena,
            tree.into_iter().map(Option::unwrap).collect(),
            garbage,
        )
    }

    /// Runs `body` on a new thread that may start at most `spawns` collector threads, and
    /// fails if it takes more than 120 s (a marker waiting for one that never started
    /// would wait forever).
    fn with_spawn_limit(spawns: Option<usize>, body: impl FnOnce() + Send + 'static) {
        let (done, finished) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            SPAWNS_LEFT.with(|left| left.set(spawns));
            body();
            done.send(()).unwrap();
        });
        match finished.recv_timeout(Duration::from_secs(120)) {
            // Disconnected: `body` panicked; `join` passes the panic on.
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                if let Err(panic) = thread.join() {
                    std::panic::resume_unwind(panic);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("the collection with {spawns:?} thread spawns allowed never finished")
            }
        }
    }

    #[test]
    fn refused_collector_threads_leave_the_work_to_those_that_started() {
        let n = if cfg!(miri) { 100 } else { 5000 };
        // Four threads asked for: three marker spawns, then up to three sweeper spawns,
        // refused from the `spawns`-th on.
        for spawns in [Some(0), Some(1), Some(2), Some(3), Some(4), Some(5), None] {
            with_spawn_limit(spawns, move || {
                let (arena, tree, garbage) = tree_and_garbage(n);
                let opts = CollectOptions {
                    threads: 4,
                    parallel_min_slots: 0,
                };
                let stats = arena.collect_with([tree[0]], opts);
                let markers = 1 + spawns.unwrap_or(3).min(3);
                assert_eq!(stats.threads, markers, "{spawns:?} spawns allowed");
                assert_eq!((stats.marked, stats.swept), (n, n), "{spawns:?}");
                assert!(tree.iter().all(|&k| arena.contains(k)), "{spawns:?}");
                assert!(garbage.iter().all(|&k| !arena.contains(k)), "{spawns:?}");
                assert_idle(&arena);
                let again = arena.collect_with([tree[0]], opts);
                assert_eq!((again.marked, again.swept), (n, 0), "{spawns:?}");
            });
        }
    }

    #[test]
    fn a_panicking_roots_iterator_leaves_the_collector_idle() {
        for threads in [1, 4] {
            let (arena, tree, garbage) = tree_and_garbage(64);
            let opts = CollectOptions {
                threads,
                parallel_min_slots: 0,
            };
            let roots = [tree[0]].into_iter().chain(core::iter::once_with(|| {
                panic!("the roots iterator panics")
            }));
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                arena.collect_with(roots, opts)
            }));
            assert!(result.is_err());
            assert_idle(&arena);
            assert_eq!(arena.len(), 128, "nothing swept");
            // A shade now is a no-op: it neither marks nor queues.
            arena.shade(garbage[0]);
            assert_idle(&arena);
            let stats = arena.collect_with([tree[0]], opts);
            assert_eq!((stats.marked, stats.swept), (64, 64));
            assert_idle(&arena);
        }
    }

    #[test]
    fn a_panicking_trace_leaves_the_collector_idle() {
        struct Bomb(bool, Vec<Key>);
        impl Trace for Bomb {
            fn trace(&self, tracer: &mut Tracer<'_>) {
                assert!(!self.0, "boom");
                self.1.trace(tracer);
            }
        }
        for threads in [1, 4] {
            let arena = Arena::new();
            let bomb = arena.insert(Bomb(true, vec![]));
            let leaves: Vec<Key> = (0..100)
                .map(|_| arena.insert(Bomb(false, vec![])))
                .collect();
            let root = arena.insert(Bomb(false, [&leaves[..], &[bomb]].concat()));
            let opts = CollectOptions {
                threads,
                parallel_min_slots: 0,
            };
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                arena.collect_with([root], opts)
            }));
            assert!(result.is_err());
            assert_idle(&arena);
            assert_eq!(arena.len(), 102, "nothing swept");
            let stats = arena.collect_with(leaves.iter().copied(), opts);
            assert_eq!((stats.marked, stats.swept), (100, 2));
            assert_idle(&arena);
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "64 collector threads are too slow under miri")]
    fn an_absurd_thread_count_is_clamped() {
        let (arena, tree, garbage) = tree_and_garbage(5000);
        let opts = CollectOptions {
            threads: usize::MAX,
            parallel_min_slots: 0,
        };
        let stats = arena.collect_with([tree[0]], opts);
        assert!(stats.threads <= MAX_THREADS);
        assert_eq!((stats.marked, stats.swept), (5000, 5000));
        assert!(garbage.iter().all(|&k| !arena.contains(k)));
        assert_idle(&arena);
    }
}
