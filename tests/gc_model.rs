//! proptest: garbage collection against a reachability oracle.
//!
//! A model keeps every live value's edges (the raw keys it holds, stale and made-up ones
//! included) in a `BTreeMap`. Before each collection the oracle walks it breadth-first from
//! the roots (the `roots` argument plus every live `Root` handle), following only edges
//! that name a live value, exactly as `get` would. After the collection:
//!
//! * the arena holds exactly the reachable values (`iter`, `len`, and `contains` for every
//!   key ever handed out);
//! * `marked` is the number of reachable values, `swept` the number of live values before
//!   minus that, `roots` the argument count plus the live `Root`s, `threads` as asked;
//! * a reachable value whose `Trace` panics makes `collect` panic with nothing swept;
//! * no value still live was dropped; after `reclaim_until`, exactly the removed and swept
//!   values were dropped, each once, and dropping the arena drops the rest, each once.
//!
//! `single_collection` builds one random graph (self-loops, cycles, shared children, stale
//! keys of removed values, keys of values whose slots were reused, keys with a live index
//! and a wrong generation, keys made from arbitrary bits or with an index past the
//! capacity, as edges, as roots and as `Root`s) twice, collects one copy with one marker
//! and the other with two (`parallel_min_slots: 0`), then each again with the other count,
//! then without roots. `rounds_of_edits_and_collections` interleaves collections (one or
//! two markers) with graph edits: inserts, links and unlinks (under `shade`), removals,
//! rooting and unrooting, arming and disarming a `Trace` that panics, and reclamation,
//! often in a small capped arena so that slots are reused; it ends with the arena dropped
//! while values are live. `every_kind_of_edge_and_root` is one hand-made graph with all of
//! the above, so that the few cases miri runs cover them too.

mod common;

use epoch_arena::{pin, Arena, CollectOptions, CollectStats, Key, Root, Trace, Tracer};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once};

/// Drops per value id.
#[derive(Default)]
struct DropLog(Mutex<HashMap<u64, u32>>);

impl DropLog {
    fn snapshot(&self) -> HashMap<u64, u32> {
        self.0.lock().unwrap().clone()
    }
    fn total(&self) -> usize {
        self.0.lock().unwrap().values().map(|&n| n as usize).sum()
    }
}

/// A graph node whose edges can change after insertion, and whose `Trace` panics while
/// `bomb` is set.
struct Node {
    id: u64,
    edges: Mutex<Vec<Key>>,
    bomb: AtomicBool,
    log: Arc<DropLog>,
}

/// The payload of a `Trace` panic the tests provoke.
struct Boom;

impl Trace for Node {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        if self.bomb.load(Ordering::Relaxed) {
            panic::panic_any(Boom);
        }
        self.edges.trace(tracer);
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        *self.log.0.lock().unwrap().entry(self.id).or_default() += 1;
    }
}

/// Keeps the provoked `Boom` panics out of the test output; every other panic is reported.
fn quiet_boom() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<Boom>() {
                previous(info);
            }
        }));
    });
}

fn opts(two: bool) -> CollectOptions {
    CollectOptions {
        threads: if two { 2 } else { 1 },
        parallel_min_slots: 0,
    }
}

/// How a test picks a key.
#[derive(Debug, Clone)]
enum Sel {
    /// A live value (by position in key order), if any.
    Live(usize),
    /// Any key handed out so far, live or removed.
    Issued(usize),
    /// A key of a removed value, if any (its slot may hold a newer value now).
    Dead(usize),
    /// A live value's index with another generation: the one before if any (what a key
    /// of the slot's previous value looks like), else the next one.
    Wrong(usize),
    /// The value the key is stored into (a self-loop); as a root, `Live(0)`.
    Me,
    /// A made-up key with a small index: hits real slots, with a likely wrong generation.
    Small { index: u8, generation: u8 },
    /// A made-up key with an index far past the arena's capacity.
    Far(u32),
    /// Arbitrary bits (nothing, if `Key::from_bits` rejects them).
    Raw(u64),
}

