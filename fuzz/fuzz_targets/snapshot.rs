//! Persistence (feature `serde`): `Arena::read_snapshot` on arbitrary bytes, and arenas
//! saved and loaded in the middle of random histories, against a model.
//!
//! The first input byte picks a mode; the rest is its input.
//!
//! * **Bytes** (mode 0): the bytes as they are, to `Arena::<String>::read_snapshot` and
//!   `Arena::<u32>::read_snapshot`. It must return (never panic, never allocate more than a
//!   bounded multiple of the input: libFuzzer's `-rss_limit_mb` and `-malloc_limit_mb`
//!   catch that), and an arena it returns must be usable (see [`check_loaded`]).
//! * **Checksums fixed** (mode 1): the same, after the header CRC and every block CRC that
//!   the length fields let us find are recomputed, so the fuzzer gets past the checksums to
//!   the header fields and the records.
//! * **Records** (modes 2 and 3, `String` and `u32` values): the input is the key space
//!   limit and the floor (`u32` LE each), then slot records. The target frames them as a
//!   snapshot with a consistent header, block and trailer (counts from its own parse of the
//!   records), so the reader gets to every slot state and value the fuzzer makes up. If it
//!   loads, the arena must hold exactly the live records' values under their keys.
//! * **Operations** (every other mode byte): a slot cap and a list of arena operations
//!   (insert, `insert_many`, remove, take, retain, clear, compact, trim, shrink, reclaim,
//!   collect with random roots) with round trips through `write_snapshot`/`read_snapshot`
//!   and postcard in between, the history going on with the loaded arena. The model knows
//!   every key ever issued: live keys find their values and dead keys nothing, also after
//!   any number of round trips, and no key (an insertion's or a compaction's) is issued
//!   twice, by the arena or any arena it was loaded from.
//!
//! The bytes modes need no seed corpus to start, but they rarely get past the magic and the
//! checksums on their own: the other modes cover what lies behind them.
#![no_main]

mod common;

use arbitrary::{Result, Unstructured};
use common::settle;
use epoch_arena::{pin, Arena, InsertError, Key};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Debug;

/// Operations per input; more only slow the fuzzer down.
const MAX_OPS: usize = 128;

// ---------------------------------------------------------------------------------------
// The format, as much as the target needs to write one.

const MAGIC: &[u8; 8] = b"\x89EPA\r\n\x1a\n";
const FIXED: usize = 36;
const MAX_BLOCK: usize = 1 << 20;
const RETIRED: u32 = u32::MAX;

/// CRC32C continued from `crc`, as `crc32c::crc32c_append` (table-driven, for speed).
fn crc32c_append(crc: u32, data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 == 1 {
                    c >> 1 ^ 0x82F6_3B78
                } else {
                    c >> 1
                };
            }
            *e = c;
        }
        t
    });
    let mut c = !crc;
    for &b in data {
        c = table[((c ^ u32::from(b)) & 0xff) as usize] ^ c >> 8;
    }
    !c
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[i..i + 4].try_into().unwrap())
}

/// Recomputes the header CRC and the CRC of every block the length fields lead to.
fn fix_checksums(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    if out.len() < FIXED {
        return out;
    }
    let end = FIXED + usize::from(u16::from_le_bytes([out[14], out[15]]));
    if out.len() < end + 4 {
        return out;
    }
    let mut crc = crc32c_append(0, &out[..end]);
    out[end..end + 4].copy_from_slice(&crc.to_le_bytes());
    let mut pos = end + 4;
    while pos + 4 <= out.len() {
        let n = u32_at(&out, pos) as usize;
        let payload = if n == 0 { 16 } else { n };
        if n > MAX_BLOCK || pos + 4 + payload + 4 > out.len() {
            break;
        }
        crc = crc32c_append(crc, &out[pos..pos + 4 + payload]);
        out[pos + 4 + payload..pos + 8 + payload].copy_from_slice(&crc.to_le_bytes());
        pos += 8 + payload;
        if n == 0 {
            break;
        }
    }
    out
}

/// One slot record as the target reads it.
#[derive(Debug)]
enum Record<'a> {
    Live(u32, &'a [u8]),
    /// A FREE state, or any other state that is not live or retired.
    Other(u32),
    Retired,
}

