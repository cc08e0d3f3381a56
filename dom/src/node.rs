//! The node type stored in `Arena<Node, NodeId>`, its links, and how the collector traces it.
//!
//! # Links
//!
//! Children form an intrusive doubly linked list: a node has `first_child` and `last_child`
//! keys, and each child has `prev_sibling`, `next_sibling` and `parent` keys. There is no
//! per-node child vector to allocate, grow and free, and inserting before a sibling or
//! unlinking a child is O(1). The links are [`AtomicKey<NodeId>`] cells (an atomic
//! `Option<NodeId>` in one word), but a list is only edited, and only walked by readers,
//! with its owner's `lock` held ([`Children`]; a test-and-set lock whose release is a plain
//! store, see `ListLock`). So a reader sees each list as it is between two tree-builder
//! steps, never half-way (no torn list), and every access to a link can be `Relaxed`. A
//! move between two lists (`reparent_children`) holds both locks, so a moved child is in
//! exactly one of the two lists at every instant. Text is in a `Mutex` because
//! html5ever merges adjacent text into the last text node.
//!
//! # Garbage collection
//!
//! `Trace` reports `first_child`, `next_sibling` and a template's contents: a node keeps its
//! first child alive and every child keeps the next one, so a document root keeps its whole
//! tree. The collector reads these atomics without the lock; any value it reads is safe to
//! follow, because every store of a key into them is preceded by `Arena::shade` of that key
//! under the same guard (the insertion barrier, see `sink.rs`). `parent`, `prev_sibling` and
//! `last_child` are weak links, like RcDom's `Weak` parent: not traced, and a collected
//! node's key reads as `None` (its generation is stale). Unlinking a child clears its
//! sibling links, so a detached node keeps nothing of its old list alive.
//!
//! `Node`'s `Trace` is written by hand for that reason: a derive would report all five
//! links, and `#[trace(skip)]` on the weak ones would also leave them out of the derived
//! `Relocate`, which must rewrite them. `Node`'s `Relocate` is derived (every link and the
//! data), and so are both traits for [`NodeData`] and [`Element`], whose only key is a
//! template's contents (their other fields are `#[trace(skip)]`).
//!
//! # Serde
//!
//! [`Node`] and the types in it are `Serialize` and `Deserialize`, for
//! [`Arena::write_snapshot`] and the document files of [`persist`](crate::persist), which
//! describes the encoding: the links as `Option<NodeId>` (each a key's 64-bit word, as an
//! untyped `Key` is written), the locked parts by their contents, html5ever's names as
//! strings.

use compact_str::CompactString;
use epoch_arena::{Arena, AtomicKey, Guard, Relocate, Trace, Tracer};
use html5ever::{ExpandedName, LocalName, QualName};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
// Relaxed is enough for every access to a link: readers and editors of a list hold its
// owner's `lock` (which orders them), the collector accepts any key it reads (see the
// module docs), and a key is only a number: what it names is published by the arena's own
// release/acquire on the slot.
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::{Mutex, MutexGuard, PoisonError};

epoch_arena::new_key_type! {
    /// The key of a node in the DOM's `Arena<Node, NodeId>`: an
    /// [`epoch_arena::Key`] with a type of its own, so a key of another arena cannot be
    /// passed where a node is meant. It serializes as a `Key` does (its 64-bit word).
    pub struct NodeId;
}

/// Locks `m`, ignoring poison: every critical section in this DOM leaves its data valid,
/// so a panic elsewhere never makes a list unreadable.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The lock of a node's child list: a test-and-set flag. Taking it is one atomic
/// read-modify-write (`Acquire`), releasing it one plain `Release` store.
///
/// Why not `Mutex<()>`: a std `Mutex` also releases with a read-modify-write (a swap, to
/// learn whether a waiter needs waking), and on x86 every locked instruction waits for the
/// store buffer to drain. A tree-builder step stores several links inside the critical
/// section, so the unlock's swap was the most expensive instruction of `append` (about half
/// its profile samples). Here nobody sleeps on the lock, so releasing it needs no
/// read-modify-write.
///
/// Mutual exclusion is the usual test-and-set argument: only the thread whose
/// `compare_exchange` turned `false` into `true` holds it, until its `Release` store of
/// `false`; that store happens-before the next holder's successful `Acquire` exchange, so
/// each critical section sees every link stored by the ones before it. A waiter spins
/// briefly and then yields its time slice, since the holder may be a preempted thread (a
/// reader walking a list, or the parse editing it); critical sections are a few stores
/// long, or a reader's walk of one list. The lock is not reentrant and not poisoned (every
/// critical section leaves the list valid, see [`lock`]).
#[derive(Debug, Default)]
struct ListLock(AtomicBool);

