//! Saving the parsed documents of an arena and loading them back (`persist.rs`, and the
//! program's `--save` / `--load`): the loaded documents serialize to the same HTML, dump
//! to the same tree and keep every link (the same keys), also after a collection, a trim
//! and a compaction; damaged or crafted files are errors, never panics.
//!
//! Not run under Miri: html5ever's tree builder is far too slow there.
#![cfg(not(miri))]

use epoch_arena::{pin, Arena, SnapshotError};
use epoch_arena_dom::node::lock;
use epoch_arena_dom::{
    check_links, compact, corpus, dump, link_shape, load, parse, save, to_html, DocumentList,
    LinkShape, Links, Node, NodeData, NodeId, Parsed, PersistError, Unrooted,
};

/// Documents with the unusual parts of a node: templates (a contents key), SVG and MathML
/// (namespaces, qualified attribute names, the integration point flag), doctypes,
/// comments, merged attributes and text, the adoption agency.
const TRICKY: &[&str] = &[
    "",
    "<!DOCTYPE html><title>t</title><p class=a id=b>Hello <b>world</b>!",
    "<b><i>x</b>y</i>z",
    "<table>stray<tr><td>1<td>2</tr>text<p>para</table>after",
    "<template><tr><td>in template</td></tr></template><template>a<template>b</template></template>",
    "<svg viewBox='0 0 1 1'><a xlink:href='#x' xml:lang=en><circle r=1 /></a><foreignObject><p>html in svg</p></foreignObject></svg>",
    "<math><mi>x</mi><annotation-xml encoding='text/html'><p>h</p></annotation-xml></math>",
    "<html lang=en><body class=x><body id=y data-z=1>second body</body><html dir=rtl>",
    "<!-- comment --><!--><p>after comments &amp; entities &#8212; \u{1F600}",
    "<!DOCTYPE html PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\"><p>quirks?",
    "<select><option selected>1<option>2<optgroup><option>3</select>",
];

/// What a document looks like: its HTML, its tree dump and its links' shape.
fn look(arena: &Arena<Node, NodeId>, document: NodeId) -> (String, String, LinkShape) {
    let guard = pin();
    (
        to_html(arena, document, &guard),
        dump(arena, document, &guard),
        link_shape(arena, document, &guard),
    )
}

/// Parses a few generated pages and the tricky documents into one arena.
fn parse_all(arena: &Arena<Node, NodeId>) -> Vec<Parsed<'_>> {
    let pages = corpus::generate(5, 12 << 10, 0x5a7e);
    pages
        .iter()
        .map(|d| d.html.as_str())
        .chain(TRICKY.iter().copied())
        .map(|html| parse(arena, html))
        .collect()
}

fn names_and_keys(documents: &[NodeId]) -> Vec<(String, NodeId)> {
    documents
        .iter()
        .enumerate()
        .map(|(i, &key)| (format!("doc-{i}.html"), key))
        .collect()
}

fn save_to_vec(arena: &Arena<Node, NodeId>, documents: &[(String, NodeId)]) -> Vec<u8> {
    let mut bytes = Vec::new();
    let info = save(arena, documents, &mut bytes).unwrap();
    assert_eq!(info.bytes, bytes.len() as u64);
    assert_eq!(info.documents, documents.len());
    assert_eq!(info.snapshot.live, arena.len() as u64);
    bytes
}

/// The loaded arena holds exactly the original's keys, each with the same links and data;
/// each document looks the same, and its links agree with each other.
fn assert_same(
    original: &Arena<Node, NodeId>,
    loaded: &Arena<Node, NodeId>,
    documents: &[(String, NodeId)],
) {
    assert_eq!(loaded.len(), original.len());
    let guard = pin();
    let mut templates = 0;
    for (key, node) in original.iter(&guard) {
        let copy = loaded
            .get(key, &guard)
            .unwrap_or_else(|| panic!("{key:?} is gone after loading"));
        assert_eq!(copy.links(), node.links(), "{key:?}'s links");
        assert_eq!(
            format!("{:?}", copy.data),
            format!("{:?}", node.data),
            "{key:?}'s data"
        );
        if let (Some(a), Some(b)) = (node.element(), copy.element()) {
            assert_eq!(a.name, b.name);
            assert_eq!(
                *lock(&a.attrs),
                *lock(&b.attrs),
                "attribute names and values"
            );
            assert_eq!(a.template_contents, b.template_contents);
            templates += usize::from(a.template_contents.is_some());
        }
    }
    for (name, document) in documents {
        assert_eq!(
            look(loaded, *document),
            look(original, *document),
            "document {name}"
        );
        let nodes = check_links(loaded, *document, &guard).unwrap();
        assert_eq!(nodes, link_shape(loaded, *document, &guard).len());
    }
    assert!(
        templates > 0 || documents.is_empty(),
        "templates' contents keys are covered"
    );
}

