//! Compaction and shrinking: the `&mut` rebuilds that move values down and free whole chunks.
//!
//! # Protocol
//!
//! Both run with the arena borrowed mutably and its free list taken apart first (the
//! preamble of `Arena::clear`: gate paused, shared stack discarded, retire stack taken,
//! thread caches invalidated), so every slot is the caller's alone.
//!
//! * **Compaction** runs two fingers towards each other: `lo` up from slot 0 to the first
//!   slot that holds no live value (a *hole*: FREE, or REMOVED, whose value is dropped
//!   now), `hi` down from the high water to the last live value above it. The value moves
//!   from `hi` to `lo`: the hole gets the OCCUPIED state after its FREE state (after the
//!   generation floor, if its memory was given back), so the new key's generation is above
//!   every generation that slot ever had, and the old slot gets the FREE state after the
//!   old key's generation, so the old key is dead. When the fingers meet at `n`, slots
//!   `0..n` hold every live value (or are retired) and the rest hold nothing. The
//!   [`Remap`] records the generations of `0..n` and the moved pairs.
//! * **Shrinking** moves nothing: it drops the values waiting for reclamation and finds the
//!   highest slot that holds a value (or is retired): `n` is one past it.
//!
//! Then both **free the chunks** that lie wholly at or above `n`, unless one holds a
//! retired slot or a state past [`RELEASE_LIMIT`] (then it and everything below it stays).
//! Before freeing, the pool's generation floor is raised above every state those chunks
//! held: when the chunks are allocated again (zeroed), fresh slots are handed out with the
//! floor as their state, so no key that named a slot there can match again. The free list
//! is rebuilt from the slots left below the new high water, each with
//! `max(state, floor)`. Reclamation closures deferred before the rebuild find their slots
//! no longer REMOVED (or their chunk gone) and skip them. See
//! [Memory](crate::implementation#memory).

use super::chunk::{chunk_len, chunk_start, locate, ChunkDir, ChunkRef, NUM_CHUNKS};
use super::release::RELEASE_LIMIT;
use super::slot::{self, SlotRef};
use super::{FreeSink, Inner};
use crate::key::Key;
use crate::remap::AnyRemap;
use crate::sync::Ordering;
use std::any::Any;

/// A panic payload from a value's `Drop`, kept to resume once the rebuild is done.
pub(crate) type Payload = Box<dyn Any + Send + 'static>;

/// What a scan learned of the chunks it may free: the highest FREE state of each, and
/// whether one must be kept.
struct ChunkNotes {
    max: [u32; NUM_CHUNKS],
    keep: [bool; NUM_CHUNKS],
}

impl ChunkNotes {
    fn new() -> Self {
        ChunkNotes {
            max: [0; NUM_CHUNKS],
            keep: [false; NUM_CHUNKS],
        }
    }

    /// Notes the state a slot of chunk `c` ends the scan with (FREE or RETIRED).
    #[inline]
    fn note(&mut self, c: usize, state: u32) {
        if state == slot::RETIRED || state >= RELEASE_LIMIT {
            self.keep[c] = true;
        } else {
            self.max[c] = self.max[c].max(state);
        }
    }
}

/// A finger's cached chunk: scanning slot by slot, it looks the chunk up only when it
/// crosses into another one.
struct Finger<'a, T> {
    chunk: usize,
    start: u64,
    end: u64,
    slots: Option<ChunkRef<'a, T>>,
}

impl<'a, T> Finger<'a, T> {
    fn new() -> Self {
        Finger {
            chunk: 0,
            start: 1,
            end: 0,
            slots: None,
        }
    }

    /// Slot `index` and its chunk, if the chunk is allocated.
    #[inline(always)]
    fn slot(&mut self, dir: &'a ChunkDir<T>, index: u32) -> (usize, Option<SlotRef<'a, T>>) {
        let i = u64::from(index);
        if i < self.start || i >= self.end {
            let (chunk, _) = locate(index);
            self.chunk = chunk;
            self.start = chunk_start(chunk);
            self.end = self.start + chunk_len(chunk) as u64;
            self.slots = dir.chunk(chunk);
        }
        let slot = self
            .slots
            .as_ref()
            .map(|c| c.slot((i - self.start) as usize));
        (self.chunk, slot)
    }
}

