//! `SecondaryMap` (owned): slotmap's `SecondaryMap` behaviours with keys of a real arena,
//! stale keys made by `take` and slot reuse, and a proptest against a `HashMap` model.

use epoch_arena::secondary::Entry;
use epoch_arena::{new_key_type, Arena, Key, SecondaryMap};
use std::collections::HashMap;

/// Two keys of the same index, `old` then `new` (the slot reused), from a real arena.
fn reused_pair(arena: &mut Arena<u32>) -> (Key, Key) {
    let old = arena.insert(0);
    arena.take(old);
    let new = arena.insert(1);
    assert_eq!(old.index(), new.index(), "take then insert reuses the slot");
    assert!(new.generation() > old.generation());
    (old, new)
}

#[test]
fn basic_insert_get_remove() {
    let arena = Arena::new();
    let keys: Vec<Key> = (0..10).map(|i| arena.insert(i)).collect();
    let mut map = SecondaryMap::new();
    assert!(map.is_empty());
    for (i, &k) in keys.iter().enumerate() {
        assert_eq!(map.insert(k, i * 10), None);
    }
    assert_eq!(map.len(), 10);
    for (i, &k) in keys.iter().enumerate() {
        assert_eq!(map.get(k), Some(&(i * 10)));
        assert_eq!(map[k], i * 10);
        assert!(map.contains_key(k));
    }
    assert_eq!(map.insert(keys[3], 33), Some(30));
    map[keys[4]] += 1;
    assert_eq!(map[keys[4]], 41);
    assert_eq!(map.remove(keys[3]), Some(33));
    assert_eq!(map.remove(keys[3]), None);
    assert!(!map.contains_key(keys[3]));
    assert_eq!(map.len(), 9);
}

#[test]
fn stale_key_finds_nothing_and_newer_replaces() {
    let mut arena = Arena::new();
    let (old, new) = reused_pair(&mut arena);
    let mut map = SecondaryMap::new();
    map.insert(old, "old");
    assert_eq!(
        map.get(new),
        None,
        "the newer key does not see the older entry"
    );
    assert_eq!(map.remove(new), None, "nor removes it");
    assert_eq!(map.len(), 1);
    // A newer generation replaces the older entry (returning None: not the same key).
    assert_eq!(map.insert(new, "new"), None);
    assert_eq!(map.len(), 1);
    assert_eq!(map.get(old), None);
    assert_eq!(map.get(new), Some(&"new"));
}

#[test]
fn older_key_is_refused() {
    let mut arena = Arena::new();
    let (old, new) = reused_pair(&mut arena);
    let mut map = SecondaryMap::new();
    map.insert(new, String::from("new"));
    // slotmap: insert with an older key does nothing and returns None.
    assert_eq!(map.insert(old, String::from("old")), None);
    assert_eq!(map.get(new).map(String::as_str), Some("new"));
    assert_eq!(map.get(old), None);
    assert_eq!(map.len(), 1);
    assert!(map.entry(old).is_none(), "entry refuses a stale key");
    assert_eq!(map.remove(old), None);
    // Once the newer entry is gone, the index is free for any generation.
    assert_eq!(map.remove(new).as_deref(), Some("new"));
    assert_eq!(map.insert(old, String::from("old")), None);
    assert_eq!(map.get(old).map(String::as_str), Some("old"));
}

