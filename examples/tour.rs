//! A tour of epoch-arena: threads build linked lists in one shared arena while readers walk
//! them, then half of every list is removed and reclaimed.
//!
//! Run it: `cargo run --release --example tour`

use epoch_arena::{pin, Arena, Key};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// A list node: a payload and the key of the next node.
struct Node {
    value: u64,
    next: Option<Key>,
}

const WRITERS: u64 = 4;
const NODES_PER_WRITER: u64 = 250_000;

fn main() {
    let arena: Arena<Node> = Arena::new();
    // Each writer publishes the head of its list here as it grows.
    let heads: Vec<AtomicU64> = (0..WRITERS).map(|_| AtomicU64::new(0)).collect();

    let started = Instant::now();
    let walked = std::thread::scope(|s| {
        for (w, head) in heads.iter().enumerate() {
            let arena = &arena;
            s.spawn(move || {
                let mut handle = arena.handle();
                let mut next = None;
                for i in 0..NODES_PER_WRITER {
                    let key = handle.insert(Node {
                        value: w as u64 * NODES_PER_WRITER + i,
                        next,
                    });
                    head.store(key.to_bits(), Ordering::Release);
                    next = Some(key);
                }
            });
        }
        // A reader walks whatever lists exist while the writers grow them.
        let reader = s.spawn(|| {
            let mut walked = 0u64;
            for _ in 0..20 {
                let guard = pin();
                for head in &heads {
                    let mut cursor = Key::from_bits(head.load(Ordering::Acquire));
                    while let Some(node) = cursor.and_then(|k| arena.get(k, &guard)) {
                        walked += 1;
                        cursor = node.next;
                    }
                }
            }
            walked
        });
        reader.join().unwrap()
    });
    let built = started.elapsed();
    let total = WRITERS * NODES_PER_WRITER;
    println!(
        "built {total} nodes on {WRITERS} threads in {built:.2?} ({:.1} Mnodes/s); a reader walked {walked} nodes meanwhile",
        total as f64 / built.as_secs_f64() / 1e6
    );
    println!("after building:  {:?}", arena.stats());

    // Remove every node with an odd value, from two threads at once.
    let started = Instant::now();
    std::thread::scope(|s| {
        for part in 0..2u64 {
            let arena = &arena;
            s.spawn(move || {
                let mut handle = arena.handle();
                let guard = pin();
                let odd: Vec<Key> = arena
                    .iter(&guard)
                    .filter(|(k, n)| n.value % 2 == 1 && u64::from(k.index()) % 2 == part)
                    .map(|(k, _)| k)
                    .collect();
                drop(guard);
                for key in odd {
                    assert!(handle.remove(key));
                }
            });
        }
    });
    println!(
        "removed {} nodes in {:.2?}",
        total - arena.len() as u64,
        started.elapsed()
    );
    println!("before reclaim:  {:?}", arena.stats());
    arena.flush();
    while arena.stats().pending_reclamation > 0 {
        pin().flush();
    }
    println!("after reclaim:   {:?}", arena.stats());

    // Freed slots are reused before fresh ones.
    let before = arena.stats().high_water;
    let mut handle = arena.handle();
    for i in 0..total / 2 {
        handle.insert(Node {
            value: i,
            next: None,
        });
    }
    drop(handle);
    println!(
        "re-inserted {} nodes: high water {} -> {} (slots reused)",
        total / 2,
        before,
        arena.stats().high_water
    );
}
