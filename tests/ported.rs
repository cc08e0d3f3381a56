//! Behaviours the test suites of slotmap, thunderdome and generational-arena check, ported
//! to the features they rely on: typed keys, `get_disjoint_mut`, `keys`/`values`, by-value
//! iteration, `FromIterator`/`Extend`, `Clone`, `reserve`, exact `size_hint`, the vacant
//! entry, weak keys upgraded with `try_root`, and the errors of `try_insert`/`try_collect`.

use epoch_arena::{new_key_type, pin, Arena, CollectError, InsertErrorKind, Key, Trace, Tracer};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

new_key_type! {
    struct NodeId;
    struct StyleId;
}

/// Counts live instances, so every drop is accounted for.
#[derive(Debug)]
struct Counted(u32, Arc<AtomicUsize>);

impl Counted {
    fn new(v: u32, live: &Arc<AtomicUsize>) -> Self {
        live.fetch_add(1, SeqCst);
        Counted(v, live.clone())
    }
}

impl Clone for Counted {
    fn clone(&self) -> Self {
        Counted::new(self.0, &self.1)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_sub(1, SeqCst);
    }
}

#[test]
fn typed_keys_name_their_own_arena() {
    // slotmap `new_key_type!`: keys of two maps have distinct types; a key's Debug names it.
    let nodes: Arena<&str, NodeId> = Arena::with_key();
    let styles: Arena<u32, StyleId> = Arena::with_capacity_and_key(4);
    let n = nodes.insert("div");
    let s = styles.insert(700);
    let guard = pin();
    assert_eq!(nodes.get(n, &guard), Some(&"div"));
    assert_eq!(styles.get(s, &guard), Some(&700));
    assert!(format!("{n:?}").starts_with("NodeId("));
    assert_eq!(Key::from(n), epoch_arena::ArenaKey::to_key(n));
    assert_eq!(std::mem::size_of::<Option<NodeId>>(), 8);
    let json = serde_json::to_string(&n).unwrap();
    assert_eq!(serde_json::from_str::<NodeId>(&json).unwrap(), n);
}

#[test]
fn get_disjoint_mut_refuses_aliases_and_dead_keys() {
    // slotmap `get_disjoint_mut`, thunderdome `get2_mut`.
    let mut arena: Arena<u32, NodeId> = Arena::with_key();
    let keys: Vec<NodeId> = (0..4).map(|i| arena.insert(i)).collect();
    let [a, b, c] = arena.get_disjoint_mut([keys[2], keys[0], keys[3]]).unwrap();
    (*a, *b, *c) = (*a + 10, *b + 20, *c + 30);
    assert_eq!(arena.get_mut(keys[0]), Some(&mut 20));
    assert_eq!(arena.get_mut(keys[2]), Some(&mut 12));
    assert!(arena.get_disjoint_mut([keys[1], keys[1]]).is_none());
    assert!(arena.get_disjoint_mut::<0>([]).is_some());
    arena.take(keys[1]);
    assert!(arena.get_disjoint_mut([keys[0], keys[1]]).is_none());
    // The slot reused by another value: the old key is still refused.
    let reused = arena.insert(99);
    assert_eq!(reused.to_key_index(), keys[1].to_key_index());
    assert!(arena.get_disjoint_mut([keys[1]]).is_none());
    assert_eq!(arena.get_disjoint_mut([reused]).map(|[v]| *v), Some(99));
}

trait KeyIndex {
    fn to_key_index(self) -> u32;
}

impl<K: epoch_arena::ArenaKey> KeyIndex for K {
    fn to_key_index(self) -> u32 {
        self.to_key().index()
    }
}

#[test]
fn keys_values_and_values_mut_follow_index_order() {
    let mut arena = Arena::new();
    let keys: Vec<Key> = (0..5).map(|i| arena.insert(i * 10)).collect();
    arena.remove(keys[1]);
    let guard = pin();
    let live: Vec<Key> = arena.keys(&guard).collect();
    assert_eq!(live, [keys[0], keys[2], keys[3], keys[4]]);
    let values: Vec<i32> = arena.values(&guard).copied().collect();
    assert_eq!(values, [0, 20, 30, 40]);
    // `Iter: Clone`: a copy resumes from the same place.
    let mut iter = arena.iter(&guard);
    iter.next();
    let rest: Vec<Key> = iter.clone().map(|(k, _)| k).collect();
    assert_eq!(rest, [keys[2], keys[3], keys[4]]);
    assert_eq!(iter.count(), 3);
    drop(guard);
    arena.values_mut().for_each(|v| *v += 1);
    let guard = pin();
    assert_eq!(arena.values(&guard).sum::<i32>(), 94);
}

