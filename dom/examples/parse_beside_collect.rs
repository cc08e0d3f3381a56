//! A long parse beside collections and another arena's reclamation: how long does a
//! collection wait for a parse, and does the rest of the process keep reclaiming?
//!
//! ```text
//! cargo run --release -p epoch-arena-dom --example parse_beside_collect -- [MB] [MODE]
//! ```
//!
//! One thread parses a generated document of about `MB` megabytes (default 50) into an
//! arena. A second thread collects that arena over and over until the parse ends, and
//! records each collection's `wait_time` (the wait for another collection and for the
//! epoch grace period). A third thread removes values from another arena, one at a time,
//! and counts how many of them are dropped before the parse ends.
//!
//! `MODE` is `chunked` (the default: `parse`, which feeds html5ever 4 KiB at a time with a
//! safepoint between chunks and no guard held there) or `pinned` (the same parse with the
//! thread pinned throughout, as every parse was before the mutator protocol).

use epoch_arena::{pin, Arena};
use epoch_arena_dom::{corpus, parse, Node, NodeId};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Counts its drops.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mb: usize = args.next().map_or(50, |a| a.parse().expect("MB: a number"));
    let pinned = match args.next().as_deref() {
        None | Some("chunked") => false,
        Some("pinned") => true,
        Some(other) => panic!("MODE is chunked or pinned, not {other:?}"),
    };
    let html = corpus::generate(1, mb << 20, 1).pop().unwrap().html;
    let arena: Arena<Node, NodeId> = Arena::with_key();
    let other: Arena<Counted> = Arena::new();
    let dropped = Arc::new(AtomicUsize::new(0));
    let parsing = AtomicBool::new(true);
    let (parse_time, nodes, waits, removed, dropped_during) = std::thread::scope(|s| {
        let collector = s.spawn(|| {
            let mut waits = Vec::new();
            while parsing.load(Ordering::Acquire) {
                waits.push(arena.collect([]).wait_time);
            }
            waits
        });
        let remover = s.spawn(|| {
            let mut removed = 0usize;
            while parsing.load(Ordering::Acquire) {
                let key = other.insert(Counted(dropped.clone()));
                other.remove(key);
                other.flush();
                removed += 1;
                std::thread::sleep(Duration::from_micros(200));
            }
            (removed, dropped.load(Ordering::Relaxed))
        });
        let start = Instant::now();
        let guard = pinned.then(pin);
        let page = parse(&arena, &html);
        drop(guard);
        let parse_time = start.elapsed();
        parsing.store(false, Ordering::Release);
        let waits = collector.join().unwrap();
        let (removed, dropped_during) = remover.join().unwrap();
        (parse_time, page.created, waits, removed, dropped_during)
    });
    let mut sorted = waits.clone();
    sorted.sort();
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or_default();
    let max = sorted.last().copied().unwrap_or_default();
    println!(
        "{} parse of {:.1} MB ({nodes} nodes) in {parse_time:.2?}",
        if pinned { "pinned" } else { "chunked" },
        html.len() as f64 / (1 << 20) as f64
    );
    println!(
        "collections during the parse: {}; wait_time median {median:.2?}, max {max:.2?}",
        waits.len()
    );
    println!("other arena: {removed} values removed during the parse, {dropped_during} dropped before it ended");
}