fn varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The records at the start of `b`, up to the first that does not parse; and the bytes
/// they take.
fn parse_records(b: &[u8]) -> (Vec<Record<'_>>, usize) {
    let mut recs = Vec::new();
    let mut pos = 0;
    loop {
        let start = pos;
        let Some(state) = varint(b, &mut pos).and_then(|s| u32::try_from(s).ok()) else {
            return (recs, start);
        };
        let rec = if state & 3 == 1 {
            let Some(len) = varint(b, &mut pos).and_then(|l| usize::try_from(l).ok()) else {
                return (recs, start);
            };
            if b.len() - pos < len {
                return (recs, start);
            }
            pos += len;
            Record::Live(state, &b[pos - len..pos])
        } else if state == RETIRED {
            Record::Retired
        } else {
            Record::Other(state)
        };
        recs.push(rec);
    }
}

/// A snapshot of values of type `T` with valid checksums and counts: the header, `records`
/// in one block, the end block.
fn frame<T>(max_slots: u32, floor: u32, slots: u32, live: u64, records: &[u8]) -> Vec<u8> {
    let name = std::any::type_name::<T>();
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&[0, 0, 1, 0]);
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(&max_slots.to_le_bytes());
    out.extend_from_slice(&floor.to_le_bytes());
    out.extend_from_slice(&slots.to_le_bytes());
    out.extend_from_slice(&live.to_le_bytes());
    out.extend_from_slice(name.as_bytes());
    let mut crc = crc32c_append(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    let mut trailer = [0u8; 16];
    trailer[..8].copy_from_slice(&live.to_le_bytes());
    trailer[8..12].copy_from_slice(&slots.to_le_bytes());
    let blocks = records.chunks(MAX_BLOCK).map(|c| (c.len() as u32, c));
    for (len, payload) in blocks.chain([(0, &trailer[..])]) {
        let len = len.to_le_bytes();
        crc = crc32c_append(crc32c_append(crc, &len), payload);
        out.extend_from_slice(&len);
        out.extend_from_slice(payload);
        out.extend_from_slice(&crc.to_le_bytes());
    }
    out
}

// ---------------------------------------------------------------------------------------
// Loaded arenas.

/// A value type the bytes modes load.
trait Sample: Serialize + DeserializeOwned + Clone + PartialEq + Debug + Send + Sync {
    fn sample(i: u32) -> Self;
}

impl Sample for String {
    fn sample(i: u32) -> Self {
        format!("new {i}")
    }
}

impl Sample for u32 {
    fn sample(i: u32) -> Self {
        i
    }
}

/// Every live key and value, in key order.
fn contents<T: Clone + Send + Sync>(arena: &Arena<T>) -> Vec<(Key, T)> {
    let guard = pin();
    let v: Vec<(Key, T)> = arena.iter(&guard).map(|(k, v)| (k, v.clone())).collect();
    assert!(v.windows(2).all(|w| w[0].0 < w[1].0), "iter order");
    v
}

/// An arena `read_snapshot` returned is usable: `iter` agrees with `len` and `get`; it
/// writes a snapshot that reads back to the same arena (and writes the same bytes again),
/// and survives postcard; a new insertion gets a key that was not live, and once it is
/// removed, the next insertion gets yet another key.
fn check_loaded<T: Sample>(arena: Arena<T>) {
    let live = contents(&arena);
    assert_eq!(live.len(), arena.len(), "len vs iter");
    {
        let guard = pin();
        for (k, v) in &live {
            assert_eq!(arena.get(*k, &guard), Some(v), "get({k:?}) vs iter");
        }
    }
    let mut first = Vec::new();
    let info = arena
        .write_snapshot(&mut first)
        .expect("writing a loaded arena");
    assert_eq!(info.live as usize, live.len());
    assert_eq!(info.bytes as usize, first.len());
    let back = Arena::<T>::read_snapshot(&first[..]).expect("reading what it wrote");
    assert_eq!(back.max_slots(), arena.max_slots());
    assert_eq!(contents(&back), live, "written and read back");
    let mut second = Vec::new();
    back.write_snapshot(&mut second).unwrap();
    assert_eq!(first, second, "not a fixpoint");
    let bytes = postcard::to_allocvec(&arena).expect("postcard");
    let back: Arena<T> = postcard::from_bytes(&bytes).expect("postcard back");
    assert_eq!(contents(&back), live, "postcard round trip");

    if let Ok(k) = arena.try_insert(T::sample(1)) {
        assert!(live.iter().all(|(l, _)| *l != k), "{k:?} was live");
        assert!(arena.remove(k));
        assert!(!arena.contains(k));
        if let Ok(k2) = arena.try_insert(T::sample(2)) {
            assert_ne!(k2, k, "a removed key issued again");
            assert_eq!(arena.get(k2, &pin()), Some(&T::sample(2)));
        }
    }
}

