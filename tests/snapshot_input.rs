//! `Arena::write_snapshot` / `Arena::read_snapshot` (feature `serde`): what a snapshot is,
//! byte for byte, and what the reader does with every kind of bad input.
//!
//! * The format: a snapshot built by hand here (with a bitwise CRC32C of our own) is byte
//!   for byte what the writer writes, and `tests/data/snapshot-v1.bin` is a golden file the
//!   writer must keep producing (see [`golden`]).
//! * Bad input, each with its own `SnapshotError` variant and offset: the input cut at every
//!   byte (`Truncated` there), every single bit flipped (`BadMagic`, `UnsupportedVersion`,
//!   `Checksum`, and for the length fields `Corrupt` or `Truncated`, exactly as worked out
//!   per byte), a wrong magic, a later version, flags and encodings this build does not know
//!   (`Unsupported`), another value type (`TypeMismatch`), lengths far beyond the input
//!   (an error at once, without a large allocation: a counting allocator checks), records
//!   that pass their checksums but describe no arena (`Corrupt`), values that do not decode
//!   (`Value`), and a failing reader or writer (`Io`).
//! * Round trips: several value types, the empty arena, a capped arena, after compaction,
//!   trimming and clearing, a retired slot, a snapshot followed by other bytes, the
//!   returned `SnapshotInfo`, and the messages.
#![cfg(feature = "serde")]

use epoch_arena::{pin, Arena, Key, SnapshotError, SNAPSHOT_VERSION};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt::Debug;
use std::io::{self, Read, Write};

// ---------------------------------------------------------------------------------------
// A counting allocator: the largest single allocation and the bytes allocated, on this
// thread, while `measured` runs (other tests run on other threads meanwhile).

struct Counting;

thread_local! {
    /// `Some((largest, total))` while this thread is measured.
    static COUNT: Cell<Option<(usize, usize)>> = const { Cell::new(None) };
}

fn note(size: usize) {
    let _ = COUNT.try_with(|c| {
        if let Some((largest, total)) = c.get() {
            c.set(Some((largest.max(size), total + size)));
        }
    });
}

// SAFETY: forwards every call to `System` unchanged; `note` touches a const-initialised
// thread-local `Cell` only (no allocation, no panic).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// What `f` returned, and the largest single allocation and the bytes allocated in all on
/// this thread while it ran. (No timing: a read that allocates little also does little.)
fn measured<R>(f: impl FnOnce() -> R) -> (R, usize, usize) {
    COUNT.with(|c| c.set(Some((0, 0))));
    let r = f();
    let (largest, total) = COUNT.with(|c| c.take()).unwrap();
    (r, largest, total)
}

// ---------------------------------------------------------------------------------------
// The format, written by hand.

/// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), continued from `crc` (the CRC of
/// the bytes before `data`; 0 for none), as `crc32c::crc32c_append` computes it.
fn crc32c_append(crc: u32, data: &[u8]) -> u32 {
    let mut c = !crc;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 == 1 {
                c >> 1 ^ 0x82F6_3B78
            } else {
                c >> 1
            };
        }
    }
    !c
}

const MAGIC: &[u8; 8] = b"\x89EPA\r\n\x1a\n";
/// Bytes of the header before the type name.
const FIXED: usize = 36;
/// The largest block payload.
const MAX_BLOCK: u32 = 1 << 20;
/// The longest type name a header may hold.
const MAX_NAME: usize = 4096;
const RETIRED: u32 = u32::MAX;

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A header's fields, any of them wrong on purpose.
#[derive(Clone, Debug)]
struct Header {
    version: u16,
    flags: u16,
    encoding: u8,
    reserved: u8,
    max_slots: u32,
    floor: u32,
    slots: u32,
    live: u64,
    type_name: Vec<u8>,
    /// The type name length field, if not the name's length.
    name_len: Option<u16>,
}

impl Header {
    fn of<T>(max_slots: u32, floor: u32, slots: u32, live: u64) -> Header {
        Header {
            version: SNAPSHOT_VERSION,
            flags: 0,
            encoding: 1,
            reserved: 0,
            max_slots,
            floor,
            slots,
            live,
            type_name: std::any::type_name::<T>().as_bytes().to_vec(),
            name_len: None,
        }
    }

    /// The header's bytes with its CRC last, and that CRC.
    fn bytes(&self) -> (Vec<u8>, u32) {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.push(self.encoding);
        out.push(self.reserved);
        let len = self.name_len.unwrap_or(self.type_name.len() as u16);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&self.max_slots.to_le_bytes());
        out.extend_from_slice(&self.floor.to_le_bytes());
        out.extend_from_slice(&self.slots.to_le_bytes());
        out.extend_from_slice(&self.live.to_le_bytes());
        assert_eq!(out.len(), FIXED);
        out.extend_from_slice(&self.type_name);
        let crc = crc32c_append(0, &out);
        out.extend_from_slice(&crc.to_le_bytes());
        (out, crc)
    }
}

