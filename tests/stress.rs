//! Racing threads (more than cores) on shared keys, with drop counting.

use epoch_arena::{pin, Arena, Key};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use testkit::{reclaim_until, DropLog, Rng, Tracked};

const THREADS: usize = if cfg!(miri) { 3 } else { 6 };
const OPS: usize = if cfg!(miri) { 60 } else { 40_000 };

/// Every thread inserts, reads and removes keys from a shared pool of published keys.
/// Checks: values read are never torn and always the ones inserted under that key; of
/// racing removers exactly one wins; a key seen removed is never readable again; every
/// value is dropped exactly once.
#[test]
fn racing_insert_get_remove_on_shared_keys() {
    let log = Arc::new(DropLog::default());
    let arena: Arena<Tracked> = Arena::new();
    // Published keys with the id their value carries.
    let published: Vec<AtomicU64> = (0..256).map(|_| AtomicU64::new(0)).collect();
    let ids = AtomicU64::new(1);
    let created = AtomicUsize::new(0);
    let removes_won = AtomicUsize::new(0);
    let dead: Mutex<Vec<Key>> = Mutex::new(Vec::new());

    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (arena, published, ids, created, removes_won, dead, log) = (
                &arena,
                &published,
                &ids,
                &created,
                &removes_won,
                &dead,
                &log,
            );
            s.spawn(move || {
                let mut rng = Rng::new(t as u64 + 1);
                let mut handle = if t % 2 == 0 {
                    Some(arena.handle())
                } else {
                    None
                };
                let mut my_dead = Vec::new();
                let mut guard = pin();
                for op in 0..OPS {
                    let r = rng.next();
                    let slot = &published[(r >> 8) as usize % published.len()];
                    match r % 10 {
                        0..=2 => {
                            let id = ids.fetch_add(1, Ordering::Relaxed);
                            let v = Tracked::new(id, log);
                            let k = match handle.as_mut() {
                                Some(h) => h.insert(v),
                                None => arena.insert(v),
                            };
                            created.fetch_add(1, Ordering::Relaxed);
                            // Publish; the key we replace stays live (it may still be removed by
                            // whoever loaded it) or is removed below by us.
                            let old = slot.swap(k.to_bits(), Ordering::AcqRel);
                            if let Some(old) = Key::from_bits(old) {
                                if arena.remove(old) {
                                    removes_won.fetch_add(1, Ordering::Relaxed);
                                    my_dead.push(old);
                                }
                            }
                        }
                        3..=4 => {
                            if let Some(k) = Key::from_bits(slot.load(Ordering::Acquire)) {
                                let won = match handle.as_mut() {
                                    Some(h) => h.remove(k),
                                    None => arena.remove(k),
                                };
                                if won {
                                    removes_won.fetch_add(1, Ordering::Relaxed);
                                    my_dead.push(k);
                                    assert!(!arena.contains(k), "removed key still live");
                                }
                            }
                        }
                        _ => {
                            if let Some(k) = Key::from_bits(slot.load(Ordering::Acquire)) {
                                if let Some(v) = arena.get(k, &guard) {
                                    assert!(v.is_intact(), "torn value");
                                    // The value must be the one published under this key, and it
                                    // must stay readable for the guard's life even if removed now.
                                    let id = v.id;
                                    std::hint::black_box(arena.remove(k)).then(|| {
                                        removes_won.fetch_add(1, Ordering::Relaxed);
                                        my_dead.push(k);
                                    });
                                    assert!(
                                        v.is_intact() && v.id == id,
                                        "value changed under a guard"
                                    );
                                }
                            }
                        }
                    }
                    if op % 64 == 0 {
                        guard.repin();
                        for &k in my_dead.iter().rev().take(8) {
                            assert_eq!(
                                arena.get(k, &guard).map(|v| v.id),
                                None,
                                "dead key readable"
                            );
                        }
                    }
                }
                drop(guard);
                dead.lock().unwrap().extend(my_dead);
            });
        }
    });

    let dead = dead.into_inner().unwrap();
    let mut unique = dead.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), dead.len(), "a key was removed twice");
    assert_eq!(dead.len(), removes_won.load(Ordering::Relaxed));
    let guard = pin();
    for &k in &dead {
        assert!(arena.get(k, &guard).is_none());
    }
    drop(guard);
    let created = created.load(Ordering::Relaxed);
    assert_eq!(arena.len(), created - dead.len());
    let ok = reclaim_until(&arena, || log.count() == dead.len());
    assert!(
        ok,
        "dropped {} of {} removed; stats {:?}",
        log.count(),
        dead.len(),
        arena.stats()
    );
    drop(arena);
    assert_eq!(log.count(), created);
}

/// Readers iterate while writers churn: every yielded value is intact and keys are unique.
#[test]
fn iteration_while_mutating() {
    let log = Arc::new(DropLog::default());
    let arena: Arena<Tracked> = Arena::new();
    let stable: Vec<Key> = (0..100)
        .map(|i| arena.insert(Tracked::new(i, &log)))
        .collect();
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let (arena, log) = (&arena, &log);
            s.spawn(move || {
                let mut h = arena.handle();
                let mut mine = Vec::new();
                for i in 0..(OPS as u64 / 4) {
                    mine.push(h.insert(Tracked::new(1_000_000 * (t + 1) + i, log)));
                    if mine.len() > 50 {
                        let k = mine.swap_remove((i as usize * 7) % mine.len());
                        assert!(h.remove(k));
                    }
                }
            });
        }
        for _ in 0..2 {
            let (arena, stable) = (&arena, &stable);
            s.spawn(move || {
                for _ in 0..(if cfg!(miri) { 2 } else { 200 }) {
                    let guard = pin();
                    let mut last = None;
                    let mut seen_stable = 0;
                    for (k, v) in arena.iter(&guard) {
                        assert!(v.is_intact());
                        assert!(last < Some(k), "keys out of order");
                        last = Some(k);
                        if v.id < 100 {
                            assert_eq!(stable[v.id as usize], k);
                            seen_stable += 1;
                        }
                    }
                    assert_eq!(seen_stable, 100, "a value live throughout was not yielded");
                }
            });
        }
    });
    let created = 100 + 2 * (OPS / 4);
    drop(arena);
    assert_eq!(log.count(), created);
}

/// Many threads insert into one arena at once: all keys distinct, all values readable.
#[test]
fn concurrent_inserts_get_distinct_slots() {
    let arena = Arena::new();
    let per = if cfg!(miri) { 50 } else { 20_000 };
    let keys: Vec<Vec<Key>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..THREADS)
            .map(|t| {
                let arena = &arena;
                s.spawn(move || {
                    (0..per)
                        .map(|i| {
                            if i % 2 == 0 {
                                arena.insert((t, i))
                            } else {
                                arena.handle().insert((t, i))
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all: Vec<u32> = keys.iter().flatten().map(|k| k.index()).collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), THREADS * per);
    assert_eq!(arena.len(), THREADS * per);
    let guard = pin();
    for (t, ks) in keys.iter().enumerate() {
        for (i, &k) in ks.iter().enumerate() {
            assert_eq!(arena.get(k, &guard), Some(&(t, i)));
        }
    }
}
