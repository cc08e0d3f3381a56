//! `ArenaSink`: html5ever's `TreeSink` over a shared `&Arena<Node, NodeId>`.
//!
//! One sink builds one document on one thread; any number of sinks on other threads build
//! other documents into the same arena at the same time, while readers walk finished (or
//! unfinished) trees and a collector may run.
//!
//! # The garbage-collection contract, applied
//!
//! html5ever creates a node first and links it later (`create_element`, then `append`), and
//! between the two the node's key lives only in the tree builder's stack of open elements.
//! The sink inserts every node through an `epoch_arena::Mutator`, so a key the tree builder
//! holds stays alive across collections until the sink's next safepoint, with no guard
//! held. The input is fed in chunks ([`Parser::feed`]); each chunk runs under one guard,
//! and between chunks the sink passes a safepoint and unpins ([`ArenaSink::safepoint`]).
//! So a collection on another thread waits at most for the chunk being parsed (its epoch
//! grace period), not for the document, and epoch-based reclamation, of this arena and of
//! every other, goes on during a long parse.
//!
//! At a safepoint every node the tree builder may still use must be linked or rooted. At a
//! chunk boundary html5ever holds nodes that are in the tree, almost always; a node it
//! created or detached in the chunk and has not linked (yet) is rooted by the sink until
//! a later safepoint finds it linked, or until the parse ends.
//!
//! Every store of a key into a traced field (a child list, a template's contents) is
//! preceded by `Arena::shade` of that key, under the chunk's guard: the insertion barrier
//! that keeps a marker from missing a child moved under an already-scanned parent.
//!
//! The document node is rooted (`Arena::root`) as soon as it exists; the root is handed to
//! the caller in [`Parsed`], and dropping it makes the document garbage.
//!
//! # Handles
//!
//! The tree builder's handle is the node's key ([`NodeId`]), looked up in the arena under
//! the chunk's guard whenever the sink needs the node: a handle outlives the chunk in the
//! tree builder's stacks, and a `&Node` must not outlive the guard it was read under.

use crate::node::{lock, Attr, AttrName, Children, Element, Node, NodeData, NodeId};
use compact_str::CompactString;
use epoch_arena::{pin, Arena, Guard, Mutator, Relocate, Root};
use html5ever::interface::{ElementFlags, NodeOrText, QuirksMode, TreeSink};
use html5ever::tendril::{StrTendril, TendrilSink};
use html5ever::{local_name, ns, Attribute, ExpandedName, QualName};
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::sync::{LazyLock, Mutex};

/// A parsed document: its rooted document node and what the parse reported.
#[derive(Debug)]
pub struct Parsed<'a> {
    /// Keeps the document alive across collections; drop it to make the document garbage.
    pub root: Root<'a, Node, NodeId>,
    /// The quirks mode html5ever chose.
    pub quirks_mode: QuirksMode,
    /// Parse errors html5ever reported (malformed markup is still parsed).
    pub errors: usize,
    /// Nodes the parse inserted, including any html5ever later detached for good.
    pub created: usize,
}

impl<'a> Parsed<'a> {
    /// The document node's key.
    pub fn document(&self) -> NodeId {
        self.root.key()
    }

    /// Gives up the document's root and keeps its key and report: what to hold across
    /// [`compact`](crate::compact), which needs the arena exclusively while every `Root`
    /// borrows it. [`Unrooted::root`] roots the document again.
    ///
    /// Until then nothing keeps the document alive: a collection would sweep it. Only
    /// unroot while no collection can run, as while the arena is about to be borrowed
    /// mutably.
    ///
    /// ```
    /// use epoch_arena::{pin, Arena};
    /// use epoch_arena_dom::{compact, parse, to_html};
    ///
    /// let mut arena = Arena::with_key();
    /// let scratch = parse(&arena, "<p>scratch");
    /// let page = parse(&arena, "<p>kept");
    /// drop(scratch);
    /// arena.collect([]);
    /// let mut held = vec![page.unroot()];
    /// compact(&mut arena, &mut held); // moves the kept nodes into the scratch page's slots
    /// let page = held.pop().unwrap().root(&arena);
    /// assert_eq!(
    ///     to_html(&arena, page.document(), &pin()),
    ///     "<html><head></head><body><p>kept</p></body></html>"
    /// );
    /// ```
    pub fn unroot(self) -> Unrooted {
        Unrooted {
            document: self.root.key(),
            quirks_mode: self.quirks_mode,
            errors: self.errors,
            created: self.created,
        }
    }
}

