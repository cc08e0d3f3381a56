//! The operations the tests and the fuzz target drive the model with, and how they pick
//! keys.

use super::Model;
use crate::Rng;
use epoch_arena::Key;

/// How an operation picks a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySel {
    /// A live key (by position in key order), if any.
    Live(usize),
    /// A key handed out earlier, live or dead.
    Issued(usize),
    /// A key of a removed or swept value, if any (its slot may hold a newer value now).
    Dead(usize),
    /// A live value's index with another generation: the one before if any (what a key of
    /// the slot's previous value looks like), else the next one.
    Wrong(usize),
    /// The value the key is stored into (a self-loop); elsewhere, `Live(0)`.
    Me,
    /// A made-up key with index `index` and generation `4 * generation + 1` (the form every
    /// generation of a live value has): small numbers hit real slots, with the right
    /// generation or a wrong one.
    Small {
        /// The slot index.
        index: u8,
        /// The generation is `4 * generation + 1`.
        generation: u8,
    },
    /// A made-up key with an index far past any arena's capacity.
    Far(u32),
    /// Arbitrary bits (nothing, if `Key::from_bits` rejects them).
    Raw(u64),
}

/// Extras for an inserted node.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Extras {
    /// The node holds its own key.
    pub self_loop: bool,
    /// The node panics (with [`DropPanic`](super::DropPanic)) when dropped.
    pub panicky_drop: bool,
    /// A `Root` handle is made for the node.
    pub rooted: bool,
    /// The node's `Trace` panics.
    pub armed: bool,
}

/// One edit, or a collection or reclamation, for [`Model::apply`]. Indices that pick a live
/// value or a handle are taken modulo their number; an operation with nothing to pick from
/// does nothing.
#[derive(Debug, Clone)]
pub enum Op {
    /// Insert a node holding `edges` (shaded first), linked into a live `parent`, all under
    /// one guard.
    Insert {
        /// The node's edges.
        edges: Vec<KeySel>,
        /// A live value the node is linked into.
        parent: Option<usize>,
        /// See [`Extras`].
        extras: Extras,
    },
    /// `n` nodes, each linked from an earlier one of them (`shape` seeds the choice, and adds
    /// shared children), the first from a live `parent`; `cycle` links the last one back to
    /// the first. Stops when the arena is full.
    InsertTree {
        /// How many nodes.
        n: usize,
        /// The seed of the tree's shape.
        shape: u64,
        /// A live value the first node is linked into.
        parent: Option<usize>,
        /// The last node links back to the first.
        cycle: bool,
    },
    /// Store a key into a live value (shade first).
    Link {
        /// The live value.
        from: usize,
        /// The key stored.
        to: KeySel,
    },
    /// Remove one edge of a live value.
    Unlink {
        /// The live value.
        from: usize,
        /// Which of its edges.
        edge: usize,
    },
    /// Remove a value.
    Remove(KeySel),
    /// Make a `Root` handle.
    Root(KeySel),
    /// Drop a `Root` handle.
    Unroot(usize),
    /// Arm or disarm the `Trace` panic of a live value.
    Bomb {
        /// The live value.
        node: usize,
        /// Arm (or disarm).
        armed: bool,
    },
    /// Collect with these roots (and the handles), checked against the oracle.
    Collect {
        /// The `roots` argument.
        roots: Vec<KeySel>,
        /// Two markers (`parallel_min_slots: 0`), else one.
        two: bool,
    },
    /// Drive reclamation until nothing is pending.
    Reclaim,
    /// Register a `Mutator` (at most 4 live).
    NewMutator,
    /// Insert a node holding `edges` (shaded first, under a guard that ends with the
    /// insertion) through a mutator, linked nowhere: a fresh key.
    Fresh {
        /// Which mutator.
        mutator: usize,
        /// The node's edges.
        edges: Vec<KeySel>,
    },
    /// A mutator's safepoint.
    Safepoint(usize),
    /// Drop a mutator.
    DropMutator(usize),
}

