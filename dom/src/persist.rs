//! Saving the parsed documents of an arena to a file and loading them back: [`save`] and
//! [`load`].
//!
//! # The file
//!
//! | bytes | field                                                                     |
//! |-------|---------------------------------------------------------------------------|
//! | 26    | the magic line [`MAGIC`], `epoch-arena-dom documents\n`                   |
//! | 2     | the format version, `u16` little-endian ([`FORMAT_VERSION`])              |
//! | 8     | `n`, the length of the document list in bytes, `u64` little-endian        |
//! | 4     | CRC32C of the version, `n` and the list, `u32` little-endian              |
//! | `n`   | the document list: `Vec<(String, NodeId)>` in `postcard`: name and key    |
//! | rest  | the arena, as [`Arena::write_snapshot`] writes it (checksummed on its own) |
//!
//! The snapshot keeps every key, so the keys in the list name the same documents in the
//! loaded arena, and every link inside them points where it did. A [`NodeId`] is written
//! exactly as an untyped `epoch_arena::Key` (its 64-bit word): the bytes are the same as
//! when this crate used untyped keys, and the format version did not change.
//!
//! # The node encoding
//!
//! The snapshot encodes each [`Node`] with serde (`postcard`): its five links, each an
//! `Option<NodeId>` (the key's `u64` bits; each link is an `AtomicKey<NodeId>`, which
//! serializes as one), then its [`NodeData`]. Text, comments, attribute values and doctype
//! fields are strings. A [`Mutex`] is written as its contents (a poisoned one is read
//! through, as [`lock`] does) and a node's own lock is not written. html5ever's names are
//! interned atoms, not serde types: a `QualName` is the tuple `(prefix: Option<str>,
//! namespace: str, local: str)`, an [`AttrName`] is its `QualName`, and both are interned
//! again when read. A version of this crate that changes the encoding changes
//! [`FORMAT_VERSION`].

use crate::node::{lock, AttrName, Node, NodeData, NodeId};
use epoch_arena::{pin, Arena, Guard, SnapshotError, SnapshotInfo};
use html5ever::{LocalName, Namespace, Prefix, QualName};
use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::error::Error;
use std::fmt;
use std::io::{self, Read, Write};
use std::marker::PhantomData;
use std::sync::Mutex;

/// The first bytes of every document file: a line that says what the file is.
pub const MAGIC: &[u8; 26] = b"epoch-arena-dom documents\n";

/// The file format version [`save`] writes and [`load`] reads. It covers the layout above
/// and the node encoding.
pub const FORMAT_VERSION: u16 = 1;

/// The documents of a file, in order: each one's name (any text: a path, a URL) and its
/// document node's key. What [`load`] returns beside the arena; [`save`] takes a slice.
pub type DocumentList = Vec<(String, NodeId)>;

/// What [`save`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SaveInfo {
    /// Bytes written in all.
    pub bytes: u64,
    /// Documents listed.
    pub documents: usize,
    /// What the arena snapshot wrote (its `live` is the nodes saved).
    pub snapshot: SnapshotInfo,
}

/// Why [`save`] or [`load`] failed.
///
/// Loading never panics and never allocates more than a bounded multiple of the bytes it
/// has read, whatever the input declares.
#[derive(Debug)]
#[non_exhaustive]
pub enum PersistError {
    /// Reading or writing the file's prefix (magic, version, document list) failed.
    Io(io::Error),
    /// The input does not start with [`MAGIC`]: it is not a document file.
    BadMagic {
        /// The first bytes of the input.
        found: Vec<u8>,
    },
    /// The file's format version is not one this build reads.
    UnsupportedVersion {
        /// The version the file declares.
        found: u16,
        /// The version this build reads ([`FORMAT_VERSION`]).
        supported: u16,
    },
    /// The input ended inside the file's prefix.
    Truncated {
        /// What was being read.
        reading: &'static str,
    },
    /// The version, length or document list does not match its checksum.
    Checksum {
        /// The checksum stored in the file.
        stored: u32,
        /// The checksum of the bytes read.
        computed: u32,
    },
    /// The bytes pass their checksums but describe no documents [`save`] could have
    /// written: a list that does not decode, or a document whose key names no document
    /// node in the arena, or whose links do not form a tree.
    Corrupt(String),
    /// [`save`] was given a key that names no live document node.
    NotADocument {
        /// The document's name, as given.
        name: String,
        /// Its key.
        key: NodeId,
    },
    /// Writing or reading the arena snapshot failed.
    Snapshot(SnapshotError),
}

