//! `ArenaSink`: html5ever's `TreeSink` over a shared `&Arena<Node, NodeId>`.
//!
//! One sink builds one document on one thread; any number of sinks on other threads build
//! other documents into the same arena at the same time, while readers walk finished (or
//! unfinished) trees and a collector may run.
//!
//! # The garbage-collection contract, applied
//!
//! html5ever creates a node first and links it later (`create_element`, then `append`), and
//! between the two the node's key lives only in the tree builder's stack of open elements:
//! a local key, which is not a root. The sink therefore works under one `Guard` pinned for
//! the whole parse and inserts every node under it. A collection that starts marking while the parse is
//! under way waits (its epoch grace period) until the parse has ended, and a parse that
//! starts after marking began only creates values born in the running cycle, which that
//! cycle's sweep skips. So no node the tree builder still holds is ever swept, and a
//! collection costs at most one document's parse time of waiting.
//!
//! Every store of a key into a traced field (a child list, a template's contents) is
//! preceded by `Arena::shade` of that key, under the same guard: the insertion barrier that
//! keeps a marker from missing a child moved under an already-scanned parent.
//!
//! The document node is rooted (`Arena::root`) as soon as it exists; the root is handed to
//! the caller in [`Parsed`], and dropping it makes the document garbage.
//!
//! # Handles
//!
//! The tree builder's handle is a [`NodeRef`]: the key plus a `&Node` borrowed from the
//! parse's guard. html5ever asks for element names and follows handles many times per
//! token, and the reference answers without an arena lookup; the key goes into the child
//! lists, which must outlive the guard.

use crate::node::{lock, Attr, AttrName, Children, Element, Node, NodeData, NodeId};
use compact_str::CompactString;
use epoch_arena::{pin, Arena, Guard, Relocate, Root};
use html5ever::interface::{ElementFlags, NodeOrText, QuirksMode, TreeSink};
use html5ever::tendril::{StrTendril, TendrilSink};
use html5ever::{local_name, ns, Attribute, ExpandedName, QualName};
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
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

/// Parses `html` into `arena` on the calling thread, pinned for the whole parse.
///
/// Never fails: html5ever recovers from any malformed markup as browsers do.
pub fn parse<'a>(arena: &'a Arena<Node, NodeId>, html: &str) -> Parsed<'a> {
    let guard = pin();
    parse_pinned(arena, &guard, html)
}

/// [`parse`] under the caller's guard (which must not be repinned during the call).
pub fn parse_pinned<'a>(arena: &'a Arena<Node, NodeId>, guard: &Guard, html: &str) -> Parsed<'a> {
    html5ever::parse_document(ArenaSink::new(arena, guard), Default::default()).one(html)
}

/// The tree builder's handle: a node's key and the node itself, borrowed from the parse's
/// guard. Equal when the keys are.
#[derive(Debug, Clone, Copy)]
pub struct NodeRef<'g> {
    /// The node's key (what child lists store).
    pub key: NodeId,
    /// The node.
    pub node: &'g Node,
}

impl PartialEq for NodeRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for NodeRef<'_> {}

/// The tree sink. See the module docs for the protocol.
pub struct ArenaSink<'a, 'g> {
    arena: &'a Arena<Node, NodeId>,
    guard: &'g Guard,
    handle: RefCell<epoch_arena::Handle<'a, Node, NodeId>>,
    root: Root<'a, Node, NodeId>,
    document: NodeRef<'g>,
    quirks_mode: Cell<QuirksMode>,
    errors: Cell<usize>,
    created: Cell<usize>,
}

/// The name `elem_name` reports for a non-element (html5ever never asks; RcDom panics).
static NO_NAME: LazyLock<QualName> = LazyLock::new(|| QualName::new(None, ns!(), local_name!("")));

impl std::fmt::Debug for ArenaSink<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArenaSink")
            .field("document", &self.document.key)
            .field("quirks_mode", &self.quirks_mode.get())
            .field("errors", &self.errors.get())
            .field("created", &self.created.get())
            .finish_non_exhaustive()
    }
}

