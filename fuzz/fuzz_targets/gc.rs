//! Differential fuzzing of the garbage collector against a reachability oracle.
//!
//! The input is an optional slot cap (at most 64 slots, so that slots are reused), a list
//! of graph operations and what happens at the end. The operations: inserting nodes with
//! edges and a parent, some with a self-loop, a `Root` handle, a `Trace` that panics or a
//! drop that panics; inserting whole random trees (shared children, maybe a cycle back to
//! the first node); adding and removing edges (under `shade`); removing values; rooting
//! and unrooting keys with `Root` handles; arming and disarming a value's `Trace` panic;
//! reclamation; and collections with random argument roots and one or two markers
//! (`parallel_min_slots: 0`). Keys, as edges and as roots, are live keys, stale keys of
//! removed or swept values (maybe at a slot that holds a newer value), a live value's
//! index with another generation, made-up keys with small indices, keys with an index past
//! the capacity, and keys from arbitrary bits.
//!
//! The model keeps every live value's edges. Before each collection the oracle walks it
//! from the roots (the argument plus the live `Root`s), following the edges that name live
//! values. Then:
//!
//! * if a reachable value is armed, `collect` must panic with its payload and sweep
//!   nothing;
//! * otherwise `marked` must be the number of reachable values, `swept` the live values
//!   before minus that, `roots` and `threads` as given, and the arena must hold exactly the
//!   reachable values (`iter`, with their ids and edges, and `contains` for every key ever
//!   handed out).
//!
//! After every operation `len` and `stats().live` equal the model, and the values made but
//! not dropped are exactly the live ones plus those pending reclamation; after
//! reclamation, exactly the live ones. Values check their own integrity (also when
//! traced) and panic on a second drop. Drop panics are swallowed by reclamation and passed
//! on by dropping the arena. At the end one more collection runs, then either a collection
//! without roots sweeps everything or the arena is dropped with its values live; either
//! way every value ever made must have been dropped exactly once.
#![no_main]

mod common;

use arbitrary::{Arbitrary, Unstructured};
use common::{
    assert_all_dropped, catch, settle, take_last_drop_panic, trace_panic, undropped, Caught,
    TracePanic, Val,
};
use epoch_arena::{pin, Arena, CollectOptions, Key, Root, Trace, Tracer};
use libfuzzer_sys::fuzz_target;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Operations per input; more only slow the fuzzer down.
const MAX_OPS: usize = 128;

#[derive(Arbitrary, Debug)]
struct Input {
    /// `Some(n)`: `Builder::max_slots(n % 64 + 1)`, so that slots are reused and keys go
    /// stale at indices that hold live values; `None`: unlimited.
    cap: Option<u8>,
    end: End,
    ops: Vec<Op>,
}

/// What happens after the operations.
#[derive(Debug)]
struct End {
    /// One more collection with these roots (and the handles) ...
    roots: Vec<KeySel>,
    two: bool,
    /// ... then disarm, drop the handles and collect without roots (everything is swept
    /// and reclaimed before the arena is dropped), or drop the arena with the values live.
    sweep_all: bool,
}

/// How an operation chooses a key.
#[derive(Debug, Clone, Copy)]
enum KeySel {
    /// A live key (in key order), if any.
    Live(u8),
    /// A key handed out earlier, live or dead.
    Issued(u8),
    /// A key of a removed or swept value (its slot may hold a newer value now).
    Dead(u8),
    /// A live value's index with another generation (the one before, if any: what a key
    /// of the slot's previous value looks like; else the next one).
    Wrong(u8),
    /// The value the key is stored into (a self-loop); elsewhere, the first live key.
    Me,
    /// A made-up key with an index below 16 and one of the first four generations: hits
    /// real slots, with the right generation or a wrong one.
    Small { index: u8, generation: u8 },
    /// A made-up key with an index past the capacity.
    Far(u32),
    /// Arbitrary bits (nothing, if `Key::from_bits` rejects them).
    Raw(u64),
}

// `Arbitrary` by hand for `KeySel` and `Op`: one tag byte each (the derive reads four),
// so that the short inputs libFuzzer starts with hold many operations.
impl<'a> Arbitrary<'a> for KeySel {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let tag = u8::arbitrary(u)?;
        Ok(match tag % 16 {
            0..=4 => KeySel::Live(u8::arbitrary(u)?),
            5 => KeySel::Wrong(u8::arbitrary(u)?),
            6 | 7 => KeySel::Issued(u8::arbitrary(u)?),
            8 | 9 => KeySel::Dead(u8::arbitrary(u)?),
            10 => KeySel::Me,
            11 | 12 => KeySel::Small {
                index: tag >> 4,
                generation: u8::arbitrary(u)?,
            },
            13 => KeySel::Far(u32::arbitrary(u)?),
            _ => KeySel::Raw(u64::arbitrary(u)?),
        })
    }
}

