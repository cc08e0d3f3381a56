//! `SharedSecondaryMap`: single-thread semantics, and racing threads on keys of a real
//! arena (several generations per index) with drop accounting.

use epoch_arena::{pin, Arena, Key, SharedSecondaryMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use testkit::{DropLog, Rng, Tracked};

/// A value that knows the key it was inserted under.
#[derive(Debug)]
struct Val {
    key: Key,
    t: Tracked,
    /// Scratch, for the `&mut` methods to write.
    n: u64,
}

impl Val {
    fn new(key: Key, id: u64, log: &Arc<DropLog>) -> Val {
        Val {
            key,
            t: Tracked::new(id, log),
            n: 0,
        }
    }
}

/// Keys of `indices` slots, `gens` generations each (oldest first), from a real arena; the
/// newest generation of each slot is live.
fn generations(indices: usize, gens: usize) -> (Arena<u32>, Vec<Vec<Key>>) {
    let mut arena = Arena::new();
    let mut keys: Vec<Vec<Key>> = (0..indices).map(|i| vec![arena.insert(i as u32)]).collect();
    for _ in 1..gens {
        for (i, gens) in keys.iter_mut().enumerate() {
            arena.take(*gens.last().unwrap());
            let k = arena.insert(i as u32);
            assert_eq!(
                k.index(),
                gens[0].index(),
                "take then insert reuses the slot"
            );
            gens.push(k);
        }
    }
    (arena, keys)
}

/// Drives reclamation until `done()`, for at most a minute (other tests may hold guards).
fn reclaim_until(mut done: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        for _ in 0..100 {
            if done() {
                return true;
            }
            pin().flush();
        }
        std::thread::yield_now();
    }
    done()
}

#[test]
fn insert_get_replace_remove() {
    let (_arena, keys) = generations(3, 1);
    let (a, b) = (keys[0][0], keys[1][0]);
    let map = SharedSecondaryMap::new();
    assert!(map.is_empty());
    assert_eq!(map.insert(a, 1), Ok(false));
    assert_eq!(map.insert(b, 2), Ok(false));
    assert_eq!(map.insert(a, 10), Ok(true));
    assert_eq!(map.len(), 2);
    let guard = pin();
    assert_eq!(map.get(a, &guard), Some(&10));
    assert_eq!(map.get(b, &guard), Some(&2));
    assert_eq!(map.get(keys[2][0], &guard), None);
    assert!(map.contains_key(a));
    assert!(map.remove(a));
    assert!(!map.remove(a));
    assert!(!map.contains_key(a));
    assert_eq!(map.len(), 1);
    // Indices far beyond anything inserted are simply absent.
    let far = Key::from_bits((1_000_000 << 32) | 1).unwrap();
    assert_eq!(map.get(far, &guard), None);
    assert!(!map.remove(far));
}

#[test]
fn generations_newer_replaces_older_refused_remove_exact() {
    let (_arena, keys) = generations(1, 3);
    let (k1, k2, k3) = (keys[0][0], keys[0][1], keys[0][2]);
    let map = SharedSecondaryMap::new();
    assert_eq!(map.insert(k2, "two"), Ok(false));
    assert_eq!(map.insert(k1, "one"), Err("one"), "older refused");
    let guard = pin();
    assert_eq!(map.get(k1, &guard), None);
    assert_eq!(
        map.get(k3, &guard),
        None,
        "a newer key does not see an older entry"
    );
    assert!(!map.remove(k1), "remove only takes the exact key");
    assert!(!map.remove(k3));
    assert_eq!(map.get(k2, &guard), Some(&"two"));
    assert_eq!(map.insert(k3, "three"), Ok(false), "newer replaces");
    assert_eq!(map.len(), 1);
    assert_eq!(map.get(k2, &guard), None);
    assert_eq!(map.get(k3, &guard), Some(&"three"));
    assert_eq!(map.insert(k2, "late"), Err("late"));
    assert!(map.remove(k3));
    assert_eq!(
        map.insert(k1, "one"),
        Ok(false),
        "an empty index takes any generation"
    );
    assert_eq!(map.get(k1, &guard), Some(&"one"));
}

#[test]
fn values_stay_valid_for_the_guard() {
    let log = Arc::new(DropLog::default());
    let (_arena, keys) = generations(1, 2);
    let (old, new) = (keys[0][0], keys[0][1]);
    let map = SharedSecondaryMap::new();
    map.insert(old, Val::new(old, 1, &log)).unwrap();
    let guard = pin();
    let v = map.get(old, &guard).unwrap();
    map.insert(new, Val::new(new, 2, &log)).unwrap(); // replaces old's entry
    assert!(map.get(old, &guard).is_none());
    for _ in 0..100 {
        pin().flush();
    }
    assert!(
        v.t.is_intact() && v.key == old && v.t.id == 1,
        "freed under a guard"
    );
    assert_eq!(log.count(), 0);
    drop(guard);
    assert!(reclaim_until(|| log.count() == 1));
    drop(map);
    assert_eq!(log.count(), 2, "the map drops what it holds at once");
}

