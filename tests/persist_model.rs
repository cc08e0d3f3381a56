//! Persistence (feature `serde`) against a model: random histories of an
//! `Arena<(u64, Vec<Key>)>` (a value id plus the keys of other values it links to), with
//! round trips through `serde_json`, `postcard` and `write_snapshot`/`read_snapshot` at
//! random points, the history going on with the loaded arena (so an arena may be saved and
//! loaded several times, and compacted, trimmed, cleared and collected in between).
//!
//! The model (after `tests/compaction_model.rs`) knows every key ever issued, by an
//! insertion or as a moved value's new key, and the value it named. After every operation,
//! and in particular after every round trip:
//!
//! * `len`, `max_slots`, `stats().live` and `iter` agree with the model: every live key
//!   finds exactly its value (with the same links), and nothing else is live;
//! * every key ever issued and now dead finds nothing (`get`, `contains`), whatever
//!   removed it (`remove`, `take`, `retain`, `clear`, a collection, a compaction that moved
//!   its value), and however many times the arena was saved and loaded since;
//! * every key the arena issues is new: never equal to a key issued before, by this arena
//!   or by any arena it was loaded from (dead stays dead after the slot is reused);
//! * the loaded arena describes the same image as the one saved (its JSON is equal, but
//!   for trailing slots free at the floor: see [`canonical`]), and a capped arena keeps
//!   its cap and refuses an insertion only when full.
//!
//! The plain tests at the end pin the serde representation: the exact JSON and postcard
//! bytes of a tiny arena, keys as `u64`, and a serde error (never a panic) for every kind
//! of description no arena could have written.
#![cfg(feature = "serde")]

use epoch_arena::{pin, Arena, InsertError, Key, Relocate};
use serde::Serialize;
use std::collections::BTreeMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A cheap hasher for keys and ids (the model hashes every key it checks).
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn finish(&self) -> u64 {
        self.0 ^ self.0 >> 32
    }
}

type HashMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<KeyHasher>>;
type HashSet<K> = std::collections::HashSet<K, BuildHasherDefault<KeyHasher>>;

/// The arena's value: an id and the keys it links to (`Trace` and `Serialize` both).
type Val = (u64, Vec<Key>);

/// Links a value keeps at most (older ones are dropped first).
const MAX_LINKS: usize = 6;

/// How an operation chooses a key.
#[derive(Debug, Clone, Copy)]
enum Sel {
    /// The `n`-th live value (by id), if any.
    Live(usize),
    /// A key issued earlier, live or dead.
    Issued(usize),
    /// A made-up key with a small index and generation: likely to name a real slot.
    Forged { index: u8, generation: u8 },
}

/// How a round trip saves and loads the arena.
#[derive(Debug, Clone, Copy)]
enum Via {
    Json,
    Postcard,
    Snapshot,
}

#[derive(Debug, Clone)]
enum Op {
    /// One insertion, linking to the chosen keys.
    Insert(Vec<Sel>),
    /// `insert_many` of `n` values, each linking to `link` if given.
    InsertMany {
        n: u16,
        link: Option<Sel>,
    },
    /// Many single insertions: regrowth after a compaction or a load.
    Regrow(u16),
    Remove(Sel),
    /// Removes up to `n` live values, from the `start`-th.
    RemoveMany {
        start: usize,
        n: u8,
    },
    Take(Sel),
    /// Pushes a key onto the links of the `from`-th live value (through `get_mut`).
    Link {
        from: usize,
        to: Sel,
    },
    /// Keeps the values whose id's bit (`id % 64`) is set.
    Retain(u64),
    /// Drives reclamation until nothing is pending.
    Reclaim,
    Compact,
    /// `compact_with(|v, r| v.1.relocate(r))`.
    CompactWith,
    ShrinkToFit,
    Trim,
    Clear,
    /// Garbage collection from these roots.
    Collect(Vec<Sel>),
    /// Saves the arena and goes on with the loaded one.
    RoundTrip(Via),
}

/// What a link named when it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Named {
    /// A live value: the link finds it, or (once it dangles) nothing.
    Value(u64),
    /// A key issued before and dead then: it finds nothing, forever.
    Dead,
    /// A made-up key that named nothing: it finds whatever the model says it names.
    Forged,
}

#[derive(Debug, Clone)]
struct Link {
    key: Key,
    named: Named,
}

#[derive(Debug, Clone)]
struct Entry {
    key: Key,
    links: Vec<Link>,
}

struct Model {
    arena: Arena<Val>,
    cap: Option<u32>,
    next_id: u64,
    /// Every key ever issued (by this arena or one it was loaded from), and the id of the
    /// value it named.
    issued: HashMap<Key, u64>,
    /// The same keys in issue order (for `Sel::Issued`).
    issued_list: Vec<Key>,
    /// Live values by id.
    live: BTreeMap<u64, Entry>,
    /// Live keys to ids.
    by_key: HashMap<Key, u64>,
    /// `stats().inserted` and `removed` as the model counts them (from the last load on).
    inserted: usize,
    removed: usize,
    /// At least `stats().pending_reclamation` (see `tests/compaction_model.rs`).
    pending_bound: usize,
    /// Round trips so far.
    loads: usize,
}

