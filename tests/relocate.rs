//! `Relocate`: every std impl rewrites the keys it holds through a real `Remap`, leaves the
//! keys that were dead before the compaction as they are, and keeps maps, sets and heaps
//! consistent; and `compact_with` with `Relocate` keeps a graph of values intact.
//!
//! A `Remap` can only come from a compaction, so most tests build one with [`compacted`]: an
//! arena of eight values in slots 0..8 whose three lowest are taken, then compacted, so the
//! values at slots 3 and 4 stay put and those at 5, 6 and 7 move into the holes 0, 1 and 2.

use epoch_arena::{pin, AnyRemap, Arena, Key, Relocate, Remap};
use std::cell::Cell;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, LinkedList, VecDeque};
use std::ffi::OsString;
use std::fmt::Debug;
use std::hash::{BuildHasher, Hasher};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// An arena after a compaction, with its keys from before sorted by what became of them.
struct Compacted {
    arena: Arena<u32>,
    remap: Remap,
    /// Live before, still at the same key (slots 3 and 4).
    stayed: Vec<Key>,
    /// Live before, moved to a new key (slots 5, 6 and 7).
    moved: Vec<Key>,
    /// Taken before the compaction (slots 0, 1 and 2).
    dead: Vec<Key>,
    /// The value of every key live before the compaction.
    values: HashMap<Key, u32>,
}

/// Inserts `10 * i` at slot `i` for `i` in 0..8, takes slots 0..3, compacts, and checks that
/// the remap says what its documentation promises.
fn compacted() -> Compacted {
    let mut arena = Arena::new();
    let keys: Vec<Key> = (0..8).map(|i| arena.insert(10 * i)).collect();
    let indices: Vec<u32> = keys.iter().map(|k| k.index()).collect();
    assert_eq!(
        indices,
        (0..8).collect::<Vec<_>>(),
        "a fresh arena fills slots in order"
    );
    let dead = keys[..3].to_vec();
    for (i, &k) in dead.iter().enumerate() {
        assert_eq!(arena.take(k), Some(10 * i as u32));
    }
    let values: HashMap<Key, u32> = (3..8).map(|i| (keys[i], 10 * i as u32)).collect();

    let remap = arena.compact();

    let stayed = keys[3..5].to_vec();
    let moved = keys[5..].to_vec();
    assert_eq!(remap.live(), 5);
    assert_eq!(remap.moved(), 3);
    assert_eq!(arena.len(), 5);
    for &k in &stayed {
        assert_eq!(remap.get(k), Some(k), "{k:?} was below the 5 live values");
    }
    let mut holes = Vec::new();
    for &k in &moved {
        let new = remap
            .get(k)
            .expect("a live value has a key after the compaction");
        assert_ne!(new, k);
        assert!(!arena.contains(k), "{k:?} is stale once its value moved");
        assert_eq!(remap.get(new), Some(new), "a returned key maps to itself");
        holes.push(new.index());
    }
    holes.sort_unstable();
    assert_eq!(holes, [0, 1, 2], "the moved values fill the holes");
    for &k in &dead {
        assert_eq!(remap.get(k), None, "{k:?} was dead before the compaction");
        assert!(!arena.contains(k));
    }
    Compacted {
        arena,
        remap,
        stayed,
        moved,
        dead,
        values,
    }
}

impl Compacted {
    /// Keys of all three kinds, interleaved: moved, stayed, dead, ...
    fn sample(&self) -> Vec<Key> {
        vec![
            self.moved[0],
            self.stayed[0],
            self.dead[0],
            self.moved[1],
            self.dead[1],
            self.stayed[1],
            self.moved[2],
            self.dead[2],
        ]
    }

    /// What relocating `old` must give: the key of its value now, or `old` itself if it was
    /// dead before the compaction.
    fn expected(&self, old: Key) -> Key {
        if self.dead.contains(&old) {
            old
        } else {
            self.remap.get(old).expect("a key of the fixture")
        }
    }

    fn expected_all(&self, old: &[Key]) -> Vec<Key> {
        old.iter().map(|&k| self.expected(k)).collect()
    }

