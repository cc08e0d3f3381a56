//! Compaction, shrinking, trimming, reserving and bulk insertion through the public API: every live key finds its value (through the `Remap` where values moved), every old key stays dead, across regrowth.

use epoch_arena::{pin, Arena, Key, Relocate};

fn reclaim_all<T: Send + Sync>(arena: &Arena<T>) {
    arena.flush();
    for _ in 0..128 {
        if arena.stats().pending_reclamation == 0 {
            break;
        }
        pin().flush();
    }
}

#[test]
fn compact_moves_live_values_down_and_kills_old_keys() {
    // Every tenth value stays. Under Miri (chunk 0 holds 4 slots) 200 values span 6 chunks
    // and the 20 left after compacting 3.
    const N: u32 = if cfg!(miri) { 200 } else { 10_000 };
    const LIVE: usize = N as usize / 10;
    /// Added to the values inserted after the compaction (all old values are below it).
    const NEW: u32 = 100_000;
    let mut arena = Arena::new();
    let keys: Vec<Key> = (0..N).map(|i| arena.insert(i)).collect();
    for (i, k) in keys.iter().enumerate() {
        if i % 10 != 0 {
            arena.take(*k);
        }
    }
    let cap = arena.capacity();
    let remap = arena.compact();
    assert_eq!(remap.live(), LIVE);
    assert!(arena.capacity() < cap, "{} !< {cap}", arena.capacity());
    let guard = pin();
    for (i, k) in keys.iter().enumerate() {
        match remap.get(*k) {
            Some(now) => {
                assert_eq!(i % 10, 0);
                assert_eq!(arena.get(now, &guard), Some(&(i as u32)));
                assert!((now.index() as usize) < LIVE);
                if now != *k {
                    assert_eq!(arena.get(*k, &guard), None);
                }
            }
            None => {
                assert_ne!(i % 10, 0);
                assert_eq!(arena.get(*k, &guard), None);
            }
        }
    }
    drop(guard);
    // Regrowth: old keys stay dead.
    let new: Vec<Key> = (0..2 * N).map(|i| arena.insert(NEW + i)).collect();
    let guard = pin();
    for k in &keys {
        if let Some(v) = arena.get(*k, &guard) {
            let now = remap
                .get(*k)
                .expect("an old key finds only a value it named");
            assert_eq!(now, *k);
            assert!(*v < NEW);
        }
    }
    assert_eq!(arena.len(), LIVE + 2 * N as usize);
    for (i, k) in new.iter().enumerate() {
        assert_eq!(arena.get(*k, &guard), Some(&(NEW + i as u32)));
    }
}

#[test]
fn compact_with_relocates_keys_inside_values() {
    const N: usize = if cfg!(miri) { 64 } else { 500 };
    let mut arena: Arena<Vec<Key>> = Arena::new();
    let mut keys = Vec::new();
    for i in 0..N {
        let links = if i > 0 { vec![keys[i - 1]] } else { vec![] };
        keys.push(arena.insert(links));
    }
    let junk: Vec<Key> = (0..N).map(|_| arena.insert(vec![])).collect();
    let late: Vec<Key> = (0..N).map(|i| arena.insert(vec![keys[i]])).collect();
    for k in junk {
        arena.take(k);
    }
    let remap = arena.compact_with(|v, r| v.relocate(r));
    assert!(remap.moved() > 0);
    let guard = pin();
    for (i, k) in late.iter().enumerate() {
        let now = remap.get(*k).unwrap();
        let links = arena.get(now, &guard).unwrap();
        assert_eq!(links, &vec![remap.get(keys[i]).unwrap()]);
    }
}

#[test]
fn shrink_to_fit_keeps_keys() {
    const N: u64 = if cfg!(miri) { 300 } else { 50_000 };
    /// The values kept: the lowest fiftieth.
    const KEPT: usize = N as usize / 50;
    /// Inserted after the shrink: more than were there before.
    const MORE: u64 = N / 5 * 6;
    /// Added to the values inserted after the shrink.
    const NEW: u64 = 1_000_000;
    let mut arena = Arena::new();
    let keys: Vec<Key> = (0..N).map(|i| arena.insert(i)).collect();
    for k in &keys[KEPT..] {
        arena.remove(*k);
    }
    let cap = arena.capacity();
    arena.shrink_to_fit();
    assert!(arena.capacity() < cap);
    assert_eq!(arena.stats().pending_reclamation, 0);
    assert_eq!(arena.len(), KEPT);
    let guard = pin();
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(
            arena.get(*k, &guard).copied(),
            (i < KEPT).then_some(i as u64)
        );
    }
    drop(guard);
    let more: Vec<Key> = (0..MORE).map(|i| arena.insert(i + NEW)).collect();
    let guard = pin();
    for k in &keys[KEPT..] {
        assert_eq!(arena.get(*k, &guard), None);
    }
    assert_eq!(
        arena.get(more[MORE as usize - 1], &guard),
        Some(&(NEW + MORE - 1))
    );
}

