//! The node type stored in `Arena<Node>`, its links, and how the collector traces it.
//!
//! # Links
//!
//! Children form an intrusive doubly linked list: a node has `first_child` and `last_child`
//! keys, and each child has `prev_sibling`, `next_sibling` and `parent` keys. There is no
//! per-node child vector to allocate, grow and free, and inserting before a sibling or
//! unlinking a child is O(1). The links are atomics (`Key::to_bits`, 0 for none), but a list
//! is only edited, and only walked by readers, with its owner's `lock` held ([`Children`]).
//! So a reader sees each list as it is between two tree-builder steps, never half-way (no
//! torn list). A move between two lists (`reparent_children`) holds both locks, so a moved
//! child is in exactly one of the two lists at every instant. Text is in a `Mutex` because
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
//! # Serde
//!
//! [`Node`] and the types in it are `Serialize` and `Deserialize`, for
//! [`Arena::write_snapshot`] and the document files of [`persist`](crate::persist), which
//! describes the encoding: the links as `Option<Key>`, the locked parts by their contents,
//! html5ever's names as strings.

use compact_str::CompactString;
use epoch_arena::{AnyRemap, Arena, Guard, Key, Relocate, Trace, Tracer};
use html5ever::{ExpandedName, LocalName, QualName};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, ignoring poison: every critical section in this DOM leaves its data valid,
/// so a panic elsewhere never makes a list unreadable.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One DOM node.
///
/// Serialized as its five links (each an `Option<Key>`, in the order of [`Links`]) and its
/// data; the lock is not part of it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Node {
    parent: Link,
    prev_sibling: Link,
    next_sibling: Link,
    first_child: Link,
    last_child: Link,
    /// Held to edit or walk this node's child list.
    #[serde(skip)]
    lock: Mutex<()>,
    /// What kind of node this is, with its contents.
    pub data: NodeData,
}

/// A snapshot of a node's five links ([`Node::links`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Links {
    /// The parent (weak: not traced).
    pub parent: Option<Key>,
    /// The previous sibling (weak).
    pub prev_sibling: Option<Key>,
    /// The next sibling (traced).
    pub next_sibling: Option<Key>,
    /// The first child (traced).
    pub first_child: Option<Key>,
    /// The last child (weak).
    pub last_child: Option<Key>,
}

/// An optional key in an atomic, 0 for `None`.
///
/// Relaxed is enough for every access: readers and editors of a list hold its owner's
/// `lock` (which orders them), the collector accepts any key it reads (see the module
/// docs), and a key is only a number: what it names is published by the arena's own
/// release/acquire on the slot.
#[derive(Debug, Default)]
struct Link(AtomicU64);

impl Link {
    fn get(&self) -> Option<Key> {
        Key::from_bits(self.0.load(Ordering::Relaxed))
    }

    fn set(&self, key: Option<Key>) {
        self.0.store(key.map_or(0, Key::to_bits), Ordering::Relaxed);
    }
}

/// As `Option<Key>`, read like [`Link::get`].
impl Serialize for Link {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.get().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Link {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Link, D::Error> {
        let link = Link::default();
        link.set(Option::<Key>::deserialize(deserializer)?);
        Ok(link)
    }
}

/// Through `get_mut`: a compaction has the arena exclusively, so no atomic access is needed.
/// A key `remap` does not know named no live node before the compaction (a weak link to a
/// collected node); it is left as it is, so it stays stale and keeps reading as gone, as
/// [`Relocate`]'s rule asks.
impl Relocate for Link {
    fn relocate(&mut self, remap: &AnyRemap) {
        let bits = self.0.get_mut();
        if let Some(mut key) = Key::from_bits(*bits) {
            remap.relocate_key(&mut key);
            *bits = key.to_bits();
        }
    }
}

/// The kinds of DOM node, as in html5ever's reference `RcDom`.
#[derive(Debug, Serialize, Deserialize)]
pub enum NodeData {
    /// A document, or a template's contents (a document fragment).
    Document,
    /// `<!DOCTYPE name public_id system_id>`.
    Doctype {
        /// The doctype name (`html`).
        name: Box<str>,
        /// The public identifier, often empty.
        public_id: Box<str>,
        /// The system identifier, often empty.
        system_id: Box<str>,
    },
    /// Character data. Locked because html5ever appends to the last text node.
    Text(#[serde(with = "crate::persist::locked")] Mutex<CompactString>),
    /// `<!-- contents -->`.
    Comment(CompactString),
    /// An element.
    Element(Element),
    /// `<?target contents>` (only produced by XML parsers; kept for completeness).
    ProcessingInstruction {
        /// The target.
        target: Box<str>,
        /// The data after the target.
        contents: Box<str>,
    },
}

/// An element's name, attributes and flags.
#[derive(Debug, Serialize, Deserialize)]
pub struct Element {
    /// Namespace, prefix and local name (`html`, `svg` or `mathml` namespace).
    #[serde(with = "crate::persist::qual_name")]
    pub name: QualName,
    /// Attributes in source order. Locked because html5ever adds attributes to `<html>` and
    /// `<body>` when it meets a second such tag.
    #[serde(with = "crate::persist::locked")]
    pub attrs: Mutex<Vec<Attr>>,
    /// For `<template>`: the key of its contents, a `Document` node holding the children.
    pub template_contents: Option<Key>,
    /// Whether this is a MathML `annotation-xml` that is an HTML integration point.
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
            parent: Link::default(),
            prev_sibling: Link::default(),
            next_sibling: Link::default(),
            first_child: Link::default(),
            last_child: Link::default(),
            lock: Mutex::new(()),
            data,
        }
    }

