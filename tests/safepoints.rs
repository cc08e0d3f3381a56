//! `Mutator` and `safepoint`: a mutator's fresh keys survive every collection until its next
//! safepoint, with no guard held, and what they hold survives with them; after the
//! safepoint, only what is reachable does. Single-threaded cases pin down each rule; the
//! concurrent one builds a tree the way a parser does (create, hold, link later, safepoint
//! between chunks) while another thread collects.

use epoch_arena::{pin, Arena, Key, Trace, Tracer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use testkit::{reclaim_until, DropLog, Tracked};

struct Node {
    edges: Mutex<Vec<Key>>,
    _log: Option<Tracked>,
}

impl Trace for Node {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        self.edges.trace(tracer);
    }
}

fn node() -> Node {
    Node {
        edges: Mutex::new(Vec::new()),
        _log: None,
    }
}

fn tracked(id: u64, log: &Arc<DropLog>) -> Node {
    Node {
        edges: Mutex::new(Vec::new()),
        _log: Some(Tracked::new(id, log)),
    }
}

/// Shade, then store `to` into `from`, under one guard.
fn link(arena: &Arena<Node>, from: Key, to: Key) {
    let guard = pin();
    arena.shade(to);
    arena
        .get(from, &guard)
        .expect("from is live")
        .edges
        .lock()
        .unwrap()
        .push(to);
}

/// Tells the collector loop to stop when dropped (also by an unwinding panic).
struct Finished<'a>(&'a AtomicBool);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

fn unlink_all(arena: &Arena<Node>, from: Key) {
    let guard = pin();
    arena
        .get(from, &guard)
        .unwrap()
        .edges
        .lock()
        .unwrap()
        .clear();
}

#[test]
fn fresh_values_survive_until_the_next_safepoint() {
    let arena = Arena::new();
    let mut m = arena.mutator();
    let a = m.insert(node());
    let b = m.insert(node());
    for _ in 0..3 {
        let stats = arena.collect([]);
        assert_eq!((stats.swept, stats.mutators), (0, 1), "{stats:?}");
        assert!(arena.contains(a) && arena.contains(b));
    }
    m.safepoint();
    let stats = arena.collect([]);
    assert_eq!(stats.swept, 2, "{stats:?}");
    assert!(!arena.contains(a) && !arena.contains(b));
}

#[test]
fn values_inserted_after_a_safepoint_are_fresh_and_those_before_are_not() {
    let arena = Arena::new();
    let mut m = arena.mutator();
    let before = m.insert(node());
    m.safepoint();
    let after = m.insert(node());
    let stats = arena.collect([]);
    assert_eq!(stats.swept, 1);
    assert!(!arena.contains(before) && arena.contains(after));
    // Still fresh: no safepoint since.
    arena.collect([]);
    assert!(arena.contains(after));
}

/// A parser moves an old node into a new element before linking the element (html5ever's
/// adoption agency): the old node is reachable only through the fresh one while a
/// collection runs, and must survive with it.
#[test]
fn a_fresh_value_keeps_what_it_holds() {
    let arena = Arena::new();
    let doc = arena.insert(node());
    let old = arena.insert(node());
    link(&arena, doc, old);
    let grandchild = arena.insert(node());
    link(&arena, old, grandchild);
    arena.collect([doc]);

    let mut m = arena.mutator();
    let fresh = m.insert(node());
    link(&arena, fresh, old); // into the new element ...
    unlink_all(&arena, doc); // ... and out of its old parent
    let stats = arena.collect([doc]);
    assert_eq!(stats.swept, 0, "{stats:?}");
    assert!(
        arena.contains(old),
        "a node held only by a fresh one was swept"
    );
    assert!(arena.contains(grandchild));

    link(&arena, doc, fresh);
    m.safepoint();
    let stats = arena.collect([doc]);
    assert_eq!((stats.marked, stats.swept), (4, 0), "{stats:?}");
}

#[test]
fn dropping_a_mutator_is_a_last_safepoint() {
    let arena = Arena::new();
    let m = arena.mutator();
    let stray = { m }.insert(node());
    let stats = arena.collect([]);
    assert_eq!((stats.swept, stats.mutators), (1, 0), "{stats:?}");
    assert!(!arena.contains(stray));
}

/// The sweep spares everything born since the oldest mutator's last safepoint, whoever
/// inserted it; so a mutator that never reaches a safepoint holds back the collection of
/// younger garbage until it is dropped.
#[test]
fn the_oldest_mutator_decides_what_is_spared() {
    let arena = Arena::new();
    let idle = arena.mutator();
    let mut busy = arena.mutator();
    let by_arena = arena.insert(node());
    let by_busy = busy.insert(node());
    busy.safepoint();
    let stats = arena.collect([]);
    assert_eq!((stats.swept, stats.mutators), (0, 2), "{stats:?}");
    assert!(arena.contains(by_arena) && arena.contains(by_busy));
    drop(idle);
    let stats = arena.collect([]);
    assert_eq!((stats.swept, stats.mutators), (2, 1), "{stats:?}");
}