#[test]
fn exclusive_iterators_have_exact_sizes_and_stay_fused() {
    let mut arena = Arena::new();
    let keys: Vec<Key> = (0..10).map(|i| arena.insert(i)).collect();
    for &k in &keys[..4] {
        arena.take(k);
    }
    let mut iter = arena.iter_mut();
    assert_eq!(iter.len(), 6);
    iter.next();
    assert_eq!(iter.size_hint(), (5, Some(5)));
    assert_eq!(iter.by_ref().count(), 5);
    assert!(iter.next().is_none() && iter.next().is_none());
    assert_eq!(arena.values_mut().len(), 6);
    let mut drain = arena.drain();
    assert_eq!(drain.len(), 6);
    drain.next();
    assert_eq!(drain.len(), 5);
    drop(drain); // drops the rest
    assert!(arena.is_empty());
}

#[test]
fn into_iter_yields_every_value_and_drops_the_rest() {
    // slotmap `into_iter`, generational-arena `IntoIterator for Arena`.
    let live = Arc::new(AtomicUsize::new(0));
    let arena: Arena<Counted> = Arena::new();
    let keys: Vec<Key> = (0..6)
        .map(|i| arena.insert(Counted::new(i, &live)))
        .collect();
    arena.remove(keys[0]);
    let mut iter = arena.into_iter();
    assert_eq!(iter.len(), 5);
    let (k, v) = iter.next().unwrap();
    assert_eq!((k, v.0), (keys[1], 1));
    drop(v);
    assert_eq!(iter.len(), 4);
    drop(iter);
    epoch_arena::pin().flush();
    assert_eq!(live.load(SeqCst), 0, "every value dropped once");

    let arena: Arena<u32> = (0..3).collect();
    let all: Vec<(Key, u32)> = arena.into_iter().collect();
    assert_eq!(all.iter().map(|&(_, v)| v).collect::<Vec<_>>(), [0, 1, 2]);
}

#[test]
fn from_iterator_extend_and_reserve() {
    let mut arena: Arena<char, NodeId> = "ab".chars().collect();
    assert_eq!(arena.len(), 2);
    arena.extend("cde".chars());
    assert_eq!(arena.len(), 5);
    let guard = pin();
    let mut values: Vec<char> = arena.values(&guard).copied().collect();
    values.sort_unstable();
    assert_eq!(values, ['a', 'b', 'c', 'd', 'e']);
    drop(guard);
    // thunderdome/slotmap `reserve`: room for that many more without growing.
    let arena: Arena<u64> = Arena::new();
    arena.reserve(1000);
    let capacity = arena.capacity();
    assert!(capacity >= 1000);
    for i in 0..1000 {
        arena.insert(i);
    }
    assert_eq!(arena.capacity(), capacity);
}

#[test]
fn clone_keeps_every_key_meaning() {
    let live = Arc::new(AtomicUsize::new(0));
    let arena: Arena<Counted, NodeId> = Arena::with_key();
    let keys: Vec<NodeId> = (0..8)
        .map(|i| arena.insert(Counted::new(i, &live)))
        .collect();
    for &k in &keys[..3] {
        arena.remove(k);
    }
    epoch_arena::pin().flush();
    let copy = arena.clone();
    assert_eq!(copy.len(), 5);
    let guard = pin();
    for (i, &k) in keys.iter().enumerate() {
        let want = (i >= 3).then_some(i as u32);
        assert_eq!(copy.get(k, &guard).map(|v| v.0), want, "{k:?}");
    }
    drop(guard);
    // The clone never reissues a key that was dead in the original.
    let fresh: Vec<NodeId> = (0..20)
        .map(|i| copy.insert(Counted::new(i, &live)))
        .collect();
    for k in &keys[..3] {
        assert!(!fresh.contains(k), "{k:?} was dead and came back");
    }
    // Independent: a change to the clone is not seen in the original.
    copy.remove(keys[5]);
    assert!(arena.contains(keys[5]));
    drop(copy);
    drop(arena);
    epoch_arena::pin().flush();
    assert_eq!(live.load(SeqCst), 0);
}

#[test]
fn a_panicking_clone_leaves_the_original_whole() {
    #[derive(Debug)]
    struct Bomb(u32);
    impl Clone for Bomb {
        fn clone(&self) -> Self {
            assert!(self.0 != 3, "boom");
            Bomb(self.0)
        }
    }
    let arena = Arena::new();
    let keys: Vec<Key> = (0..6).map(|i| arena.insert(Bomb(i))).collect();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| arena.clone()));
    assert!(r.is_err());
    let guard = pin();
    for (i, &k) in keys.iter().enumerate() {
        assert_eq!(arena.get(k, &guard).map(|b| b.0), Some(i as u32));
    }
}