fn sel() -> impl Strategy<Value = Sel> {
    prop_oneof![
        8 => any::<usize>().prop_map(Sel::Live),
        3 => any::<usize>().prop_map(Sel::Issued),
        2 => any::<usize>().prop_map(Sel::Dead),
        1 => any::<usize>().prop_map(Sel::Wrong),
        1 => Just(Sel::Me),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(index, generation)| Sel::Small { index, generation }),
        1 => any::<u32>().prop_map(Sel::Far),
        1 => any::<u64>().prop_map(Sel::Raw),
    ]
}

/// A live value in the model.
#[derive(Debug)]
struct Entry {
    id: u64,
    /// Every key the value holds, in order (stale and made-up ones too).
    edges: Vec<Key>,
    armed: bool,
}

struct Model<'a> {
    arena: &'a Arena<Node>,
    log: Arc<DropLog>,
    live: BTreeMap<Key, Entry>,
    /// Every key handed out, in order.
    issued: Vec<Key>,
    /// Keys of removed or swept values.
    dead: Vec<Key>,
    /// Ids of removed or swept values: exactly these may have been dropped.
    gone: BTreeSet<u64>,
    handles: Vec<Root<'a, Node>>,
    next_id: u64,
    collections: usize,
}

impl<'a> Model<'a> {
    fn new(arena: &'a Arena<Node>, log: Arc<DropLog>) -> Self {
        Model {
            arena,
            log,
            live: BTreeMap::new(),
            issued: Vec::new(),
            dead: Vec::new(),
            gone: BTreeSet::new(),
            handles: Vec::new(),
            next_id: 0,
            collections: 0,
        }
    }

    fn live_key(&self, i: usize) -> Option<Key> {
        (!self.live.is_empty()).then(|| *self.live.keys().nth(i % self.live.len()).unwrap())
    }

    /// The key `sel` names; `me` is the value it will be stored into, if any.
    fn key(&self, sel: &Sel, me: Option<Key>) -> Option<Key> {
        let pick = |keys: &[Key], i: usize| (!keys.is_empty()).then(|| keys[i % keys.len()]);
        match *sel {
            Sel::Live(i) => self.live_key(i),
            Sel::Issued(i) => pick(&self.issued, i),
            Sel::Dead(i) => pick(&self.dead, i),
            Sel::Wrong(i) => self.live_key(i).and_then(|k| {
                let g = k.generation();
                let g = if g > 4 { g - 4 } else { g + 4 };
                Key::from_bits(u64::from(k.index()) << 32 | u64::from(g))
            }),
            Sel::Me => me.or_else(|| self.live_key(0)),
            Sel::Small { index, generation } => {
                Key::from_bits(u64::from(index % 64) << 32 | (u64::from(generation) * 4 + 1))
            }
            Sel::Far(i) => Key::from_bits(u64::from(i | 1 << 31) << 32 | 1),
            Sel::Raw(bits) => Key::from_bits(bits),
        }
    }

    fn keys(&self, sels: &[Sel], me: Option<Key>) -> Vec<Key> {
        sels.iter().filter_map(|s| self.key(s, me)).collect()
    }

    /// Inserts a node holding `edges` (shaded first) and, if `parent` names a live value,
    /// links it there, all under one guard. `None` if the arena is full.
    fn insert(&mut self, edges: Vec<Key>, parent: Option<Key>) -> Option<Key> {
        self.next_id += 1;
        let id = self.next_id;
        let guard = pin();
        for &e in &edges {
            self.arena.shade(e);
        }
        let node = Node {
            id,
            edges: Mutex::new(edges.clone()),
            bomb: AtomicBool::new(false),
            log: Arc::clone(&self.log),
        };
        let key = match self.arena.try_insert(node) {
            Ok(key) => key,
            Err(node) => {
                drop(guard);
                drop(node);
                // Never in the arena: it counts as gone.
                self.gone.insert(id);
                return None;
            }
        };
        assert!(!self.issued.contains(&key), "{key:?} handed out twice");
        self.issued.push(key);
        self.live.insert(
            key,
            Entry {
                id,
                edges,
                armed: false,
            },
        );
        if let Some(parent) = parent {
            self.arena.shade(key);
            let n = self.arena.get(parent, &guard).expect("parent is live");
            n.edges.lock().unwrap().push(key);
            self.live.get_mut(&parent).unwrap().edges.push(key);
        }
        Some(key)
    }

