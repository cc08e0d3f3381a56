//! Two threads drive one arena at the same time, each from its own list of operations.
//!
//! Each thread inserts values, keeps some keys private and publishes the others in a
//! table the other thread reads, looks up and removes keys of both kinds, iterates while the
//! other thread mutates, and holds guards across removals and reclamation. Checks:
//!
//! * during the run: every value read (`get`, `iter`) is intact and is the value inserted
//!   under that key; a key removed by this thread, or by the other one as far as this
//!   thread knows, is dead; a key seen dead never comes back; `iter` yields every private
//!   live key of the iterating thread (nobody else can remove those); a value read under a
//!   guard survives removal and reclamation while the guard lives;
//! * of racing removers at most one wins (checked when winning), and at least one does
//!   (a `remove` that returned `false`, or a lookup that found nothing, on a key nobody
//!   removed is an error, checked after the join);
//! * after the join: removed keys are dead, all others live with their values; `len`,
//!   `stats().live` and `iter` agree with that; after dropping the arena every value ever
//!   made was dropped exactly once (`Val::drop` asserts the value is intact and poisons it).
//!
//! Some values panic when dropped: reclamation, on whichever thread runs it, must swallow
//! that; dropping the arena passes it on after dropping everything else.
#![no_main]

mod common;

use arbitrary::Arbitrary;
use common::{assert_all_dropped, catch, finish_run, intended_panic, on_path, Caught, Val};
use epoch_arena::{pin, Arena, Handle, InsertError, Key};
use libfuzzer_sys::fuzz_target;
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Barrier;

/// Operations per thread.
const MAX_OPS: usize = 256;
/// Published keys per thread; later insertions stay private.
const MAX_ENTRIES: usize = 1024;

#[derive(Arbitrary, Debug)]
struct Input {
    /// `Some(n)`: `Builder::max_slots(n)`; `None`: unlimited.
    cap: Option<u8>,
    /// Per thread: insert and remove through a `Handle` rather than the arena.
    use_handle: [bool; 2],
    ops: [Vec<COp>; 2],
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum COp {
    Insert {
        publish: bool,
        /// The value panics when dropped (by reclamation, on either thread, or with the
        /// arena).
        panicky: bool,
    },
    InsertWith {
        publish: bool,
        panic: bool,
    },
    /// Up to 64 insertions.
    InsertMany {
        publish: bool,
        n: u8,
    },
    /// Up to 64 removals of consecutive own or published keys, from the `start`-th.
    RemoveMany {
        other: bool,
        start: u8,
        n: u8,
    },
    GetOwn(u8),
    GetOther(u8),
    RemoveOwn(u8),
    RemoveOther(u8),
    Iter,
    /// Reads a value under a guard, maybe removes it, drives reclamation, reads it again.
    HoldGet {
        other: bool,
        sel: u8,
        remove: bool,
    },
    Flush,
    PinFlush,
    HandleFlush,
    HandleRecreate,
    Stats,
    Yield,
}

/// A published key. Written by its thread before `Table::len` is raised past it.
struct Entry {
    key: AtomicU64,
    id: AtomicU64,
    /// 0, or 1 + the thread whose `remove` returned true.
    winner: AtomicU8,
    /// Bit per thread whose `remove` returned false.
    lost: AtomicU8,
    /// Bit per thread whose lookup (not knowing of a removal) found nothing.
    none_seen: AtomicU8,
}

/// One thread's published keys.
struct Table {
    len: AtomicUsize,
    entries: Vec<Entry>,
}

impl Table {
    fn new() -> Table {
        Table {
            len: AtomicUsize::new(0),
            entries: (0..MAX_ENTRIES)
                .map(|_| Entry {
                    key: AtomicU64::new(0),
                    id: AtomicU64::new(0),
                    winner: AtomicU8::new(0),
                    lost: AtomicU8::new(0),
                    none_seen: AtomicU8::new(0),
                })
                .collect(),
        }
    }

    /// The published entries (Acquire: their contents are visible).
    fn published(&self) -> &[Entry] {
        &self.entries[..self.len.load(Ordering::Acquire)]
    }
}

impl Entry {
    fn key(&self) -> Key {
        Key::from_bits(self.key.load(Ordering::Relaxed)).expect("published keys are valid")
    }
}

#[derive(Debug, Clone, Copy)]
enum Where {
    Private { removed: bool },
    Published(usize),
}

#[derive(Debug, Clone, Copy)]
struct Own {
    key: Key,
    id: u64,
    at: Where,
}

struct Worker<'a> {
    t: usize,
    arena: &'a Arena<Val>,
    capped: bool,
    use_handle: bool,
    handle: Option<Handle<'a, Val>>,
    mine: &'a Table,
    theirs: &'a Table,
    own: Vec<Own>,
    next_id: u64,
}

