//! Feature `rayon`: `par_iter_mut`, `par_for_each` (also beside threads that insert and
//! remove), `par_retain` (against `retain`, with exact per-value drop accounting, and with
//! a panicking predicate or drop), `par_extend` and `collect` into an arena.
//!
//! Each test runs in a pool of 4 threads (more than this machine's cores), so that the
//! slot range really is split and walked from several threads.
#![cfg(feature = "rayon")]

use epoch_arena::{new_key_type, pin, Arena, Key};
use proptest::prelude::*;
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use testkit::Rng;

fn pool() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .expect("a rayon pool")
}

/// Per-id drop counts, shared by the values of one test.
struct Drops(Vec<AtomicU32>);

impl Drops {
    fn new(n: usize) -> Arc<Drops> {
        Arc::new(Drops((0..n).map(|_| AtomicU32::new(0)).collect()))
    }
    fn of(&self, id: u64) -> u32 {
        self.0[id as usize].load(Ordering::SeqCst)
    }
}

/// A value with an identity, a slot for mutations, and a drop that counts itself per id
/// (and can be told to panic).
struct Val {
    id: u64,
    bumps: u64,
    drops: Arc<Drops>,
    panic_on_drop: bool,
}

impl Val {
    fn new(id: u64, drops: &Arc<Drops>) -> Val {
        Val {
            id,
            bumps: 0,
            drops: Arc::clone(drops),
            panic_on_drop: false,
        }
    }
}

impl Drop for Val {
    fn drop(&mut self) {
        self.drops.0[self.id as usize].fetch_add(1, Ordering::SeqCst);
        if self.panic_on_drop && !std::thread::panicking() {
            panic!("planned drop panic of {}", self.id);
        }
    }
}

/// How a test arena's holes are made.
#[derive(Clone, Copy, Debug)]
enum Hole {
    /// `take` (freed at once).
    Take,
    /// `remove` (waiting for reclamation: REMOVED slots).
    Remove,
}

/// An arena of `n` values with ids `0..n`, a pseudo-random `hole_pct` percent of which
/// are removed by `hole`, and then `refill` more values (ids `n..n + refill`) that reuse
/// freed slots. Returns the arena, the live ids with their keys, and the dead keys.
fn shaped(
    n: usize,
    hole_pct: u64,
    hole: Hole,
    refill: usize,
    seed: u64,
    drops: &Arc<Drops>,
) -> (Arena<Val>, BTreeMap<u64, Key>, Vec<Key>) {
    let mut arena = Arena::new();
    let mut rng = Rng::new(seed);
    let mut live = BTreeMap::new();
    let mut dead = Vec::new();
    for id in 0..n as u64 {
        live.insert(id, arena.insert(Val::new(id, drops)));
    }
    for id in 0..n as u64 {
        if rng.next() % 100 < hole_pct {
            let key = live.remove(&id).unwrap();
            match hole {
                Hole::Take => drop(arena.take(key).unwrap()),
                Hole::Remove => assert!(arena.remove(key)),
            }
            dead.push(key);
        }
    }
    for id in n as u64..(n + refill) as u64 {
        live.insert(id, arena.insert(Val::new(id, drops)));
    }
    (arena, live, dead)
}

// ---------------------------------------------------------------------------------------
// par_iter_mut

#[test]
fn par_iter_mut_visits_every_live_value_once_and_mutations_stay() {
    for (n, hole) in [
        (0, Hole::Take),
        (1, Hole::Take),
        (50_000, Hole::Take),
        (50_000, Hole::Remove),
    ] {
        let drops = Drops::new(n + 1000);
        let (mut arena, live, _) = shaped(n, 30, hole, n.min(1000), 7, &drops);
        let visits = pool().install(|| {
            arena
                .par_iter_mut()
                .map(|(key, value)| {
                    value.bumps += 1;
                    (value.id, key)
                })
                .collect::<Vec<_>>()
        });
        assert_eq!(visits.len(), live.len(), "n = {n}, {hole:?}");
        let seen: BTreeMap<u64, Key> = visits.into_iter().collect();
        assert_eq!(
            seen, live,
            "each live value, with its own key, exactly once"
        );
        let guard = pin();
        for (&id, &key) in &live {
            let value = arena.get(key, &guard).unwrap();
            assert_eq!(
                (value.id, value.bumps),
                (id, 1),
                "the mutation is seen afterwards"
            );
        }
    }
}

