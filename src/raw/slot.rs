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
//!
//! # Feature `poison`
//!
//! A debugging aid for users whose own unsafe code holds raw pointers into the arena (the
//! safe API cannot write to a value after its life). With the Cargo feature `poison`, every
//! path that ends a value's life in its slot ([`read`](SlotRef::read) and
//! [`drop_value`](SlotRef::drop_value): reclamation after the grace period, `take`,
//! `retain`, `drain`, `clear`, dropping the arena, compaction) then overwrites the value
//! cell's bytes with the byte `POISON` (0xA5), also when the value's `Drop` unwinds. When a
//! FREE slot is about to be reused, [`check_poison`](SlotRef::check_poison) checks that
//! every byte of its cell is still `POISON` or zero, and panics with the slot's index if
//! not: something wrote through a pointer into the slot after its value was dropped.
//!
//! Zero bytes are accepted because a slot that was never used holds zeros (chunks are zeroed
//! memory), and `trim` gives whole pages back to the OS, which read as zeros afterwards and
//! may cut one slot's bytes in two. So a write of zeros, or one into a page that was trimmed
//! afterwards, goes unnoticed; anything else is reported the next time the slot is reused
//! (not when it happens, nor if the slot is never reused). Without the feature none of this
//! costs anything.

use crate::sync::{AtomicU32, UnsafeCell};
use core::mem::MaybeUninit;

/// The byte pattern the value cell of a dead value is filled with (feature `poison`).
#[cfg(feature = "poison")]
pub(crate) const POISON: u8 = 0xA5;

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
    /// A FREE slot with generation 0: what all-zero bytes hold (see `sync/alloc.rs`), value
    /// cell included, so that [`check_poison`](SlotRef::check_poison) reads initialised
    /// bytes in arrays built with this constructor too.
    pub(crate) fn zero() -> Self {
        Slot {
            state: AtomicU32::new(0),
            next: AtomicU32::new(0),
            value: UnsafeCell::new(MaybeUninit::zeroed()),
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
        let value = self.value.with_mut(|p| unsafe { (*p).assume_init_read() });
        #[cfg(feature = "poison")]
        // SAFETY: the slot is still exclusively ours, and the cell now counts as
        // uninitialised (the value was moved out bitwise above).
        unsafe {
            self.poison();
        }
        value
    }

    /// Checks that the value cell of a FREE slot about to be reused still holds the pattern
    /// a dead value leaves with feature `poison` (see [Feature `poison`](self#feature-poison)).
    /// Every byte must be `POISON` (0xA5) or zero (a never-used slot, or memory `trim` gave
    /// back to the OS, which may cut a slot in two); zero-sized `T`s have nothing to check.
    /// Without the feature, this does nothing.
    ///
    /// # Safety
    /// The slot is FREE and the caller owns it exclusively: nobody writes its cell
    /// meanwhile, and its bytes are initialised (zeroed memory, or the pattern).
    ///
    /// # Panics
    /// With feature `poison`, if a byte is neither: some code wrote to the slot after its
    /// value was dropped, through a pointer it kept past the value's life. The message names
    /// the slot's index, the first such byte's offset in the value and its value.
    #[inline(always)]
    pub(crate) unsafe fn check_poison(self, index: u32) {
        #[cfg(feature = "poison")]
        {
            let size = core::mem::size_of::<T>();
            if size == 0 {
                return;
            }
            let bad = self.value.with(|p| {
                // Every byte of the cell is initialised: the chunk's memory was zeroed when it
                // was allocated (or by `trim`, or by `Slot::zero`), and since then only whole
                // values were written into it, each followed by `poison`, which wrote every
                // byte of the cell after the value's life (padding included).
                // SAFETY: FREE and exclusively ours (the caller's contract), so no one writes
                // the cell while this slice lives; all `size` bytes initialised (above).
                let bytes = unsafe { core::slice::from_raw_parts(p.cast::<u8>(), size) };
                bytes
                    .iter()
                    .position(|&b| b != POISON && b != 0)
                    .map(|offset| (offset, bytes[offset]))
            });
            if let Some((offset, byte)) = bad {
                poison_violated(index, offset, byte);
            }
        }
        #[cfg(not(feature = "poison"))]
        let _ = index;
    }

    /// Drops the value in place.
    ///
    /// # Safety
    /// As for [`read`](SlotRef::read).
    #[inline(always)]
    pub(crate) unsafe fn drop_value(self) {
        // Poisons the cell after the drop, also when `T::drop` unwinds.
        #[cfg(feature = "poison")]
        let _poison = PoisonOnDrop(self);
        // SAFETY: initialised and exclusively ours, per the caller.
        self.value.with_mut(|p| unsafe { (*p).assume_init_drop() });
    }

    /// Fills the value cell with [`POISON`] (feature `poison`).
    ///
    /// # Safety
    /// The caller owns the slot exclusively, and its cell holds no value (it was moved out or
    /// dropped): the bytes are overwritten without dropping anything.
    #[cfg(feature = "poison")]
    #[inline(always)]
    unsafe fn poison(self) {
        // SAFETY: exclusively ours, per the caller; `p` is valid for writes of one
        // `MaybeUninit<T>`, and any bytes are a valid `MaybeUninit<T>`.
        self.value
            .with_mut(|p| unsafe { core::ptr::write_bytes(p, POISON, 1) });
    }
}