#[test]
fn entry_api() {
    let mut arena = Arena::new();
    let (old, new) = reused_pair(&mut arena);
    let other = arena.insert(2);
    let mut map: SecondaryMap<Key, Vec<u32>> = SecondaryMap::new();

    map.entry(other).unwrap().or_default().push(1);
    #[allow(clippy::unwrap_or_default)] // `or_insert_with` is what is tested
    map.entry(other).unwrap().or_insert_with(Vec::new).push(2);
    assert_eq!(map[other], [1, 2]);
    map.entry(other)
        .unwrap()
        .and_modify(|v| v.push(3))
        .or_insert(vec![99]);
    assert_eq!(map[other], [1, 2, 3]);
    assert_eq!(map.entry(other).unwrap().key(), other);

    // Vacant for an older entry; inserting replaces it.
    map.insert(old, vec![7]);
    match map.entry(new).unwrap() {
        Entry::Vacant(e) => {
            assert_eq!(e.key(), new);
            e.insert(vec![8]).push(9);
        }
        Entry::Occupied(_) => panic!("an older generation's entry is vacant for a newer key"),
    }
    assert_eq!(map.get(new), Some(&vec![8, 9]));
    assert_eq!(map.get(old), None);
    assert_eq!(map.len(), 2);

    match map.entry(new).unwrap() {
        Entry::Occupied(mut e) => {
            assert_eq!(e.key(), new);
            assert_eq!(e.get(), &[8, 9]);
            e.get_mut().push(10);
            assert_eq!(e.insert(vec![1]), [8, 9, 10]);
            e.into_mut().push(2);
        }
        Entry::Vacant(_) => panic!("occupied"),
    }
    assert_eq!(map[new], [1, 2]);
    let Some(Entry::Occupied(e)) = map.entry(new) else {
        panic!("occupied")
    };
    assert_eq!(e.remove(), [1, 2]);
    assert_eq!(map.len(), 1);
    assert!(matches!(map.entry(new), Some(Entry::Vacant(_))));
    assert!(map.entry(old).is_some(), "nothing newer is stored now");
}

#[test]
fn entry_does_not_grow_the_map_until_insert() {
    let arena = Arena::new();
    let keys: Vec<Key> = (0..100).map(|i| arena.insert(i)).collect();
    let mut map: SecondaryMap<Key, u8> = SecondaryMap::new();
    assert!(matches!(map.entry(keys[99]), Some(Entry::Vacant(_))));
    assert_eq!(map.capacity(), 0);
    assert!(map.is_empty());
}

#[test]
fn retain_clear_drain() {
    let arena = Arena::new();
    let keys: Vec<Key> = (0..20).map(|i| arena.insert(i)).collect();
    let mut map: SecondaryMap<Key, usize> = keys.iter().copied().zip(0..).collect();
    let mut seen = Vec::new();
    map.retain(|k, v| {
        seen.push(k);
        *v += 100;
        *v % 3 == 0
    });
    let mut sorted = keys.clone();
    sorted.sort_by_key(|k| k.index());
    assert_eq!(seen, sorted, "retain visits every entry in index order");
    assert_eq!(map.len(), 6); // 102, 105, 108, 111, 114, 117
    assert!(map.values().all(|v| v % 3 == 0));

    let drained: Vec<(Key, usize)> = map.drain().collect();
    assert_eq!(drained.len(), 6);
    assert!(drained.windows(2).all(|w| w[0].0.index() < w[1].0.index()));
    assert!(map.is_empty());
    assert_eq!(map.iter().count(), 0);

    map.extend(keys.iter().map(|&k| (k, 1)));
    let mut drain = map.drain();
    assert_eq!(drain.len(), 20);
    drain.next();
    assert_eq!(drain.len(), 19);
    drop(drain); // the rest are dropped
    assert!(map.is_empty());
    assert_eq!(map.get(keys[5]), None);

    map.extend(keys.iter().map(|&k| (k, 1)));
    let cap = map.capacity();
    map.clear();
    assert!(map.is_empty());
    assert_eq!(map.capacity(), cap);
    assert_eq!(map.get(keys[0]), None);
}