impl ListLock {
    #[inline]
    fn lock(&self) -> ListGuard<'_> {
        if self
            .0
            .compare_exchange_weak(false, true, Acquire, Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
        ListGuard(self)
    }

    #[cold]
    fn lock_contended(&self) {
        let mut spins = 0u32;
        loop {
            while self.0.load(Relaxed) {
                if spins < 64 {
                    spins += 1;
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
            if self
                .0
                .compare_exchange_weak(false, true, Acquire, Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }
}

/// A held [`ListLock`]; dropping it releases the lock.
#[derive(Debug)]
struct ListGuard<'a>(&'a ListLock);

impl Drop for ListGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // Release: this critical section's link stores happen-before the next holder's.
        (self.0).0.store(false, Release);
    }
}

/// One DOM node.
///
/// Serialized as its five links (each an `Option<NodeId>`, in the order of [`Links`]) and its
/// data; the lock is not part of it.
///
/// `Relocate` is derived: after [`Arena::compact_with`] it rewrites every key the node
/// holds, its five links and a template's contents (in `data`). Use it as
/// `arena.compact_with(|node, remap| node.relocate(remap))`, or call
/// [`compact`](crate::compact), which also rewrites the keys held outside the arena. A link
/// whose key the remap does not know is left as it is ([`Relocate`]'s rule): it named no
/// live node before the compaction, and it still names none after it. In a DOM whose
/// unreachable nodes were collected that is only ever a weak link (`parent`,
/// `prev_sibling`, `last_child`) to a collected node, which already read as gone.
///
/// `Trace` is not derived (see its impl): the weak links must be relocated but not traced,
/// and `#[trace(skip)]` would leave them out of both.
#[derive(Debug, Serialize, Deserialize, Relocate)]
pub struct Node {
    parent: AtomicKey<NodeId>,
    prev_sibling: AtomicKey<NodeId>,
    next_sibling: AtomicKey<NodeId>,
    first_child: AtomicKey<NodeId>,
    last_child: AtomicKey<NodeId>,
    /// Held to edit or walk this node's child list. No key in it.
    #[serde(skip)]
    #[trace(skip)]
    lock: ListLock,
    /// What kind of node this is, with its contents.
    pub data: NodeData,
}

/// A snapshot of a node's five links ([`Node::links`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Links {
    /// The parent (weak: not traced).
    pub parent: Option<NodeId>,
    /// The previous sibling (weak).
    pub prev_sibling: Option<NodeId>,
    /// The next sibling (traced).
    pub next_sibling: Option<NodeId>,
    /// The first child (traced).
    pub first_child: Option<NodeId>,
    /// The last child (weak).
    pub last_child: Option<NodeId>,
}

/// The kinds of DOM node, as in html5ever's reference `RcDom`.
///
/// `Trace` and `Relocate` are derived: only an element holds a key (a template's
/// contents); every other field is `#[trace(skip)]` (no keys), which leaves it out of both.
#[derive(Debug, Serialize, Deserialize, Trace, Relocate)]
pub enum NodeData {
    /// A document, or a template's contents (a document fragment).
    Document,
    /// `<!DOCTYPE name public_id system_id>`.
    Doctype {
        /// The doctype name (`html`).
        #[trace(skip)]
        name: Box<str>,
        /// The public identifier, often empty.
        #[trace(skip)]
        public_id: Box<str>,
        /// The system identifier, often empty.
        #[trace(skip)]
        system_id: Box<str>,
    },
    /// Character data. Locked because html5ever appends to the last text node.
    Text(
        #[serde(with = "crate::persist::locked")]
        #[trace(skip)]
        Mutex<CompactString>,
    ),
    /// `<!-- contents -->`.
    Comment(#[trace(skip)] CompactString),
    /// An element.
    Element(Element),
    /// `<?target contents>` (only produced by XML parsers; kept for completeness).
    ProcessingInstruction {
        /// The target.
        #[trace(skip)]
        target: Box<str>,
        /// The data after the target.
        #[trace(skip)]
        contents: Box<str>,
    },
}

/// An element's name, attributes and flags.
///
/// `Trace` and `Relocate` are derived: they visit the template's contents, the only key;
/// the other fields are `#[trace(skip)]`.
#[derive(Debug, Serialize, Deserialize, Trace, Relocate)]
pub struct Element {
    /// Namespace, prefix and local name (`html`, `svg` or `mathml` namespace).
    #[serde(with = "crate::persist::qual_name")]
    #[trace(skip)]
    pub name: QualName,
    /// Attributes in source order. Locked because html5ever adds attributes to `<html>` and
    /// `<body>` when it meets a second such tag.
    #[serde(with = "crate::persist::locked")]
    #[trace(skip)]
    pub attrs: Mutex<Vec<Attr>>,
    /// For `<template>`: the key of its contents, a `Document` node holding the children.
    /// Traced: the template keeps its contents alive.
    pub template_contents: Option<NodeId>,
    /// Whether this is a MathML `annotation-xml` that is an HTML integration point.
    #[trace(skip)]
    pub mathml_annotation_xml_integration_point: bool,
}

/// One attribute: 40 bytes, as html5ever's `Attribute`, so converting an element's
/// attribute vector reuses its allocation. The value is owned, because html5ever's
/// `StrTendril` is not `Send`; `CompactString` keeps values up to 24 bytes inline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attr {
    /// The attribute's name.
    pub name: AttrName,
    /// Its value.
    pub value: CompactString,
}

