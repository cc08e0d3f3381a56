//! A chunk allocation that fails: `try_insert` gives the value back with
//! `InsertErrorKind::AllocFailed` instead of aborting the process, the slot it took goes back,
//! and once memory is available again the arena works as if nothing happened.
//!
//! A global allocator that refuses every allocation of at least `REFUSE_FROM` bytes while
//! `REFUSING` is set makes the failure happen on demand; chunks of slots are the only
//! allocations that large here.

use epoch_arena::{pin, Arena, InsertErrorKind};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

struct Refusing;

static REFUSING: AtomicBool = AtomicBool::new(false);
const REFUSE_FROM: usize = 64 << 10;

// SAFETY: forwards to `System`, or returns null (which `GlobalAlloc` allows for failure).
unsafe impl GlobalAlloc for Refusing {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if REFUSING.load(SeqCst) && layout.size() >= REFUSE_FROM {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract, unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if REFUSING.load(SeqCst) && layout.size() >= REFUSE_FROM {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract, unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Refusing = Refusing;

/// Fills the arena's small chunks, so that the next insertion needs a chunk of at least
/// `REFUSE_FROM` bytes. Returns the keys.
fn fill_small_chunks<K: epoch_arena::ArenaKey>(
    arena: &Arena<[u64; 4], K>,
    mut insert: impl FnMut([u64; 4]) -> K,
) -> Vec<K> {
    let mut keys = Vec::new();
    // 40-byte slots: chunks double from 64 slots; stop where the next one is large.
    while arena.capacity() * 40 < REFUSE_FROM || arena.len() < arena.capacity() {
        keys.push(insert([keys.len() as u64; 4]));
    }
    keys
}

#[test]
#[cfg_attr(miri, ignore = "miri's allocator is not the global allocator here")]
fn try_insert_gives_the_value_back_when_a_chunk_cannot_be_allocated() {
    let arena: Arena<[u64; 4]> = Arena::new();
    let keys = fill_small_chunks(&arena, |v| arena.insert(v));
    let (len, capacity) = (arena.len(), arena.capacity());

    REFUSING.store(true, SeqCst);
    let err = arena.try_insert([7; 4]).unwrap_err();
    let handle_err = arena.handle().try_insert([8; 4]).unwrap_err();
    REFUSING.store(false, SeqCst);

    assert_eq!(err.kind(), InsertErrorKind::AllocFailed);
    assert!(err.to_string().starts_with("allocating "), "{err}");
    assert!(err
        .to_string()
        .ends_with(" bytes for a chunk of the arena's slots failed"));
    assert_eq!(err.into_inner(), [7; 4]);
    assert_eq!(handle_err.kind(), InsertErrorKind::AllocFailed);
    assert_eq!(handle_err.into_inner(), [8; 4]);
    assert_eq!(
        (arena.len(), arena.capacity()),
        (len, capacity),
        "the arena is unchanged"
    );

    // Memory is back: the slots that failed are used again, and every key still holds.
    let a = arena.try_insert([9; 4]).expect("memory is available again");
    let b = arena.handle().insert([10; 4]);
    let guard = pin();
    assert_eq!(arena.get(a, &guard), Some(&[9; 4]));
    assert_eq!(arena.get(b, &guard), Some(&[10; 4]));
    for (i, &k) in keys.iter().enumerate() {
        assert_eq!(arena.get(k, &guard), Some(&[i as u64; 4]));
    }
    assert_eq!(arena.len(), len + 2);
    assert_eq!(
        a.index() as usize,
        len,
        "the slot of the failed insertion was given back, not lost"
    );
}