/// A parsed document without its root ([`Parsed::unroot`]): the document node's key and
/// what the parse reported. The derived [`Relocate`] rewrites the key after a compaction
/// (through [`AnyRemap::relocate_key`](epoch_arena::AnyRemap::relocate_key): unchanged if
/// it named no live node); the other fields hold no keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Relocate)]
pub struct Unrooted {
    /// The document node's key. Nothing keeps it alive.
    pub document: NodeId,
    /// The quirks mode html5ever chose.
    #[trace(skip)]
    pub quirks_mode: QuirksMode,
    /// Parse errors html5ever reported.
    #[trace(skip)]
    pub errors: usize,
    /// Nodes the parse inserted.
    #[trace(skip)]
    pub created: usize,
}

impl Unrooted {
    /// Roots the document again in `arena` (the arena it was parsed into; after a
    /// compaction, with the key relocated).
    pub fn root(self, arena: &Arena<Node, NodeId>) -> Parsed<'_> {
        Parsed {
            root: arena.root(self.document),
            quirks_mode: self.quirks_mode,
            errors: self.errors,
            created: self.created,
        }
    }
}

/// How much input [`parse`] feeds html5ever between two safepoints: small enough that a
/// collection's grace period (which waits for the chunk being parsed) stays well under a
/// millisecond, large enough that the safepoint's cost is noise.
pub const CHUNK: usize = 4 * 1024;

/// Parses `html` into `arena` on the calling thread, in chunks of [`CHUNK`] bytes with a
/// safepoint between them (see the [module docs](self)).
///
/// Never fails: html5ever recovers from any malformed markup as browsers do.
pub fn parse<'a>(arena: &'a Arena<Node, NodeId>, html: &str) -> Parsed<'a> {
    let mut parser = Parser::new(arena);
    let mut rest = html;
    while !rest.is_empty() {
        let mut end = rest.len().min(CHUNK);
        while !rest.is_char_boundary(end) {
            end += 1;
        }
        let (chunk, tail) = rest.split_at(end);
        parser.feed(chunk);
        rest = tail;
    }
    parser.finish()
}

/// A parse fed piece by piece: for input that arrives over time (a network stream), or to
/// choose the chunk size. Between two [`feed`](Parser::feed)s the thread holds no guard,
/// and every node the parse created is alive (linked, or rooted by the sink).
///
/// ```
/// use epoch_arena::Arena;
/// use epoch_arena_dom::{to_html, Parser};
///
/// let arena = Arena::with_key();
/// let mut parser = Parser::new(&arena);
/// parser.feed("<p>Hello, ");
/// arena.collect([]); // nothing the parse holds is swept, and nothing waits for it
/// parser.feed("<b>world</b>");
/// let page = parser.finish();
/// assert_eq!(
///     to_html(&arena, page.document(), &epoch_arena::pin()),
///     "<html><head></head><body><p>Hello, <b>world</b></p></body></html>"
/// );
/// ```
pub struct Parser<'a> {
    inner: html5ever::Parser<ArenaSink<'a>>,
}

impl std::fmt::Debug for Parser<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parser")
            .field("sink", &self.inner.tokenizer.sink.sink)
            .finish_non_exhaustive()
    }
}

impl<'a> Parser<'a> {
    /// A parse of a new document into `arena` (its document node is created and rooted now).
    pub fn new(arena: &'a Arena<Node, NodeId>) -> Self {
        let mut sink = ArenaSink::new(arena);
        // Unpinned between feeds.
        sink.safepoint();
        Parser {
            inner: html5ever::parse_document(sink, Default::default()),
        }
    }

    /// The key of the document being built (rooted, so it stays valid).
    pub fn document(&self) -> NodeId {
        self.inner.tokenizer.sink.sink.document()
    }

    /// Parses the next piece of input, under one guard, then passes a safepoint and unpins.
    pub fn feed(&mut self, html: &str) {
        self.sink().pin();
        self.inner.process(StrTendril::from_slice(html));
        self.sink().safepoint();
    }

