//! A slot: a 32-bit state word, a 32-bit link, and the value. The state machine is
//! [Slot state machine](crate::implementation#slot-state-machine) in the design document;
//! this module holds its transitions and the value cell's accessors.
//!
//! # The state word
//!
//! A slot's state is one `AtomicU32` counter whose value mod 4 says what the slot holds:
//!
//! | `state % 4` | name     | value cell      | who owns the slot                          |
//! |-------------|----------|-----------------|--------------------------------------------|
//! | 0           | FREE     | uninitialised   | a free list, a cache, or a fresh range     |
//! | 1           | OCCUPIED | initialised     | the arena; `state` is the live key's generation |
//! | 2           | REMOVED  | initialised, waiting for its grace period | one retire batch |
//! | 3 (`u32::MAX` only) | RETIRED | uninitialised | nobody, ever again            |
//!
//! Transitions only ever increase the counter:
//!
//! ```text
//!   FREE g ──insert──▶ OCCUPIED g+1 ──remove (CAS)──▶ REMOVED g+2 ──grace period, drop──▶ FREE g+4
//!                          │                                                  (or RETIRED on wrap)
//!                          └──take / clear / retain / drain (&mut)──▶ FREE g+4 (or RETIRED)
//! ```
//!
//! A key stores the OCCUPIED value of the state, so validating a key is **one acquire load
//! and one compare** (`state == key.generation()`). Because the counter never repeats a
//! value (a slot whose next FREE value would wrap becomes RETIRED and leaves circulation), a
//! stale key can never match again: no ABA, ever. Each slot serves 2^30 insertions before it
//! retires.
//!
//! Whoever owns a FREE or REMOVED slot also knows its state: batches of free and retired
//! slots carry `(index, state)` pairs (see `raw/pool.rs`), so inserting and reclaiming
//! *store* the next state without first loading a cold state word.
//!
//! # The link
//!
//! `next` is a 32-bit word whose meaning follows the state:
//!
//! * **OCCUPIED**: the value's *birth cycle*, stored by the insertion that published it
//!   (see [`Stamp`](super::Stamp) and [One cycle](crate::implementation#one-cycle), step 3).
//!   The sweep reads it to spare values born during its own cycle.
//! * **REMOVED**: the link that threads the slot into the arena's shared retire stack (see
//!   `raw/reclaim.rs`): `index + 1` of the next slot, `0` for the end. Only the thread that
//!   removed the slot and the thread that takes the whole stack touch it then.
//! * **FREE**: nothing; whoever owns the slot next overwrites it.
//!
//! # Layout
//!
//! `Slot<T>` is `repr(C)`: state, link, value, 8 bytes of metadata in front of the value
//! (and no more padding than `T`'s alignment beyond 4 asks for). A lookup reads the state
//! word and then the value right behind it: one cache line, or two when the slot straddles
//! a line boundary, the same as a `slotmap`. (A struct-of-arrays layout was measured too: it
//! costs every lookup a second, separate cache line, and lookups were 1.8× slower.)

use crate::sync::{AtomicU32, UnsafeCell};
use core::mem::MaybeUninit;

/// A FREE state: the slot holds nothing.
#[inline(always)]
pub(crate) fn is_free(state: u32) -> bool {
    state & 3 == 0
}

/// An OCCUPIED or REMOVED state: the value cell is initialised.
#[inline(always)]
pub(crate) fn has_value(state: u32) -> bool {
    matches!(state & 3, 1 | 2)
}

/// An OCCUPIED state.
#[inline(always)]
pub(crate) fn is_occupied(state: u32) -> bool {
    state & 3 == 1
}

/// The state a slot gets when it is retired for good.
pub(crate) const RETIRED: u32 = u32::MAX;

/// OCCUPIED → REMOVED.
#[inline(always)]
pub(crate) fn removed(occupied: u32) -> u32 {
    debug_assert!(is_occupied(occupied));
    occupied + 1
}

/// OCCUPIED or REMOVED → the next FREE state, or [`RETIRED`] when the counter would wrap.
#[inline(always)]
pub(crate) fn freed(state: u32) -> u32 {
    debug_assert!(has_value(state));
    match (state | 3).checked_add(1) {
        Some(free) => free,
        None => RETIRED,
    }
}

