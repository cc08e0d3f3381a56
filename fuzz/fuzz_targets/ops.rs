//! Differential fuzzing of the whole single-threaded API against a `BTreeMap` model.
//!
//! The input is an optional slot cap and a list of operations. Every operation's result is
//! compared with the model, and after every operation the arena's counts are checked: `len`
//! and `stats().live` equal the model's size, and the values made but not yet dropped are
//! exactly the live ones plus those waiting for reclamation. Every key ever handed out is
//! kept: a key is never handed out twice, and a removed key stays dead forever. At the end
//! the arena is dropped and every value ever made must have been dropped exactly once.
//!
//! Panics are part of the input: `insert_with` closures and `retain` predicates that panic
//! (the arena must be unchanged, and the slot reusable at once), values whose drop panics
//! (`retain` and dropping a `Drain` pass the panic on and keep the rest; `clear` and dropping
//! the arena drop everything, then pass the first panic on; reclamation swallows it), and
//! `insert` on a full capped arena.
#![no_main]

mod common;

use arbitrary::Arbitrary;
use common::{
    assert_all_dropped, catch, finish_run, intended_panic, on_path, take_last_drop_panic,
    undropped, Caught, Val,
};
use epoch_arena::{pin, Arena, Handle, InsertError, Key};
use libfuzzer_sys::fuzz_target;
use std::cell::Cell;
use std::collections::{BTreeMap, HashSet};
use testkit::reclaim_until;

/// Operations per input; more only slow the fuzzer down.
const MAX_OPS: usize = 256;

#[derive(Arbitrary, Debug)]
struct Input {
    /// `Some(n)`: `Builder::max_slots(n)` (0 included); `None`: unlimited.
    cap: Option<u8>,
    ops: Vec<Op>,
}

/// Which insertion and removal path to use.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Arena,
    /// The long-lived `Handle`, made on first use.
    Handle,
}

/// `arena.$method(args)`, or the same through the handle in `h`, as `via` says.
macro_rules! via {
    ($via:expr, $arena:expr, $h:expr, $($call:tt)*) => {
        on_path!($via == Via::Handle, $arena, $h, $($call)*)
    };
}

/// How an operation chooses its key.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum KeySel {
    /// A key handed out earlier (live or dead).
    Issued(u16),
    /// A live key, if any.
    Live(u16),
    /// A made-up key with a small index and generation: likely to hit real slots.
    Small { index: u8, generation: u8 },
    /// A made-up key from arbitrary bits (skipped if `Key::from_bits` rejects them).
    Raw(u64),
}

#[derive(Arbitrary, Debug)]
enum Op {
    Insert {
        via: Via,
        payload: u64,
        /// The value panics when the arena drops it.
        panicky: bool,
    },
    TryInsert {
        via: Via,
        payload: u64,
        panicky: bool,
    },
    InsertWith {
        via: Via,
        payload: u64,
        /// The closure panics after (maybe) the nested insertion.
        panic: bool,
        /// The closure inserts another value through `Arena::try_insert` first.
        nested: Option<u64>,
    },
    /// Up to 128 insertions (`insert`, or `try_insert` with a cap): crosses chunk and batch
    /// boundaries with short inputs.
    InsertMany {
        via: Via,
        n: u8,
    },
    /// Removes up to `n` live keys, in key order from the `start`-th.
    RemoveMany {
        via: Via,
        start: u16,
        n: u8,
    },
    Get(KeySel),
    Contains(KeySel),
    Remove {
        via: Via,
        key: KeySel,
    },
    /// Reads a value under a guard, removes it, drives reclamation, reads it again.
    HoldAcrossRemove {
        via: Via,
        key: KeySel,
        flushes: u8,
    },
    FromBits(u64),
    Iter,
    Stats,
    Flush,
    PinFlush {
        repin: bool,
    },
    HandleFlush,
    HandleDrop,
    /// Flushes everything and drives reclamation until nothing is pending.
    Reclaim,
    // `&mut` operations: the handle is dropped before them.
    Take(KeySel),
    GetMut {
        key: KeySel,
        delta: u64,
    },
    Retain {
        keep_bits: u64,
        delta: u64,
        panic_at: Option<u8>,
    },
    /// `None`: consume the whole drain; `Some(n)`: take `n` items, then drop it.
    Drain(Option<u8>),
    Clear,
    IterMut {
        bits: u64,
        delta: u64,
    },
    /// With a cap: reclaim everything, then fill every slot; one more insertion must fail.
    Fill,
}