/// What a thread knows about a key it looks up.
#[derive(Debug, Clone, Copy)]
enum Known {
    /// Nobody else can remove it and this thread did not: live.
    Live,
    /// Removed by this thread, or by the other thread as published to this one: dead.
    Dead,
    /// Maybe removed by the other thread meanwhile.
    Racy,
}

impl<'a> Worker<'a> {
    fn bit(&self) -> u8 {
        1 << self.t
    }

    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        ((self.t as u64 + 1) << 40) | self.next_id
    }

    fn try_insert(&mut self, v: Val) -> Result<Key, Val> {
        on_path!(self.use_handle, self.arena, self.handle, try_insert(v))
            .map_err(InsertError::into_inner)
    }

    fn remove(&mut self, key: Key) -> bool {
        on_path!(self.use_handle, self.arena, self.handle, remove(key))
    }

    /// Records a fresh insertion; publishes it if asked.
    fn inserted(&mut self, key: Key, id: u64, publish: bool) {
        assert_eq!(key.generation() % 4, 1, "{key:?}");
        // Nobody else knows the key yet, so it is live.
        {
            let guard = pin();
            let v = self.arena.get(key, &guard).expect("a fresh key is live");
            v.assert_intact();
            assert_eq!(v.id, id, "fresh {key:?} holds another value");
        }
        let n = self.mine.len.load(Ordering::Relaxed);
        let at = if publish && n < MAX_ENTRIES {
            let e = &self.mine.entries[n];
            e.key.store(key.to_bits(), Ordering::Relaxed);
            e.id.store(id, Ordering::Relaxed);
            // Release: the entry's contents reach the other thread's Acquire.
            self.mine.len.store(n + 1, Ordering::Release);
            Where::Published(n)
        } else {
            Where::Private { removed: false }
        };
        self.own.push(Own { key, id, at });
    }

    /// Looks a key up (`get` and `contains`) and checks the answer against what is known.
    fn lookup(&self, key: Key, id: u64, known: Known, entry: Option<&Entry>) {
        let guard = pin();
        let got = self.arena.get(key, &guard);
        if let Some(v) = got {
            v.assert_intact();
            assert_eq!(v.id, id, "{key:?} reads another value: stale key matched");
        }
        match (known, got.is_some()) {
            (Known::Live, false) => panic!("{key:?} dead but nobody removed it"),
            (Known::Dead, true) => panic!("{key:?} live after its removal"),
            (Known::Racy, false) => {
                // Somebody must have removed it: checked after the join.
                if let Some(e) = entry {
                    e.none_seen.fetch_or(self.bit(), Ordering::Relaxed);
                }
            }
            _ => {}
        }
        let live = self.arena.contains(key);
        if !got.is_some() {
            assert!(!live, "{key:?} came back to life");
        }
        if matches!(known, Known::Live) {
            assert!(live);
        }
        if !live {
            assert!(
                self.arena.get(key, &guard).is_none(),
                "{key:?} came back to life"
            );
        }
    }

    /// What this thread knows about a published entry.
    fn known(&self, e: &Entry) -> Known {
        // Acquire pairs with the winner's Release: its removal happened before.
        if e.winner.load(Ordering::Acquire) != 0 {
            Known::Dead
        } else {
            Known::Racy
        }
    }

    /// Picks a key: `(key, id, known, entry, index in own)`.
    fn pick(
        &self,
        other: bool,
        sel: usize,
    ) -> Option<(Key, u64, Known, Option<&'a Entry>, Option<usize>)> {
        if other {
            let published = self.theirs.published();
            if published.is_empty() {
                return None;
            }
            let e = &published[sel % published.len()];
            Some((
                e.key(),
                e.id.load(Ordering::Relaxed),
                self.known(e),
                Some(e),
                None,
            ))
        } else {
            if self.own.is_empty() {
                return None;
            }
            let i = sel % self.own.len();
            let o = self.own[i];
            Some(match o.at {
                Where::Private { removed } => (
                    o.key,
                    o.id,
                    if removed { Known::Dead } else { Known::Live },
                    None,
                    Some(i),
                ),
                Where::Published(n) => {
                    let e = &self.mine.entries[n];
                    (o.key, o.id, self.known(e), Some(e), Some(i))
                }
            })
        }
    }

    /// Removes a picked key and records the outcome.
    fn remove_picked(&mut self, key: Key, known: Known, entry: Option<&Entry>, own: Option<usize>) {
        let won = self.remove(key);
        match (known, won) {
            (Known::Live, false) => panic!("remove({key:?}) failed, nobody else could remove it"),
            (Known::Dead, true) => panic!("remove({key:?}) won on a dead key"),
            _ => {}
        }
        if won {
            if let Some(e) = entry {
                // Release: the removal happened before anyone who sees this.
                let prev = e.winner.swap(self.t as u8 + 1, Ordering::AcqRel);
                assert_eq!(
                    prev,
                    0,
                    "{key:?} removed twice (first by thread {})",
                    prev - 1
                );
            } else if let Some(i) = own {
                self.own[i].at = Where::Private { removed: true };
            }
            let guard = pin();
            assert!(
                self.arena.get(key, &guard).is_none(),
                "{key:?} live after remove"
            );
        } else if let Some(e) = entry {
            e.lost.fetch_or(self.bit(), Ordering::Relaxed);
        }
    }

    /// Inserts one value; false if the arena is full.
    fn insert(&mut self, publish: bool, panicky: bool) -> bool {
        let id = self.new_id();
        match self.try_insert(Val::with_panicky_drop(id, 0, panicky)) {
            Ok(key) => {
                self.inserted(key, id, publish);
                true
            }
            Err(v) => {
                assert!(self.capped, "try_insert failed without a cap");
                v.assert_intact();
                assert_eq!(v.id, id, "try_insert gave back another value");
                v.drop_quietly();
                false
            }
        }
    }

    fn op(&mut self, op: COp) {
        match op {
            COp::Insert { publish, panicky } => {
                self.insert(publish, panicky);
            }
            COp::InsertMany { publish, n } => {
                for _ in 0..n % 65 {
                    if !self.insert(publish, false) {
                        break;
                    }
                }
            }
            COp::RemoveMany { other, start, n } => {
                for i in 0..n % 65 {
                    let sel = usize::from(start) + usize::from(i);
                    if let Some((key, _, known, entry, own)) = self.pick(other, sel) {
                        self.remove_picked(key, known, entry, own);
                    }
                }
            }
            COp::InsertWith { publish, panic } => {
                let id = self.new_id();
                let given: Cell<Option<Key>> = Cell::new(None);
                let arena = self.arena;
                let f = |key: Key| {
                    given.set(Some(key));
                    assert_eq!(key.generation() % 4, 1);
                    assert!(!arena.contains(key), "{key:?} live inside insert_with");
                    if panic {
                        intended_panic();
                    }
                    Val::new(id, 0)
                };
                let (use_handle, handle) = (self.use_handle, &mut self.handle);
                let r = catch(self.capped, || {
                    on_path!(use_handle, arena, handle, insert_with(f))
                });
                match (r, given.get()) {
                    (Ok(key), given) => {
                        assert!(!panic);
                        assert_eq!(given, Some(key), "insert_with returned another key");
                        self.inserted(key, id, publish);
                    }
                    (Err(Caught::Intended), Some(key)) => {
                        assert!(!arena.contains(key));
                        // The slot went back to this thread's cache: inserting again on
                        // the same path cannot fail, whatever the other thread does.
                        let id = self.new_id();
                        match self.try_insert(Val::new(id, 0)) {
                            Ok(k) => self.inserted(k, id, publish),
                            Err(_) => panic!("the slot of a panicked insert_with was lost"),
                        }
                    }
                    (Err(Caught::Full), None) => assert!(self.capped),
                    (r, given) => panic!("insert_with: {r:?} with key {given:?}"),
                }
            }
            COp::GetOwn(sel) | COp::GetOther(sel) => {
                if let Some((key, id, known, entry, _)) =
                    self.pick(matches!(op, COp::GetOther(_)), sel.into())
                {
                    self.lookup(key, id, known, entry);
                }
            }
            COp::RemoveOwn(sel) | COp::RemoveOther(sel) => {
                if let Some((key, _, known, entry, own)) =
                    self.pick(matches!(op, COp::RemoveOther(_)), sel.into())
                {
                    self.remove_picked(key, known, entry, own);
                }
            }
            COp::Iter => {
                let mut private: HashMap<u64, (u64, bool)> = self
                    .own
                    .iter()
                    .filter(|o| matches!(o.at, Where::Private { removed: false }))
                    .map(|o| (o.key.to_bits(), (o.id, false)))
                    .collect();
                let guard = pin();
                let mut prev: Option<Key> = None;
                for (key, v) in self.arena.iter(&guard) {
                    v.assert_intact();
                    assert_eq!(key.generation() % 4, 1);
                    assert!(prev.is_none_or(|p| p.index() < key.index()), "iter order");
                    prev = Some(key);
                    assert!(matches!(v.id >> 40, 1 | 2), "a value nobody inserted");
                    if let Some((id, seen)) = private.get_mut(&key.to_bits()) {
                        assert_eq!(v.id, *id, "iter: {key:?} holds another value");
                        *seen = true;
                    }
                    if let Some(same) = self.arena.get(key, &guard) {
                        assert!(std::ptr::eq(same, v), "get and iter disagree on {key:?}");
                    }
                }
                for (bits, (_, seen)) in private {
                    assert!(
                        seen,
                        "iter missed live private key {:?}",
                        Key::from_bits(bits)
                    );
                }
            }
            COp::HoldGet { other, sel, remove } => {
                let Some((key, id, known, entry, own)) = self.pick(other, sel.into()) else {
                    return;
                };
                let guard = pin();
                let Some(v) = self.arena.get(key, &guard) else {
                    drop(guard);
                    return self.lookup(key, id, known, entry);
                };
                v.assert_intact();
                assert_eq!(v.id, id);
                if remove {
                    self.remove_picked(key, known, entry, own);
                }
                if let Some(h) = self.handle.as_mut() {
                    h.flush();
                }
                self.arena.flush();
                for _ in 0..4 {
                    pin().flush();
                }
                // The guard keeps the value alive, removed or not.
                v.assert_intact();
                assert_eq!(v.id, id);
            }
            COp::Flush => self.arena.flush(),
            COp::PinFlush => pin().flush(),
            COp::HandleFlush => {
                if let Some(h) = self.handle.as_mut() {
                    h.flush();
                }
            }
            COp::HandleRecreate => {
                self.handle = None;
                if self.use_handle {
                    self.handle = Some(self.arena.handle());
                }
            }
            COp::Stats => {
                let s = self.arena.stats();
                assert!(s.bytes_reserved >= s.slots * 8);
                let _ = self.arena.len();
            }
            COp::Yield => std::thread::yield_now(),
        }
    }
}