#[derive(Debug)]
enum Op {
    /// Insert a node holding `edges` (shaded first), linked into a live `parent`, all
    /// under one guard.
    Insert {
        edges: Vec<KeySel>,
        parent: Option<u8>,
        /// See [`Flags`].
        flags: Flags,
    },
    /// Up to 255 nodes, each linked from an earlier one of them (`shape` seeds the choice,
    /// and adds shared children), the first from a live `parent`; `cycle` links the last
    /// one back to the first.
    InsertTree {
        n: u8,
        shape: u16,
        parent: Option<u8>,
        cycle: bool,
    },
    /// Store a key into a live value (shade first).
    Link {
        from: u8,
        to: KeySel,
    },
    /// Remove one edge of a live value.
    Unlink {
        from: u8,
        edge: u8,
    },
    Remove(KeySel),
    Root(KeySel),
    /// Drop a `Root` handle.
    Unroot(u8),
    /// Arm or disarm a live value's `Trace` panic.
    Bomb {
        node: u8,
        armed: bool,
    },
    Collect {
        roots: Vec<KeySel>,
        two: bool,
    },
    /// Drive reclamation until nothing is pending.
    Reclaim,
}

/// Up to three keys; `tag`'s top two bits say how many.
fn keys_for(tag: u8, u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<KeySel>> {
    (0..tag >> 6).map(|_| KeySel::arbitrary(u)).collect()
}

impl<'a> Arbitrary<'a> for End {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let tag = u8::arbitrary(u)?;
        Ok(End {
            roots: keys_for(tag, u)?,
            two: tag & 1 != 0,
            sweep_all: tag & 2 != 0,
        })
    }
}

impl<'a> Arbitrary<'a> for Op {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let tag = u8::arbitrary(u)?;
        // The high bits: how many edges or roots (see `keys_for`); whether a parent, or
        // two markers.
        let flag = tag & 32 != 0;
        Ok(match tag % 32 {
            0..=7 => Op::Insert {
                edges: keys_for(tag, u)?,
                parent: if flag { Some(u8::arbitrary(u)?) } else { None },
                flags: Flags(u8::arbitrary(u)?),
            },
            8 | 9 => Op::InsertTree {
                n: u8::arbitrary(u)?,
                shape: u16::arbitrary(u)?,
                parent: if flag { Some(u8::arbitrary(u)?) } else { None },
                cycle: tag & 64 != 0,
            },
            10..=13 => Op::Link {
                from: u8::arbitrary(u)?,
                to: KeySel::arbitrary(u)?,
            },
            14 | 15 => Op::Unlink {
                from: u8::arbitrary(u)?,
                edge: u8::arbitrary(u)?,
            },
            16..=18 => Op::Remove(KeySel::arbitrary(u)?),
            19 | 20 => Op::Root(KeySel::arbitrary(u)?),
            21 => Op::Unroot(u8::arbitrary(u)?),
            22 | 23 => Op::Bomb {
                node: u8::arbitrary(u)?,
                armed: flag,
            },
            24..=29 => Op::Collect {
                roots: keys_for(tag, u)?,
                two: flag,
            },
            _ => Op::Reclaim,
        })
    }
}

/// Extras for an inserted node, each taken with a fixed probability.
#[derive(Arbitrary, Debug, Clone, Copy)]
struct Flags(u8);

impl Flags {
    /// The node holds its own key (1/2).
    fn self_loop(self) -> bool {
        self.0 & 1 != 0
    }
    /// The node panics when dropped (1/4).
    fn panicky(self) -> bool {
        self.0 & 6 == 0
    }
    /// A `Root` handle is made for the node (1/4).
    fn rooted(self) -> bool {
        self.0 & 24 == 0
    }
    /// The node's `Trace` panics (1/8).
    fn armed(self) -> bool {
        self.0 & 224 == 0
    }
}

/// The arena's value: a self-checking `Val`, edges that can change, and a `Trace` that
/// panics while `bomb` is set.
struct Node {
    val: Val,
    edges: Mutex<Vec<Key>>,
    bomb: AtomicBool,
}