#[test]
fn iteration_is_in_index_order_with_exact_sizes() {
    let mut arena = Arena::new();
    let keys: Vec<Key> = (0..50).map(|i| arena.insert(i)).collect();
    // Insert in reverse, skipping some, so insertion order differs from index order.
    let mut map = SecondaryMap::new();
    for &k in keys.iter().rev().filter(|k| k.index() % 3 != 0) {
        map.insert(k, k.index());
    }
    let n = map.len();
    let mut it = map.iter();
    assert_eq!(it.size_hint(), (n, Some(n)));
    let first = it.next().unwrap();
    assert_eq!(it.len(), n - 1);
    let rest: Vec<_> = it.clone().collect();
    assert_eq!(it.count(), n - 1);
    assert_eq!(rest.len(), n - 1);
    assert!(first.0.index() < rest[0].0.index());

    let indices: Vec<u32> = map.keys().map(|k| k.index()).collect();
    let mut sorted = indices.clone();
    sorted.sort();
    assert_eq!(indices, sorted);
    assert_eq!(map.keys().len(), n);
    assert_eq!(map.values().len(), n);
    assert_eq!(map.values_mut().len(), n);
    assert_eq!(map.iter_mut().len(), n);
    assert!(map.iter().all(|(k, &v)| k.index() == v));
    for v in map.values_mut() {
        *v += 1;
    }
    for (k, v) in &mut map {
        assert_eq!(*v, k.index() + 1);
    }
    assert_eq!((&map).into_iter().len(), n);

    // Fused: None stays None.
    let mut keys_it = map.keys();
    keys_it.by_ref().for_each(drop);
    assert_eq!(keys_it.next(), None);
    assert_eq!(keys_it.len(), 0);

    // Owned iteration.
    let owned = map.clone();
    let mut into = owned.into_iter();
    assert_eq!(into.len(), n);
    let all: Vec<(Key, u32)> = into.by_ref().collect();
    assert_eq!(all.len(), n);
    assert_eq!(into.next(), None);
    assert!(all.windows(2).all(|w| w[0].0.index() < w[1].0.index()));

    // A stale key of a reused slot is not yielded once replaced.
    let k0 = keys[1];
    arena.take(k0);
    let k0_new = arena.insert(0);
    assert_eq!(k0_new.index(), k0.index());
    map.insert(k0_new, 1000);
    assert!(map.keys().all(|k| k != k0));
    assert!(map.keys().any(|k| k == k0_new));
}

#[test]
fn from_iter_extend_clone_eq_debug() {
    let arena = Arena::new();
    let keys: Vec<Key> = (0..5).map(|i| arena.insert(i)).collect();
    let map: SecondaryMap<Key, u32> = keys.iter().map(|&k| (k, k.index())).collect();
    assert_eq!(map.len(), 5);
    let mut other = SecondaryMap::new();
    other.extend(keys.iter().rev().map(|&k| (k, k.index())));
    assert_eq!(map, other, "equality ignores insertion order");
    let clone = map.clone();
    assert_eq!(clone, map);
    other[keys[2]] = 99;
    assert_ne!(other, map);
    other.remove(keys[2]);
    assert_ne!(other, map);
    assert_eq!(SecondaryMap::<Key, u32>::default(), SecondaryMap::new());
    let small: SecondaryMap<Key, u32> = [(keys[0], 7)].into_iter().collect();
    assert_eq!(format!("{small:?}"), format!("{{{:?}: 7}}", keys[0]));
}

#[test]
#[should_panic(expected = "no SecondaryMap entry for key Key(")]
fn index_panics_naming_the_key() {
    let arena = Arena::new();
    let key = arena.insert(());
    let map: SecondaryMap<Key, u8> = SecondaryMap::new();
    let _ = map[key];
}

new_key_type! {
    struct NodeId;
}

#[test]
fn typed_keys() {
    let arena: Arena<&str, NodeId> = Arena::default();
    let a = arena.insert("a");
    let mut names: SecondaryMap<NodeId, String> = SecondaryMap::new();
    names.insert(a, "A".to_string());
    assert_eq!(names[a], "A");
    let (k, v) = names.iter().next().unwrap();
    assert_eq!((k, v.as_str()), (a, "A"));
}