fn run(input: Input) {
    assert_all_dropped("start of run");
    let capped = input.cap.is_some();
    let arena: Arena<Val> = match input.cap {
        Some(c) => Arena::builder().max_slots(u32::from(c)).build(),
        None => Arena::new(),
    };
    let tables = [Table::new(), Table::new()];
    let barrier = Barrier::new(2);
    let owns: Vec<Vec<Own>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|t| {
                let (arena, tables, barrier) = (&arena, &tables, &barrier);
                let ops = &input.ops[t][..input.ops[t].len().min(MAX_OPS)];
                let use_handle = input.use_handle[t];
                s.spawn(move || {
                    let mut w = Worker {
                        t,
                        arena,
                        capped,
                        use_handle,
                        handle: None,
                        mine: &tables[t],
                        theirs: &tables[1 - t],
                        own: Vec::new(),
                        next_id: 0,
                    };
                    barrier.wait();
                    for &op in ops {
                        w.op(op);
                    }
                    w.own
                })
            })
            .collect();
        // Joining waits for the threads' TLS destructors (their caches) too.
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });

    let mut expected: HashMap<u64, u64> = HashMap::new();
    let guard = pin();
    for table in &tables {
        for e in table.published() {
            let (key, id) = (e.key(), e.id.load(Ordering::Relaxed));
            let winner = e.winner.load(Ordering::Relaxed);
            if winner == 0 {
                assert_eq!(
                    e.lost.load(Ordering::Relaxed),
                    0,
                    "{key:?}: remove lost to nobody"
                );
                assert_eq!(
                    e.none_seen.load(Ordering::Relaxed),
                    0,
                    "{key:?}: vanished, not removed"
                );
                let v = arena
                    .get(key, &guard)
                    .unwrap_or_else(|| panic!("{key:?} lost"));
                v.assert_intact();
                assert_eq!(v.id, id);
                expected.insert(key.to_bits(), id);
            } else {
                assert!(!arena.contains(key), "{key:?} removed but live");
                assert!(arena.get(key, &guard).is_none());
            }
        }
    }
    for o in owns.iter().flatten() {
        match o.at {
            Where::Private { removed: false } => {
                let v = arena
                    .get(o.key, &guard)
                    .unwrap_or_else(|| panic!("{:?} lost", o.key));
                v.assert_intact();
                assert_eq!(v.id, o.id);
                expected.insert(o.key.to_bits(), o.id);
            }
            Where::Private { removed: true } => assert!(!arena.contains(o.key)),
            Where::Published(_) => {}
        }
    }
    assert_eq!(arena.len(), expected.len(), "len");
    assert_eq!(arena.stats().live, expected.len(), "stats.live");
    let mut n = 0;
    for (key, v) in arena.iter(&guard) {
        v.assert_intact();
        assert_eq!(
            expected.get(&key.to_bits()),
            Some(&v.id),
            "iter yielded {key:?}"
        );
        n += 1;
    }
    assert_eq!(n, expected.len(), "iter missed values");
    drop(guard);
    finish_run(arena, true);
}

fuzz_target!(|input: Input| run(input));