impl Model<'_> {
    /// The `i`-th live key (modulo their number) in key order, if any.
    pub fn live_key(&self, i: usize) -> Option<Key> {
        if self.live.is_empty() {
            return None;
        }
        self.live.keys().nth(i % self.live.len()).copied()
    }

    /// The key `sel` names; `me` is the value it will be stored into, if any.
    pub fn key(&self, sel: KeySel, me: Option<Key>) -> Option<Key> {
        let pick = |keys: &[Key], i: usize| (!keys.is_empty()).then(|| keys[i % keys.len()]);
        match sel {
            KeySel::Live(i) => self.live_key(i),
            KeySel::Issued(i) => pick(&self.issued, i),
            KeySel::Dead(i) => pick(&self.dead, i),
            KeySel::Wrong(i) => self.live_key(i).map(|k| {
                let g = k.generation();
                let g = if g > 4 { g - 4 } else { g + 4 };
                let bits = (u64::from(k.index()) << 32) | u64::from(g);
                Key::from_bits(bits).expect("generation ≡ 1 mod 4")
            }),
            KeySel::Me => me.or_else(|| self.live_key(0)),
            KeySel::Small { index, generation } => {
                let bits = (u64::from(index) << 32) | (u64::from(generation) * 4 + 1);
                Some(Key::from_bits(bits).expect("generation ≡ 1 mod 4"))
            }
            KeySel::Far(i) => Key::from_bits((u64::from(i | 1 << 31) << 32) | 1),
            KeySel::Raw(bits) => Key::from_bits(bits),
        }
    }

    /// The keys `sels` name (those that name one).
    pub fn keys(&self, sels: &[KeySel], me: Option<Key>) -> Vec<Key> {
        sels.iter().filter_map(|&s| self.key(s, me)).collect()
    }

    /// Applies `op` (no checks after it: call [`Model::check_counts`] or [`Model::check`]).
    pub fn apply(&mut self, op: &Op) {
        match op {
            Op::Insert {
                edges,
                parent,
                extras,
            } => {
                let edges = self.keys(edges, None);
                let parent = parent.and_then(|p| self.live_key(p));
                self.insert_with_extras(edges, parent, *extras);
            }
            &Op::InsertTree {
                n,
                shape,
                parent,
                cycle,
            } => {
                let mut rng = Rng::new(shape);
                let mut new: Vec<Key> = Vec::new();
                let first_parent = parent.and_then(|p| self.live_key(p));
                for i in 0..n {
                    let parent = if i == 0 {
                        first_parent
                    } else {
                        Some(new[rng.below(i)])
                    };
                    // Sometimes a second edge to an earlier node: shared children.
                    let edges = if i > 0 && rng.below(4) == 0 {
                        vec![new[rng.below(i)]]
                    } else {
                        vec![]
                    };
                    match self.insert(edges, parent) {
                        Some(k) => new.push(k),
                        None => break,
                    }
                }
                if cycle && new.len() > 1 {
                    self.link(new[new.len() - 1], new[0]);
                }
            }
            &Op::Link { from, to } => {
                if let Some(from) = self.live_key(from) {
                    if let Some(to) = self.key(to, Some(from)) {
                        self.link(from, to);
                    }
                }
            }
            &Op::Unlink { from, edge } => {
                if let Some(from) = self.live_key(from) {
                    self.unlink(from, edge);
                }
            }
            &Op::Remove(sel) => {
                if let Some(k) = self.key(sel, None) {
                    self.remove(k);
                }
            }
            &Op::Root(sel) => {
                if let Some(k) = self.key(sel, None) {
                    self.root(k);
                }
            }
            &Op::Unroot(i) => self.unroot(i),
            &Op::Bomb { node, armed } => {
                if let Some(k) = self.live_key(node) {
                    self.arm(k, armed);
                }
            }
            Op::Collect { roots, two } => {
                let roots = self.keys(roots, None);
                self.collect(&roots, *two);
            }
            Op::Reclaim => self.reclaim(),
            Op::NewMutator => self.new_mutator(),
            Op::Fresh { mutator, edges } => {
                let edges = self.keys(edges, None);
                self.insert_fresh(*mutator, edges);
            }
            &Op::Safepoint(i) => self.safepoint(i),
            &Op::DropMutator(i) => self.drop_mutator(i),
        }
    }
}
