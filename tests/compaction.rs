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
    let mut arena = Arena::new();
    let keys: Vec<Key> = (0..10_000u32).map(|i| arena.insert(i)).collect();
    for (i, k) in keys.iter().enumerate() {
        if i % 10 != 0 {
            arena.take(*k);
        }
    }
    let cap = arena.capacity();
    let remap = arena.compact();
    assert_eq!(remap.live(), 1000);
    assert!(arena.capacity() < cap, "{} !< {cap}", arena.capacity());
    let guard = pin();
    for (i, k) in keys.iter().enumerate() {
        match remap.get(*k) {
            Some(now) => {
                assert_eq!(i % 10, 0);
                assert_eq!(arena.get(now, &guard), Some(&(i as u32)));
                assert!((now.index() as usize) < 1000);
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
    let new: Vec<Key> = (0..20_000u32).map(|i| arena.insert(100_000 + i)).collect();
    let guard = pin();
    for k in &keys {
        if let Some(v) = arena.get(*k, &guard) {
            let now = remap
                .get(*k)
                .expect("an old key finds only a value it named");
            assert_eq!(now, *k);
            assert!(*v < 100_000);
        }
    }
    assert_eq!(arena.len(), 21_000);
    for (i, k) in new.iter().enumerate() {
        assert_eq!(arena.get(*k, &guard), Some(&(100_000 + i as u32)));
    }
}

#[test]
fn compact_with_relocates_keys_inside_values() {
    let mut arena: Arena<Vec<Key>> = Arena::new();
    let mut keys = Vec::new();
    for i in 0..500 {
        let links = if i > 0 { vec![keys[i - 1]] } else { vec![] };
        keys.push(arena.insert(links));
    }
    let junk: Vec<Key> = (0..500).map(|_| arena.insert(vec![])).collect();
    let late: Vec<Key> = (0..500).map(|i| arena.insert(vec![keys[i]])).collect();
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
    let mut arena = Arena::new();
    let keys: Vec<Key> = (0..50_000u64).map(|i| arena.insert(i)).collect();
    for k in &keys[1000..] {
        arena.remove(*k);
    }
    let cap = arena.capacity();
    arena.shrink_to_fit();
    assert!(arena.capacity() < cap);
    assert_eq!(arena.stats().pending_reclamation, 0);
    assert_eq!(arena.len(), 1000);
    let guard = pin();
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(
            arena.get(*k, &guard).copied(),
            (i < 1000).then_some(i as u64)
        );
    }
    drop(guard);
    let more: Vec<Key> = (0..60_000u64)
        .map(|i| arena.insert(i + 1_000_000))
        .collect();
    let guard = pin();
    for k in &keys[1000..] {
        assert_eq!(arena.get(*k, &guard), None);
    }
    assert_eq!(arena.get(more[59_999], &guard), Some(&1_059_999));
}

#[test]
fn trim_keeps_every_value_and_slot() {
    let arena = Arena::new();
    let keys: Vec<Key> = (0..200_000u64).map(|i| arena.insert([i; 4])).collect();
    for k in &keys[1000..190_000] {
        arena.remove(*k);
    }
    reclaim_all(&arena);
    let before = arena.resident_bytes();
    let released = arena.trim();
    let after = arena.resident_bytes();
    if cfg!(target_os = "linux") {
        assert!(released > 0);
        assert!(after < before / 2, "{after} !< {before}/2");
    }
    assert_eq!(arena.trim(), 0, "nothing left to give back");
    let guard = pin();
    for (i, k) in keys.iter().enumerate() {
        let expect = (!(1000..190_000).contains(&i)).then_some([i as u64; 4]);
        assert_eq!(arena.get(*k, &guard).copied(), expect);
    }
    drop(guard);
    // The slots come back.
    let high = arena.stats().high_water;
    let again: Vec<Key> = (0..189_000u64).map(|i| arena.insert([i; 4])).collect();
    assert_eq!(
        arena.stats().high_water,
        high,
        "trimmed slots are reused, not fresh ones"
    );
    let guard = pin();
    for k in &keys[1000..190_000] {
        assert_eq!(arena.get(*k, &guard), None);
    }
    for (i, k) in again.iter().enumerate() {
        assert_eq!(arena.get(*k, &guard), Some(&[i as u64; 4]));
    }
}

#[test]
fn clear_after_trim_keeps_old_keys_dead() {
    let mut arena = Arena::new();
    let keys: Vec<Key> = (0..100_000u64).map(|i| arena.insert(i)).collect();
    for k in &keys {
        arena.take(*k);
    }
    let reinserted: Vec<Key> = (0..100_000u64).map(|i| arena.insert(i)).collect();
    for k in &reinserted {
        arena.take(*k);
    }
    arena.trim();
    arena.clear();
    let fresh: Vec<Key> = (0..100_000u64).map(|i| arena.insert(i)).collect();
    let guard = pin();
    for k in keys.iter().chain(&reinserted) {
        assert_eq!(arena.get(*k, &guard), None, "{k:?}");
    }
    assert!(fresh.iter().all(|k| arena.contains(*k)));
}

#[test]
fn insert_many_fills_recycled_then_fresh() {
    let arena = Arena::new();
    let keys = arena.insert_many(0..100_000u32);
    assert_eq!(arena.len(), 100_000);
    let guard = pin();
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(arena.get(*k, &guard), Some(&(i as u32)));
    }
    drop(guard);
    let mut arena = arena;
    for k in &keys[..50_000] {
        arena.take(*k);
    }
    let high = arena.stats().high_water;
    let again = arena.insert_many((0..50_000u32).map(|i| i + 1_000_000));
    assert!(arena.stats().high_water <= high + 64 * 2);
    let guard = pin();
    for (i, k) in again.iter().enumerate() {
        assert_eq!(arena.get(*k, &guard), Some(&(1_000_000 + i as u32)));
    }
    assert_eq!(arena.len(), 100_000);
}

#[test]
fn insert_many_with_a_lying_size_hint() {
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
            (1000, None)
        }
    }
    let arena = Arena::new();
    let keys = arena.insert_many(Liar(0));
    assert_eq!(keys.len(), 10);
    assert_eq!(arena.len(), 10);
    let more = arena.insert_many(0..990u32);
    assert_eq!(
        arena.stats().high_water,
        1000,
        "the unused reservation was given back"
    );
    assert_eq!(more.len(), 990);
}

#[test]
fn stats_count_lifetime_totals_and_residency() {
    let mut arena = Arena::new();
    let keys = arena.insert_many(0..1000u64);
    arena.take(keys[0]);
    arena.remove(keys[1]);
    let s = arena.stats();
    assert_eq!((s.inserted, s.removed, s.live), (1000, 2, 998));
    assert!(s.resident_bytes > 0 && s.resident_bytes <= s.bytes_reserved);
}
