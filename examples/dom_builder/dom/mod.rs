//! An HTML DOM in one shared `Arena<Node>`, built by html5ever from many threads at once.
//!
//! * [`node`]: the node type, its links (an intrusive child list edited under the parent's
//!   lock) and its `Trace` impl.
//! * [`sink`]: html5ever's `TreeSink` over `&Arena<Node>`, one per document, and the
//!   garbage-collection contract it follows (one guard per parse, shade before every link).
//! * [`serial`]: HTML serialization and a canonical tree dump for comparing trees.
//!
//! This directory is shared by the `dom_builder` example, `tests/dom_builder.rs` and
//! `benches/dom_build.rs` (the latter two include it with `#[path]`).

// Each includer uses a different part of this module.
#![allow(dead_code, unused_imports)]

pub mod node;
pub mod serial;
pub mod sink;

pub use node::{count_reachable, Attr, AttrName, Children, Element, Node, NodeData};
pub use serial::{dump, to_html};
pub use sink::{parse, parse_pinned, ArenaSink, NodeRef, Parsed};
