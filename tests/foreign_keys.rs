//! Keys used with an arena that did not issue them: `Builder::distinct_keys`.
//!
//! Arenas built with `distinct_keys(true)` start their slots' generations from a per-arena
//! base, so a key of one such arena finds nothing in another; default arenas still share
//! their generations (documented). Every other promise of a key holds for distinct arenas
//! too: stale keys stay dead across remove, clear, trim, compaction, snapshots, serde images
//! and clones, and newer keys of an index are larger (what secondary maps rely on).

use epoch_arena::{pin, Arena, Key, SecondaryMap, SharedSecondaryMap};
use std::collections::HashMap;
use testkit::Rng;

/// 10k under a native run, fewer under miri.
const N: usize = if cfg!(miri) { 200 } else { 10_000 };

fn distinct<T: Send + Sync>() -> Arena<T> {
    Arena::builder().distinct_keys(true).build()
}

/// How many of `keys` (of another arena) `arena` answers with anything, through every
/// lookup of `&self` and `&mut self`. Removals that hit are counted (and undone by nothing:
/// the caller expects zero).
fn hits(arena: &mut Arena<u64>, keys: &[Key]) -> usize {
    let mut hits = 0;
    {
        let guard = pin();
        for &key in keys {
            hits += usize::from(arena.get(key, &guard).is_some());
            hits += usize::from(arena.contains(key));
        }
    }
    for &key in keys {
        hits += usize::from(arena.get_mut(key).is_some());
    }
    for &key in keys {
        hits += usize::from(arena.remove(key));
    }
    hits
}

#[test]
fn keys_of_one_distinct_arena_find_nothing_in_another() {
    let a = distinct::<u64>();
    let mut b = distinct::<u64>();
    let keys_a: Vec<Key> = (0..N as u64).map(|i| a.insert(i)).collect();
    let keys_b: Vec<Key> = (0..N as u64).map(|i| b.insert(i + 1_000_000)).collect();
    // The same indices in both arenas, all occupied, but never the same keys.
    for (ka, kb) in keys_a.iter().zip(&keys_b) {
        assert_eq!(ka.index(), kb.index());
        assert_ne!(ka, kb);
        assert_ne!(
            ka.generation(),
            1,
            "a distinct arena does not start at the default base"
        );
    }
    assert_eq!(hits(&mut b, &keys_a), 0, "false hits of a's keys in b");
    assert_eq!(b.len(), N, "nothing was removed from b");
    // b's own keys still work, and a's keys find nothing in b after churn either.
    let guard = pin();
    for (i, &kb) in keys_b.iter().enumerate() {
        assert_eq!(b.get(kb, &guard), Some(&(i as u64 + 1_000_000)));
    }
    drop(guard);
    for &kb in keys_b.iter().step_by(3) {
        assert!(b.remove(kb));
    }
    b.flush();
    let reinserted: Vec<Key> = (0..N as u64 / 3).map(|i| b.insert(i)).collect();
    assert_eq!(hits(&mut b, &keys_a), 0, "false hits after b reused slots");
    // And b's keys (old and new) find nothing in a.
    let mut a = a;
    let mut b_keys = keys_b.clone();
    b_keys.extend(&reinserted);
    assert_eq!(hits(&mut a, &b_keys), 0, "false hits of b's keys in a");
    assert_eq!(a.len(), N);
}

#[test]
fn many_distinct_arenas_have_pairwise_different_first_keys() {
    let firsts: Vec<Key> = (0..if cfg!(miri) { 50 } else { 2_000 })
        .map(|i| distinct::<u32>().insert(i))
        .collect();
    let mut sorted = firsts.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        firsts.len(),
        "two distinct arenas issued the same first key"
    );
    // A distinct arena's keys do not find a default arena's values either.
    let default = Arena::new();
    default.insert(0u32);
    for &key in &firsts {
        assert!(!default.contains(key));
    }
}

#[test]
fn default_arenas_still_share_keys() {
    let a = Arena::new();
    let b = Arena::new();
    let guard = pin();
    for i in 0..100u32 {
        let ka = a.insert(i);
        let kb = b.insert(i + 1000);
        assert_eq!(ka, kb);
        // As documented: a's key names b's value at the same index and generation.
        assert_eq!(b.get(ka, &guard), Some(&(i + 1000)));
    }
    assert_eq!(a.insert(0).generation() % 4, 1);
    let c = Arena::<u8>::builder().distinct_keys(false).build();
    assert_eq!(c.insert(0), Key::from_bits(1).unwrap());
}