impl Trace for Node {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        self.val.assert_intact();
        if self.bomb.load(Ordering::Relaxed) {
            trace_panic();
        }
        self.edges.trace(tracer);
    }
}

/// A live value in the model.
struct Entry {
    id: u64,
    edges: Vec<Key>,
    armed: bool,
}

struct Model<'a> {
    arena: &'a Arena<Node>,
    cap: Option<u32>,
    live: BTreeMap<Key, Entry>,
    issued: Vec<Key>,
    issued_set: HashSet<Key>,
    dead: Vec<Key>,
    handles: Vec<Root<'a, Node>>,
    panicky: bool,
    next_id: u64,
}

fn opts(two: bool) -> CollectOptions {
    CollectOptions {
        threads: if two { 2 } else { 1 },
        parallel_min_slots: 0,
    }
}

impl<'a> Model<'a> {
    fn live_key(&self, i: u8) -> Option<Key> {
        if self.live.is_empty() {
            return None;
        }
        self.live.keys().nth(i as usize % self.live.len()).copied()
    }

    /// The key `sel` names; `me` is the value it will be stored into, if any.
    fn key(&self, sel: KeySel, me: Option<Key>) -> Option<Key> {
        let pick = |keys: &[Key], i: u8| (!keys.is_empty()).then(|| keys[i as usize % keys.len()]);
        match sel {
            KeySel::Live(i) => self.live_key(i),
            KeySel::Issued(i) => pick(&self.issued, i),
            KeySel::Dead(i) => pick(&self.dead, i),
            KeySel::Wrong(i) => self.live_key(i).map(|k| {
                let g = k.generation();
                let g = if g > 4 { g - 4 } else { g + 4 };
                let bits = (u64::from(k.index()) << 32) | u64::from(g);
                Key::from_bits(bits).expect("generation ≡ 1 mod 4")
            }),
            KeySel::Me => me.or_else(|| self.live_key(0)),
            KeySel::Small { index, generation } => {
                let bits = (u64::from(index % 16) << 32) | (u64::from(generation % 4) * 4 + 1);
                Some(Key::from_bits(bits).expect("generation ≡ 1 mod 4"))
            }
            KeySel::Far(i) => Key::from_bits((u64::from(i | 1 << 31) << 32) | 1),
            KeySel::Raw(bits) => Key::from_bits(bits),
        }
    }

    fn keys(&self, sels: &[KeySel], me: Option<Key>) -> Vec<Key> {
        sels.iter().filter_map(|&s| self.key(s, me)).collect()
    }

