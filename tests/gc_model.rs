//! proptest: garbage collection against a reachability oracle.
//!
//! The oracle is `testkit::gc_oracle` (the `gc` fuzz target drives it too). A model keeps
//! every live value's edges (the raw keys it holds, stale and made-up ones included) in a
//! `BTreeMap`. Before each collection the oracle walks it breadth-first from the roots (the
//! `roots` argument plus every live `Root` handle), following only edges that name a live
//! value, exactly as `get` would. After the collection:
//!
//! * the arena holds exactly the reachable values (`iter`, with their ids and edges, `len`,
//!   `stats().live`, and `contains` for every key ever handed out);
//! * `marked` is the number of reachable values, `swept` the number of live values before
//!   minus that, `roots` the argument count plus the live `Root`s, `threads` as asked;
//! * a reachable value whose `Trace` panics makes `collect` panic with nothing swept;
//! * no value still live was dropped; after reclamation, exactly the removed and swept
//!   values were dropped, each once, and dropping the arena drops the rest, each once.
//!
//! `single_collection` builds one random graph (self-loops, cycles, shared children, stale
//! keys of removed values, keys of values whose slots were reused, keys with a live index
//! and a wrong generation, keys made from arbitrary bits or with an index past the
//! capacity, as edges, as roots and as `Root`s) twice, collects one copy with one marker
//! and the other with two (`parallel_min_slots: 0`), then each again with the other count,
//! then without roots. `rounds_of_edits_and_collections` interleaves collections (one or
//! two markers) with graph edits: inserts, links and unlinks (under `shade`), removals,
//! rooting and unrooting, arming and disarming a `Trace` that panics, and reclamation,
//! often in a small capped arena so that slots are reused; the arena is checked against the
//! model after every step, and dropped at the end while values are live.
//! `every_kind_of_edge_and_root` is one hand-made graph with all of the above, so that the
//! few cases miri runs cover them too.

use epoch_arena::Key;
use proptest::prelude::*;
use testkit::gc_oracle::{with_model, KeySel, Model, Op};

fn sel() -> impl Strategy<Value = KeySel> {
    prop_oneof![
        8 => any::<usize>().prop_map(KeySel::Live),
        3 => any::<usize>().prop_map(KeySel::Issued),
        2 => any::<usize>().prop_map(KeySel::Dead),
        1 => any::<usize>().prop_map(KeySel::Wrong),
        1 => Just(KeySel::Me),
        1 => (any::<u8>(), any::<u8>())
            .prop_map(|(index, generation)| KeySel::Small { index: index % 64, generation }),
        1 => any::<u32>().prop_map(KeySel::Far),
        1 => any::<u64>().prop_map(KeySel::Raw),
    ]
}

/// One random graph.
#[derive(Debug, Clone)]
struct Graph {
    /// `ghosts` values are inserted, removed and reclaimed first. With `Some(slack)` the
    /// arena is capped at `slack` slots more than the ghosts or the nodes need, so the
    /// nodes reuse the ghosts' slots and the ghosts' keys are stale at indices that hold
    /// live values; `None`: unlimited.
    slack: Option<u32>,
    ghosts: usize,
    /// Each node's edges.
    nodes: Vec<Vec<KeySel>>,
    /// Nodes removed before the collection (by position).
    removed: Vec<usize>,
    /// The `roots` argument.
    roots: Vec<KeySel>,
    /// Keys rooted with `Root` handles; the `bool` drops the handle again.
    handles: Vec<(KeySel, bool)>,
    /// Nodes whose `Trace` panics.
    armed: Vec<usize>,
}

const MAX_NODES: usize = if cfg!(miri) { 8 } else { 24 };

fn graph() -> impl Strategy<Value = Graph> {
    (
        prop_oneof![Just(None), (0u32..4).prop_map(Some)],
        0usize..MAX_NODES,
        proptest::collection::vec(proptest::collection::vec(sel(), 0..4), 0..MAX_NODES),
        proptest::collection::vec(any::<usize>(), 0..4),
        proptest::collection::vec(sel(), 0..5),
        proptest::collection::vec((sel(), any::<bool>()), 0..3),
        prop_oneof![4 => Just(vec![]), 1 => proptest::collection::vec(any::<usize>(), 1..2)],
    )
        .prop_map(
            |(slack, ghosts, nodes, removed, roots, handles, armed)| Graph {
                slack,
                ghosts,
                nodes,
                removed,
                roots,
                handles,
                armed,
            },
        )
}

fn single(g: &Graph, two: bool) {
    let cap = g
        .slack
        .map(|s| s + g.ghosts.max(g.nodes.len()).max(1) as u32);
    with_model(cap, |m| single_in(m, g, two));
}

