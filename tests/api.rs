//! Behaviour of the public API, one thread.

use epoch_arena::{pin, Arena, InsertErrorKind, Key};
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use testkit::{reclaim_until, DropLog, Tracked};

#[test]
fn insert_get_remove_roundtrip() {
    let arena = Arena::new();
    let keys: Vec<Key> = (0..1000).map(|i| arena.insert(i)).collect();
    let guard = pin();
    for (i, &k) in keys.iter().enumerate() {
        assert_eq!(arena.get(k, &guard), Some(&i));
    }
    assert_eq!(arena.len(), 1000);
    for &k in keys.iter().step_by(2) {
        assert!(arena.remove(k));
        assert!(!arena.remove(k));
        assert_eq!(arena.get(k, &guard), None);
    }
    assert_eq!(arena.len(), 500);
    let unique: HashSet<u32> = keys.iter().map(|k| k.index()).collect();
    assert_eq!(unique.len(), 1000, "live keys never share a slot");
}

#[test]
fn stale_keys_stay_dead_after_reuse() {
    // One slot: every insertion reuses it, so each generation is checked against all
    // earlier keys of the same slot.
    let arena = Arena::builder().max_slots(1).build();
    let mut old: Vec<Key> = Vec::new();
    // Each round waits out a grace period, which miri interprets slowly.
    for round in 0..if cfg!(miri) { 30 } else { 200u32 } {
        let k = match arena.try_insert(round) {
            Ok(k) => k,
            Err(_) => {
                // The previous removal is still in its grace period.
                assert!(reclaim_until(&arena, || arena.stats().pending_reclamation == 0));
                arena.try_insert(round).expect("reclaimed slot is reusable")
            }
        };
        assert_eq!(k.index(), 0);
        let guard = pin();
        for &o in &old {
            assert_eq!(arena.get(o, &guard), None);
            assert!(!arena.contains(o) && !arena.remove(o));
        }
        assert!(old.last().is_none_or(|o| o.generation() < k.generation()));
        assert_eq!(arena.get(k, &guard), Some(&round));
        drop(guard);
        assert!(arena.remove(k));
        old.push(k);
    }
}

#[test]
fn bad_keys_are_rejected_without_panicking() {
    let arena = Arena::new();
    let k = arena.insert(7u8);
    let guard = pin();
    for bits in [
        (u64::from(u32::MAX - 1) << 32) | 1,
        (1_000_000 << 32) | 5,
        (u64::from(k.index()) << 32) | u64::from(k.generation() + 4),
        1,
    ] {
        let key = Key::from_bits(bits).unwrap();
        if key == k {
            continue;
        }
        assert_eq!(arena.get(key, &guard), None);
        assert!(!arena.contains(key));
        assert!(!arena.remove(key));
    }
    let mut arena = arena;
    let far = Key::from_bits((4_000_000_000 << 32) | 1).unwrap();
    assert_eq!(arena.get_mut(far), None);
    assert_eq!(arena.take(far), None);
}

#[test]
fn try_insert_returns_the_value_when_full_and_nothing_is_lost() {
    let arena = Arena::builder().max_slots(3).build();
    let keys: Vec<Key> = (0..3).map(|i| arena.try_insert(i).unwrap()).collect();
    let full = arena.try_insert(99).unwrap_err();
    assert_eq!(full.kind(), InsertErrorKind::Full);
    assert_eq!(full.to_string(), "the arena's key space is full");
    assert_eq!(full.into_inner(), 99);
    let full = arena.handle().try_insert(98).unwrap_err();
    assert_eq!(full.kind(), InsertErrorKind::Full);
    assert_eq!(full.into_inner(), 98);
    let result = std::panic::catch_unwind(|| arena.insert(97));
    assert!(
        result.is_err(),
        "insert panics with a clear message when full"
    );
    let guard = pin();
    for (i, &k) in keys.iter().enumerate() {
        assert_eq!(arena.get(k, &guard), Some(&(i as i32)));
    }
    drop(guard);
    // Freeing through &mut makes room at once.
    let mut arena = arena;
    assert_eq!(arena.take(keys[1]), Some(1));
    let k = arena.try_insert(5).unwrap();
    assert_eq!(k.index(), keys[1].index());
}

#[test]
fn insert_with_sees_its_key_and_survives_a_panic() {
    let arena = Arena::new();
    let k = arena.insert_with(|k| k);
    assert_eq!(arena.get(k, &pin()), Some(&k));

    let before = arena.len();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        arena.insert_with(|k| -> Key {
            assert!(!arena.contains(k), "not live while being built");
            panic!("builder failed")
        })
    }));
    assert!(r.is_err());
    assert_eq!(arena.len(), before);
    // The slot went back: the next insert reuses it.
    let again = arena.insert_with(|k| k);
    assert_eq!(arena.len(), before + 1);
    assert!(arena.contains(again));

    let mut h = arena.handle();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        h.insert_with(|_| -> Key { panic!("again") })
    }));
    assert!(r.is_err());
    let k2 = h.insert_with(|k| k);
    assert!(arena.contains(k2));
}