    /// Ends the input and returns the document.
    pub fn finish(mut self) -> Parsed<'a> {
        self.sink().pin();
        self.inner.finish()
    }

    fn sink(&mut self) -> &mut ArenaSink<'a> {
        &mut self.inner.tokenizer.sink.sink
    }
}

/// The tree sink. See the module docs for the protocol.
///
/// [`parse`] and [`Parser`] drive it; it also works as a plain html5ever sink
/// (`html5ever::parse_document(ArenaSink::new(&arena), ..)`), which keeps the thread
/// pinned from [`new`](ArenaSink::new) to the end of the parse.
pub struct ArenaSink<'a> {
    arena: &'a Arena<Node, NodeId>,
    /// The guard of the chunk being parsed; `None` between chunks.
    guard: Option<Guard>,
    mutator: RefCell<Mutator<'a, Node, NodeId>>,
    root: Root<'a, Node, NodeId>,
    document: NodeId,
    /// Nodes created or detached since the last safepoint: the only ones that may be
    /// unlinked while html5ever holds them.
    loose: RefCell<Vec<NodeId>>,
    /// Nodes a safepoint found unlinked, rooted until one finds them linked.
    held: HashMap<NodeId, Root<'a, Node, NodeId>>,
    quirks_mode: Cell<QuirksMode>,
    errors: Cell<usize>,
    created: Cell<usize>,
}

/// The name `elem_name` reports for a non-element (html5ever never asks; RcDom panics).
static NO_NAME: LazyLock<QualName> = LazyLock::new(|| QualName::new(None, ns!(), local_name!("")));

impl std::fmt::Debug for ArenaSink<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArenaSink")
            .field("document", &self.document)
            .field("pinned", &self.guard.is_some())
            .field("held", &self.held.len())
            .field("quirks_mode", &self.quirks_mode.get())
            .field("errors", &self.errors.get())
            .field("created", &self.created.get())
            .finish_non_exhaustive()
    }
}

impl<'a> ArenaSink<'a> {
    /// A sink that builds a new document in `arena`; the thread is pinned until the first
    /// [`safepoint`](ArenaSink::safepoint).
    pub fn new(arena: &'a Arena<Node, NodeId>) -> Self {
        let mut mutator = arena.mutator();
        let document = mutator.insert(Node::new(NodeData::Document));
        let root = arena.root(document);
        ArenaSink {
            arena,
            guard: Some(pin()),
            mutator: RefCell::new(mutator),
            root,
            document,
            loose: RefCell::new(Vec::new()),
            held: HashMap::new(),
            quirks_mode: Cell::new(QuirksMode::NoQuirks),
            errors: Cell::new(0),
            created: Cell::new(1),
        }
    }

    /// The key of the document this sink builds (rooted, so it stays valid).
    pub fn document(&self) -> NodeId {
        self.document
    }

    /// Pins the thread for the next chunk (nothing if it is pinned).
    pub fn pin(&mut self) {
        if self.guard.is_none() {
            self.guard = Some(pin());
        }
    }

    /// Between two chunks: roots every node created or detached since the last safepoint
    /// that is still unlinked, unroots those held before that are linked now, passes the
    /// mutator's safepoint and unpins. Call it only between html5ever's steps (between
    /// `process` calls), where the tree builder's state is whole.
    pub fn safepoint(&mut self) {
        if let Some(guard) = &self.guard {
            let arena = self.arena;
            // Document nodes (this one, and templates' contents, which their template's
            // `Trace` reaches) never have a parent and need no root of their own.
            let unlinked = |key: NodeId| {
                arena
                    .get(key, guard)
                    .is_some_and(|n| n.parent().is_none() && !matches!(n.data, NodeData::Document))
            };
            self.held.retain(|&key, _| unlinked(key));
            // Most loose nodes are linked by now.
            for key in self.loose.get_mut().drain(..) {
                if unlinked(key) {
                    self.held.entry(key).or_insert_with(|| arena.root(key));
                }
            }
        }
        self.mutator.get_mut().safepoint();
        self.guard = None;
    }

    fn guard(&self) -> &Guard {
        self.guard
            .as_ref()
            .expect("epoch-arena-dom bug: the sink is used between chunks, unpinned")
    }

    /// The node behind a key read from a child list, a parent link or a handle.
    fn node(&self, key: NodeId) -> &Node {
        self.arena.get(key, self.guard()).expect(
            "a node of the document being parsed is gone: removed by another thread while \
             the parse holds it",
        )
    }