impl fmt::Display for PersistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PersistError::Io(e) => write!(f, "document file I/O failed: {e}"),
            PersistError::BadMagic { found } => write!(
                f,
                "not an epoch-arena-dom document file: it starts with {found:02x?}"
            ),
            PersistError::UnsupportedVersion { found, supported } => write!(
                f,
                "document file format version {found} is not supported (this build reads \
                 version {supported})"
            ),
            PersistError::Truncated { reading } => {
                write!(f, "document file truncated: it ends in {reading}")
            }
            PersistError::Checksum { stored, computed } => write!(
                f,
                "document file damaged: checksum mismatch in the document list (stored \
                 {stored:#010x}, computed {computed:#010x})"
            ),
            PersistError::Corrupt(reason) => write!(f, "corrupt document file: {reason}"),
            PersistError::NotADocument { name, key } => write!(
                f,
                "document {name:?}: its key {key:?} names no live document node"
            ),
            PersistError::Snapshot(e) => write!(f, "arena snapshot: {e}"),
        }
    }
}

impl Error for PersistError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            PersistError::Io(e) => Some(e),
            PersistError::Snapshot(e) => Some(e),
            _ => None,
        }
    }
}

impl From<SnapshotError> for PersistError {
    fn from(e: SnapshotError) -> PersistError {
        PersistError::Snapshot(e)
    }
}

/// Writes `documents` (a name and a document node's key each) and the whole `arena` to
/// `out` (see the [module docs](self) for the layout). Every node in the arena is written,
/// not only the documents' ones: collect first to leave the others out.
///
/// Save documents no thread is editing: a node is read link by link, without its lock.
/// Other threads may parse other documents meanwhile (their nodes are then saved in
/// whatever state they are in). `out` is written in small pieces: give it a buffered
/// writer.
///
/// # Errors
///
/// [`PersistError::NotADocument`] (before anything is written) if a key names no live
/// [`NodeData::Document`] node; [`PersistError::Io`] or [`PersistError::Snapshot`] if
/// writing fails. The bytes written so far are then not a valid file.
///
/// ```
/// use epoch_arena::{pin, Arena};
/// use epoch_arena_dom::{load, parse, save, to_html};
///
/// let arena = Arena::with_key();
/// let page = parse(&arena, "<title>t</title><p>Hello, <b>world</b>");
/// let documents = vec![("hello.html".to_string(), page.document())];
/// let mut file = Vec::new(); // or a BufWriter<File>
/// let info = save(&arena, &documents, &mut file).unwrap();
/// assert_eq!((info.documents, info.bytes), (1, file.len() as u64));
///
/// let (loaded, docs) = load(file.as_slice()).unwrap();
/// assert_eq!(docs, documents); // the same names and keys
/// let guard = pin();
/// assert_eq!(
///     to_html(&loaded, docs[0].1, &guard),
///     to_html(&arena, page.document(), &guard)
/// );
/// ```
pub fn save(
    arena: &Arena<Node, NodeId>,
    documents: &[(String, NodeId)],
    mut out: impl Write,
) -> Result<SaveInfo, PersistError> {
    {
        let guard = pin();
        for (name, key) in documents {
            let node = arena.get(*key, &guard);
            if !node.is_some_and(|n| matches!(n.data, NodeData::Document)) {
                return Err(PersistError::NotADocument {
                    name: name.clone(),
                    key: *key,
                });
            }
        }
    }
    let list = postcard::to_stdvec(documents)
        .map_err(|e| PersistError::Io(io::Error::new(io::ErrorKind::InvalidData, e)))?;
    let version = FORMAT_VERSION.to_le_bytes();
    let len = (list.len() as u64).to_le_bytes();
    let crc = list_checksum(&version, &len, &list);
    let mut prefix = Vec::with_capacity(MAGIC.len() + 14 + list.len());
    prefix.extend_from_slice(MAGIC);
    prefix.extend_from_slice(&version);
    prefix.extend_from_slice(&len);
    prefix.extend_from_slice(&crc.to_le_bytes());
    prefix.extend_from_slice(&list);
    out.write_all(&prefix).map_err(PersistError::Io)?;
    let snapshot = arena.write_snapshot(&mut out)?;
    out.flush().map_err(PersistError::Io)?;
    Ok(SaveInfo {
        bytes: prefix.len() as u64 + snapshot.bytes,
        documents: documents.len(),
        snapshot,
    })
}