#[test]
fn a_distinct_arena_matches_a_hash_map_model() {
    let mut rng = Rng::new(0xF0_4E16);
    let mut arena = distinct::<u64>();
    let mut model: HashMap<Key, u64> = HashMap::new();
    let mut stale: Vec<Key> = Vec::new();
    let steps = if cfg!(miri) { 300 } else { 20_000 };
    for step in 0..steps as u64 {
        match rng.below(10) {
            0..=3 => {
                let key = arena.insert(step);
                assert!(!stale.contains(&key), "a stale key was reissued");
                assert_eq!(model.insert(key, step), None, "a live key was reissued");
            }
            4 | 5 => {
                if let Some(&key) = model.keys().nth(rng.below(model.len().max(1))) {
                    assert!(arena.remove(key));
                    assert!(!arena.remove(key));
                    model.remove(&key);
                    stale.push(key);
                }
            }
            6 => {
                if let Some(&key) = model.keys().nth(rng.below(model.len().max(1))) {
                    assert_eq!(arena.take(key), model.remove(&key));
                    stale.push(key);
                }
            }
            7 => {
                if let Some(&key) = model.keys().nth(rng.below(model.len().max(1))) {
                    *arena.get_mut(key).unwrap() += 1;
                    *model.get_mut(&key).unwrap() += 1;
                }
            }
            8 => {
                if rng.below(20) == 0 {
                    arena.flush();
                    arena.trim();
                }
            }
            _ => {
                if rng.below(50) == 0 {
                    let remap = arena.compact();
                    model = model
                        .into_iter()
                        .map(|(k, v)| (remap.get(k).expect("a live key survives"), v))
                        .collect();
                    for &k in &stale {
                        assert_eq!(remap.get(k), None);
                    }
                }
            }
        }
        if step % 97 == 0 {
            let guard = pin();
            assert_eq!(arena.len(), model.len());
            for (&key, value) in &model {
                assert_eq!(arena.get(key, &guard), Some(value));
            }
            for &key in &stale {
                assert_eq!(arena.get(key, &guard), None, "stale {key:?}");
            }
            let mut listed: Vec<(Key, u64)> = arena.iter(&guard).map(|(k, &v)| (k, v)).collect();
            let mut expected: Vec<(Key, u64)> = model.iter().map(|(&k, &v)| (k, v)).collect();
            listed.sort();
            expected.sort();
            assert_eq!(listed, expected);
        }
    }
    arena.clear();
    assert!(arena.is_empty());
    let after = arena.insert(1);
    for key in model.keys().chain(&stale) {
        assert!(!arena.contains(*key));
        assert_ne!(*key, after);
    }
}

/// Live keys, keys removed before the image, and the arena's first key.
fn churned() -> (Arena<String>, Vec<Key>, Vec<Key>) {
    let arena = distinct::<String>();
    let keys: Vec<Key> = (0..200).map(|i| arena.insert(format!("v{i}"))).collect();
    let mut dead = Vec::new();
    for &k in keys.iter().step_by(4) {
        arena.remove(k);
        dead.push(k);
    }
    arena.flush();
    let live: Vec<Key> = keys.into_iter().filter(|k| !dead.contains(k)).collect();
    (arena, live, dead)
}

fn check_copy(copy: &Arena<String>, original: &Arena<String>, live: &[Key], dead: &[Key]) {
    let guard = pin();
    for &k in live {
        assert_eq!(copy.get(k, &guard), original.get(k, &guard));
        assert!(copy.get(k, &guard).is_some());
    }
    for &k in dead {
        assert_eq!(copy.get(k, &guard), None);
    }
    // The copy never reissues a key the original issued, and its fresh slots (past the
    // original's 200) start from the original's base, not the default one.
    for i in 0..300 {
        let k = copy.insert(format!("new{i}"));
        assert!(!live.contains(&k) && !dead.contains(&k), "{k:?} reissued");
        assert_ne!(
            k.generation(),
            1,
            "{k:?}: the copy lost the generation base"
        );
    }
}

#[test]
fn snapshot_of_a_distinct_arena_keeps_its_keys() {
    let (arena, live, dead) = churned();
    let mut bytes = Vec::new();
    arena.write_snapshot(&mut bytes).unwrap();
    let loaded: Arena<String> = Arena::read_snapshot(bytes.as_slice()).unwrap();
    check_copy(&loaded, &arena, &live, &dead);
    // A fresh slot of the loaded arena starts from the original's base, not from 0.
    let fresh = Arena::<String>::read_snapshot(bytes.as_slice()).unwrap();
    let k = fresh
        .insert_many((0..1000).map(|i| i.to_string()))
        .pop()
        .unwrap();
    assert_ne!(k.generation(), 1);
}