#[test]
fn values_dropped_exactly_once() {
    use std::rc::Rc;
    let counter = Rc::new(());
    let mut arena = Arena::new();
    let (old, new) = reused_pair(&mut arena);
    let keys: Vec<Key> = (0..10).map(|i| arena.insert(i)).collect();
    let mut map = SecondaryMap::new();
    for &k in &keys {
        map.insert(k, Rc::clone(&counter));
    }
    map.insert(old, Rc::clone(&counter));
    map.insert(new, Rc::clone(&counter)); // drops old's
    map.insert(old, Rc::clone(&counter)); // refused: dropped
    assert_eq!(Rc::strong_count(&counter), 1 + 11);
    map.retain(|k, _| k.index() % 2 == 0);
    let left = map.len();
    assert_eq!(Rc::strong_count(&counter), 1 + left);
    let mut drain = map.drain();
    drain.next();
    drop(drain);
    assert_eq!(Rc::strong_count(&counter), 1);
}

/// The proptest: random operations on keys of a real arena (live and stale, several
/// generations per index) against a `HashMap<Key, V>` holding, per index, the entry the map
/// should hold.
mod model {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        /// Insert with key number `k` of the pool.
        Insert(usize, u32),
        Remove(usize),
        Get(usize),
        Entry(usize, u32),
        Retain(u32),
        /// Take a live arena key and insert anew (makes stale keys and newer generations).
        Recycle(usize),
        Drain,
        Clear,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (any::<usize>(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            3 => any::<usize>().prop_map(Op::Remove),
            3 => any::<usize>().prop_map(Op::Get),
            3 => (any::<usize>(), any::<u32>()).prop_map(|(k, v)| Op::Entry(k, v)),
            1 => any::<u32>().prop_map(Op::Retain),
            4 => any::<usize>().prop_map(Op::Recycle),
            1 => Just(Op::Drain),
            1 => Just(Op::Clear),
        ]
    }

    /// The model: per index, the key and value the map holds.
    type Model = HashMap<u32, (Key, u32)>;

    fn insert_model(model: &mut Model, key: Key, value: u32) -> Option<u32> {
        match model.get(&key.index()) {
            Some(&(k, old)) if k == key => {
                model.insert(key.index(), (key, value));
                Some(old)
            }
            Some(&(k, _)) if k.generation() > key.generation() => None,
            _ => {
                model.insert(key.index(), (key, value));
                None
            }
        }
    }

    fn check(map: &SecondaryMap<Key, u32>, model: &Model, pool: &[Key]) {
        assert_eq!(map.len(), model.len());
        let mut expected: Vec<(Key, u32)> = model.values().copied().collect();
        expected.sort_by_key(|(k, _)| k.index());
        let got: Vec<(Key, u32)> = map.iter().map(|(k, &v)| (k, v)).collect();
        assert_eq!(got, expected);
        assert_eq!(map.iter().len(), model.len());
        for &k in pool {
            let want = model.get(&k.index()).filter(|e| e.0 == k).map(|e| e.1);
            assert_eq!(map.get(k).copied(), want, "{k:?}");
            assert_eq!(map.contains_key(k), want.is_some());
        }
    }

