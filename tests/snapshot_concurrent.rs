//! Snapshots written while other threads insert, remove, trim and collect (real threads).
//!
//! Every operation is stamped on a global sequence counter, so after each write the test
//! knows, for every key, whether it was live for the whole write (inserted before the
//! write began, not removed before it ended), dead for the whole write (removed before it
//! began), or touched during it. The loaded arena must then:
//!
//! * hold every value live for the whole write, under its key;
//! * hold no key dead for the whole write, and never issue one of them again, even after
//!   filling its key space;
//! * hold, for a key touched during the write, either nothing or the value that key named;
//! * count exactly the values it holds (and `SnapshotInfo::live` must agree).
//!
//! A single-thread loom model covers the same protocol exhaustively for a few slots
//! (`loom-tests`, `snapshot_vs_remove_trim_insert`); this test runs it at scale. Sized for
//! miri by `cfg(miri)`.
#![cfg(feature = "serde")]

use epoch_arena::{pin, Arena, Key};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Mutex;
use std::thread;

const CHURNERS: u64 = 2;
/// Operations the churners make between two writes, at least.
const CHURN_BETWEEN_WRITES: u64 = if cfg!(miri) { 40 } else { 2000 };
const MAX_SLOTS: u32 = if cfg!(miri) {
    64
} else if cfg!(debug_assertions) {
    1024
} else {
    4096
};
const WRITES: usize = if cfg!(miri) {
    2
} else if cfg!(debug_assertions) {
    30
} else {
    40
};

/// One key's life, in sequence stamps: when its insert returned, when its removal began and
/// when it returned.
#[derive(Debug, Clone, Copy)]
struct Life {
    value: u64,
    inserted: u64,
    removing: Option<u64>,
    removed: Option<u64>,
}

fn stamp(seq: &AtomicU64) -> u64 {
    seq.fetch_add(1, SeqCst)
}

#[test]
fn snapshots_under_churn_keep_every_key_promise() {
    let arena: Arena<u64> = Arena::builder().max_slots(MAX_SLOTS).build();
    let seq = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    // The churners pause at this stamp until the checker moves it on: without a bound, a
    // checker starved of CPU (a loaded machine) falls ever further behind churners whose
    // records it must check each time, and the record grows without end.
    let limit = AtomicU64::new(CHURN_BETWEEN_WRITES * 4);
    let lives: Mutex<HashMap<Key, Life>> = Mutex::new(HashMap::new());
    thread::scope(|s| {
        for t in 0..CHURNERS {
            let (arena, seq, stop, lives, limit) = (&arena, &seq, &stop, &lives, &limit);
            s.spawn(move || {
                let mut mine: Vec<Key> = Vec::new();
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ t;
                let mut n = 0u64;
                while !stop.load(SeqCst) {
                    if seq.load(SeqCst) >= limit.load(SeqCst) {
                        thread::yield_now();
                        continue;
                    }
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    if mine.len() < (MAX_SLOTS as usize) / 4
                        && (!x.is_multiple_of(3) || mine.is_empty())
                    {
                        let value = (t << 48) | n;
                        n += 1;
                        // The record is made under the lock the insert runs in, so a value
                        // a snapshot holds is on record once the checker holds the lock.
                        let mut lives = lives.lock().unwrap();
                        let Ok(key) = arena.try_insert(value) else {
                            continue;
                        };
                        let inserted = stamp(seq);
                        lives.insert(
                            key,
                            Life {
                                value,
                                inserted,
                                removing: None,
                                removed: None,
                            },
                        );
                        mine.push(key);
                    } else {
                        let key = mine.swap_remove((x as usize / 3) % mine.len());
                        let removing = stamp(seq);
                        lives.lock().unwrap().get_mut(&key).unwrap().removing = Some(removing);
                        assert!(arena.remove(key), "a key this thread holds was dead");
                        let removed = stamp(seq);
                        lives.lock().unwrap().get_mut(&key).unwrap().removed = Some(removed);
                    }
                }
            });
        }
        {
            let (arena, stop) = (&arena, &stop);
            s.spawn(move || {
                while !stop.load(SeqCst) {
                    arena.trim();
                    thread::yield_now();
                }
            });
        }
        // Stops the other threads however this one leaves (a failed assertion included),
        // or the scope would wait for them forever.
        struct StopOnDrop<'a>(&'a AtomicBool);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, SeqCst);
            }
        }
        let _stop = StopOnDrop(&stop);
        let mut last = 0;
        for _ in 0..WRITES {
            // Let the churners work between two writes (a progress condition, not a sleep).
            while seq.load(SeqCst) < last + CHURN_BETWEEN_WRITES {
                thread::yield_now();
            }
            let begin = stamp(&seq);
            let mut bytes = Vec::new();
            let info = arena.write_snapshot(&mut bytes).expect("write");
            let end = stamp(&seq);
            last = end;
            let loaded: Arena<u64> = Arena::read_snapshot(&bytes[..]).expect("read");
            assert_eq!(loaded.max_slots(), MAX_SLOTS);
            assert_eq!(loaded.len() as u64, info.live);
            let lives = lives.lock().unwrap().clone();
            let guard = pin();
            let mut found = 0;
            let mut dead_before = Vec::new();
            for (&key, life) in &lives {
                let got = loaded.get(key, &guard).copied();
                if got.is_some() {
                    found += 1;
                }
                let live_throughout =
                    life.inserted < begin && life.removing.is_none_or(|r| r > end);
                let dead_throughout = life.removed.is_some_and(|r| r < begin);
                if live_throughout {
                    assert_eq!(
                        got,
                        Some(life.value),
                        "{key:?} was live for the whole write"
                    );
                } else if dead_throughout {
                    assert_eq!(got, None, "{key:?} was dead for the whole write");
                    dead_before.push(key);
                } else if let Some(v) = got {
                    assert_eq!(v, life.value, "{key:?} names another value");
                }
            }
            // Every value the loaded arena holds was found under a known key.
            assert_eq!(
                found,
                loaded.len(),
                "a loaded value under no key ever issued"
            );
            drop(guard);
            // Fill the loaded arena: no key dead before the write comes back.
            let mut handle = loaded.handle();
            let mut issued = Vec::new();
            while let Ok(key) = handle.try_insert(0) {
                issued.push(key);
            }
            drop(handle);
            issued.sort_unstable();
            dead_before.sort_unstable();
            for key in &dead_before {
                assert!(
                    issued.binary_search(key).is_err(),
                    "{key:?}, dead before the write, was issued again"
                );
            }
            // An arena nobody else uses is written exactly, again.
            let mut again = Vec::new();
            let info2 = loaded
                .write_snapshot(&mut again)
                .expect("write the loaded arena");
            assert_eq!(info2.live, loaded.len() as u64);
            let reloaded: Arena<u64> = Arena::read_snapshot(&again[..]).expect("read again");
            assert_eq!(reloaded.len(), loaded.len());
            // Enough churn for the next write, and during it.
            limit.store(seq.load(SeqCst) + CHURN_BETWEEN_WRITES * 4, SeqCst);
        }
    });
}