fn collect_and_drain(arena: &Arena<Node, NodeId>) {
    arena.collect([]);
    // Swept nodes are dropped, and their slots freed, once the epoch has moved past every
    // guard (other tests' too: the epoch is shared by the process).
    arena.flush();
    let t = std::time::Instant::now();
    while arena.stats().pending_reclamation > 0 {
        assert!(
            t.elapsed().as_secs() < 60,
            "the swept nodes are never dropped"
        );
        pin().flush();
        std::thread::yield_now();
    }
}

#[test]
fn documents_round_trip_with_the_same_html_tree_and_keys() {
    let arena: Arena<Node, NodeId> = Arena::with_key();
    let parsed = parse_all(&arena);
    // Nodes html5ever detached while parsing go, so that every node left is a document's.
    collect_and_drain(&arena);
    let documents = names_and_keys(&parsed.iter().map(Parsed::document).collect::<Vec<_>>());
    let before: Vec<_> = documents.iter().map(|(_, k)| look(&arena, *k)).collect();
    let bytes = save_to_vec(&arena, &documents);

    let (loaded, docs) = load(bytes.as_slice()).unwrap();
    assert_eq!(docs, documents, "the same names and keys, in order");
    assert_same(&arena, &loaded, &documents);
    for ((_, key), want) in documents.iter().zip(&before) {
        assert_eq!(&look(&loaded, *key), want);
    }
    // Spot checks of what the tricky documents hold.
    let html: Vec<String> = docs
        .iter()
        .map(|(_, k)| to_html(&loaded, *k, &pin()))
        .collect();
    assert!(html.iter().any(|h| h.contains("xlink:href=\"#x\"")));
    assert!(html.iter().any(|h| h.contains("\u{1F600}")));
    assert!(html
        .iter()
        .any(|h| h.contains("<template>a<template>b</template></template>")));

    // Saving the loaded arena gives the same bytes: nothing was lost or added.
    assert_eq!(save_to_vec(&loaded, &docs), bytes);

    // The loaded documents live on: rooted, a collection keeps all of them; new documents
    // parse into the loaded arena beside them.
    let roots: Vec<Parsed<'_>> = docs
        .iter()
        .map(|&(_, document)| {
            Unrooted {
                document,
                quirks_mode: html5ever::interface::QuirksMode::NoQuirks,
                errors: 0,
                created: 0,
            }
            .root(&loaded)
        })
        .collect();
    let live = loaded.len();
    let stats = loaded.collect([]);
    assert_eq!((stats.marked, stats.swept), (live, 0));
    let extra = parse(&loaded, "<p>new");
    assert_eq!(
        to_html(&loaded, extra.document(), &pin()),
        "<html><head></head><body><p>new</p></body></html>"
    );
    assert_same(&arena, &loaded_without(&loaded, extra), &documents);
    drop(roots);
}

/// `arena` with the document `extra` collected away again (a copy through a snapshot).
fn loaded_without(arena: &Arena<Node, NodeId>, extra: Parsed<'_>) -> Arena<Node, NodeId> {
    drop(extra);
    collect_and_drain(arena);
    let mut bytes = Vec::new();
    arena.write_snapshot(&mut bytes).unwrap();
    Arena::read_snapshot(bytes.as_slice()).unwrap()
}