impl<'a: 'g, 'g> ArenaSink<'a, 'g> {
    /// A sink that builds a new document in `arena` under `guard`, which must stay pinned
    /// (not repinned) until the parse has finished.
    pub fn new(arena: &'a Arena<Node, NodeId>, guard: &'g Guard) -> Self {
        let mut handle = arena.handle();
        let key = handle.insert(Node::new(NodeData::Document));
        let root = arena.root(key);
        let node = arena.get(key, guard).expect("just inserted and rooted");
        ArenaSink {
            arena,
            guard,
            handle: RefCell::new(handle),
            root,
            document: NodeRef { key, node },
            quirks_mode: Cell::new(QuirksMode::NoQuirks),
            errors: Cell::new(0),
            created: Cell::new(1),
        }
    }

    /// The key of the document this sink builds (rooted, so it stays valid).
    pub fn document(&self) -> NodeId {
        self.document.key
    }

    /// The node behind a key read from a child list or a parent link.
    fn node(&self, key: NodeId) -> &'g Node {
        self.arena.get(key, self.guard).expect(
            "epoch-arena-dom bug: a node of the document being parsed is gone \
             (the parse's guard keeps every node it created alive until the parse ends)",
        )
    }

    fn node_ref(&self, key: NodeId) -> NodeRef<'g> {
        NodeRef {
            key,
            node: self.node(key),
        }
    }

    fn insert(&self, node: Node) -> NodeRef<'g> {
        self.created.set(self.created.get() + 1);
        let key = self.handle.borrow_mut().insert(node);
        self.node_ref(key)
    }

    fn new_text(&self, text: &str) -> NodeRef<'g> {
        self.insert(Node::new(NodeData::Text(Mutex::new(CompactString::from(
            text,
        )))))
    }

    fn children(&self, of: NodeRef<'g>) -> Children<'g> {
        of.node.children(of.key, self.arena, self.guard)
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
    fn link_last(&self, parent: NodeRef<'g>, child: NodeRef<'g>) {
        self.children(parent).push_back(child.key, child.node);
    }

    /// Unlinks `target` from its parent, if it has one.
    fn detach(&self, target: NodeRef<'g>) {
        if let Some(parent) = target.node.parent() {
            self.children(self.node_ref(parent)).remove(target.node);
        }
    }

    /// The nearest ancestor `<select>` of an `<option>`, per
    /// <https://html.spec.whatwg.org/#option-element-nearest-ancestor-select>.
    fn option_nearest_ancestor_select(&self, option: NodeRef<'g>) -> Option<NodeRef<'g>> {
        let mut seen_optgroup = false;
        let mut current = option.node.parent();
        while let Some(key) = current {
            let node = self.arena.get(key, self.guard)?;
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
                return Some(NodeRef { key, node });
            }
            current = node.parent();
        }
        None
    }

    /// A select's first `<selectedcontent>` descendant in tree order, unless it is
    /// `multiple` (<https://html.spec.whatwg.org/#select-enabled-selectedcontent>).
    fn enabled_selectedcontent(&self, select: NodeRef<'g>) -> Option<NodeRef<'g>> {
        if select.node.has_attr(&local_name!("multiple")) {
            return None;
        }
        let mut stack: Vec<NodeId> = self.children(select).keys();
        stack.reverse();
        while let Some(key) = stack.pop() {
            let node = self.node_ref(key);
            if node.node.is_html_element(&local_name!("selectedcontent")) {
                return Some(node);
            }
            stack.extend(self.children(node).keys().into_iter().rev());
        }
        None
    }

    /// A deep copy of `from`'s subtree, parentless.
    fn clone_subtree(&self, from: NodeRef<'g>) -> NodeRef<'g> {
        let copy = self.insert(from.node.shallow_clone());
        let mut work = vec![(from, copy)];
        while let Some((from, to)) = work.pop() {
            for child in self.children(from).keys() {
                let child = self.node_ref(child);
                let child_copy = self.insert(child.node.shallow_clone());
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

impl<'a: 'g, 'g> TreeSink for ArenaSink<'a, 'g> {
    type Handle = NodeRef<'g>;
    type Output = Parsed<'a>;
    type ElemName<'b>
        = ExpandedName<'b>
    where
        Self: 'b;

    fn finish(self) -> Parsed<'a> {
        // The caller unpins after this; the root keeps the document alive from here on.
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

    fn get_document(&self) -> NodeRef<'g> {
        self.document
    }

    fn elem_name<'b>(&'b self, target: &'b NodeRef<'g>) -> ExpandedName<'b> {
        target
            .node
            .expanded_name()
            .unwrap_or_else(|| NO_NAME.expanded())
    }

    fn create_element(
        &self,
        name: QualName,
        attrs: Vec<Attribute>,
        flags: ElementFlags,
    ) -> NodeRef<'g> {
        // The contents are inserted before the template that holds their key; both are born
        // under this parse's guard, so neither can be swept before the template is linked.
        let template_contents = flags
            .template
            .then(|| self.insert(Node::new(NodeData::Document)).key);
        self.insert(Node::new(NodeData::Element(Element {
            name,
            attrs: Mutex::new(Self::attrs(attrs)),
            template_contents,
            mathml_annotation_xml_integration_point: flags.mathml_annotation_xml_integration_point,
        })))
    }

    fn create_comment(&self, text: StrTendril) -> NodeRef<'g> {
        self.insert(Node::new(NodeData::Comment(CompactString::from(&*text))))
    }

    fn create_pi(&self, target: StrTendril, data: StrTendril) -> NodeRef<'g> {
        self.insert(Node::new(NodeData::ProcessingInstruction {
            target: Box::from(&*target),
            contents: Box::from(&*data),
        }))
    }

    fn append(&self, parent: &NodeRef<'g>, child: NodeOrText<NodeRef<'g>>) {
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
                children.push_back(text.key, text.node);
            }
        }
    }

    fn append_based_on_parent_node(
        &self,
        element: &NodeRef<'g>,
        prev_element: &NodeRef<'g>,
        child: NodeOrText<NodeRef<'g>>,
    ) {
        if element.node.parent().is_some() {
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

    fn get_template_contents(&self, target: &NodeRef<'g>) -> NodeRef<'g> {
        // html5ever only asks for templates, which always have contents; for anything else
        // the element itself is the best answer that does not panic.
        match target.node.element().and_then(|e| e.template_contents) {
            Some(contents) => self.node_ref(contents),
            None => *target,
        }
    }

    fn same_node(&self, x: &NodeRef<'g>, y: &NodeRef<'g>) -> bool {
        x == y
    }

    fn set_quirks_mode(&self, mode: QuirksMode) {
        self.quirks_mode.set(mode);
    }

    fn append_before_sibling(&self, sibling: &NodeRef<'g>, new_node: NodeOrText<NodeRef<'g>>) {
        // html5ever promises the sibling has a parent; without one there is nowhere to put
        // the node, and RcDom would panic. We leave the tree unchanged instead.
        let Some(parent) = sibling.node.parent() else {
            return;
        };
        let parent = self.node_ref(parent);
        let child = match new_node {
            NodeOrText::AppendNode(node) => {
                // It may have an old parent (possibly this one): unlink it first.
                self.detach(node);
                node
            }
            NodeOrText::AppendText(text) => {
                let mut children = self.children(parent);
                if let Some(prev) = children.prev(sibling.node) {
                    if self.merge_text(prev, &text) {
                        return;
                    }
                }
                let text = self.new_text(&text);
                children.insert_before((sibling.key, sibling.node), text.key, text.node);
                return;
            }
        };
        self.children(parent)
            .insert_before((sibling.key, sibling.node), child.key, child.node);
    }

    fn add_attrs_if_missing(&self, target: &NodeRef<'g>, attrs: Vec<Attribute>) {
        let Some(element) = target.node.element() else {
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

    fn remove_from_parent(&self, target: &NodeRef<'g>) {
        self.detach(*target);
    }

    fn reparent_children(&self, node: &NodeRef<'g>, new_parent: &NodeRef<'g>) {
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

    fn is_mathml_annotation_xml_integration_point(&self, handle: &NodeRef<'g>) -> bool {
        handle
            .node
            .element()
            .is_some_and(|e| e.mathml_annotation_xml_integration_point)
    }

    fn maybe_clone_an_option_into_selectedcontent(&self, option: &NodeRef<'g>) {
        // https://html.spec.whatwg.org/#maybe-clone-an-option-into-selectedcontent, with the
        // option's selectedness approximated by its `selected` attribute, as RcDom does.
        if !option.node.has_attr(&local_name!("selected")) {
            return;
        }
        let Some(select) = self.option_nearest_ancestor_select(*option) else {
            return;
        };
        let Some(selectedcontent) = self.enabled_selectedcontent(select) else {
            return;
        };
        let copies: Vec<NodeRef<'g>> = self
            .children(*option)
            .keys()
            .into_iter()
            .map(|child| self.clone_subtree(self.node_ref(child)))
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

    fn mark_script_already_started(&self, _node: &NodeRef<'g>) {}

    fn pop(&self, _node: &NodeRef<'g>) {}

    fn associate_with_form(
        &self,
        _target: &NodeRef<'g>,
        _form: &NodeRef<'g>,
        _nodes: (&NodeRef<'g>, Option<&NodeRef<'g>>),
    ) {
    }

    fn set_current_line(&self, _line_number: u64) {}

    fn allow_declarative_shadow_roots(&self, _intended_parent: &NodeRef<'g>) -> bool {
        true
    }

    fn attach_declarative_shadow(
        &self,
        _location: &NodeRef<'g>,
        _template: &NodeRef<'g>,
        _attrs: &[Attribute],
    ) -> bool {
        false
    }
}