    fn run(ops: &[Op]) {
        let mut arena = Arena::new();
        let mut live: Vec<Key> = (0..8).map(|i| arena.insert(i)).collect();
        // Every key ever issued: stale ones included.
        let mut pool: Vec<Key> = live.clone();
        let mut map: SecondaryMap<Key, u32> = SecondaryMap::new();
        let mut model = Model::new();
        for op in ops {
            match *op {
                Op::Insert(k, v) => {
                    let key = pool[k % pool.len()];
                    assert_eq!(map.insert(key, v), insert_model(&mut model, key, v));
                }
                Op::Remove(k) => {
                    let key = pool[k % pool.len()];
                    let want = match model.get(&key.index()) {
                        Some(&(mk, v)) if mk == key => {
                            model.remove(&key.index());
                            Some(v)
                        }
                        _ => None,
                    };
                    assert_eq!(map.remove(key), want);
                }
                Op::Get(k) => {
                    let key = pool[k % pool.len()];
                    let want = model.get(&key.index()).filter(|e| e.0 == key).map(|e| e.1);
                    assert_eq!(map.get(key).copied(), want);
                    assert_eq!(map.get_mut(key).copied(), want);
                }
                Op::Entry(k, v) => {
                    let key = pool[k % pool.len()];
                    let refused = matches!(
                        model.get(&key.index()),
                        Some(&(mk, _)) if mk.generation() > key.generation()
                    );
                    match map.entry(key) {
                        None => assert!(refused),
                        Some(e) => {
                            assert!(!refused);
                            let now = *e.and_modify(|x| *x = x.wrapping_add(1)).or_insert(v);
                            let want = match model.get(&key.index()) {
                                Some(&(mk, old)) if mk == key => old.wrapping_add(1),
                                _ => v,
                            };
                            assert_eq!(now, want);
                            model.insert(key.index(), (key, want));
                        }
                    }
                }
                Op::Retain(m) => {
                    let m = m % 4 + 2;
                    map.retain(|_, v| *v % m != 0);
                    model.retain(|_, e| e.1 % m != 0);
                }
                Op::Recycle(k) => {
                    let i = k % live.len();
                    arena.take(live[i]);
                    let key = arena.insert(0);
                    live[i] = key;
                    pool.push(key);
                }
                Op::Drain => {
                    let n = map.drain().count();
                    assert_eq!(n, model.len());
                    model.clear();
                }
                Op::Clear => {
                    map.clear();
                    model.clear();
                }
            }
            check(&map, &model, &pool);
        }
    }

    proptest! {
        #![proptest_config(testkit::proptest_config(128, 2))]

        #[test]
        fn secondary_map_matches_model(
            ops in proptest::collection::vec(op(), 0..if cfg!(miri) { 20 } else { 200 })
        ) {
            run(&ops);
        }
    }
}

/// `AtomicKey`'s `Trace` (the collector follows it) and `Relocate` (compaction rewrites it).
#[test]
fn atomic_key_traces_and_relocates() {
    use epoch_arena::{pin, AnyRemap, AtomicKey, Relocate, Trace, Tracer};
    use std::sync::atomic::Ordering;

    struct Node(u32, AtomicKey);
    impl Trace for Node {
        fn trace(&self, tracer: &mut Tracer<'_>) {
            self.1.trace(tracer);
        }
    }
    impl Relocate for Node {
        fn relocate(&mut self, remap: &AnyRemap) {
            self.1.relocate(remap);
        }
    }

    let mut arena = Arena::new();
    let hole = arena.insert(Node(0, AtomicKey::default()));
    let head = arena.insert(Node(1, AtomicKey::default()));
    let tail = arena.insert(Node(2, AtomicKey::default()));
    // Linked after both exist, so the tail has the highest index and moves in `compact`.
    arena
        .get(head, &pin())
        .unwrap()
        .1
        .store(Some(tail), Ordering::Release);
    let stats = arena.collect([head]);
    assert_eq!(
        (stats.marked, stats.swept),
        (2, 1),
        "the link kept the tail alive"
    );
    assert!(!arena.contains(hole));
    let remap = arena.compact_with(|n, r| n.relocate(r));
    let new_tail = remap.get(tail).unwrap();
    assert_ne!(new_tail, tail, "the tail moved");
    let (head, tail) = (remap.get(head).unwrap(), new_tail);
    let guard = pin();
    let link = arena.get(head, &guard).unwrap().1.load(Ordering::Acquire);
    assert_eq!(link, Some(tail), "the link was rewritten");
    assert_eq!(arena.get(tail, &guard).unwrap().0, 2);
}
