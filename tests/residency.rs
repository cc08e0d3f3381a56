//! `resident_bytes` counts memory the arena holds, not memory it only reads: a trimmed page
//! that is read again (a stale key's lookup, an iteration, the sweep) maps the kernel's shared
//! zero page, which costs nothing and must not count (it did with `mincore`, and a fully
//! trimmed chunk once fell back to it).
#![cfg(all(target_os = "linux", not(miri)))]

use epoch_arena::{pin, Arena, Key};

#[test]
fn trimmed_pages_read_again_do_not_count() {
    const N: u64 = 300_000;
    let arena = Arena::new();
    let keys: Vec<Key> = (0..N).map(|i| arena.insert([i; 4])).collect();
    for k in &keys[1000..] {
        arena.remove(*k);
    }
    arena.flush();
    for _ in 0..1000 {
        if arena.stats().pending_reclamation == 0 {
            break;
        }
        pin().flush();
    }
    assert_eq!(arena.stats().pending_reclamation, 0);
    let before = arena.resident_bytes();
    assert!(before >= N as usize * 40 * 9 / 10, "{before}");
    let released = arena.trim();
    let after = arena.resident_bytes();
    assert!(
        released >= before * 8 / 10,
        "released {released} of {before}"
    );
    assert!(after <= before / 10, "{after} of {before}");
    // Read every slot again: the iteration visits every state word, the lookups of the
    // stale keys too.
    let guard = pin();
    assert_eq!(arena.iter(&guard).count(), 1000);
    assert!(keys[1000..].iter().all(|k| arena.get(*k, &guard).is_none()));
    drop(guard);
    let after_reads = arena.resident_bytes();
    assert!(
        after_reads <= after + (64 << 10),
        "reading trimmed pages made {after} resident bytes {after_reads}"
    );
    // Writing does count: reusing the slots brings the memory back.
    let again: Vec<Key> = (0..N - 1000).map(|i| arena.insert([i; 4])).collect();
    assert!(arena.resident_bytes() >= before * 9 / 10);
    assert_eq!(arena.len(), N as usize);
    drop(again);
}