/// Runs `ops` on a fresh arena (capped at `cap` slots if given), checking everything after
/// every operation; at the end one more round trip of each kind, each followed by
/// regrowth (the loaded arena's new keys must all be new).
fn run(cap: Option<u32>, ops: &[Op]) {
    let arena = match cap {
        Some(c) => Arena::builder().max_slots(c).build(),
        None => Arena::new(),
    };
    let mut m = Model {
        arena,
        cap,
        next_id: 0,
        issued: HashMap::default(),
        issued_list: Vec::new(),
        live: BTreeMap::new(),
        by_key: HashMap::default(),
        inserted: 0,
        removed: 0,
        pending_bound: 0,
        loads: 0,
    };
    for (i, op) in ops.iter().enumerate() {
        m.apply(op);
        m.check(&format!("after op {i} ({op:?})"));
    }
    for via in [Via::Snapshot, Via::Json, Via::Postcard] {
        m.apply(&Op::RoundTrip(via));
        m.check(&format!("final round trip via {via:?}"));
        m.apply(&Op::Regrow(40));
        m.check(&format!("regrowth after the final round trip via {via:?}"));
    }
}

/// True if `f` panicked with the arena's "key space is full" panic, false if it returned.
fn catch_full(f: impl FnOnce()) -> bool {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(()) => false,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned());
            if msg.is_some_and(|m| m.contains("the key space is full")) {
                true
            } else {
                std::panic::resume_unwind(payload)
            }
        }
    }
}

impl Model {
    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn nth_live(&self, n: usize) -> Option<(u64, Key)> {
        if self.live.is_empty() {
            return None;
        }
        let (&id, e) = self.live.iter().nth(n % self.live.len())?;
        Some((id, e.key))
    }

    fn pick(&self, sel: Sel) -> Option<Key> {
        match sel {
            Sel::Live(n) => self.nth_live(n).map(|(_, k)| k),
            Sel::Issued(n) => {
                (!self.issued_list.is_empty()).then(|| self.issued_list[n % self.issued_list.len()])
            }
            Sel::Forged { index, generation } => {
                Key::from_bits(u64::from(index) << 32 | (u64::from(generation) * 4 + 1))
            }
        }
    }

    /// A link to `key`, with what it names now.
    fn link(&self, key: Key) -> Link {
        let named = match (self.by_key.get(&key), self.issued.contains_key(&key)) {
            (Some(&id), _) => Named::Value(id),
            (None, true) => Named::Dead,
            (None, false) => Named::Forged,
        };
        Link { key, named }
    }

    fn links(&self, sels: &[Sel]) -> Vec<Link> {
        sels.iter()
            .filter_map(|&s| self.pick(s))
            .take(MAX_LINKS)
            .map(|k| self.link(k))
            .collect()
    }

    /// A key the arena just issued for value `id`: it must be new, ever.
    #[track_caller]
    fn issue(&mut self, key: Key, id: u64) {
        assert_eq!(
            key.generation() % 4,
            1,
            "{key:?}: not an occupied generation"
        );
        if let Some(old) = self.issued.insert(key, id) {
            panic!(
                "{key:?} issued twice (after {} round trips): for value {old} and now for \
                 value {id}, so the stale key of value {old} finds value {id}",
                self.loads
            );
        }
        if let Some(cap) = self.cap {
            assert!(key.index() < cap, "{key:?} at or above the cap {cap}");
        }
        self.issued_list.push(key);
    }

    #[track_caller]
    fn record(&mut self, key: Key, id: u64, links: Vec<Link>) {
        self.issue(key, id);
        self.by_key.insert(key, id);
        assert!(self.live.insert(id, Entry { key, links }).is_none());
        self.inserted += 1;
    }

    fn kill(&mut self, id: u64) {
        let e = self.live.remove(&id).expect("killing a dead value");
        self.by_key.remove(&e.key);
        self.removed += 1;
    }

    fn pending(&self) -> usize {
        self.arena.stats().pending_reclamation
    }

    fn pending_before_insert(&self) -> usize {
        match self.cap {
            Some(cap) if self.live.len() + self.pending_bound >= cap as usize => self.pending(),
            _ => self.pending_bound,
        }
    }

    /// An insertion into a capped arena failed: live and pending values (counted before it)
    /// must fill the cap.
    #[track_caller]
    fn full_is_right(&self, pending_before: usize, what: &str) {
        let cap = self
            .cap
            .unwrap_or_else(|| panic!("{what}: full without a cap"));
        assert!(
            self.live.len() + pending_before >= cap as usize,
            "{what}: full with {} live and {pending_before} pending of {cap} slots after {} \
             round trips: {:?}",
            self.live.len(),
            self.loads,
            self.arena.stats()
        );
    }

