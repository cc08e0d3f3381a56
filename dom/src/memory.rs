//! Giving memory back after a collection, and checking that the trees survived it.
//!
//! A collection frees the slots of the dropped documents, but the memory stays with the
//! arena: the kept documents' nodes are scattered among the free slots. Two steps give it
//! back:
//!
//! * [`Arena::trim`] returns the pages in which no slot holds a node, while other threads
//!   keep working; nothing moves. Pages shared with a kept node stay.
//! * [`compact`] moves every live node to the lowest slots and frees the chunks above. The
//!   moved nodes get new keys, so it rewrites every link of every node (through
//!   [`Node`]'s [`Relocate`] impl) and the keys held outside the arena (the documents'
//!   keys: see [`Parsed::unroot`](crate::Parsed::unroot)). It needs the arena exclusively.
//!
//! [`link_shape`] and [`check_links`] show that the links survived: the shape is every
//! node's links as positions in the document's pre-order walk, so it is equal before and
//! after a compaction exactly when every link still points to the same node; the check
//! verifies that parent, child and sibling links agree with each other.

use crate::node::{Node, NodeId};
use epoch_arena::{Arena, Guard, Relocate, Remap};
use std::collections::HashMap;

/// Compacts `arena` ([`Arena::compact_with`]): moves every live node to the lowest slots,
/// gives the chunks above back, rewrites every node's links and a template's contents key,
/// and then the keys in `held` (the documents' keys, for instance a `Vec<Unrooted>` or a
/// `Vec<NodeId>`). Returns the forwarding table, for any other key the caller holds.
///
/// Every key the arena gave out before is dead afterwards unless [`Remap::get`] maps it to
/// itself: rewrite a key held anywhere else before using it.
///
/// ```
/// use epoch_arena::{pin, Arena};
/// use epoch_arena_dom::{compact, link_shape, parse};
///
/// let mut arena = Arena::with_key();
/// let dropped = parse(&arena, "<ul><li>a<li>b</ul>");
/// let kept = parse(&arena, "<p>one<b>two</b>three");
/// let shape = link_shape(&arena, kept.document(), &pin());
/// drop(dropped);
/// arena.collect([]);
///
/// // Every `Root` borrows the arena: hold the kept document's key across the compaction.
/// let mut documents = vec![kept.unroot()];
/// let remap = compact(&mut arena, &mut documents);
/// assert!(remap.moved() > 0);
/// let kept = documents[0].root(&arena);
/// assert_eq!(link_shape(&arena, kept.document(), &pin()), shape);
/// ```
pub fn compact<R: Relocate + ?Sized>(
    arena: &mut Arena<Node, NodeId>,
    held: &mut R,
) -> Remap<NodeId> {
    let remap = arena.compact_with(|node, remap| node.relocate(remap));
    held.relocate(&remap);
    remap
}

/// Where a link points, seen from a document's pre-order walk ([`link_shape`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// No link.
    None,
    /// The node at this position of the walk.
    Node(u32),
    /// A live node that the walk does not reach (in another tree, or detached).
    Outside,
    /// A key that names no live node (a weak link to a collected node).
    Gone,
}

/// One node's links as [`Target`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeLinks {
    /// The parent.
    pub parent: Target,
    /// The previous sibling.
    pub prev_sibling: Target,
    /// The next sibling.
    pub next_sibling: Target,
    /// The first child.
    pub first_child: Target,
    /// The last child.
    pub last_child: Target,
    /// A template's contents (`None` for every other node).
    pub template_contents: Target,
}

/// The links of every node of a document, by position in its pre-order walk: equal for two
/// documents exactly when each link of each node points to the node at the same position,
/// whatever the keys. See [`link_shape`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkShape {
    nodes: Vec<NodeLinks>,
}

impl LinkShape {
    /// The nodes' links, in pre-order.
    pub fn nodes(&self) -> &[NodeLinks] {
        &self.nodes
    }

    /// How many nodes the walk reached.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the walk reached no node (the document key named none).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// The document's nodes in pre-order: a node, then its template contents' subtree, then its
/// children's subtrees; each node once. Each child list is read under its lock.
fn preorder<'g>(
    arena: &'g Arena<Node, NodeId>,
    document: NodeId,
    guard: &'g Guard,
) -> Vec<(NodeId, &'g Node)> {
    let mut order = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![document];
    while let Some(key) = stack.pop() {
        let Some(node) = arena.get(key, guard) else {
            continue;
        };
        if !seen.insert(key) {
            continue;
        }
        order.push((key, node));
        stack.extend(node.child_keys(key, arena, guard).into_iter().rev());
        if let Some(contents) = node.element().and_then(|e| e.template_contents) {
            stack.push(contents);
        }
    }
    order
}

