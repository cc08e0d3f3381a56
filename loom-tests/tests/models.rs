//! loom models of epoch-arena's protocols, run against the real code.
//!
//! Run with `RUSTFLAGS="--cfg loom --cfg crossbeam_loom" cargo test -p loom-tests --release`
//! (see `.ci/run`; `LOOM_MAX_PREEMPTIONS` bounds the search). Under `cfg(loom)` the arena
//! uses loom's atomics, cells, `Arc` and thread-locals, crossbeam-epoch uses loom too, chunk 0
//! has 2 slots and batches hold 2 indices, so a handful of operations crosses every
//! boundary.
#![cfg(loom)]

use epoch_arena::{pin, Arena, InsertError, Key, SharedSecondaryMap, Trace, Tracer};
use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;

/// A value that records its drop, and checks it is intact (not torn, not dropped twice).
#[derive(Debug)]
struct Probe {
    id: u64,
    check: u64,
    dropped: Arc<AtomicBool>,
    drops: Arc<AtomicUsize>,
}

impl Probe {
    fn new(id: u64, drops: &Arc<AtomicUsize>) -> (Self, Arc<AtomicBool>) {
        let dropped = Arc::new(AtomicBool::new(false));
        let p = Probe {
            id,
            check: !id,
            dropped: dropped.clone(),
            drops: drops.clone(),
        };
        (p, dropped)
    }
    fn intact(&self) -> bool {
        self.check == !self.id && !self.dropped.load(SeqCst)
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        assert!(self.intact(), "dropped twice or torn");
        self.dropped.store(true, SeqCst);
        self.drops.fetch_add(1, SeqCst);
    }
}

/// Runs a model, then lets the epoch collector run everything still deferred.
///
/// All arenas use crossbeam-epoch's default collector, which under loom is a `lazy_static`
/// torn down after the execution ends. Garbage still queued then would be destroyed outside
/// the model (loom reports that as non-determinism), so each execution ends with the
/// spawned threads joined and enough flushes on the main thread, the only one left, to
/// advance the epoch past every bag.
fn model(f: impl Fn() + Sync + Send + 'static) {
    run_model(None, f)
}

/// [`model`] with at most `cap` forced context switches, whatever `LOOM_MAX_PREEMPTIONS`
/// says: for a model whose every thread runs a whole collection, the search with the
/// default bound takes far longer than CI can give it.
fn model_bounded(cap: usize, f: impl Fn() + Sync + Send + 'static) {
    run_model(Some(cap), f)
}

fn run_model(cap: Option<usize>, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    // A collection waits for an epoch grace period, which takes a few rounds of pinning and
    // flushing: more branches per execution than loom's default of 1,000.
    b.max_branches = 100_000;
    // `LOOM_MAX_PREEMPTIONS` (read by `Builder::new`), else 2; at most `cap`.
    let bound = b.preemption_bound.unwrap_or(2);
    b.preemption_bound = Some(cap.map_or(bound, |cap| bound.min(cap)));
    b.check(move || {
        f();
        for _ in 0..8 {
            pin().flush();
        }
    });
}

/// insert vs get: a reader that finds the key sees the whole value (the state store is
/// Release, the reader's load Acquire; loom checks the value cell for races).
#[test]
fn insert_vs_get() {
    model(|| {
        let arena = Arc::new(Arena::new());
        let published = Arc::new(AtomicU64::new(0));
        let t = {
            let (arena, published) = (arena.clone(), published.clone());
            thread::spawn(move || {
                let k = arena.insert([7u64, 7]);
                published.store(k.to_bits(), SeqCst);
            })
        };
        if let Some(k) = Key::from_bits(published.load(SeqCst)) {
            let guard = pin();
            assert_eq!(arena.get(k, &guard), Some(&[7, 7]));
        }
        t.join().unwrap();
    });
}

/// Two removers of one key: exactly one wins, and the key is dead for both afterwards.
#[test]
fn two_removers() {
    model(|| {
        let arena = Arc::new(Arena::new());
        let k = arena.insert(1u32);
        let t = {
            let arena = arena.clone();
            thread::spawn(move || {
                let won = arena.remove(k);
                assert!(!arena.contains(k));
                won
            })
        };
        let mine = arena.handle().remove(k);
        assert!(!arena.contains(k));
        let theirs = t.join().unwrap();
        assert!(mine ^ theirs, "exactly one remover wins");
        assert_eq!(arena.len(), 0);
    });
}

/// remove vs get: a value a guarded reader saw is not dropped while that guard lives,
/// however far the remover pushes reclamation.
#[test]
fn remove_vs_guarded_get() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let arena = Arc::new(Arena::new());
        let (p, dropped) = Probe::new(1, &drops);
        let k = arena.insert(p);
        let t = {
            let arena = arena.clone();
            thread::spawn(move || {
                assert!(arena.remove(k));
                arena.flush();
                pin().flush();
            })
        };
        {
            let guard = pin();
            if let Some(v) = arena.get(k, &guard) {
                pin().flush(); // try to advance the epoch ourselves too
                assert!(v.intact(), "value dropped under a live guard");
                assert!(!dropped.load(SeqCst));
            }
        }
        t.join().unwrap();
        drop(arena);
        assert_eq!(drops.load(SeqCst), 1, "dropped exactly once");
    });
}

