//! An HTML DOM in one shared [`epoch_arena::Arena`], built by html5ever from many threads at
//! once and garbage-collected while it is built.
//!
//! Every node of every document lives in the same `Arena<Node, NodeId>` ([`NodeId`] is the
//! DOM's typed key, made by `epoch_arena::new_key_type!`). A parse on any thread
//! ([`parse`]) builds one document into it through html5ever's `TreeSink` ([`ArenaSink`]);
//! other threads may parse other documents, walk finished ones and run
//! [`Arena::collect`](epoch_arena::Arena::collect) at the same time. A document stays alive as
//! long as its [`Parsed`] (which holds a [`Root`](epoch_arena::Root) of the document node) is
//! alive; drop it and the next collection reclaims the document's nodes.
//!
//! ```
//! use epoch_arena::{pin, Arena};
//! use epoch_arena_dom::{parse, to_html, Node, NodeId};
//!
//! let arena: Arena<Node, NodeId> = Arena::with_key();
//! let page = parse(&arena, "<p>Hello, <b>world</b>");
//! let guard = pin();
//! assert_eq!(
//!     to_html(&arena, page.document(), &guard),
//!     "<html><head></head><body><p>Hello, <b>world</b></p></body></html>"
//! );
//! drop(guard);
//!
//! let before = arena.len();
//! drop(page); // the document is garbage now
//! arena.collect([]);
//! assert!(arena.len() < before);
//! ```
//!
//! * [`node`]: the node type and [`NodeId`], its links (an intrusive child list of
//!   `AtomicKey<NodeId>` cells edited under the parent's lock), its hand-written `Trace`
//!   impl (strong links only) and its derived `Relocate` impl (every link).
//! * [`sink`]: html5ever's `TreeSink` over `&Arena<Node, NodeId>`, one per document, the
//!   chunked [`Parser`], and the garbage-collection contract they follow (a mutator whose
//!   fresh nodes survive until a safepoint between chunks, one guard per chunk, shade
//!   before every link).
//! * [`memory`]: giving memory back after a collection: [`compact`] (which relocates every
//!   node link and the documents' keys) and the checks that the links survived it.
//! * [`persist`]: saving the parsed documents of an arena to a file and loading them back
//!   ([`save`], [`load`]): the arena's snapshot, with every key, and the documents' names
//!   and keys. The node type's serde encoding is described there.
//! * [`serial`]: HTML serialization and a canonical tree dump for comparing trees.
//! * [`input`]: loading documents from files and directories (`walkdir`), reporting what
//!   cannot be read, and decoding them in the encoding a browser would sniff
//!   (`encoding_rs`).
//! * [`corpus`]: a deterministic generator of realistic HTML pages, the default workload of
//!   the `epoch-arena-dom` program, the tests and the bench.

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod corpus;
pub mod input;
pub mod memory;
pub mod node;
pub mod persist;
pub mod serial;
pub mod sink;

pub use memory::{check_links, compact, link_shape, LinkShape, NodeLinks, Target};
pub use node::{count_reachable, Attr, AttrName, Children, Element, Links, Node, NodeData, NodeId};
pub use persist::{load, save, DocumentList, PersistError, SaveInfo};
pub use serial::{dump, to_html};
pub use sink::{parse, ArenaSink, Parsed, Parser, Unrooted, CHUNK};