impl Op {
    fn needs_mut(&self) -> bool {
        matches!(
            self,
            Op::Take(_)
                | Op::GetMut { .. }
                | Op::Retain { .. }
                | Op::Drain(_)
                | Op::Clear
                | Op::IterMut { .. }
                | Op::Fill
        )
    }
}

struct Model {
    cap: Option<u32>,
    /// Live keys (as bits) to `(id, payload)`. A `BTreeMap` so runs are deterministic.
    live: BTreeMap<u64, (u64, u64)>,
    /// Every key handed out, in order.
    issued: Vec<Key>,
    issued_set: HashSet<u64>,
    /// Ids of values that panic when dropped.
    panicky: HashSet<u64>,
    next_id: u64,
}

impl Model {
    /// After the arena passed on a drop panic: the id of the value that panicked.
    #[track_caller]
    fn drop_panicked(&self) -> u64 {
        let id = take_last_drop_panic().expect("a drop panicked");
        assert!(
            self.panicky.contains(&id),
            "value {id:#x} panicked, it is not panicky"
        );
        id
    }

    /// Key bits of the live value `id`.
    fn bits_of(&self, id: u64) -> u64 {
        let found = self.live.iter().find(|(_, e)| e.0 == id);
        *found.unwrap_or_else(|| panic!("value {id:#x} not live")).0
    }

    /// After `clear` or dropping a drain stopped at a panicking drop: every value up to the
    /// one that panicked (`bits`) is gone, the rest are still there.
    fn drop_through(&mut self, bits: u64) {
        self.live.retain(|&k, _| k > bits);
    }

    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn pick(&self, sel: KeySel) -> Option<Key> {
        match sel {
            KeySel::Issued(i) => {
                (!self.issued.is_empty()).then(|| self.issued[i as usize % self.issued.len()])
            }
            KeySel::Live(i) => {
                if self.live.is_empty() {
                    return None;
                }
                let bits = *self.live.keys().nth(i as usize % self.live.len()).unwrap();
                Some(Key::from_bits(bits).unwrap())
            }
            KeySel::Small { index, generation } => {
                let bits = (u64::from(index % 16) << 32) | (u64::from(generation) * 4 + 1);
                Some(Key::from_bits(bits).expect("generation ≡ 1 mod 4 is accepted"))
            }
            KeySel::Raw(bits) => check_from_bits(bits),
        }
    }

    /// Records a fresh insertion.
    #[track_caller]
    fn record(&mut self, arena: &Arena<Val>, key: Key, id: u64, payload: u64) {
        let bits = key.to_bits();
        assert_eq!(key.generation() % 4, 1, "{key:?}");
        assert_eq!(Key::from_bits(bits), Some(key));
        assert!(self.issued_set.insert(bits), "{key:?} handed out twice");
        if let Some(cap) = self.cap {
            assert!(key.index() < cap, "{key:?} beyond max_slots {cap}");
            assert!(
                self.live.len() < cap as usize,
                "more live values than max_slots"
            );
        }
        self.issued.push(key);
        self.live.insert(bits, (id, payload));
        let guard = pin();
        let v = arena.get(key, &guard).expect("a fresh key is live");
        check_val(v, (id, payload));
    }

    /// Compares a lookup with the model.
    #[track_caller]
    fn check_lookup(&self, arena: &Arena<Val>, key: Key) {
        let guard = pin();
        let expected = self.live.get(&key.to_bits()).copied();
        match (arena.get(key, &guard), expected) {
            (Some(v), Some(e)) => check_val(v, e),
            (None, None) => {}
            (got, want) => panic!("get({key:?}) = {got:?}, model says {want:?}"),
        }
        assert_eq!(arena.contains(key), expected.is_some(), "contains({key:?})");
    }

    /// The arena's counts agree with the model and with the drop counter.
    #[track_caller]
    fn check_counts(&self, arena: &Arena<Val>) {
        let stats = arena.stats();
        assert_eq!(arena.len(), self.live.len(), "len");
        assert_eq!(arena.is_empty(), self.live.is_empty());
        assert_eq!(stats.live, self.live.len(), "stats.live");
        assert_eq!(stats.slots, arena.capacity());
        assert!(stats.bytes_reserved >= stats.slots * 8);
        assert_eq!(stats.chunks == 0, stats.slots == 0);
        if let Some(cap) = self.cap {
            assert!(stats.high_water <= cap as usize, "{stats:?}");
        }
        // Single-threaded, between operations: a value not dropped yet is live or waiting
        // for reclamation, and vice versa.
        assert_eq!(
            undropped() as usize,
            stats.live + stats.pending_reclamation,
            "undropped values vs {stats:?}"
        );
    }