#[test]
fn round_trips_after_collection_trim_and_compaction() {
    let mut arena: Arena<Node, NodeId> = Arena::with_key();
    let parsed = parse_all(&arena);
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    for (i, p) in parsed.into_iter().enumerate() {
        if i % 3 == 1 {
            dropped.push(p.document());
        } else {
            kept.push(p);
        }
    }
    collect_and_drain(&arena);
    assert!(dropped.iter().all(|&k| !arena.contains(k)));
    assert!(arena.trim() > 0 || cfg!(not(target_os = "linux")));

    let documents = names_and_keys(&kept.iter().map(Parsed::document).collect::<Vec<_>>());
    let before: Vec<_> = documents.iter().map(|(_, k)| look(&arena, *k)).collect();
    let bytes = save_to_vec(&arena, &documents);
    let (loaded, docs) = load(bytes.as_slice()).unwrap();
    assert_eq!(docs, documents);
    assert_same(&arena, &loaded, &documents);
    // A dead key stays dead, also once the loaded arena reuses its slot.
    let refill: Vec<Parsed<'_>> = (0..4).map(|_| parse(&loaded, TRICKY[4])).collect();
    assert!(dropped.iter().all(|&k| !loaded.contains(k)));
    drop(refill);

    // Compacted: the keys move, and the file saved afterwards holds the new ones.
    let mut held: Vec<Unrooted> = kept.into_iter().map(Parsed::unroot).collect();
    let remap = compact(&mut arena, &mut held);
    assert!(remap.moved() > 0, "the compaction moves nodes");
    let documents = names_and_keys(&held.iter().map(|d| d.document).collect::<Vec<_>>());
    let bytes = save_to_vec(&arena, &documents);
    let (loaded, docs) = load(bytes.as_slice()).unwrap();
    assert_eq!(docs, documents);
    assert_same(&arena, &loaded, &documents);
    for ((_, key), want) in docs.iter().zip(&before) {
        let (html, tree, shape) = look(&loaded, *key);
        assert_eq!((&html, &tree, &shape), (&want.0, &want.1, &want.2));
    }
    // Unrooted, the loaded documents are garbage: every node goes.
    assert_eq!(loaded.collect([]).swept, arena.len());
}

/// A small file: the tricky documents only.
fn small_file() -> (Arena<Node, NodeId>, DocumentList, Vec<u8>) {
    let arena: Arena<Node, NodeId> = Arena::with_key();
    let keys: Vec<NodeId> = TRICKY[4..7]
        .iter()
        .map(|html| parse(&arena, html).unroot().document)
        .collect();
    let documents = names_and_keys(&keys);
    let bytes = save_to_vec(&arena, &documents);
    (arena, documents, bytes)
}

/// The offset where the arena snapshot starts in a file `save` wrote.
fn snapshot_start(bytes: &[u8]) -> usize {
    let len = u64::from_le_bytes(bytes[28..36].try_into().unwrap()) as usize;
    40 + len
}

#[test]
fn every_truncation_and_every_bit_flip_is_an_error() {
    let (_arena, _documents, bytes) = small_file();
    assert!(load(bytes.as_slice()).is_ok());
    let start = snapshot_start(&bytes);
    assert!(start < bytes.len());

    for len in 0..bytes.len() {
        let err = load(&bytes[..len]).map(|_| ()).unwrap_err();
        if len < start {
            assert!(
                matches!(err, PersistError::Truncated { .. }),
                "cut at {len}: {err}"
            );
        } else {
            assert!(
                matches!(err, PersistError::Snapshot(SnapshotError::Truncated { .. })),
                "cut at {len}: {err}"
            );
        }
        assert!(!err.to_string().is_empty());
    }

    let mut flipped = bytes.clone();
    for at in 0..bytes.len() {
        for bit in [0, 3, 7] {
            flipped[at] ^= 1 << bit;
            let err = match load(flipped.as_slice()) {
                Ok(_) => panic!("a flip of bit {bit} of byte {at} loads"),
                Err(err) => err,
            };
            flipped[at] ^= 1 << bit;
            let expected = match at {
                0..=25 => matches!(err, PersistError::BadMagic { .. }),
                26..=27 => matches!(err, PersistError::UnsupportedVersion { .. }),
                // A longer list runs into the snapshot (or past the end), a shorter one
                // fails its checksum.
                28..=35 => matches!(
                    err,
                    PersistError::Checksum { .. } | PersistError::Truncated { .. }
                ),
                _ if at < start => matches!(err, PersistError::Checksum { .. }),
                _ => matches!(err, PersistError::Snapshot(_)),
            };
            assert!(expected, "bit {bit} of byte {at}: {err}");
        }
    }
    assert_eq!(flipped, bytes);
}

#[test]
fn declared_lengths_are_not_believed() {
    let (_arena, _documents, bytes) = small_file();
    // A document list of 2^64 - 1 bytes in a short input: truncated, nothing allocated.
    let mut huge = bytes[..40].to_vec();
    huge[28..36].copy_from_slice(&u64::MAX.to_le_bytes());
    huge.extend_from_slice(&[0; 100]);
    assert!(matches!(
        load(huge.as_slice()),
        Err(PersistError::Truncated { .. })
    ));
    // A list that declares 2^32 entries and holds none, with a valid checksum.
    let list = [0xff, 0xff, 0xff, 0xff, 0x0f];
    let crafted = file_with_list(&list, &bytes[snapshot_start(&bytes)..]);
    let err = load(crafted.as_slice()).map(|_| ()).unwrap_err();
    assert!(matches!(err, PersistError::Corrupt(_)), "{err}");
    // Bytes left over after the list.
    let mut list = postcard::to_stdvec(&Vec::<(String, NodeId)>::new()).unwrap();
    list.push(0);
    let crafted = file_with_list(&list, &bytes[snapshot_start(&bytes)..]);
    let err = load(crafted.as_slice()).map(|_| ()).unwrap_err();
    assert!(err.to_string().contains("left over"), "{err}");
}