/// An attribute's name: a plain local name (every attribute of an HTML element), or a
/// qualified one (`xlink:href`, `xml:lang`, `xmlns:xlink` on SVG and MathML elements).
///
/// Serialized as its [`QualName`] (see [`persist`](crate::persist)), and deserialized
/// through `From<QualName>`, so a plain name always comes back as `Local`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttrName {
    /// No namespace, no prefix.
    Local(LocalName),
    /// Namespaced (rare; boxed to keep `Attr` small).
    Qualified(Box<QualName>),
}

impl AttrName {
    /// The name as html5ever's `QualName`.
    pub fn to_qual_name(&self) -> QualName {
        match self {
            AttrName::Local(local) => QualName::new(None, html5ever::ns!(), local.clone()),
            AttrName::Qualified(name) => (**name).clone(),
        }
    }
}

impl From<QualName> for AttrName {
    fn from(name: QualName) -> AttrName {
        if name.prefix.is_none() && name.ns == html5ever::ns!() {
            AttrName::Local(name.local)
        } else {
            AttrName::Qualified(Box::new(name))
        }
    }
}

impl From<html5ever::Attribute> for Attr {
    fn from(a: html5ever::Attribute) -> Attr {
        Attr {
            name: a.name.into(),
            value: CompactString::from(&*a.value),
        }
    }
}

impl Node {
    /// A parentless, childless node.
    pub fn new(data: NodeData) -> Node {
        Node {
            parent: AtomicKey::default(),
            prev_sibling: AtomicKey::default(),
            next_sibling: AtomicKey::default(),
            first_child: AtomicKey::default(),
            last_child: AtomicKey::default(),
            lock: ListLock::default(),
            data,
        }
    }

    /// The parent's key, if this node has one. The key is stale if the parent was collected.
    pub fn parent(&self) -> Option<NodeId> {
        self.parent.load(Relaxed)
    }

    /// The node's five links, read one at a time without any lock: a consistent picture
    /// only of a tree that no thread is editing (a finished, rooted document). To walk a
    /// list that may be edited, use [`children`](Node::children).
    pub fn links(&self) -> Links {
        Links {
            parent: self.parent.load(Relaxed),
            prev_sibling: self.prev_sibling.load(Relaxed),
            next_sibling: self.next_sibling.load(Relaxed),
            first_child: self.first_child.load(Relaxed),
            last_child: self.last_child.load(Relaxed),
        }
    }

