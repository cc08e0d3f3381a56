//! Memory after `Drop for Arena`, measured with a counting global allocator.
//!
//! * A dropped arena's memory must not wait for a reclamation closure parked in an idle
//!   thread's epoch bag (defect 4).
//! * The thread-local insert cache behind `Arena::insert` must not keep anything of a
//!   dropped arena (defect 5).
//! * Building, collecting, draining and dropping an arena of a `Trace` type returns every
//!   byte (a leak test that does not rely on Miri's leak checker).
//!
//! # How memory is measured
//!
//! The allocator counts live bytes (allocations minus deallocations) made by *measured*
//! threads only: each test runs its scenario on a thread it spawns, enrols, and joins, and
//! enrols any helper thread it starts. So libtest's own allocations on its threads (starting
//! the next test, capturing output) do not count. The tests take a lock, so only one
//! measures at a time, and before taking a baseline they let crossbeam-epoch finish what
//! earlier tests left in its queue.
//!
//! On Linux, chunks of 4 MiB and more are mapped directly, not allocated, so the counts see
//! the allocator-backed part of an arena (its smaller chunks and every other structure).

use epoch_arena::{pin, Arena, CollectOptions, Key, Root, Trace, Tracer};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use testkit::{reclaim_until, DropLog, Tracked};

/// Counts the live bytes allocated by measured threads.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    /// Whether this thread's allocations are counted. `const`, without a destructor: the
    /// allocator may read it at any time, even during thread teardown.
    static MEASURED: Cell<bool> = const { Cell::new(false) };
}

fn counted() -> bool {
    MEASURED.try_with(Cell::get).unwrap_or(false)
}

fn count(bytes: isize) {
    if counted() {
        LIVE.fetch_add(bytes, Ordering::SeqCst);
    }
}

// SAFETY: every call is forwarded to `System` with the caller's arguments; the counting
// beside it does not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded (see the impl).
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded (see the impl).
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded (see the impl).
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded (see the impl).
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Live bytes allocated by measured threads.
fn live() -> isize {
    LIVE.load(Ordering::SeqCst)
}

/// Counts this thread's allocations while it lives.
struct Enrolled;

impl Enrolled {
    fn new() -> Self {
        MEASURED.with(|m| m.set(true));
        Enrolled
    }
}

impl Drop for Enrolled {
    fn drop(&mut self) {
        MEASURED.with(|m| m.set(false));
    }
}