#[test]
fn par_iter_mut_typed_keys_and_short_circuit() {
    new_key_type! { struct Id; }
    let mut arena: Arena<u64, Id> = Arena::with_key();
    let keys: Vec<Id> = (0..20_000u64).map(|i| arena.insert(i)).collect();
    pool().install(|| {
        arena.par_iter_mut().for_each(|(k, v)| {
            assert_eq!(k, keys[*v as usize]);
            *v += 1;
        });
        // `find_any` stops early; whatever it finds is a real entry.
        let (k, v) = arena
            .par_iter_mut()
            .find_any(|(_, v)| **v % 1000 == 0)
            .unwrap();
        assert_eq!(keys[*v as usize - 1], k);
    });
    let guard = pin();
    assert!(keys
        .iter()
        .enumerate()
        .all(|(i, &k)| arena.get(k, &guard) == Some(&(i as u64 + 1))));
}

#[test]
fn empty_arenas() {
    let mut arena: Arena<u64> = Arena::new();
    assert_eq!(arena.par_iter_mut().count(), 0);
    arena.par_for_each(|_, _| panic!("nothing to visit"));
    arena.par_retain(|_, _| panic!("nothing to decide"));
    arena.par_extend(Vec::<u64>::new());
    assert!(arena.is_empty());
    let collected: Arena<u64> = Vec::new().into_par_iter().collect();
    assert!(collected.is_empty());
    // Emptied: slots exist, no value.
    let key = arena.insert(1);
    arena.take(key);
    assert_eq!(arena.par_iter_mut().count(), 0);
    arena.par_for_each(|_, _| panic!("nothing to visit"));
}

// ---------------------------------------------------------------------------------------
// par_for_each

#[test]
fn par_for_each_sees_exactly_the_live_set() {
    for (n, hole) in [(1, Hole::Take), (4097, Hole::Take), (60_000, Hole::Remove)] {
        let drops = Drops::new(n + 500);
        let (arena, live, _) = shaped(n, 40, hole, n.min(500), 11, &drops);
        let seen = std::sync::Mutex::new(Vec::new());
        pool().install(|| {
            arena.par_for_each(|key, value| seen.lock().unwrap().push((value.id, key)));
        });
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.len(), live.len(), "no value twice");
        let seen: BTreeMap<u64, Key> = seen.into_iter().collect();
        let by_iter: BTreeMap<u64, Key> = arena
            .iter(&pin())
            .map(|(key, value)| (value.id, key))
            .collect();
        assert_eq!(seen, by_iter, "the same entries as iter");
        assert_eq!(seen, live);
    }
}

/// A pass beside a thread that inserts and removes: every value visited comes with its own
/// key (each value stores the key it was inserted under), is intact, and was live when its
/// slot was read; every value live for the whole pass is visited exactly once.
#[test]
fn par_for_each_beside_inserts_and_removes() {
    const STABLE: u64 = 30_000;
    /// `(own key, stable index or u64::MAX, intact check)`.
    type V = (Key, u64, u64);
    const MAGIC: u64 = 0x5DEE_CE66_D1CE_4E5B;
    let arena: Arena<V> = Arena::new();
    let stable: Vec<Key> = (0..STABLE)
        .map(|i| arena.insert_with(|k| (k, i, i ^ MAGIC)))
        .collect();
    let stop = AtomicBool::new(false);
    let churned = AtomicUsize::new(0);
    let seen_churned = AtomicUsize::new(0);
    let pool = pool();
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut rng = Rng::new(3);
            let mut mine: Vec<Key> = Vec::new();
            let mut handle = arena.handle();
            // At least one round, even if the passes end before this thread is scheduled
            // (a loaded machine).
            loop {
                for _ in 0..64 {
                    if mine.len() < 5_000 && rng.next().is_multiple_of(2) {
                        mine.push(handle.insert_with(|k| (k, u64::MAX, u64::MAX ^ MAGIC)));
                    } else if !mine.is_empty() {
                        let at = rng.below(mine.len());
                        assert!(handle.remove(mine.swap_remove(at)));
                    }
                    churned.fetch_add(1, Ordering::Relaxed);
                }
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
        });
        /// Stops the churner however the checks end (a failed assertion included), so
        /// that a failure is reported instead of the scope waiting for ever.
        struct StopOnDrop<'a>(&'a AtomicBool);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _stop = StopOnDrop(&stop);
        for _ in 0..20 {
            let visits: Vec<AtomicU32> = (0..STABLE).map(|_| AtomicU32::new(0)).collect();
            let others = AtomicUsize::new(0);
            pool.install(|| {
                arena.par_for_each(|key, &(own, i, check)| {
                    assert_eq!(own, key, "a value visited with another key");
                    assert_eq!(check, i ^ MAGIC, "a torn or dropped value");
                    if i == u64::MAX {
                        others.fetch_add(1, Ordering::Relaxed);
                    } else {
                        assert_eq!(stable[i as usize], key);
                        visits[i as usize].fetch_add(1, Ordering::Relaxed);
                    }
                });
            });
            assert!(visits.iter().all(|v| v.load(Ordering::Relaxed) == 1));
            seen_churned.fetch_add(others.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    });
    assert!(churned.load(Ordering::Relaxed) > 0);
    // Not a requirement, but the passes did overlap the churn.
    println!(
        "churn values visited: {}",
        seen_churned.load(Ordering::Relaxed)
    );
}