    /// Inserts a node holding `edges` under one guard: shade the edges, insert, then (if
    /// `parent` is live) shade the new key and store it into `parent`. `None` if full.
    fn insert(
        &mut self,
        edges: Vec<Key>,
        parent: Option<Key>,
        self_loop: bool,
        panicky: bool,
    ) -> Option<Key> {
        self.next_id += 1;
        let id = self.next_id;
        let guard = pin();
        for &e in &edges {
            self.arena.shade(e);
        }
        let node = Node {
            val: Val::with_panicky_drop(id, 0, panicky),
            edges: Mutex::new(edges.clone()),
            bomb: AtomicBool::new(false),
        };
        let key = match self.arena.try_insert(node) {
            Ok(key) => key,
            Err(node) => {
                assert!(self.cap.is_some(), "try_insert failed without a cap");
                node.val.drop_quietly();
                return None;
            }
        };
        self.panicky |= panicky;
        assert!(self.issued_set.insert(key), "{key:?} handed out twice");
        self.issued.push(key);
        let mut edges = edges;
        let n = self.arena.get(key, &guard).expect("a fresh key is live");
        assert_eq!(n.val.id, id);
        if self_loop {
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
            },
        );
        if let Some(p) = parent {
            self.arena.shade(key);
            let pn = self.arena.get(p, &guard).expect("parent is live");
            pn.edges.lock().unwrap().push(key);
            self.live.get_mut(&p).unwrap().edges.push(key);
        }
        Some(key)
    }

    fn link(&mut self, from: Key, to: Key) {
        let guard = pin();
        self.arena.shade(to);
        let n = self.arena.get(from, &guard).expect("from is live");
        n.edges.lock().unwrap().push(to);
        self.live.get_mut(&from).unwrap().edges.push(to);
    }

    fn unlink(&mut self, from: Key, edge: u8) {
        let e = self.live.get_mut(&from).unwrap();
        if e.edges.is_empty() {
            return;
        }
        let i = edge as usize % e.edges.len();
        e.edges.remove(i);
        let guard = pin();
        let n = self.arena.get(from, &guard).expect("from is live");
        n.edges.lock().unwrap().remove(i);
    }

    fn remove(&mut self, key: Key) {
        let expected = self.live.remove(&key).is_some();
        assert_eq!(self.arena.remove(key), expected, "remove({key:?})");
        if expected {
            self.dead.push(key);
        }
        assert!(!self.arena.contains(key));
    }

    /// Arms or disarms the `Trace` panic of a live value.
    fn arm(&mut self, key: Key, armed: bool) {
        let guard = pin();
        let n = self.arena.get(key, &guard).expect("live");
        n.bomb.store(armed, Ordering::Relaxed);
        self.live.get_mut(&key).unwrap().armed = armed;
    }

    fn reachable(&self, roots: &[Key]) -> BTreeSet<Key> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<Key> = roots.to_vec();
        while let Some(k) = stack.pop() {
            if let Some(e) = self.live.get(&k) {
                if seen.insert(k) {
                    stack.extend(e.edges.iter().copied());
                }
            }
        }
        seen
    }

    fn collect(&mut self, roots: &[Key], two: bool) {
        let all: Vec<Key> = roots
            .iter()
            .copied()
            .chain(self.handles.iter().map(Root::key))
            .collect();
        let reach = self.reachable(&all);
        let boom = reach.iter().any(|k| self.live[k].armed);
        let before = self.live.len();
        assert_eq!(self.arena.len(), before, "len before collect");
        let arena = self.arena;
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            arena.collect_with(roots.iter().copied(), opts(two))
        }));
        match result {
            Err(payload) => {
                assert!(
                    payload.is::<TracePanic>(),
                    "collect panicked with another payload"
                );
                assert!(boom, "collect panicked, no reachable value is armed");
                assert_eq!(self.arena.len(), before, "a panicked collection swept");
            }
            Ok(stats) => {
                assert!(!boom, "collect did not trace a reachable armed value");
                assert_eq!(stats.marked, reach.len(), "marked: {stats:?}");
                assert_eq!(stats.swept, before - reach.len(), "swept: {stats:?}");
                assert_eq!(stats.roots, all.len(), "roots: {stats:?}");
                assert_eq!(stats.threads, if two { 2 } else { 1 }, "threads: {stats:?}");
                let gone: Vec<Key> = self
                    .live
                    .keys()
                    .filter(|k| !reach.contains(k))
                    .copied()
                    .collect();
                for k in gone {
                    self.live.remove(&k);
                    self.dead.push(k);
                }
            }
        }
        self.check_all();
    }

    /// Counts: `len`, `stats().live`, and values made but not dropped.
    fn check_counts(&self) {
        let stats = self.arena.stats();
        assert_eq!(self.arena.len(), self.live.len(), "len");
        assert_eq!(stats.live, self.live.len(), "stats.live");
        if let Some(cap) = self.cap {
            assert!(stats.high_water <= cap as usize, "{stats:?}");
        }
        assert_eq!(
            undropped() as usize,
            stats.live + stats.pending_reclamation,
            "undropped values vs {stats:?}"
        );
    }

    /// The arena holds exactly the model: ids, edges, and every key ever handed out.
    fn check_all(&self) {
        self.check_counts();
        let guard = pin();
        let mut n = 0;
        for (k, node) in self.arena.iter(&guard) {
            let e = self
                .live
                .get(&k)
                .unwrap_or_else(|| panic!("{k:?} is in the arena, not in the model"));
            node.val.assert_intact();
            assert_eq!(node.val.id, e.id, "{k:?} holds another value");
            assert_eq!(*node.edges.lock().unwrap(), e.edges, "edges of {k:?}");
            n += 1;
        }
        assert_eq!(n, self.live.len(), "a live value is missing");
        for &k in &self.issued {
            assert_eq!(self.arena.contains(k), self.live.contains_key(&k), "{k:?}");
        }
    }

    /// Flushes and drives reclamation until nothing is pending (the fuzzer is the only
    /// thread pinning, so the epoch always advances); then only live values are undropped.
    fn reclaim(&self) {
        self.arena.flush();
        for _ in 0..1000 {
            if self.arena.stats().pending_reclamation == 0 {
                break;
            }
            pin().flush();
        }
        let stats = self.arena.stats();
        assert_eq!(stats.pending_reclamation, 0, "reclamation stuck: {stats:?}");
        assert_eq!(
            undropped() as usize,
            self.live.len(),
            "undropped after reclamation"
        );
    }
}