/// Concurrent chunk allocation: two inserters race to allocate the same chunk; one CAS
/// wins, the loser frees its copy, both values land in the winner's chunk.
#[test]
fn concurrent_chunk_allocation() {
    model(|| {
        let arena = Arc::new(Arena::new());
        // Chunk 0 (indices 0..2) is taken by this first batch; the threads' fresh batches
        // (2..4 and 4..6) both fall in chunk 1, which nobody has allocated yet.
        let first = arena.handle().insert(0u32);
        let t = {
            let arena = arena.clone();
            thread::spawn(move || arena.handle().insert(1u32))
        };
        let mine = arena.handle().insert(2u32);
        let theirs = t.join().unwrap();
        assert_ne!(mine.index(), theirs.index());
        let guard = pin();
        assert_eq!(arena.get(first, &guard), Some(&0));
        assert_eq!(arena.get(theirs, &guard), Some(&1));
        assert_eq!(arena.get(mine, &guard), Some(&2));
        assert_eq!(arena.stats().chunks, 2);
    });
}

/// Free-list pop vs pop (ABA): two threads pop from a stack of two batches at once. A
/// popper that read a stale top must fail its CAS; no batch may go to both, and neither
/// thread may fall back to fresh indices while a batch is left.
#[test]
fn free_list_two_poppers() {
    model(|| {
        let arena: Arc<Arena<u32>> = Arc::new(Arena::builder().max_slots(4).build());
        // Each handle reserves a fresh batch of 2, uses one slot and returns the other on
        // drop: the stack ends up holding [1] and [3].
        {
            let mut a = arena.handle();
            let mut b = arena.handle();
            a.insert(0);
            b.insert(0);
        }
        let t = {
            let arena = arena.clone();
            thread::spawn(move || arena.handle().try_insert(1).ok())
        };
        let mine = arena.handle().try_insert(2).ok();
        let theirs = t.join().unwrap();
        let (mine, theirs) = (
            mine.expect("a batch was left"),
            theirs.expect("a batch was left"),
        );
        assert_ne!(
            mine.index(),
            theirs.index(),
            "one batch handed to two owners"
        );
        assert!(
            mine.index() % 2 == 1 && theirs.index() % 2 == 1,
            "both came from the stack"
        );
        assert_eq!(arena.len(), 4);
        assert_eq!(
            arena.stats().high_water,
            4,
            "no fresh reservation while batches were left"
        );
    });
}

/// Batch hand-off: removals through a Handle are deferred as one batch, reclaimed after the
/// grace period, pushed to the free list and reused by another thread's insertions. A reused
/// slot's old value was dropped first, and a guarded reader of the old value is protected.
#[test]
fn batch_handoff_and_reuse() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let arena: Arc<Arena<Probe>> = Arc::new(Arena::builder().max_slots(2).build());
        let (p0, d0) = Probe::new(0, &drops);
        let (p1, d1) = Probe::new(1, &drops);
        let k0 = arena.insert(p0);
        let k1 = arena.insert(p1);
        let t = {
            let arena = arena.clone();
            thread::spawn(move || {
                let mut h = arena.handle();
                assert!(h.remove(k0));
                assert!(h.remove(k1)); // batch of 2 is full: handed to the collector here
                drop(h);
                pin().flush();
            })
        };
        let reader = {
            let guard = pin();
            arena.get(k0, &guard).map(|v| {
                assert!(v.intact());
                v.id
            })
        };
        t.join().unwrap();
        assert!(reader.is_none() || reader == Some(0));
        // Drive reclamation; then the two slots must be reusable, their old values dropped.
        let (p2, _) = Probe::new(2, &drops);
        let mut p2 = Some(p2);
        for _ in 0..3 {
            pin().flush();
            match arena
                .try_insert(p2.take().unwrap())
                .map_err(InsertError::into_inner)
            {
                Ok(k) => {
                    assert!(k.index() <= 1);
                    // Whichever slot was reused, its old value was dropped before.
                    let old = if k.index() == k0.index() { &d0 } else { &d1 };
                    assert!(old.load(SeqCst));
                    break;
                }
                Err(back) => p2 = Some(back),
            }
        }
        drop(arena);
        let expected = if p2.is_some() { 2 } else { 3 };
        drop(p2);
        assert_eq!(drops.load(SeqCst), 3.max(expected));
    });
}

/// Arena::remove from two threads fills the shared retire stack (batch of 2) concurrently;
/// whoever completes the batch hands it off; every value is dropped exactly once.
#[test]
fn shared_retire_stack() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let arena = Arc::new(Arena::new());
        let k0 = arena.insert(Probe::new(0, &drops).0);
        let k1 = arena.insert(Probe::new(1, &drops).0);
        let t = {
            let arena = arena.clone();
            thread::spawn(move || assert!(arena.remove(k0)))
        };
        assert!(arena.remove(k1));
        t.join().unwrap();
        assert_eq!(arena.stats().pending_reclamation, 2);
        drop(arena);
        assert_eq!(drops.load(SeqCst), 2);
    });
}