/// The pass re-pins: a value removed during a long pass is reclaimed before the pass ends.
#[test]
fn par_for_each_does_not_hold_back_reclamation() {
    let drops = Drops::new(1);
    let arena: Arena<Option<Val>> = Arena::new();
    let victim = arena.insert(Some(Val::new(0, &drops)));
    for _ in 0..200_000 {
        arena.insert(None);
    }
    let reclaimed_during = AtomicBool::new(false);
    // One worker, so the blocks run in order: the victim's removal happens early, and the
    // rest of the pass (hundreds of re-pins) gives the epoch room to advance.
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    one.install(|| {
        arena.par_for_each(|key, _| {
            if key == victim {
                assert!(arena.remove(victim));
                arena.flush();
            } else if drops.of(0) == 0 {
                // Every later slot tries to advance the epoch and collect: only the pass's
                // own guard (re-pinned every 1024 slots) can hold the victim back.
                pin().flush();
            } else if drops.of(0) == 1 {
                reclaimed_during.store(true, Ordering::Relaxed);
            }
        });
    });
    assert!(
        reclaimed_during.load(Ordering::Relaxed),
        "the value was not reclaimed while the pass ran"
    );
}

// ---------------------------------------------------------------------------------------
// par_retain

/// `par_retain` on one arena and `retain` on one built by the same operations leave the
/// same values; stale keys are dead; `len` is right; each rejected value is dropped exactly
/// once, each kept one not at all; freed slots come back with new generations. (Values are
/// compared by id: with `remove`d holes the refill may land in different slots.)
fn check_par_retain_equals_retain(n: usize, hole_pct: u64, hole: Hole, modulus: u64, seed: u64) {
    let reject = move |id: u64| (id.wrapping_mul(0x9E37_79B9) >> 7).is_multiple_of(modulus);
    let total = n + n.min(700);
    let (seq_drops, par_drops) = (Drops::new(total), Drops::new(total));
    let (mut seq, seq_live, _) = shaped(n, hole_pct, hole, n.min(700), seed, &seq_drops);
    let (mut par, par_live, par_dead) = shaped(n, hole_pct, hole, n.min(700), seed, &par_drops);
    assert!(
        seq_live.keys().eq(par_live.keys()),
        "same operations, same ids"
    );

    seq.retain(|_, v| {
        v.bumps += 1;
        !reject(v.id)
    });
    pool().install(|| {
        par.par_retain(|key, v| {
            assert_eq!(par_live[&v.id], key, "the value's own key");
            v.bumps += 1;
            !reject(v.id)
        })
    });

    let entries = |arena: &Arena<Val>| -> BTreeMap<u64, u64> {
        arena.iter(&pin()).map(|(_, v)| (v.id, v.bumps)).collect()
    };
    let kept = entries(&par);
    assert_eq!(kept, entries(&seq), "same values as retain");
    assert_eq!(par.len(), kept.len());
    assert_eq!(par.len(), seq.len());
    assert_eq!(par.stats().live, kept.len());
    let guard = pin();
    for (&id, &key) in &par_live {
        if reject(id) {
            assert_eq!(par_drops.of(id), 1, "rejected value {id} dropped once");
            assert!(
                par.get(key, &guard).is_none(),
                "stale key of {id} finds nothing"
            );
        } else {
            assert_eq!(par_drops.of(id), 0, "kept value {id} not dropped");
            assert_eq!(par.get(key, &guard).map(|v| (v.id, v.bumps)), Some((id, 1)));
        }
    }
    for &key in &par_dead {
        assert!(par.get(key, &guard).is_none());
    }
    drop(guard);
    // Refill the freed slots: no new key equals an old one, and the old ones stay dead.
    let old: BTreeSet<Key> = par_live.values().chain(&par_dead).copied().collect();
    let rejected = par_live.keys().filter(|&&id| reject(id)).count();
    let extra = Drops::new(rejected + 1);
    for i in 0..=rejected as u64 {
        let key = par.insert(Val::new(i, &extra));
        assert!(!old.contains(&key), "a key was reissued");
    }
    assert_eq!(par.len(), kept.len() + rejected + 1);
    let guard = pin();
    for (&id, &key) in &par_live {
        assert_eq!(par.get(key, &guard).is_some(), !reject(id));
    }
    drop(guard);
    drop(par);
    drop(seq);
    for id in 0..total as u64 {
        assert_eq!(
            par_drops.of(id),
            1,
            "value {id} dropped exactly once in all"
        );
        assert_eq!(seq_drops.of(id), 1);
    }
}