#[test]
fn removed_values_are_dropped_exactly_once_after_reclamation() {
    let log = Arc::new(DropLog::default());
    let arena = Arena::new();
    let keys: Vec<Key> = (0..500)
        .map(|i| arena.insert(Tracked::new(i, &log)))
        .collect();
    {
        let mut h = arena.handle();
        for &k in &keys[..250] {
            assert!(h.remove(k));
        }
    }
    for &k in &keys[250..400] {
        assert!(arena.remove(k));
    }
    assert!(reclaim_until(&arena, || log.count() == 400));
    assert_eq!(arena.stats().pending_reclamation, 0);
    assert_eq!(arena.len(), 100);
    drop(arena);
    assert_eq!(log.count(), 500);
}

#[test]
fn a_guard_keeps_a_removed_value_alive() {
    let log = Arc::new(DropLog::default());
    let arena = Arena::new();
    let k = arena.insert(Tracked::new(1, &log));
    let guard = pin();
    let v = arena.get(k, &guard).unwrap();
    assert!(arena.remove(k));
    for _ in 0..200 {
        arena.flush();
        pin().flush();
    }
    assert_eq!(log.count(), 0, "dropped under a live guard");
    assert!(v.is_intact());
    drop(guard);
    assert!(reclaim_until(&arena, || log.count() == 1));
}

#[test]
fn dropping_the_arena_drops_live_and_pending_values_once() {
    let log = Arc::new(DropLog::default());
    let arena = Arena::new();
    let keys: Vec<Key> = (0..300)
        .map(|i| arena.insert(Tracked::new(i, &log)))
        .collect();
    let guard = pin(); // holds reclamation back: removals stay pending
    for &k in &keys[..200] {
        arena.remove(k);
    }
    arena.flush();
    drop(arena);
    assert_eq!(log.count(), 300);
    drop(guard);
    // Deferred closures of the dropped arena now run and must not drop anything again.
    for _ in 0..200 {
        pin().flush();
    }
    assert_eq!(log.count(), 300);
}

#[test]
fn mut_api_get_mut_take_retain_drain_clear() {
    let log = Arc::new(DropLog::default());
    let mut arena = Arena::new();
    let keys: Vec<Key> = (0..100)
        .map(|i| arena.insert(Tracked::new(i, &log)))
        .collect();
    arena.get_mut(keys[3]).unwrap().id += 0; // reachable mutably
    assert_eq!(arena.take(keys[0]).unwrap().id, 0);
    assert_eq!(log.count(), 1);
    assert!(arena.take(keys[0]).is_none());
    arena.retain(|_, v| v.id % 2 == 1);
    assert_eq!(arena.len(), 50);
    assert_eq!(log.count(), 50);
    let seen: Vec<u64> = arena.iter_mut().map(|(_, v)| v.id).collect();
    assert_eq!(seen, (0..100).filter(|i| i % 2 == 1).collect::<Vec<_>>());
    let mut drain = arena.drain();
    let (k, first) = drain.next().unwrap();
    assert_eq!((k, first.id), (keys[1], 1));
    drop(first);
    drop(drain); // drops the rest
    assert!(arena.is_empty());
    assert_eq!(log.count(), 100);
    let k = arena.insert(Tracked::new(7, &log));
    arena.clear();
    assert!(!arena.contains(k));
    assert_eq!(log.count(), 101);
    // Capacity is kept and freed slots are reused before fresh ones: a new handle refills
    // from the freed batches first. (This thread's own cache may still hold a few fresh
    // indices, so `Arena::insert` could touch one more chunk.)
    let cap = arena.capacity();
    let high_water = arena.stats().high_water;
    let mut h = arena.handle();
    for i in 0..100 {
        h.insert(Tracked::new(i, &log));
    }
    drop(h);
    assert_eq!(arena.capacity(), cap);
    assert_eq!(arena.stats().high_water, high_water);
}

#[test]
fn iteration_yields_live_entries_in_index_order() {
    let arena = Arena::new();
    let keys: Vec<Key> = (0..200).map(|i| arena.insert(i)).collect();
    for &k in keys.iter().filter(|k| k.index() % 3 == 0) {
        arena.remove(k);
    }
    let guard = pin();
    let got: Vec<(Key, i32)> = arena.iter(&guard).map(|(k, v)| (k, *v)).collect();
    let want: Vec<(Key, i32)> = keys
        .iter()
        .enumerate()
        .filter(|(_, k)| k.index() % 3 != 0)
        .map(|(i, &k)| (k, i as i32))
        .collect();
    assert_eq!(got, want);
    assert!(got.windows(2).all(|w| w[0].0 < w[1].0));
}

#[derive(Debug)]
struct PanicOnDrop(bool, Arc<DropLog>);
impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        self.1.dropped.fetch_add(1, Ordering::SeqCst);
        if self.0 {
            panic!("PanicOnDrop");
        }
    }
}