    /// `relocated` is what relocating `old` must give, and it finds `old`'s value in the
    /// arena, or nothing if `old` was dead.
    fn check(&self, old: Key, relocated: Key) {
        assert_eq!(relocated, self.expected(old), "relocating {old:?}");
        let guard = pin();
        match self.values.get(&old) {
            Some(value) => assert_eq!(self.arena.get(relocated, &guard), Some(value)),
            None => {
                assert_eq!(relocated, old, "a dead key is left as it is");
                assert_eq!(self.arena.get(relocated, &guard), None, "and stays dead");
            }
        }
    }

    fn check_all(&self, old: &[Key], relocated: &[Key]) {
        assert_eq!(old.len(), relocated.len());
        for (&o, &r) in old.iter().zip(relocated) {
            self.check(o, r);
        }
    }
}

/// Relocates a clone of `v` and checks it did not change.
fn unchanged<T: Relocate + Clone + PartialEq + Debug>(remap: &Remap, v: T) {
    let mut w = v.clone();
    w.relocate(remap);
    assert_eq!(w, v);
}

#[test]
fn key_follows_its_value_and_a_dead_key_stays() {
    let c = compacted();
    for old in c.sample() {
        let mut k = old;
        k.relocate(&c.remap);
        c.check(old, k);
    }
}

#[test]
fn relocation_is_idempotent() {
    let c = compacted();
    let mut once = c.sample();
    once.relocate(&c.remap);
    let mut twice = once.clone();
    twice.relocate(&c.remap);
    assert_eq!(twice, once);
    c.check_all(&c.sample(), &twice);
}

#[test]
fn option_and_result() {
    let c = compacted();
    for old in c.sample() {
        let mut some = Some(old);
        some.relocate(&c.remap);
        c.check(old, some.unwrap());

        let mut ok: Result<Key, Key> = Ok(old);
        ok.relocate(&c.remap);
        c.check(old, ok.unwrap());

        let mut err: Result<u8, Key> = Err(old);
        err.relocate(&c.remap);
        c.check(old, err.unwrap_err());
    }
    let mut none: Option<Key> = None;
    none.relocate(&c.remap);
    assert_eq!(none, None);
}

#[test]
fn vec_slice_array_and_boxes() {
    let c = compacted();
    let old = c.sample();

    let mut vec = old.clone();
    vec.relocate(&c.remap);
    c.check_all(&old, &vec);

    let mut slice = old.clone();
    slice[2..].relocate(&c.remap);
    c.check_all(&old[2..], &slice[2..]);
    assert_eq!(slice[..2], old[..2], "outside the slice nothing changes");

    let mut array = [old[0], old[1], old[2]];
    array.relocate(&c.remap);
    c.check_all(&old[..3], &array);

    let mut boxed_slice: Box<[Key]> = old.clone().into_boxed_slice();
    boxed_slice.relocate(&c.remap);
    c.check_all(&old, &boxed_slice);

    let mut boxed = Box::new(old[0]);
    boxed.relocate(&c.remap);
    c.check(old[0], *boxed);

    let mut object: Box<dyn Relocate> = Box::new(old.clone());
    object.relocate(&c.remap); // through `Box<T: ?Sized>` to the `Vec<Key>` inside
}

#[test]
fn mut_references_reach_their_referent() {
    let c = compacted();
    let old = c.sample();
    let mut keys = old.clone();
    let mut refs: Vec<&mut Key> = keys.iter_mut().collect();
    refs.relocate(&c.remap);
    c.check_all(&old, &keys);
}

#[test]
fn vec_deque_and_linked_list() {
    let c = compacted();
    let old = c.sample();

    let mut deque: VecDeque<Key> = VecDeque::with_capacity(old.len());
    // Wrap around the ring buffer: push some at the front.
    for &k in old[..4].iter().rev() {
        deque.push_front(k);
    }
    deque.extend(&old[4..]);
    deque.relocate(&c.remap);
    c.check_all(&old, &deque.into_iter().collect::<Vec<_>>());

    let mut list: LinkedList<Key> = old.iter().copied().collect();
    list.relocate(&c.remap);
    c.check_all(&old, &list.into_iter().collect::<Vec<_>>());
}