/// An owner's retire ring (a `Handle`'s, as the thread cache behind `Arena::remove` uses
/// the same ring, which is off under loom) against a `flush` on another thread taking it:
/// the owner fills the ring of 2 and hands it on, a third removal waits in it, and the flush
/// may take either batch at any point, racing with the owner's own take and with its next
/// push overwriting a taken entry.
///
/// Checked: the `flush` after the join leaves no entry in the ring; no value is dropped
/// twice or torn (`Probe`); once a witness removed after the join is reclaimed, every
/// removal is (so no ring entry was lost); the arena's drop drops the rest, each value once.
///
/// Reclamation before the arena's drop is not asserted outright: under loom 0.7, `join`
/// returns before the joined thread's thread-locals are destroyed, so crossbeam-epoch's
/// `Local::finalize` of the flushing thread (which pins it) runs concurrently with the
/// main thread's flushes, and a preemption there, or a stale read of that pin, keeps the
/// epoch from advancing for the rest of the execution. (With `std`, `join` waits for
/// thread-local destructors.) The witness tells the executions where it did advance. The
/// owner is the main thread, so the flushing thread's deferrals reach the global queue
/// (its flush pushes its bag) before the join, ahead of the witness.
///
/// One preemption (20 s): a `take` that skips an entry fails it at once. A `take` that
/// claims up to a head read after its copy (losing a push that lands between) is not
/// caught at this bound: the race spends the preemption, and the witness's reclamation
/// then needs the epoch to advance as well. Two preemptions took more than 18 minutes.
#[test]
fn retire_ring_owner_vs_flush() {
    model_bounded(1, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let arena: Arc<Arena<Probe>> = Arc::new(Arena::new());
        let keys: Vec<Key> = (0..3)
            .map(|i| arena.insert(Probe::new(i, &drops).0))
            .collect();
        let (witness, witness_dropped) = Probe::new(3, &drops);
        let witness = arena.insert(witness);
        let mut h = arena.handle();
        let t = {
            let arena = arena.clone();
            thread::spawn(move || arena.flush())
        };
        for &k in &keys {
            assert!(h.remove(k));
        }
        t.join().unwrap();
        // The witness goes onto the shared retire stack, and this flush defers it in the
        // same epoch bag as whatever the ring still holds.
        assert!(arena.remove(witness));
        arena.flush();
        let pending = format!("{h:?}");
        assert!(pending.contains("pending_removals: 0"), "{pending}");
        pin().flush();
        if witness_dropped.load(SeqCst) {
            // Its bag ran, and every earlier one: every removal was deferred before it or
            // in its bag.
            assert_eq!(drops.load(SeqCst), 4, "a removal was never handed on");
            assert_eq!(arena.stats().pending_reclamation, 0);
        }
        assert_eq!(arena.len(), 0);
        drop(h);
        drop(arena);
        assert_eq!(
            drops.load(SeqCst),
            4,
            "each removed value dropped exactly once"
        );
    });
}

/// Dropping the arena while another thread's reclamation may be running: the gate makes
/// one of them drop each pending value, never both, and the arena's drop drops the rest.
#[test]
fn drop_vs_reclaim() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let arena = Arc::new(Arena::new());
        let k0 = arena.insert(Probe::new(0, &drops).0);
        let _k1 = arena.insert(Probe::new(1, &drops).0);
        let k2 = arena.insert(Probe::new(2, &drops).0);
        let t = {
            let arena = arena.clone();
            thread::spawn(move || {
                let mut h = arena.handle();
                h.remove(k0);
                h.remove(k2); // full batch: deferred
                drop(h);
                drop(arena);
                pin().flush(); // may run the deferred reclamation
            })
        };
        pin().flush();
        drop(arena);
        t.join().unwrap();
        assert_eq!(drops.load(SeqCst), 3, "every value dropped exactly once");
    });
}

/// Clear vs reclamation: a batch of removals is waiting in the epoch collector when the
/// owner clears the arena, while another thread may run that batch's closure at any point.
/// `clear` pauses the gate (waiting for a closure already inside), drops the removed values
/// itself, and a closure that comes later skips the slots: every value is dropped exactly
/// once, and every slot is usable again.
#[test]
fn clear_vs_reclaim() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let mut arena = Arena::builder().max_slots(3).build();
        let k0 = arena.insert(Probe::new(0, &drops).0);
        let _k1 = arena.insert(Probe::new(1, &drops).0);
        let k2 = arena.insert(Probe::new(2, &drops).0);
        let mut h = arena.handle();
        h.remove(k0);
        h.remove(k2); // full batch: deferred
        drop(h);
        pin().flush(); // the batch goes to the global queue
        let t = thread::spawn(|| {
            pin().flush(); // may run the deferred reclamation
            pin().flush();
        });
        arena.clear();
        assert_eq!(
            drops.load(SeqCst),
            3,
            "every value dropped exactly once by now"
        );
        assert_eq!(arena.len(), 0);
        t.join().unwrap();
        for i in 3..6 {
            assert!(
                arena.try_insert(Probe::new(i, &drops).0).is_ok(),
                "slot lost"
            );
        }
        drop(arena);
        assert_eq!(drops.load(SeqCst), 6);
    });
}

/// A value that owns its arena (a graph node holding an `Arc` of it). Its drop, run by a
/// reclamation closure on either thread, releases the last `Arc` and so drops the arena
/// inside that closure: the drop must not wait for itself, must drop the other value once,
/// and the closure must free the memory when it leaves (loom checks the accesses).
#[test]
fn value_owns_its_arena() {
    #[allow(dead_code)] // the fields are only held, for their drops
    struct Owner(Option<std::sync::Arc<Arena<Owner>>>, Probe);
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let arena = std::sync::Arc::new(Arena::new());
        let k = arena.insert(Owner(Some(arena.clone()), Probe::new(0, &drops).0));
        arena.insert(Owner(None, Probe::new(1, &drops).0));
        arena.remove(k);
        arena.flush();
        // The value holds the last reference now. Either thread may run the reclamation
        // (and so the arena's drop).
        drop(arena);
        let t = thread::spawn(|| pin().flush());
        pin().flush();
        t.join().unwrap();
        for _ in 0..4 {
            pin().flush();
        }
        assert_eq!(drops.load(SeqCst), 2, "both values dropped exactly once");
    });
}