#[test]
fn par_retain_equals_retain_shapes() {
    check_par_retain_equals_retain(0, 0, Hole::Take, 2, 1);
    check_par_retain_equals_retain(1, 0, Hole::Take, 1, 1);
    check_par_retain_equals_retain(40_000, 0, Hole::Take, 2, 2);
    check_par_retain_equals_retain(40_000, 25, Hole::Take, 3, 3);
    check_par_retain_equals_retain(40_000, 25, Hole::Remove, 3, 4);
    check_par_retain_equals_retain(9_000, 90, Hole::Remove, 1, 5); // reject everything
    check_par_retain_equals_retain(9_000, 10, Hole::Take, u64::MAX, 6); // keep almost all
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn par_retain_equals_retain(
        n in 0usize..12_000,
        hole_pct in 0u64..100,
        remove in any::<bool>(),
        modulus in 1u64..6,
        seed in any::<u64>(),
    ) {
        let hole = if remove { Hole::Remove } else { Hole::Take };
        check_par_retain_equals_retain(n, hole_pct, hole, modulus, seed);
    }
}

/// A predicate that panics on one worker: nothing is removed, every value is still there
/// (and dropped exactly once in the end), and the arena keeps working.
#[test]
fn par_retain_with_a_panicking_predicate_leaves_a_valid_arena() {
    const N: u64 = 30_000;
    let drops = Drops::new(N as usize + 10);
    let mut arena = Arena::new();
    let keys: Vec<Key> = (0..N).map(|i| arena.insert(Val::new(i, &drops))).collect();
    let pool = pool();
    let r = catch_unwind(AssertUnwindSafe(|| {
        pool.install(|| {
            arena.par_retain(|_, v| {
                if v.id == 20_021 {
                    panic!("planned predicate panic");
                }
                v.id % 2 == 0
            })
        })
    }));
    assert!(r.is_err(), "the panic propagates");
    assert_eq!(arena.len(), N as usize, "nothing removed");
    assert_eq!(arena.iter(&pin()).count(), N as usize);
    assert!((0..N).all(|id| drops.of(id) == 0), "nothing dropped");
    // Still a working arena: a sequential and a parallel retain, then insertions.
    arena.retain(|_, v| v.id % 3 != 0);
    pool.install(|| arena.par_retain(|_, v| v.id % 2 == 0));
    let guard = pin();
    for (id, &key) in keys.iter().enumerate() {
        let id = id as u64;
        let kept = !id.is_multiple_of(3) && id.is_multiple_of(2);
        assert_eq!(arena.get(key, &guard).is_some(), kept);
        assert_eq!(drops.of(id), u32::from(!kept));
    }
    drop(guard);
    let kept = arena.len();
    let fresh: Vec<Key> = (N..N + 10)
        .map(|i| arena.insert(Val::new(i, &drops)))
        .collect();
    assert!(fresh.iter().all(|k| !keys.contains(k)));
    assert_eq!(arena.len(), kept + 10);
    drop(arena);
    assert!(
        (0..N + 10).all(|id| drops.of(id) == 1),
        "every value dropped exactly once"
    );
}

