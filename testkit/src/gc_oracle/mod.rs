//! The collector's reachability oracle: a graph value, a model of the graph, and the checks
//! after every operation and every collection. `tests/gc_model.rs` (proptest) and the `gc`
//! fuzz target drive it with their own inputs.
//!
//! [`Model`] keeps every live value's edges (the raw keys it holds, stale and made-up ones
//! included) in a `BTreeMap`. Every edit goes to the arena and the model together, under the
//! "shade, then store" rule: edges are shaded before the value holding them is inserted, a
//! new key before it is stored into a parent, a linked key before it is stored. Before each
//! collection the oracle walks the model breadth-first from the roots (the `roots` argument
//! plus every live `Root` handle, plus every *fresh* value: born no earlier than the oldest
//! live `Mutator`'s last safepoint, by the model's mirror of the arena's birth stamp),
//! following only edges that name a live value, exactly as `get` would. Then
//! [`Model::collect`] checks:
//!
//! * if a reachable value is armed (its `Trace` panics), `collect` panics with
//!   [`TracePanic`] and sweeps nothing; if none is, it does not panic (an unreachable armed
//!   value is never traced);
//! * otherwise `marked` is the number of reachable values, `swept` the number of live values
//!   before minus that, `roots` the argument count plus the live `Root`s, `mutators` the
//!   live mutators, `threads` as asked;
//! * either way, everything [`Model::check`] checks.
//!
//! [`Model::check`]: the arena holds exactly the model: `iter` yields every live value
//! intact, with its id and its edges, and nothing else; `len` and `stats().live` equal the
//! model; `contains` agrees with it for every key ever handed out; `high_water` stays within
//! the cap; no value was dropped twice or torn, and only removed or swept values (or ones a
//! full arena gave back) were dropped at all. [`Model::check_counts`] is its cheap part, for
//! after every operation; with [`Model::expect_exact_counts`] it also checks that the values
//! made but not dropped are exactly the live ones plus those pending reclamation.
//!
//! [`Model::reclaim`] drives reclamation until nothing is pending; then exactly the removed
//! and swept values have been dropped, each once. [`drop_arena`] drops the arena (a drop
//! panic may come out of it only if a value was made to panic when dropped) and checks that
//! every value ever made was dropped exactly once; [`with_model`] builds an arena and its
//! model and ends with that.
//!
//! Keys are handed out once: an insertion that returns a key seen before fails. Values
//! ([`Node`]) check their own integrity when traced and when dropped: a check word the drop
//! poisons, and a heap cell, so that AddressSanitizer reports a double drop as a double free
//! and a read of a dropped value as a use after free.

mod node;
mod op;

pub use node::{quiet_panics, DropPanic, Node, NodeLog, TracePanic};
pub use op::{Extras, KeySel, Op};

use crate::reclaim_until;
use epoch_arena::{pin, Arena, CollectOptions, CollectStats, Key, Mutator, Root};
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

/// A live value in the model.
#[derive(Debug)]
struct Entry {
    id: u64,
    /// Every key the value holds, in order (stale and made-up ones too).
    edges: Vec<Key>,
    armed: bool,
    /// The arena's birth stamp when it was inserted (mirrored by [`Model`]).
    birth: u64,
}

/// One marker, or two even for the smallest arena.
fn opts(two: bool) -> CollectOptions {
    CollectOptions {
        threads: if two { 2 } else { 1 },
        parallel_min_slots: 0,
    }
}

/// The model of one arena of [`Node`]s: see the module docs.
pub struct Model<'a> {
    arena: &'a Arena<Node>,
    /// The arena's `max_slots`, if capped: only then may an insertion fail.
    cap: Option<u32>,
    log: Arc<NodeLog>,
    live: BTreeMap<Key, Entry>,
    /// Every key handed out, in order.
    issued: Vec<Key>,
    issued_set: HashSet<Key>,
    /// Keys of removed or swept values.
    dead: Vec<Key>,
    /// Ids of values removed, swept, or never inserted: exactly these may have been dropped.
    gone: BTreeSet<u64>,
    handles: Vec<Root<'a, Node>>,
    /// Live mutators, each with the stamp of its last safepoint (or registration).
    mutators: Vec<(Mutator<'a, Node>, u64)>,
    /// The arena's birth stamp: advanced by every collection and every safepoint.
    stamp: u64,
    next_id: u64,
    exact_counts: bool,
}

impl fmt::Debug for Model<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("cap", &self.cap)
            .field("live", &self.live)
            .field("dead", &self.dead)
            .field("handles", &self.handles.len())
            .field(
                "mutators",
                &self.mutators.iter().map(|m| m.1).collect::<Vec<_>>(),
            )
            .field("stamp", &self.stamp)
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