    /// The parent's key, if this node has one. The key is stale if the parent was collected.
    pub fn parent(&self) -> Option<Key> {
        self.parent.get()
    }

    /// The node's five links, read one at a time without any lock: a consistent picture
    /// only of a tree that no thread is editing (a finished, rooted document). To walk a
    /// list that may be edited, use [`children`](Node::children).
    pub fn links(&self) -> Links {
        Links {
            parent: self.parent.get(),
            prev_sibling: self.prev_sibling.get(),
            next_sibling: self.next_sibling.get(),
            first_child: self.first_child.get(),
            last_child: self.last_child.get(),
        }
    }

    /// Locks this node's child list for reading or editing. `key` must be this node's key.
    /// Hold it briefly: the thread building the document waits for it.
    pub fn children<'g>(
        &'g self,
        key: Key,
        arena: &'g Arena<Node>,
        guard: &'g Guard,
    ) -> Children<'g> {
        Children {
            key,
            node: self,
            arena,
            guard,
            _lock: lock(&self.lock),
        }
    }

    /// A snapshot of the child keys, in order.
    pub fn child_keys(&self, key: Key, arena: &Arena<Node>, guard: &Guard) -> Vec<Key> {
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

impl Trace for Node {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        if let Some(first) = self.first_child.get() {
            tracer.edge(first);
        }
        if let Some(next) = self.next_sibling.get() {
            tracer.edge(next);
        }
        if let NodeData::Element(Element {
            template_contents: Some(contents),
            ..
        }) = &self.data
        {
            tracer.edge(*contents);
        }
    }
}

/// Rewrites every key the node holds after [`Arena::compact_with`]: its five links and a
/// template's contents. Use it as `arena.compact_with(|node, remap| node.relocate(remap))`,
/// or call [`compact`](crate::compact), which also rewrites the keys held outside the arena.
///
/// A link whose key `remap` maps to `None` is left as it is ([`Relocate`]'s rule): it named
/// no live node before the compaction, and it still names none after it. In a DOM whose
/// unreachable nodes were collected that is only ever a weak link (`parent`,
/// `prev_sibling`, `last_child`) to a collected node, which already read as gone.
impl Relocate for Node {
    fn relocate(&mut self, remap: &AnyRemap) {
        self.parent.relocate(remap);
        self.prev_sibling.relocate(remap);
        self.next_sibling.relocate(remap);
        self.first_child.relocate(remap);
        self.last_child.relocate(remap);
        self.data.relocate(remap);
    }
}

/// Only an element holds a key (a template's contents).
impl Relocate for NodeData {
    fn relocate(&mut self, remap: &AnyRemap) {
        if let NodeData::Element(e) = self {
            e.relocate(remap);
        }
    }
}

/// A template's contents key.
impl Relocate for Element {
    fn relocate(&mut self, remap: &AnyRemap) {
        self.template_contents.relocate(remap);
    }
}