    fn insert(&self, node: Node) -> NodeId {
        self.created.set(self.created.get() + 1);
        let key = self.mutator.borrow_mut().insert(node);
        self.loose.borrow_mut().push(key);
        key
    }

    fn new_text(&self, text: &str) -> NodeId {
        self.insert(Node::new(NodeData::Text(Mutex::new(CompactString::from(
            text,
        )))))
    }

    fn children(&self, of: NodeId) -> Children<'_> {
        self.node(of).children(of, self.arena, self.guard())
    }

    /// Appends `text` to `key` if it is a text node.
    fn merge_text(&self, key: NodeId, text: &str) -> bool {
        match &self.node(key).data {
            NodeData::Text(contents) => {
                lock(contents).push_str(text);
                true
            }
            _ => false,
        }
    }

    /// Links a parentless node as the last child of `parent`.
    fn link_last(&self, parent: NodeId, child: NodeId) {
        self.children(parent).push_back(child, self.node(child));
    }

    /// Unlinks `target` from its parent, if it has one.
    fn detach(&self, target: NodeId) {
        let node = self.node(target);
        if let Some(parent) = node.parent() {
            self.children(parent).remove(node);
            self.loose.borrow_mut().push(target);
        }
    }

    /// The nearest ancestor `<select>` of an `<option>`, per
    /// <https://html.spec.whatwg.org/#option-element-nearest-ancestor-select>.
    fn option_nearest_ancestor_select(&self, option: NodeId) -> Option<NodeId> {
        let mut seen_optgroup = false;
        let mut current = self.node(option).parent();
        while let Some(key) = current {
            let node = self.arena.get(key, self.guard())?;
            if node.is_html_element(&local_name!("datalist"))
                || node.is_html_element(&local_name!("hr"))
                || node.is_html_element(&local_name!("option"))
            {
                return None;
            }
            if node.is_html_element(&local_name!("optgroup")) {
                if seen_optgroup {
                    return None;
                }
                seen_optgroup = true;
            }
            if node.is_html_element(&local_name!("select")) {
                return Some(key);
            }
            current = node.parent();
        }
        None
    }

    /// A select's first `<selectedcontent>` descendant in tree order, unless it is
    /// `multiple` (<https://html.spec.whatwg.org/#select-enabled-selectedcontent>).
    fn enabled_selectedcontent(&self, select: NodeId) -> Option<NodeId> {
        if self.node(select).has_attr(&local_name!("multiple")) {
            return None;
        }
        let mut stack: Vec<NodeId> = self.children(select).keys();
        stack.reverse();
        while let Some(key) = stack.pop() {
            if self
                .node(key)
                .is_html_element(&local_name!("selectedcontent"))
            {
                return Some(key);
            }
            stack.extend(self.children(key).keys().into_iter().rev());
        }
        None
    }

    /// A deep copy of `from`'s subtree, parentless.
    fn clone_subtree(&self, from: NodeId) -> NodeId {
        let copy = self.insert(self.node(from).shallow_clone());
        let mut work = vec![(from, copy)];
        while let Some((from, to)) = work.pop() {
            for child in self.children(from).keys() {
                let child_copy = self.insert(self.node(child).shallow_clone());
                self.link_last(to, child_copy);
                work.push((child, child_copy));
            }
        }
        copy
    }

    /// Same size as `Attribute`, so this reuses the vector's allocation. Most elements
    /// have no attributes: those skip the in-place collection (about 75 instructions).
    fn attrs(attrs: Vec<Attribute>) -> Vec<Attr> {
        if attrs.is_empty() {
            return Vec::new();
        }
        attrs.into_iter().map(Attr::from).collect()
    }
}

impl<'a> TreeSink for ArenaSink<'a> {
    type Handle = NodeId;
    type Output = Parsed<'a>;
    type ElemName<'b>
        = ExpandedName<'b>
    where
        Self: 'b;