    /// Locks this node's child list for reading or editing. `key` must be this node's key.
    /// Hold it briefly: the thread building the document waits for it.
    pub fn children<'g>(
        &'g self,
        key: NodeId,
        arena: &'g Arena<Node, NodeId>,
        guard: &'g Guard,
    ) -> Children<'g> {
        Children {
            key,
            node: self,
            arena,
            guard,
            _lock: self.lock.lock(),
        }
    }

    /// A snapshot of the child keys, in order.
    pub fn child_keys(
        &self,
        key: NodeId,
        arena: &Arena<Node, NodeId>,
        guard: &Guard,
    ) -> Vec<NodeId> {
        self.children(key, arena, guard).keys()
    }

    /// The element part, if this is an element.
    pub fn element(&self) -> Option<&Element> {
        match &self.data {
            NodeData::Element(e) => Some(e),
            _ => None,
        }
    }

    /// The element's expanded name, if this is an element.
    pub fn expanded_name(&self) -> Option<ExpandedName<'_>> {
        self.element().map(|e| e.name.expanded())
    }

    /// Whether this is an HTML element with the given local name.
    pub fn is_html_element(&self, local: &LocalName) -> bool {
        self.element()
            .is_some_and(|e| e.name.ns == html5ever::ns!(html) && e.name.local == *local)
    }

    /// Whether this element has an attribute with the given local name (no namespace).
    pub fn has_attr(&self, local: &LocalName) -> bool {
        self.element().is_some_and(|e| {
            lock(&e.attrs)
                .iter()
                .any(|a| a.name == AttrName::Local(local.clone()))
        })
    }

    /// A copy of this node's data, childless and parentless (for `selectedcontent` clones).
    /// A template's contents key is shared with the copy, as RcDom's clone shares it.
    pub fn shallow_clone(&self) -> Node {
        let data = match &self.data {
            NodeData::Document => NodeData::Document,
            NodeData::Doctype {
                name,
                public_id,
                system_id,
            } => NodeData::Doctype {
                name: name.clone(),
                public_id: public_id.clone(),
                system_id: system_id.clone(),
            },
            NodeData::Text(t) => NodeData::Text(Mutex::new(lock(t).clone())),
            NodeData::Comment(c) => NodeData::Comment(c.clone()),
            NodeData::Element(e) => NodeData::Element(Element {
                name: e.name.clone(),
                attrs: Mutex::new(lock(&e.attrs).clone()),
                template_contents: e.template_contents,
                mathml_annotation_xml_integration_point: e.mathml_annotation_xml_integration_point,
            }),
            NodeData::ProcessingInstruction { target, contents } => {
                NodeData::ProcessingInstruction {
                    target: target.clone(),
                    contents: contents.clone(),
                }
            }
        };
        Node::new(data)
    }
}

/// Reports the strong links only: `first_child`, `next_sibling`, and through the derived
/// impl of [`NodeData`], a template's contents. `parent`, `prev_sibling` and `last_child`
/// are weak (see the module docs) and deliberately not reported, which is why this impl is
/// written by hand rather than derived: a derive would trace all five links, and
/// `#[trace(skip)]` on the weak ones would also drop them from the derived `Relocate`, which
/// must rewrite them.
///
/// The links are read with `Relaxed` ([`AtomicKey`]'s `Trace`): the collector accepts any
/// key it reads, and every key stored into a traced link was shaded first.
impl Trace for Node {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        self.first_child.trace(tracer);
        self.next_sibling.trace(tracer);
        self.data.trace(tracer);
    }
}

/// A node's child list, locked (see [`Node::children`]). Every edit of a list goes through
/// here, and every key it stores into a traced link (`first_child`, `next_sibling`) is shaded
/// first: callers must hold the guard this was made with across the edit and any store
/// that made the stored node reachable.
pub struct Children<'g> {
    key: NodeId,
    node: &'g Node,
    arena: &'g Arena<Node, NodeId>,
    guard: &'g Guard,
    _lock: ListGuard<'g>,
}

impl std::fmt::Debug for Children<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Children")
            .field("parent", &self.key)
            .field("first", &self.first())
            .field("last", &self.last())
            .finish_non_exhaustive()
    }
}

