//! `insert_many`, `Handle::insert_many` and `reserve`: every value lands once, the keys come
//! back in order, and an iterator that panics or stops early loses no slot and counts only
//! what it inserted.

use epoch_arena::{pin, Arena, Key};
use std::panic::{catch_unwind, AssertUnwindSafe};

const N: u32 = if cfg!(miri) { 300 } else { 100_000 };

#[test]
fn an_iterator_that_panics_midway_keeps_what_it_yielded_and_loses_no_slot() {
    let arena = Arena::builder().max_slots(N).build();
    let yielded = std::cell::Cell::new(0u32);
    let r = catch_unwind(AssertUnwindSafe(|| {
        arena.insert_many((0..N).inspect(|&i| {
            if i == N / 2 {
                panic!("the iterator panics");
            }
            yielded.set(yielded.get() + 1);
        }))
    }));
    assert!(r.is_err());
    assert_eq!(
        arena.len(),
        (N / 2) as usize,
        "exactly the yielded values are counted"
    );
    let guard = pin();
    let mut seen: Vec<u32> = arena.iter(&guard).map(|(_, v)| *v).collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..N / 2).collect::<Vec<_>>());
    drop(guard);
    // The reserved but unused slots went back: the cap can still be filled exactly.
    let rest: Vec<Key> = (N / 2..N).map(|i| arena.try_insert(i).unwrap()).collect();
    assert_eq!(arena.len(), N as usize);
    assert!(arena.try_insert(0).is_err());
    let guard = pin();
    let mut all: Vec<Key> = arena.iter(&guard).map(|(k, _)| k).collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), N as usize, "no slot was handed out twice");
    assert!(rest.iter().all(|k| arena.contains(*k)));
}

#[test]
fn handle_insert_many_uses_its_cache_then_bulk() {
    let mut arena = Arena::new();
    let old: Vec<Key> = (0..100u32).map(|i| arena.insert(i)).collect();
    for k in &old {
        arena.take(*k);
    }
    let mut handle = arena.handle();
    let first = handle.insert(7);
    let keys = handle.insert_many(0..N);
    drop(handle);
    assert_eq!(keys.len(), N as usize);
    assert_eq!(arena.len(), N as usize + 1);
    let guard = pin();
    assert_eq!(arena.get(first, &guard), Some(&7));
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(arena.get(*k, &guard), Some(&(i as u32)));
    }
    for k in &old {
        assert!(keys.iter().all(|n| n != k), "a stale key was reissued");
    }
}

#[test]
fn reserve_allocates_once_for_what_follows() {
    let arena = Arena::<u64>::new();
    arena.reserve(N as usize);
    let chunks = arena.stats().chunks;
    assert!(arena.capacity() >= N as usize);
    let keys = arena.insert_many((0..N).map(u64::from));
    assert_eq!(
        arena.stats().chunks,
        chunks,
        "no chunk was allocated by the inserts"
    );
    assert_eq!(keys.len(), N as usize);
    // Reserving past the cap stops at the cap.
    let capped = Arena::<u64>::builder().max_slots(40).build();
    capped.reserve(1 << 20);
    assert!(capped.capacity() >= 40 && capped.capacity() < 1000);
}