    fn finish(self) -> Parsed<'a> {
        // The guard and the roots of loose nodes go with the sink; the document's root keeps
        // the document alive from here on.
        Parsed {
            root: self.root,
            quirks_mode: self.quirks_mode.get(),
            errors: self.errors.get(),
            created: self.created.get(),
        }
    }

    fn parse_error(&self, _msg: Cow<'static, str>) {
        self.errors.set(self.errors.get() + 1);
    }

    fn get_document(&self) -> NodeId {
        self.document
    }

    fn elem_name<'b>(&'b self, target: &'b NodeId) -> ExpandedName<'b> {
        self.node(*target)
            .expanded_name()
            .unwrap_or_else(|| NO_NAME.expanded())
    }

    fn create_element(&self, name: QualName, attrs: Vec<Attribute>, flags: ElementFlags) -> NodeId {
        // The contents are inserted before the template that holds their key; both are fresh
        // for the sink's mutator until it links the template.
        let template_contents = flags
            .template
            .then(|| self.insert(Node::new(NodeData::Document)));
        self.insert(Node::new(NodeData::Element(Element {
            name,
            attrs: Mutex::new(Self::attrs(attrs)),
            template_contents,
            mathml_annotation_xml_integration_point: flags.mathml_annotation_xml_integration_point,
        })))
    }

    fn create_comment(&self, text: StrTendril) -> NodeId {
        self.insert(Node::new(NodeData::Comment(CompactString::from(&*text))))
    }

    fn create_pi(&self, target: StrTendril, data: StrTendril) -> NodeId {
        self.insert(Node::new(NodeData::ProcessingInstruction {
            target: Box::from(&*target),
            contents: Box::from(&*data),
        }))
    }

    fn append(&self, parent: &NodeId, child: NodeOrText<NodeId>) {
        match child {
            NodeOrText::AppendNode(child) => self.link_last(*parent, child),
            NodeOrText::AppendText(text) => {
                let mut children = self.children(*parent);
                if let Some(last) = children.last() {
                    if self.merge_text(last, &text) {
                        return;
                    }
                }
                let text = self.new_text(&text);
                children.push_back(text, self.node(text));
            }
        }
    }

    fn append_based_on_parent_node(
        &self,
        element: &NodeId,
        prev_element: &NodeId,
        child: NodeOrText<NodeId>,
    ) {
        if self.node(*element).parent().is_some() {
            self.append_before_sibling(element, child);
        } else {
            self.append(prev_element, child);
        }
    }

    fn append_doctype_to_document(
        &self,
        name: StrTendril,
        public_id: StrTendril,
        system_id: StrTendril,
    ) {
        let doctype = self.insert(Node::new(NodeData::Doctype {
            name: Box::from(&*name),
            public_id: Box::from(&*public_id),
            system_id: Box::from(&*system_id),
        }));
        self.link_last(self.document, doctype);
    }

    fn get_template_contents(&self, target: &NodeId) -> NodeId {
        // html5ever only asks for templates, which always have contents; for anything else
        // the element itself is the best answer that does not panic.
        match self
            .node(*target)
            .element()
            .and_then(|e| e.template_contents)
        {
            Some(contents) => contents,
            None => *target,
        }
    }

    fn same_node(&self, x: &NodeId, y: &NodeId) -> bool {
        x == y
    }

    fn set_quirks_mode(&self, mode: QuirksMode) {
        self.quirks_mode.set(mode);
    }

    fn append_before_sibling(&self, sibling: &NodeId, new_node: NodeOrText<NodeId>) {
        // html5ever promises the sibling has a parent; without one there is nowhere to put
        // the node, and RcDom would panic. We leave the tree unchanged instead.
        let sibling_node = self.node(*sibling);
        let Some(parent) = sibling_node.parent() else {
            return;
        };
        let child = match new_node {
            NodeOrText::AppendNode(node) => {
                // It may have an old parent (possibly this one): unlink it first.
                self.detach(node);
                node
            }
            NodeOrText::AppendText(text) => {
                let mut children = self.children(parent);
                if let Some(prev) = children.prev(sibling_node) {
                    if self.merge_text(prev, &text) {
                        return;
                    }
                }
                let text = self.new_text(&text);
                children.insert_before((*sibling, sibling_node), text, self.node(text));
                return;
            }
        };
        self.children(parent)
            .insert_before((*sibling, sibling_node), child, self.node(child));
    }

    fn add_attrs_if_missing(&self, target: &NodeId, attrs: Vec<Attribute>) {
        let Some(element) = self.node(*target).element() else {
            return;
        };
        let mut existing = lock(&element.attrs);
        let names: HashSet<AttrName> = existing.iter().map(|a| a.name.clone()).collect();
        existing.extend(
            Self::attrs(attrs)
                .into_iter()
                .filter(|a| !names.contains(&a.name)),
        );
    }

    fn remove_from_parent(&self, target: &NodeId) {
        self.detach(*target);
    }

    fn reparent_children(&self, node: &NodeId, new_parent: &NodeId) {
        if node == new_parent {
            return;
        }
        // Both lists locked at once, so a reader finds each moved child in exactly one of
        // them. Only this thread ever holds two child locks (readers hold one at a time and
        // the collector none), so the order cannot deadlock.
        let mut from = self.children(*node);
        let mut into = self.children(*new_parent);
        from.move_all_to(&mut into);
    }

    fn is_mathml_annotation_xml_integration_point(&self, handle: &NodeId) -> bool {
        self.node(*handle)
            .element()
            .is_some_and(|e| e.mathml_annotation_xml_integration_point)
    }

    fn maybe_clone_an_option_into_selectedcontent(&self, option: &NodeId) {
        // https://html.spec.whatwg.org/#maybe-clone-an-option-into-selectedcontent, with the
        // option's selectedness approximated by its `selected` attribute, as RcDom does.
        if !self.node(*option).has_attr(&local_name!("selected")) {
            return;
        }
        let Some(select) = self.option_nearest_ancestor_select(*option) else {
            return;
        };
        let Some(selectedcontent) = self.enabled_selectedcontent(select) else {
            return;
        };
        let copies: Vec<NodeId> = self
            .children(*option)
            .keys()
            .into_iter()
            .map(|child| self.clone_subtree(child))
            .collect();
        // "Replace all": the old children are detached (garbage for the next collection).
        self.children(selectedcontent).remove_all();
        for copy in copies {
            self.link_last(selectedcontent, copy);
        }
    }

    // The remaining hooks are html5ever notifications this DOM has no state for, exactly
    // as in RcDom: no script execution, no form owners, no line numbers, no declarative
    // shadow roots (`attach_declarative_shadow` declines, so the template stays a template).

    fn mark_script_already_started(&self, _node: &NodeId) {}

    fn pop(&self, _node: &NodeId) {}

    fn associate_with_form(
        &self,
        _target: &NodeId,
        _form: &NodeId,
        _nodes: (&NodeId, Option<&NodeId>),
    ) {
    }

    fn set_current_line(&self, _line_number: u64) {}

    fn allow_declarative_shadow_roots(&self, _intended_parent: &NodeId) -> bool {
        true
    }

    fn attach_declarative_shadow(
        &self,
        _location: &NodeId,
        _template: &NodeId,
        _attrs: &[Attribute],
    ) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use html5ever::interface::TreeSink;

    fn element(sink: &ArenaSink<'_>, name: &str) -> NodeId {
        let name = QualName::new(None, ns!(html), name.into());
        sink.create_element(name, Vec::new(), ElementFlags::default())
    }

    /// A node the tree builder holds unlinked at a safepoint (created and not yet appended,
    /// or detached) survives collections until a later safepoint finds it linked; then the
    /// sink lets go of it, and once unlinked for good it is garbage again.
    #[test]
    fn loose_nodes_are_rooted_across_safepoints_until_linked() {
        let arena = Arena::with_key();
        let mut sink = ArenaSink::new(&arena);
        let created = element(&sink, "b");
        let linked = element(&sink, "p");
        sink.append(&sink.document(), NodeOrText::AppendNode(linked));
        let detached = element(&sink, "i");
        sink.append(&linked, NodeOrText::AppendNode(detached));
        sink.remove_from_parent(&detached);
        sink.safepoint();
        assert_eq!(
            sink.held.len(),
            2,
            "the created and the detached node are held"
        );
        for _ in 0..2 {
            arena.collect([]);
            assert!(arena.contains(created) && arena.contains(detached) && arena.contains(linked));
        }
        sink.pin();
        sink.append(&linked, NodeOrText::AppendNode(created));
        sink.safepoint();
        assert_eq!(sink.held.len(), 1, "a node found linked is let go");
        arena.collect([]);
        assert!(arena.contains(created) && arena.contains(detached));
        drop(sink);
        arena.collect([]);
        assert!(arena.is_empty(), "the sink's roots outlived it");
    }
}