/// One slot record.
#[derive(Clone, Copy, Debug)]
enum Rec<'a> {
    /// Generation and the value's postcard bytes.
    Live(u32, &'a [u8]),
    Free(u32),
    Retired,
    /// Any bytes.
    Raw(&'a [u8]),
}

fn records(recs: &[Rec<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in recs {
        match *r {
            Rec::Live(g, v) => {
                varint(&mut out, g.into());
                varint(&mut out, v.len() as u64);
                out.extend_from_slice(v);
            }
            Rec::Free(s) => varint(&mut out, s.into()),
            Rec::Retired => varint(&mut out, RETIRED.into()),
            Rec::Raw(b) => out.extend_from_slice(b),
        }
    }
    out
}

/// The end block's trailer: live values, slots, 4 zero bytes.
fn trailer(live: u64, slots: u32) -> [u8; 16] {
    let mut t = [0; 16];
    t[..8].copy_from_slice(&live.to_le_bytes());
    t[8..12].copy_from_slice(&slots.to_le_bytes());
    t
}

/// A snapshot with valid checksums everywhere: `header`, then one block per payload (each
/// with its length field, or a declared one), then the end block with `trailer`.
struct Crafted {
    header: Header,
    blocks: Vec<(Option<u32>, Vec<u8>)>,
    trailer: [u8; 16],
}

impl Crafted {
    /// A consistent snapshot of `recs` for values of type `T`.
    fn of<T>(max_slots: u32, floor: u32, recs: &[Rec<'_>]) -> Crafted {
        let live = recs.iter().filter(|r| matches!(r, Rec::Live(..))).count() as u64;
        let slots = recs.len() as u32;
        let payload = records(recs);
        Crafted {
            header: Header::of::<T>(max_slots, floor, slots, live),
            blocks: if payload.is_empty() {
                vec![]
            } else {
                vec![(None, payload)]
            },
            trailer: trailer(live, slots),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let (mut out, mut crc) = self.header.bytes();
        let mut block = |out: &mut Vec<u8>, len: u32, payload: &[u8]| {
            let len = len.to_le_bytes();
            crc = crc32c_append(crc32c_append(crc, &len), payload);
            out.extend_from_slice(&len);
            out.extend_from_slice(payload);
            out.extend_from_slice(&crc.to_le_bytes());
        };
        for (len, payload) in &self.blocks {
            block(&mut out, len.unwrap_or(payload.len() as u32), payload);
        }
        block(&mut out, 0, &self.trailer);
        out
    }
}

fn pc<T: Serialize>(v: &T) -> Vec<u8> {
    postcard::to_allocvec(v).unwrap()
}

fn write<T: Serialize + Send + Sync>(arena: &Arena<T>) -> Vec<u8> {
    let mut out = Vec::new();
    let info = arena.write_snapshot(&mut out).expect("write_snapshot");
    assert_eq!(info.bytes, out.len() as u64);
    out
}

fn read<T: DeserializeOwned + Send + Sync>(bytes: &[u8]) -> Result<Arena<T>, SnapshotError> {
    Arena::read_snapshot(bytes)
}

fn read_err<T: DeserializeOwned + Send + Sync>(bytes: &[u8]) -> SnapshotError {
    match read::<T>(bytes) {
        Ok(a) => panic!("accepted: an arena of {} values", a.len()),
        Err(e) => e,
    }
}

/// The variant and where, in one comparable line.
fn summary(e: &SnapshotError) -> String {
    match e {
        SnapshotError::Io { offset, .. } => format!("Io@{offset}"),
        SnapshotError::BadMagic { found } => format!("BadMagic {found:02x?}"),
        SnapshotError::UnsupportedVersion { found, supported } => {
            format!("UnsupportedVersion {found} (supported {supported})")
        }
        SnapshotError::Unsupported {
            offset,
            what,
            found,
        } => format!("Unsupported@{offset} {what} {found}"),
        SnapshotError::TypeMismatch { expected, found } => {
            format!("TypeMismatch {expected} <- {found}")
        }
        SnapshotError::Checksum { offset, .. } => format!("Checksum@{offset}"),
        SnapshotError::Truncated { offset, reading } => format!("Truncated@{offset} {reading}"),
        SnapshotError::Corrupt { offset, slot, .. } => format!("Corrupt@{offset} slot {slot:?}"),
        SnapshotError::Value { offset, slot, .. } => format!("Value@{offset} slot {slot}"),
        other => format!("unknown variant {other:?}"),
    }
}

/// The offset a variant reports, if it has one.
fn offset_of(e: &SnapshotError) -> Option<u64> {
    match e {
        SnapshotError::Io { offset, .. }
        | SnapshotError::Unsupported { offset, .. }
        | SnapshotError::Checksum { offset, .. }
        | SnapshotError::Truncated { offset, .. }
        | SnapshotError::Corrupt { offset, .. }
        | SnapshotError::Value { offset, .. } => Some(*offset),
        _ => None,
    }
}

/// Every live key and value of an arena, in key order.
fn contents<T: Clone + Send + Sync>(arena: &Arena<T>) -> Vec<(u64, T)> {
    let guard = pin();
    let mut v: Vec<(u64, T)> = arena
        .iter(&guard)
        .map(|(k, v)| (k.to_bits(), v.clone()))
        .collect();
    v.sort_by_key(|e| e.0);
    v
}

/// Writes `arena`, reads it back, and checks the loaded arena: the same values under the
/// same keys, every key in `dead` dead, the same `len` and `max_slots`, and 50 new keys
/// none of which is in `dead` or live before.
fn round_trip<T>(arena: &Arena<T>, dead: &[Key], fresh: impl Fn(usize) -> T) -> Arena<T>
where
    T: Serialize + DeserializeOwned + Clone + PartialEq + Debug + Send + Sync,
{
    let bytes = write(arena);
    let loaded = read::<T>(&bytes).unwrap_or_else(|e| panic!("reading back: {e}"));
    assert_eq!(loaded.len(), arena.len());
    assert_eq!(loaded.max_slots(), arena.max_slots());
    let before = contents(arena);
    assert_eq!(contents(&loaded), before);
    {
        let guard = pin();
        for &k in dead {
            assert_eq!(loaded.get(k, &guard), None, "dead {k:?} found");
            assert!(!loaded.contains(k), "dead {k:?} contained");
        }
    }
    // The same image again.
    assert_eq!(
        write(&loaded),
        bytes,
        "the loaded arena writes another snapshot"
    );
    // New keys are new: insert into a scratch copy, as many as the cap lets.
    let scratch = read::<T>(&bytes).unwrap();
    for i in 0..50 {
        let Ok(k) = scratch.try_insert(fresh(i)) else {
            break;
        };
        assert!(!dead.contains(&k), "{k:?} issued again");
        assert!(
            before.iter().all(|(bits, _)| *bits != k.to_bits()),
            "{k:?} was live"
        );
    }
    loaded
}

/// A small arena of every slot kind: live values (generations 1 and 5), free slots (a
/// removed value waiting for its grace period, a taken one) and a retired slot (made
/// cheaply: a description with a generation just below the wrap, then `take`).
fn small() -> (Arena<String>, Vec<u8>) {
    let mut arena: Arena<String> = serde_json::from_str(
        r#"{"max_slots":1000,"floor":0,"slots":[[4294967293,"last"]],"len":1}"#,
    )
    .unwrap();
    let last = Key::from_bits(4_294_967_293).unwrap();
    assert_eq!(arena.take(last).as_deref(), Some("last"));
    let a = arena.insert("alpha".to_string());
    let b = arena.insert("beta".to_string());
    arena.insert("gamma".to_string());
    assert!(arena.remove(b));
    assert!(arena.take(a).is_some());
    let a2 = arena.insert("alpha2".to_string());
    assert_eq!(a2.generation(), 5);
    arena.insert("delta".to_string());
    assert_eq!(
        serde_json::to_string(&arena).unwrap(),
        r#"{"max_slots":1000,"floor":0,"slots":[[4294967295,null],[5,"alpha2"],[4,null],[1,"gamma"],[1,"delta"]],"len":3}"#
    );
    let bytes = write(&arena);
    (arena, bytes)
}

/// Where things are in a valid snapshot.
#[derive(Debug)]
struct Regions {
    name_len: usize,
    /// Start and payload length of each record block.
    blocks: Vec<(usize, usize)>,
    /// Start of the end block.
    end: usize,
    total: usize,
}

fn regions(bytes: &[u8]) -> Regions {
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap()) as usize;
    let name_len = usize::from(u16::from_le_bytes([bytes[14], bytes[15]]));
    let mut pos = FIXED + name_len + 4;
    let mut blocks = Vec::new();
    loop {
        let n = u32_at(pos);
        if n == 0 {
            break;
        }
        blocks.push((pos, n));
        pos += 4 + n + 4;
    }
    assert_eq!(pos + 4 + 16 + 4, bytes.len(), "not a snapshot's layout");
    Regions {
        name_len,
        blocks,
        end: pos,
        total: bytes.len(),
    }
}

impl Regions {
    /// Start and payload length of the block (records or end) that byte `i` is in.
    fn block_of(&self, i: usize) -> Option<(usize, usize)> {
        self.blocks
            .iter()
            .copied()
            .chain([(self.end, 16)])
            .find(|&(s, n)| (s..s + 4 + n + 4).contains(&i))
    }

    /// What the reader was reading when an input cut at `n` bytes ends.
    fn reading_at(&self, n: usize) -> &'static str {
        let header = FIXED + self.name_len;
        match n {
            0..8 => "the magic number",
            8..10 => "the format version",
            10..FIXED => "the header",
            _ if n < header => "the value type name",
            _ if n < header + 4 => "the header checksum",
            _ => {
                let (s, p) = self.block_of(n).expect("inside a block");
                match n - s {
                    0..4 => "a block length",
                    k if k < 4 + p => "a block",
                    _ => "a block checksum",
                }
            }
        }
    }

    /// What the reader reports for the snapshot with byte `i` changed to `flipped[i]`.
    ///
    /// Everything is covered by a checksum, but the reader must believe a length before it
    /// can check the bytes it covers: a flipped bit in the type name length or a block length
    /// is reported as what that length leads to (`Corrupt` past the limit, `Truncated` past
    /// the input, else `Checksum`).
    fn flip_expected(&self, flipped: &[u8], i: usize) -> String {
        let total = self.total;
        match i {
            0..8 => format!("BadMagic {:02x?}", &flipped[..8]),
            8..10 => format!(
                "UnsupportedVersion {} (supported {SNAPSHOT_VERSION})",
                u16::from_le_bytes([flipped[8], flipped[9]])
            ),
            14..16 => {
                let len = usize::from(u16::from_le_bytes([flipped[14], flipped[15]]));
                if len > MAX_NAME {
                    "Corrupt@14 slot None".into()
                } else if FIXED + len + 4 > total {
                    let reading = if FIXED + len > total {
                        "the value type name"
                    } else {
                        "the header checksum"
                    };
                    format!("Truncated@{total} {reading}")
                } else {
                    "Checksum@0".into()
                }
            }
            _ if i < FIXED + self.name_len + 4 => "Checksum@0".into(),
            _ => {
                let (s, _) = self.block_of(i).unwrap();
                if i >= s + 4 {
                    return format!("Checksum@{s}");
                }
                let n = u32::from_le_bytes(flipped[s..s + 4].try_into().unwrap());
                if n > MAX_BLOCK {
                    return format!("Corrupt@{s} slot None");
                }
                let payload = if n == 0 { 16 } else { n as usize };
                if s + 4 + payload > total {
                    format!("Truncated@{total} a block")
                } else if s + 4 + payload + 4 > total {
                    format!("Truncated@{total} a block checksum")
                } else {
                    format!("Checksum@{s}")
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The format.

#[test]
fn crc32c_matches_the_standard_check_value() {
    assert_eq!(crc32c_append(0, b"123456789"), 0xE306_9283);
    assert_eq!(
        crc32c_append(crc32c_append(0, b"1234"), b"56789"),
        0xE306_9283
    );
}

#[test]
fn counting_allocator_sees_allocations() {
    let (v, largest, total) = measured(|| vec![1u8; 3 << 20]);
    assert!(largest >= 3 << 20 && total >= 3 << 20, "{largest} {total}");
    drop(v);
    let ((), largest, _) = measured(|| ());
    assert_eq!(largest, 0);
}

/// The format as documented, built by hand, is what the writer writes: header fields,
/// the type name, the header CRC, one block of records (varint states, varint value
/// lengths, postcard values; a retired slot as the varint of `u32::MAX`), the end block.
#[test]
fn hand_built_snapshot_is_byte_identical_to_the_writer() {
    let (_, bytes) = small();
    let crafted = Crafted::of::<String>(
        1000,
        0,
        &[
            Rec::Retired,
            Rec::Live(5, &pc(&"alpha2")),
            Rec::Free(4),
            Rec::Live(1, &pc(&"gamma")),
            Rec::Live(1, &pc(&"delta")),
        ],
    );
    assert_eq!(bytes, crafted.bytes());
    assert_eq!(&bytes[..8], MAGIC);
    assert_eq!(&bytes[FIXED..FIXED + 21], b"alloc::string::String");

    // Values longer than 127 bytes (a two-byte length), a floor, a live generation below
    // it, and free slots at the floor in the middle; no record block at all when empty.
    let long = "x".repeat(300);
    let mut arena: Arena<String> = serde_json::from_str(&format!(
        r#"{{"max_slots":77,"floor":8,"slots":[[1,"{long}"],[8,null],[8,null],[4294967293,"z"]],"len":2}}"#
    ))
    .unwrap();
    assert!(arena
        .take(Key::from_bits(4_294_967_293 | 3 << 32).unwrap())
        .is_some());
    // The free slot the insertion takes is the pool's choice (slot 1 or 2).
    let y = arena.insert("y".repeat(128));
    assert_eq!(y.generation(), 9);
    let y_bytes = pc(&"y".repeat(128));
    let long_bytes = pc(&long);
    let recs: Vec<Rec<'_>> = (0..4)
        .map(|i| match i {
            0 => Rec::Live(1, &long_bytes),
            3 => Rec::Retired,
            i if i == y.index() => Rec::Live(9, &y_bytes),
            _ => Rec::Free(8),
        })
        .collect();
    let crafted = Crafted::of::<String>(77, 8, &recs);
    assert_eq!(write(&arena), crafted.bytes());
    let empty: Arena<u64> = Arena::new();
    assert_eq!(write(&empty), Crafted::of::<u64>(u32::MAX, 0, &[]).bytes());
}

/// A snapshot larger than a block: several record blocks, each CRC chained from the one
/// before, read back whole; one block swapped with the next is refused.
#[test]
// Megabytes of records: minutes under miri, which checks the same code on the small inputs.
#[cfg_attr(miri, ignore)]
fn multi_block_snapshot_round_trips_and_blocks_are_chained() {
    let arena = Arena::new();
    let keys: Vec<Key> = (0..3000u32)
        .map(|i| arena.insert(format!("{i:050}")))
        .collect();
    for k in keys.iter().step_by(3) {
        arena.remove(*k);
    }
    let bytes = write(&arena);
    let r = regions(&bytes);
    assert!(r.blocks.len() >= 2, "{r:?}");
    let dead: Vec<Key> = keys.iter().step_by(3).copied().collect();
    round_trip(&arena, &dead, |i| format!("new {i}"));
    // Swap the first two blocks, if equally long: each has a valid CRC on its own, but not
    // in this place of the chain.
    let (s0, n0) = r.blocks[0];
    let (s1, n1) = r.blocks[1];
    let mut swapped = bytes[..s0].to_vec();
    swapped.extend_from_slice(&bytes[s1..s1 + 8 + n1]);
    swapped.extend_from_slice(&bytes[s0..s0 + 8 + n0]);
    swapped.extend_from_slice(&bytes[s1 + 8 + n1..]);
    assert_eq!(swapped.len(), bytes.len());
    assert_eq!(
        summary(&read_err::<String>(&swapped)),
        format!("Checksum@{s0}")
    );
    // A block left out.
    let mut dropped = bytes[..s0].to_vec();
    dropped.extend_from_slice(&bytes[s1..]);
    assert_eq!(
        summary(&read_err::<String>(&dropped)),
        format!("Checksum@{s0}")
    );
}

// ---------------------------------------------------------------------------------------
// Bad input.

/// Cut at every byte: `Truncated`, at exactly the length of the input, saying what was
/// being read (the empty input too: it is a truncated snapshot, not another format).
#[test]
// Every byte or bit of a snapshot, each a whole read: far too long under miri, which
// checks the same code paths on the targeted cases.
#[cfg_attr(miri, ignore)]
fn truncated_at_every_offset() {
    let (_, bytes) = small();
    let r = regions(&bytes);
    for n in 0..bytes.len() {
        let err = read_err::<String>(&bytes[..n]);
        assert_eq!(
            summary(&err),
            format!("Truncated@{n} {}", r.reading_at(n)),
            "cut at {n} of {}: {err}",
            bytes.len()
        );
    }
    assert!(read::<String>(&bytes).is_ok());
}

/// Every single bit flipped: an error, of the variant and offset the region implies (see
/// `Regions::flip_expected`); never a success, never a panic.
#[test]
// Every byte or bit of a snapshot, each a whole read: far too long under miri, which
// checks the same code paths on the targeted cases.
#[cfg_attr(miri, ignore)]
fn every_bit_flip_is_refused_precisely() {
    let (_, bytes) = small();
    let r = regions(&bytes);
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut flipped = bytes.clone();
            flipped[i] ^= 1 << bit;
            let err = read_err::<String>(&flipped);
            let got = summary(&err);
            assert_eq!(
                got,
                r.flip_expected(&flipped, i),
                "bit {bit} of byte {i}: {err}"
            );
            let kind = got.split(['@', ' ']).next().unwrap().to_string();
            *seen.entry(kind).or_default() += 1;
        }
    }
    // Each outcome occurs (so the expectations above are not vacuous).
    for kind in [
        "BadMagic",
        "UnsupportedVersion",
        "Checksum",
        "Corrupt",
        "Truncated",
    ] {
        assert!(seen.contains_key(kind), "no {kind}: {seen:?}");
    }
}

#[test]
fn wrong_magic_is_bad_magic() {
    let (_, bytes) = small();
    let cases: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (b"GIF89a..".to_vec(), b"GIF89a..".to_vec()),
        (
            b"\x89PNG\r\n\x1a\n....".to_vec(),
            b"\x89PNG\r\n\x1a\n".to_vec(),
        ),
        // Shorter than the magic, and already wrong.
        (b"\x89EX".to_vec(), b"\x89EX".to_vec()),
        (b"{".to_vec(), b"{".to_vec()),
        // A text-mode transfer turned "\r\n" into "\n".
        (
            [&b"\x89EPA\n\x1a\n"[..], &bytes[8..]].concat(),
            [&b"\x89EPA\n\x1a\n"[..], &bytes[8..9]].concat(),
        ),
    ];
    for (input, found) in cases {
        match read_err::<String>(&input) {
            SnapshotError::BadMagic { found: f } => assert_eq!(f, found, "{input:02x?}"),
            e => panic!("{input:02x?}: {e}"),
        }
    }
    // A correct prefix of the magic is a truncated snapshot.
    assert_eq!(
        summary(&read_err::<String>(b"\x89EPA")),
        "Truncated@4 the magic number"
    );
}

#[test]
fn future_version_is_unsupported() {
    let (_, bytes) = small();
    // The version field set to 2, nothing else changed (the header CRC no longer matches:
    // the version is checked first, as a later version may lay out everything else anew).
    for version in [SNAPSHOT_VERSION + 1, 0, u16::MAX] {
        let mut v = bytes.clone();
        v[8..10].copy_from_slice(&version.to_le_bytes());
        match read_err::<String>(&v) {
            SnapshotError::UnsupportedVersion { found, supported } => {
                assert_eq!((found, supported), (version, SNAPSHOT_VERSION))
            }
            e => panic!("version {version}: {e}"),
        }
    }
    // Nothing past the version is needed to refuse it.
    assert_eq!(
        summary(&read_err::<String>(&[&MAGIC[..], &[2, 0]].concat())),
        "UnsupportedVersion 2 (supported 1)"
    );
}

/// Flags, a value encoding or a reserved byte this version does not know, with a valid
/// header CRC: `Unsupported` at the field.
#[test]
fn unknown_flags_and_encodings_are_unsupported() {
    let base = Crafted::of::<String>(10, 0, &[Rec::Free(4)]);
    // (flags, encoding, reserved byte) and what the reader says.
    let cases = [
        ((1, 1, 0), "Unsupported@10 set of flags 1"),
        ((0x8000, 1, 0), "Unsupported@10 set of flags 32768"),
        ((0, 2, 0), "Unsupported@12 value encoding 2"),
        ((0, 0, 0), "Unsupported@12 value encoding 0"),
        ((0, 1, 7), "Unsupported@13 reserved header byte 7"),
    ];
    for ((flags, encoding, reserved), want) in cases {
        let mut c = Crafted {
            header: base.header.clone(),
            blocks: base.blocks.clone(),
            trailer: base.trailer,
        };
        c.header.flags = flags;
        c.header.encoding = encoding;
        c.header.reserved = reserved;
        assert_eq!(summary(&read_err::<String>(&c.bytes())), want);
    }
    assert!(read::<String>(&base.bytes()).is_ok());
}

#[test]
fn other_value_type_is_a_type_mismatch() {
    let arena: Arena<u64> = Arena::new();
    arena.insert(7);
    let bytes = write(&arena);
    match read_err::<String>(&bytes) {
        SnapshotError::TypeMismatch { expected, found } => {
            assert_eq!(
                (expected.as_str(), found.as_str()),
                ("alloc::string::String", "u64")
            )
        }
        e => panic!("{e}"),
    }
    assert_eq!(summary(&read_err::<u32>(&bytes)), "TypeMismatch u32 <- u64");
    assert_eq!(
        summary(&read_err::<Vec<u64>>(&bytes)),
        "TypeMismatch alloc::vec::Vec<u64> <- u64"
    );
    assert!(read::<u64>(&bytes).is_ok());
}

/// Lengths far beyond the input, with valid checksums: an error at once, and no allocation
/// larger than a few pages, whatever is declared.
#[test]
fn declared_lengths_beyond_the_input_fail_fast_without_allocating_them() {
    // A free slot first: the bad record is slot 1 (see `first_record_offsets`).
    let value_of_length = |len: u64| {
        let mut v = records(&[Rec::Free(4), Rec::Raw(&[1])]);
        varint(&mut v, len);
        v
    };
    let name_4096 = {
        let mut h = Header::of::<String>(10, 0, 0, 0);
        h.name_len = Some(MAX_NAME as u16);
        h
    };
    let name_4097 = {
        let mut h = Header::of::<String>(10, 0, 0, 0);
        h.name_len = Some(MAX_NAME as u16 + 1);
        h
    };
    let header_len = FIXED + 21 + 4;
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        (
            "2^32 - 1 slots declared, none recorded",
            Crafted {
                header: Header::of::<String>(u32::MAX, 0, u32::MAX, 0),
                blocks: vec![(None, records(&[Rec::Free(4)]))],
                trailer: trailer(0, u32::MAX),
            }
            .bytes(),
            // Where the end block starts: after the one record's block and its CRC.
            format!("Corrupt@{} slot Some(1)", header_len + 4 + 1 + 4),
        ),
        (
            "2^32 - 1 slots declared, the input ends after the header",
            Header::of::<String>(u32::MAX, 0, u32::MAX, u64::MAX)
                .bytes()
                .0,
            format!("Truncated@{header_len} a block length"),
        ),
        (
            "more slots than max_slots",
            Crafted {
                header: Header::of::<String>(1000, 0, 1001, 0),
                blocks: vec![],
                trailer: trailer(0, 1001),
            }
            .bytes(),
            "Corrupt@24 slot None".into(),
        ),
        (
            "a value of 2^62 bytes",
            Crafted {
                header: Header::of::<String>(10, 0, 2, 1),
                blocks: vec![(None, value_of_length(1 << 62))],
                trailer: trailer(1, 2),
            }
            .bytes(),
            format!("Corrupt@{} slot Some(1)", header_len + 4 + 1),
        ),
        (
            "a value of 2^64 - 1 bytes",
            Crafted {
                header: Header::of::<String>(10, 0, 2, 1),
                blocks: vec![(None, value_of_length(u64::MAX))],
                trailer: trailer(1, 2),
            }
            .bytes(),
            format!("Corrupt@{} slot Some(1)", header_len + 4 + 1),
        ),
        (
            "a block of 1 MiB declared, 3 bytes given",
            {
                let (mut b, _) = Header::of::<String>(10, 0, 1, 0).bytes();
                b.extend_from_slice(&MAX_BLOCK.to_le_bytes());
                b.extend_from_slice(&[4, 0, 0]);
                b
            },
            format!("Truncated@{} a block", header_len + 7),
        ),
        (
            "a block of 2^32 - 1 bytes declared",
            Crafted {
                header: Header::of::<String>(10, 0, 1, 0),
                blocks: vec![(Some(u32::MAX), vec![4])],
                trailer: trailer(0, 1),
            }
            .bytes(),
            format!("Corrupt@{header_len} slot None"),
        ),
        (
            "a block of 1 MiB + 1 declared",
            Crafted {
                header: Header::of::<String>(10, 0, 1, 0),
                blocks: vec![(Some(MAX_BLOCK + 1), vec![4])],
                trailer: trailer(0, 1),
            }
            .bytes(),
            format!("Corrupt@{header_len} slot None"),
        ),
        (
            "a type name of 4096 bytes declared, 21 given",
            name_4096.bytes().0,
            format!("Truncated@{} the value type name", FIXED + 21 + 4),
        ),
        (
            "a type name of 4097 bytes declared",
            name_4097.bytes().0,
            "Corrupt@14 slot None".into(),
        ),
    ];
    for (what, input, want) in cases {
        let (result, largest, total) = measured(|| read::<String>(&input).map(drop));
        let err = result.expect_err(what);
        assert_eq!(summary(&err), want, "{what}: {err}");
        assert!(
            largest <= 64 << 10 && total <= 1 << 20,
            "{what}: allocated {largest} bytes at once, {total} in all"
        );
    }
}

/// Records that pass their checksums but describe no arena a writer could have produced:
/// `Corrupt`, at the record (and slot) or field where it shows.
#[test]
fn inconsistent_records_are_corrupt() {
    let h = FIXED + 21 + 4; // header length of an `Arena<String>` snapshot
    let first = h + 4; // first record byte
    let a = pc(&"a");
    // Where the trailer is in a snapshot of `[Live(1, &a), Free(4)]` (5 record bytes): the
    // trailer mismatches are reported there.
    let trailer_at = first + 5 + 4 + 4;
    let consistent = |floor, recs: &[Rec<'_>]| Crafted::of::<String>(100, floor, recs);
    let cases: Vec<(&str, Crafted, String)> = vec![
        (
            "a REMOVED state 4n + 2",
            consistent(0, &[Rec::Live(1, &a), Rec::Free(6)]),
            format!("Corrupt@{} slot Some(1)", first + 4),
        ),
        (
            "state 2 with a value's bytes after it",
            consistent(0, &[Rec::Free(4), Rec::Raw(&[2, 2, 1, b'a'])]),
            format!("Corrupt@{} slot Some(1)", first + 1),
        ),
        (
            "a free state below the floor",
            consistent(8, &[Rec::Free(8), Rec::Free(4)]),
            format!("Corrupt@{} slot Some(1)", first + 1),
        ),
        (
            "a state wider than 32 bits",
            consistent(
                0,
                &[Rec::Free(4), Rec::Raw(&[0x84, 0x80, 0x80, 0x80, 0x10])],
            ),
            format!("Corrupt@{} slot Some(1)", first + 1),
        ),
        (
            "a varint longer than 64 bits",
            consistent(0, &[Rec::Free(4), Rec::Raw(&[0xff; 11])]),
            format!("Corrupt@{} slot Some(1)", first + 1),
        ),
        (
            "a floor that is not a FREE state",
            consistent(6, &[Rec::Free(8)]),
            "Corrupt@20 slot None".into(),
        ),
        (
            "a type name that is not UTF-8",
            {
                let mut c = consistent(0, &[Rec::Free(4)]);
                c.header.type_name = vec![0xff; 21];
                c
            },
            "Corrupt@36 slot None".into(),
        ),
        (
            "more records than declared",
            {
                let mut c = consistent(0, &[Rec::Live(1, &a), Rec::Free(4)]);
                c.header.slots = 1;
                c.trailer = trailer(1, 1);
                c
            },
            format!("Corrupt@{} slot None", first + 4),
        ),
        (
            "fewer records than declared",
            {
                let mut c = consistent(0, &[Rec::Live(1, &a), Rec::Free(4)]);
                c.header.slots = 3;
                c.trailer = trailer(1, 3);
                c
            },
            // Where the end block starts.
            format!("Corrupt@{} slot Some(2)", first + 5 + 4),
        ),
        (
            "bytes after the last record",
            {
                let mut c = consistent(0, &[Rec::Live(1, &a), Rec::Free(4)]);
                c.blocks[0].1.push(0x80);
                c
            },
            format!("Corrupt@{} slot None", first + 5),
        ),
        (
            "an empty record block after the last record",
            {
                let mut c = consistent(0, &[Rec::Free(4)]);
                c.blocks.push((Some(0x10), vec![]));
                c
            },
            // A length field of 16 with no payload: the next bytes (the end block) are taken
            // as its payload, and the CRC no longer matches.
            format!("Checksum@{}", first + 1 + 4),
        ),
        (
            "the trailer counts another number of live values",
            {
                let mut c = consistent(0, &[Rec::Live(1, &a), Rec::Free(4)]);
                c.trailer = trailer(2, 2);
                c
            },
            format!("Corrupt@{} slot None", trailer_at),
        ),
        (
            "the trailer counts another number of slots",
            {
                let mut c = consistent(0, &[Rec::Live(1, &a), Rec::Free(4)]);
                c.trailer = trailer(1, 3);
                c
            },
            format!("Corrupt@{} slot None", trailer_at),
        ),
        (
            "the trailer's last four bytes are not zero",
            {
                let mut c = consistent(0, &[Rec::Live(1, &a), Rec::Free(4)]);
                c.trailer[15] = 1;
                c
            },
            format!("Corrupt@{} slot None", trailer_at),
        ),
        (
            "a value that runs past the records",
            consistent(0, &[Rec::Free(4), Rec::Raw(&[1, 9, 1, b'a'])]),
            format!("Corrupt@{} slot Some(1)", first + 1),
        ),
        (
            "more slots than max_slots",
            {
                let mut c = consistent(0, &[Rec::Free(4), Rec::Free(4)]);
                c.header.max_slots = 1;
                c
            },
            "Corrupt@24 slot None".into(),
        ),
    ];
    for (what, crafted, want) in cases {
        let bytes = crafted.bytes();
        let err = read_err::<String>(&bytes);
        assert_eq!(summary(&err), want, "{what}: {err}");
    }
    // The consistent versions load.
    assert!(read::<String>(&consistent(0, &[Rec::Live(1, &a), Rec::Free(4)]).bytes()).is_ok());
    assert!(read::<String>(&consistent(8, &[Rec::Free(8), Rec::Free(12)]).bytes()).is_ok());
    // The header's live count is not checked against the records (the writer takes it from
    // `len()` before it walks, which may differ while others work); only the trailer's is.
    let mut c = consistent(0, &[Rec::Live(1, &a)]);
    c.header.live = 99;
    assert_eq!(read::<String>(&c.bytes()).unwrap().len(), 1);
}

/// Bytes that the value codec refuses: `Value`, at the record, with the slot.
#[test]
fn undecodable_values_are_value_errors() {
    let first = (FIXED + 21 + 4 + 4) as u64;
    let cases: Vec<(&str, Vec<u8>, u32)> = vec![
        ("not UTF-8", vec![2, 0xff, 0xfe], 1),
        ("a length past the value's bytes", vec![5, b'a'], 1),
        ("bytes left over", vec![1, b'a', b'b'], 1),
        ("no bytes", vec![], 1),
    ];
    for (what, value, slot) in cases {
        let c = Crafted::of::<String>(10, 0, &[Rec::Free(4), Rec::Live(1, &value)]);
        let err = read_err::<String>(&c.bytes());
        assert_eq!(
            summary(&err),
            format!("Value@{} slot {slot}", first + 1),
            "{what}: {err}"
        );
        assert!(std::error::Error::source(&err).is_some(), "{what}");
        assert!(err.to_string().contains("slot 1"), "{what}: {err}");
    }
    // A u32 whose varint is too long, a bool that is 2 (after a free slot).
    let free = Rec::Free(4);
    let c = Crafted::of::<u32>(
        10,
        0,
        &[free, Rec::Live(1, &[0xff, 0xff, 0xff, 0xff, 0xff, 1])],
    );
    let first = (FIXED + "u32".len() + 4 + 4) as u64;
    assert_eq!(
        summary(&read_err::<u32>(&c.bytes())),
        format!("Value@{} slot 1", first + 1)
    );
    let c = Crafted::of::<bool>(10, 0, &[free, Rec::Live(1, &[2])]);
    let first = (FIXED + "bool".len() + 4 + 4) as u64;
    assert_eq!(
        summary(&read_err::<bool>(&c.bytes())),
        format!("Value@{} slot 1", first + 1)
    );
}

/// The offset of an error in a record that starts a block (the first record of all, or
/// the first after a block boundary) is that record's byte offset (`read_snapshot` once
/// took it before loading the block holding the record, and reported 0 for the first).
#[test]
fn first_record_offsets() {
    let first = (FIXED + 21 + 4 + 4) as u64;
    let c = Crafted::of::<String>(10, 0, &[Rec::Free(6)]);
    assert_eq!(
        summary(&read_err::<String>(&c.bytes())),
        format!("Corrupt@{first} slot Some(0)")
    );
    let c = Crafted::of::<String>(10, 0, &[Rec::Live(1, &[9])]);
    assert_eq!(
        summary(&read_err::<String>(&c.bytes())),
        format!("Value@{first} slot 0")
    );
    let mut c = Crafted::of::<String>(10, 0, &[Rec::Free(4), Rec::Free(6)]);
    c.blocks = vec![(None, vec![4]), (None, vec![6])];
    assert_eq!(
        summary(&read_err::<String>(&c.bytes())),
        format!("Corrupt@{} slot Some(1)", first + 1 + 4 + 4)
    );
}

/// A reader that hands out `data` and fails at byte `fail_at`; one byte at a time, with an
/// `Interrupted` before every read, if `trickle`.
struct Flaky<'a> {
    data: &'a [u8],
    pos: usize,
    fail_at: usize,
    trickle: bool,
    interrupt: bool,
}

impl Read for Flaky<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.trickle {
            self.interrupt = !self.interrupt;
            if self.interrupt {
                return Err(io::ErrorKind::Interrupted.into());
            }
        }
        if self.pos == self.fail_at {
            return Err(io::Error::other("the disk is on fire"));
        }
        let mut n = buf.len().min(self.fail_at - self.pos);
        if self.trickle {
            n = n.min(1);
        }
        let n = n.min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A writer that takes `room` bytes, then fails.
struct Full {
    room: usize,
    got: Vec<u8>,
}

impl Write for Full {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.room == 0 {
            return Err(io::Error::other("no space left"));
        }
        let n = buf.len().min(self.room);
        self.room -= n;
        self.got.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
// Every byte or bit of a snapshot, each a whole read: far too long under miri, which
// checks the same code paths on the targeted cases.
#[cfg_attr(miri, ignore)]
fn io_errors_say_where_and_interrupted_reads_are_retried() {
    let (arena, bytes) = small();
    // One byte per read, interrupted before each: the same arena.
    for trickle in [false, true] {
        let loaded = Arena::<String>::read_snapshot(Flaky {
            data: &bytes,
            pos: 0,
            fail_at: usize::MAX,
            trickle,
            interrupt: false,
        })
        .unwrap();
        assert_eq!(contents(&loaded), contents(&arena));
    }
    // The reader failing at every byte: `Io` with the bytes read before the failure, inside
    // a block's payload too.
    for fail_at in 0..bytes.len() {
        let err = Arena::<String>::read_snapshot(Flaky {
            data: &bytes,
            pos: 0,
            fail_at,
            trickle: false,
            interrupt: false,
        })
        .map(drop)
        .unwrap_err();
        let SnapshotError::Io { offset, source } = &err else {
            panic!("failing at {fail_at}: {err}");
        };
        assert_eq!(source.to_string(), "the disk is on fire");
        assert_eq!(*offset, fail_at as u64, "failing at {fail_at}: {err}");
    }
    // The writer failing after every byte count: `Io`, at most that many bytes in.
    for room in 0..bytes.len() {
        let mut out = Full {
            room,
            got: Vec::new(),
        };
        let err = arena.write_snapshot(&mut out).unwrap_err();
        let SnapshotError::Io { offset, .. } = err else {
            panic!("room {room}: {err}");
        };
        assert!(offset <= room as u64, "room {room}: offset {offset}");
        assert_eq!(out.got, bytes[..room]);
    }
}

/// A value whose `Serialize` fails, or that postcard cannot write: `Value` with the slot.
#[test]
fn unencodable_values_are_value_errors_when_writing() {
    struct Bad(bool);
    impl Serialize for Bad {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            if self.0 {
                Err(serde::ser::Error::custom("refused"))
            } else {
                s.serialize_u8(1)
            }
        }
    }
    /// A sequence of unknown length: postcard needs the length up front.
    struct Unsized;
    impl Serialize for Unsized {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeSeq;
            let mut seq = s.serialize_seq(None)?;
            seq.serialize_element(&1u8)?;
            seq.end()
        }
    }
    let arena = Arena::new();
    arena.insert(Bad(false));
    arena.insert(Bad(false));
    arena.insert(Bad(true));
    match arena.write_snapshot(io::sink()).unwrap_err() {
        SnapshotError::Value { slot, source, .. } => {
            assert_eq!(slot, 2);
            assert!(source.to_string().contains("refused") || !source.to_string().is_empty());
        }
        e => panic!("{e}"),
    }
    let arena = Arena::new();
    arena.insert(Unsized);
    assert!(matches!(
        arena.write_snapshot(io::sink()),
        Err(SnapshotError::Value { slot: 0, .. })
    ));
}

// ---------------------------------------------------------------------------------------
// Round trips.

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Record {
    name: String,
    tags: Vec<u16>,
    score: Option<f64>,
    kind: Kind,
    link: Option<Key>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
enum Kind {
    Plain,
    Count(u64),
    Point { x: i32, y: i32 },
}

#[test]
fn round_trips_of_several_value_types() {
    let strings = Arena::new();
    let mut dead = Vec::new();
    for i in 0..40 {
        let k = strings.insert(format!("s{i}").repeat(i));
        if i % 3 == 0 {
            strings.remove(k);
            dead.push(k);
        }
    }
    round_trip(&strings, &dead, |i| format!("n{i}"));

    let bytes: Arena<Vec<u8>> = Arena::new();
    let mut dead = Vec::new();
    for i in 0..40u8 {
        let k = bytes.insert((0..i).collect());
        if i % 4 == 1 {
            bytes.remove(k);
            dead.push(k);
        }
    }
    bytes.insert(vec![0; 70_000]); // one value larger than a block
    round_trip(&bytes, &dead, |i| vec![i as u8]);

    let records = Arena::new();
    let a = records.insert(Record {
        name: "a".into(),
        tags: vec![1, 2, 3],
        score: Some(0.5),
        kind: Kind::Plain,
        link: None,
    });
    let b = records.insert(Record {
        name: "b".into(),
        tags: vec![],
        score: None,
        kind: Kind::Count(u64::MAX),
        link: Some(a),
    });
    records.insert(Record {
        name: "ü".repeat(100),
        tags: vec![u16::MAX; 3],
        score: Some(-1e300),
        kind: Kind::Point { x: -1, y: i32::MAX },
        link: Some(b),
    });
    records.remove(a);
    let loaded = round_trip(&records, &[a], |i| Record {
        name: i.to_string(),
        tags: vec![],
        score: None,
        kind: Kind::Plain,
        link: None,
    });
    // A key stored in a value still names the same value (or nothing) after loading.
    let guard = pin();
    let b_value = loaded.get(b, &guard).unwrap();
    assert_eq!(b_value.link, Some(a));
    assert_eq!(loaded.get(a, &guard), None);

    let units: Arena<()> = Arena::new();
    let u = units.insert(());
    units.insert(());
    units.remove(u);
    round_trip(&units, &[u], |_| ());
}

#[test]
fn empty_and_capped_arenas_round_trip() {
    let empty: Arena<String> = Arena::new();
    let loaded = round_trip(&empty, &[], |i| i.to_string());
    assert_eq!(loaded.max_slots(), u32::MAX);
    assert!(loaded.is_empty());
    let capped_empty: Arena<String> = Arena::builder().max_slots(0).build();
    let loaded = round_trip(&capped_empty, &[], |i| i.to_string());
    assert_eq!(loaded.max_slots(), 0);
    assert!(loaded.try_insert("no".into()).is_err());

    // Full at its cap of 3, one value removed and reclaimed: one insertion fits, then full.
    let mut capped: Arena<u32> = Arena::builder().max_slots(3).build();
    let keys: Vec<Key> = (0..3).map(|i| capped.insert(i)).collect();
    assert!(capped.try_insert(9).is_err());
    assert_eq!(capped.take(keys[1]), Some(1));
    let loaded = round_trip(&capped, &[keys[1]], |i| i as u32);
    assert_eq!(loaded.max_slots(), 3);
    let k = loaded.try_insert(7).unwrap();
    assert_eq!(k.index(), 1);
    assert_ne!(k, keys[1]);
    assert_eq!(loaded.try_insert(8).map_err(|e| e.into_inner()), Err(8));
}

#[test]
fn arenas_after_compact_trim_and_clear_round_trip() {
    let mut arena: Arena<u64> = Arena::new();
    let keys: Vec<Key> = (0..500).map(|i| arena.insert(i)).collect();
    let mut dead = Vec::new();
    for (i, &k) in keys.iter().enumerate() {
        if i % 5 != 0 {
            assert!(arena.take(k).is_some());
            dead.push(k);
        }
    }
    let remap = arena.compact();
    for &k in &keys {
        if let Some(new) = remap.get(k) {
            if new != k {
                dead.push(k);
            }
        }
    }
    arena.trim();
    let mut loaded = round_trip(&arena, &dead, |i| i as u64 + 1000);
    // Compact and clear the loaded arena, and go round again.
    for k in keys.iter().filter_map(|&k| remap.get(k)).step_by(2) {
        assert!(loaded.take(k).is_some());
        dead.push(k);
    }
    loaded.shrink_to_fit();
    let mut loaded = round_trip(&loaded, &dead, |i| i as u64 + 2000);
    let live: Vec<Key> = {
        let guard = pin();
        loaded.iter(&guard).map(|(k, _)| k).collect()
    };
    loaded.clear();
    dead.extend(live);
    let cleared = round_trip(&loaded, &dead, |i| i as u64 + 3000);
    assert!(cleared.is_empty());
    // Trimming a cleared arena gives memory back and raises the floor; still no old key.
    loaded.trim();
    round_trip(&loaded, &dead, |i| i as u64 + 4000);
}

/// A retired slot stays retired: never handed out again after loading.
#[test]
fn retired_slots_stay_retired() {
    let (arena, bytes) = small();
    let loaded = read::<String>(&bytes).unwrap();
    for i in 0..200 {
        let k = loaded.insert(i.to_string());
        assert_ne!(k.index(), 0, "the retired slot 0 was reused");
    }
    assert_eq!(loaded.len(), arena.len() + 200);
}

#[test]
fn snapshot_followed_by_other_bytes() {
    let (arena, first) = small();
    let other: Arena<String> = Arena::new();
    let k = other.insert("other".into());
    let second = write(&other);
    let mut stream = [&first[..], &second[..], b"and then some"].concat();
    stream.extend_from_slice(&first);
    let mut input = &stream[..];
    let a = Arena::<String>::read_snapshot(&mut input).unwrap();
    assert_eq!(contents(&a), contents(&arena));
    assert_eq!(input.len(), stream.len() - first.len());
    let b = Arena::<String>::read_snapshot(&mut input).unwrap();
    assert_eq!(b.get(k, &pin()).map(String::as_str), Some("other"));
    assert_eq!(&input[..13], b"and then some");
    // Not a snapshot: refused, having read no more than the magic.
    let err = Arena::<String>::read_snapshot(&mut input)
        .map(drop)
        .unwrap_err();
    assert!(matches!(err, SnapshotError::BadMagic { .. }), "{err}");
    assert_eq!(input.len(), first.len() + 5);
}

#[test]
fn snapshot_info_is_what_was_written() {
    let (arena, _) = small();
    let mut bytes = Vec::new();
    let info = arena.write_snapshot(&mut bytes).unwrap();
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
    let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap());
    assert_eq!(info.bytes, bytes.len() as u64);
    assert_eq!(info.slots, 5);
    assert_eq!(info.slots, u32_at(24), "header slots");
    assert_eq!(info.live, 3);
    assert_eq!(info.live, u64_at(28), "header live");
    let r = regions(&bytes);
    assert_eq!(info.live, u64_at(r.end + 4), "trailer live");
    assert_eq!(info.slots, u32_at(r.end + 12), "trailer slots");
    assert_eq!(info.checksum, u32_at(bytes.len() - 4));
    // The checksum chains over every byte before it.
    let header_end = FIXED + r.name_len;
    let mut crc = crc32c_append(0, &bytes[..header_end]);
    assert_eq!(crc, u32_at(header_end));
    let mut pos = header_end + 4;
    while pos < bytes.len() {
        let n = match u32_at(pos) {
            0 => 16,
            n => n as usize,
        };
        crc = crc32c_append(crc, &bytes[pos..pos + 4 + n]);
        assert_eq!(crc, u32_at(pos + 4 + n));
        pos += 4 + n + 4;
    }
    assert_eq!(crc, info.checksum);
    // Written twice, the same.
    assert_eq!(arena.write_snapshot(io::sink()).unwrap(), info);
}

/// Every message says where (the byte offset), and the `io::Error` conversion keeps the
/// kind.
#[test]
fn messages_mention_the_offset() {
    let (_, bytes) = small();
    let mut errors = vec![
        read_err::<String>(&bytes[..50]),
        read_err::<String>(&{
            let mut b = bytes.clone();
            b[70] ^= 1;
            b
        }),
        read_err::<String>(&Crafted::of::<String>(10, 0, &[Rec::Free(4), Rec::Free(2)]).bytes()),
        read_err::<String>(&Crafted::of::<String>(10, 0, &[Rec::Live(1, &[9])]).bytes()),
        read_err::<String>(&{
            let mut c = Crafted::of::<String>(10, 0, &[]);
            c.header.encoding = 9;
            c.bytes()
        }),
        Arena::<String>::read_snapshot(Flaky {
            data: &bytes,
            pos: 0,
            fail_at: 20,
            trickle: false,
            interrupt: false,
        })
        .map(drop)
        .unwrap_err(),
    ];
    let kinds: Vec<String> = errors.iter().map(summary).collect();
    for (kind, variant) in kinds.iter().zip([
        "Truncated",
        "Checksum",
        "Corrupt",
        "Value",
        "Unsupported",
        "Io",
    ]) {
        assert!(kind.starts_with(variant), "{kind} is not {variant}");
    }
    for e in &errors {
        let offset = offset_of(e).unwrap();
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("byte {offset}")) || msg.contains(&format!("at {offset} ")),
            "{msg} does not mention {offset}"
        );
    }
    assert!(errors[2].to_string().contains("slot 1"), "{}", errors[2]);
    // Messages for the variants without an offset say what was found.
    errors.push(read_err::<String>(b"GIF89a.."));
    errors.push(read_err::<u8>(&bytes));
    let mut v = bytes.clone();
    v[8] = 2;
    errors.push(read_err::<String>(&v));
    assert!(
        errors[6].to_string().contains("47, 49, 46"),
        "{}",
        errors[6]
    );
    assert!(
        errors[7].to_string().contains("`alloc::string::String`"),
        "{}",
        errors[7]
    );
    assert!(errors[8].to_string().contains("version 2"), "{}", errors[8]);
    let kinds: Vec<io::ErrorKind> = errors
        .into_iter()
        .map(|e| io::Error::from(e).kind())
        .collect();
    use io::ErrorKind::*;
    assert_eq!(
        kinds,
        [
            UnexpectedEof,
            InvalidData,
            InvalidData,
            InvalidData,
            Unsupported,
            Other,
            InvalidData,
            InvalidData,
            Unsupported
        ]
    );
}