#[test]
fn exclusive_methods() {
    let log = Arc::new(DropLog::default());
    let (_arena, keys) = generations(40, 1);
    let keys: Vec<Key> = keys.into_iter().map(|g| g[0]).collect();
    let mut map = SharedSecondaryMap::new();
    for (i, &k) in keys.iter().enumerate().rev() {
        map.insert(k, Val::new(k, i as u64, &log)).unwrap();
    }
    assert_eq!(map.len(), 40);
    // Index order, whatever the insertion order.
    let guard = pin();
    let seen: Vec<Key> = map
        .iter(&guard)
        .map(|(k, v)| {
            assert_eq!(k, v.key);
            k
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_by_key(|k| k.index());
    assert_eq!(seen, sorted);
    let it = map.iter(&guard);
    assert_eq!(it.clone().count(), 40);
    drop(guard);

    map.get_mut(keys[3]).unwrap().n = 333;
    let taken = map.take(keys[3]).unwrap();
    assert_eq!((taken.key, taken.n), (keys[3], 333));
    assert!(map.take(keys[3]).is_none());
    drop(taken);
    assert_eq!(
        log.count(),
        1,
        "take drops nothing itself, and needs no grace period"
    );
    for (k, v) in map.iter_mut() {
        assert_eq!(k, v.key);
        v.n += 1000;
    }
    assert!(map.iter(&pin()).all(|(_, v)| v.n == 1000));
    assert_eq!(map.len(), 39);
    map.clear();
    assert_eq!(log.count(), 40, "clear drops at once");
    assert!(map.is_empty());
    assert_eq!(map.iter(&pin()).count(), 0);
    map.insert(keys[0], Val::new(keys[0], 0, &log)).unwrap();
    assert!(format!("{map:?}").starts_with("{Key("));
    drop(map);
    assert_eq!(log.count(), 41);
}

const THREADS: usize = if cfg!(miri) { 2 } else { 4 };
const OPS: usize = if cfg!(miri) { 150 } else { 40_000 };
const INDICES: usize = if cfg!(miri) { 3 } else { 16 };
const GENS: usize = 3;

/// Threads insert, replace, remove and read over a shared set of keys (`INDICES` slots,
/// `GENS` generations each). Checks: a read only ever finds a value inserted under exactly
/// the key asked for, intact, and it stays intact for its guard's life; an insertion is
/// refused only while a newer generation is present; after the threads, the quiescent map
/// agrees with itself (len, iteration, per-key lookups); every value created is dropped
/// exactly once, after the map is dropped and reclamation is driven.
#[test]
fn racing_insert_replace_remove_get() {
    let log = Arc::new(DropLog::default());
    let (_arena, keys) = generations(INDICES, GENS);
    let all: Vec<Key> = keys.iter().flatten().copied().collect();
    let map: SharedSecondaryMap<Key, Val> = SharedSecondaryMap::new();
    let created = AtomicUsize::new(0);

    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (map, all, created, log) = (&map, &all, &created, &log);
            s.spawn(move || {
                let mut rng = Rng::new(t as u64 * 7 + 3);
                for window in 0..OPS / 32 {
                    // A fresh guard per window of 32 operations; values read under it must
                    // stay intact until it drops, whatever the other threads do meanwhile.
                    let guard = pin();
                    let mut held: Vec<(&Val, Key, u64)> = Vec::new();
                    for op in window * 32..window * 32 + 32 {
                        let r = rng.next();
                        let key = all[(r >> 8) as usize % all.len()];
                        match r % 8 {
                            0..=2 => {
                                let id = (t * OPS + op) as u64;
                                created.fetch_add(1, Ordering::Relaxed);
                                if let Err(v) = map.insert(key, Val::new(key, id, log)) {
                                    assert_eq!(v.key, key, "refused value handed back");
                                }
                            }
                            3 => {
                                map.remove(key);
                            }
                            _ => {
                                if let Some(v) = map.get(key, &guard) {
                                    assert_eq!(v.key, key, "a value of another key");
                                    assert!(v.t.is_intact(), "torn or freed value");
                                    if held.len() < 8 {
                                        held.push((v, key, v.t.id));
                                    }
                                }
                            }
                        }
                    }
                    for &(v, key, id) in &held {
                        assert!(
                            v.t.is_intact() && v.key == key && v.t.id == id,
                            "value changed or freed under a guard"
                        );
                    }
                }
            });
        }
    });

    let guard = pin();
    let entries: Vec<(Key, &Val)> = map.iter(&guard).collect();
    assert_eq!(entries.len(), map.len());
    for &(k, v) in &entries {
        assert_eq!(v.key, k);
        assert!(v.t.is_intact());
    }
    // At most one generation per index, and every key agrees with iteration.
    for gens in &keys {
        let present: Vec<Key> = gens
            .iter()
            .copied()
            .filter(|&k| map.get(k, &guard).is_some())
            .collect();
        assert!(
            present.len() <= 1,
            "two generations of one index: {present:?}"
        );
    }
    drop(entries);
    drop(guard);
    let created = created.load(Ordering::Relaxed);
    let remaining = map.len();
    drop(map);
    assert!(
        reclaim_until(|| log.count() == created),
        "dropped {} of {created} ({remaining} were in the map at the end)",
        log.count()
    );
    // Nothing dropped twice (the log would have counted a corrupt drop).
    assert_eq!(log.count(), created);
}