/// Reads a file [`save`] wrote: the arena, with every key it held, and the document list.
///
/// Each listed document is checked before it is returned: its key names a parentless
/// document node, and its tree, followed from it (children, template contents), is a
/// tree: each node reached once, each child naming its list's owner as parent and its
/// neighbour as previous sibling, the owner's last child ending the list. So walking,
/// serializing or collecting a loaded document always ends, whatever the file held.
///
/// It reads exactly the file's bytes, so `input` may go on with other data. Nothing roots
/// the loaded documents: root them ([`Arena::root`], or an
/// [`Unrooted`](crate::Unrooted)'s `root`) before a collection runs, or it sweeps them.
/// Give it a buffered reader.
///
/// # Errors
///
/// Never a panic, whatever the bytes: not a document file ([`PersistError::BadMagic`]),
/// another format version ([`PersistError::UnsupportedVersion`]), cut short
/// ([`PersistError::Truncated`], or the snapshot's own
/// [`Truncated`](SnapshotError::Truncated)), damaged ([`PersistError::Checksum`], or the
/// snapshot's [`Checksum`](SnapshotError::Checksum)), well-formed but impossible
/// ([`PersistError::Corrupt`]), the input failing ([`PersistError::Io`]).
///
/// ```
/// use epoch_arena::Arena;
/// use epoch_arena_dom::{load, parse, save, PersistError};
///
/// let arena = Arena::with_key();
/// let page = parse(&arena, "<p>kept");
/// let mut file = Vec::new();
/// save(&arena, &[("page".into(), page.document())], &mut file).unwrap();
///
/// let (loaded, docs) = load(file.as_slice()).unwrap();
/// let _root = loaded.root(docs[0].1); // before any collection
///
/// let cut = &file[..file.len() / 2];
/// assert!(load(cut).is_err());
/// assert!(matches!(load(&b"<html>"[..]), Err(PersistError::BadMagic { .. })));
/// ```
pub fn load(mut input: impl Read) -> Result<(Arena<Node, NodeId>, DocumentList), PersistError> {
    let mut magic = [0; MAGIC.len()];
    let got = read_full(&mut input, &mut magic)?;
    if magic[..got] != MAGIC[..got] {
        return Err(PersistError::BadMagic {
            found: magic[..got].to_vec(),
        });
    }
    if got < MAGIC.len() {
        return Err(PersistError::Truncated {
            reading: "the magic line",
        });
    }
    let mut version = [0; 2];
    read_exact(&mut input, &mut version, "the format version")?;
    let found = u16::from_le_bytes(version);
    if found != FORMAT_VERSION {
        return Err(PersistError::UnsupportedVersion {
            found,
            supported: FORMAT_VERSION,
        });
    }
    let mut len = [0; 8];
    read_exact(&mut input, &mut len, "the document list's length")?;
    let mut stored = [0; 4];
    read_exact(&mut input, &mut stored, "the document list's checksum")?;
    let declared = u64::from_le_bytes(len);
    // Grows with the bytes actually there, never with the declared length.
    let mut list = Vec::new();
    (&mut input)
        .take(declared)
        .read_to_end(&mut list)
        .map_err(PersistError::Io)?;
    if (list.len() as u64) < declared {
        return Err(PersistError::Truncated {
            reading: "the document list",
        });
    }
    let (stored, computed) = (
        u32::from_le_bytes(stored),
        list_checksum(&version, &len, &list),
    );
    if stored != computed {
        return Err(PersistError::Checksum { stored, computed });
    }
    let documents = match postcard::take_from_bytes::<DocumentList>(&list) {
        Ok((documents, [])) => documents,
        Ok((_, rest)) => {
            return Err(PersistError::Corrupt(format!(
                "{} bytes left over after the document list",
                rest.len()
            )))
        }
        Err(e) => {
            return Err(PersistError::Corrupt(format!(
                "the document list does not decode: {e}"
            )))
        }
    };
    let arena = Arena::<Node, NodeId>::read_snapshot(&mut input)?;
    {
        let guard = pin();
        for (name, key) in &documents {
            check_tree(&arena, *key, &guard)
                .map_err(|why| PersistError::Corrupt(format!("document {name:?}: {why}")))?;
        }
    }
    Ok((arena, documents))
}