// ---------------------------------------------------------------------------------------
// The golden file.

/// `tests/data/snapshot-v1.bin`: a snapshot of [`golden::arena`] written by format
/// version 1, made by `EPOCH_ARENA_BLESS=1 cargo test --features serde --test
/// snapshot_input golden`. Never regenerate it to make a test pass: a format change bumps
/// `SNAPSHOT_VERSION` and adds a file for the new version.
mod golden {
    use super::*;

    const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/snapshot-v1.bin");

    /// Keys of the golden arena, as `Key::to_bits`: index << 32 | generation.
    const ZERO: u64 = 1; // 0v1
    const ONE: u64 = 1 << 32 | 1; // 1v1, removed
    const TWO: u64 = 2 << 32 | 1; // 2v1, taken
    const TWO_AGAIN: u64 = 2 << 32 | 5; // 2v5, reused slot
    const THREE: u64 = 3 << 32 | 1; // 3v1
    const FOUR: u64 = 4 << 32 | 1; // 4v1, removed
    const FIVE: u64 = 5 << 32 | 1; // 5v1

    const LIVE: [(u64, &str); 4] = [
        (ZERO, "zero"),
        (TWO_AGAIN, "two again"),
        (THREE, "three"),
        (FIVE, "five"),
    ];
    const DEAD: [u64; 3] = [ONE, TWO, FOUR];

