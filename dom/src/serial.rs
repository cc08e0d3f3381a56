//! Reading trees back out: HTML serialization (html5ever's serializer) and a canonical
//! tree dump in the html5lib test format, used to compare trees.

use crate::node::{lock, Node, NodeData, NodeId};
use epoch_arena::{Arena, Guard};
use html5ever::serialize::{serialize, Serialize, SerializeOpts, Serializer, TraversalScope};
use html5ever::QualName;
use std::fmt::Write as _;
use std::io;

/// A node of an arena DOM that html5ever's serializer can write.
#[derive(Debug)]
pub struct SerializableNode<'g> {
    arena: &'g Arena<Node, NodeId>,
    key: NodeId,
    guard: &'g Guard,
}

enum Op {
    Open(NodeId),
    Close(QualName),
}

impl Serialize for SerializableNode<'_> {
    fn serialize<S: Serializer>(&self, out: &mut S, scope: TraversalScope) -> io::Result<()> {
        let mut ops = match scope {
            TraversalScope::IncludeNode => vec![Op::Open(self.key)],
            TraversalScope::ChildrenOnly(_) => self.children_rev(self.key),
        };
        while let Some(op) = ops.pop() {
            let key = match op {
                Op::Open(key) => key,
                Op::Close(name) => {
                    out.end_elem(name)?;
                    continue;
                }
            };
            // A key whose node is gone (only possible while another thread edits the tree)
            // is skipped rather than reported as an error.
            let Some(node) = self.arena.get(key, self.guard) else {
                continue;
            };
            match &node.data {
                NodeData::Element(e) => {
                    {
                        let attrs = lock(&e.attrs);
                        let names: Vec<QualName> =
                            attrs.iter().map(|a| a.name.to_qual_name()).collect();
                        out.start_elem(
                            e.name.clone(),
                            names.iter().zip(attrs.iter().map(|a| &*a.value)),
                        )?;
                    }
                    ops.push(Op::Close(e.name.clone()));
                    // A template serializes its contents (the HTML spec's serialization
                    // algorithm); RcDom writes an empty `<template></template>` instead.
                    ops.extend(self.children_rev(e.template_contents.unwrap_or(key)));
                }
                NodeData::Doctype { name, .. } => out.write_doctype(name)?,
                NodeData::Text(t) => out.write_text(&lock(t))?,
                NodeData::Comment(c) => out.write_comment(c)?,
                NodeData::ProcessingInstruction { target, contents } => {
                    out.write_processing_instruction(target, contents)?
                }
                // A document inside a tree (template contents are reached through their
                // template, not as children): serialize its children.
                NodeData::Document => ops.extend(self.children_rev(key)),
            }
        }
        Ok(())
    }
}

impl SerializableNode<'_> {
    fn children_rev(&self, key: NodeId) -> Vec<Op> {
        match self.arena.get(key, self.guard) {
            Some(node) => node
                .child_keys(key, self.arena, self.guard)
                .into_iter()
                .rev()
                .map(Op::Open)
                .collect(),
            None => Vec::new(),
        }
    }
}