    /// Shade, then store `to` into `from`'s edges.
    fn link(&mut self, from: Key, to: Key) {
        let guard = pin();
        self.arena.shade(to);
        let n = self.arena.get(from, &guard).expect("from is live");
        n.edges.lock().unwrap().push(to);
        self.live.get_mut(&from).unwrap().edges.push(to);
    }

    fn unlink(&mut self, from: Key, edge: usize) {
        let entry = self.live.get_mut(&from).unwrap();
        if entry.edges.is_empty() {
            return;
        }
        let i = edge % entry.edges.len();
        entry.edges.remove(i);
        let guard = pin();
        let n = self.arena.get(from, &guard).expect("from is live");
        n.edges.lock().unwrap().remove(i);
    }

    fn remove(&mut self, key: Key) {
        let expected = self.live.remove(&key);
        assert_eq!(
            self.arena.remove(key),
            expected.is_some(),
            "remove({key:?})"
        );
        if let Some(e) = expected {
            self.dead.push(key);
            self.gone.insert(e.id);
        }
    }

    fn set_bomb(&mut self, key: Key, armed: bool) {
        let guard = pin();
        let n = self.arena.get(key, &guard).expect("live");
        n.bomb.store(armed, Ordering::Relaxed);
        self.live.get_mut(&key).unwrap().armed = armed;
    }

    /// The oracle: live values reachable from `roots` through edges that name live values.
    fn reachable(&self, roots: &[Key]) -> BTreeSet<Key> {
        let mut seen = BTreeSet::new();
        let mut queue: VecDeque<Key> = roots.iter().copied().collect();
        while let Some(k) = queue.pop_front() {
            if let Some(e) = self.live.get(&k) {
                if seen.insert(k) {
                    queue.extend(e.edges.iter().copied());
                }
            }
        }
        seen
    }

    /// Collects with `roots` and checks the result against the oracle; `None` if it
    /// panicked (as the oracle expected).
    fn collect(&mut self, roots: &[Key], two: bool) -> Option<CollectStats> {
        self.collections += 1;
        let all_roots: Vec<Key> = roots
            .iter()
            .copied()
            .chain(self.handles.iter().map(Root::key))
            .collect();
        let reach = self.reachable(&all_roots);
        let boom = reach.iter().any(|k| self.live[k].armed);
        let before = self.live.len();
        assert_eq!(self.arena.len(), before);
        let arena = self.arena;
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            arena.collect_with(roots.iter().copied(), opts(two))
        }));
        match result {
            Err(payload) => {
                assert!(
                    payload.is::<Boom>(),
                    "collect panicked with another payload"
                );
                assert!(boom, "collect panicked without a reachable armed value");
                // Nothing swept.
                assert_eq!(self.arena.len(), before, "a panicked collection swept");
                self.check();
                None
            }
            Ok(stats) => {
                assert!(!boom, "a reachable armed value was not traced");
                assert_eq!(stats.marked, reach.len(), "marked");
                assert_eq!(stats.swept, before - reach.len(), "swept");
                assert_eq!(stats.roots, all_roots.len(), "roots");
                assert_eq!(stats.threads, if two { 2 } else { 1 }, "threads");
                let swept: Vec<Key> = self
                    .live
                    .keys()
                    .filter(|k| !reach.contains(k))
                    .copied()
                    .collect();
                for k in swept {
                    let e = self.live.remove(&k).unwrap();
                    self.dead.push(k);
                    self.gone.insert(e.id);
                }
                self.check();
                Some(stats)
            }
        }
    }

    /// The arena holds exactly the model's values, with the model's edges, and no live
    /// value was dropped.
    fn check(&self) {
        assert_eq!(self.arena.len(), self.live.len(), "len");
        let guard = pin();
        let mut n = 0;
        for (k, node) in self.arena.iter(&guard) {
            let e = self
                .live
                .get(&k)
                .unwrap_or_else(|| panic!("{k:?} survived, the oracle says it is gone"));
            assert_eq!(node.id, e.id);
            assert_eq!(*node.edges.lock().unwrap(), e.edges);
            n += 1;
        }
        assert_eq!(n, self.live.len(), "a reachable value was swept");
        for &k in &self.issued {
            assert_eq!(self.arena.contains(k), self.live.contains_key(&k), "{k:?}");
        }
        drop(guard);
        let dropped = self.log.snapshot();
        for (&id, &times) in &dropped {
            assert_eq!(times, 1, "value {id} dropped {times} times");
            assert!(self.gone.contains(&id), "value {id} dropped while live");
        }
    }

    /// Drives reclamation until every removed or swept value has been dropped (each once).
    fn reclaim(&self) {
        let want = self.gone.len();
        assert!(
            common::reclaim_until(self.arena, || self.log.total() >= want),
            "reclamation stuck: {} of {want} dropped",
            self.log.total()
        );
        let dropped = self.log.snapshot();
        let ids: BTreeSet<u64> = dropped.keys().copied().collect();
        assert_eq!(ids, self.gone, "dropped values");
        assert!(dropped.values().all(|&n| n == 1), "a value dropped twice");
    }
}