    /// Inserts one value; false if the capped arena is full.
    fn insert_one(&mut self, links: Vec<Link>) -> bool {
        let id = self.new_id();
        let value = (id, links.iter().map(|l| l.key).collect());
        if self.cap.is_none() {
            let key = self.arena.insert(value);
            self.record(key, id, links);
            return true;
        }
        let pending = self.pending_before_insert();
        match self
            .arena
            .try_insert(value)
            .map_err(InsertError::into_inner)
        {
            Ok(key) => {
                self.record(key, id, links);
                true
            }
            Err(back) => {
                assert_eq!(back.0, id, "try_insert gave back another value");
                self.full_is_right(pending, "try_insert");
                false
            }
        }
    }

    fn insert_many(&mut self, n: usize, link: Option<Sel>) {
        let links = self.links(link.as_slice());
        let first = self.next_id + 1;
        let ids: Vec<u64> = (0..n).map(|_| self.new_id()).collect();
        let values: Vec<Val> = ids
            .iter()
            .map(|&id| (id, links.iter().map(|l| l.key).collect()))
            .collect();
        let pending = self.pending_before_insert();
        let room = self.cap.map_or(usize::MAX, |c| {
            (c as usize).saturating_sub(self.live.len() + pending)
        });
        if n <= room {
            let keys = self.arena.insert_many(values);
            assert_eq!(keys.len(), n, "insert_many returned too few keys");
            for (&id, key) in ids.iter().zip(keys) {
                self.record(key, id, links.clone());
            }
            return;
        }
        let mut keys = None;
        let arena = &self.arena;
        let full = catch_full(|| keys = Some(arena.insert_many(values)));
        match keys {
            Some(keys) => {
                assert!(!full);
                assert_eq!(keys.len(), n, "insert_many returned too few keys");
                for (&id, key) in ids.iter().zip(keys) {
                    self.record(key, id, links.clone());
                }
            }
            None => {
                assert!(full);
                // The values inserted before the arena filled up stay: a prefix of the ids.
                let guard = pin();
                let mut got: Vec<(u64, Key)> = self
                    .arena
                    .iter(&guard)
                    .filter(|(_, v)| v.0 >= first)
                    .map(|(k, v)| (v.0, k))
                    .collect();
                drop(guard);
                got.sort();
                for (i, &(id, key)) in got.iter().enumerate() {
                    assert_eq!(id, first + i as u64, "insert_many kept a non-prefix");
                    self.record(key, id, links.clone());
                }
                assert!(got.len() < n);
                self.full_is_right(pending, "insert_many");
            }
        }
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Insert(sels) => {
                let links = self.links(sels);
                self.insert_one(links);
            }
            Op::InsertMany { n, link } => self.insert_many(usize::from(*n), *link),
            Op::Regrow(n) => {
                let mut prev: Option<Key> = self.nth_live(usize::MAX).map(|(_, k)| k);
                for _ in 0..*n {
                    let links: Vec<Link> = prev.iter().map(|&k| self.link(k)).collect();
                    if !self.insert_one(links) {
                        break;
                    }
                    prev = self.issued_list.last().copied();
                }
            }
            Op::Remove(sel) => {
                let Some(key) = self.pick(*sel) else { return };
                let expected = self.by_key.get(&key).copied();
                assert_eq!(
                    self.arena.remove(key),
                    expected.is_some(),
                    "remove({key:?})"
                );
                if let Some(id) = expected {
                    self.kill(id);
                    self.pending_bound += 1;
                }
            }
            Op::RemoveMany { start, n } => {
                let chosen: Vec<(u64, Key)> = self
                    .live
                    .iter()
                    .skip(start % self.live.len().max(1))
                    .take(usize::from(*n))
                    .map(|(&id, e)| (id, e.key))
                    .collect();
                for (id, key) in chosen {
                    assert!(self.arena.remove(key), "remove({key:?}) of a live key");
                    self.kill(id);
                    self.pending_bound += 1;
                }
            }
            Op::Take(sel) => {
                let Some(key) = self.pick(*sel) else { return };
                let expected = self.by_key.get(&key).copied();
                match (self.arena.take(key), expected) {
                    (Some(v), Some(id)) => {
                        assert_eq!(v.0, id, "take({key:?}) took another value");
                        self.kill(id);
                    }
                    (None, None) => {}
                    (got, want) => panic!("take({key:?}) = {got:?}, model says {want:?}"),
                }
            }
            Op::Link { from, to } => {
                let (Some((id, key)), Some(to)) = (self.nth_live(*from), self.pick(*to)) else {
                    return;
                };
                let link = self.link(to);
                let v = self.arena.get_mut(key).expect("get_mut of a live key");
                assert_eq!(v.0, id);
                v.1.push(to);
                let e = self.live.get_mut(&id).unwrap();
                e.links.push(link);
                if e.links.len() > MAX_LINKS {
                    e.links.remove(0);
                    v.1.remove(0);
                }
            }
            Op::Retain(bits) => {
                let keep = |id: u64| bits >> (id % 64) & 1 == 1;
                self.arena.retain(|_, v| keep(v.0));
                let dead: Vec<u64> = self.live.keys().copied().filter(|&id| !keep(id)).collect();
                for id in dead {
                    self.kill(id);
                }
            }
            Op::Reclaim => {
                let arena = &self.arena;
                assert!(
                    testkit::reclaim_until(arena, || arena.stats().pending_reclamation == 0),
                    "reclamation never finished: {:?}",
                    arena.stats()
                );
                self.pending_bound = 0;
            }
            Op::Compact => self.compact(false),
            Op::CompactWith => self.compact(true),
            Op::ShrinkToFit => {
                self.arena.shrink_to_fit();
                self.pending_bound = 0;
            }
            Op::Trim => {
                self.arena.trim();
            }
            Op::Clear => {
                self.arena.clear();
                let ids: Vec<u64> = self.live.keys().copied().collect();
                for id in ids {
                    self.kill(id);
                }
            }
            Op::Collect(roots) => self.collect(roots),
            Op::RoundTrip(via) => self.round_trip(*via),
        }
    }

    fn collect(&mut self, roots: &[Sel]) {
        let roots: Vec<Key> = roots.iter().filter_map(|&s| self.pick(s)).collect();
        // Reachable: from the live roots, through links that name a live value now.
        let mut reached: HashSet<u64> = HashSet::default();
        let mut stack: Vec<u64> = roots
            .iter()
            .filter_map(|k| self.by_key.get(k).copied())
            .collect();
        while let Some(id) = stack.pop() {
            if reached.insert(id) {
                for l in &self.live[&id].links {
                    if let Some(&to) = self.by_key.get(&l.key) {
                        stack.push(to);
                    }
                }
            }
        }
        let before = self.live.len();
        let stats = self.arena.collect(roots.iter().copied());
        assert_eq!(stats.marked, reached.len(), "collect marked");
        assert_eq!(stats.swept, before - reached.len(), "collect swept");
        let swept: Vec<u64> = self
            .live
            .keys()
            .copied()
            .filter(|id| !reached.contains(id))
            .collect();
        for id in swept {
            self.kill(id);
            self.pending_bound += 1;
        }
    }

    fn compact(&mut self, relocate: bool) {
        let before: HashMap<Key, u64> = self.by_key.clone();
        let remap = if relocate {
            self.arena.compact_with(|v, r| v.1.relocate(r))
        } else {
            self.arena.compact()
        };
        self.pending_bound = 0;
        assert_eq!(remap.live(), before.len(), "remap.live()");
        let mut new_of: HashMap<u64, Key> = HashMap::default();
        let mut moves: Vec<(Key, Key)> = Vec::new();
        for &old in &self.issued_list {
            match (before.get(&old), remap.get(old)) {
                (Some(&id), Some(new)) => {
                    if new != old {
                        moves.push((old, new));
                    }
                    new_of.insert(id, new);
                }
                (None, None) => {}
                (was, now) => panic!("remap.get({old:?}) = {now:?}, value before: {was:?}"),
            }
        }
        // New keys must be new (issue checks), also against keys from before a load.
        for &(old, new) in &moves {
            self.issue(new, before[&old]);
            self.by_key.remove(&old);
        }
        for &(old, new) in &moves {
            let id = before[&old];
            self.by_key.insert(new, id);
            self.live.get_mut(&id).unwrap().key = new;
        }
        if relocate {
            for e in self.live.values_mut() {
                for l in &mut e.links {
                    if let Some(id) = before.get(&l.key) {
                        l.key = new_of[id];
                    }
                }
            }
        }
    }

    /// Saves the arena `via` one of the formats, loads it, checks that the loaded arena
    /// describes the same image, and goes on with it.
    fn round_trip(&mut self, via: Via) {
        let image = serde_json::to_string(&self.arena).expect("serializing to JSON");
        let loaded: Arena<Val> = match via {
            Via::Json => serde_json::from_str(&image)
                .unwrap_or_else(|e| panic!("loading the JSON it wrote: {e}\n{image}")),
            Via::Postcard => {
                let bytes = postcard::to_allocvec(&self.arena).expect("serializing to postcard");
                postcard::from_bytes(&bytes)
                    .unwrap_or_else(|e| panic!("loading the postcard it wrote: {e}\n{image}"))
            }
            Via::Snapshot => {
                let mut bytes = Vec::new();
                let info = self
                    .arena
                    .write_snapshot(&mut bytes)
                    .expect("write_snapshot");
                assert_eq!(info.bytes, bytes.len() as u64, "SnapshotInfo::bytes");
                assert_eq!(info.live, self.live.len() as u64, "SnapshotInfo::live");
                let checksum = u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().unwrap());
                assert_eq!(info.checksum, checksum, "SnapshotInfo::checksum");
                // Followed by other bytes in the same stream: read exactly the snapshot.
                bytes.extend_from_slice(b"next");
                let mut input = &bytes[..];
                let loaded = Arena::read_snapshot(&mut input)
                    .unwrap_or_else(|e| panic!("loading the snapshot it wrote: {e}\n{image}"));
                assert_eq!(
                    input, b"next",
                    "read_snapshot did not stop at the snapshot's end"
                );
                loaded
            }
        };
        self.loads += 1;
        let when = format!("round trip {} via {via:?}", self.loads);
        assert_eq!(loaded.len(), self.arena.len(), "{when}: len");
        assert_eq!(
            loaded.max_slots(),
            self.arena.max_slots(),
            "{when}: max_slots"
        );
        let again = serde_json::to_string(&loaded).expect("serializing the loaded arena");
        assert_eq!(
            again, image,
            "{when}: the loaded arena describes another image"
        );
        self.arena = loaded;
        // The counters start again from the loaded arena (and nothing is pending in it).
        let s = self.arena.stats();
        assert_eq!(s.live, self.live.len(), "{when}: stats.live {s:?}");
        assert_eq!(s.pending_reclamation, 0, "{when}: pending {s:?}");
        assert_eq!(s.inserted - s.removed, s.live, "{when}: {s:?}");
        self.inserted = s.inserted;
        self.removed = s.removed;
        self.pending_bound = 0;
    }

    /// Everything the module docs promise after every operation.
    fn check(&self, when: &str) {
        let a = &self.arena;
        let s = a.stats();
        assert_eq!(a.len(), self.live.len(), "{when}: len");
        assert_eq!(s.live, self.live.len(), "{when}: stats.live");
        assert_eq!(s.inserted, self.inserted, "{when}: stats.inserted: {s:?}");
        assert_eq!(s.removed, self.removed, "{when}: stats.removed: {s:?}");
        assert_eq!(
            a.max_slots(),
            self.cap.unwrap_or(u32::MAX),
            "{when}: max_slots"
        );
        let guard = pin();
        let mut n = 0;
        for (key, v) in a.iter(&guard) {
            n += 1;
            let id = self.by_key.get(&key).copied();
            assert_eq!(id, Some(v.0), "{when}: iter yielded {key:?} -> {}", v.0);
            let e = &self.live[&v.0];
            assert!(
                v.1.iter().eq(e.links.iter().map(|l| &l.key)),
                "{when}: value {} holds {:?}, model says {:?}",
                v.0,
                v.1,
                e.links
            );
        }
        assert_eq!(n, self.live.len(), "{when}: iter missed values");
        for &k in &self.issued_list {
            let want = self.by_key.get(&k).copied();
            let got = a.get(k, &guard).map(|v| v.0);
            assert_eq!(
                got, want,
                "{when}: get({k:?}), which named value {}, after {} round trips",
                self.issued[&k], self.loads
            );
            assert_eq!(a.contains(k), want.is_some(), "{when}: contains({k:?})");
        }
        for (&id, e) in &self.live {
            for l in &e.links {
                let got = a.get(l.key, &guard).map(|v| v.0);
                let ok = match l.named {
                    Named::Value(t) => got.is_none() || got == Some(t),
                    Named::Dead => got.is_none(),
                    Named::Forged => true,
                };
                assert!(
                    ok && got == self.by_key.get(&l.key).copied(),
                    "{when}: value {id}'s link {:?} (named {:?}) finds {got:?}",
                    l.key,
                    l.named
                );
            }
        }
    }
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    fn sel() -> impl Strategy<Value = Sel> {
        prop_oneof![
            8 => any::<usize>().prop_map(Sel::Live),
            4 => any::<usize>().prop_map(Sel::Issued),
            1 => (any::<u8>(), any::<u8>())
                .prop_map(|(index, generation)| Sel::Forged { index, generation }),
        ]
    }

    fn via() -> impl Strategy<Value = Via> {
        prop_oneof![Just(Via::Json), Just(Via::Postcard), Just(Via::Snapshot)]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            12 => proptest::collection::vec(sel(), 0..3).prop_map(Op::Insert),
            3 => (0u16..48, proptest::option::of(sel()))
                .prop_map(|(n, link)| Op::InsertMany { n, link }),
            2 => (0u16..160).prop_map(Op::Regrow),
            6 => sel().prop_map(Op::Remove),
            2 => (any::<usize>(), 0u8..40).prop_map(|(start, n)| Op::RemoveMany { start, n }),
            4 => sel().prop_map(Op::Take),
            4 => (any::<usize>(), sel()).prop_map(|(from, to)| Op::Link { from, to }),
            1 => any::<u64>().prop_map(Op::Retain),
            2 => Just(Op::Reclaim),
            2 => Just(Op::Compact),
            2 => Just(Op::CompactWith),
            1 => Just(Op::ShrinkToFit),
            2 => Just(Op::Trim),
            1 => Just(Op::Clear),
            2 => proptest::collection::vec(sel(), 0..4).prop_map(Op::Collect),
            5 => via().prop_map(Op::RoundTrip),
        ]
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        proptest::collection::vec(op(), 0..if cfg!(miri) { 20 } else { 200 })
    }

    /// 64 cases, or `PROPTEST_CASES` (under miri, 1: see the config below).
    fn cases() -> u32 {
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(64)
    }

    proptest! {
        #![proptest_config(testkit::proptest_config(cases(), 1))]

        #[test]
        fn persist_model_unbounded(ops in ops()) {
            run(None, &ops);
        }

        #[test]
        fn persist_model_capped(
            cap in prop_oneof![1 => 1u32..40, 3 => 40u32..200],
            ops in ops(),
        ) {
            run(Some(cap), &ops);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The representation, pinned.

/// Three values inserted, the middle one removed (its slot is written as the FREE state
/// its reclamation gives it, 4, whether reclaimed yet or not).
#[test]
fn json_shape_of_a_tiny_arena() {
    let arena = Arena::new();
    let a = arena.insert("a".to_string());
    let b = arena.insert("b".to_string());
    let c = arena.insert("c".to_string());
    assert!(arena.remove(b));
    assert_eq!(
        serde_json::to_string(&arena).unwrap(),
        r#"{"max_slots":4294967295,"floor":0,"slots":[[1,"a"],[4,null],[1,"c"]],"len":2}"#
    );
    // The same image in postcard: max_slots (varint ff ff ff ff 0f), floor 0, 3 slots,
    // (1, Some("a")), (4, None), (1, Some("c")), len 2.
    assert_eq!(
        postcard::to_allocvec(&arena).unwrap(),
        [0xff, 0xff, 0xff, 0xff, 0x0f, 0, 3, 1, 1, 1, b'a', 4, 0, 1, 1, 1, b'c', 2]
    );
    // Reclaimed: the same.
    let arena_ref = &arena;
    assert!(testkit::reclaim_until(arena_ref, || arena_ref
        .stats()
        .pending_reclamation
        == 0));
    assert_eq!(
        serde_json::to_string(&arena).unwrap(),
        r#"{"max_slots":4294967295,"floor":0,"slots":[[1,"a"],[4,null],[1,"c"]],"len":2}"#
    );
    let loaded: Arena<String> = serde_json::from_str(
        r#"{"max_slots":4294967295,"floor":0,"slots":[[1,"a"],[4,null],[1,"c"]],"len":2}"#,
    )
    .unwrap();
    let guard = pin();
    assert_eq!(loaded.get(a, &guard).map(String::as_str), Some("a"));
    assert_eq!(loaded.get(b, &guard), None);
    assert_eq!(loaded.get(c, &guard).map(String::as_str), Some("c"));
    drop(guard);
    // Slot 1 comes back with generation 5, never 1.
    let mut loaded = loaded;
    let d = loaded.insert("d".to_string());
    assert_ne!(d, b);
    assert!(loaded.take(d).is_some());

    // A capped arena, a slot reused by `take` + `insert` (generation 5), and the empty one.
    let mut capped = Arena::builder().max_slots(8).build();
    let x = capped.insert("x".to_string());
    capped.insert("y".to_string());
    assert_eq!(capped.take(x).as_deref(), Some("x"));
    let z = capped.insert("z".to_string());
    assert_eq!((z.index(), z.generation()), (0, 5));
    assert_eq!(
        serde_json::to_string(&capped).unwrap(),
        r#"{"max_slots":8,"floor":0,"slots":[[5,"z"],[1,"y"]],"len":2}"#
    );
    let empty: Arena<String> = Arena::new();
    assert_eq!(
        serde_json::to_string(&empty).unwrap(),
        r#"{"max_slots":4294967295,"floor":0,"slots":[],"len":0}"#
    );
}

#[test]
fn key_json_round_trip_and_bad_bits() {
    let arena = Arena::new();
    arena.insert(0u8);
    let key = arena.insert(1u8);
    assert_eq!(key.to_bits(), 1 << 32 | 1);
    let json = serde_json::to_string(&key).unwrap();
    assert_eq!(json, "4294967297");
    assert_eq!(serde_json::from_str::<Key>(&json).unwrap(), key);
    let keys = vec![key, Key::from_bits(7 << 32 | 4_294_967_293).unwrap()];
    let json = serde_json::to_string(&keys).unwrap();
    assert_eq!(json, "[4294967297,34359738365]");
    assert_eq!(serde_json::from_str::<Vec<Key>>(&json).unwrap(), keys);
    assert_eq!(
        postcard::from_bytes::<Key>(&postcard::to_allocvec(&key).unwrap()).unwrap(),
        key
    );

    // Generations that are not 4n + 1 (0, 2, 3, 4, and the RETIRED state), and non-u64s.
    for bad in [
        "0",
        "2",
        "3",
        "4294967296",
        "4294967298",
        "4294967295",
        "18446744073709551615",
    ] {
        let err = serde_json::from_str::<Key>(bad).unwrap_err();
        assert!(
            err.to_string().contains("low 32 bits are 4n + 1"),
            "{bad}: {err}"
        );
    }
    for bad in ["-1", "1.5", "\"1\"", "null", "[1]"] {
        assert!(serde_json::from_str::<Key>(bad).is_err(), "{bad}");
    }
    assert!(postcard::from_bytes::<Key>(&postcard::to_allocvec(&2u64).unwrap()).is_err());
}

/// The arena's fields, laid out as the real representation, to write any description
/// (consistent or not) in any format.
#[derive(Serialize)]
struct Description {
    max_slots: u32,
    floor: u32,
    slots: Vec<(u32, Option<String>)>,
    len: u64,
}

fn description(max_slots: u32, floor: u32, slots: &[(u32, Option<&str>)], len: u64) -> Description {
    Description {
        max_slots,
        floor,
        slots: slots
            .iter()
            .map(|&(s, v)| (s, v.map(str::to_string)))
            .collect(),
        len,
    }
}

/// Every description no arena could have written: a serde error (with the reason), never
/// a panic, in JSON (map and sequence forms) and in postcard.
#[test]
fn inconsistent_descriptions_are_errors() {
    const M: u32 = u32::MAX;
    let cases: Vec<(&str, Description, &str)> = vec![
        (
            "REMOVED state",
            description(M, 0, &[(1, Some("a")), (2, None)], 1),
            "not a FREE state",
        ),
        (
            "REMOVED state 4n + 2 with a value",
            description(M, 0, &[(6, Some("a"))], 1),
            "a value in a slot whose state is not live",
        ),
        (
            "free state below the floor",
            description(M, 8, &[(4, None)], 0),
            "below the generation floor",
        ),
        (
            "value in a free slot",
            description(M, 0, &[(4, Some("a"))], 1),
            "a value in a slot whose state is not live",
        ),
        (
            "value in a retired slot",
            description(M, 0, &[(u32::MAX, Some("a"))], 1),
            "a value in a slot whose state is not live",
        ),
        (
            "live slot without a value",
            description(M, 0, &[(5, None)], 1),
            "a live slot without a value",
        ),
        (
            "more slots than max_slots",
            description(2, 0, &[(1, Some("a")), (4, None), (1, Some("c"))], 2),
            "slot 2: more slots than the key space limit",
        ),
        (
            "len too large",
            description(M, 0, &[(1, Some("a")), (4, None)], 2),
            "`len` is 2, but 1 slots are live",
        ),
        (
            "len too small",
            description(M, 0, &[(1, Some("a")), (1, Some("b"))], 1),
            "`len` is 1, but 2 slots are live",
        ),
        (
            "floor not a multiple of 4",
            description(M, 2, &[], 0),
            "the generation floor is not a FREE state",
        ),
    ];
    for (what, d, reason) in &cases {
        let json = serde_json::to_string(d).unwrap();
        let err = serde_json::from_str::<Arena<String>>(&json).unwrap_err();
        assert!(
            err.to_string().contains(reason),
            "{what}: JSON {json}: {err}"
        );
        // The sequence form (`visit_seq`).
        let seq = serde_json::to_string(&(d.max_slots, d.floor, &d.slots, d.len)).unwrap();
        let err = serde_json::from_str::<Arena<String>>(&seq).unwrap_err();
        assert!(
            err.to_string().contains(reason),
            "{what}: JSON {seq}: {err}"
        );
        let bytes = postcard::to_allocvec(d).unwrap();
        assert!(
            postcard::from_bytes::<Arena<String>>(&bytes).is_err(),
            "{what}: postcard accepted it"
        );
    }

    // Field order, names and count (JSON map form).
    let shape_cases = [
        (
            r#"{"slots":[],"max_slots":10,"floor":0,"len":0}"#,
            "`slots` must come after `max_slots` and `floor`",
        ),
        (
            r#"{"max_slots":10,"slots":[],"floor":0,"len":0}"#,
            "`slots` must come after `max_slots` and `floor`",
        ),
        (
            r#"{"max_slots":10,"floor":0,"slots":[],"len":0,"extra":1}"#,
            "unknown field `extra`",
        ),
        (
            r#"{"max_slots":10,"floor":0,"max_slots":10,"slots":[],"len":0}"#,
            "duplicate field `max_slots`",
        ),
        (
            r#"{"max_slots":10,"floor":0,"slots":[],"slots":[],"len":0}"#,
            "duplicate field `slots`",
        ),
        (
            r#"{"max_slots":10,"floor":0,"slots":[]}"#,
            "missing field `len`",
        ),
        (
            r#"{"max_slots":10,"floor":0,"len":0}"#,
            "missing field `slots`",
        ),
        (r#"{"max_slots":10,"floor":0,"slots":[[1]],"len":0}"#, ""),
        (
            r#"{"max_slots":10,"floor":0,"slots":[[1,"a",2]],"len":1}"#,
            "",
        ),
        (r#"{"max_slots":-1,"floor":0,"slots":[],"len":0}"#, ""),
        (
            r#"{"max_slots":10,"floor":0,"slots":[[4294967296,null]],"len":0}"#,
            "",
        ),
        (r#"{"max_slots":10,"floor":0,"slots":[[1,7]],"len":1}"#, ""),
        (r#"[10,0]"#, "invalid length 2"),
        (r#"[10,0,[]]"#, "invalid length 3"),
        (r#"[]"#, "invalid length 0"),
        (r#"null"#, ""),
        (r#"{"max_slots":10,"floor":0,"slots":[[1,"a"]"#, ""),
    ];
    for (json, reason) in shape_cases {
        let err = serde_json::from_str::<Arena<String>>(json).unwrap_err();
        assert!(err.to_string().contains(reason), "{json}: {err}");
    }

    // A value that does not decode, after slots that did: their values are dropped, no leak
    // or double drop (Miri or a leak checker would see one).
    let err = serde_json::from_str::<Arena<String>>(
        r#"{"max_slots":10,"floor":0,"slots":[[1,"a"],[4,null],[1,"b"],[1,17]],"len":3}"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("invalid type"), "{err}");

    // Postcard input that declares 2^32 - 1 slots and ends: an error, at once, without
    // reserving room for them.
    let mut bytes = postcard::to_allocvec(&(u32::MAX, 0u32)).unwrap();
    bytes.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    let started = std::time::Instant::now();
    assert!(postcard::from_bytes::<Arena<String>>(&bytes).is_err());
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // Truncated postcard of a real arena, at every length: an error.
    let arena = Arena::new();
    for s in ["a", "bb", "ccc"] {
        arena.insert(s.to_string());
    }
    let bytes = postcard::to_allocvec(&arena).unwrap();
    for cut in 0..bytes.len() {
        assert!(
            postcard::from_bytes::<Arena<String>>(&bytes[..cut]).is_err(),
            "postcard cut at {cut} of {}",
            bytes.len()
        );
    }
}

/// Descriptions an arena could have written load, and keep their keys' promises: a retired
/// slot stays retired, a free slot's next key is above its state, and fresh slots start at
/// the floor, also at the last FREE state before the wrap.
#[test]
fn boundary_descriptions_load_and_keep_their_promises() {
    let json = r#"{"max_slots":5,"floor":12,"slots":[[4294967295,null],[4294967293,"old"],[12,null],[40,null],[13,"x"]],"len":2}"#;
    let mut arena: Arena<String> = serde_json::from_str(json).unwrap();
    assert_eq!((arena.len(), arena.max_slots()), (2, 5));
    assert_eq!(serde_json::to_string(&arena).unwrap(), json);
    let old = Key::from_bits(1 << 32 | 4_294_967_293).unwrap();
    let x = Key::from_bits(4 << 32 | 13).unwrap();
    {
        let guard = pin();
        assert_eq!(arena.get(old, &guard).map(String::as_str), Some("old"));
        assert_eq!(arena.get(x, &guard).map(String::as_str), Some("x"));
    }
    // The near-wrap slot retires when its value goes.
    assert_eq!(arena.take(old).as_deref(), Some("old"));
    assert_eq!(
        serde_json::to_string(&arena).unwrap(),
        r#"{"max_slots":5,"floor":12,"slots":[[4294967295,null],[4294967295,null],[12,null],[40,null],[13,"x"]],"len":1}"#
    );
    // Two free slots are left (states 12 and 40): two insertions, then the capped arena is
    // full (slots 0 and 1 are retired).
    let mut got: Vec<(u32, u32)> = (0..2)
        .map(|i| {
            let k = arena
                .try_insert(format!("n{i}"))
                .expect("a free slot is left");
            (k.index(), k.generation())
        })
        .collect();
    got.sort();
    assert_eq!(got, [(2, 13), (3, 41)]);
    assert!(arena.try_insert("full".to_string()).is_err());

    // Floor at the last FREE state: every fresh slot serves one insertion, then retires.
    let mut arena: Arena<u8> =
        serde_json::from_str(r#"{"max_slots":3,"floor":4294967292,"slots":[],"len":0}"#).unwrap();
    let mut seen = Vec::new();
    while let Ok(k) = arena.try_insert(1) {
        assert_eq!(k.generation(), 4_294_967_293);
        assert!(!seen.contains(&k), "{k:?} issued twice");
        seen.push(k);
        assert_eq!(arena.take(k), Some(1));
        assert!(seen.len() <= 3, "a slot was reused past the wrap");
    }
    assert_eq!(seen.len(), 3);
    assert_eq!(
        serde_json::to_string(&arena).unwrap(),
        r#"{"max_slots":3,"floor":4294967292,"slots":[[4294967295,null],[4294967295,null],[4294967295,null]],"len":0}"#
    );
}
