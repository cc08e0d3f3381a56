#![cfg(feature = "derive")]
//! `#[derive(Trace)]` and `#[derive(Relocate)]` (feature `derive`): the derived impls visit
//! every field that is not skipped, in structs (named, tuple, unit), enums (every variant
//! shape) and generic types, through a real collection (`Arena::collect`) and a real
//! compaction (`Arena::compact_with`). Typed keys: a field of another key type is neither
//! followed nor rewritten.

use epoch_arena::{new_key_type, Arena, ArenaKey, Key, Relocate, Trace};
use std::marker::PhantomData;

/// A type that implements neither trait: fields of it compile only when skipped.
#[derive(Debug, Default, Clone, PartialEq)]
struct Opaque(u32);

/// A named struct: keys in an `Option`, a `Vec`, a `Box`, behind a skipped `String` and
/// with a skipped field of a type without impls.
#[derive(Trace, Relocate, Default)]
struct Named {
    first: Option<Key>,
    many: Vec<Key>,
    #[trace(skip)]
    label: String,
    #[trace(skip)]
    opaque: Opaque,
    boxed: Box<Option<Key>>,
    last: Option<Key>,
}

/// A tuple struct with a skipped key in the middle.
#[derive(Trace, Relocate, Default)]
struct Pair(Option<Key>, #[trace(skip)] Option<Key>, Vec<Key>);

/// A unit struct: no keys.
#[derive(Trace, Relocate)]
struct Unit;

/// An enum without variants: the derives compile (`match *self {}`).
#[derive(Trace, Relocate)]
#[allow(dead_code)]
enum Never {}

/// Every variant shape. (A skipped field no test reads is dead code.)
#[derive(Trace, Relocate)]
#[allow(dead_code)]
enum Shape {
    Leaf,
    Tuple(Key, #[trace(skip)] Key, Option<Key>),
    Named {
        a: Key,
        #[trace(skip)]
        note: String,
        b: Vec<Key>,
    },
    EmptyTuple(),
    EmptyNamed {},
    AllSkipped(#[trace(skip)] Key),
    Nothing(Option<Never>, Unit),
}

/// Generic: lifetime, bounds inline and in a `where` clause, a const parameter, and a type
/// parameter (`U`) named only in a skipped field, which gets no bound (`Opaque` has none).
#[derive(Trace, Relocate)]
#[allow(dead_code)]
struct Generic<'a, T: Clone, U, const N: usize>
where
    T: Send,
{
    inner: T,
    array: [Option<Key>; N],
    #[trace(skip)]
    label: &'a str,
    #[trace(skip)]
    _unbounded: PhantomData<U>,
}

/// A generic enum.
#[derive(Trace, Relocate, Clone)]
enum Either<L, R> {
    Left(L),
    Right { right: R },
}

/// `#[relocate(skip)]`: traced, but not relocated.
#[derive(Trace, Relocate, Default)]
struct RelocateSkip {
    relocated: Option<Key>,
    #[relocate(skip)]
    traced_only: Option<Key>,
}

new_key_type! {
    struct NodeId;
    struct StyleId;
}

/// Keys of the arena's own type (`NodeId`) and of two other key types.
#[derive(Trace, Relocate, Default)]
struct TypedNode {
    children: Vec<NodeId>,
    style: Option<StyleId>,
    untyped: Option<Key>,
    parent: Option<NodeId>,
}

/// Which of `keys` are still in `arena`.
fn alive<T: Send + Sync, K: ArenaKey>(arena: &Arena<T, K>, keys: &[K]) -> Vec<bool> {
    keys.iter().map(|&k| arena.contains(k)).collect()
}

#[test]
fn derived_trace_on_a_named_struct_keeps_exactly_what_it_reaches() {
    let arena: Arena<Named> = Arena::new();
    let leaf = || arena.insert(Named::default());
    let [a, b, c, e, unreachable] = [leaf(), leaf(), leaf(), leaf(), leaf()];
    // `e` only through `d`, itself reached through the last field: transitive.
    let d = arena.insert(Named {
        last: Some(e),
        ..Named::default()
    });
    let root = arena.insert(Named {
        first: Some(a),
        many: vec![b],
        label: "root".into(),
        opaque: Opaque(1),
        boxed: Box::new(Some(c)),
        last: Some(d),
    });
    let stats = arena.collect([root]);
    assert_eq!((stats.marked, stats.swept), (6, 1));
    assert_eq!(
        alive(&arena, &[root, a, b, c, d, e, unreachable]),
        [true, true, true, true, true, true, false]
    );
}

#[test]
fn derived_trace_on_a_tuple_struct_skips_the_skipped_field() {
    let arena: Arena<Pair> = Arena::new();
    let [a, skipped, b, c] = [0; 4].map(|_| arena.insert(Pair::default()));
    let root = arena.insert(Pair(Some(a), Some(skipped), vec![b, c]));
    let stats = arena.collect([root]);
    assert_eq!((stats.marked, stats.swept), (4, 1));
    assert_eq!(
        alive(&arena, &[root, a, skipped, b, c]),
        [true, true, false, true, true]
    );
}

#[test]
fn a_key_held_only_in_a_skipped_field_is_swept() {
    let arena: Arena<Named> = Arena::new();
    let kept = arena.insert(Named::default());
    let skipped = arena.insert(Named::default());
    // A `String` cannot hold a key, so the skipped key is in a `Pair`'s middle field.
    let pairs: Arena<Pair> = Arena::new();
    let p_kept = pairs.insert(Pair::default());
    let p_skipped = pairs.insert(Pair::default());
    let p_root = pairs.insert(Pair(None, Some(p_skipped), vec![p_kept]));
    let stats = pairs.collect([p_root]);
    assert_eq!((stats.marked, stats.swept), (2, 1));
    assert_eq!(
        alive(&pairs, &[p_root, p_kept, p_skipped]),
        [true, true, false]
    );

    // Named: the label is skipped; a root whose only key is in `first` keeps `kept` alone.
    let root = arena.insert(Named {
        first: Some(kept),
        label: format!("{skipped:?}"),
        ..Named::default()
    });
    let stats = arena.collect([root]);
    assert_eq!((stats.marked, stats.swept), (2, 1));
    assert_eq!(alive(&arena, &[root, kept, skipped]), [true, true, false]);

    // Shape: a variant whose only field is skipped reports nothing.
    let shapes: Arena<Shape> = Arena::new();
    let target = shapes.insert(Shape::Leaf);
    let root = shapes.insert(Shape::AllSkipped(target));
    let stats = shapes.collect([root]);
    assert_eq!((stats.marked, stats.swept), (1, 1));
    assert!(!shapes.contains(target));
}

#[test]
fn derived_trace_on_an_enum_follows_every_variant_shape() {
    let arena: Arena<Shape> = Arena::new();
    let leaf = || arena.insert(Shape::Leaf);
    let [a, t0, skipped, t2, e1, e2, n] = [leaf(), leaf(), leaf(), leaf(), leaf(), leaf(), leaf()];
    let tuple = arena.insert(Shape::Tuple(t0, skipped, Some(t2)));
    let empty_tuple = arena.insert(Shape::EmptyTuple());
    let empty_named = arena.insert(Shape::EmptyNamed {});
    let nothing = arena.insert(Shape::Nothing(None, Unit));
    let root = arena.insert(Shape::Named {
        a,
        note: format!("{n:?}"),
        b: vec![tuple, empty_tuple, empty_named, nothing],
    });
    let _ = (e1, e2);
    let stats = arena.collect([root]);
    // root, a, tuple, t0, t2, empty_tuple, empty_named, nothing; not skipped, e1, e2, n.
    assert_eq!((stats.marked, stats.swept), (8, 4));
    assert_eq!(
        alive(
            &arena,
            &[root, a, tuple, t0, t2, empty_tuple, empty_named, nothing]
        ),
        [true; 8]
    );
    assert_eq!(alive(&arena, &[skipped, e1, e2, n]), [false; 4]);
}

#[test]
fn derived_trace_on_generic_types_and_a_unit_struct() {
    type G = Generic<'static, Either<Key, Vec<Key>>, Opaque, 2>;
    let arena: Arena<G> = Arena::new();
    let leaf = || {
        arena.insert(G {
            inner: Either::Right { right: vec![] },
            array: [None; 2],
            label: "leaf",
            _unbounded: PhantomData,
        })
    };
    let [l, r0, r1, a0, a1, unreachable] = [leaf(), leaf(), leaf(), leaf(), leaf(), leaf()];
    let left = arena.insert(G {
        inner: Either::Left(l),
        array: [None, Some(a1)],
        label: "left",
        _unbounded: PhantomData,
    });
    let root = arena.insert(G {
        inner: Either::Right {
            right: vec![r0, r1, left],
        },
        array: [Some(a0), None],
        label: "root",
        _unbounded: PhantomData,
    });
    let stats = arena.collect([root]);
    assert_eq!((stats.marked, stats.swept), (7, 1));
    assert_eq!(
        alive(&arena, &[root, left, l, r0, r1, a0, a1, unreachable]),
        [true, true, true, true, true, true, true, false]
    );

    let units: Arena<Unit> = Arena::new();
    let [kept, swept] = [0; 2].map(|_| units.insert(Unit));
    let stats = units.collect([kept]);
    assert_eq!((stats.marked, stats.swept), (1, 1));
    assert_eq!(alive(&units, &[kept, swept]), [true, false]);
}

/// Fills `arena` with `holes` values made by `filler`, runs `fill` (which inserts the
/// values under test, above the fillers), and takes the fillers: a compaction then moves
/// every value `fill` inserted (when it inserted at most `holes`) into the holes below.
fn above_holes<T: Send + Sync, K: ArenaKey, R>(
    arena: &mut Arena<T, K>,
    holes: usize,
    filler: impl Fn() -> T,
    fill: impl FnOnce(&mut Arena<T, K>) -> R,
) -> R {
    let fillers: Vec<K> = (0..holes).map(|_| arena.insert(filler())).collect();
    let out = fill(arena);
    for k in fillers {
        assert!(arena.take(k).is_some());
    }
    out
}

#[test]
fn derived_relocate_rewrites_every_field_that_is_not_skipped() {
    let mut arena: Arena<Named> = Arena::new();
    let (keys, root) = above_holes(&mut arena, 8, Named::default, |arena| {
        let keys: Vec<Key> = (0..5).map(|_| arena.insert(Named::default())).collect();
        let root = arena.insert(Named {
            first: Some(keys[0]),
            many: vec![keys[1], keys[2]],
            label: "root".into(),
            opaque: Opaque(7),
            boxed: Box::new(Some(keys[3])),
            last: Some(keys[4]),
        });
        (keys, root)
    });
    let remap = arena.compact_with(|v, r| v.relocate(r));
    assert_eq!(remap.moved(), 6);
    let new: Vec<Key> = keys.iter().map(|&k| remap.get(k).unwrap()).collect();
    assert!(keys.iter().zip(&new).all(|(old, new)| old != new));
    let root = arena.get_mut(remap.get(root).unwrap()).unwrap();
    assert_eq!(root.first, Some(new[0]));
    assert_eq!(root.many, [new[1], new[2]]);
    assert_eq!(*root.boxed, Some(new[3]));
    assert_eq!(root.last, Some(new[4]));
    assert_eq!((root.label.as_str(), &root.opaque), ("root", &Opaque(7)));
}

#[test]
fn derived_relocate_leaves_skipped_fields_as_they_are() {
    // `#[trace(skip)]` in a tuple struct.
    let mut pairs: Arena<Pair> = Arena::new();
    let (a, skipped, b, root) = above_holes(&mut pairs, 4, Pair::default, |arena| {
        let [a, skipped, b] = [0; 3].map(|_| arena.insert(Pair::default()));
        let root = arena.insert(Pair(Some(a), Some(skipped), vec![b]));
        (a, skipped, b, root)
    });
    let remap = pairs.compact_with(|v, r| v.relocate(r));
    assert_eq!(remap.moved(), 4);
    let root = pairs.get_mut(remap.get(root).unwrap()).unwrap();
    assert_eq!(root.0, remap.get(a));
    assert_eq!(root.1, Some(skipped)); // not rewritten: now stale
    assert_eq!(root.2, [remap.get(b).unwrap()]);
    assert!(!pairs.contains(skipped));

    // `#[relocate(skip)]`: relocated no more than `#[trace(skip)]`.
    let mut arena: Arena<RelocateSkip> = Arena::new();
    let (r, t, root) = above_holes(&mut arena, 3, RelocateSkip::default, |arena| {
        let [r, t] = [0; 2].map(|_| arena.insert(RelocateSkip::default()));
        let root = arena.insert(RelocateSkip {
            relocated: Some(r),
            traced_only: Some(t),
        });
        (r, t, root)
    });
    let remap = arena.compact_with(|v, r| v.relocate(r));
    assert_eq!(remap.moved(), 3);
    let root = remap.get(root).unwrap();
    let node = arena.get_mut(root).unwrap();
    assert_eq!(node.relocated, remap.get(r));
    assert_eq!(node.traced_only, Some(t));
    // ...but it is traced: `t`'s new key is reached through nothing, the old one is dead,
    // so only `r` survives beside the root.
    let stats = arena.collect([root]);
    assert_eq!((stats.marked, stats.swept), (2, 1));
}

#[test]
fn derived_relocate_on_enums_and_generics() {
    let mut arena: Arena<Shape> = Arena::new();
    let (keys, tuple, named) = above_holes(
        &mut arena,
        6,
        || Shape::Leaf,
        |arena| {
            let keys: Vec<Key> = (0..4).map(|_| arena.insert(Shape::Leaf)).collect();
            let tuple = arena.insert(Shape::Tuple(keys[0], keys[1], Some(keys[2])));
            let named = arena.insert(Shape::Named {
                a: keys[3],
                note: "n".into(),
                b: vec![tuple],
            });
            (keys, tuple, named)
        },
    );
    let remap = arena.compact_with(|v, r| v.relocate(r));
    assert_eq!(remap.moved(), 6);
    let new = |k: Key| remap.get(k).unwrap();
    match arena.get_mut(new(tuple)).unwrap() {
        Shape::Tuple(a, skipped, c) => {
            assert_eq!(
                (*a, *skipped, *c),
                (new(keys[0]), keys[1], Some(new(keys[2])))
            );
        }
        _ => unreachable!(),
    }
    match arena.get_mut(new(named)).unwrap() {
        Shape::Named { a, b, note } => {
            assert_eq!(
                (*a, b.as_slice(), note.as_str()),
                (new(keys[3]), &[new(tuple)][..], "n")
            );
        }
        _ => unreachable!(),
    }

    type G = Generic<'static, Either<Vec<Key>, Key>, Opaque, 1>;
    let leaf = || G {
        inner: Either::Left(vec![]),
        array: [None],
        label: "",
        _unbounded: PhantomData,
    };
    let mut arena: Arena<G> = Arena::new();
    let (l, a, r, left, right) = above_holes(&mut arena, 5, leaf, |arena| {
        let [l, a, r] = [0; 3].map(|_| arena.insert(leaf()));
        let left = arena.insert(G {
            inner: Either::Left(vec![l]),
            array: [Some(a)],
            ..leaf()
        });
        let right = arena.insert(G {
            inner: Either::Right { right: r },
            ..leaf()
        });
        (l, a, r, left, right)
    });
    let remap = arena.compact_with(|v, r| v.relocate(r));
    assert_eq!(remap.moved(), 5);
    let new = |k: Key| remap.get(k).unwrap();
    let node = arena.get_mut(new(left)).unwrap();
    assert!(matches!(&node.inner, Either::Left(v) if *v == [new(l)]));
    assert_eq!(node.array, [Some(new(a))]);
    let node = arena.get_mut(new(right)).unwrap();
    assert!(matches!(node.inner, Either::Right { right } if right == new(r)));
}

#[test]
fn typed_keys_trace_and_relocate_only_the_arenas_own_key_type() {
    let mut nodes = Arena::<TypedNode, NodeId>::with_key();
    let (kids, decoy, root) = above_holes(&mut nodes, 6, TypedNode::default, |nodes| {
        let kids: Vec<NodeId> = (0..3).map(|_| nodes.insert(TypedNode::default())).collect();
        let decoy = [0; 2].map(|_| nodes.insert(TypedNode::default()));
        // The decoys are named by a `StyleId` and a `Key` with their bits: neither is
        // followed nor rewritten in an arena of `NodeId`s.
        let root = nodes.insert(TypedNode {
            children: vec![kids[0], kids[1]],
            style: Some(StyleId::from_key(decoy[0].to_key())),
            untyped: Some(decoy[1].to_key()),
            parent: Some(kids[2]),
        });
        (kids, decoy, root)
    });

    let remap = nodes.compact_with(|v, r| v.relocate(r));
    assert_eq!(remap.moved(), 6);
    let new = |k: NodeId| remap.get(k).unwrap();
    let root = new(root);
    let node = nodes.get_mut(root).unwrap();
    assert_eq!(node.children, [new(kids[0]), new(kids[1])]);
    assert_eq!(node.parent, Some(new(kids[2])));
    // Other key types: left as they were, although their bits named moved `NodeId`s.
    assert_eq!(node.style, Some(StyleId::from_key(decoy[0].to_key())));
    assert_eq!(node.untyped, Some(decoy[1].to_key()));
    // Point them at the decoys' new slots: still not followed.
    node.style = Some(StyleId::from_key(new(decoy[0]).to_key()));
    node.untyped = Some(new(decoy[1]).to_key());

    let stats = nodes.collect([root]);
    assert_eq!((stats.marked, stats.swept), (4, 2));
    let kept = [root, new(kids[0]), new(kids[1]), new(kids[2])];
    assert_eq!(alive(&nodes, &kept), [true; 4]);
    assert_eq!(alive(&nodes, &[new(decoy[0]), new(decoy[1])]), [false; 2]);
}

/// Counts the `Trace::prefetch` calls it receives (the hint has `&self` only).
#[derive(Default)]
struct PrefetchProbe(std::cell::Cell<u32>);

impl Trace for PrefetchProbe {
    fn trace(&self, _: &mut epoch_arena::Tracer<'_>) {}
    fn prefetch(&self) {
        self.0.set(self.0.get() + 1);
    }
}

#[derive(Trace, Default)]
struct Prefetched {
    a: PrefetchProbe,
    #[trace(skip)]
    skipped: PrefetchProbe,
    nested: Option<PrefetchProbe>,
}

#[derive(Trace)]
#[allow(dead_code)]
enum PrefetchedEnum {
    Empty,
    Tuple(PrefetchProbe, #[trace(skip)] PrefetchProbe),
    Named { a: PrefetchProbe },
}

#[test]
fn derived_prefetch_forwards_to_every_field_that_is_not_skipped() {
    let s = Prefetched {
        nested: Some(PrefetchProbe::default()),
        ..Prefetched::default()
    };
    s.prefetch();
    s.prefetch();
    assert_eq!(s.a.0.get(), 2);
    assert_eq!(s.skipped.0.get(), 0, "a skipped field is not visited");
    assert_eq!(s.nested.as_ref().unwrap().0.get(), 2);

    let t = PrefetchedEnum::Tuple(PrefetchProbe::default(), PrefetchProbe::default());
    t.prefetch();
    let PrefetchedEnum::Tuple(visited, skipped) = &t else {
        unreachable!()
    };
    assert_eq!((visited.0.get(), skipped.0.get()), (1, 0));
    let n = PrefetchedEnum::Named {
        a: PrefetchProbe::default(),
    };
    n.prefetch();
    let PrefetchedEnum::Named { a } = &n else {
        unreachable!()
    };
    assert_eq!(a.0.get(), 1);
    PrefetchedEnum::Empty.prefetch();
}