    /// Mirrors an operation that removes every value (`clear`, dropping a `Drain`): either
    /// it finished and the arena is empty, or it stopped at a panicking drop and every
    /// value up to that one is gone. Then checks the arena against the model.
    #[track_caller]
    fn emptied(&mut self, outcome: Result<(), Caught>, arena: &Arena<Val>, what: &str) {
        match outcome {
            Ok(()) => {
                self.live.clear();
                assert!(arena.is_empty());
            }
            Err(Caught::DropPanic) => {
                let id = self.drop_panicked();
                let bits = self.bits_of(id);
                self.drop_through(bits);
            }
            Err(c) => panic!("{what}: {c:?}"),
        }
        self.check_iter(arena);
    }

    /// `iter` yields exactly the model, in key order.
    #[track_caller]
    fn check_iter(&self, arena: &Arena<Val>) {
        let guard = pin();
        let mut n = 0;
        let mut prev: Option<Key> = None;
        for (key, v) in arena.iter(&guard) {
            assert!(
                prev.is_none_or(|p| p < key && p.index() < key.index()),
                "order"
            );
            prev = Some(key);
            let e = self
                .live
                .get(&key.to_bits())
                .unwrap_or_else(|| panic!("iter yielded {key:?}, not live in the model"));
            check_val(v, *e);
            let same = arena.get(key, &guard).expect("a yielded key is live");
            assert!(std::ptr::eq(same, v), "get and iter disagree on {key:?}");
            n += 1;
        }
        assert_eq!(n, self.live.len(), "iter missed live values");
    }
}

#[track_caller]
fn check_val(v: &Val, (id, payload): (u64, u64)) {
    v.assert_intact();
    assert_eq!((v.id, v.payload), (id, payload), "wrong value");
}

/// `Key::from_bits` accepts exactly the words with a generation ≡ 1 (mod 4).
fn check_from_bits(bits: u64) -> Option<Key> {
    let key = Key::from_bits(bits);
    assert_eq!(key.is_some(), bits as u32 & 3 == 1, "from_bits({bits:#x})");
    if let Some(k) = key {
        assert_eq!(k.to_bits(), bits);
        assert_eq!(u64::from(k), bits);
        assert_eq!(u64::from(k.index()), bits >> 32);
        assert_eq!(k.generation(), bits as u32);
    }
    key
}

/// Flushes every pending removal and drives reclamation until nothing is pending. The
/// fuzzer is the only thread, so the epoch always advances.
fn reclaim(arena: &Arena<Val>, h: Option<&mut Handle<'_, Val>>) {
    if let Some(h) = h {
        h.flush();
    }
    arena.flush();
    assert!(
        reclaim_until(arena, || arena.stats().pending_reclamation == 0),
        "reclamation stuck: {:?}",
        arena.stats()
    );
}