/// Every node's links in `document`'s tree, as positions in its pre-order walk (a node,
/// then its template contents' subtree, then its children's). Two shapes are equal exactly
/// when the two walks reach the same number of nodes and each link of each node points to
/// the node at the same position (or to none, or outside, alike), whatever the keys. So the
/// shape taken before a compaction equals the one taken after it exactly when every link
/// still points where it did. Read the shape of a tree no thread is editing.
pub fn link_shape(arena: &Arena<Node, NodeId>, document: NodeId, guard: &Guard) -> LinkShape {
    let order = preorder(arena, document, guard);
    let position: HashMap<NodeId, u32> = order
        .iter()
        .enumerate()
        .map(|(i, &(key, _))| (key, i as u32))
        .collect();
    let target = |key: Option<NodeId>| match key {
        None => Target::None,
        Some(key) => match position.get(&key) {
            Some(&i) => Target::Node(i),
            None if arena.contains(key) => Target::Outside,
            None => Target::Gone,
        },
    };
    let nodes = order
        .iter()
        .map(|(_, node)| {
            let links = node.links();
            NodeLinks {
                parent: target(links.parent),
                prev_sibling: target(links.prev_sibling),
                next_sibling: target(links.next_sibling),
                first_child: target(links.first_child),
                last_child: target(links.last_child),
                template_contents: target(node.element().and_then(|e| e.template_contents)),
            }
        })
        .collect();
    LinkShape { nodes }
}

/// Checks that the links of every node in `document`'s tree agree: each child names its
/// list's owner as parent, its neighbours as siblings, the owner's first and last child
/// are the list's ends, no node is reached twice, and the document and every template's
/// contents have no parent. Returns the number of nodes checked, or the first disagreement.
/// Check a tree no thread is editing.
pub fn check_links(
    arena: &Arena<Node, NodeId>,
    document: NodeId,
    guard: &Guard,
) -> Result<usize, String> {
    let order = preorder(arena, document, guard);
    if order.is_empty() {
        return Err(format!("document {document:?} names no live node"));
    }
    let mut parents: HashMap<NodeId, NodeId> = HashMap::new();
    for &(key, node) in &order {
        let links = node.links();
        let children = node.child_keys(key, arena, guard);
        if links.first_child != children.first().copied()
            || links.last_child != children.last().copied()
        {
            return Err(format!(
                "{key:?}: first/last child {:?}/{:?}, but the list runs {:?}..{:?}",
                links.first_child,
                links.last_child,
                children.first(),
                children.last()
            ));
        }
        let mut prev = None;
        for &child in &children {
            let c = arena
                .get(child, guard)
                .ok_or_else(|| format!("{key:?}: child {child:?} is gone"))?
                .links();
            if c.parent != Some(key) {
                return Err(format!(
                    "{child:?} is a child of {key:?} but names {:?} as parent",
                    c.parent
                ));
            }
            if c.prev_sibling != prev {
                return Err(format!(
                    "{child:?}: previous sibling {:?}, expected {prev:?}",
                    c.prev_sibling
                ));
            }
            if parents.insert(child, key).is_some() {
                return Err(format!("{child:?} is in two child lists"));
            }
            prev = Some(child);
        }
        if let Some(last) = prev {
            let next = arena.get(last, guard).and_then(|n| n.links().next_sibling);
            if next.is_some() {
                return Err(format!(
                    "{last:?} ends {key:?}'s list but has next {next:?}"
                ));
            }
        }
        if let Some(contents) = node.element().and_then(|e| e.template_contents) {
            let parent = arena.get(contents, guard).map(|n| n.links().parent);
            if parent != Some(None) {
                return Err(format!(
                    "{key:?}'s template contents {contents:?}: parent {parent:?}, expected none"
                ));
            }
        }
    }
    let root_parent = order[0].1.links().parent;
    if root_parent.is_some() {
        return Err(format!("document {document:?} has parent {root_parent:?}"));
    }
    Ok(order.len())
}