#[test]
fn tuples_relocate_every_field() {
    let c = compacted();
    let old = c.sample();

    let mut pair = (old[0], String::from("s"));
    pair.relocate(&c.remap);
    c.check(old[0], pair.0);
    assert_eq!(pair.1, "s");

    let mut mixed = (7u8, Some(old[1]), vec![old[2], old[3]], (old[4],));
    mixed.relocate(&c.remap);
    assert_eq!(mixed.0, 7);
    c.check(old[1], mixed.1.unwrap());
    c.check_all(&old[2..4], &mixed.2);
    c.check(old[4], mixed.3 .0);

    let k = |i: usize| old[i % old.len()];
    let mut twelve = (
        k(0),
        k(1),
        k(2),
        k(3),
        k(4),
        k(5),
        k(6),
        k(7),
        k(8),
        k(9),
        k(10),
        k(11),
    );
    twelve.relocate(&c.remap);
    let (a, b, c2, d, e, f, g, h, i, j, l, m) = twelve;
    c.check_all(
        &(0..12).map(k).collect::<Vec<_>>(),
        &[a, b, c2, d, e, f, g, h, i, j, l, m],
    );
}

#[test]
fn hash_map_relocates_values_and_rebuilds_on_keys() {
    let c = compacted();
    let old = c.sample();

    // Keys in the values only.
    let mut by_number: HashMap<usize, Key> = old.iter().copied().enumerate().collect();
    by_number.relocate(&c.remap);
    assert_eq!(by_number.len(), old.len());
    for (i, &o) in old.iter().enumerate() {
        c.check(o, by_number[&i]);
    }

    // Keys in the keys: every entry is found under its relocated key.
    let mut by_key: HashMap<Key, (usize, Key)> =
        old.iter().enumerate().map(|(i, &k)| (k, (i, k))).collect();
    by_key.relocate(&c.remap);
    assert_eq!(by_key.len(), old.len(), "relocation merges no entries");
    for (i, &o) in old.iter().enumerate() {
        let new = c.expected(o);
        let &(j, v) = by_key.get(&new).expect("found under its relocated key");
        assert_eq!(j, i);
        c.check(o, v);
    }
    for &o in &c.moved {
        assert!(
            !by_key.contains_key(&o),
            "no entry is left under a moved key"
        );
    }
}

/// A hasher with no `Default`: a map with it must still be relocatable, and keep it.
struct Seeded(u64);

impl BuildHasher for Seeded {
    type Hasher = DefaultHasher;

    fn build_hasher(&self) -> DefaultHasher {
        let mut h = DefaultHasher::new();
        h.write_u64(self.0);
        h
    }
}

#[test]
fn hash_map_and_set_keep_their_hasher() {
    let c = compacted();
    let old = c.sample();

    let mut map = HashMap::with_hasher(Seeded(42));
    map.extend(old.iter().map(|&k| (k, k)));
    map.relocate(&c.remap);
    assert_eq!(map.hasher().0, 42);
    assert_eq!(map.len(), old.len());
    for &o in &old {
        c.check(o, map[&c.expected(o)]);
    }

    let mut set = HashSet::with_hasher(Seeded(7));
    set.extend(old.iter().copied());
    set.relocate(&c.remap);
    assert_eq!(set.hasher().0, 7);
    let expected: HashSet<Key> = c.expected_all(&old).into_iter().collect();
    assert_eq!(set.len(), expected.len());
    assert!(expected.iter().all(|k| set.contains(k)));
}