    fn key(bits: u64) -> Key {
        Key::from_bits(bits).unwrap()
    }

    /// The deterministic arena: capped at 1000 slots, "zero".."five" inserted, "one"
    /// removed (still waiting for its grace period, or not: written the same), "two" taken
    /// and its slot reused (generation 5), "four" removed.
    fn arena() -> Arena<String> {
        let mut arena = Arena::builder().max_slots(1000).build();
        let names = ["zero", "one", "two", "three", "four", "five"];
        let keys: Vec<u64> = names
            .iter()
            .map(|n| arena.insert(n.to_string()).to_bits())
            .collect();
        assert_eq!(
            keys,
            [ZERO, ONE, TWO, THREE, FOUR, FIVE],
            "slot choice changed"
        );
        assert!(arena.remove(key(ONE)));
        assert_eq!(arena.take(key(TWO)).as_deref(), Some("two"));
        let again = arena.insert("two again".to_string());
        assert_eq!(again.to_bits(), TWO_AGAIN, "slot reuse changed");
        assert!(arena.remove(key(FOUR)));
        arena
    }

    /// The golden file, compiled in (so that miri, which forbids the file system, reads it
    /// too; after blessing, the next build picks up the new bytes).
    fn golden_bytes() -> Vec<u8> {
        include_bytes!("data/snapshot-v1.bin").to_vec()
    }