/// A graph node for the collector models: two edge fields in loom atomics (so loom sees
/// every access; a std `Mutex` would hide them), and a drop probe.
#[derive(Debug)]
struct GcNode {
    edges: [AtomicU64; 2],
    probe: Probe,
}

impl GcNode {
    fn new(id: u64, drops: &Arc<AtomicUsize>, edges: [Option<Key>; 2]) -> Self {
        GcNode {
            edges: edges.map(|e| AtomicU64::new(e.map_or(0, Key::to_bits))),
            probe: Probe::new(id, drops).0,
        }
    }

    /// Shade, then store `to` into edge `i` (the caller is pinned, see `Arena::shade`).
    fn link(&self, arena: &Arena<GcNode>, i: usize, to: Key) {
        arena.shade(to);
        self.edges[i].store(to.to_bits(), SeqCst);
    }
}

impl Trace for GcNode {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        for e in &self.edges {
            if let Some(k) = Key::from_bits(e.load(SeqCst)) {
                tracer.edge(k);
            }
        }
    }
}

/// Marker vs inserter: a thread inserts a node and links it under the root (pinned across
/// both, the documented way) while a collection runs. Whatever the interleaving, the new
/// node survives: either the collection's grace period waits for the inserter's guard and
/// then traces the link, or the insert reads the new cycle number (allocated black).
#[test]
fn gc_marker_vs_inserter() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let arena = Arc::new(Arena::new());
        let root = arena.insert(GcNode::new(0, &drops, [None, None]));
        let t = {
            let (arena, drops) = (arena.clone(), drops.clone());
            thread::spawn(move || {
                let guard = pin();
                let new = arena.insert(GcNode::new(1, &drops, [None, None]));
                arena.get(root, &guard).unwrap().link(&arena, 0, new);
                new
            })
        };
        let stats = arena.collect([root]);
        let new = t.join().unwrap();
        assert_eq!(stats.swept, 0);
        assert!(
            arena.contains(new),
            "a node inserted and linked during a cycle was swept"
        );
        drop(arena);
        assert_eq!(drops.load(SeqCst), 2);
    });
}

/// try_root vs a collection: a thread upgrades the weak key of an unrooted node while a
/// collection runs (it may start before the upgrade, mark without it, and sweep during it).
/// Whatever the interleaving: an upgrade that succeeds keeps the node alive past the cycle,
/// and one that fails found it gone.
#[test]
fn gc_try_root_vs_collect() {
    model_bounded(1, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let arena = Arc::new(Arena::new());
        let weak = arena.insert(GcNode::new(0, &drops, [None, None]));
        let t = {
            let arena = arena.clone();
            thread::spawn(move || {
                arena.collect([]);
            })
        };
        let root = arena.try_root(weak);
        if root.is_some() {
            assert!(arena.contains(weak), "rooted, yet gone");
        } else {
            assert!(!arena.contains(weak), "refused, yet live");
        }
        t.join().unwrap();
        if root.is_some() {
            assert!(
                arena.contains(weak),
                "the cycle swept a value rooted during it"
            );
        }
        drop(root);
        drop(arena);
        assert_eq!(drops.load(SeqCst), 1);
    });
}

/// A fresh key held across a whole cycle: a `Mutator` is registered while a collection
/// starts, inserts a node and holds its key with no guard until the collection has ended
/// (it waits for it), and only then links it (shade, then store, pinned for the link), with
/// no safepoint. The old rule (insert and link under one guard) is broken on purpose. The
/// node must survive: spared and traced as fresh for the mutator, or born in the cycle if
/// the registration came after the cycle read the registry. (With the mutators ignored by
/// the collection, this model fails.)
#[test]
fn gc_mutator_fresh_key_across_cycle_start() {
    model_bounded(1, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let arena = Arc::new(Arena::new());
        let root = arena.insert(GcNode::new(0, &drops, [None, None]));
        let done = Arc::new(AtomicBool::new(false));
        let t = {
            let (arena, done) = (arena.clone(), done.clone());
            thread::spawn(move || {
                let stats = arena.collect([root]);
                done.store(true, SeqCst);
                stats
            })
        };
        let mut m = arena.mutator();
        let fresh = m.insert(GcNode::new(1, &drops, [None, None]));
        while !done.load(SeqCst) {
            thread::yield_now();
        }
        assert!(arena.contains(fresh), "a fresh key of a mutator was swept");
        {
            let guard = pin();
            arena.get(root, &guard).unwrap().link(&arena, 0, fresh);
        }
        let stats = t.join().unwrap();
        assert_eq!(stats.swept, 0, "{stats:?}");
        drop(m);
        drop(arena);
        assert_eq!(drops.load(SeqCst), 2);
    });
}

