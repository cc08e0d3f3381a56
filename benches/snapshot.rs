//! Persistence: `write_snapshot` / `read_snapshot` of 1M live 32-byte values, beside
//! serializing and deserializing a plain `Vec` of the same values with the same value codec
//! (postcard), in the same group and run, so the ratio comes from one run.
//!
//! Run: `cargo bench -p benches --bench snapshot` (about a minute on the 2-core machine).
//!
//! Two value types, one group each:
//!
//! * `snapshot_1m_bytes`: `[u8; 32]` of pseudo-random bytes. postcard writes it as its 32
//!   bytes, so the encoding is the payload and the codec costs the same on both sides.
//! * `snapshot_1m_words`: `[u64; 4]` (the value of `arena.rs`), which postcard writes as
//!   four varints (1 to 10 bytes each).
//!
//! The arena is the adversarial case for the image: 1.1M values inserted with
//! `Arena::insert`, then 100k of them, chosen at random, removed and reclaimed, so the
//! snapshot describes 1.1M slots of which 1M are live and 100k free (each free slot costs
//! the snapshot a record too). The `Vec` holds the same 1M values in key order.
//!
//! Contenders, each with `Throughput::Bytes` of its own output, so criterion reports MB/s:
//!
//! * write: `epoch-arena/write_snapshot` into a `Vec<u8>` kept between iterations
//!   (cleared, its capacity kept); `epoch-arena/serde_postcard` (the arena through its
//!   `Serialize` impl with `postcard::to_extend` into the same kind of buffer), and the
//!   peer `vec/postcard` (`postcard::to_extend` of the `Vec`);
//! * read: `epoch-arena/read_snapshot` from the bytes; `epoch-arena/serde_postcard`
//!   (`postcard::from_bytes::<Arena<_>>`); the peer `vec/postcard`
//!   (`postcard::from_bytes::<Vec<_>>`). The result is dropped after the clock stops.
//!
//! Before the groups run, the sizes of the three encodings are printed to stderr.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use epoch_arena::{pin, Arena};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::hint::black_box;
use std::time::Duration;
use testkit::Rng;

const LIVE: usize = 1_000_000;
const REMOVED: usize = 100_000;

/// The arena (1M live of 1.1M slots) and the same values in a `Vec`, in key order.
fn build<V: Clone + Send + Sync>(mut make: impl FnMut(u64) -> V) -> (Arena<V>, Vec<V>) {
    let arena = Arena::new();
    let mut keys: Vec<_> = (0..(LIVE + REMOVED) as u64)
        .map(|i| arena.insert(make(i)))
        .collect();
    let mut rng = Rng::new(0x5eed);
    for _ in 0..REMOVED {
        let i = rng.below(keys.len());
        assert!(arena.remove(keys.swap_remove(i)));
    }
    // Reclaim what was removed, so the slots read FREE.
    while arena.stats().pending_reclamation > 0 {
        arena.flush();
        pin().flush();
    }
    keys.sort();
    let guard = pin();
    let vec = keys
        .iter()
        .map(|&k| arena.get(k, &guard).expect("live").clone())
        .collect();
    drop(guard);
    (arena, vec)
}

fn group<V>(c: &mut Criterion, name: &str, arena: &Arena<V>, vec: &Vec<V>)
where
    V: Serialize + DeserializeOwned + Send + Sync,
{
    let mut snapshot = Vec::new();
    let info = arena.write_snapshot(&mut snapshot).expect("write");
    let serde_bytes = postcard::to_allocvec(arena).expect("serde");
    let vec_bytes = postcard::to_allocvec(vec).expect("vec");
    eprintln!(
        "{name}: {} live of {} slots; snapshot {} B ({:.3}× the Vec), serde/postcard {} B \
         ({:.3}×), Vec/postcard {} B",
        info.live,
        info.slots,
        snapshot.len(),
        snapshot.len() as f64 / vec_bytes.len() as f64,
        serde_bytes.len(),
        serde_bytes.len() as f64 / vec_bytes.len() as f64,
        vec_bytes.len()
    );

    let mut g = benches::group(
        c,
        format!("{name}_write"),
        20,
        Duration::from_millis(500),
        Duration::from_secs(4),
    );
    let mut out = Vec::with_capacity(snapshot.len() * 2);
    g.throughput(Throughput::Bytes(snapshot.len() as u64));
    g.bench_function(BenchmarkId::new("epoch-arena", "write_snapshot"), |b| {
        b.iter(|| {
            out.clear();
            black_box(arena.write_snapshot(&mut out).expect("write"));
        })
    });
    g.throughput(Throughput::Bytes(serde_bytes.len() as u64));
    g.bench_function(BenchmarkId::new("epoch-arena", "serde_postcard"), |b| {
        b.iter(|| {
            out.clear();
            out = postcard::to_extend(arena, std::mem::take(&mut out)).expect("serde");
            black_box(out.len());
        })
    });
    g.throughput(Throughput::Bytes(vec_bytes.len() as u64));
    g.bench_function(BenchmarkId::new("vec", "postcard"), |b| {
        b.iter(|| {
            out.clear();
            out = postcard::to_extend(vec, std::mem::take(&mut out)).expect("vec");
            black_box(out.len());
        })
    });
    g.finish();

    let mut g = benches::group(
        c,
        format!("{name}_read"),
        20,
        Duration::from_millis(500),
        Duration::from_secs(6),
    );
    g.throughput(Throughput::Bytes(snapshot.len() as u64));
    g.bench_function(BenchmarkId::new("epoch-arena", "read_snapshot"), |b| {
        b.iter_with_large_drop(|| Arena::<V>::read_snapshot(&snapshot[..]).expect("read"))
    });
    g.throughput(Throughput::Bytes(serde_bytes.len() as u64));
    g.bench_function(BenchmarkId::new("epoch-arena", "serde_postcard"), |b| {
        b.iter_with_large_drop(|| postcard::from_bytes::<Arena<V>>(&serde_bytes).expect("serde"))
    });
    g.throughput(Throughput::Bytes(vec_bytes.len() as u64));
    g.bench_function(BenchmarkId::new("vec", "postcard"), |b| {
        b.iter_with_large_drop(|| postcard::from_bytes::<Vec<V>>(&vec_bytes).expect("vec"))
    });
    g.finish();
}

fn snapshot(c: &mut Criterion) {
    {
        let mut rng = Rng::new(7);
        let (arena, vec) = build(|_| {
            let mut v = [0u8; 32];
            for chunk in v.chunks_exact_mut(8) {
                chunk.copy_from_slice(&rng.next().to_le_bytes());
            }
            v
        });
        group(c, "snapshot_1m_bytes", &arena, &vec);
    }
    {
        let (arena, vec) = build(|i| [i, i ^ 0x5555, i.wrapping_mul(3), !i]);
        group(c, "snapshot_1m_words", &arena, &vec);
    }
}

criterion_group!(benches, snapshot);
criterion_main!(benches);
