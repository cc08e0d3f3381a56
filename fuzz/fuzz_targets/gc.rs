//! Differential fuzzing of the garbage collector against a reachability oracle.
//!
//! The input is an optional slot cap (at most 64 slots, so that slots are reused), a list
//! of graph operations and what happens at the end. The operations: inserting nodes with
//! edges and a parent, some with a self-loop, a `Root` handle, a `Trace` that panics or a
//! drop that panics; inserting whole random trees (shared children, maybe a cycle back to
//! the first node); adding and removing edges (under `shade`); removing values; rooting
//! and unrooting keys with `Root` handles; arming and disarming a value's `Trace` panic;
//! reclamation; `Mutator`s made and dropped, fresh nodes inserted through them and held
//! unlinked with no guard, and their safepoints; and collections with random argument
//! roots and one or two markers (`parallel_min_slots: 0`). Keys, as edges and as roots, are live keys, stale keys of
//! removed or swept values (maybe at a slot that holds a newer value), a live value's
//! index with another generation, made-up keys with small indices, keys with an index past
//! the capacity, and keys from arbitrary bits.
//!
//! The model and the oracle are `testkit::gc_oracle` (`tests/gc_model.rs` drives them
//! too). The model keeps every live value's edges. Before each collection the oracle walks
//! it from the roots (the argument, the live `Root`s, and the values fresh for the oldest
//! mutator: born since its last safepoint), following the edges that name live values.
//! Then:
//!
//! * if a reachable value is armed, `collect` must panic with its payload and sweep
//!   nothing;
//! * otherwise `marked` must be the number of reachable values, `swept` the live values
//!   before minus that, `roots` and `threads` as given, and the arena must hold exactly the
//!   reachable values (`iter`, with their ids and edges, and `contains` for every key ever
//!   handed out); only removed and swept values were dropped, each once.
//!
//! After every operation `len` and `stats().live` equal the model, and the values made but
//! not dropped are exactly the live ones plus those pending reclamation; after
//! reclamation, exactly the removed and swept values were dropped. Values check their own
//! integrity (also when traced) and panic on a second drop. Drop panics are swallowed by
//! reclamation and passed on by dropping the arena. At the end one more collection runs,
//! then either a collection without roots sweeps everything or the arena is dropped with its
//! values live; either way every value ever made must have been dropped exactly once (and
//! stay so: the next run checks that none of them was dropped late).
#![no_main]

mod common;

use arbitrary::{Arbitrary, Unstructured};
use common::settle;
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, Mutex};
use testkit::gc_oracle::{with_model, Extras, KeySel, NodeLog, Op};

/// Operations per input; more only slow the fuzzer down.
const MAX_OPS: usize = 128;