/// A move into a value born in the cycle: a mutator (registered on the other thread)
/// inserts `to`, then, under one guard, shades `kid`, stores it into `to` and unlinks it
/// from the root, as html5ever's adoption agency does before it links `to`; all while a
/// collection starts. `to` is fresh (no safepoint), so `kid` survives through it. The hard
/// interleaving: the insertion reads the cycle's new stamp (`to` is born in the cycle) and
/// the shade still reads IDLE, so only tracing `to` finds `kid`. (With the values born in
/// the cycle left untraced, as "black", this model fails.)
#[test]
fn gc_mutator_moves_into_a_value_born_in_the_cycle() {
    model_bounded(1, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let arena = Arc::new(Arena::new());
        let kid = arena.insert(GcNode::new(1, &drops, [None, None]));
        let root = arena.insert(GcNode::new(0, &drops, [Some(kid), None]));
        let done = Arc::new(AtomicBool::new(false));
        let t = {
            let (arena, drops, done) = (arena.clone(), drops.clone(), done.clone());
            thread::spawn(move || {
                let mut m = arena.mutator();
                let to = m.insert(GcNode::new(2, &drops, [None, None]));
                {
                    let guard = pin();
                    arena.get(to, &guard).unwrap().link(&arena, 0, kid);
                    arena.get(root, &guard).unwrap().edges[0].store(0, SeqCst);
                }
                // No safepoint, and the mutator stays registered until the cycle is over.
                while !done.load(SeqCst) {
                    thread::yield_now();
                }
                drop(m);
                to
            })
        };
        let stats = arena.collect([root]);
        done.store(true, SeqCst);
        let to = t.join().unwrap();
        assert_eq!(stats.swept, 0, "{stats:?}");
        assert!(
            arena.contains(to) && arena.contains(kid),
            "a key moved into a fresh value was swept"
        );
        drop(arena);
        assert_eq!(drops.load(SeqCst), 3);
    });
}

/// A safepoint racing a cycle start: the mutator links `x` (pinned only for the link) and
/// passes a safepoint while a collection starts. Whichever `since` the collection reads, `x`
/// survives: marked through the root (the link happened before the safepoint the
/// collection saw), or spared and traced as fresh (it did not see the safepoint). (What a
/// mutator inserts after a safepoint is fresh like any insertion before the first one, the
/// case of `gc_mutator_fresh_key_across_cycle_start`.)
#[test]
fn gc_safepoint_vs_cycle_start() {
    model_bounded(1, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let arena = Arc::new(Arena::new());
        let root = arena.insert(GcNode::new(0, &drops, [None, None]));
        let mut m = arena.mutator();
        let x = m.insert(GcNode::new(1, &drops, [None, None]));
        let t = {
            let arena = arena.clone();
            thread::spawn(move || arena.collect([root]))
        };
        {
            let guard = pin();
            arena.get(root, &guard).unwrap().link(&arena, 0, x);
        }
        m.safepoint();
        let stats = t.join().unwrap();
        assert_eq!(stats.swept, 0);
        assert!(
            arena.contains(x),
            "a key linked before a safepoint was swept"
        );
        drop(m);
        drop(arena);
        assert_eq!(drops.load(SeqCst), 2);
    });
}

/// A mutator dropped mid-cycle: on another thread, a mutator links `x`, inserts `y` without
/// linking it and is dropped (a last safepoint), while a collection runs. `x` survives;
/// `y` may survive that cycle but not the next one, which starts after the drop; each node
/// is dropped exactly once, by the sweep's reclamation or the arena's drop.
#[test]
fn gc_mutator_dropped_mid_cycle() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let arena = Arc::new(Arena::new());
        let root = arena.insert(GcNode::new(0, &drops, [None, None]));
        let t = {
            let (arena, drops) = (arena.clone(), drops.clone());
            thread::spawn(move || {
                let mut m = arena.mutator();
                let x = m.insert(GcNode::new(1, &drops, [None, None]));
                {
                    let guard = pin();
                    arena.get(root, &guard).unwrap().link(&arena, 0, x);
                }
                let y = m.insert(GcNode::new(2, &drops, [None, None]));
                drop(m);
                (x, y)
            })
        };
        arena.collect([root]);
        let (x, y) = t.join().unwrap();
        assert!(arena.contains(x), "a linked key was swept");
        let stats = arena.collect([root]);
        assert_eq!(stats.mutators, 0, "the dropped mutator is still registered");
        assert!(arena.contains(x));
        assert!(
            !arena.contains(y),
            "a dropped mutator's stray key outlived a cycle"
        );
        drop(arena);
        assert_eq!(drops.load(SeqCst), 3);
    });
}

/// Marker vs shade: a thread moves an old node `x` from parent `p` to parent `q` (shade and
/// link into `q`, then unlink from `p`) while a collection traces. The collector may trace
/// `q` before the link and `p` after the unlink; the barrier must keep `x` anyway.
#[test]
fn gc_marker_vs_shade() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let arena = Arc::new(Arena::new());
        let x = arena.insert(GcNode::new(3, &drops, [None, None]));
        let p = arena.insert(GcNode::new(1, &drops, [Some(x), None]));
        let q = arena.insert(GcNode::new(2, &drops, [None, None]));
        // The marker pops edges last-first: `q` is traced before `p`.
        let root = arena.insert(GcNode::new(0, &drops, [Some(p), Some(q)]));
        let t = {
            let arena = arena.clone();
            thread::spawn(move || {
                let guard = pin();
                arena.get(q, &guard).unwrap().link(&arena, 0, x);
                arena.get(p, &guard).unwrap().edges[0].store(0, SeqCst);
            })
        };
        let stats = arena.collect([root]);
        t.join().unwrap();
        assert_eq!(stats.swept, 0);
        assert!(
            arena.contains(x),
            "a node moved under the barrier was swept"
        );
        drop(arena);
        assert_eq!(drops.load(SeqCst), 4);
    });
}