/// FREE → OCCUPIED.
#[inline(always)]
pub(crate) fn occupied(free: u32) -> u32 {
    debug_assert!(is_free(free));
    free + 1
}

/// A slot as it lies in its chunk: state, link, value (`repr(C)`, so the state word is at
/// the start of the slot and, for values up to 56 bytes, usually in the value's cache line).
#[repr(C)]
pub(crate) struct Slot<T> {
    pub(crate) state: AtomicU32,
    pub(crate) next: AtomicU32,
    pub(crate) value: UnsafeCell<MaybeUninit<T>>,
}

impl<T> Slot<T> {
    /// A FREE slot with generation 0: what all-zero bytes hold (see `sync/alloc.rs`).
    pub(crate) fn zero() -> Self {
        Slot {
            state: AtomicU32::new(0),
            next: AtomicU32::new(0),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    #[inline(always)]
    pub(crate) fn parts(&self) -> SlotRef<'_, T> {
        SlotRef {
            state: &self.state,
            next: &self.next,
            value: &self.value,
        }
    }
}

/// One slot's parts, borrowed from its chunk.
pub(crate) struct SlotRef<'a, T> {
    pub(crate) state: &'a AtomicU32,
    pub(crate) next: &'a AtomicU32,
    pub(crate) value: &'a UnsafeCell<MaybeUninit<T>>,
}

impl<T> Clone for SlotRef<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for SlotRef<'_, T> {}

impl<'a, T> SlotRef<'a, T> {
    /// A shared reference to the value.
    ///
    /// # Safety
    /// The value must be initialised, and must stay initialised and unmoved for `'b`.
    #[inline(always)]
    pub(crate) unsafe fn value_ref<'b>(self) -> &'b T {
        // SAFETY: the caller guarantees the cell is initialised for 'b; nobody writes it
        // meanwhile (writers own the slot exclusively, which excludes every reader).
        self.value.with(|p| unsafe { &*(*p).as_ptr() })
    }

    /// A unique reference to the value.
    ///
    /// # Safety
    /// The value must be initialised and nobody else may access it for `'b`.
    #[inline(always)]
    pub(crate) unsafe fn value_mut<'b>(self) -> &'b mut T {
        // SAFETY: as the caller guarantees, initialised and exclusively ours for 'b.
        self.value.with_mut(|p| unsafe { &mut *(*p).as_mut_ptr() })
    }

    /// Writes a value into a FREE slot the caller owns.
    ///
    /// # Safety
    /// The caller owns the slot exclusively and its value cell is uninitialised.
    #[inline(always)]
    pub(crate) unsafe fn write(self, value: T) {
        // SAFETY: exclusive ownership of the slot, per the caller.
        self.value.with_mut(|p| unsafe { (*p).write(value) });
    }

    /// Moves the value out.
    ///
    /// # Safety
    /// The value is initialised, the caller owns the slot exclusively, and treats the cell as
    /// uninitialised afterwards.
    #[inline(always)]
    pub(crate) unsafe fn read(self) -> T {
        // SAFETY: initialised and exclusively ours, per the caller.
        self.value.with_mut(|p| unsafe { (*p).assume_init_read() })
    }

    /// Drops the value in place.
    ///
    /// # Safety
    /// As for [`read`](SlotRef::read).
    #[inline(always)]
    pub(crate) unsafe fn drop_value(self) {
        // SAFETY: initialised and exclusively ours, per the caller.
        self.value.with_mut(|p| unsafe { (*p).assume_init_drop() });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_machine_counts_up_and_retires_on_wrap() {
        let free = 0u32;
        let occ = occupied(free);
        assert!(is_occupied(occ) && has_value(occ));
        let rem = removed(occ);
        assert!(has_value(rem) && !is_occupied(rem) && !is_free(rem));
        assert_eq!(freed(rem), 4);
        assert_eq!(freed(occ), 4);
        assert!(is_free(freed(rem)));
        // The last occupied generation before the counter wraps.
        let last = u32::MAX - 2;
        assert!(is_occupied(last));
        assert_eq!(freed(last), RETIRED);
        assert_eq!(freed(removed(last)), RETIRED);
        assert!(!is_free(RETIRED) && !has_value(RETIRED));
    }
}
