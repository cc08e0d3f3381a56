//! The slot image behind persistence: reading every slot's state for a snapshot, and
//! writing a described arena back into fresh chunks.
//!
//! # What an image holds
//!
//! An arena's *image* is what its keys need, and nothing else: the key space limit, the
//! generation floor, and for every slot below the high water one of
//!
//! * **live** `g`: the OCCUPIED state `g` (the live key's generation) and its value;
//! * **free** `s`: the FREE state the slot's next insertion goes up from. A slot whose
//!   memory was given back, or whose chunk is missing, reads as the floor
//!   ([`IndexPool::free_state`](super::pool::IndexPool::free_state)); a REMOVED slot whose
//!   value waits for its grace period is written as the FREE state its reclamation will give
//!   it ([`slot::freed`]), because its key is already dead;
//! * **retired**: never used again.
//!
//! Slots at or above the high water are fresh: they start at the floor, which is above
//! every state a released slot ever had. So restoring each state exactly, and the floor,
//! keeps every promise a key made: a key that was live finds its value, and a key that was
//! dead finds a slot whose state has gone past it (free and retired slots keep their states,
//! fresh slots start at the floor), so it can never match again. See
//! [Persistence](crate::implementation#persistence).
//!
//! # Reading while others work
//!
//! [`walk`] reads each slot once, as [`Arena::iter`](crate::Arena::iter) does: one Acquire
//! load of the state, and for an OCCUPIED state the value behind it, which the caller's
//! guard keeps from being dropped. Each slot is therefore consistent (a live state comes
//! with the value that key names); the image as a whole is a slot-by-slot view, exact when
//! nobody else works on the arena.
//!
//! # Writing back
//!
//! [`Restorer`] fills a new arena nobody else can see yet, in index order: it stores each
//! state with plain (Relaxed) stores, and the arena reaches other threads only through
//! whatever hands it over (a move, a channel), which orders those stores before any use.
//! It raises the high water after every slot, so that dropping a half-built arena (an error
//! in the input, a panic in a value's `Deserialize`) drops exactly the values written.

use super::chunk::{chunk_len, chunk_start, locate};
use super::pool::{IndexBatch, IndexPool};
use super::slot::{self, SlotRef};
use super::Inner;
use crate::sync::Ordering;

/// One slot of an image, as [`walk`] reads it.
#[derive(Debug)]
pub(crate) enum SlotImage<'a, T> {
    /// OCCUPIED with this generation (the live key's), and its value.
    Live(u32, &'a T),
    /// FREE with this state (at or above the floor).
    Free(u32),
    /// Retired for good.
    Retired,
}

/// Calls `f` with every slot in `0..end`, in index order.
///
/// The caller holds a guard pinned on this thread for the whole call (it keeps REMOVED
/// values from being dropped while `f` reads them); `repin` is called every `REPIN` slots
/// between two slots, where no value is borrowed, so a long walk does not hold the epoch
/// back. `f` may stop the walk by returning an error.
pub(crate) fn walk<T, C, E>(
    inner: &Inner<T, C>,
    end: u32,
    mut repin: impl FnMut(),
    mut f: impl FnMut(u32, SlotImage<'_, T>) -> Result<(), E>,
) -> Result<(), E> {
    /// Slots between two repins: long enough that repinning costs nothing measurable.
    const REPIN: u32 = 1 << 14;
    let pool = &inner.anchor.pool;
    let mut index = 0u32;
    let mut chunk = 0;
    while index < end {
        let start = chunk_start(chunk);
        let stop = (start + chunk_len(chunk) as u64).min(u64::from(end)) as u32;
        let slots = inner.dir.chunk(chunk);
        chunk += 1;
        while index < stop {
            if index % REPIN == REPIN - 1 {
                repin();
            }
            let Some(slots) = &slots else {
                // Reserved, but the chunk was never allocated or was given back: nothing
                // was ever written there that the floor does not cover.
                f(index, SlotImage::Free(pool.free_state(0)))?;
                index += 1;
                continue;
            };
            let slot = slots.slot((u64::from(index) - start) as usize);
            f(index, image(pool, slot))?;
            index += 1;
        }
    }
    Ok(())
}

/// What `slot` holds now.
#[inline(always)]
fn image<'a, T>(pool: &IndexPool, slot: SlotRef<'a, T>) -> SlotImage<'a, T> {
    // Acquire pairs with the inserter's Release, as in `Arena::get`: an OCCUPIED state
    // comes with its value written. And a zero from a trim that gave the slot's memory
    // back comes with the floor it raised first (see `release.rs`), so `free_state` reads
    // a floor at or above every state the slot had.
    let state = slot.state.load(Ordering::Acquire);
    if slot::is_occupied(state) {
        // SAFETY: OCCUPIED when loaded under the caller's guard (see `walk`), which is not
        // repinned while the image is used: removal defers the drop past that guard, so the
        // value stays initialised and unmoved meanwhile (as in `Arena::get`).
        SlotImage::Live(state, unsafe { slot.value_ref() })
    } else {
        match free_image(pool, state) {
            Some(free) => SlotImage::Free(free),
            None => SlotImage::Retired,
        }
    }
}

/// The FREE state an image gives a slot whose state word reads `state`, if it is not live:
/// `None` for a retired slot. A REMOVED slot's key is already dead, so it is written with
/// the FREE state its reclamation will give it. Never below the floor.
#[inline(always)]
fn free_image(pool: &IndexPool, state: u32) -> Option<u32> {
    if slot::is_occupied(state) || state == slot::RETIRED {
        return None;
    }
    let free = if slot::is_free(state) {
        state
    } else {
        match slot::freed(state) {
            slot::RETIRED => return None,
            free => free,
        }
    };
    Some(pool.free_state(free))
}