#[test]
fn serde_image_of_a_distinct_arena_keeps_its_keys() {
    let (arena, live, dead) = churned();
    let json = serde_json::to_string(&arena).unwrap();
    let loaded: Arena<String> = serde_json::from_str(&json).unwrap();
    check_copy(&loaded, &arena, &live, &dead);
}

#[test]
fn clone_of_a_distinct_arena_keeps_its_keys() {
    let (arena, live, dead) = churned();
    let copy = arena.clone();
    check_copy(&copy, &arena, &live, &dead);
}

#[test]
fn compaction_remap_keys_of_a_distinct_arena() {
    let (mut arena, live, dead) = churned();
    let before: HashMap<Key, String> = {
        let guard = pin();
        live.iter()
            .map(|&k| (k, arena.get(k, &guard).unwrap().clone()))
            .collect()
    };
    // Empty the low slots so that values move.
    let mut kept = Vec::new();
    for (i, &k) in live.iter().enumerate() {
        if i < live.len() / 2 {
            arena.take(k);
        } else {
            kept.push(k);
        }
    }
    let remap = arena.compact();
    assert!(remap.moved() > 0);
    let guard = pin();
    for &old in &kept {
        let new = remap.get(old).expect("a live key is remapped");
        assert_eq!(arena.get(new, &guard), before.get(&old));
    }
    for (old, new) in remap.moves() {
        assert!(!arena.contains(old), "a moved key is dead at its old index");
        assert!(arena.contains(new));
    }
    for &k in dead.iter().chain(&live[..live.len() / 2]) {
        assert_eq!(remap.get(k), None);
        assert_eq!(arena.get(k, &guard), None);
    }
    drop(guard);
    // Regrowth after compaction (and shrinking): fresh slots never reissue a key.
    arena.shrink_to_fit();
    let issued: Vec<Key> = live.iter().chain(&dead).copied().collect();
    for i in 0..400 {
        let k = arena.insert(format!("again{i}"));
        assert!(!issued.contains(&k), "{k:?} reissued after compaction");
    }
}

#[test]
fn secondary_maps_take_newer_keys_of_a_distinct_arena() {
    let mut arena = distinct::<u32>();
    let mut owned = SecondaryMap::new();
    let shared = SharedSecondaryMap::new();
    let mut key = arena.insert(0);
    owned.insert(key, 0);
    shared.insert(key, 0).unwrap();
    for i in 1..50 {
        // Reuse the same slot: every new key of index 0 must replace the old entry, and the
        // old key must be refused.
        arena.take(key);
        let next = arena.insert(i);
        assert_eq!(next.index(), key.index());
        assert!(next > key, "newer generations of an index are larger");
        assert_eq!(owned.insert(next, i), None);
        assert_eq!(owned.get(key), None);
        assert_eq!(owned.insert(key, 99), None, "a stale key is refused");
        assert_eq!(owned[next], i);
        assert_eq!(shared.insert(next, i), Ok(false));
        assert_eq!(shared.insert(key, 99), Err(99));
        assert_eq!(shared.get(next, &pin()), Some(&i));
        key = next;
    }
    // Another distinct arena's key at the same index finds nothing in these maps.
    let other = distinct::<u32>();
    let foreign = other.insert(7);
    assert_eq!(foreign.index(), key.index());
    assert_eq!(owned.get(foreign), None);
    assert_eq!(shared.get(foreign, &pin()), None);
}

#[test]
fn every_way_of_inserting_starts_from_the_base() {
    let a = distinct::<u32>();
    let b = distinct::<u32>();
    let mut keys = vec![a.insert(0), a.insert_with(|_| 1)];
    keys.extend(a.insert_many(0..100));
    {
        let mut handle = a.handle();
        keys.push(handle.insert(2));
        keys.extend(handle.insert_many(0..100));
    }
    let entry = a.vacant_entry();
    let reserved = entry.key();
    keys.push(entry.insert(3));
    assert!(keys.contains(&reserved));
    // Fill b over the same indices, then look a's keys up there.
    b.insert_many(0..keys.len() as u32 + 100);
    let guard = pin();
    for &key in &keys {
        assert_ne!(key.generation(), 1, "{key:?}");
        assert!(a.get(key, &guard).is_some());
        assert_eq!(b.get(key, &guard), None, "{key:?} found in b");
    }
}
