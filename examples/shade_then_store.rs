//! Building a tree from several threads while the collector runs: the "shade, then store"
//! rule that keeps every linked node alive.
//!
//! Run it: `cargo run --release --example shade_then_store`
//!
//! Each builder thread grows its own subtree under one rooted parent. For every new node
//! it pins, inserts, `shade`s the new key, stores it into the parent's child list, and only
//! then unpins. Meanwhile another thread collects back to back. At the end, every node that
//! was linked is still there, and the unlinked ones (every tenth node is inserted but never
//! linked: garbage from the start) are gone. The full HTML DOM built on the same rule is the
//! `epoch-arena-dom` crate (`dom/` in the repository).

use epoch_arena::{pin, Arena, Key, Trace, Tracer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// A tree node: a label and the keys of its children.
struct Node {
    label: u64,
    children: Mutex<Vec<Key>>,
}

impl Node {
    fn new(label: u64) -> Node {
        Node {
            label,
            children: Mutex::new(Vec::new()),
        }
    }
}

/// The collector follows the child keys; a node's children live as long as it does.
impl Trace for Node {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        self.children.lock().unwrap().trace(tracer);
    }
}

const BUILDERS: u64 = 2;
const NODES_PER_BUILDER: u64 = 20_000;

fn main() {
    let arena: Arena<Node> = Arena::new();
    // The root of the tree is held by a `Root`: the collector starts marking from it.
    let root = arena.root(arena.insert(Node::new(0)));
    let building = AtomicBool::new(true);

    let collections = std::thread::scope(|s| {
        let collector = s.spawn(|| {
            let mut n = 0;
            while building.load(Ordering::Relaxed) {
                arena.collect([]);
                n += 1;
            }
            n
        });
        let builders: Vec<_> = (0..BUILDERS)
            .map(|b| {
                let (arena, root) = (&arena, root.key());
                s.spawn(move || {
                    let mut parent = root;
                    for i in 1..=NODES_PER_BUILDER {
                        let label = b * NODES_PER_BUILDER + i;
                        // 1. Pin first: a key fresh from `insert` is held only by this
                        //    local variable, and the guard keeps a collection that is
                        //    marking right now from sweeping it before it is linked.
                        let guard = pin();
                        let child = arena.insert(Node::new(label));
                        if i.is_multiple_of(10) {
                            continue; // never linked: garbage, collectable once unpinned
                        }
                        // 2. Shade the key, then 3. store it where the collector can see it.
                        arena.shade(child);
                        let parent_node = arena.get(parent, &guard).expect("linked nodes live");
                        parent_node.children.lock().unwrap().push(child);
                        // 4. Unpin only after the store (the guard drops here).
                        if i.is_multiple_of(100) {
                            parent = child; // grow deeper now and then
                        }
                    }
                })
            })
            .collect();
        for b in builders {
            b.join().unwrap();
        }
        building.store(false, Ordering::Relaxed);
        collector.join().unwrap()
    });

    // One more collection with no builder running sweeps every unlinked node.
    arena.collect([]);
    let guard = pin();
    let mut reachable = 0;
    let mut stack = vec![root.key()];
    while let Some(key) = stack.pop() {
        let node = arena.get(key, &guard).expect("a linked node was collected");
        reachable += 1;
        assert!(
            node.label == 0 || !node.label.is_multiple_of(10),
            "an unlinked node is reachable"
        );
        stack.extend(node.children.lock().unwrap().iter().copied());
    }
    let linked = BUILDERS * (NODES_PER_BUILDER - NODES_PER_BUILDER / 10);
    assert_eq!(reachable as u64, 1 + linked, "every linked node survived");
    assert_eq!(arena.len(), reachable, "only the linked nodes are left");
    println!(
        "{BUILDERS} builders linked {linked} nodes while {collections} collections ran; \
         all {reachable} reachable nodes survived, \
         the {} unlinked ones were collected",
        BUILDERS * NODES_PER_BUILDER / 10
    );
}