fn bytes_mode(data: &[u8]) {
    if let Ok(a) = Arena::<String>::read_snapshot(data) {
        check_loaded(a);
    }
    if let Ok(a) = Arena::<u32>::read_snapshot(data) {
        check_loaded(a);
    }
}

/// Records mode: frames the records, reads them, and if they load, checks that the arena
/// holds exactly the live records.
fn records_mode<T: Sample>(data: &[u8]) {
    if data.len() < 8 {
        return;
    }
    let max_slots = u32_at(data, 0);
    let floor = u32_at(data, 4);
    let rest = &data[8..];
    let (recs, used) = parse_records(rest);
    let live = recs
        .iter()
        .filter(|r| matches!(r, Record::Live(..)))
        .count();
    // All the bytes (trailing garbage too), with the counts of the records that parse.
    let bytes = frame::<T>(max_slots, floor, recs.len() as u32, live as u64, rest);
    let Ok(arena) = Arena::<T>::read_snapshot(&bytes[..]) else {
        return;
    };
    assert_eq!(used, rest.len(), "loaded with bytes after the last record");
    assert!(recs.len() as u64 <= u64::from(max_slots));
    assert_eq!(floor % 4, 0, "loaded with a floor that is not a FREE state");
    assert_eq!(arena.max_slots(), max_slots);
    // The floor comes back (a snapshot of the loaded arena says so).
    let mut again = Vec::new();
    arena.write_snapshot(&mut again).unwrap();
    assert_eq!(u32_at(&again, 20), floor, "floor");
    let mut want = Vec::new();
    for (index, r) in recs.iter().enumerate() {
        match *r {
            Record::Live(generation, value) => {
                let value: T = postcard::from_bytes(value).expect("loaded: the value decodes");
                let key = Key::from_bits((index as u64) << 32 | u64::from(generation)).unwrap();
                want.push((key, value));
            }
            Record::Other(state) => {
                assert_eq!(state % 4, 0, "loaded a state that is not FREE");
                assert!(state >= floor, "loaded a free state below the floor");
            }
            Record::Retired => {}
        }
    }
    assert_eq!(
        contents(&arena),
        want,
        "the loaded arena is not its records"
    );
    check_loaded(arena);
}

// ---------------------------------------------------------------------------------------
// Operations against a model.

type Val = (u64, String);

#[derive(Debug, Clone, Copy)]
enum Sel {
    Live(u16),
    Issued(u16),
    Raw(u64),
}

#[derive(Debug, Clone, Copy)]
enum Via {
    Snapshot,
    Postcard,
}

#[derive(Debug)]
enum Op {
    Insert(u8),
    InsertMany(u8),
    Remove(Sel),
    Take(Sel),
    Retain(u64),
    Clear,
    Compact,
    Trim,
    ShrinkToFit,
    Reclaim,
    Collect(Vec<Sel>),
    RoundTrip(Via),
}

fn sel(u: &mut Unstructured<'_>) -> Result<Sel> {
    Ok(match u.int_in_range(0u8..=9)? {
        0..=5 => Sel::Live(u.arbitrary()?),
        6..=8 => Sel::Issued(u.arbitrary()?),
        _ => Sel::Raw(u.arbitrary()?),
    })
}