impl<T, C> Inner<T, C> {
    /// A slot holding a value waiting for reclamation: makes it FREE, drops the value now
    /// (keeping the first panic in `panic`), and returns the FREE (or RETIRED) state.
    ///
    /// # Safety
    /// As for [`compact_exclusive`](Inner::compact_exclusive); `state` is the slot's
    /// REMOVED state.
    unsafe fn drop_pending(
        &self,
        slot: SlotRef<'_, T>,
        state: u32,
        panic: &mut Option<Payload>,
    ) -> u32 {
        let next = slot::freed(state);
        slot.state.store(next, Ordering::Relaxed);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // SAFETY: REMOVED, so initialised; exclusively ours (the caller's contract); the
            // state already says FREE, so a panic leaves nothing to drop twice.
            unsafe { slot.drop_value() }
        }));
        if let Err(payload) = r {
            panic.get_or_insert(payload);
        }
        self.anchor.counters.add_reclaimed(1);
        next
    }

    /// Moves every live value to the lowest slots and frees the chunks above (see the module
    /// docs). Returns the forwarding table and the first panic of a dropped value.
    ///
    /// # Safety
    /// The arena is borrowed mutably, its gate is paused, its shared stack discarded, its
    /// retire stack taken and its thread caches invalidated: every slot is the caller's.
    pub(crate) unsafe fn compact_exclusive(&self, live_hint: usize) -> (AnyRemap, Option<Payload>) {
        let high_water = self.high_water() as u32;
        let mut panic = None;
        let mut notes = ChunkNotes::new();
        let mut live = Vec::with_capacity(live_hint);
        let mut moved = Vec::new();
        let (mut lo, mut hi) = (0u32, high_water);
        let (mut lo_finger, mut hi_finger) = (Finger::new(), Finger::new());
        'fingers: loop {
            // `lo` up to a hole.
            let (hole, hole_state) = loop {
                if lo >= hi {
                    break 'fingers;
                }
                let (_, slot) = lo_finger.slot(&self.dir, lo);
                let Some(slot) = slot else {
                    // Reserved but never allocated: a hole that never held a value. Its
                    // chunk is allocated if a value moves in.
                    break (None, self.anchor.pool.free_state(0));
                };
                let mut state = slot.state.load(Ordering::Relaxed);
                if slot::is_occupied(state) {
                    live.push(state);
                    lo += 1;
                    continue;
                }
                if slot::has_value(state) {
                    // SAFETY: REMOVED, and ours (the caller's contract).
                    state = unsafe { self.drop_pending(slot, state, &mut panic) };
                }
                if state == slot::RETIRED {
                    live.push(0);
                    lo += 1;
                    continue;
                }
                break (Some(slot), self.anchor.pool.free_state(state));
            };
            let lo_chunk = lo_finger.chunk;
            // `hi` down to a live value above the hole.
            let (from, generation) = loop {
                hi -= 1;
                if hi == lo {
                    // The hole is the first slot at or above `n`: its chunk may be freed, so
                    // the floor must cover it too.
                    notes.note(lo_chunk, hole_state);
                    break 'fingers;
                }
                let (hi_chunk, slot) = hi_finger.slot(&self.dir, hi);
                let Some(slot) = slot else {
                    continue;
                };
                let mut state = slot.state.load(Ordering::Relaxed);
                if slot::is_occupied(state) {
                    break (slot, state);
                }
                if slot::has_value(state) {
                    // SAFETY: REMOVED, and ours (the caller's contract).
                    state = unsafe { self.drop_pending(slot, state, &mut panic) };
                }
                notes.note(hi_chunk, state);
            };
            // Move it.
            if hole.is_none() {
                // Its chunk is allocated now: look it up again.
                lo_finger = Finger::new();
            }
            let Some(hole) = hole.or_else(|| self.dir.slot_or_alloc(lo)) else {
                // Unreachable: `hole`'s chunk is smaller than `from`'s, which is backed.
                unreachable!("slot {lo} cannot be backed but slot {hi} is")
            };
            let new_state = slot::occupied(hole_state);
            // SAFETY: the hole is FREE and ours (the caller's contract).
            unsafe { hole.check_poison(lo) };
            // SAFETY: `from` is OCCUPIED (initialised) and `hole` FREE (uninitialised), both
            // ours alone (the caller's contract); `from` is said FREE right after, so the
            // value lives in exactly one slot.
            unsafe { hole.write(from.read()) };
            hole.next
                .store(from.next.load(Ordering::Relaxed), Ordering::Relaxed);
            hole.state.store(new_state, Ordering::Relaxed);
            let freed = slot::freed(generation);
            from.state.store(freed, Ordering::Relaxed);
            notes.note(hi_finger.chunk, freed);
            live.push(new_state);
            moved.push((Key::new(hi, generation), Key::new(lo, new_state)));
            lo += 1;
        }
        // Moves were found from the top down.
        moved.reverse();
        let n = lo;
        // SAFETY: the caller's contract; every slot at or above `n` holds nothing now.
        unsafe { self.free_above(n, n, &notes) };
        (AnyRemap::new(live, moved), panic)
    }

    /// Drops the values waiting for reclamation and frees the chunks above the highest slot
    /// that holds a value (see the module docs). Returns the first panic of a dropped value.
    ///
    /// # Safety
    /// As for [`compact_exclusive`](Inner::compact_exclusive).
    pub(crate) unsafe fn shrink_exclusive(&self) -> Option<Payload> {
        let high_water = self.high_water() as u32;
        let mut panic = None;
        let mut notes = ChunkNotes::new();
        let mut top = None;
        for index in (0..high_water).rev() {
            let Some(slot) = self.dir.slot(index) else {
                continue;
            };
            let mut state = slot.state.load(Ordering::Relaxed);
            if slot::has_value(state) && !slot::is_occupied(state) {
                // SAFETY: REMOVED, and ours (the caller's contract).
                state = unsafe { self.drop_pending(slot, state, &mut panic) };
            }
            if top.is_none() {
                if slot::is_occupied(state) || state == slot::RETIRED {
                    top = Some(index);
                } else {
                    notes.note(locate(index).0, state);
                }
            }
        }
        let n = top.map_or(0, |t| t + 1);
        // SAFETY: the caller's contract; every slot at or above `n` holds nothing now.
        unsafe { self.free_above(n, 0, &notes) };
        panic
    }

    /// Frees the chunks wholly at or above slot `n` that may go, raising the floor first,
    /// sets the high water, and rebuilds the free list from the FREE slots in
    /// `free_from..` the new high water.
    ///
    /// # Safety
    /// As for [`compact_exclusive`](Inner::compact_exclusive), and no slot at or above `n`
    /// holds a value; `notes` covers every slot at or above `n`.
    unsafe fn free_above(&self, n: u32, free_from: u32, notes: &ChunkNotes) {
        let pool = &self.anchor.pool;
        let old_high_water = self.high_water();
        let first = (0..NUM_CHUNKS)
            .find(|&c| chunk_start(c) >= u64::from(n))
            .unwrap_or(NUM_CHUNKS);
        let mut boundary = first;
        for c in first..NUM_CHUNKS {
            if notes.keep[c] && self.dir.chunk(c).is_some() {
                boundary = c + 1;
            }
        }
        let mut floor = 0;
        for c in boundary..NUM_CHUNKS {
            if self.dir.chunk(c).is_some() {
                floor = floor.max(notes.max[c]);
            }
        }
        pool.raise_floor(floor);
        for c in boundary..NUM_CHUNKS {
            // SAFETY: `&mut Arena`, and no value in the chunk (the caller's contract); the
            // floor is above every state it held.
            unsafe { self.dir.free_exclusive(c) };
        }
        let high_water = if boundary < NUM_CHUNKS {
            chunk_start(boundary).min(old_high_water)
        } else {
            old_high_water
        };
        pool.set_high_water(high_water);
        // Downwards, so that the lowest slots end up on top of the free list. Counts nothing.
        let mut sink = FreeSink::new(&self.anchor);
        for index in (free_from..high_water as u32).rev() {
            let state = match self.dir.slot(index) {
                Some(slot) => slot.state.load(Ordering::Relaxed),
                // Reserved but never allocated: never held a value.
                None => 0,
            };
            if slot::is_free(state) {
                sink.keep(index, pool.free_state(state));
            }
        }
    }
}