/// Drops the arena (the model, holding the handles, first) and checks every value ever
/// made was dropped exactly once.
fn finish(arena: Arena<Node>, made: u64, log: &DropLog) {
    drop(arena);
    let dropped = log.snapshot();
    assert_eq!(
        dropped.len() as u64,
        made,
        "values not dropped with the arena"
    );
    assert!(dropped.values().all(|&n| n == 1), "a value dropped twice");
}

/// One random graph.
#[derive(Debug, Clone)]
struct Graph {
    /// `ghosts` values are inserted, removed and reclaimed first. With `Some(slack)` the
    /// arena is capped at `slack` slots more than the ghosts or the nodes need, so the
    /// nodes reuse the ghosts' slots and the ghosts' keys are stale at indices that hold
    /// live values; `None`: unlimited.
    slack: Option<u32>,
    ghosts: usize,
    /// Each node's edges.
    nodes: Vec<Vec<Sel>>,
    /// Nodes removed before the collection (by position).
    removed: Vec<usize>,
    /// The `roots` argument.
    roots: Vec<Sel>,
    /// Keys rooted with `Root` handles; the `bool` drops the handle again.
    handles: Vec<(Sel, bool)>,
    /// Nodes whose `Trace` panics.
    armed: Vec<usize>,
}

const MAX_NODES: usize = if cfg!(miri) { 8 } else { 24 };

fn graph() -> impl Strategy<Value = Graph> {
    (
        prop_oneof![Just(None), (0u32..4).prop_map(Some)],
        0usize..MAX_NODES,
        proptest::collection::vec(proptest::collection::vec(sel(), 0..4), 0..MAX_NODES),
        proptest::collection::vec(any::<usize>(), 0..4),
        proptest::collection::vec(sel(), 0..5),
        proptest::collection::vec((sel(), any::<bool>()), 0..3),
        prop_oneof![4 => Just(vec![]), 1 => proptest::collection::vec(any::<usize>(), 1..2)],
    )
        .prop_map(
            |(slack, ghosts, nodes, removed, roots, handles, armed)| Graph {
                slack,
                ghosts,
                nodes,
                removed,
                roots,
                handles,
                armed,
            },
        )
}

fn new_arena(cap: Option<u32>) -> Arena<Node> {
    match cap {
        Some(c) => Arena::builder().max_slots(c).build(),
        None => Arena::new(),
    }
}