impl<'g> Children<'g> {
    fn get(&self, key: NodeId) -> &'g Node {
        self.arena.get(key, self.guard).expect(
            "epoch-arena-dom bug: a linked node is gone (linked nodes are reachable from the list)",
        )
    }

    /// The first child.
    pub fn first(&self) -> Option<NodeId> {
        self.node.first_child.load(Relaxed)
    }

    /// The last child.
    pub fn last(&self) -> Option<NodeId> {
        self.node.last_child.load(Relaxed)
    }

    /// The child before `child` (which must be in this list).
    pub fn prev(&self, child: &Node) -> Option<NodeId> {
        child.prev_sibling.load(Relaxed)
    }

    /// The children in order, with their nodes.
    ///
    /// The walk ends early at a child that is gone. That only happens to a document nobody
    /// roots, which a collection may sweep while a reader that kept only a key walks it.
    pub fn iter(&self) -> impl Iterator<Item = (NodeId, &'g Node)> + '_ {
        let mut next = self.first();
        std::iter::from_fn(move || {
            let key = next?;
            let node = self.arena.get(key, self.guard)?;
            next = node.next_sibling.load(Relaxed);
            Some((key, node))
        })
    }

    /// The child keys in order.
    pub fn keys(&self) -> Vec<NodeId> {
        self.iter().map(|(k, _)| k).collect()
    }

    /// Appends a parentless `child` (`key`'s node) at the end.
    pub fn push_back(&mut self, key: NodeId, child: &Node) {
        let last = self.last();
        child.parent.store(Some(self.key), Relaxed);
        child.prev_sibling.store(last, Relaxed);
        child.next_sibling.store(None, Relaxed);
        self.arena.shade(key);
        match last {
            Some(last) => self.get(last).next_sibling.store(Some(key), Relaxed),
            None => self.node.first_child.store(Some(key), Relaxed),
        }
        self.node.last_child.store(Some(key), Relaxed);
    }

    /// Inserts a parentless `child` before `sibling` (a child of this list).
    pub fn insert_before(&mut self, sibling: (NodeId, &Node), key: NodeId, child: &Node) {
        let prev = sibling.1.prev_sibling.load(Relaxed);
        child.parent.store(Some(self.key), Relaxed);
        child.prev_sibling.store(prev, Relaxed);
        self.arena.shade(sibling.0);
        child.next_sibling.store(Some(sibling.0), Relaxed);
        sibling.1.prev_sibling.store(Some(key), Relaxed);
        self.arena.shade(key);
        match prev {
            Some(prev) => self.get(prev).next_sibling.store(Some(key), Relaxed),
            None => self.node.first_child.store(Some(key), Relaxed),
        }
    }

    /// Unlinks `child` (a child of this list) and clears its links.
    pub fn remove(&mut self, child: &Node) {
        let (prev, next) = (
            child.prev_sibling.load(Relaxed),
            child.next_sibling.load(Relaxed),
        );
        if let Some(next) = next {
            self.arena.shade(next);
        }
        match prev {
            Some(prev) => self.get(prev).next_sibling.store(next, Relaxed),
            None => self.node.first_child.store(next, Relaxed),
        }
        match next {
            Some(next) => self.get(next).prev_sibling.store(prev, Relaxed),
            None => self.node.last_child.store(prev, Relaxed),
        }
        debug_assert_eq!(child.parent.load(Relaxed), Some(self.key));
        child.parent.store(None, Relaxed);
        child.prev_sibling.store(None, Relaxed);
        child.next_sibling.store(None, Relaxed);
    }

    /// Moves every child to the end of `into` (another node's list, also locked), in order.
    pub fn move_all_to(&mut self, into: &mut Children<'_>) {
        let Some(first) = self.first() else {
            return;
        };
        for (_, child) in self.iter() {
            child.parent.store(Some(into.key), Relaxed);
        }
        let first_node = self.get(first);
        let into_last = into.last();
        first_node.prev_sibling.store(into_last, Relaxed);
        self.arena.shade(first);
        match into_last {
            Some(last) => into.get(last).next_sibling.store(Some(first), Relaxed),
            None => into.node.first_child.store(Some(first), Relaxed),
        }
        into.node.last_child.store(self.last(), Relaxed);
        self.node.first_child.store(None, Relaxed);
        self.node.last_child.store(None, Relaxed);
    }

    /// Unlinks every child; returns their keys in order.
    pub fn remove_all(&mut self) -> Vec<NodeId> {
        let keys = self.keys();
        for &key in &keys {
            let child = self.get(key);
            child.parent.store(None, Relaxed);
            child.prev_sibling.store(None, Relaxed);
            child.next_sibling.store(None, Relaxed);
        }
        self.node.first_child.store(None, Relaxed);
        self.node.last_child.store(None, Relaxed);
        keys
    }
}