fn op(u: &mut Unstructured<'_>) -> Result<Op> {
    Ok(match u.arbitrary::<u8>()? % 16 {
        0..=2 => Op::Insert(u.arbitrary()?),
        3 => Op::InsertMany(u.int_in_range(0..=40)?),
        4 | 5 => Op::Remove(sel(u)?),
        6 => Op::Take(sel(u)?),
        7 => Op::Retain(u.arbitrary()?),
        8 => Op::Clear,
        9 => Op::Compact,
        10 => Op::Trim,
        11 => Op::ShrinkToFit,
        12 => Op::Reclaim,
        13 => {
            let n = u.int_in_range(0..=3)?;
            Op::Collect((0..n).map(|_| sel(u)).collect::<Result<_>>()?)
        }
        14 => Op::RoundTrip(Via::Snapshot),
        _ => Op::RoundTrip(Via::Postcard),
    })
}

struct Model {
    arena: Arena<Val>,
    cap: Option<u32>,
    /// Live keys (bits) to values.
    live: BTreeMap<u64, Val>,
    /// Every key ever issued, in order, and as a set.
    issued: Vec<Key>,
    issued_set: HashSet<u64>,
    next_id: u64,
}

impl Model {
    fn pick(&self, sel: Sel) -> Option<Key> {
        match sel {
            Sel::Live(i) => {
                let n = self.live.len();
                (n > 0).then(|| {
                    Key::from_bits(*self.live.keys().nth(usize::from(i) % n).unwrap()).unwrap()
                })
            }
            Sel::Issued(i) => {
                let n = self.issued.len();
                (n > 0).then(|| self.issued[usize::from(i) % n])
            }
            Sel::Raw(bits) => Key::from_bits(bits),
        }
    }

    /// A key just issued: never issued before, by this arena or one it was loaded from.
    #[track_caller]
    fn issue(&mut self, key: Key) {
        assert_eq!(key.generation() % 4, 1, "{key:?}");
        assert!(
            self.issued_set.insert(key.to_bits()),
            "{key:?} issued twice"
        );
        if let Some(cap) = self.cap {
            assert!(key.index() < cap, "{key:?} beyond max_slots {cap}");
        }
        self.issued.push(key);
    }

    fn value(&mut self, len: u8) -> Val {
        self.next_id += 1;
        (self.next_id, "v".repeat(usize::from(len % 200)))
    }

