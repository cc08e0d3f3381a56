//! Feature `poison`: the bytes of a dead value are overwritten with a pattern, and a slot
//! about to be reused checks that the pattern is intact. Run with
//! `cargo test --features poison --test poison`.
#![cfg(feature = "poison")]

use epoch_arena::{Arena, Key};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

const REPORT: &str = "was written after its value was dropped";

/// Insertions [`insert_until_panic`] makes at most: far more than the freed slots (under
/// Miri still more than two 64-slot batches past them, so each is reused and checked).
const TRIES: usize = if cfg!(miri) { 256 } else { 4096 };

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Inserts `make()` until an insertion panics (at most `tries` of them); the panic's message.
fn insert_until_panic<T: Send + Sync>(
    arena: &Arena<T>,
    tries: usize,
    mut make: impl FnMut() -> T,
) -> Option<String> {
    for _ in 0..tries {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| arena.insert(make()))) {
            return Some(panic_message(&*payload));
        }
    }
    None
}

/// A value with padding (7 bytes after the `u8`) and a heap part.
type Padded = (u8, u64, String);

fn padded(i: usize) -> Padded {
    (i as u8, i as u64 * 3, format!("value {i}"))
}

#[test]
fn every_way_a_value_ends_leaves_a_reusable_slot() {
    /// A third of the first values; the rounds insert multiples of it.
    const THIRD: usize = if cfg!(miri) { 32 } else { 100 };
    let mut arena: Arena<Padded> = Arena::new();
    let keys: Vec<Key> = (0..3 * THIRD).map(|i| arena.insert(padded(i))).collect();

    // take
    for &k in &keys[..THIRD] {
        assert!(arena.take(k).is_some());
    }
    // retain (drop in place)
    arena.retain(|_, v| v.0 % 2 == 0);
    // drain, partly consumed, partly dropped with the iterator
    assert_eq!(arena.drain().take(10).count(), 10);
    assert!(arena.is_empty());

    // Reuse every freed slot, then some.
    let keys: Vec<Key> = (0..4 * THIRD).map(|i| arena.insert(padded(i))).collect();
    let guard = epoch_arena::pin();
    assert_eq!(arena.get(keys[7], &guard), Some(&padded(7)));
    drop(guard);

    // remove, then reclamation after the grace period (drop in place)
    let witness = Arc::new(());
    let arena2: Arena<(u32, Arc<()>)> = Arena::new();
    let keys2: Vec<Key> = (0..2 * THIRD as u32)
        .map(|i| arena2.insert((i, Arc::clone(&witness))))
        .collect();
    for &k in &keys2 {
        assert!(arena2.remove(k));
    }
    arena2.flush();
    for _ in 0..100_000 {
        if Arc::strong_count(&witness) == 1 {
            break;
        }
        epoch_arena::pin().flush();
    }
    assert_eq!(Arc::strong_count(&witness), 1, "reclamation did not run");
    for i in 0..4 * THIRD as u32 {
        arena2.insert((i, Arc::clone(&witness)));
    }

    // clear, then reuse
    arena.clear();
    for i in 0..5 * THIRD {
        arena.insert(padded(i));
    }
    // and the arena's drop
}

#[test]
fn a_value_whose_drop_panics_still_leaves_a_reusable_slot() {
    struct Bomb(u64);
    impl Drop for Bomb {
        fn drop(&mut self) {
            if self.0 == 3 {
                panic!("boom");
            }
        }
    }
    let mut arena = Arena::new();
    for i in 0..8 {
        arena.insert(Bomb(i));
    }
    let err = catch_unwind(AssertUnwindSafe(|| arena.retain(|_, b| b.0 > 3))).unwrap_err();
    assert_eq!(panic_message(&*err), "boom");
    // The slot of the value whose drop panicked is poisoned like the others.
    assert_eq!(insert_until_panic(&arena, TRIES, || Bomb(100)), None);
}

#[test]
#[cfg_attr(miri, ignore = "simulates a use-after-free, which is UB miri reports")]
fn a_write_after_take_is_reported_when_the_slot_is_reused() {
    let mut arena: Arena<[u64; 4]> = Arena::new();
    for i in 0..10 {
        arena.insert([i; 4]);
    }
    let key = arena.insert([7; 4]);
    let ptr: *mut [u64; 4] = arena.get_mut(key).unwrap();
    assert_eq!(arena.take(key), Some([7; 4]));

    // The bug being simulated: code that kept a raw pointer into the arena writes through
    // it after the value's life ended. The slot's memory is still allocated (the arena is
    // alive), so the write lands in the now-FREE slot instead of faulting.
    // SAFETY: not sound (that is the point: the pointer's borrow ended with the value); the
    // memory is a live chunk of `arena` that nothing else touches until the next insertion.
    unsafe { (*ptr)[1] = 0xDEAD_BEEF };

    // `take` put the slot in this thread's insert cache, so it is reused next.
    let msg = insert_until_panic(&arena, TRIES, || [1; 4]).expect("the write was not reported");
    assert!(
        msg.contains(&format!("slot {} {REPORT}", key.index())),
        "{msg}"
    );
    // The first byte that is neither the pattern nor zero, in element 1 (bytes 8..16).
    let (offset, byte) = if cfg!(target_endian = "little") {
        (8, 0xef)
    } else {
        (12, 0xde)
    };
    assert!(
        msg.contains(&format!("byte {offset} is {byte:#04x}, expected 0xa5")),
        "{msg}"
    );
}

#[test]
#[cfg_attr(miri, ignore = "simulates a use-after-free, which is UB miri reports")]
fn a_write_after_retain_is_reported_when_the_slot_is_reused() {
    let mut arena: Arena<u64> = Arena::new();
    let key = arena.insert(1);
    let ptr: *mut u64 = arena.get_mut(key).unwrap();
    arena.retain(|_, _| false);

    // The bug being simulated, as above.
    // SAFETY: not sound (the bug); the memory is a live chunk of `arena` that nothing else
    // touches until the next insertion.
    unsafe { ptr.write(0x0101_0101_0101_0101) };

    let msg = insert_until_panic(&arena, TRIES, || 2).expect("the write was not reported");
    assert!(
        msg.contains(&format!("slot {} {REPORT}", key.index()))
            && msg.contains("byte 0 is 0x01, expected 0xa5"),
        "{msg}"
    );
}

#[test]
#[cfg_attr(miri, ignore = "simulates a use-after-free, which is UB miri reports")]
fn writing_zeros_or_the_pattern_back_goes_unnoticed() {
    // Documented blind spot: zero bytes are legitimate (never-used or trimmed memory).
    let mut arena: Arena<u64> = Arena::new();
    let key = arena.insert(1);
    let ptr: *mut u64 = arena.get_mut(key).unwrap();
    arena.take(key);
    // SAFETY: as above; the bug being simulated.
    unsafe { ptr.write(0) };
    assert_eq!(insert_until_panic(&arena, TRIES, || 2), None);
}