/// A small xorshift generator for `InsertTree`.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn op(m: &mut Model<'_>, op: &Op) {
    match op {
        Op::Insert {
            edges,
            parent,
            flags,
        } => {
            let edges = m.keys(edges, None);
            let parent = parent.and_then(|p| m.live_key(p));
            if let Some(k) = m.insert(edges, parent, flags.self_loop(), flags.panicky()) {
                if flags.rooted() {
                    let r = m.arena.root(k);
                    m.handles.push(r);
                }
                if flags.armed() {
                    m.arm(k, true);
                }
            }
        }
        Op::InsertTree {
            n,
            shape,
            parent,
            cycle,
        } => {
            let mut rng = u64::from(*shape) << 16 | 0x9e37;
            let mut new: Vec<Key> = Vec::new();
            let first_parent = parent.and_then(|p| m.live_key(p));
            for i in 0..*n as usize {
                let parent = if i == 0 {
                    first_parent
                } else {
                    Some(new[next(&mut rng) as usize % i])
                };
                // Sometimes a second edge to an earlier node: shared children.
                let r = next(&mut rng);
                let edges = if i > 0 && r.is_multiple_of(4) {
                    vec![new[(r >> 8) as usize % i]]
                } else {
                    vec![]
                };
                match m.insert(edges, parent, false, false) {
                    Some(k) => new.push(k),
                    None => break,
                }
            }
            if *cycle && new.len() > 1 {
                m.link(new[new.len() - 1], new[0]);
            }
        }
        Op::Link { from, to } => {
            if let Some(from) = m.live_key(*from) {
                if let Some(to) = m.key(*to, Some(from)) {
                    m.link(from, to);
                }
            }
        }
        Op::Unlink { from, edge } => {
            if let Some(from) = m.live_key(*from) {
                m.unlink(from, *edge);
            }
        }
        Op::Remove(sel) => {
            if let Some(k) = m.key(*sel, None) {
                m.remove(k);
            }
        }
        Op::Root(sel) => {
            if let Some(k) = m.key(*sel, None) {
                let r = m.arena.root(k);
                assert_eq!(r.key(), k);
                m.handles.push(r);
            }
        }
        Op::Unroot(i) => {
            if !m.handles.is_empty() {
                let i = *i as usize % m.handles.len();
                m.handles.swap_remove(i);
            }
        }
        Op::Bomb { node, armed } => {
            if let Some(k) = m.live_key(*node) {
                m.arm(k, *armed);
            }
        }
        Op::Collect { roots, two } => {
            let roots = m.keys(roots, None);
            m.collect(&roots, *two);
        }
        Op::Reclaim => m.reclaim(),
    }
}

fn run(input: Input) {
    // Everything from earlier runs was dropped, and nothing was dropped late. (`catch`
    // also installs the panic hook that lets `TracePanic` and `DropPanic` unwind.)
    assert_all_dropped("start of run");
    let _ = catch(false, || ());
    let cap = input.cap.map(|c| u32::from(c % 64) + 1);
    let arena: Arena<Node> = match cap {
        Some(c) => Arena::builder().max_slots(c).build(),
        None => Arena::new(),
    };
    let mut m = Model {
        arena: &arena,
        cap,
        live: BTreeMap::new(),
        issued: Vec::new(),
        issued_set: HashSet::new(),
        dead: Vec::new(),
        handles: Vec::new(),
        panicky: false,
        next_id: 0,
    };
    for o in &input.ops[..input.ops.len().min(MAX_OPS)] {
        op(&mut m, o);
        m.check_counts();
    }
    let roots = m.keys(&input.end.roots, None);
    m.collect(&roots, input.end.two);
    m.handles.clear();
    if input.end.sweep_all {
        // Disarm and collect with no roots: everything goes.
        let live: Vec<Key> = m.live.keys().copied().collect();
        for k in live {
            m.arm(k, false);
        }
        m.collect(&[], false);
        assert!(arena.is_empty());
        m.reclaim();
    }
    let any_panicky = m.panicky;
    drop(m);
    // Dropping the arena drops every value left, live or pending, and passes on the first
    // drop panic.
    match catch(false, || drop(arena)) {
        Ok(()) => {}
        Err(Caught::DropPanic) => assert!(any_panicky),
        Err(c) => panic!("dropping the arena: {c:?}"),
    }
    take_last_drop_panic();
    assert_all_dropped("after dropping the arena");
    settle();
}

fuzz_target!(|input: Input| run(input));