    fn pending(&self) -> usize {
        self.arena.stats().pending_reclamation
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Insert(len) => {
                let v = self.value(*len);
                let pending = self.pending();
                match self
                    .arena
                    .try_insert(v.clone())
                    .map_err(InsertError::into_inner)
                {
                    Ok(k) => {
                        self.issue(k);
                        self.live.insert(k.to_bits(), v);
                    }
                    Err(back) => {
                        assert_eq!(back, v);
                        let cap = self.cap.expect("full without a cap");
                        assert!(
                            self.live.len() + pending >= cap as usize,
                            "full with {} live and {pending} pending of {cap}",
                            self.live.len()
                        );
                    }
                }
            }
            Op::InsertMany(n) => {
                let n = usize::from(*n);
                if let Some(cap) = self.cap {
                    // Only what must fit (a full arena panics here).
                    if self.live.len() + self.pending() + n > cap as usize {
                        return;
                    }
                }
                let values: Vec<Val> = (0..n).map(|i| self.value(i as u8)).collect();
                let keys = self.arena.insert_many(values.clone());
                assert_eq!(keys.len(), n);
                for (k, v) in keys.into_iter().zip(values) {
                    self.issue(k);
                    self.live.insert(k.to_bits(), v);
                }
            }
            Op::Remove(s) => {
                let Some(k) = self.pick(*s) else { return };
                let was = self.live.remove(&k.to_bits());
                assert_eq!(self.arena.remove(k), was.is_some(), "remove({k:?})");
            }
            Op::Take(s) => {
                let Some(k) = self.pick(*s) else { return };
                let was = self.live.remove(&k.to_bits());
                assert_eq!(self.arena.take(k), was, "take({k:?})");
            }
            Op::Retain(bits) => {
                let keep = |v: &Val| bits >> (v.0 % 64) & 1 == 1;
                self.arena.retain(|_, v| keep(v));
                self.live.retain(|_, v| keep(v));
            }
            Op::Clear => {
                self.arena.clear();
                self.live.clear();
            }
            Op::Compact => {
                let remap = self.arena.compact();
                assert_eq!(remap.live(), self.live.len());
                let old = std::mem::take(&mut self.live);
                for (bits, v) in old {
                    let k = Key::from_bits(bits).unwrap();
                    let new = remap.get(k).unwrap_or_else(|| panic!("{k:?} lost"));
                    if new != k {
                        self.issue(new);
                    }
                    self.live.insert(new.to_bits(), v);
                }
            }
            Op::Trim => {
                self.arena.trim();
            }
            Op::ShrinkToFit => self.arena.shrink_to_fit(),
            Op::Reclaim => {
                let arena = &self.arena;
                assert!(testkit::reclaim_until(arena, || arena
                    .stats()
                    .pending_reclamation
                    == 0));
            }
            Op::Collect(roots) => {
                let roots: Vec<Key> = roots.iter().filter_map(|&s| self.pick(s)).collect();
                // No value holds a key: exactly the live roots survive.
                let reached: HashSet<u64> = roots
                    .iter()
                    .map(|k| k.to_bits())
                    .filter(|b| self.live.contains_key(b))
                    .collect();
                let before = self.live.len();
                let stats = self.arena.collect(roots);
                assert_eq!(stats.marked, reached.len(), "collect marked");
                assert_eq!(stats.swept, before - reached.len(), "collect swept");
                self.live.retain(|b, _| reached.contains(b));
            }
            Op::RoundTrip(via) => {
                let loaded: Arena<Val> = match via {
                    Via::Snapshot => {
                        let mut bytes = Vec::new();
                        let info = self.arena.write_snapshot(&mut bytes).unwrap();
                        assert_eq!(info.live as usize, self.live.len());
                        bytes.extend_from_slice(b"tail");
                        let mut input = &bytes[..];
                        let a = Arena::read_snapshot(&mut input).expect("read_snapshot");
                        assert_eq!(input, b"tail");
                        a
                    }
                    Via::Postcard => {
                        let bytes = postcard::to_allocvec(&self.arena).unwrap();
                        postcard::from_bytes(&bytes).expect("postcard")
                    }
                };
                assert_eq!(loaded.max_slots(), self.arena.max_slots());
                self.arena = loaded;
                self.check_all();
            }
        }
    }

    /// Every key ever issued finds its value if live, nothing if dead; `iter` and `len`
    /// are the model.
    fn check_all(&self) {
        let a = &self.arena;
        assert_eq!(a.len(), self.live.len(), "len");
        let guard = pin();
        for &k in &self.issued {
            let want = self.live.get(&k.to_bits());
            assert_eq!(a.get(k, &guard), want, "get({k:?})");
            assert_eq!(a.contains(k), want.is_some(), "contains({k:?})");
        }
        let got: Vec<(u64, &Val)> = a.iter(&guard).map(|(k, v)| (k.to_bits(), v)).collect();
        assert!(got
            .iter()
            .copied()
            .eq(self.live.iter().map(|(b, v)| (*b, v))));
    }
}

fn ops_mode(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(cap) = (|| -> Result<Option<u32>> {
        Ok(match u.int_in_range(0u8..=3)? {
            0 | 1 => None,
            2 => Some(u32::from(u.int_in_range(0u8..=40)?)),
            _ => Some(u32::from(u.int_in_range(40u8..=200)?)),
        })
    })() else {
        return;
    };
    let mut ops = Vec::new();
    while !u.is_empty() && ops.len() < MAX_OPS {
        match op(&mut u) {
            Ok(o) => ops.push(o),
            Err(_) => break,
        }
    }
    let mut m = Model {
        arena: match cap {
            Some(c) => Arena::builder().max_slots(c).build(),
            None => Arena::new(),
        },
        cap,
        live: BTreeMap::new(),
        issued: Vec::new(),
        issued_set: HashSet::new(),
        next_id: 0,
    };
    for op in &ops {
        m.apply(op);
        assert_eq!(m.arena.len(), m.live.len(), "len after {op:?}");
    }
    m.check_all();
    // One more round trip each way, and new keys after it.
    for via in [Via::Snapshot, Via::Postcard] {
        m.apply(&Op::RoundTrip(via));
        for i in 0..8 {
            m.apply(&Op::Insert(i));
        }
        m.check_all();
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode {
        0 => bytes_mode(rest),
        1 => bytes_mode(&fix_checksums(rest)),
        2 => records_mode::<String>(rest),
        3 => records_mode::<u32>(rest),
        _ => ops_mode(rest),
    }
    settle();
});