/// A value whose drop panics in the second phase: the panic propagates, the arena stays
/// consistent (its `len` counts what `iter` finds), and every value is dropped exactly once
/// by the end.
#[test]
fn par_retain_with_a_panicking_drop_leaves_a_valid_arena() {
    const N: u64 = 20_000;
    let drops = Drops::new(N as usize);
    let mut arena = Arena::new();
    for i in 0..N {
        let mut v = Val::new(i, &drops);
        v.panic_on_drop = i == 777;
        arena.insert(v);
    }
    let r = catch_unwind(AssertUnwindSafe(|| {
        pool().install(|| arena.par_retain(|_, v| v.id % 2 == 0 && v.id != 777))
    }));
    assert!(r.is_err(), "the drop's panic propagates");
    assert_eq!(drops.of(777), 1);
    let left = arena.iter(&pin()).count();
    assert_eq!(arena.len(), left);
    assert!(left >= (N / 2) as usize);
    arena.par_retain(|_, v| v.id % 2 == 0);
    assert_eq!(arena.len(), (N / 2) as usize);
    drop(arena);
    assert!(
        (0..N).all(|id| drops.of(id) == 1),
        "every value dropped exactly once"
    );
}

// ---------------------------------------------------------------------------------------
// par_extend and collect

#[test]
fn par_extend_inserts_the_input_multiset() {
    let mut arena: Arena<u64> = Arena::new();
    let before: Vec<Key> = (0..100).map(|i| arena.insert(i % 7)).collect();
    for &k in before.iter().step_by(3) {
        arena.take(k);
    }
    let mut expected: Vec<u64> = arena.values(&pin()).copied().collect();
    let input: Vec<u64> = (0..200_000u64).map(|i| i % 5_003).collect();
    pool().install(|| arena.par_extend(input.par_iter().copied()));
    expected.extend(&input);
    expected.sort_unstable();
    assert_eq!(arena.len(), expected.len());
    assert_eq!(arena.stats().live, expected.len());
    let mut got: Vec<u64> = arena.values(&pin()).copied().collect();
    got.sort_unstable();
    assert_eq!(got, expected);
    // Every key found by iter is live and distinct.
    let keys: BTreeSet<Key> = arena.keys(&pin()).collect();
    assert_eq!(keys.len(), expected.len());
    assert!(keys.iter().all(|&k| arena.contains(k)));
}

#[test]
fn collect_into_an_arena_owns_and_drops_every_value() {
    new_key_type! { struct Id; }
    const N: u64 = 50_000;
    let drops = Drops::new(N as usize);
    let arena: Arena<Val, Id> = pool().install(|| {
        (0..N)
            .into_par_iter()
            .map(|i| Val::new(i, &drops))
            .collect()
    });
    assert_eq!(arena.len(), N as usize);
    let mut ids: Vec<u64> = arena.values(&pin()).map(|v| v.id).collect();
    ids.sort_unstable();
    assert!(ids.iter().copied().eq(0..N));
    drop(arena);
    assert!((0..N).all(|id| drops.of(id) == 1));
}

#[test]
fn par_extend_into_a_full_arena_panics_and_keeps_what_was_inserted() {
    let drops = Drops::new(400);
    let mut arena = Arena::builder().max_slots(300).build();
    let r = catch_unwind(AssertUnwindSafe(|| {
        pool()
            .install(|| arena.par_extend((0..400u64).into_par_iter().map(|i| Val::new(i, &drops))))
    }));
    assert!(r.is_err(), "the key space fills up");
    let len = arena.len();
    assert!(len <= 300 && len == arena.iter(&pin()).count());
    drop(arena);
    // Inserted or not, every value made is dropped exactly once.
    let made = (0..400).filter(|&id| drops.of(id) > 0).count();
    assert!(made >= len);
    assert!((0..400).all(|id| drops.of(id) <= 1));
}