/// Sweeper vs reader: a reader holding a guard can keep using an unreachable value the
/// collection sweeps; it is dropped only after the guard is gone, exactly once.
#[test]
fn gc_sweeper_vs_reader() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let arena = Arc::new(Arena::new());
        let root = arena.insert(GcNode::new(0, &drops, [None, None]));
        let garbage = arena.insert(GcNode::new(1, &drops, [None, None]));
        let t = {
            let arena = arena.clone();
            thread::spawn(move || {
                let guard = pin();
                if let Some(v) = arena.get(garbage, &guard) {
                    pin().flush(); // try to advance the epoch ourselves too
                    assert!(
                        v.probe.intact(),
                        "a swept value was dropped under a live guard"
                    );
                }
            })
        };
        let stats = arena.collect([root]);
        assert_eq!(stats.swept, 1);
        assert!(!arena.contains(garbage));
        t.join().unwrap();
        drop(arena);
        assert_eq!(drops.load(SeqCst), 2, "each value dropped exactly once");
    });
}

/// Two collectors: the second waits for the first; between them they sweep the garbage
/// exactly once and keep everything reachable.
///
/// One preemption: the collectors exclude each other with a lock, and a thread that blocks
/// on it switches for free, so one forced switch already puts the second collector's
/// arrival at every step of the first one's cycle.
#[test]
fn gc_two_collectors() {
    model_bounded(1, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let arena = Arc::new(Arena::new());
        let leaf = arena.insert(GcNode::new(1, &drops, [None, None]));
        let root = arena.insert(GcNode::new(0, &drops, [Some(leaf), None]));
        let garbage = arena.insert(GcNode::new(2, &drops, [Some(root), None]));
        let t = {
            let arena = arena.clone();
            thread::spawn(move || arena.collect([root]).swept)
        };
        let mine = arena.collect([root]).swept;
        let theirs = t.join().unwrap();
        assert_eq!(mine + theirs, 1, "the garbage is swept exactly once");
        assert!(arena.contains(root) && arena.contains(leaf) && !arena.contains(garbage));
        drop(arena);
        assert_eq!(drops.load(SeqCst), 3);
    });
}

/// Hands every pending removal to reclamation and drives the epoch until none is left.
/// Only before the model spawns its threads: once a spawned thread has pinned and
/// finished, the main thread's flushes no longer advance loom's epoch (so the models below
/// count what is still pending after their threads, rather than wait for it).
fn drain<T: Send + Sync>(arena: &Arena<T>) {
    arena.flush();
    for _ in 0..4 {
        if arena.stats().pending_reclamation == 0 {
            return;
        }
        pin().flush();
    }
    panic!("reclamation did not finish");
}

/// Trim vs insert and get. Trim takes every batch off the pool, raises the generation floor
/// and (under loom, in place of giving pages back) zeroes the state and link words of the
/// FREE slots it holds, while the main thread inserts through a handle (a batch from the
/// pool, or a fresh one while trim holds the pool's), reads its value back, and reads a
/// stale key of a trimmed slot and a live key. Trim may touch only the slots it owns: every
/// live key keeps its value and every stale key stays dead; afterwards, with a live key
/// removed too, the key space fills up with every slot handed out exactly once (none lost,
/// none twice).
///
/// The removal comes after the trim: during it, it would only lengthen the search (trim
/// never touches a REMOVED slot).
#[test]
fn trim_vs_insert_and_get() {
    model(|| {
        let arena: Arc<Arena<u64>> = Arc::new(Arena::builder().max_slots(5).build());
        // Slots 0..4 (one fresh slot each: no thread cache under loom); 0 and 1 then go back
        // to the pool as one batch of FREE slots. Slot 4 stays fresh for an insert that
        // finds the pool empty while trim holds the batch.
        let k: Vec<Key> = (0..4).map(|i| arena.insert(i)).collect();
        assert!(arena.remove(k[0]));
        assert!(arena.remove(k[1])); // completes a batch of 2: deferred
        drain(&arena);
        let trimmer = {
            let arena = arena.clone();
            thread::spawn(move || arena.trim())
        };
        let mut handle = arena.handle();
        let new = handle
            .try_insert(10)
            .expect("a free or fresh slot was left");
        {
            let guard = pin();
            assert_eq!(
                arena.get(new, &guard),
                Some(&10),
                "an insert lost its value"
            );
            assert_eq!(arena.get(k[0], &guard), None, "a stale key found a value");
            assert_eq!(arena.get(k[3], &guard), Some(&3), "a live value was lost");
        }
        trimmer.join().unwrap();
        drop(handle); // gives back the rest of its batch
        assert!(arena.remove(k[2]), "a live key was dead");
        let guard = pin();
        assert_eq!(arena.get(new, &guard), Some(&10));
        assert_eq!(arena.get(k[3], &guard), Some(&3));
        for stale in &k[..3] {
            assert_eq!(arena.get(*stale, &guard), None, "a stale key found a value");
        }
        drop(guard);
        assert_eq!(arena.len(), 2);
        // Fill the key space. The removal of k[2] may stay pending (see `drain`); every
        // other slot comes back, each exactly once: 5 = live (old and filled) + pending.
        let mut live = vec![(k[3], 3), (new, 10)];
        let mut value = 100;
        while let Ok(key) = arena.try_insert(value) {
            live.push((key, value));
            value += 1;
            assert!(live.len() <= 5, "more values than slots");
        }
        let pending = arena.stats().pending_reclamation;
        assert!(pending <= 1);
        assert_eq!(live.len() + pending, 5, "a slot was lost");
        assert_eq!(arena.len(), live.len());
        let mut indices: Vec<u32> = live.iter().map(|(key, _)| key.index()).collect();
        if pending == 1 {
            indices.push(k[2].index()); // still REMOVED: nobody may have it
        }
        indices.sort_unstable();
        indices.dedup();
        assert_eq!(indices.len(), 5, "a slot was handed out twice");
        let guard = pin();
        for (key, value) in &live {
            assert_eq!(arena.get(*key, &guard), Some(value));
        }
        for stale in &k[..3] {
            assert_eq!(arena.get(*stale, &guard), None, "a stale key found a value");
        }
    });
}