#[test]
fn btree_map_is_rebuilt_in_the_new_order() {
    let c = compacted();
    let old = c.sample();

    let mut map: BTreeMap<Key, Vec<Key>> = old.iter().map(|&k| (k, vec![k, old[0]])).collect();
    map.relocate(&c.remap);
    assert_eq!(map.len(), old.len());
    let mut expected_keys = c.expected_all(&old);
    expected_keys.sort_unstable();
    assert_eq!(map.keys().copied().collect::<Vec<_>>(), expected_keys);
    for &o in &old {
        let v = &map[&c.expected(o)];
        c.check_all(&[o, old[0]], v);
    }
    // The moved values went from the top slots to the bottom ones, so the order changed:
    // the last entry was a moved value's (slot 7), it is now the top one that stayed.
    assert_eq!(old.iter().max(), Some(&c.moved[2]));
    assert_eq!(map.keys().next_back(), Some(&c.stayed[1]));

    let mut values_only: BTreeMap<u32, Option<Key>> =
        (0..).zip(old.iter().map(|&k| Some(k))).collect();
    values_only.relocate(&c.remap);
    for (i, &o) in (0..).zip(&old) {
        c.check(o, values_only[&i].unwrap());
    }
}

#[test]
fn sets_and_heap_are_rebuilt() {
    let c = compacted();
    let old = c.sample();
    let mut expected = c.expected_all(&old);
    expected.sort_unstable();

    let mut hash_set: HashSet<Key> = old.iter().copied().collect();
    hash_set.relocate(&c.remap);
    let mut got: Vec<Key> = hash_set.into_iter().collect();
    got.sort_unstable();
    assert_eq!(got, expected);

    let mut btree_set: BTreeSet<Key> = old.iter().copied().collect();
    btree_set.relocate(&c.remap);
    assert_eq!(btree_set.into_iter().collect::<Vec<_>>(), expected);

    let mut heap: BinaryHeap<Key> = old.iter().copied().collect();
    heap.relocate(&c.remap);
    assert_eq!(
        heap.peek(),
        expected.last(),
        "the heap order holds after relocation"
    );
    assert_eq!(heap.into_sorted_vec(), expected);
}

#[test]
fn locks_cells_and_once_lock() {
    let c = compacted();
    let old = c.sample();

    let mut mutex = Mutex::new(old.clone());
    mutex.relocate(&c.remap);
    c.check_all(&old, &mutex.into_inner().unwrap());

    let mut rwlock = RwLock::new(Some(old[0]));
    rwlock.relocate(&c.remap);
    c.check(old[0], rwlock.into_inner().unwrap().unwrap());

    let mut cell = Cell::new(old[3]);
    cell.relocate(&c.remap);
    c.check(old[3], cell.get());

    let mut cell_option = Cell::new(Some(old[6]));
    cell_option.relocate(&c.remap);
    c.check(old[6], cell_option.get().unwrap());

    // Not `Copy`: `Cell` is relocated through `get_mut`.
    let mut cell_vec = Cell::new(old.clone());
    cell_vec.relocate(&c.remap);
    c.check_all(&old, &cell_vec.into_inner());

    let mut once = OnceLock::new();
    once.set(old[5]).unwrap();
    once.relocate(&c.remap);
    c.check(old[5], *once.get().unwrap());

    let mut empty: OnceLock<Key> = OnceLock::new();
    empty.relocate(&c.remap);
    assert_eq!(empty.get(), None);
}

#[test]
fn poisoned_locks_are_relocated_anyway() {
    let c = compacted();
    let old = c.sample();

    let mut mutex = Mutex::new(old.clone());
    let mut rwlock = RwLock::new(old.clone());
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let _m = mutex.lock().unwrap();
        let _w = rwlock.write().unwrap();
        panic!("poisoning both locks on purpose");
    }));
    assert!(mutex.is_poisoned() && rwlock.is_poisoned());

    mutex.relocate(&c.remap);
    rwlock.relocate(&c.remap);
    let from_mutex = mutex.into_inner().unwrap_or_else(PoisonError::into_inner);
    let from_rwlock = rwlock.into_inner().unwrap_or_else(PoisonError::into_inner);
    c.check_all(&old, &from_mutex);
    c.check_all(&old, &from_rwlock);
}