/// One past the highest slot below `end` that is not FREE at the generation floor: slots
/// above it need no record, because a fresh slot starts at the floor too. A missing chunk is
/// skipped whole.
pub(crate) fn image_end<T, C>(inner: &Inner<T, C>, end: u32) -> u32 {
    let pool = &inner.anchor.pool;
    let mut index = end;
    while index > 0 {
        let (chunk, offset) = locate(index - 1);
        let Some(c) = inner.dir.chunk(chunk) else {
            index = chunk_start(chunk) as u32;
            continue;
        };
        // Acquire: a zero written by a trim that gave the slot's memory back (see
        // `release.rs`) comes with the floor that trim raised first, so the floor compared
        // here, and the one the caller reads afterwards, is at or above the slot's state.
        let state = c.slot(offset).state.load(Ordering::Acquire);
        if free_image(pool, state) != Some(pool.floor()) {
            break;
        }
        index -= 1;
    }
    index
}

/// Why a described slot cannot be restored.
pub(crate) type Refused = &'static str;

/// Fills a new, unshared arena's slots in index order (see the module docs).
pub(crate) struct Restorer<'a, T, C> {
    inner: &'a Inner<T, C>,
    floor: u32,
    next: u64,
    live: u64,
    batch: IndexBatch,
}

impl<'a, T, C> Restorer<'a, T, C> {
    /// Starts filling `inner`, which must be new (nothing ever inserted) and reachable by
    /// this thread only, with the generation floor `floor`.
    pub(crate) fn new(inner: &'a Inner<T, C>, floor: u32) -> Result<Self, Refused> {
        if !slot::is_free(floor) {
            return Err("the generation floor is not a FREE state (a multiple of 4)");
        }
        debug_assert_eq!(inner.high_water(), 0, "restoring into a used arena");
        inner.anchor.pool.raise_floor(floor);
        Ok(Restorer {
            inner,
            floor,
            next: 0,
            live: 0,
            batch: IndexBatch::new(),
        })
    }

    /// Slots restored so far.
    #[cfg_attr(not(feature = "serde"), allow(dead_code))]
    pub(crate) fn slots(&self) -> u64 {
        self.next
    }

    /// Live values restored so far.
    #[cfg_attr(not(feature = "serde"), allow(dead_code))]
    pub(crate) fn live(&self) -> u64 {
        self.live
    }

    /// The index the next slot gets, if the key space has room for it.
    fn next_index(&self) -> Result<u32, Refused> {
        if self.next >= self.inner.anchor.pool.max_slots() {
            return Err("more slots than the key space limit");
        }
        Ok(self.next as u32)
    }

    /// The slot at the next index, its chunk allocated.
    fn next_slot(&self, index: u32) -> Result<SlotRef<'a, T>, Refused> {
        self.inner
            .dir
            .slot_or_alloc(index)
            .ok_or("a slot too large for memory to back")
    }

    /// One past the slot just written is the new high water, so that a drop now drops it.
    fn advance(&mut self) {
        self.next += 1;
        self.inner.anchor.pool.set_high_water(self.next);
    }

    /// The next slot holds `value`, live with generation `generation`.
    pub(crate) fn live_slot(&mut self, generation: u32, value: T) -> Result<(), Refused> {
        if !slot::is_occupied(generation) {
            return Err("a live slot's generation is not an OCCUPIED state (4n + 1)");
        }
        let index = self.next_index()?;
        let slot = self.next_slot(index)?;
        // SAFETY: the arena is new and ours alone, and this index was never written: its
        // chunk is zeroed (FREE 0), so the cell is uninitialised and nobody reads it.
        unsafe { slot.write(value) };
        // Birth cycle 0: older than any cycle the new arena will run, as for a value that
        // was inserted before its first collection. Relaxed: see the module docs.
        slot.next.store(0, Ordering::Relaxed);
        slot.state.store(generation, Ordering::Relaxed);
        self.live += 1;
        self.advance();
        Ok(())
    }

    /// The next slot is FREE with state `state`.
    pub(crate) fn free_slot(&mut self, state: u32) -> Result<(), Refused> {
        if !slot::is_free(state) {
            return Err("a free slot's state is not a FREE state (a multiple of 4)");
        }
        if state < self.floor {
            return Err("a free slot's state is below the generation floor");
        }
        let index = self.next_index()?;
        if state > self.floor {
            // The state must be in the slot's memory too: a later `&mut` rebuild (`clear`,
            // `compact`) reads it from there. At the floor, memory may read 0: the floor
            // covers it, and the chunk need not exist at all.
            self.next_slot(index)?.state.store(state, Ordering::Relaxed);
        }
        if self.batch.is_full() {
            self.inner
                .anchor
                .pool
                .give_back(core::mem::replace(&mut self.batch, IndexBatch::new()));
        }
        self.batch.push(index, state);
        self.advance();
        Ok(())
    }

    /// The next slot is retired.
    pub(crate) fn retired_slot(&mut self) -> Result<(), Refused> {
        let index = self.next_index()?;
        self.next_slot(index)?
            .state
            .store(slot::RETIRED, Ordering::Relaxed);
        self.advance();
        Ok(())
    }

    /// Hands the free list to the pool and counts the live values: the arena is ready.
    pub(crate) fn finish(mut self) {
        let anchor = &self.inner.anchor;
        anchor
            .pool
            .give_back(core::mem::replace(&mut self.batch, IndexBatch::new()));
        anchor.counters.add_inserted_shared(self.live as isize);
    }
}