#[test]
fn a_vacant_entry_key_is_never_issued_for_another_value() {
    // sharded-slab #16 / thunderdome's entry API: reserve a key, then fill or abandon it.
    let arena: Arena<u32, NodeId> = Arena::builder_with_key_cap(1);
    let entry = arena.vacant_entry();
    let reserved = entry.key();
    assert!(arena.try_insert(5).is_err(), "the one slot is reserved");
    assert_eq!(arena.len(), 0, "a reservation is not a value");
    drop(entry);
    // The slot comes back at a later generation: the reserved key stays dead.
    let other = arena.insert(6);
    assert_eq!(other.to_key_index(), reserved.to_key_index());
    assert_ne!(other, reserved);
    assert!(!arena.contains(reserved));
    assert!(arena.remove(other));
    epoch_arena::pin().flush();

    // Forgotten: the key stays dead too, whatever reuses the slot later.
    let mut arena: Arena<u32, NodeId> = Arena::with_key();
    let forgotten = arena.vacant_entry();
    let lost = forgotten.key();
    std::mem::forget(forgotten);
    arena.clear(); // finds the slot again
    let reused: Vec<NodeId> = (0..4).map(|i| arena.insert(i)).collect();
    assert!(!reused.contains(&lost));
    assert!(!arena.contains(lost));

    // Filled: the value is live under the reserved key, and counted.
    let entry = arena.vacant_entry();
    let key = entry.key();
    assert_eq!(entry.insert(42), key);
    assert_eq!(arena.get(key, &pin()), Some(&42));
    assert_eq!(arena.len(), 5);
}

trait CappedWithKey<T, K> {
    fn builder_with_key_cap(cap: u32) -> Self;
}

impl<T: Send + Sync, K: epoch_arena::ArenaKey> CappedWithKey<T, K> for Arena<T, K> {
    fn builder_with_key_cap(cap: u32) -> Self {
        epoch_arena::Builder::new().max_slots(cap).build()
    }
}

struct Node(Vec<Key>);

impl Trace for Node {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        self.0.trace(tracer);
    }
}

#[test]
fn try_root_upgrades_only_live_weak_keys() {
    let arena = Arena::new();
    let kept = arena.insert(Node(vec![]));
    let child = arena.insert(Node(vec![]));
    let parent = arena.insert(Node(vec![child]));
    let removed = arena.insert(Node(vec![]));
    arena.remove(removed);
    assert!(arena.try_root(removed).is_none(), "removed: gone");
    let strong = arena.try_root(parent).expect("live");
    let kept_root = arena.root(kept);
    let stats = arena.collect([]);
    assert_eq!(stats.marked, 3); // parent, child, kept
    assert!(arena.contains(child));
    drop(kept_root);
    arena.collect([]);
    assert!(
        arena.try_root(kept).is_none(),
        "collected: the weak key reads as gone"
    );
    assert_eq!(strong.key(), parent);
    drop(strong);
    arena.collect([]);
    assert!(arena.is_empty());
}

#[test]
fn try_root_races_collections_without_losing_a_rooted_value() {
    // Whatever a concurrent cycle is doing, a `Root` from `try_root` keeps its value, and
    // `None` means the value is really gone. The collector sweeps thousands of garbage
    // values per cycle, so many upgrades land in the middle of a sweep of keys born before
    // the cycle: the case a root registered too late for the cycle must not lose.
    const ROUNDS: usize = if cfg!(miri) { 2 } else { 200 };
    const GARBAGE: u32 = if cfg!(miri) { 50 } else { 5_000 };
    // The collecting thread also waits for this many rounds of the rooting thread, so that
    // a fast collector cannot finish all its cycles inside the first round.
    const MIN_TRIES: usize = if cfg!(miri) { 2 } else { 50 };
    let arena = Arena::new();
    let done = std::sync::atomic::AtomicBool::new(false);
    let tries = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut round = 0;
            while round < ROUNDS || tries.load(SeqCst) < MIN_TRIES {
                arena.insert_many((0..GARBAGE).map(|_| Node(vec![])));
                arena.collect([]);
                round += 1;
            }
            done.store(true, SeqCst);
        });
        let (mut upgraded, mut refused) = (0usize, 0usize);
        while !done.load(SeqCst) {
            tries.fetch_add(1, SeqCst);
            let keys: Vec<Key> = (0..64).map(|_| arena.insert(Node(vec![]))).collect();
            std::thread::yield_now();
            let roots: Vec<_> = keys.iter().filter_map(|&k| arena.try_root(k)).collect();
            for &key in &keys {
                if !roots.iter().any(|r| r.key() == key) {
                    refused += 1;
                    assert!(!arena.contains(key), "try_root refused a live value");
                }
            }
            upgraded += roots.len();
            // Long enough for the cycle in progress to end and the next to sweep.
            for _ in 0..if cfg!(miri) { 1 } else { 50 } {
                std::thread::yield_now();
                for root in &roots {
                    assert!(arena.contains(root.key()), "a rooted value was swept");
                }
            }
        }
        assert!(upgraded > 0, "nothing was upgraded ({refused} refused)");
    });
}

#[test]
fn errors_say_what_went_wrong() {
    let arena = Arena::builder().max_slots(1).build();
    arena.insert(1u8);
    let err = arena.try_insert(2).unwrap_err();
    assert_eq!(err.kind(), InsertErrorKind::Full);
    let dynamic: Box<dyn std::error::Error> = Box::new(err);
    assert_eq!(dynamic.to_string(), "the arena's key space is full");
    let guard = pin();
    let arena: Arena<Node> = Arena::new();
    assert_eq!(arena.try_collect([]).unwrap_err(), CollectError::Pinned);
    drop(guard);
    assert!(arena.try_collect([]).is_ok());
}