/// Counts the nodes reachable from `root` along the edges `Trace` reports (first child, next
/// sibling, template contents), `root` included, each once. Iterative, so deep trees do not
/// overflow the stack.
pub fn count_reachable(arena: &Arena<Node, NodeId>, root: NodeId, guard: &Guard) -> usize {
    let mut stack = vec![root];
    let mut seen = HashSet::new();
    while let Some(key) = stack.pop() {
        let Some(node) = arena.get(key, guard) else {
            continue;
        };
        if !seen.insert(key) {
            continue;
        }
        stack.extend(node.first_child.load(Relaxed));
        stack.extend(node.next_sibling.load(Relaxed));
        if let Some(contents) = node.element().and_then(|e| e.template_contents) {
            stack.push(contents);
        }
    }
    seen.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use epoch_arena::pin;

    fn node() -> Node {
        Node::new(NodeData::Document)
    }

    /// `ListLock` excludes: threads that each increment a counter non-atomically (a
    /// `Relaxed` load, then a store) under the lock lose no increment. Without exclusion,
    /// two such increments that overlap lose one. A list edit is a few such stores, so a
    /// lost increment here is a torn list there.
    #[test]
    fn list_lock_excludes() {
        use std::sync::atomic::AtomicUsize;
        const THREADS: usize = 4;
        const ROUNDS: usize = 100_000;
        let lock = ListLock::default();
        let counter = AtomicUsize::new(0);
        let start = std::sync::Barrier::new(THREADS);
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    start.wait();
                    for _ in 0..ROUNDS {
                        let _held = lock.lock();
                        let seen = counter.load(Relaxed);
                        for _ in 0..8 {
                            std::hint::spin_loop();
                        }
                        counter.store(seen + 1, Relaxed);
                    }
                });
            }
        });
        assert_eq!(counter.load(Relaxed), THREADS * ROUNDS);
        assert!(!lock.0.load(Relaxed), "released after the last guard");
    }

    /// Every link is relocated to its node's new key; a weak link to a node that was gone
    /// before the compaction keeps its stale key, which still names nothing.
    #[test]
    fn relocate_rewrites_live_links_and_leaves_dead_ones() {
        let mut arena: Arena<Node, NodeId> = Arena::with_key();
        let hole = arena.insert(node());
        let parent = arena.insert(node());
        let child = arena.insert(node());
        let gone = arena.insert(node());
        {
            let guard = pin();
            let p = arena.get(parent, &guard).unwrap();
            let c = arena.get(child, &guard).unwrap();
            p.children(parent, &arena, &guard).push_back(child, c);
            // A weak link to a node that is then removed, as after a collection.
            c.prev_sibling.store(Some(gone), Relaxed);
        }
        arena.take(hole);
        arena.take(gone);
        let remap = arena.compact_with(|n, remap| n.relocate(remap));
        assert_eq!(remap.moved(), 1, "the child moved into the hole");
        let (parent, child) = (remap.get(parent).unwrap(), remap.get(child).unwrap());
        let guard = pin();
        let p = arena.get(parent, &guard).unwrap().links();
        let c = arena.get(child, &guard).unwrap().links();
        assert_eq!((p.first_child, p.last_child), (Some(child), Some(child)));
        assert_eq!(c.parent, Some(parent));
        assert_eq!(c.prev_sibling, Some(gone), "a dead link is left as it is");
        assert!(arena.get(gone, &guard).is_none(), "and still names nothing");
    }

    /// The hand-written `Trace` reports only the strong links: a node rooted alone keeps
    /// its next siblings, children and template contents, never its parent or previous
    /// siblings.
    #[test]
    fn only_strong_links_are_traced() {
        let arena: Arena<Node, NodeId> = Arena::with_key();
        let contents = arena.insert(node());
        let template = arena.insert(Node::new(NodeData::Element(Element {
            name: QualName::new(
                None,
                html5ever::ns!(html),
                html5ever::local_name!("template"),
            ),
            attrs: Mutex::new(Vec::new()),
            template_contents: Some(contents),
            mathml_annotation_xml_integration_point: false,
        })));
        let parent = arena.insert(node());
        let (a, b, grandchild) = (
            arena.insert(node()),
            arena.insert(node()),
            arena.insert(node()),
        );
        {
            let guard = pin();
            let get = |k| arena.get(k, &guard).unwrap();
            let mut list = get(parent).children(parent, &arena, &guard);
            list.push_back(a, get(a));
            list.push_back(b, get(b));
            list.push_back(template, get(template));
            drop(list);
            get(b)
                .children(b, &arena, &guard)
                .push_back(grandchild, get(grandchild));
        }
        // From `b`: its child, its next sibling (the template) and the template's contents.
        let stats = arena.collect([b]);
        assert_eq!(
            (stats.marked, stats.swept),
            (4, 2),
            "the parent and `a` are weak"
        );
        for kept in [b, grandchild, template, contents] {
            assert!(arena.contains(kept));
        }
        assert!(!arena.contains(parent) && !arena.contains(a));
    }
}
