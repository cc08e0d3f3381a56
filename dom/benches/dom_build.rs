//! Building DOM trees with html5ever: the reference `markup5ever_rcdom::RcDom` against the
//! `epoch-arena-dom`'s DOM in one shared `Arena<Node, NodeId>`, on 1 thread and on all threads.
//!
//! Run: `cargo bench -p epoch-arena-dom --bench dom_build`, then `python3 benches/report.py`
//! for the table and the target checks.
//!
//! Every contender parses the crate's embedded corpus (`dom/src/corpus.rs`:
//! 48 generated pages, about 3 MB) once per iteration, from `&str` with html5ever's default
//! options, and frees what it built inside the timed iteration:
//!
//! * `rcdom_1_thread`: each document into its own `RcDom`; all are kept until the end of the
//!   iteration (as a DOM builder keeps what it builds), then dropped.
//! * `arena_1_thread`: every document into one `Arena<Node, NodeId>`; at the end of the iteration
//!   the document roots are dropped and the arena cleared (`Arena::clear`), so the next
//!   iteration reuses its slots, as a long-running builder that collects would.
//! * `rcdom_2_threads`, `arena_2_threads`: the same work split over two threads (documents
//!   handed out through an atomic counter); the arena contender builds into ONE shared
//!   arena, the RcDom one keeps each thread's documents on that thread (`RcDom` is not
//!   `Send`) until both are done. The thread count is [`THREADS`], this machine's core
//!   count.
//!
//! `Throughput::Elements` is the number of nodes in the finished trees (the same for both
//! DOMs: the tests check the trees are equal), so criterion's element rate is nodes/s.

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use epoch_arena::{pin, Arena};
use html5ever::tendril::TendrilSink;
use markup5ever_rcdom::RcDom;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use epoch_arena_dom::{corpus, count_reachable, parse, Node, NodeId};

/// Threads for the parallel contenders: 2, the cores of the machine the targets are for.
const THREADS: usize = 2;

fn rcdom_parse(html: &str) -> RcDom {
    html5ever::parse_document(RcDom::default(), Default::default()).one(html)
}

#[path = "support/split.rs"]
mod support;
use support::split;

/// Like [`split`], but each thread keeps what `work` returns until all threads are done,
/// and drops it on its own thread.
fn split_keep<R>(threads: usize, docs: usize, work: impl Fn(usize) -> R + Sync) {
    let next = AtomicUsize::new(0);
    let barrier = std::sync::Barrier::new(threads);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut kept = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= docs {
                        break;
                    }
                    kept.push(work(i));
                }
                barrier.wait();
                black_box(&kept);
            });
        }
    });
}

fn dom_build(c: &mut Criterion) {
    let docs = corpus::default_corpus();
    let htmls: Vec<&str> = docs.iter().map(|d| d.html.as_str()).collect();

    // Nodes in the finished trees, counted once.
    let nodes: usize = {
        let arena = Arena::with_key();
        let parsed: Vec<_> = htmls.iter().map(|h| parse(&arena, h)).collect();
        let guard = pin();
        parsed
            .iter()
            .map(|p| count_reachable(&arena, p.document(), &guard))
            .sum()
    };

    let mut group = c.benchmark_group("dom_build");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(nodes as u64));

    group.bench_function("rcdom_1_thread", |b| {
        b.iter(|| {
            let doms: Vec<RcDom> = htmls.iter().map(|h| rcdom_parse(h)).collect();
            black_box(&doms);
        })
    });

    let mut arena: Arena<Node, NodeId> = Arena::with_key();
    group.bench_function("arena_1_thread", |b| {
        b.iter(|| {
            {
                let parsed: Vec<_> = htmls.iter().map(|h| parse(&arena, h)).collect();
                black_box(&parsed);
            }
            arena.clear();
        })
    });

    group.bench_function("rcdom_2_threads", |b| {
        b.iter(|| {
            // `RcDom` is not `Send`: each thread keeps its own documents until the end.
            split_keep(THREADS, htmls.len(), |i| rcdom_parse(htmls[i]));
        })
    });

    group.bench_function("arena_2_threads", |b| {
        b.iter(|| {
            {
                let shared = &arena;
                let parsed = std::sync::Mutex::new(Vec::with_capacity(htmls.len()));
                split(THREADS, htmls.len(), |i| {
                    let p = parse(shared, htmls[i]);
                    parsed.lock().unwrap().push(p);
                });
                black_box(&parsed);
            }
            arena.clear();
        })
    });

    group.finish();
}

criterion_group!(benches, dom_build);
criterion_main!(benches);
