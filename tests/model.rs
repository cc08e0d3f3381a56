//! proptest: random operation sequences, shared and `&mut` API, against a `HashMap` model.

use epoch_arena::{pin, Arena, Key};
use proptest::prelude::*;
use std::collections::HashMap;

#[derive(Debug, Clone)]
enum Op {
    Insert(u32),
    InsertWith(u32),
    HandleInsert(u32),
    Get(usize),
    Remove(usize),
    HandleRemove(usize),
    Contains(usize),
    GetMut(usize, u32),
    Take(usize),
    Retain(u32),
    DrainSome(usize),
    Clear,
    Flush,
    Bits(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => any::<u32>().prop_map(Op::Insert),
        2 => any::<u32>().prop_map(Op::InsertWith),
        3 => any::<u32>().prop_map(Op::HandleInsert),
        4 => any::<usize>().prop_map(Op::Get),
        3 => any::<usize>().prop_map(Op::Remove),
        2 => any::<usize>().prop_map(Op::HandleRemove),
        2 => any::<usize>().prop_map(Op::Contains),
        2 => (any::<usize>(), any::<u32>()).prop_map(|(i, v)| Op::GetMut(i, v)),
        2 => any::<usize>().prop_map(Op::Take),
        1 => any::<u32>().prop_map(Op::Retain),
        1 => (0usize..8).prop_map(Op::DrainSome),
        1 => Just(Op::Clear),
        1 => Just(Op::Flush),
        1 => any::<u64>().prop_map(Op::Bits),
    ]
}

/// Picks a key the test has seen (live or dead) from an index.
fn pick(keys: &[Key], i: usize) -> Option<Key> {
    (!keys.is_empty()).then(|| keys[i % keys.len()])
}

fn check(arena: &Arena<u32>, model: &HashMap<Key, u32>) {
    assert_eq!(arena.len(), model.len());
    let guard = pin();
    let got: HashMap<Key, u32> = arena.iter(&guard).map(|(k, v)| (k, *v)).collect();
    assert_eq!(&got, model);
}

fn run(ops: Vec<Op>, max_slots: Option<u32>) {
    let mut arena: Arena<u32> = match max_slots {
        Some(m) => Arena::builder().max_slots(m).build(),
        None => Arena::new(),
    };
    let mut model: HashMap<Key, u32> = HashMap::new();
    let mut seen: Vec<Key> = Vec::new();
    for op in ops {
        match op {
            Op::Insert(v) | Op::InsertWith(v) | Op::HandleInsert(v) => {
                let r = match op {
                    Op::Insert(_) => arena.try_insert(v),
                    Op::HandleInsert(_) => arena.handle().try_insert(v),
                    _ if max_slots.is_none() => Ok(arena.insert_with(|k| {
                        assert!(!model.contains_key(&k));
                        v
                    })),
                    _ => arena.try_insert(v),
                };
                match r {
                    Ok(k) => {
                        assert!(model.insert(k, v).is_none(), "key handed out twice");
                        assert!(!seen.contains(&k), "a stale key came back");
                        seen.push(k);
                    }
                    Err(back) => {
                        assert_eq!(back.kind(), epoch_arena::InsertErrorKind::Full);
                        assert_eq!(back.into_inner(), v);
                        assert!(max_slots.is_some(), "only a capped arena fills up");
                    }
                }
            }
            Op::Get(i) | Op::Contains(i) => {
                if let Some(k) = pick(&seen, i) {
                    let guard = pin();
                    assert_eq!(arena.get(k, &guard), model.get(&k));
                    assert_eq!(arena.contains(k), model.contains_key(&k));
                }
            }
            Op::Remove(i) | Op::HandleRemove(i) => {
                if let Some(k) = pick(&seen, i) {
                    let removed = match op {
                        Op::Remove(_) => arena.remove(k),
                        _ => arena.handle().remove(k),
                    };
                    assert_eq!(removed, model.remove(&k).is_some());
                }
            }
            Op::GetMut(i, v) => {
                if let Some(k) = pick(&seen, i) {
                    match (arena.get_mut(k), model.get_mut(&k)) {
                        (Some(a), Some(m)) => {
                            *a = v;
                            *m = v;
                        }
                        (None, None) => {}
                        (a, m) => panic!("get_mut disagrees: {a:?} vs {m:?}"),
                    }
                }
            }
            Op::Take(i) => {
                if let Some(k) = pick(&seen, i) {
                    assert_eq!(arena.take(k), model.remove(&k));
                }
            }
            Op::Retain(bits) => {
                arena.retain(|k, v| (v.wrapping_add(k.index()) ^ bits) % 3 != 0);
                model.retain(|k, v| (v.wrapping_add(k.index()) ^ bits) % 3 != 0);
            }
            Op::DrainSome(n) => {
                let mut drained: Vec<(Key, u32)> = arena.drain().take(n).collect();
                drained.sort();
                let mut expect: Vec<(Key, u32)> = model.drain().collect();
                expect.sort();
                assert_eq!(drained, expect[..n.min(expect.len())]);
            }
            Op::Clear => {
                arena.clear();
                model.clear();
            }
            Op::Flush => {
                arena.flush();
                pin().flush();
            }
            Op::Bits(bits) => {
                if let Some(k) = Key::from_bits(bits) {
                    let guard = pin();
                    // Arbitrary bits may hit a live key by chance only if they equal it.
                    assert_eq!(arena.get(k, &guard), model.get(&k));
                    assert_eq!(arena.contains(k), model.contains_key(&k));
                }
            }
        }
    }
    check(&arena, &model);
    for &k in &seen {
        assert_eq!(arena.contains(k), model.contains_key(&k));
    }
}

proptest! {
    #![proptest_config(testkit::proptest_config(256, 2))]

    #[test]
    fn model_unbounded(ops in proptest::collection::vec(op(), 0..if cfg!(miri) { 40 } else { 400 })) {
        run(ops, None);
    }

    #[test]
    fn model_capped(ops in proptest::collection::vec(op(), 0..if cfg!(miri) { 40 } else { 400 }), cap in 1u32..40) {
        run(ops, Some(cap));
    }
}