#[test]
fn nested_containers() {
    let c = compacted();
    let old = c.sample();

    type Branch = Option<Box<(Key, Vec<Key>)>>;
    let mut nested: Vec<Branch> = vec![
        Some(Box::new((old[0], old[1..4].to_vec()))),
        None,
        Some(Box::new((old[4], old[5..].to_vec()))),
    ];
    nested.relocate(&c.remap);
    let first = nested[0].as_ref().unwrap();
    c.check(old[0], first.0);
    c.check_all(&old[1..4], &first.1);
    assert!(nested[1].is_none());
    let last = nested[2].as_ref().unwrap();
    c.check(old[4], last.0);
    c.check_all(&old[5..], &last.1);

    let mut index: HashMap<String, Mutex<VecDeque<Key>>> = HashMap::new();
    index.insert("all".into(), Mutex::new(old.iter().copied().collect()));
    index.relocate(&c.remap);
    let all: Vec<Key> = index["all"].lock().unwrap().iter().copied().collect();
    c.check_all(&old, &all);

    let mut keyed: BTreeMap<(Key, u8), [Option<Key>; 2]> =
        old.iter().map(|&k| ((k, 1), [Some(k), None])).collect();
    keyed.relocate(&c.remap);
    for &o in &old {
        let [some, none] = keyed[&(c.expected(o), 1)];
        c.check(o, some.unwrap());
        assert_eq!(none, None);
    }
}

#[test]
fn leaf_types_are_left_as_they_are() {
    let c = compacted();
    let remap = &c.remap;
    unchanged(remap, ());
    unchanged(remap, true);
    unchanged(remap, 'x');
    unchanged(remap, 1u8);
    unchanged(remap, 2u16);
    unchanged(remap, 3u32);
    unchanged(remap, 4u64);
    unchanged(remap, 5u128);
    unchanged(remap, 6usize);
    unchanged(remap, -1i8);
    unchanged(remap, -2i16);
    unchanged(remap, -3i32);
    unchanged(remap, -4i64);
    unchanged(remap, -5i128);
    unchanged(remap, -6isize);
    unchanged(remap, 1.5f32);
    unchanged(remap, 2.5f64);
    unchanged(remap, "static");
    unchanged(remap, String::from("owned"));
    unchanged(remap, Box::<str>::from("boxed"));
    unchanged(remap, Duration::from_millis(3));
    unchanged(remap, Instant::now());
    unchanged(remap, PathBuf::from("/tmp"));
    unchanged(remap, OsString::from("os"));
    unchanged(remap, PhantomData::<Key>);
    // Numbers that look like slot indices are not keys.
    unchanged(remap, vec![0u32, 5, 6, 7]);
}

/// Relocating through the empty `Remap` leaves every key as it is: it knows no live value,
/// so to it every key was dead. (Needs no compaction.)
#[test]
fn an_empty_remap_leaves_every_key_as_it_is() {
    let remap = Remap::default();
    let arena = Arena::new();
    let keys: Vec<Key> = (0..4).map(|i| arena.insert(i)).collect();
    unchanged(&remap, keys.clone());
    unchanged(&remap, keys.iter().map(|&k| Some(k)).collect::<Vec<_>>());
    let map: BTreeMap<Key, Key> = keys.iter().map(|&k| (k, k)).collect();
    unchanged(&remap, map);
}

/// Every std type the docs list is `Relocate` (compile-time; needs no compaction).
#[test]
fn std_types_implement_relocate() {
    fn is_relocate<T: Relocate + ?Sized>() {}
    is_relocate::<Key>();
    is_relocate::<str>();
    is_relocate::<&str>();
    is_relocate::<[Key]>();
    is_relocate::<[Key; 4]>();
    is_relocate::<Box<[Key]>>();
    is_relocate::<Box<str>>();
    is_relocate::<Box<dyn Relocate>>();
    is_relocate::<&mut [Key]>();
    is_relocate::<Option<Key>>();
    is_relocate::<Result<Key, String>>();
    is_relocate::<Vec<Key>>();
    is_relocate::<VecDeque<Key>>();
    is_relocate::<LinkedList<Key>>();
    is_relocate::<HashMap<Key, Key>>();
    is_relocate::<HashMap<Key, Key, Seeded>>();
    is_relocate::<HashSet<Key, Seeded>>();
    is_relocate::<BTreeMap<Key, Key>>();
    is_relocate::<BTreeSet<Key>>();
    is_relocate::<BinaryHeap<Key>>();
    is_relocate::<Cell<Key>>();
    is_relocate::<Cell<Vec<Key>>>();
    is_relocate::<Mutex<[Key]>>();
    is_relocate::<RwLock<Vec<Key>>>();
    is_relocate::<OnceLock<Key>>();
    is_relocate::<PhantomData<Key>>();
    is_relocate::<(Key,)>();
    is_relocate::<(u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, Key)>();
}