/// CRC32C of the version, the list's length and the list.
fn list_checksum(version: &[u8; 2], len: &[u8; 8], list: &[u8]) -> u32 {
    let crc = crc32c::crc32c(version);
    let crc = crc32c::crc32c_append(crc, len);
    crc32c::crc32c_append(crc, list)
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> Result<usize, PersistError> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(PersistError::Io(e)),
        }
    }
    Ok(filled)
}

fn read_exact(
    input: &mut impl Read,
    buf: &mut [u8],
    reading: &'static str,
) -> Result<(), PersistError> {
    if read_full(input, buf)? < buf.len() {
        return Err(PersistError::Truncated { reading });
    }
    Ok(())
}

/// Checks that `document` names a parentless document node whose tree is one (see
/// [`load`]). Each node is visited once, so it ends on any links.
fn check_tree(arena: &Arena<Node, NodeId>, document: NodeId, guard: &Guard) -> Result<(), String> {
    let fragment = |key: NodeId, what: &str| -> Result<(), String> {
        let node = arena
            .get(key, guard)
            .ok_or_else(|| format!("{what} {key:?} names no live node"))?;
        if !matches!(node.data, NodeData::Document) {
            return Err(format!("{what} {key:?} is not a document node"));
        }
        if let Some(parent) = node.parent() {
            return Err(format!("{what} {key:?} has parent {parent:?}"));
        }
        Ok(())
    };
    fragment(document, "the document")?;
    let mut seen = HashSet::from([document]);
    let mut owners = vec![document];
    while let Some(owner) = owners.pop() {
        let node = arena
            .get(owner, guard)
            .ok_or_else(|| format!("{owner:?} names no live node"))?;
        let links = node.links();
        let (mut prev, mut next) = (None, links.first_child);
        while let Some(child) = next {
            let c = arena
                .get(child, guard)
                .ok_or_else(|| format!("{owner:?}: child {child:?} names no live node"))?
                .links();
            if !seen.insert(child) {
                return Err(format!("{child:?} is reached twice"));
            }
            if c.parent != Some(owner) || c.prev_sibling != prev {
                return Err(format!(
                    "{child:?}, a child of {owner:?} after {prev:?}, names {:?} as parent and \
                     {:?} as previous sibling",
                    c.parent, c.prev_sibling
                ));
            }
            owners.push(child);
            prev = Some(child);
            next = c.next_sibling;
        }
        if links.last_child != prev {
            return Err(format!(
                "{owner:?}: last child {:?}, but the list ends at {prev:?}",
                links.last_child
            ));
        }
        if let Some(contents) = node.element().and_then(|e| e.template_contents) {
            fragment(contents, "template contents")?;
            // A clone of a template shares its contents: walk them once.
            if seen.insert(contents) {
                owners.push(contents);
            }
        }
    }
    Ok(())
}

/// `#[serde(with = "locked")]`: a `Mutex<T>` as its contents, read through poison.
pub(crate) mod locked {
    use super::*;

    pub(crate) fn serialize<T: Serialize, S: Serializer>(
        value: &Mutex<T>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        lock(value).serialize(serializer)
    }