/// A node's child list, locked (see [`Node::children`]). Every edit of a list goes through
/// here, and every key it stores into a traced link (`first_child`, `next_sibling`) is shaded
/// first: callers must hold the guard this was made with across the edit and any store
/// that made the stored node reachable.
pub struct Children<'g> {
    key: Key,
    node: &'g Node,
    arena: &'g Arena<Node>,
    guard: &'g Guard,
    _lock: MutexGuard<'g, ()>,
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
    fn get(&self, key: Key) -> &'g Node {
        self.arena.get(key, self.guard).expect(
            "epoch-arena-dom bug: a linked node is gone (linked nodes are reachable from the list)",
        )
    }

    /// The first child.
    pub fn first(&self) -> Option<Key> {
        self.node.first_child.get()
    }

    /// The last child.
    pub fn last(&self) -> Option<Key> {
        self.node.last_child.get()
    }

    /// The child before `child` (which must be in this list).
    pub fn prev(&self, child: &Node) -> Option<Key> {
        child.prev_sibling.get()
    }

    /// The children in order, with their nodes.
    ///
    /// The walk ends early at a child that is gone. That only happens to a document nobody
    /// roots, which a collection may sweep while a reader that kept only a key walks it.
    pub fn iter(&self) -> impl Iterator<Item = (Key, &'g Node)> + '_ {
        let mut next = self.first();
        std::iter::from_fn(move || {
            let key = next?;
            let node = self.arena.get(key, self.guard)?;
            next = node.next_sibling.get();
            Some((key, node))
        })
    }

    /// The child keys in order.
    pub fn keys(&self) -> Vec<Key> {
        self.iter().map(|(k, _)| k).collect()
    }

    /// Appends a parentless `child` (`key`'s node) at the end.
    pub fn push_back(&mut self, key: Key, child: &Node) {
        let last = self.last();
        child.parent.set(Some(self.key));
        child.prev_sibling.set(last);
        child.next_sibling.set(None);
        self.arena.shade(key);
        match last {
            Some(last) => self.get(last).next_sibling.set(Some(key)),
            None => self.node.first_child.set(Some(key)),
        }
        self.node.last_child.set(Some(key));
    }

    /// Inserts a parentless `child` before `sibling` (a child of this list).
    pub fn insert_before(&mut self, sibling: (Key, &Node), key: Key, child: &Node) {
        let prev = sibling.1.prev_sibling.get();
        child.parent.set(Some(self.key));
        child.prev_sibling.set(prev);
        self.arena.shade(sibling.0);
        child.next_sibling.set(Some(sibling.0));
        sibling.1.prev_sibling.set(Some(key));
        self.arena.shade(key);
        match prev {
            Some(prev) => self.get(prev).next_sibling.set(Some(key)),
            None => self.node.first_child.set(Some(key)),
        }
    }

    /// Unlinks `child` (a child of this list) and clears its links.
    pub fn remove(&mut self, child: &Node) {
        let (prev, next) = (child.prev_sibling.get(), child.next_sibling.get());
        if let Some(next) = next {
            self.arena.shade(next);
        }
        match prev {
            Some(prev) => self.get(prev).next_sibling.set(next),
            None => self.node.first_child.set(next),
        }
        match next {
            Some(next) => self.get(next).prev_sibling.set(prev),
            None => self.node.last_child.set(prev),
        }
        debug_assert_eq!(child.parent.get(), Some(self.key));
        child.parent.set(None);
        child.prev_sibling.set(None);
        child.next_sibling.set(None);
    }

    /// Moves every child to the end of `into` (another node's list, also locked), in order.
    pub fn move_all_to(&mut self, into: &mut Children<'_>) {
        let Some(first) = self.first() else {
            return;
        };
        for (_, child) in self.iter() {
            child.parent.set(Some(into.key));
        }
        let first_node = self.get(first);
        let into_last = into.last();
        first_node.prev_sibling.set(into_last);
        self.arena.shade(first);
        match into_last {
            Some(last) => into.get(last).next_sibling.set(Some(first)),
            None => into.node.first_child.set(Some(first)),
        }
        into.node.last_child.set(self.last());
        self.node.first_child.set(None);
        self.node.last_child.set(None);
    }

    /// Unlinks every child; returns their keys in order.
    pub fn remove_all(&mut self) -> Vec<Key> {
        let keys = self.keys();
        for &key in &keys {
            let child = self.get(key);
            child.parent.set(None);
            child.prev_sibling.set(None);
            child.next_sibling.set(None);
        }
        self.node.first_child.set(None);
        self.node.last_child.set(None);
        keys
    }
}

/// Counts the nodes reachable from `root` along the edges `Trace` reports (first child, next
/// sibling, template contents), `root` included, each once. Iterative, so deep trees do not
/// overflow the stack.
pub fn count_reachable(arena: &Arena<Node>, root: Key, guard: &Guard) -> usize {
    let mut stack = vec![root];
    let mut seen = HashSet::new();
    while let Some(key) = stack.pop() {
        let Some(node) = arena.get(key, guard) else {
            continue;
        };
        if !seen.insert(key) {
            continue;
        }
        stack.extend(node.first_child.get());
        stack.extend(node.next_sibling.get());
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

    /// Every link is relocated to its node's new key; a weak link to a node that was gone
    /// before the compaction keeps its stale key, which still names nothing.
    #[test]
    fn relocate_rewrites_live_links_and_leaves_dead_ones() {
        let mut arena: Arena<Node> = Arena::new();
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
            c.prev_sibling.set(Some(gone));
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
}