static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `scenario` on a measured thread, one test at a time. The thread is joined, so its
/// thread-locals are gone before the next test measures.
fn measured<R: Send>(scenario: impl FnOnce() -> R + Send) -> R {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    thread::scope(|s| {
        let worker = s.spawn(|| {
            let _enrolled = Enrolled::new();
            scenario()
        });
        match worker.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Rounds of `pin().flush()` a settle may take: enough for crossbeam-epoch to run
/// everything queued (each round advances the epoch at most once and runs up to 8 bags).
const SETTLE_ROUNDS: usize = if cfg!(miri) { 256 } else { 1000 };

/// Runs deferred work until `done()`, for at most [`SETTLE_ROUNDS`]; returns `done()`.
fn settle_until(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..SETTLE_ROUNDS {
        if done() {
            return true;
        }
        pin().flush();
    }
    done()
}

/// Lets crossbeam-epoch finish what earlier tests queued, before taking a baseline.
fn quiesce() {
    for _ in 0..128 {
        pin().flush();
    }
}

const KIB: isize = 1024;

#[test]
fn dropped_arena_frees_its_memory_while_its_reclamation_waits_in_an_idle_threads_bag() {
    // 1M 32-byte values (fewer under Miri; still far more than the bound).
    const VALUES: usize = if cfg!(miri) { 1 << 12 } else { 1 << 20 };
    const REMOVED: usize = 64;
    /// Reclamation closures pending when the arena drops: the worker's one batch of 64.
    const PENDING: isize = 1;
    let outliving = measured(|| {
        type Value = [u64; 4];
        let (arena_tx, arena_rx) = mpsc::sync_channel::<(Arc<Arena<Value>>, Vec<Key>)>(1);
        let (ready_tx, ready_rx) = mpsc::sync_channel::<()>(1);
        let (release_tx, release_rx) = mpsc::sync_channel::<()>(1);
        thread::scope(|s| {
            let worker = s.spawn(move || {
                let _enrolled = Enrolled::new();
                // Register with crossbeam-epoch before the baseline.
                pin().flush();
                ready_tx.send(()).unwrap();
                let (arena, keys) = arena_rx.recv().unwrap();
                let mut handle = arena.handle();
                for key in keys {
                    assert!(handle.remove(key));
                }
                drop(handle);
                drop(arena);
                ready_tx.send(()).unwrap();
                // Idle, without unpinning-flushing: the reclamation of the 64 removed values
                // stays in this thread's epoch bag.
                release_rx.recv().unwrap();
            });
            ready_rx.recv().unwrap();
            quiesce();
            let base = live();
            let arena = Arc::new(Arena::new());
            let mut keys = Vec::with_capacity(REMOVED);
            {
                let mut handle = arena.handle();
                for i in 0..VALUES {
                    let key = handle.insert([i as u64; 4]);
                    if i % (VALUES / REMOVED) == 0 {
                        keys.push(key);
                    }
                }
            }
            assert_eq!(keys.len(), REMOVED);
            arena_tx.send((Arc::clone(&arena), keys)).unwrap();
            ready_rx.recv().unwrap();
            // The last `Arc`: `Drop for Arena` runs here.
            drop(arena);
            let outliving = live() - base;
            release_tx.send(()).unwrap();
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
            // Let the worker's bag (pushed when it exited) run, for the tests after this.
            quiesce();
            outliving
        })
    });
    let bound = 16 * KIB + PENDING * KIB;
    assert!(
        outliving < bound,
        "{outliving} bytes of a dropped arena stay allocated after `Drop for Arena` \
         returned, while one of its reclamation closures waits in an idle thread's epoch \
         bag (bound: {bound} bytes)"
    );
}

#[test]
fn thread_local_insert_cache_keeps_nothing_of_a_dropped_arena() {
    const VALUES: usize = if cfg!(miri) { 1 << 10 } else { 1 << 20 };
    const SLACK: isize = 4 * KIB;
    let kept = measured(|| {
        pin().flush();
        quiesce();
        let base = live();
        {
            let arena = Arena::new();
            let keys: Vec<Key> = (0..VALUES).map(|i| arena.insert([i as u64; 4])).collect();
            for &key in &keys {
                assert!(arena.remove(key));
            }
            drop(keys);
            // Every removed slot is reclaimed and back in the arena's free-batch stack.
            assert!(reclaim_until(&arena, || arena.stats().pending_reclamation == 0));
            assert!(arena.is_empty());
        }
        settle_until(|| live() - base <= SLACK);
        live() - base
    });
    assert!(
        kept <= SLACK,
        "{kept} bytes of an arena dropped after {VALUES} `Arena::insert`s and \
         `Arena::remove`s stay allocated (reachable from this thread's insert cache?); \
         allowed: {SLACK}"
    );
}

/// A value for the collector: edges, and heap memory of its own.
struct GcNode {
    children: Mutex<Vec<Key>>,
    _payload: Vec<u8>,
    _tracked: Tracked,
}

impl Trace for GcNode {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        self.children.trace(tracer);
    }
}

fn gc_node(i: usize, log: &Arc<DropLog>) -> GcNode {
    GcNode {
        children: Mutex::new(Vec::new()),
        _payload: vec![i as u8; 24],
        _tracked: Tracked::new(i as u64, log),
    }
}

/// Fills an arena of `n` values (a binary tree), removes some, roots some, collects,
/// drains it and drops it. Half the values are inserted with `Arena::insert` (the others
/// through a `Handle`), unless `arena_insert` is false.
fn gc_scenario(n: usize, log: &Arc<DropLog>, arena_insert: bool) {
    let mut arena = Arena::new();
    {
        let mut handle = arena.handle();
        let keys: Vec<Key> = (0..n)
            .map(|i| {
                if arena_insert && i % 2 == 0 {
                    arena.insert(gc_node(i, log))
                } else {
                    handle.insert(gc_node(i, log))
                }
            })
            .collect();
        {
            let guard = pin();
            for i in 1..n {
                arena.shade(keys[i]);
                let parent = arena.get(keys[(i - 1) / 2], &guard).unwrap();
                parent.children.lock().unwrap().push(keys[i]);
            }
        }
        for i in (3..n).step_by(7) {
            if i % 2 == 0 {
                assert!(arena.remove(keys[i]));
            } else {
                assert!(handle.remove(keys[i]));
            }
        }
        let roots: Vec<Root<'_, GcNode>> = keys
            .iter()
            .skip(1)
            .step_by(5)
            .filter(|&&k| arena.contains(k))
            .map(|&k| arena.root(k))
            .collect();
        // Everything reachable from the root, except below removed values.
        arena.collect([keys[0]]);
        drop(roots);
        // Only the subtree of `keys[1]` survives.
        arena.collect_with([keys[1]], CollectOptions::with_threads(1));
        drop(handle);
    }
    arena.flush();
    let drained = arena.drain().count();
    assert!(drained > 0);
    drop(arena);
}

#[test]
fn gc_arena_returns_every_byte_after_drop() {
    const VALUES: usize = if cfg!(miri) { 150 } else { 1000 };
    const THROWAWAY: usize = 8;
    let (base, after, drops) = measured(|| {
        let log = Arc::new(DropLog::default());
        pin().flush();
        // A throwaway arena through the same paths, so lazily initialised statics exist
        // before the baseline. It inserts through a `Handle` only: an insert cache that
        // kept a dropped arena would otherwise keep the throwaway in the baseline and
        // swap it for the measured arena, and the difference could hide the leak.
        gc_scenario(THROWAWAY, &log, false);
        quiesce();
        let base = live();
        gc_scenario(VALUES, &log, true);
        settle_until(|| live() == base);
        let after = live();
        (base, after, log.count())
    });
    assert_eq!(
        drops,
        THROWAWAY + VALUES,
        "every value was dropped by the time the arena was"
    );
    assert_eq!(
        after - base,
        0,
        "bytes still allocated after creating, filling, collecting, draining and dropping an \
         arena (and settling reclamation): {} (baseline {base}, after {after})",
        after - base
    );
}