/// Trim vs a sweeping collection, then a rebuild. Trim zeroes the FREE slots it holds while
/// the collector marks from the root and sweeps the garbage (reading every slot's state, the
/// zeroed ones too). Then `clear` rebuilds the free list from the slots' memory, where a
/// trimmed slot reads 0: only the generation floor trim raised keeps the old keys of those
/// slots from matching the values inserted next. Every value is dropped exactly once.
///
/// One preemption, as for the other models whose thread runs a whole collection: with two
/// the search takes minutes (about 200 s), and one forced switch already runs the whole
/// trim at every step of the cycle (or the rest of the cycle at every step of the trim).
#[test]
fn trim_vs_collect_then_clear() {
    model_bounded(1, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let mut arena: Arc<Arena<GcNode>> = Arc::new(Arena::builder().max_slots(4).build());
        let node = |id| GcNode::new(id, &drops, [None, None]);
        let old0 = arena.insert(node(0));
        let old1 = arena.insert(node(1));
        let root = arena.insert(node(2));
        let garbage = arena.insert(node(3));
        assert!(arena.remove(old0));
        assert!(arena.remove(old1)); // a full batch: slots 0 and 1 reach the pool
        drain(&arena);
        let trimmer = {
            let arena = arena.clone();
            thread::spawn(move || arena.trim())
        };
        let stats = arena.collect([root]);
        trimmer.join().unwrap();
        assert_eq!(stats.swept, 1);
        assert!(arena.contains(root), "the root was swept");
        assert!(!arena.contains(garbage) && !arena.contains(old0) && !arena.contains(old1));
        let arena = Arc::get_mut(&mut arena).expect("the trimmer's Arc is gone");
        arena.clear();
        let new: Vec<Key> = (4..8).map(|id| arena.insert(node(id))).collect();
        let guard = pin();
        for old in [old0, old1, root, garbage] {
            assert!(
                arena.get(old, &guard).is_none(),
                "an old key matched a new value"
            );
        }
        for (id, key) in (4..).zip(&new) {
            assert_eq!(arena.get(*key, &guard).map(|n| n.probe.id), Some(id));
        }
        drop(guard);
        let mut indices: Vec<u32> = new.iter().map(|key| key.index()).collect();
        indices.sort_unstable();
        indices.dedup();
        assert_eq!(indices.len(), 4, "a slot was handed out twice");
        arena.clear();
        assert_eq!(drops.load(SeqCst), 8, "every value dropped exactly once");
    });
}

/// Trim vs an insertion into a full-looking arena. Every slot is live or FREE in the
/// pool's one batch, and no fresh slot is left, so while trim holds that batch the
/// insertion finds nothing. It registers as waiting: a trim that sees it backs off, and it
/// waits for a trim that already holds the batch to give it back. Either way the insertion
/// must succeed (it failed before the handshake), and nothing may be handed out twice.
#[test]
fn trim_vs_insert_into_a_full_arena() {
    model(|| {
        let arena: Arc<Arena<u64>> = Arc::new(Arena::builder().max_slots(4).build());
        let k: Vec<Key> = (0..4).map(|i| arena.insert(i)).collect();
        assert!(arena.remove(k[0]));
        assert!(arena.remove(k[1])); // a full batch: slots 0 and 1 reach the pool
        drain(&arena);
        let trimmer = {
            let arena = arena.clone();
            thread::spawn(move || arena.trim())
        };
        let new = arena
            .try_insert(10)
            .expect("a free slot exists: a trim must not make the arena look full");
        trimmer.join().unwrap();
        let other = arena.try_insert(11).expect("the second free slot");
        assert_ne!(new.index(), other.index(), "a slot was handed out twice");
        assert!(arena.try_insert(12).is_err(), "the cap is the cap");
        let guard = pin();
        assert_eq!(arena.get(new, &guard), Some(&10));
        assert_eq!(arena.get(other, &guard), Some(&11));
        assert_eq!(arena.get(k[0], &guard), None);
        assert_eq!(arena.get(k[2], &guard), Some(&2));
    });
}

