//! Shared by the `dom_build` bench and the `dom_compare` example (both include this file
//! with `#[path]`): how their parallel contenders hand documents to threads.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `work(i)` for every document index `0..docs` on `threads` threads, which take the
/// next index from an atomic counter.
pub fn split(threads: usize, docs: usize, work: impl Fn(usize) + Sync) {
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                // Relaxed: the counter only hands out distinct indices.
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= docs {
                    break;
                }
                work(i);
            });
        }
    });
}