fn single(g: &Graph, two: bool) {
    quiet_boom();
    let log = Arc::new(DropLog::default());
    let arena = new_arena(
        g.slack
            .map(|s| s + g.ghosts.max(g.nodes.len()).max(1) as u32),
    );
    let mut m = Model::new(&arena, Arc::clone(&log));
    for _ in 0..g.ghosts {
        if let Some(k) = m.insert(vec![], None) {
            m.remove(k);
        }
    }
    m.reclaim();
    // Insert every node, then set the edges, so edges can point forwards and backwards.
    let keys: Vec<Key> = g
        .nodes
        .iter()
        .filter_map(|_| m.insert(vec![], None))
        .collect();
    for (&k, edges) in keys.iter().zip(&g.nodes) {
        for s in edges {
            let to = match *s {
                // Node positions, so that the graph's shape does not depend on key order.
                Sel::Live(i) => Some(keys[i % keys.len()]),
                _ => m.key(s, Some(k)),
            };
            if let Some(to) = to {
                m.link(k, to);
            }
        }
    }
    if !keys.is_empty() {
        for &i in &g.armed {
            m.set_bomb(keys[i % keys.len()], true);
        }
        for &i in &g.removed {
            m.remove(keys[i % keys.len()]);
        }
    }
    let node_key = |m: &Model<'_>, s: &Sel| match *s {
        Sel::Live(i) if !keys.is_empty() => Some(keys[i % keys.len()]),
        _ => m.key(s, None),
    };
    for (s, drop_it) in &g.handles {
        if let Some(k) = node_key(&m, s) {
            let r = arena.root(k);
            if !drop_it {
                m.handles.push(r);
            }
        }
    }
    let roots: Vec<Key> = g.roots.iter().filter_map(|s| node_key(&m, s)).collect();
    m.check();
    m.collect(&roots, two);
    // Again, with the other marker count: nothing more to sweep.
    m.collect(&roots, !two);
    m.reclaim();
    // Disarm, drop the handles and collect with no roots: everything goes.
    let armed: Vec<Key> = m.live.iter().filter(|e| e.1.armed).map(|e| *e.0).collect();
    for k in armed {
        m.set_bomb(k, false);
    }
    m.handles.clear();
    m.collect(&[], two);
    assert!(arena.is_empty());
    m.reclaim();
    let made = m.next_id;
    drop(m);
    finish(arena, made, &log);
}

#[derive(Debug, Clone)]
enum Op {
    /// Insert a node holding `edges`, linked into `parent` (a live value) if given.
    Insert {
        edges: Vec<Sel>,
        parent: Option<usize>,
    },
    /// Store a key into a live value (shade first).
    Link {
        from: usize,
        to: Sel,
    },
    /// Remove one edge of a live value.
    Unlink {
        from: usize,
        edge: usize,
    },
    Remove(Sel),
    Root(Sel),
    /// Drop a `Root` handle.
    Unroot(usize),
    /// Arm or disarm the `Trace` panic of a live value.
    Bomb {
        node: usize,
        armed: bool,
    },
    Collect {
        roots: Vec<Sel>,
        two: bool,
    },
    Reclaim,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (proptest::collection::vec(sel(), 0..3), proptest::option::of(any::<usize>()))
            .prop_map(|(edges, parent)| Op::Insert { edges, parent }),
        4 => (any::<usize>(), sel()).prop_map(|(from, to)| Op::Link { from, to }),
        2 => (any::<usize>(), any::<usize>()).prop_map(|(from, edge)| Op::Unlink { from, edge }),
        2 => sel().prop_map(Op::Remove),
        2 => sel().prop_map(Op::Root),
        1 => any::<usize>().prop_map(Op::Unroot),
        1 => (any::<usize>(), prop::bool::weighted(0.3)).prop_map(|(node, armed)| Op::Bomb { node, armed }),
        3 => (proptest::collection::vec(sel(), 0..3), any::<bool>())
            .prop_map(|(roots, two)| Op::Collect { roots, two }),
        1 => Just(Op::Reclaim),
    ]
}

fn rounds(cap: Option<u32>, ops: Vec<Op>) {
    quiet_boom();
    let log = Arc::new(DropLog::default());
    let arena = new_arena(cap);
    let mut m = Model::new(&arena, Arc::clone(&log));
    for op in &ops {
        match op {
            Op::Insert { edges, parent } => {
                let edges = m.keys(edges, None);
                let parent = parent.and_then(|i| m.live_key(i));
                m.insert(edges, parent);
            }
            Op::Link { from, to } => {
                if let Some(from) = m.live_key(*from) {
                    if let Some(to) = m.key(to, Some(from)) {
                        m.link(from, to);
                    }
                }
            }
            Op::Unlink { from, edge } => {
                if let Some(from) = m.live_key(*from) {
                    m.unlink(from, *edge);
                }
            }
            Op::Remove(s) => {
                if let Some(k) = m.key(s, None) {
                    m.remove(k);
                }
            }
            Op::Root(s) => {
                if let Some(k) = m.key(s, None) {
                    m.handles.push(arena.root(k));
                }
            }
            Op::Unroot(i) => {
                if !m.handles.is_empty() {
                    let i = i % m.handles.len();
                    m.handles.swap_remove(i);
                }
            }
            Op::Bomb { node, armed } => {
                if let Some(k) = m.live_key(*node) {
                    m.set_bomb(k, *armed);
                }
            }
            Op::Collect { roots, two } => {
                let roots = m.keys(roots, None);
                m.collect(&roots, *two);
            }
            Op::Reclaim => {
                arena.flush();
                m.reclaim();
            }
        }
        m.check();
    }
    // A final collection with the handles only, then drop accounting.
    let armed: Vec<Key> = m.live.iter().filter(|e| e.1.armed).map(|e| *e.0).collect();
    for k in armed {
        m.set_bomb(k, false);
    }
    m.collect(&[], false);
    m.reclaim();
    let made = m.next_id;
    drop(m);
    finish(arena, made, &log);
}