impl<'a> Model<'a> {
    /// A model of `arena`, which is empty and built with `max_slots(cap)` (or unlimited).
    pub fn new(arena: &'a Arena<Node>, cap: Option<u32>) -> Self {
        quiet_panics();
        assert!(arena.is_empty());
        Model {
            arena,
            cap,
            log: Arc::default(),
            live: BTreeMap::new(),
            issued: Vec::new(),
            issued_set: HashSet::new(),
            dead: Vec::new(),
            gone: BTreeSet::new(),
            handles: Vec::new(),
            mutators: Vec::new(),
            stamp: 0,
            next_id: 0,
            exact_counts: false,
        }
    }

    /// From now on also checks, with the counts, that the values made but not dropped are
    /// exactly the live ones plus those pending reclamation. Only for a process in which no
    /// other thread pins: one could run a deferred drop between the two reads.
    pub fn expect_exact_counts(&mut self) {
        self.exact_counts = true;
    }

    /// The arena.
    pub fn arena(&self) -> &'a Arena<Node> {
        self.arena
    }

    /// The log of this model's values, for [`drop_arena`] once the model is gone.
    pub fn log(&self) -> Arc<NodeLog> {
        Arc::clone(&self.log)
    }

    /// Inserts a node holding `edges` and, if `parent` is given (it must be live), links it
    /// there, all under one guard. `None` if the arena is full.
    pub fn insert(&mut self, edges: Vec<Key>, parent: Option<Key>) -> Option<Key> {
        self.insert_with_extras(edges, parent, Extras::default())
    }

    /// [`Model::insert`] with [`Extras`]: shade the edges, insert, (for a self-loop) shade
    /// the new key and store it into the node itself, then (for a parent) shade the new key
    /// and store it into the parent; then make a `Root` handle and arm the node, if asked.
    pub fn insert_with_extras(
        &mut self,
        edges: Vec<Key>,
        parent: Option<Key>,
        extras: Extras,
    ) -> Option<Key> {
        self.insert_through(None, edges, parent, extras)
    }

    /// [`Model::insert`] through the `i`-th mutator (modulo their number), not linked
    /// anywhere: a fresh key, which the model then holds with no guard. `None` if there is
    /// no mutator or the arena is full.
    pub fn insert_fresh(&mut self, i: usize, edges: Vec<Key>) -> Option<Key> {
        if self.mutators.is_empty() {
            return None;
        }
        let i = i % self.mutators.len();
        self.insert_through(Some(i), edges, None, Extras::default())
    }

    fn insert_through(
        &mut self,
        mutator: Option<usize>,
        mut edges: Vec<Key>,
        parent: Option<Key>,
        extras: Extras,
    ) -> Option<Key> {
        self.next_id += 1;
        let id = self.next_id;
        let guard = pin();
        for &e in &edges {
            self.arena.shade(e);
        }
        let node = Node::new(id, edges.clone(), extras.panicky_drop, &self.log);
        let inserted = match mutator {
            Some(i) => self.mutators[i].0.try_insert(node),
            None => self.arena.try_insert(node),
        };
        let key = match inserted.map_err(epoch_arena::InsertError::into_inner) {
            Ok(key) => key,
            Err(node) => {
                assert!(self.cap.is_some(), "try_insert failed without a cap");
                assert_eq!(node.id, id, "try_insert gave back another value");
                node.drop_quietly();
                // Never in the arena: it counts as gone.
                self.gone.insert(id);
                return None;
            }
        };
        assert!(self.issued_set.insert(key), "{key:?} handed out twice");
        self.issued.push(key);
        let n = self.arena.get(key, &guard).expect("a fresh key is live");
        assert_eq!(n.id, id, "fresh {key:?} holds another value");
        if extras.self_loop {
            self.arena.shade(key);
            n.edges.lock().unwrap().push(key);
            edges.push(key);
        }
        self.live.insert(
            key,
            Entry {
                id,
                edges,
                armed: false,
                birth: self.stamp,
            },
        );
        if let Some(p) = parent {
            self.arena.shade(key);
            let pn = self.arena.get(p, &guard).expect("parent is live");
            pn.edges.lock().unwrap().push(key);
            self.live.get_mut(&p).unwrap().edges.push(key);
        }
        drop(guard);
        if extras.rooted {
            self.root(key);
        }
        if extras.armed {
            self.arm(key, true);
        }
        Some(key)
    }

    /// Shade, then store `to` into the live value `from`.
    pub fn link(&mut self, from: Key, to: Key) {
        let guard = pin();
        self.arena.shade(to);
        let n = self.arena.get(from, &guard).expect("from is live");
        n.edges.lock().unwrap().push(to);
        self.live.get_mut(&from).unwrap().edges.push(to);
    }

    /// Removes the `edge`-th edge (modulo their number) of the live value `from`, if any.
    pub fn unlink(&mut self, from: Key, edge: usize) {
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

    /// Removes `key`, live or not.
    pub fn remove(&mut self, key: Key) {
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
        assert!(!self.arena.contains(key), "{key:?} live after remove");
    }

    /// Makes a `Root` handle for `key`, live or not, and keeps it.
    pub fn root(&mut self, key: Key) {
        let r = self.arena.root(key);
        assert_eq!(r.key(), key);
        self.handles.push(r);
    }

    /// Drops the `i`-th `Root` handle (modulo their number), if any.
    pub fn unroot(&mut self, i: usize) {
        if !self.handles.is_empty() {
            let i = i % self.handles.len();
            self.handles.swap_remove(i);
        }
    }

    /// Drops every `Root` handle.
    pub fn unroot_all(&mut self) {
        self.handles.clear();
    }

    /// Registers a mutator (at most 4 live: more only repeat the oldest's effect).
    pub fn new_mutator(&mut self) {
        if self.mutators.len() < 4 {
            // Registration advances the stamp, as a safepoint does.
            let m = self.arena.mutator();
            self.stamp += 1;
            self.mutators.push((m, self.stamp));
        }
    }

    /// A safepoint of the `i`-th mutator (modulo their number), if any. It advances the
    /// stamp; what the mutator inserted before it is garbage from now on unless reachable
    /// (or fresh for an older mutator).
    pub fn safepoint(&mut self, i: usize) {
        if !self.mutators.is_empty() {
            let i = i % self.mutators.len();
            self.mutators[i].0.safepoint();
            self.stamp += 1;
            self.mutators[i].1 = self.stamp;
        }
    }

    /// Drops the `i`-th mutator (modulo their number), if any.
    pub fn drop_mutator(&mut self, i: usize) {
        if !self.mutators.is_empty() {
            let i = i % self.mutators.len();
            self.mutators.swap_remove(i);
        }
    }

    /// Drops every mutator.
    pub fn drop_mutators(&mut self) {
        self.mutators.clear();
    }

    /// The live values the next collection spares as fresh, and traces as roots: born no
    /// earlier than the oldest mutator's last safepoint.
    pub fn fresh(&self) -> Vec<Key> {
        let Some(oldest) = self.mutators.iter().map(|m| m.1).min() else {
            return Vec::new();
        };
        self.live
            .iter()
            .filter(|(_, e)| e.birth >= oldest)
            .map(|(&k, _)| k)
            .collect()
    }

    /// Arms or disarms the `Trace` panic of the live value `key`.
    pub fn arm(&mut self, key: Key, armed: bool) {
        let guard = pin();
        let n = self.arena.get(key, &guard).expect("live");
        n.bomb.store(armed, SeqCst);
        self.live.get_mut(&key).unwrap().armed = armed;
    }

    /// Disarms every armed value.
    pub fn disarm_all(&mut self) {
        let armed: Vec<Key> = self
            .live
            .iter()
            .filter(|e| e.1.armed)
            .map(|e| *e.0)
            .collect();
        for k in armed {
            self.arm(k, false);
        }
    }

    /// The oracle: live values reachable from `roots` through edges that name live values.
    pub fn reachable(&self, roots: &[Key]) -> BTreeSet<Key> {
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

    /// Collects with `roots` (and the handles) and checks the result against the oracle
    /// (see the module docs); `None` if it panicked, as the oracle expected.
    pub fn collect(&mut self, roots: &[Key], two: bool) -> Option<CollectStats> {
        let all_roots: Vec<Key> = roots
            .iter()
            .copied()
            .chain(self.handles.iter().map(Root::key))
            .collect();
        // Fresh values are roots too (not counted in `stats.roots`).
        let fresh = self.fresh();
        let traced_from: Vec<Key> = all_roots.iter().chain(&fresh).copied().collect();
        let reach = self.reachable(&traced_from);
        // The collection advances the stamp whether or not it panics.
        self.stamp += 1;
        let boom = reach.iter().any(|k| self.live[k].armed);
        let before = self.live.len();
        assert_eq!(self.arena.len(), before, "len before collect");
        let arena = self.arena;
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            arena.collect_with(roots.iter().copied(), opts(two))
        }));
        let stats = match result {
            Err(payload) => {
                assert!(
                    payload.is::<TracePanic>(),
                    "collect panicked with another payload"
                );
                assert!(boom, "collect panicked without a reachable armed value");
                assert_eq!(self.arena.len(), before, "a panicked collection swept");
                None
            }
            Ok(stats) => {
                assert!(!boom, "a reachable armed value was not traced");
                assert_eq!(stats.marked, reach.len(), "marked: {stats:?}");
                assert_eq!(stats.swept, before - reach.len(), "swept: {stats:?}");
                assert_eq!(stats.roots, all_roots.len(), "roots: {stats:?}");
                assert_eq!(stats.mutators, self.mutators.len(), "mutators: {stats:?}");
                // A helper that wakes after the caller is done takes no part.
                let most = if two { 2 } else { 1 };
                assert!((1..=most).contains(&stats.threads), "threads: {stats:?}");
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
                Some(stats)
            }
        };
        self.check();
        stats
    }

    /// Disarms every value, drops the handles and collects without roots: everything goes;
    /// then reclaims.
    pub fn sweep_all(&mut self, two: bool) {
        self.disarm_all();
        self.unroot_all();
        self.drop_mutators();
        self.collect(&[], two);
        assert!(
            self.arena.is_empty(),
            "a collection without roots left values"
        );
        self.reclaim();
    }

    /// The counts: `len`, `stats().live` and the model agree, `high_water` is within the
    /// cap, no torn or already dropped value was dropped, and (with exact counts) the values
    /// made but not dropped are the live ones plus those pending reclamation.
    pub fn check_counts(&self) {
        let stats = self.arena.stats();
        assert_eq!(self.arena.len(), self.live.len(), "len");
        assert_eq!(stats.live, self.live.len(), "stats.live");
        if let Some(cap) = self.cap {
            assert!(stats.high_water <= cap as usize, "{stats:?}");
        }
        self.log.assert_not_corrupt();
        if self.exact_counts {
            assert_eq!(
                self.log.undropped() as usize,
                stats.live + stats.pending_reclamation,
                "undropped values vs {stats:?}"
            );
        }
    }

    /// The counts, and: the arena holds exactly the model's values, intact, with the model's
    /// edges; `contains` agrees with the model for every key ever handed out; only gone
    /// values were dropped, each once.
    pub fn check(&self) {
        self.check_counts();
        let guard = pin();
        let mut n = 0;
        for (k, node) in self.arena.iter(&guard) {
            let e = self
                .live
                .get(&k)
                .unwrap_or_else(|| panic!("{k:?} survived, the oracle says it is gone"));
            node.assert_intact();
            assert_eq!(node.id, e.id, "{k:?} holds another value");
            assert_eq!(*node.edges.lock().unwrap(), e.edges, "edges of {k:?}");
            n += 1;
        }
        assert_eq!(n, self.live.len(), "a reachable value was swept");
        for &k in &self.issued {
            assert_eq!(self.arena.contains(k), self.live.contains_key(&k), "{k:?}");
        }
        drop(guard);
        for (id, times) in self.log.drops() {
            assert_eq!(times, 1, "value {id} dropped {times} times");
            assert!(self.gone.contains(&id), "value {id} dropped while live");
        }
    }

    /// Drives reclamation until nothing is pending and every removed or swept value has
    /// been dropped; checks they were dropped exactly once, and no other value was.
    pub fn reclaim(&self) {
        let want = self.gone.len() as u64;
        let arena = self.arena;
        let done = || self.log.dropped() >= want && arena.stats().pending_reclamation == 0;
        assert!(
            reclaim_until(arena, done),
            "reclamation stuck: {} of {want} dropped, {:?}",
            self.log.dropped(),
            arena.stats()
        );
        let drops = self.log.drops();
        let ids: BTreeSet<u64> = drops.keys().copied().collect();
        assert_eq!(ids, self.gone, "dropped values");
        assert!(drops.values().all(|&n| n == 1), "a value dropped twice");
        assert_eq!(
            self.log.undropped() as usize,
            self.live.len(),
            "undropped after reclamation"
        );
    }
}

/// Builds an arena with `max_slots(cap)` (or unlimited), runs `f` on its model, then drops
/// the model (with its `Root` handles) and the arena with [`drop_arena`]. Returns the log of
/// the arena's values.
pub fn with_model(cap: Option<u32>, f: impl FnOnce(&mut Model<'_>)) -> Arc<NodeLog> {
    let arena = match cap {
        Some(c) => Arena::builder().max_slots(c).build(),
        None => Arena::new(),
    };
    let mut m = Model::new(&arena, cap);
    f(&mut m);
    let log = m.log();
    drop(m);
    drop_arena(arena, &log);
    log
}

/// Drops the arena of a model that is gone, with every value still in it, live or pending;
/// a [`DropPanic`] may come out only if `log` made a value that panics when dropped. Then
/// every value `log` made must have been dropped exactly once.
pub fn drop_arena(arena: Arena<Node>, log: &NodeLog) {
    quiet_panics();
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| drop(arena))) {
        assert!(
            payload.is::<DropPanic>(),
            "dropping the arena panicked with another payload"
        );
        assert!(log.any_panicky(), "a drop panicked, no value is panicky");
    }
    log.assert_all_dropped_once();
}