/// An operation through `&Arena` (and the handle).
fn shared_op<'a>(arena: &'a Arena<Val>, h: &mut Option<Handle<'a, Val>>, m: &mut Model, op: &Op) {
    match *op {
        Op::Insert {
            via,
            payload,
            panicky,
        } => {
            let id = m.new_id();
            let len = arena.len();
            if panicky {
                m.panicky.insert(id);
            }
            let v = Val::with_panicky_drop(id, payload, panicky);
            let r = if m.cap.is_none() {
                Ok(via!(via, arena, h, insert(v)))
            } else {
                // Full is a panic; the value is dropped by the unwinding.
                catch(true, || via!(via, arena, h, insert(v)))
            };
            match r {
                Ok(key) => m.record(arena, key, id, payload),
                Err(Caught::Full) => assert_eq!(arena.len(), len),
                // A panicky value dropped before the "full" panic.
                Err(Caught::DropPanic) => {
                    assert_eq!(m.drop_panicked(), id);
                    assert_eq!(arena.len(), len);
                }
                Err(c) => panic!("insert: {c:?}"),
            }
        }
        Op::TryInsert {
            via,
            payload,
            panicky,
        } => {
            let id = m.new_id();
            if panicky {
                m.panicky.insert(id);
            }
            let v = Val::with_panicky_drop(id, payload, panicky);
            match via!(via, arena, h, try_insert(v)).map_err(InsertError::into_inner) {
                Ok(key) => m.record(arena, key, id, payload),
                Err(v) => {
                    assert!(m.cap.is_some(), "try_insert failed without a cap");
                    check_val(&v, (id, payload));
                    v.drop_quietly();
                }
            }
        }
        Op::InsertWith {
            via,
            payload,
            panic,
            nested,
        } => {
            let id = m.new_id();
            let nested_id = m.new_id();
            let given: Cell<Option<Key>> = Cell::new(None);
            let nested_key: Cell<Option<Key>> = Cell::new(None);
            let len = arena.len();
            let model = &*m;
            let f = |key: Key| -> Val {
                given.set(Some(key));
                assert_eq!(key.generation() % 4, 1);
                // Not live until `f` returns.
                assert!(!arena.contains(key), "{key:?} live inside insert_with");
                assert!(arena.get(key, &pin()).is_none());
                assert!(
                    !model.issued_set.contains(&key.to_bits()),
                    "{key:?} reissued"
                );
                if let Some(p) = nested {
                    match arena
                        .try_insert(Val::new(nested_id, p))
                        .map_err(InsertError::into_inner)
                    {
                        Ok(k) => {
                            assert_ne!(k.index(), key.index(), "nested insert reused the slot");
                            nested_key.set(Some(k));
                        }
                        Err(v) => {
                            assert!(model.cap.is_some());
                            v.drop_quietly();
                        }
                    }
                }
                if panic {
                    intended_panic();
                }
                Val::new(id, payload)
            };
            let r = catch(m.cap.is_some(), || via!(via, arena, h, insert_with(f)));
            let mut expect_len = len;
            if let Some(k) = nested_key.get() {
                m.record(arena, k, nested_id, nested.unwrap());
                expect_len += 1;
            }
            match (r, given.get()) {
                (Ok(key), given) => {
                    assert!(!panic);
                    assert_eq!(given, Some(key), "insert_with returned another key");
                    m.record(arena, key, id, payload);
                }
                (Err(Caught::Intended), Some(key)) => {
                    assert!(panic);
                    // The arena is unchanged, and the slot went back to where it came
                    // from: the same path can insert again at once, even when capped.
                    assert!(!arena.contains(key));
                    assert_eq!(arena.len(), expect_len);
                    let id = m.new_id();
                    match via!(via, arena, h, try_insert(Val::new(id, payload))) {
                        Ok(k) => m.record(arena, k, id, payload),
                        Err(_) => panic!("the slot of a panicked insert_with ({key:?}) was lost"),
                    }
                }
                (Err(Caught::Full), None) => {
                    assert!(m.cap.is_some());
                    assert_eq!(arena.len(), expect_len);
                }
                (r, given) => panic!("insert_with: {r:?} with key {given:?}"),
            }
        }
        Op::InsertMany { via, n } => {
            for _ in 0..n % 129 {
                let id = m.new_id();
                let v = Val::new(id, id);
                let r = if m.cap.is_none() {
                    Ok(via!(via, arena, h, insert(v)))
                } else {
                    via!(via, arena, h, try_insert(v)).map_err(InsertError::into_inner)
                };
                match r {
                    Ok(key) => m.record(arena, key, id, id),
                    Err(v) => {
                        assert!(m.cap.is_some(), "try_insert failed without a cap");
                        check_val(&v, (id, id));
                        v.drop_quietly();
                        break;
                    }
                }
            }
        }
        Op::RemoveMany { via, start, n } => {
            let keys: Vec<u64> = m.live.keys().copied().collect();
            if keys.is_empty() {
                return;
            }
            let start = start as usize % keys.len();
            for &bits in keys
                .iter()
                .cycle()
                .skip(start)
                .take(keys.len().min(n.into()))
            {
                let key = Key::from_bits(bits).unwrap();
                assert!(
                    via!(via, arena, h, remove(key)),
                    "remove({key:?}) of a live key"
                );
                m.live.remove(&bits);
                assert!(!arena.contains(key));
            }
        }
        Op::Get(sel) | Op::Contains(sel) => {
            if let Some(key) = m.pick(sel) {
                m.check_lookup(arena, key);
            }
        }
        Op::FromBits(bits) => {
            if let Some(key) = check_from_bits(bits) {
                m.check_lookup(arena, key);
            }
        }
        Op::Remove { via, key } => {
            let Some(key) = m.pick(key) else { return };
            let removed = via!(via, arena, h, remove(key));
            let expected = m.live.remove(&key.to_bits()).is_some();
            assert_eq!(removed, expected, "remove({key:?})");
            m.check_lookup(arena, key);
            assert!(!via!(via, arena, h, remove(key)), "removed {key:?} twice");
        }
        Op::HoldAcrossRemove { via, key, flushes } => {
            let Some(key) = m.pick(key) else { return };
            let guard = pin();
            let Some(v) = arena.get(key, &guard) else {
                assert!(!m.live.contains_key(&key.to_bits()));
                return;
            };
            let e = m.live.remove(&key.to_bits()).expect("get found a dead key");
            check_val(v, e);
            assert!(via!(via, arena, h, remove(key)));
            if let Some(h) = h.as_mut() {
                h.flush();
            }
            arena.flush();
            for _ in 0..flushes % 32 {
                pin().flush();
            }
            // The guard predates the removal: the value is still there.
            check_val(v, e);
            assert!(arena.get(key, &guard).is_none());
            assert!(arena.stats().pending_reclamation >= 1);
        }
        Op::Iter => m.check_iter(arena),
        Op::Stats => {
            let s = arena.stats();
            assert_eq!(arena.max_slots(), m.cap.unwrap_or(epoch_arena::MAX_SLOTS));
            if let Some(h) = h.as_ref() {
                assert!(std::ptr::eq(h.arena(), arena));
            }
            let _ = format!("{s:?} {h:?}");
        }
        Op::Flush => arena.flush(),
        Op::PinFlush { repin } => {
            let mut g = pin();
            g.flush();
            if repin {
                g.repin();
            }
        }
        Op::HandleFlush => {
            if let Some(h) = h.as_mut() {
                h.flush();
            }
        }
        Op::HandleDrop => *h = None,
        Op::Reclaim => reclaim(arena, h.as_mut()),
        _ => unreachable!("not a shared op: {op:?}"),
    }
}