#[derive(Arbitrary, Debug)]
struct Input {
    /// `Some(n)`: `Builder::max_slots(n % 64 + 1)`, so that slots are reused and keys go
    /// stale at indices that hold live values; `None`: unlimited.
    cap: Option<u8>,
    end: End,
    ops: Vec<FuzzOp>,
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

/// A `KeySel` from one tag byte and maybe its argument: live keys (5/16), keys of another
/// generation (1/16), issued keys (2/16), dead keys (2/16), the value itself (1/16),
/// made-up keys with an index below 16 and one of the first four generations (2/16), with
/// an index past the capacity (1/16), and from arbitrary bits (2/16).
fn key_sel(u: &mut Unstructured<'_>) -> arbitrary::Result<KeySel> {
    let tag = u8::arbitrary(u)?;
    Ok(match tag % 16 {
        0..=4 => KeySel::Live(u8::arbitrary(u)?.into()),
        5 => KeySel::Wrong(u8::arbitrary(u)?.into()),
        6 | 7 => KeySel::Issued(u8::arbitrary(u)?.into()),
        8 | 9 => KeySel::Dead(u8::arbitrary(u)?.into()),
        10 => KeySel::Me,
        11 | 12 => KeySel::Small {
            index: tag >> 4,
            generation: u8::arbitrary(u)? % 4,
        },
        13 => KeySel::Far(u32::arbitrary(u)?),
        _ => KeySel::Raw(u64::arbitrary(u)?),
    })
}

/// Up to three keys; `tag`'s top two bits say how many.
fn keys_for(tag: u8, u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<KeySel>> {
    (0..tag >> 6).map(|_| key_sel(u)).collect()
}

// `Arbitrary` by hand for `End` and `FuzzOp`: one tag byte each (the derive reads four),
// so that the short inputs libFuzzer starts with hold many operations.
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

/// One of the model's operations; `InsertTree` makes up to 255 nodes.
#[derive(Debug)]
struct FuzzOp(Op);

impl<'a> Arbitrary<'a> for FuzzOp {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let tag = u8::arbitrary(u)?;
        // The high bits: how many edges or roots (see `keys_for`); whether a parent, or
        // two markers.
        let flag = tag & 32 != 0;
        let index = |u: &mut Unstructured<'a>| u8::arbitrary(u).map(usize::from);
        Ok(FuzzOp(match tag % 32 {
            0..=7 => Op::Insert {
                edges: keys_for(tag, u)?,
                parent: if flag { Some(index(u)?) } else { None },
                extras: Flags(u8::arbitrary(u)?).extras(),
            },
            8 | 9 => Op::InsertTree {
                n: index(u)?,
                shape: u16::arbitrary(u)?.into(),
                parent: if flag { Some(index(u)?) } else { None },
                cycle: tag & 64 != 0,
            },
            10..=13 => Op::Link {
                from: index(u)?,
                to: key_sel(u)?,
            },
            14 | 15 => Op::Unlink {
                from: index(u)?,
                edge: index(u)?,
            },
            16..=18 => Op::Remove(key_sel(u)?),
            19 | 20 => Op::Root(key_sel(u)?),
            21 => Op::Unroot(index(u)?),
            22 | 23 => Op::Bomb {
                node: index(u)?,
                armed: flag,
            },
            24..=28 => Op::Collect {
                roots: keys_for(tag, u)?,
                two: flag,
            },
            29 => match tag >> 6 {
                0 => Op::NewMutator,
                1 => Op::Safepoint(index(u)?),
                2 => Op::DropMutator(index(u)?),
                _ => Op::Fresh {
                    mutator: index(u)?,
                    edges: keys_for(tag, u)?,
                },
            },
            30 => Op::Fresh {
                mutator: index(u)?,
                edges: keys_for(tag, u)?,
            },
            _ => Op::Reclaim,
        }))
    }
}

/// Extras for an inserted node, each taken with a fixed probability.
#[derive(Debug, Clone, Copy)]
struct Flags(u8);

impl Flags {
    fn extras(self) -> Extras {
        Extras {
            // The node holds its own key (1/2).
            self_loop: self.0 & 1 != 0,
            // The node panics when dropped (1/4).
            panicky_drop: self.0 & 6 == 0,
            // A `Root` handle is made for the node (1/4).
            rooted: self.0 & 24 == 0,
            // The node's `Trace` panics (1/8).
            armed: self.0 & 224 == 0,
        }
    }
}

/// The log of the previous run's values: all of them were dropped, once.
static PREVIOUS: Mutex<Option<Arc<NodeLog>>> = Mutex::new(None);

fn run(input: Input) {
    // Every value of the previous run is still dropped exactly once: none was dropped late.
    if let Some(log) = PREVIOUS.lock().unwrap().take() {
        log.assert_all_dropped_once();
    }
    let cap = input.cap.map(|c| u32::from(c % 64) + 1);
    // Dropping the arena at the end drops every value left, live or pending, and passes on
    // the first drop panic.
    let log = with_model(cap, |m| {
        // The fuzzer is the only thread pinning: the counts are exact.
        m.expect_exact_counts();
        for FuzzOp(op) in &input.ops[..input.ops.len().min(MAX_OPS)] {
            m.apply(op);
            m.check_counts();
        }
        let roots = m.keys(&input.end.roots, None);
        m.collect(&roots, input.end.two);
        m.unroot_all();
        if input.end.sweep_all {
            m.sweep_all(false);
        }
    });
    *PREVIOUS.lock().unwrap() = Some(log);
    settle();
}

fuzz_target!(|input: Input| run(input));