    pub(crate) fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Mutex<T>, D::Error> {
        T::deserialize(deserializer).map(Mutex::new)
    }
}

/// `#[serde(with = "qual_name")]`: a `QualName` as `(prefix, namespace, local)` strings.
pub(crate) mod qual_name {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        name: &QualName,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        (name.prefix.as_deref(), &*name.ns, &*name.local).serialize(serializer)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<QualName, D::Error> {
        let (prefix, ns, local) = <(
            Option<Interned<Prefix>>,
            Interned<Namespace>,
            Interned<LocalName>,
        )>::deserialize(deserializer)?;
        Ok(QualName::new(prefix.map(|p| p.0), ns.0, local.0))
    }
}

/// An atom (`LocalName`, `Namespace`, `Prefix`) read from a string and interned.
struct Interned<A>(A);

impl<'de, A: for<'a> From<&'a str>> Deserialize<'de> for Interned<A> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Atom<A>(PhantomData<A>);
        impl<A: for<'a> From<&'a str>> Visitor<'_> for Atom<A> {
            type Value = Interned<A>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Interned<A>, E> {
                Ok(Interned(A::from(s)))
            }
        }
        deserializer.deserialize_str(Atom(PhantomData))
    }
}

/// As its [`QualName`] (see the [module docs](self)).
impl Serialize for AttrName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            AttrName::Local(local) => (None::<&str>, "", &**local).serialize(serializer),
            AttrName::Qualified(name) => qual_name::serialize(name, serializer),
        }
    }
}

/// From its [`QualName`], through `From<QualName>`: a plain name comes back as `Local`.
impl<'de> Deserialize<'de> for AttrName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<AttrName, D::Error> {
        qual_name::deserialize(deserializer).map(AttrName::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip<T: Serialize + for<'de> Deserialize<'de>>(value: &T) -> T {
        postcard::from_bytes(&postcard::to_stdvec(value).unwrap()).unwrap()
    }

    #[test]
    fn names_round_trip_and_plain_attribute_names_come_back_local() {
        let svg = QualName::new(
            Some(Prefix::from("xlink")),
            Namespace::from("http://www.w3.org/1999/xlink"),
            LocalName::from("href"),
        );
        let qualified = AttrName::from(svg.clone());
        assert!(matches!(qualified, AttrName::Qualified(_)));
        assert_eq!(roundtrip(&qualified), qualified);
        let local = AttrName::Local(LocalName::from("data-not-a-static-atom"));
        assert_eq!(roundtrip(&local), local);
        // A qualified name without prefix or namespace is read back in its canonical form.
        let odd = AttrName::Qualified(Box::new(QualName::new(
            None,
            html5ever::ns!(),
            LocalName::from("x"),
        )));
        assert_eq!(roundtrip(&odd), AttrName::Local(LocalName::from("x")));
    }

    #[test]
    fn a_poisoned_lock_is_read_through() {
        let text = Node::new(NodeData::Text(Mutex::new("abc".into())));
        let NodeData::Text(m) = &text.data else {
            unreachable!()
        };
        let _ = std::panic::catch_unwind(|| {
            let _held = m.lock().unwrap();
            panic!("poison it");
        });
        assert!(m.is_poisoned());
        let back: Node = roundtrip(&text);
        match &back.data {
            NodeData::Text(m) => assert_eq!(*lock(m), "abc"),
            other => panic!("read back as {other:?}"),
        }
    }

    #[test]
    fn bad_values_are_errors() {
        // A key of 0 bits (no key), a variant past the last, a string that is not UTF-8.
        let node = Node::new(NodeData::Document);
        let mut bytes = postcard::to_stdvec(&node).unwrap();
        assert_eq!(bytes, [0, 0, 0, 0, 0, 0]);
        bytes[5] = 9;
        assert!(postcard::from_bytes::<Node>(&bytes).is_err());
        assert!(postcard::from_bytes::<Node>(&[1, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(postcard::from_bytes::<Node>(&[0, 0, 0, 0, 0, 3, 1, 0xff]).is_err());
        assert!(postcard::from_bytes::<Node>(&[0, 0, 0]).is_err());
    }
}