/// An operation through `&mut Arena`.
fn mut_op(arena: &mut Arena<Val>, m: &mut Model, op: &Op) {
    match *op {
        Op::Take(sel) => {
            let Some(key) = m.pick(sel) else { return };
            let expected = m.live.remove(&key.to_bits());
            match (arena.take(key), expected) {
                (Some(v), Some(e)) => {
                    check_val(&v, e);
                    v.drop_quietly();
                }
                (None, None) => {}
                (got, want) => panic!("take({key:?}) = {got:?}, model says {want:?}"),
            }
            m.check_lookup(arena, key);
        }
        Op::GetMut { key, delta } => {
            let Some(key) = m.pick(key) else { return };
            let bits = key.to_bits();
            match (arena.get_mut(key), m.live.get_mut(&bits)) {
                (Some(v), Some(e)) => {
                    check_val(v, *e);
                    v.payload = v.payload.wrapping_add(delta);
                    e.1 = v.payload;
                }
                (None, None) => {}
                (got, want) => panic!("get_mut({key:?}) = {got:?}, model says {want:?}"),
            }
            m.check_lookup(arena, key);
        }
        Op::Retain {
            keep_bits,
            delta,
            panic_at,
        } => {
            let before = m.live.len();
            let mut decisions: Vec<(u64, bool)> = Vec::new();
            let mut prev: Option<Key> = None;
            let model = &*m;
            let r = catch(false, || {
                arena.retain(|key, v| {
                    assert!(prev.is_none_or(|p| p < key), "retain order");
                    prev = Some(key);
                    let e = model
                        .live
                        .get(&key.to_bits())
                        .unwrap_or_else(|| panic!("retain saw {key:?}, not live"));
                    check_val(v, *e);
                    let n = decisions.len();
                    if panic_at.is_some_and(|p| p as usize == n) {
                        intended_panic();
                    }
                    let keep = keep_bits >> (n % 64) & 1 == 1;
                    if keep {
                        v.payload = v.payload.wrapping_add(delta);
                    }
                    decisions.push((key.to_bits(), keep));
                    keep
                })
            });
            let visited = decisions.len();
            for (bits, keep) in decisions {
                if keep {
                    let e = m.live.get_mut(&bits).unwrap();
                    e.1 = e.1.wrapping_add(delta);
                } else {
                    m.live.remove(&bits);
                }
            }
            // A value is unlinked before it is dropped: one whose drop panicked is gone.
            match r {
                Ok(()) => assert_eq!(visited, before, "retain missed values"),
                Err(Caught::Intended) => assert!(panic_at.is_some()),
                Err(Caught::DropPanic) => {
                    m.drop_panicked();
                }
                Err(c) => panic!("retain: {c:?}"),
            }
            m.check_iter(arena);
        }
        Op::Drain(limit) => {
            let limit = limit.map_or(usize::MAX, usize::from);
            let mut out = Vec::new();
            let mut drain = arena.drain();
            let mut prev: Option<Key> = None;
            while out.len() < limit {
                let Some((key, v)) = drain.next() else { break };
                assert!(prev.is_none_or(|p| p < key), "drain order");
                prev = Some(key);
                out.push((key, v));
            }
            let dropped = catch(false, || drop(drain));
            if limit == usize::MAX {
                assert_eq!(out.len(), m.live.len(), "drain missed values");
            }
            for (key, v) in out {
                let e = m
                    .live
                    .remove(&key.to_bits())
                    .unwrap_or_else(|| panic!("drain yielded {key:?}, not live"));
                check_val(&v, e);
                v.drop_quietly();
            }
            // The rest was dropped with the drain, or that stopped at a panicking drop.
            m.emptied(dropped, arena, "dropping a drain");
        }
        Op::Clear => {
            // `clear` drops every value, then passes on the first drop panic.
            match catch(false, || arena.clear()) {
                Ok(()) => {}
                Err(Caught::DropPanic) => {
                    m.drop_panicked();
                }
                Err(c) => panic!("clear: {c:?}"),
            }
            m.emptied(Ok(()), arena, "clear");
        }
        Op::IterMut { bits, delta } => {
            let mut n = 0;
            let mut prev: Option<Key> = None;
            for (key, v) in arena.iter_mut() {
                assert!(prev.is_none_or(|p| p < key), "iter_mut order");
                prev = Some(key);
                let e = m
                    .live
                    .get_mut(&key.to_bits())
                    .unwrap_or_else(|| panic!("iter_mut yielded {key:?}, not live"));
                check_val(v, *e);
                if bits >> (n % 64) & 1 == 1 {
                    v.payload = v.payload.wrapping_add(delta);
                    e.1 = v.payload;
                }
                n += 1;
            }
            assert_eq!(n, m.live.len(), "iter_mut missed values");
            m.check_iter(arena);
        }
        Op::Fill => {
            let Some(cap) = m.cap else { return };
            // No handle exists now, so after reclamation every slot that is not live is
            // reachable by `Arena::try_insert`.
            reclaim(arena, None);
            while m.live.len() < cap as usize {
                let id = m.new_id();
                match arena.try_insert(Val::new(id, 0)) {
                    Ok(key) => m.record(arena, key, id, 0),
                    Err(_) => panic!(
                        "full with {} of {cap} slots live: {:?}",
                        m.live.len(),
                        arena.stats()
                    ),
                }
            }
            let id = m.new_id();
            let v = arena
                .try_insert(Val::new(id, 0))
                .expect_err("more values than max_slots")
                .into_inner();
            check_val(&v, (id, 0));
            v.drop_quietly();
        }
        _ => unreachable!("not a mut op: {op:?}"),
    }
}