#[test]
fn trim_keeps_every_value_and_slot() {
    const N: usize = if cfg!(miri) { 400 } else { 200_000 };
    /// The values removed: all but the lowest 1/200 and the highest 1/20.
    const REMOVED: std::ops::Range<usize> = N / 200..N / 20 * 19;
    let arena = Arena::new();
    let keys: Vec<Key> = (0..N as u64).map(|i| arena.insert([i; 4])).collect();
    for k in &keys[REMOVED] {
        arena.remove(*k);
    }
    reclaim_all(&arena);
    let before = arena.resident_bytes();
    let released = arena.trim();
    let after = arena.resident_bytes();
    // On Linux the pages go back. Under Miri (target Linux too, but no pages to give back)
    // `trim` zeroes the free slots' state words instead and `resident_bytes` counts the slots
    // whose state is not zero, so the same holds there, through that path.
    if cfg!(target_os = "linux") {
        assert!(released > 0);
        assert!(after < before / 2, "{after} !< {before}/2");
    }
    assert_eq!(arena.trim(), 0, "nothing left to give back");
    let guard = pin();
    for (i, k) in keys.iter().enumerate() {
        let expect = (!REMOVED.contains(&i)).then_some([i as u64; 4]);
        assert_eq!(arena.get(*k, &guard).copied(), expect);
    }
    drop(guard);
    // The slots come back.
    let high = arena.stats().high_water;
    let again: Vec<Key> = (0..REMOVED.len() as u64)
        .map(|i| arena.insert([i; 4]))
        .collect();
    assert_eq!(
        arena.stats().high_water,
        high,
        "trimmed slots are reused, not fresh ones"
    );
    let guard = pin();
    for k in &keys[REMOVED] {
        assert_eq!(arena.get(*k, &guard), None);
    }
    for (i, k) in again.iter().enumerate() {
        assert_eq!(arena.get(*k, &guard), Some(&[i as u64; 4]));
    }
}

#[test]
fn clear_after_trim_keeps_old_keys_dead() {
    const N: u64 = if cfg!(miri) { 200 } else { 100_000 };
    let mut arena = Arena::new();
    let keys: Vec<Key> = (0..N).map(|i| arena.insert(i)).collect();
    for k in &keys {
        arena.take(*k);
    }
    let reinserted: Vec<Key> = (0..N).map(|i| arena.insert(i)).collect();
    for k in &reinserted {
        arena.take(*k);
    }
    arena.trim();
    arena.clear();
    let fresh: Vec<Key> = (0..N).map(|i| arena.insert(i)).collect();
    let guard = pin();
    for k in keys.iter().chain(&reinserted) {
        assert_eq!(arena.get(*k, &guard), None, "{k:?}");
    }
    assert!(fresh.iter().all(|k| arena.contains(*k)));
}

#[test]
fn insert_many_fills_recycled_then_fresh() {
    const N: u32 = if cfg!(miri) { 512 } else { 100_000 };
    const HALF: u32 = N / 2;
    /// Added to the values inserted the second time.
    const NEW: u32 = 1_000_000;
    let arena = Arena::new();
    let keys = arena.insert_many(0..N);
    assert_eq!(arena.len(), N as usize);
    let guard = pin();
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(arena.get(*k, &guard), Some(&(i as u32)));
    }
    drop(guard);
    let mut arena = arena;
    for k in &keys[..HALF as usize] {
        arena.take(*k);
    }
    let high = arena.stats().high_water;
    let again = arena.insert_many((0..HALF).map(|i| i + NEW));
    assert!(arena.stats().high_water <= high + 64 * 2);
    let guard = pin();
    for (i, k) in again.iter().enumerate() {
        assert_eq!(arena.get(*k, &guard), Some(&(NEW + i as u32)));
    }
    assert_eq!(arena.len(), N as usize);
}

#[test]
fn insert_many_with_a_lying_size_hint() {
    /// What the iterator claims at least; it yields 10.
    const HINT: usize = if cfg!(miri) { 200 } else { 1000 };
    struct Liar(u32);
    impl Iterator for Liar {
        type Item = u32;
        fn next(&mut self) -> Option<u32> {
            (self.0 < 10).then(|| {
                self.0 += 1;
                self.0
            })
        }
        fn size_hint(&self) -> (usize, Option<usize>) {
            (HINT, None)
        }
    }
    let arena = Arena::new();
    let keys = arena.insert_many(Liar(0));
    assert_eq!(keys.len(), 10);
    assert_eq!(arena.len(), 10);
    let more = arena.insert_many(0..HINT as u32 - 10);
    assert_eq!(
        arena.stats().high_water,
        HINT,
        "the unused reservation was given back"
    );
    assert_eq!(more.len(), HINT - 10);
}

#[test]
fn stats_count_lifetime_totals_and_residency() {
    const N: usize = if cfg!(miri) { 200 } else { 1000 };
    let mut arena = Arena::new();
    let keys = arena.insert_many(0..N as u64);
    arena.take(keys[0]);
    arena.remove(keys[1]);
    let s = arena.stats();
    assert_eq!((s.inserted, s.removed, s.live), (N, 2, N - 2));
    assert!(s.resident_bytes > 0 && s.resident_bytes <= s.bytes_reserved);
}