fn single_in(m: &mut Model<'_>, g: &Graph, two: bool) {
    for _ in 0..g.ghosts {
        if let Some(k) = m.insert(vec![], None) {
            m.remove(k);
        }
    }
    m.reclaim();
    // Insert every node, then set the edges, so edges can point forwards and backwards.
    let keys: Vec<Key> = g
        .nodes
        .iter()
        .filter_map(|_| m.insert(vec![], None))
        .collect();
    // Node positions for `Live`, so that the graph's shape does not depend on key order.
    let node_key = |m: &Model<'_>, s: KeySel, me: Option<Key>| match s {
        KeySel::Live(i) if !keys.is_empty() => Some(keys[i % keys.len()]),
        _ => m.key(s, me),
    };
    for (&k, edges) in keys.iter().zip(&g.nodes) {
        for &s in edges {
            if let Some(to) = node_key(m, s, Some(k)) {
                m.link(k, to);
            }
        }
    }
    if !keys.is_empty() {
        for &i in &g.armed {
            m.arm(keys[i % keys.len()], true);
        }
        for &i in &g.removed {
            m.remove(keys[i % keys.len()]);
        }
    }
    for &(s, drop_it) in &g.handles {
        if let Some(k) = node_key(m, s, None) {
            if drop_it {
                drop(m.arena().root(k));
            } else {
                m.root(k);
            }
        }
    }
    let roots: Vec<Key> = g
        .roots
        .iter()
        .filter_map(|&s| node_key(m, s, None))
        .collect();
    m.check();
    m.collect(&roots, two);
    // Again, with the other marker count: nothing more to sweep.
    m.collect(&roots, !two);
    m.reclaim();
    m.sweep_all(two);
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (proptest::collection::vec(sel(), 0..3), proptest::option::of(any::<usize>()))
            .prop_map(|(edges, parent)| Op::Insert { edges, parent, extras: Default::default() }),
        4 => (any::<usize>(), sel()).prop_map(|(from, to)| Op::Link { from, to }),
        2 => (any::<usize>(), any::<usize>()).prop_map(|(from, edge)| Op::Unlink { from, edge }),
        2 => sel().prop_map(Op::Remove),
        2 => sel().prop_map(Op::Root),
        1 => any::<usize>().prop_map(Op::Unroot),
        1 => (any::<usize>(), prop::bool::weighted(0.3)).prop_map(|(node, armed)| Op::Bomb { node, armed }),
        3 => (proptest::collection::vec(sel(), 0..3), any::<bool>())
            .prop_map(|(roots, two)| Op::Collect { roots, two }),
        1 => Just(Op::Reclaim),
        1 => Just(Op::NewMutator),
        3 => (any::<usize>(), proptest::collection::vec(sel(), 0..3))
            .prop_map(|(mutator, edges)| Op::Fresh { mutator, edges }),
        1 => any::<usize>().prop_map(Op::Safepoint),
        1 => any::<usize>().prop_map(Op::DropMutator),
    ]
}

fn rounds(cap: Option<u32>, ops: Vec<Op>) {
    with_model(cap, |m| {
        for op in &ops {
            m.apply(op);
            m.check();
        }
        // A final collection with the handles only; dropping the arena drops the rest.
        m.disarm_all();
        m.collect(&[], false);
        m.reclaim();
    });
}

/// One hand-made graph with every kind of edge and root, so that even the few cases miri
/// runs cover all of them.
#[test]
fn every_kind_of_edge_and_root() {
    for two in [false, true] {
        with_model(Some(8), |m| every_kind_in(m, two));
    }
}

fn every_kind_in(m: &mut Model<'_>, two: bool) {
    // Ghosts: removed and reclaimed, so the nodes below reuse their slots and the
    // ghosts' keys are stale at indices that hold live values.
    let ghosts: Vec<Key> = (0..4).map(|_| m.insert(vec![], None).unwrap()).collect();
    for &g in &ghosts {
        m.remove(g);
    }
    m.reclaim();
    let n: Vec<Key> = (0..8).map(|_| m.insert(vec![], None).unwrap()).collect();
    assert!(
        ghosts
            .iter()
            .all(|g| n.iter().any(|k| k.index() == g.index())),
        "the ghosts' slots were reused"
    );
    let far = Key::from_bits(1 << 62 | 1).unwrap();
    let wrong_generation =
        Key::from_bits(u64::from(n[5].index()) << 32 | u64::from(n[5].generation() + 4)).unwrap();
    // 0 -> 1, 2 (a tree); 1 -> 3 and 2 -> 3 (shared); 3 -> 0 (a cycle); 3 -> 3 (a
    // self-loop); 0 -> the ghosts, a far index, a wrong generation of 5 (all ignored);
    // 1 -> 7, removed below (stale); 4 <-> 5 (an unreachable cycle pointing in: 5 -> 0);
    // 6 -> 6, reachable only through a `Root`.
    for (a, b) in [
        (0, 1),
        (0, 2),
        (1, 3),
        (2, 3),
        (3, 0),
        (3, 3),
        (1, 7),
        (4, 5),
    ] {
        m.link(n[a], n[b]);
    }
    for (a, b) in [(5, 4), (5, 0), (6, 6)] {
        m.link(n[a], n[b]);
    }
    for &e in ghosts.iter().chain([&far, &wrong_generation]) {
        m.link(n[0], e);
    }
    m.remove(n[7]);
    m.root(n[6]);
    m.root(ghosts[0]); // stale
    m.root(far);
    let stats = m
        .collect(&[n[0], ghosts[1], wrong_generation], two)
        .unwrap();
    assert_eq!((stats.marked, stats.swept, stats.roots), (5, 2, 6));
    // A reachable value whose `Trace` panics: nothing is swept.
    m.arm(n[2], true);
    assert!(m.collect(&[n[0]], two).is_none());
    // Unlinked (0 -> 2 is the second edge), it is not traced, and goes.
    m.unlink(n[0], 1);
    let stats = m.collect(&[n[0]], two).unwrap();
    assert_eq!((stats.marked, stats.swept), (4, 1));
    m.unroot_all();
    assert_eq!(m.collect(&[], two).unwrap().swept, 4);
    assert!(m.arena().is_empty());
    m.reclaim();
}

proptest! {
    #![proptest_config(testkit::proptest_config(256, 8))]

    #[test]
    fn single_collection(g in graph()) {
        single(&g, false);
        single(&g, true);
    }

    #[test]
    fn rounds_of_edits_and_collections(
        cap in prop_oneof![Just(None), (8u32..48).prop_map(Some)],
        ops in proptest::collection::vec(op(), 0..if cfg!(miri) { 30 } else { 120 }),
    ) {
        rounds(cap, ops);
    }
}