/// Serializes the children of `document` (a whole document) to an HTML string.
pub fn to_html(arena: &Arena<Node, NodeId>, document: NodeId, guard: &Guard) -> String {
    let node = SerializableNode {
        arena,
        key: document,
        guard,
    };
    let mut bytes = Vec::new();
    let opts = SerializeOpts {
        traversal_scope: TraversalScope::ChildrenOnly(None),
        ..Default::default()
    };
    serialize(&mut bytes, &node, opts).expect("writing to a Vec cannot fail");
    // html5ever's serializer only writes the UTF-8 it was given.
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The tree under `document` in the html5lib tree-construction test format: one line per
/// node, `| ` plus two spaces per depth, attributes sorted by name under their element,
/// template contents under a `content` line. Two trees are equal iff their dumps are.
pub fn dump(arena: &Arena<Node, NodeId>, document: NodeId, guard: &Guard) -> String {
    let mut out = String::new();
    let mut stack: Vec<(NodeId, usize)> = children(arena, document, guard)
        .into_iter()
        .rev()
        .map(|k| (k, 0))
        .collect();
    while let Some((key, depth)) = stack.pop() {
        let Some(node) = arena.get(key, guard) else {
            continue;
        };
        let line = match &node.data {
            NodeData::Document => DumpNode::Document,
            NodeData::Doctype {
                name,
                public_id,
                system_id,
            } => DumpNode::Doctype {
                name,
                public_id,
                system_id,
            },
            NodeData::Text(t) => {
                write_dump_line(&mut out, depth, DumpNode::Text(&lock(t)));
                continue;
            }
            NodeData::Comment(c) => DumpNode::Comment(c),
            NodeData::ProcessingInstruction { target, contents } => {
                DumpNode::ProcessingInstruction { target, contents }
            }
            NodeData::Element(e) => {
                let locked = lock(&e.attrs);
                let attrs = locked
                    .iter()
                    .map(|a| (a.name.to_qual_name(), &*a.value))
                    .collect();
                let template = e.template_contents.is_some();
                write_dump_line(
                    &mut out,
                    depth,
                    DumpNode::Element {
                        name: &e.name,
                        attrs,
                        template,
                    },
                );
                drop(locked);
                for child in children(arena, key, guard).into_iter().rev() {
                    stack.push((child, depth + 1));
                }
                if let Some(contents) = e.template_contents {
                    // The fragment's children go under the `content` line, one level deeper.
                    // Pushed last, so they print before the element's own children (it has
                    // none in practice: html5ever puts a template's children in its contents).
                    for child in children(arena, contents, guard).into_iter().rev() {
                        stack.push((child, depth + 2));
                    }
                }
                continue;
            }
        };
        write_dump_line(&mut out, depth, line);
    }
    out
}

/// One node as [`dump`] prints it. The tests build these from RcDom's nodes too, so both
/// trees are printed by the same code.
#[derive(Debug)]
pub enum DumpNode<'a> {
    /// A document (a template's contents are printed under `content` instead).
    Document,
    /// A doctype.
    Doctype {
        /// Its name.
        name: &'a str,
        /// Its public identifier.
        public_id: &'a str,
        /// Its system identifier.
        system_id: &'a str,
    },
    /// Text.
    Text(&'a str),
    /// A comment.
    Comment(&'a str),
    /// A processing instruction.
    ProcessingInstruction {
        /// Its target.
        target: &'a str,
        /// Its data.
        contents: &'a str,
    },
    /// An element with its attributes (any order; printed sorted by name).
    Element {
        /// Its name.
        name: &'a QualName,
        /// Name and value of each attribute.
        attrs: Vec<(QualName, &'a str)>,
        /// Whether it is a template, whose contents follow under a `content` line.
        template: bool,
    },
}

/// Appends `node`'s lines at `depth` to `out`; the caller prints the children after them.
pub fn write_dump_line(out: &mut String, depth: usize, node: DumpNode<'_>) {
    let indent = "  ".repeat(depth);
    let _ = match node {
        DumpNode::Document => writeln!(out, "| {indent}#document"),
        DumpNode::Doctype {
            name,
            public_id,
            system_id,
        } => {
            if public_id.is_empty() && system_id.is_empty() {
                writeln!(out, "| {indent}<!DOCTYPE {name}>")
            } else {
                writeln!(
                    out,
                    "| {indent}<!DOCTYPE {name} \"{public_id}\" \"{system_id}\">"
                )
            }
        }
        DumpNode::Text(text) => writeln!(out, "| {indent}\"{text}\""),
        DumpNode::Comment(c) => writeln!(out, "| {indent}<!-- {c} -->"),
        DumpNode::ProcessingInstruction { target, contents } => {
            writeln!(out, "| {indent}<?{target} {contents}>")
        }
        DumpNode::Element {
            name,
            attrs,
            template,
        } => {
            let _ = writeln!(out, "| {indent}<{}>", element_name(name));
            let mut attrs: Vec<(String, &str)> =
                attrs.iter().map(|(n, v)| (attr_name(n), *v)).collect();
            attrs.sort();
            for (name, value) in attrs {
                let _ = writeln!(out, "| {indent}  {name}=\"{value}\"");
            }
            if template {
                let _ = writeln!(out, "| {indent}  content");
            }
            Ok(())
        }
    };
}

fn children(arena: &Arena<Node, NodeId>, key: NodeId, guard: &Guard) -> Vec<NodeId> {
    arena
        .get(key, guard)
        .map(|node| node.child_keys(key, arena, guard))
        .unwrap_or_default()
}

/// `svg foo`, `math foo` or plain `foo`, as html5lib prints element names.
pub fn element_name(name: &QualName) -> String {
    match &*name.ns {
        "http://www.w3.org/2000/svg" => format!("svg {}", name.local),
        "http://www.w3.org/1998/Math/MathML" => format!("math {}", name.local),
        _ => name.local.to_string(),
    }
}

/// `xlink href` and the like for namespaced attributes, else the local name.
pub fn attr_name(name: &QualName) -> String {
    match &*name.ns {
        "" => name.local.to_string(),
        "http://www.w3.org/1999/xlink" => format!("xlink {}", name.local),
        "http://www.w3.org/XML/1998/namespace" => format!("xml {}", name.local),
        "http://www.w3.org/2000/xmlns/" => format!("xmlns {}", name.local),
        ns => format!("{ns} {}", name.local),
    }
}