/// Poisons a slot's value cell when dropped: after `drop_value`'s `T::drop` returns or
/// unwinds.
#[cfg(feature = "poison")]
struct PoisonOnDrop<'a, T>(SlotRef<'a, T>);

#[cfg(feature = "poison")]
impl<T> Drop for PoisonOnDrop<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: made by `drop_value`, whose caller owns the slot exclusively; this runs
        // once the value's drop has returned or unwound, so the cell holds no value.
        unsafe { self.0.poison() }
    }
}

/// The report of [`SlotRef::check_poison`]; out of line, to keep `prepare` small.
#[cfg(feature = "poison")]
#[cold]
#[inline(never)]
fn poison_violated(index: u32, offset: usize, byte: u8) -> ! {
    panic!(
        "epoch-arena (feature poison): slot {index} was written after its value was dropped \
         (byte {offset} is {byte:#04x}, expected {POISON:#04x}); some code kept a pointer \
         into the arena past the value's life"
    )
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

#[cfg(all(test, feature = "poison"))]
mod poison_tests {
    use super::*;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    fn cell_bytes<T>(slot: &Slot<T>) -> Vec<u8> {
        let size = core::mem::size_of::<T>();
        // SAFETY: the slot is ours alone; its cell's bytes were zeroed by `Slot::zero` and
        // since then only overwritten whole (a value, then the poison).
        slot.value
            .with(|p| unsafe { core::slice::from_raw_parts(p.cast::<u8>(), size) }.to_vec())
    }

    fn panic_message(payload: &(dyn core::any::Any + Send)) -> String {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    }

    #[test]
    fn read_and_drop_poison_the_cell_and_reuse_checks_it() {
        let slot = Slot::<[u64; 3]>::zero();
        let s = slot.parts();
        // Never used: zeros.
        // SAFETY: a FREE slot this test owns alone.
        unsafe { s.check_poison(0) };

        // SAFETY: the slot is ours alone and its cell empty.
        unsafe { s.write([1, 2, 3]) };
        // SAFETY: ours alone, initialised just above; the cell is empty afterwards.
        let value = unsafe { s.read() };
        assert_eq!(value, [1, 2, 3]);
        assert!(cell_bytes(&slot).iter().all(|&b| b == POISON));
        // SAFETY: a FREE slot this test owns alone.
        unsafe { s.check_poison(0) };

        // SAFETY: ours alone, and the cell is empty again.
        unsafe { s.write([4, 5, 6]) };
        // SAFETY: ours alone, initialised just above; the cell is empty afterwards.
        unsafe { s.drop_value() };
        assert!(cell_bytes(&slot).iter().all(|&b| b == POISON));
        // SAFETY: a FREE slot this test owns alone.
        unsafe { s.check_poison(0) };

        // Partly zeroed (a trimmed page boundary through the slot): still fine.
        // SAFETY: the cell is empty and ours; 12 bytes lie inside it.
        slot.value
            .with_mut(|p| unsafe { core::ptr::write_bytes(p.cast::<u8>(), 0, 12) });
        // SAFETY: a FREE slot this test owns alone.
        unsafe { s.check_poison(0) };
    }

    #[test]
    fn a_write_after_free_is_reported_with_index_and_offset() {
        let slot = Slot::<u64>::zero();
        let s = slot.parts();
        // SAFETY: the slot is ours alone and its cell empty.
        unsafe { s.write(7) };
        // SAFETY: ours alone, initialised just above.
        unsafe { s.drop_value() };
        // The bug being simulated: a write through a pointer kept past the value's life.
        // SAFETY: the cell is empty and ours; byte 3 lies inside it.
        slot.value
            .with_mut(|p| unsafe { p.cast::<u8>().add(3).write(0x42) });
        // SAFETY: a FREE slot this test owns alone.
        let err = catch_unwind(AssertUnwindSafe(|| unsafe { s.check_poison(17) })).unwrap_err();
        let msg = panic_message(&*err);
        assert!(
            msg.contains("slot 17 was written after its value was dropped")
                && msg.contains("byte 3 is 0x42, expected 0xa5"),
            "{msg}"
        );
    }

    #[test]
    fn a_panicking_drop_still_poisons() {
        struct Bomb(#[allow(dead_code)] u32);
        impl Drop for Bomb {
            fn drop(&mut self) {
                panic!("boom");
            }
        }
        let slot = Slot::<Bomb>::zero();
        let s = slot.parts();
        // SAFETY: the slot is ours alone and its cell empty.
        unsafe { s.write(Bomb(0x1234_5678)) };
        // SAFETY: ours alone, initialised just above; dropped once (it unwinds).
        let err = catch_unwind(AssertUnwindSafe(|| unsafe { s.drop_value() })).unwrap_err();
        assert_eq!(panic_message(&*err), "boom");
        assert!(cell_bytes(&slot).iter().all(|&b| b == POISON));
        // SAFETY: a FREE slot this test owns alone.
        unsafe { s.check_poison(0) };
    }

    #[test]
    fn zero_sized_values_have_nothing_to_check() {
        let slot = Slot::<()>::zero();
        let s = slot.parts();
        // SAFETY: the slot is ours alone and its cell empty.
        unsafe { s.write(()) };
        // SAFETY: ours alone, initialised just above.
        unsafe { s.read() };
        // SAFETY: a FREE slot this test owns alone.
        unsafe { s.check_poison(0) };
    }
}