    /// Writing the deterministic arena today gives the golden bytes exactly. If this fails,
    /// the format changed: old snapshots would be read wrongly (or not at all) by this
    /// build. Such a change must bump `SNAPSHOT_VERSION` (the reader then refuses version-1
    /// files with `UnsupportedVersion`, or learns to read them) and add a golden file for
    /// the new version; never re-bless this one to make the test pass.
    #[test]
    fn golden_v1_writer_is_byte_identical() {
        let bytes = write(&arena());
        if std::env::var_os("EPOCH_ARENA_BLESS").is_some_and(|v| v == "1") {
            std::fs::create_dir_all(std::path::Path::new(PATH).parent().unwrap()).unwrap();
            std::fs::write(PATH, &bytes).unwrap();
            eprintln!("wrote {PATH} ({} bytes)", bytes.len());
        }
        assert_eq!(
            bytes,
            golden_bytes(),
            "the snapshot format changed: bump SNAPSHOT_VERSION (see this test's docs)"
        );
    }

    /// The golden file reads back: every key finds its value, every dead key is dead, and
    /// the arena goes on issuing only new keys.
    #[test]
    fn golden_v1_reads_back_every_key() {
        let bytes = golden_bytes();
        assert_eq!(&bytes[..8], MAGIC);
        assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), 1);
        assert_eq!(&bytes[FIXED..FIXED + 21], b"alloc::string::String");
        let arena = read::<String>(&bytes).unwrap();
        assert_eq!(arena.len(), 4);
        assert_eq!(arena.max_slots(), 1000);
        let guard = pin();
        for (bits, value) in LIVE {
            assert_eq!(
                arena.get(key(bits), &guard).map(String::as_str),
                Some(value),
                "{:?}",
                key(bits)
            );
        }
        for bits in DEAD {
            assert_eq!(arena.get(key(bits), &guard), None, "{:?}", key(bits));
            assert!(!arena.contains(key(bits)));
        }
        let mut all: Vec<(u64, String)> = LIVE.iter().map(|&(b, v)| (b, v.into())).collect();
        all.sort();
        drop(guard);
        assert_eq!(contents(&arena), all);
        let mut seen: Vec<u64> = LIVE.iter().map(|l| l.0).chain(DEAD).collect();
        for i in 0..20 {
            let k = arena.insert(format!("new {i}")).to_bits();
            assert!(!seen.contains(&k), "{:?} issued again", key(k));
            seen.push(k);
        }
        assert_eq!(
            serde_json::to_string(&read::<String>(&bytes).unwrap()).unwrap(),
            r#"{"max_slots":1000,"floor":0,"slots":[[1,"zero"],[4,null],[5,"two again"],[1,"three"],[4,null],[1,"five"]],"len":4}"#
        );
    }

    /// The golden bytes claiming the next version are refused, whatever else they hold.
    #[test]
    fn golden_v1_as_next_version_is_refused() {
        let mut bytes = golden_bytes();
        bytes[8..10].copy_from_slice(&(SNAPSHOT_VERSION + 1).to_le_bytes());
        match read_err::<String>(&bytes) {
            SnapshotError::UnsupportedVersion { found, supported } => {
                assert_eq!((found, supported), (SNAPSHOT_VERSION + 1, SNAPSHOT_VERSION))
            }
            e => panic!("{e}"),
        }
    }
}