/// A node of a graph held in the arena, which refers to others by key.
struct Node {
    id: u32,
    children: Vec<Key>,
    parent: Option<Key>,
    by_name: BTreeMap<String, Key>,
}

impl Relocate for Node {
    fn relocate(&mut self, remap: &AnyRemap) {
        self.children.relocate(remap);
        self.parent.relocate(remap);
        self.by_name.relocate(remap);
    }
}

/// The intended use: `compact_with(|v, r| v.relocate(r))` rewrites every edge of a graph so
/// that it names the same node after the compaction, and leaves the edges that were already
/// dangling as they were. Checked against the nodes' ids, not the remap.
#[test]
fn compact_with_relocate_keeps_a_graph_intact() {
    const N: u32 = 40;
    let mut arena = Arena::new();
    let keys: Vec<Key> = (0..N)
        .map(|id| {
            arena.insert(Node {
                id,
                children: vec![],
                parent: None,
                by_name: BTreeMap::new(),
            })
        })
        .collect();
    let edges = |id: u32| [(id * 7 + 1) % N, (id * 3 + 2) % N, (id + 13) % N];
    for id in 0..N {
        let node = arena.get_mut(keys[id as usize]).unwrap();
        node.children = edges(id).iter().map(|&c| keys[c as usize]).collect();
        node.parent = Some(keys[((id + N - 1) % N) as usize]);
        node.by_name = edges(id)
            .iter()
            .map(|&c| (format!("n{c}"), keys[c as usize]))
            .collect();
    }
    // Remove a third of the nodes, mostly low ones, so that many high ones move and some
    // edges dangle.
    let removed = |id: u32| id < 10 || id.is_multiple_of(5);
    for id in (0..N).filter(|&id| removed(id)) {
        assert_eq!(arena.take(keys[id as usize]).map(|n| n.id), Some(id));
    }
    let live = (0..N).filter(|&id| !removed(id)).count();

    let remap = arena.compact_with(|node, remap| node.relocate(remap));
    assert_eq!(arena.len(), live);
    assert_eq!(remap.live(), live);
    assert!(remap.moved() > 0);

    // Where each surviving node is now, found by walking the arena.
    let guard = pin();
    let mut now: HashMap<u32, Key> = HashMap::new();
    for (key, node) in arena.iter(&guard) {
        assert!(
            (key.index() as usize) < live,
            "the live values fill the bottom slots"
        );
        assert!(now.insert(node.id, key).is_none());
    }
    assert_eq!(now.len(), live);
    // An edge to a surviving node names it where it is now; an edge to a removed node
    // keeps its old (dead) key.
    let edge = |id: u32| match now.get(&id) {
        Some(&key) => key,
        None => keys[id as usize],
    };
    for (&id, &key) in &now {
        assert_eq!(remap.get(keys[id as usize]), Some(key));
        let node = arena.get(key, &guard).unwrap();
        let expected: Vec<Key> = edges(id).iter().map(|&c| edge(c)).collect();
        assert_eq!(node.children, expected, "children of n{id}");
        assert_eq!(node.parent, Some(edge((id + N - 1) % N)), "parent of n{id}");
        let expected_by_name: BTreeMap<String, Key> = edges(id)
            .iter()
            .map(|&c| (format!("n{c}"), edge(c)))
            .collect();
        assert_eq!(node.by_name, expected_by_name, "names of n{id}");
        for &child in &node.children {
            match arena.get(child, &guard) {
                Some(target) => assert!(!removed(target.id)),
                None => assert_eq!(remap.get(child), None, "a dangling edge stays dead"),
            }
        }
    }
}