/// A file with the given document list bytes (and a valid checksum) before `snapshot`.
fn file_with_list(list: &[u8], snapshot: &[u8]) -> Vec<u8> {
    let version = 1u16.to_le_bytes();
    let len = (list.len() as u64).to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c_append(crc32c::crc32c(&version), &len), list);
    let mut out = epoch_arena_dom::persist::MAGIC.to_vec();
    out.extend_from_slice(&version);
    out.extend_from_slice(&len);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(list);
    out.extend_from_slice(snapshot);
    out
}

/// `node` with its links changed by `f`: through the encoding, whose links come first.
fn with_links(node: &Node, f: impl FnOnce(&mut Links)) -> Node {
    let bytes = postcard::to_stdvec(node).unwrap();
    let (mut links, data) = postcard::take_from_bytes::<Links>(&bytes).unwrap();
    f(&mut links);
    let mut bytes = postcard::to_stdvec(&links).unwrap();
    bytes.extend_from_slice(data);
    postcard::from_bytes(&bytes).unwrap()
}

/// Files whose checksums hold but whose documents are no trees are corrupt: a child list
/// that runs in a cycle (which would make every walk endless), a child naming another
/// parent, a document key naming an element.
#[test]
fn documents_that_are_not_trees_are_corrupt() {
    let (arena, documents, bytes) = small_file();
    let mut copy: Arena<Node, NodeId> =
        Arena::read_snapshot(&bytes[snapshot_start(&bytes)..]).unwrap();
    let doc = documents[0].1;
    let guard = pin();
    let html = arena.get(doc, &guard).unwrap().links().first_child.unwrap();
    let head = arena
        .get(html, &guard)
        .unwrap()
        .links()
        .first_child
        .unwrap();
    let body = arena.get(html, &guard).unwrap().links().last_child.unwrap();
    drop(guard);

    let damaged = |copy: &mut Arena<Node, NodeId>, key: NodeId, f: &dyn Fn(&mut Links)| {
        let node = copy.get_mut(key).unwrap();
        let changed = with_links(node, f);
        let original = std::mem::replace(node, changed);
        let result = {
            let mut file = Vec::new();
            save(copy, &documents, &mut file).unwrap();
            load(file.as_slice()).map(|_| ()).unwrap_err()
        };
        *copy.get_mut(key).unwrap() = original;
        result
    };
    // The body's next sibling is the head again.
    let err = damaged(&mut copy, body, &|l| l.next_sibling = Some(head));
    assert!(
        matches!(&err, PersistError::Corrupt(why) if why.contains("reached twice")),
        "{err}"
    );
    // The head names the document as its parent.
    let err = damaged(&mut copy, head, &|l| l.parent = Some(doc));
    assert!(matches!(err, PersistError::Corrupt(_)), "{err}");
    // The html element's last child is its first.
    let err = damaged(&mut copy, html, &|l| l.last_child = Some(head));
    assert!(matches!(err, PersistError::Corrupt(_)), "{err}");
    // The document has a parent.
    let err = damaged(&mut copy, doc, &|l| l.parent = Some(html));
    assert!(matches!(err, PersistError::Corrupt(_)), "{err}");
    // Unchanged, it loads.
    let mut file = Vec::new();
    save(&copy, &documents, &mut file).unwrap();
    assert!(load(file.as_slice()).is_ok());

    // A key naming an element: `save` refuses it, and a crafted list is corrupt.
    let err = save(&copy, &[("x".into(), body)], Vec::new()).unwrap_err();
    assert!(matches!(err, PersistError::NotADocument { .. }), "{err}");
    let list = postcard::to_stdvec(&vec![("x".to_string(), body)]).unwrap();
    let crafted = file_with_list(&list, &bytes[snapshot_start(&bytes)..]);
    let err = load(crafted.as_slice()).map(|_| ()).unwrap_err();
    assert!(
        matches!(&err, PersistError::Corrupt(why) if why.contains("not a document node")),
        "{err}"
    );
    // A dead key.
    let gone = arena.insert(Node::new(NodeData::Document));
    assert!(arena.remove(gone));
    let err = save(&arena, &[("gone".into(), gone)], Vec::new()).unwrap_err();
    assert!(matches!(err, PersistError::NotADocument { .. }), "{err}");
}