/// A snapshot written while another thread removes, trims and inserts. The writer reads
/// each slot once: the loaded arena must hold a value only under the key that named it, keep
/// the untouched live value, keep the key that was dead before the write dead (also after
/// the loaded arena reuses every slot), and hand out no slot twice. The trim raises the
/// generation floor and zeroes the freed slots while the writer reads the floor, finds the
/// end of the image and reads the states.
#[test]
fn snapshot_vs_remove_trim_insert() {
    model(|| {
        let arena: Arc<Arena<u64>> = Arc::new(Arena::builder().max_slots(4).build());
        let k: Vec<Key> = (0..3).map(|i| arena.insert(i)).collect();
        assert!(arena.remove(k[0]));
        drain(&arena);
        let published = Arc::new(AtomicU64::new(0));
        let churner = {
            let (arena, published, k1) = (arena.clone(), published.clone(), k[1]);
            thread::spawn(move || {
                assert!(arena.remove(k1));
                arena.trim();
                let new = arena.try_insert(10).expect("a free slot");
                published.store(new.to_bits(), SeqCst);
            })
        };
        let mut bytes = Vec::new();
        let info = arena.write_snapshot(&mut bytes).expect("write");
        churner.join().unwrap();
        let new = Key::from_bits(published.load(SeqCst)).expect("published");

        let loaded: Arena<u64> = Arena::read_snapshot(&bytes[..]).expect("read");
        assert_eq!(loaded.max_slots(), 4);
        let guard = pin();
        assert_eq!(
            loaded.get(k[0], &guard),
            None,
            "a key dead before the write lives"
        );
        assert_eq!(
            loaded.get(k[2], &guard),
            Some(&2),
            "an untouched value was lost"
        );
        let mut indices = vec![k[2].index()];
        if let Some(v) = loaded.get(k[1], &guard) {
            assert_eq!(*v, 1, "k1 names another value");
            indices.push(k[1].index());
        }
        if let Some(v) = loaded.get(new, &guard) {
            assert_eq!(*v, 10, "the new key names another value");
            indices.push(new.index());
        }
        drop(guard);
        assert_eq!(loaded.len(), indices.len());
        assert_eq!(info.live as usize, indices.len());
        // Reuse every slot: no key dead before the write comes back, no slot twice.
        let mut value = 100;
        while let Ok(key) = loaded.try_insert(value) {
            assert_ne!(key, k[0], "a key dead before the write was issued again");
            indices.push(key.index());
            value += 1;
        }
        let mut sorted = indices.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), indices.len(), "a slot was handed out twice");
    });
}

/// SharedSecondaryMap: a writer replaces an entry with a newer generation of its index and
/// removes it again, while a reader holds the older entry under a guard and then tries to
/// insert for the older key. The reader only ever sees a value of the exact key it asked for,
/// intact for its guard's life (the replaced entry's drop is deferred past the guard); its
/// late insertion is refused exactly while the newer generation is present; and every value
/// is dropped exactly once: by reclamation, by refusal, or by the map's drop.
#[test]
fn shared_secondary_insert_remove_get() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        // Two generations of index 0 (made-up keys: no arena needed, and none in the model).
        let old = Key::from_bits(1).unwrap();
        let new = Key::from_bits(5).unwrap();
        let map = Arc::new(SharedSecondaryMap::<Key, (Key, Probe)>::new());
        let mut created = 2;
        assert!(matches!(
            map.insert(old, (old, Probe::new(1, &drops).0)),
            Ok(false)
        ));
        let t = {
            let (map, drops) = (map.clone(), drops.clone());
            thread::spawn(move || {
                assert!(matches!(
                    map.insert(new, (new, Probe::new(2, &drops).0)),
                    Ok(false)
                ));
                assert!(map.remove(new), "only this thread removes the newer key");
                // Loom keeps this thread's epoch bag until the execution ends: hand it to
                // the global queue now, so the main thread can reclaim it.
                pin().flush();
            })
        };
        {
            let guard = pin();
            if let Some((k, v)) = map.get(old, &guard) {
                assert_eq!(*k, old, "a value of another key");
                assert!(v.intact());
                // The writer may replace it now: it must stay intact for our guard.
                created += 1;
                let late = map.insert(old, (old, Probe::new(3, &drops).0));
                assert!(v.intact(), "freed under a guard");
                match late {
                    // Replaced our own entry, or the index was empty (writer done).
                    Ok(_) => {}
                    // Refused: a newer generation was present.
                    Err((k, _)) => assert_eq!(k, old),
                }
            }
            if let Some((k, v)) = map.get(new, &guard) {
                assert_eq!(*k, new, "a value of another key");
                assert!(v.intact());
            }
        }
        t.join().unwrap();
        drop(map);
        // Drive the epoch past every retired entry (the writer flushed its bag to the
        // global queue), then count. Loom may serve the collector's relaxed epoch loads stale
        // values for a while, so this takes a varying number of rounds.
        for _ in 0..64 {
            if drops.load(SeqCst) == created {
                break;
            }
            pin().flush();
            thread::yield_now();
        }
        assert_eq!(
            drops.load(SeqCst),
            created,
            "every value dropped exactly once"
        );
    });
}

/// Helper threads (`gc/helpers.rs`): a job handed to a parked helper, twice, then the
/// collector dropped. Whatever the interleaving, `run` returns only after every part that
/// started has finished (the job's borrowed state is never touched afterwards), a part runs
/// at most once per helper, the same thread serves the second job, and the drop stops and
/// joins it (loom fails a model whose threads are left blocked).
#[test]
fn gc_helpers_park_and_wake() {
    model(|| {
        let helpers = epoch_arena::__loom::Helpers::new();
        for _ in 0..2 {
            let started = AtomicUsize::new(0);
            let finished = AtomicUsize::new(0);
            let parts = helpers.run(1, &|part| {
                assert!(part <= 1, "part {part} of a job for one helper");
                started.fetch_add(1, SeqCst);
                finished.fetch_add(1, SeqCst);
            });
            assert!((1..=2).contains(&parts));
            assert_eq!(started.load(SeqCst), parts);
            assert_eq!(
                finished.load(SeqCst),
                parts,
                "run returned while a helper was inside the job"
            );
        }
        drop(helpers);
    });
}