fn run(input: Input) {
    // Everything from earlier runs was dropped, and nothing was dropped late.
    assert_all_dropped("start of run");
    let cap = input.cap.map(u32::from);
    let mut arena: Arena<Val> = match cap {
        Some(c) => Arena::builder().max_slots(c).build(),
        None => Arena::new(),
    };
    let mut m = Model {
        cap,
        live: BTreeMap::new(),
        issued: Vec::new(),
        issued_set: HashSet::new(),
        panicky: HashSet::new(),
        next_id: 0,
    };
    let ops = &input.ops[..input.ops.len().min(MAX_OPS)];
    let mut i = 0;
    while i < ops.len() {
        {
            let mut h: Option<Handle<'_, Val>> = None;
            while i < ops.len() && !ops[i].needs_mut() {
                shared_op(&arena, &mut h, &mut m, &ops[i]);
                m.check_counts(&arena);
                i += 1;
            }
        }
        m.check_counts(&arena);
        if i < ops.len() {
            mut_op(&mut arena, &mut m, &ops[i]);
            m.check_counts(&arena);
            i += 1;
        }
    }
    m.check_iter(&arena);
    for &key in &m.issued {
        m.check_lookup(&arena, key);
    }
    finish_run(arena, !m.panicky.is_empty());
}

fuzz_target!(|input: Input| run(input));