/// `load` reads exactly the file: what follows it is still in the reader.
#[test]
fn load_reads_exactly_the_file() {
    let (_arena, documents, bytes) = small_file();
    let mut stream = bytes.clone();
    stream.extend_from_slice(b"trailer");
    let mut reader = stream.as_slice();
    let (_, docs) = load(&mut reader).unwrap();
    assert_eq!(docs, documents);
    assert_eq!(reader, b"trailer");
}

#[cfg(feature = "cli")]
mod cli {
    use std::path::{Path, PathBuf};
    use std::process::{Command, Output};

    const BIN: &str = env!("CARGO_BIN_EXE_epoch-arena-dom");

    /// A fresh directory under the system's temporary directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(what: &str) -> TempDir {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let dir = std::env::temp_dir().join(format!(
                "epoch-arena-dom-{what}-{}-{nanos}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn path(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn run(args: &[&str]) -> (Output, String, String) {
        let out = Command::new(BIN).args(args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out, stdout, stderr)
    }

    fn arg(path: &Path) -> &str {
        path.to_str().unwrap()
    }

    /// The embedded corpus: `--save` after the collection, trim and compaction, then
    /// `--load`, which checks the documents against the corpus parsed again and saves a
    /// byte-identical file.
    #[test]
    fn save_then_load_the_embedded_corpus() {
        let dir = TempDir::new("corpus");
        let (saved, again) = (dir.path("kept.dom"), dir.path("again.dom"));
        let (out, stdout, stderr) = run(&[
            "--threads",
            "2",
            "--keep",
            "4",
            "--compact",
            "--save",
            arg(&saved),
        ]);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.contains("saved: 4 documents"), "{stdout}");
        let (out, stdout, stderr) =
            run(&["--load", arg(&saved), "--compact", "--save", arg(&again)]);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(
            stdout.contains(
                "check: 4 of the 4 loaded documents compared with their sources parsed again: \
                 they serialize to the same HTML"
            ),
            "{stdout}"
        );
        assert!(stdout.contains("kept 4 documents"), "{stdout}");
        assert!(
            stdout.contains("a collection of the re-rooted documents marks all"),
            "{stdout}"
        );
        assert_eq!(
            std::fs::read(&saved).unwrap(),
            std::fs::read(&again).unwrap(),
            "loading and saving again changes nothing"
        );
    }

    /// Files from a directory: the loaded documents are checked against the files, so a
    /// file changed since the save fails the check; a damaged save file is an error.
    #[test]
    fn load_checks_against_the_files_and_rejects_damaged_saves() {
        let dir = TempDir::new("files");
        let pages = dir.path("pages");
        std::fs::create_dir(&pages).unwrap();
        for (i, html) in super::TRICKY.iter().enumerate() {
            std::fs::write(pages.join(format!("{i:02}.html")), html).unwrap();
        }
        let saved = dir.path("pages.dom");
        let n = super::TRICKY.len().to_string();
        let (out, stdout, stderr) = run(&[arg(&pages), "--keep", &n, "--save", arg(&saved)]);
        assert!(out.status.success(), "{stdout}\n{stderr}");

        let (out, stdout, stderr) = run(&["--load", arg(&saved)]);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(
            stdout.contains(&format!(
                "check: {n} of the {n} loaded documents compared with their sources parsed \
                 again: they serialize to the same HTML"
            )),
            "{stdout}"
        );

        std::fs::write(pages.join("04.html"), "<p>changed since").unwrap();
        let (out, stdout, stderr) = run(&["--load", arg(&saved)]);
        assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
        assert!(
            stderr.contains("04.html serializes to other HTML than its source"),
            "{stderr}"
        );

        let bytes = std::fs::read(&saved).unwrap();
        let cut = dir.path("cut.dom");
        std::fs::write(&cut, &bytes[..bytes.len() - 5]).unwrap();
        let (out, _, stderr) = run(&["--load", arg(&cut)]);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("truncated"), "{stderr}");

        let (out, _, stderr) = run(&["--load", arg(&saved), arg(&pages)]);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("--load replaces parsing"), "{stderr}");
    }
}