#[test]
fn panicking_drop_in_clear_drops_the_rest_then_panics() {
    let log = Arc::new(DropLog::default());
    let mut arena = Arena::new();
    let keys: Vec<Key> = (0..10)
        .map(|i| arena.insert(PanicOnDrop(i == 4, Arc::clone(&log))))
        .collect();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| arena.clear()));
    assert!(r.is_err());
    // Like dropping the arena, `clear` drops every value, then resumes the first panic.
    assert_eq!(log.count(), 10);
    assert_eq!(arena.len(), 0);
    assert!(keys.iter().all(|&k| !arena.contains(k)));
    // Every slot is usable again.
    let again: Vec<Key> = (0..10)
        .map(|_| arena.insert(PanicOnDrop(false, Arc::clone(&log))))
        .collect();
    assert!(again.iter().all(|k| !keys.contains(k)));
    arena.clear();
    assert_eq!(log.count(), 20);
    assert!(arena.is_empty());
}

#[test]
fn panicking_drop_during_reclamation_is_contained() {
    let log = Arc::new(DropLog::default());
    let arena = Arena::new();
    let keys: Vec<Key> = (0..130)
        .map(|i| arena.insert(PanicOnDrop(i % 50 == 0, Arc::clone(&log))))
        .collect();
    for &k in &keys {
        arena.remove(k);
    }
    assert!(reclaim_until(&arena, || log.count() == 130));
    assert_eq!(arena.stats().pending_reclamation, 0);
    // The slots were reclaimed and are reusable.
    let mut reused = 0;
    for _ in 0..130 {
        let k = arena.insert(PanicOnDrop(false, Arc::clone(&log)));
        if keys.iter().any(|o| o.index() == k.index()) {
            reused += 1;
        }
    }
    assert!(reused > 0);
}

#[test]
fn panicking_drop_when_dropping_the_arena_drops_the_rest() {
    let log = Arc::new(DropLog::default());
    let arena = Arena::new();
    for i in 0..10 {
        arena.insert(PanicOnDrop(i == 2, Arc::clone(&log)));
    }
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(arena)));
    assert!(r.is_err());
    assert_eq!(log.count(), 10);
}

#[test]
fn arenas_may_hold_borrowed_data() {
    let text = String::from("borrowed");
    let arena: Arena<&str> = Arena::new();
    let k = arena.insert(&text[..4]);
    arena.remove(k);
    arena.insert(&text[4..]);
    drop(arena);
    drop(text);
    for _ in 0..100 {
        pin().flush(); // closures of the dropped arena run after `text` is gone: no T is touched
    }
}

#[test]
fn stats_and_capacity() {
    let arena: Arena<[u64; 4]> = Arena::with_capacity(1000);
    let s = arena.stats();
    assert!(s.slots >= 1000 && s.chunks >= 1 && s.live == 0);
    assert_eq!(
        s.bytes_reserved,
        s.slots * 40,
        "8 bytes of metadata per 32-byte value"
    );
    let before = arena.capacity();
    for i in 0..1000 {
        arena.insert([i; 4]);
    }
    assert_eq!(
        arena.capacity(),
        before,
        "with_capacity preallocated enough"
    );
    assert_eq!(arena.stats().live, 1000);
}

#[test]
fn keys_are_small_and_arenas_are_send_sync() {
    assert_eq!(std::mem::size_of::<Key>(), 8);
    assert_eq!(std::mem::size_of::<Option<Key>>(), 8);
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Arena<String>>();
    send_sync::<Key>();
    fn send<T: Send>() {}
    send::<epoch_arena::Handle<'static, String>>();
    // A root can be made on one thread and kept or dropped on another.
    send_sync::<epoch_arena::Root<'static, Option<Key>>>();
}

#[test]
fn debug_output() {
    let arena = Arena::new();
    let k = arena.insert("x");
    assert_eq!(format!("{arena:?}"), format!("{{{k:?}: \"x\"}}"));
    assert!(format!("{:?}", arena.handle()).starts_with("Handle"));
    assert_eq!(format!("{:?}", pin()), "Guard { .. }");
}

#[test]
fn a_key_seen_by_a_panicking_insert_with_never_names_another_value() {
    // One slot, so the next insertion must reuse the slot the closure was given.
    let arena = Arena::builder().max_slots(1).build();
    let seen = std::cell::Cell::new(None);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        arena.insert_with(|k| -> u32 {
            seen.set(Some(k)); // e.g. linked into another value before failing
            panic!("constructor failed")
        })
    }));
    assert!(r.is_err());
    let seen = seen.get().unwrap();
    let next = arena.insert(7);
    assert_eq!(next.index(), seen.index(), "the slot was reused");
    assert_ne!(next, seen);
    assert_eq!(arena.get(seen, &pin()), None);
    assert!(!arena.contains(seen));

    // The same through a Handle.
    let arena = Arena::builder().max_slots(1).build();
    let mut h = arena.handle();
    let mut seen = None;
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        h.insert_with(|k| -> u32 {
            seen = Some(k);
            panic!("constructor failed")
        })
    }));
    assert!(r.is_err());
    let next = h.insert(8);
    assert_eq!(next.index(), seen.unwrap().index());
    assert_ne!(Some(next), seen);
    assert!(!arena.contains(seen.unwrap()));
}