/// One hand-made graph with every kind of edge and root, so that even the few cases miri
/// runs cover all of them.
#[test]
fn every_kind_of_edge_and_root() {
    quiet_boom();
    for two in [false, true] {
        let log = Arc::new(DropLog::default());
        let arena = new_arena(Some(8));
        let mut m = Model::new(&arena, Arc::clone(&log));
        // Ghosts: removed and reclaimed, so the nodes below reuse their slots and the
        // ghosts' keys are stale at indices that hold live values.
        let ghosts: Vec<Key> = (0..4).map(|_| m.insert(vec![], None).unwrap()).collect();
        for &g in &ghosts {
            m.remove(g);
        }
        m.reclaim();
        let n: Vec<Key> = (0..8).map(|_| m.insert(vec![], None).unwrap()).collect();
        assert!(
            ghosts
                .iter()
                .all(|g| n.iter().any(|k| k.index() == g.index())),
            "the ghosts' slots were reused"
        );
        let far = Key::from_bits(1 << 62 | 1).unwrap();
        let wrong_generation =
            Key::from_bits(u64::from(n[5].index()) << 32 | u64::from(n[5].generation() + 4))
                .unwrap();
        // 0 -> 1, 2 (a tree); 1 -> 3 and 2 -> 3 (shared); 3 -> 0 (a cycle); 3 -> 3 (a
        // self-loop); 0 -> the ghosts, a far index, a wrong generation of 5 (all ignored);
        // 1 -> 7, removed below (stale); 4 <-> 5 (an unreachable cycle pointing in: 5 -> 0);
        // 6 -> 6, reachable only through a `Root`.
        for (a, b) in [
            (0, 1),
            (0, 2),
            (1, 3),
            (2, 3),
            (3, 0),
            (3, 3),
            (1, 7),
            (4, 5),
        ] {
            m.link(n[a], n[b]);
        }
        for (a, b) in [(5, 4), (5, 0), (6, 6)] {
            m.link(n[a], n[b]);
        }
        for &e in ghosts.iter().chain([&far, &wrong_generation]) {
            m.link(n[0], e);
        }
        m.remove(n[7]);
        m.handles.push(arena.root(n[6]));
        m.handles.push(arena.root(ghosts[0])); // stale
        m.handles.push(arena.root(far));
        let stats = m
            .collect(&[n[0], ghosts[1], wrong_generation], two)
            .unwrap();
        assert_eq!((stats.marked, stats.swept, stats.roots), (5, 2, 6));
        // A reachable value whose `Trace` panics: nothing is swept.
        m.set_bomb(n[2], true);
        assert!(m.collect(&[n[0]], two).is_none());
        // Unlinked (0 -> 2 is the second edge), it is not traced, and goes.
        m.unlink(n[0], 1);
        let stats = m.collect(&[n[0]], two).unwrap();
        assert_eq!((stats.marked, stats.swept), (4, 1));
        m.handles.clear();
        assert_eq!(m.collect(&[], two).unwrap().swept, 4);
        assert!(arena.is_empty());
        m.reclaim();
        let made = m.next_id;
        drop(m);
        finish(arena, made, &log);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 8 } else { 256 },
        // Miri's isolation forbids the file system that failure persistence needs.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn single_collection(g in graph()) {
        single(&g, false);
        single(&g, true);
    }

    #[test]
    fn rounds_of_edits_and_collections(
        cap in prop_oneof![Just(None), (8u32..48).prop_map(Some)],
        ops in proptest::collection::vec(op(), 0..if cfg!(miri) { 30 } else { 120 }),
    ) {
        rounds(cap, ops);
    }
}