/// `mem::forget` keeps the registration (as a forgotten `Root` keeps its value): nothing
/// born after it is collected, and nothing breaks.
#[test]
fn a_forgotten_mutator_keeps_sparing() {
    let arena = Arena::new();
    let before = arena.insert(node());
    std::mem::forget(arena.mutator());
    let after = arena.insert(node());
    let stats = arena.collect([]);
    assert_eq!((stats.swept, stats.mutators), (1, 1), "{stats:?}");
    assert!(!arena.contains(before) && arena.contains(after));
}

/// Registry cells are reused: many mutators made and dropped leave one cell.
#[test]
fn mutators_come_and_go() {
    let arena = Arena::new();
    for _ in 0..100 {
        let mut m = arena.mutator();
        m.insert(node());
        m.safepoint();
    }
    let stats = arena.collect([]);
    assert_eq!((stats.swept, stats.mutators), (100, 0), "{stats:?}");
}

/// A parse on one thread, collections on another. The builder creates nodes through a
/// mutator, holds each unlinked across several steps with no guard, links them under the
/// tree (pinned only for the link), moves some old nodes into fresh ones before linking
/// those, and passes a safepoint after each chunk. Nothing linked may ever go missing;
/// every node is dropped exactly once in the end.
#[test]
fn a_parse_with_safepoints_beside_collections() {
    let (chunks, per_chunk) = if cfg!(miri) { (6, 8) } else { (200, 64) };
    let log = Arc::new(DropLog::default());
    let arena = Arena::new();
    let doc = arena.insert(tracked(0, &log));
    let root = arena.root(doc);
    let done = AtomicBool::new(false);
    let mut made = 1u64;
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut cycles = 0;
            while !done.load(Ordering::Acquire) || cycles < 2 {
                arena.collect([]);
                cycles += 1;
            }
        });
        // Ends the collector's loop even if this thread panics.
        let _finished = Finished(&done);
        let mut m = arena.mutator();
        // Nodes in the tree (reachable from `doc`), in the order they were linked.
        let mut tree = vec![doc];
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng as usize
        };
        for _ in 0..chunks {
            // Created, not linked yet: each with the parent it must go under, if it
            // adopted that parent's children.
            let mut pending: Vec<(Key, Option<Key>)> = Vec::new();
            for _ in 0..per_chunk {
                let fresh = m.insert(tracked(made, &log));
                made += 1;
                pending.push((fresh, None));
                // Now and then a pending node adopts an old node's children and will be
                // linked under it later (html5ever's adoption agency): shade and store the
                // children into it, then unlink them from the old node (a move keeps the
                // keys reachable throughout, here only through the fresh node).
                let p = next() % pending.len();
                if next() % 8 == 0 && tree.len() > 1 && pending[p].1.is_none() {
                    let from = tree[1 + next() % (tree.len() - 1)];
                    let guard = pin();
                    let old = &arena.get(from, &guard).unwrap().edges;
                    let kids = old.lock().unwrap().clone();
                    for &k in &kids {
                        arena.shade(k);
                    }
                    let to = arena.get(pending[p].0, &guard).unwrap();
                    to.edges.lock().unwrap().extend(&kids);
                    old.lock().unwrap().retain(|k| !kids.contains(k));
                    pending[p].1 = Some(from);
                }
                // Link some pending nodes, in a random order, a few steps after their birth.
                while pending.len() > 4 || (!pending.is_empty() && next() % 3 == 0) {
                    let (k, parent) = pending.swap_remove(next() % pending.len());
                    let parent = parent.unwrap_or_else(|| tree[next() % tree.len()]);
                    link(&arena, parent, k);
                    tree.push(k);
                }
                // The guard-free stretch: other threads' epochs advance meanwhile.
                std::thread::yield_now();
            }
            for (k, parent) in pending {
                link(&arena, parent.unwrap_or(doc), k);
                tree.push(k);
            }
            m.safepoint();
        }
    });
    // Everything linked is reachable: the tree from `doc` holds every node made.
    let stats = arena.collect([]);
    assert_eq!(stats.swept, 0, "{stats:?}");
    assert_eq!(stats.marked as u64, made, "{stats:?}");
    assert_eq!(arena.len() as u64, made);
    drop(root);
    let stats = arena.collect([]);
    assert_eq!(stats.swept as u64, made);
    assert!(
        reclaim_until(&arena, || log.count() as u64 == made),
        "{} of {made} dropped",
        log.count()
    );
    drop(arena);
    assert_eq!(
        log.count() as u64,
        made,
        "a node dropped twice, or not at all"
    );
}
