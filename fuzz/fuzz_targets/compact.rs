//! Compaction, relocation, shrinking, trimming, bulk insertion and garbage collection of an
//! `Arena<(u64, Vec<Key>)>` (a value id plus the keys of values it links to) against a
//! model, driven by libFuzzer's bytes.
//!
//! The model and its checks are the proptest's, `tests/compaction_model.rs`, included here
//! as a module: see its docs for what is checked after every operation and around every
//! compaction (every key ever issued finds exactly its value while live and nothing once
//! dead, whatever was compacted, trimmed, shrunk or reused since; the `Remap` maps every
//! key live before to the same value and every other key to `None`; links are rewritten by
//! `compact_with` + `Relocate`, and dangle, never misdirect, after a plain `compact`).
//!
//! The input is an optional slot cap, then operations, decoded by hand from the bytes
//! ([`Input`]'s `Arbitrary` impl; `cargo fuzz fmt compact <file>` prints them). A panic
//! is a violated invariant, except the arena's "key space is full" panic from
//! `insert_many` on a capped arena, which the model expects only when live and pending
//! values fill the cap.
#![no_main]

mod common;
#[path = "../../tests/compaction_model.rs"]
mod model;

use arbitrary::{Arbitrary, Result, Unstructured};
use common::{catch, settle, Caught};
use libfuzzer_sys::fuzz_target;
use model::{Op, Sel};

/// Operations per input; more only slow the fuzzer down.
const MAX_OPS: usize = 128;

#[derive(Debug)]
struct Input {
    /// `Builder::max_slots`; `None`: unlimited.
    cap: Option<u32>,
    ops: Vec<Op>,
}

fn sel(u: &mut Unstructured<'_>) -> Result<Sel> {
    Ok(match u.int_in_range(0u8..=13)? {
        0..=7 => Sel::Live(u.arbitrary::<u8>()?.into()),
        8..=11 => Sel::Issued(u.arbitrary::<u16>()?.into()),
        12 => Sel::Forged {
            index: u.arbitrary()?,
            generation: u.arbitrary()?,
        },
        _ => Sel::Raw(u.arbitrary()?),
    })
}

fn sels(u: &mut Unstructured<'_>, max: u8) -> Result<Vec<Sel>> {
    let n = u.int_in_range(0..=max)?;
    (0..n).map(|_| sel(u)).collect()
}

fn op(u: &mut Unstructured<'_>) -> Result<Op> {
    Ok(match u.arbitrary::<u8>()? % 19 {
        0 => Op::Insert(sels(u, 2)?),
        1 => Op::InsertMany {
            n: u.int_in_range(0..=64)?,
            link: if u.arbitrary()? { Some(sel(u)?) } else { None },
        },
        2 => Op::Regrow(u.int_in_range(0..=200)?),
        3 => Op::Reserve(u.int_in_range(0..=300)?),
        4 => Op::Remove(sel(u)?),
        5 => Op::RemoveMany {
            start: u.arbitrary::<u8>()?.into(),
            n: u.int_in_range(0..=48)?,
        },
        6 => Op::Take(sel(u)?),
        7 => Op::Link {
            from: u.arbitrary::<u8>()?.into(),
            to: sel(u)?,
        },
        8 => Op::Unlink(u.arbitrary::<u8>()?.into()),
        9 => Op::Retain(u.arbitrary()?),
        10 => Op::Lookup(sel(u)?),
        11 => Op::Flush,
        12 => Op::Reclaim,
        13 => Op::Compact,
        14 => Op::CompactWith,
        15 => Op::ShrinkToFit,
        16 => Op::Trim,
        17 => Op::Clear,
        _ => Op::Collect(sels(u, 3)?),
    })
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let cap = match u.int_in_range(0u8..=3)? {
            0 | 1 => None,
            2 => Some(u32::from(u.int_in_range(1u8..=40)?)),
            _ => Some(u32::from(u.int_in_range(40u8..=200)?)),
        };
        let mut ops = Vec::new();
        while !u.is_empty() && ops.len() < MAX_OPS {
            ops.push(op(u)?);
        }
        Ok(Input { cap, ops })
    }
}

/// The model's catcher: the arena's "full" panic unwinds (the target's panic hook lets it
/// through), any other panic aborts as a crash.
fn catch_full(f: &mut dyn FnMut()) -> bool {
    match catch(true, f) {
        Ok(()) => false,
        Err(Caught::Full) => true,
        Err(c) => panic!("unexpected panic: {c:?}"),
    }
}

fuzz_target!(|input: Input| {
    model::run(input.cap, &input.ops, catch_full);
    settle();
});
