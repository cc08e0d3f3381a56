//! Tests of the DOM: trees equal to
//! html5ever's reference `RcDom`, parallel builds equal to serial ones, exact reclamation of
//! dropped documents, consistent child lists for concurrent readers, trees unchanged by
//! trimming and compaction, and bad input.
//!
//! Not run under Miri: html5ever's tree builder is far too slow there, and this code has no
//! `unsafe` of its own; the arena it runs on is covered by the library's Miri suite.
#![cfg(not(miri))]

use epoch_arena::{pin, Arena, ArenaKey, AtomicKey};
use epoch_arena_dom::serial::{write_dump_line, DumpNode};
use epoch_arena_dom::{
    check_links, compact, count_reachable, dump, link_shape, parse, to_html, LinkShape, Node,
    NodeData, NodeId, Parsed, Target, Unrooted,
};
use epoch_arena_dom::{corpus, input};
use html5ever::tendril::TendrilSink;
use markup5ever_rcdom::{Handle, NodeData as RcData, RcDom};
use proptest::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Documents that drive html5ever through its unusual paths: adoption agency, foster
/// parenting, templates, foreign content, attribute merging, text merging, quirks.
const TRICKY: &[&str] = &[
    "",
    "plain text, no tags",
    "<!DOCTYPE html><title>t</title><p class=a id=b>Hello <b>world</b>!",
    "<b><i>x</b>y</i>z",
    "<a href=1>one<a href=2>two</a>",
    "<p>1<div>2</p>3</div>",
    "<table>stray<tr><td>1<td>2</tr>text<p>para</table>after",
    "<table><b>bold<tr><td>c</td></tr>x</b></table>",
    "<template><tr><td>in template</td></tr></template><template>a<template>b</template></template>",
    "<svg viewBox='0 0 1 1'><circle r=1 /><foreignObject><p>html in svg</p></foreignObject></svg>",
    "<math><mi>x</mi><annotation-xml encoding='text/html'><p>h</p></annotation-xml></math>",
    "<html lang=en><body class=x><body id=y data-z=1>second body</body><html dir=rtl>",
    "a &amp; b &lt; c &copy; &#8212; &#x27; &unknown; & bare",
    "<ul><li>one<li>two<ul><li>nested</ul><li>three</ul><ol><li>x</ol>",
    "<!-- comment --><!--><!--- odd --!><p>after comments",
    "<select><option selected>1<option>2<optgroup><option>3</select>",
    "<form><input name=a value=1><textarea>t &amp; <b></textarea><button>b</button></form>",
    "<div><span>unclosed <em>deep <strong>deeper",
    "</div></span>stray end tags<br></br></p>",
    "<!DOCTYPE html PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\"><p>quirks?",
    "<script>if (a < b && c) { x = '</p>'; }</script><style>p > a { x: y }</style>",
    "<p>one\n\ntwo<pre>\n\nkeep</pre><textarea>\nx</textarea>",
    "<h1>a<h2>b</h1>c</h2>",
    "<nobr>1<nobr>2</nobr><marquee>m</marquee><frameset>",
    "<table><caption>c<table>nested</table></caption><colgroup><col></table>",
    "<p><b class=x><b class=x><b class=x><b class=x>noah's ark</p>y",
    "<div attr=\"unterminated><p>eof in attribute",
    "<a><p><a>x</a></p></a><b><p>split</b>tail</p>",
];

/// RcDom's tree in the same format as `epoch_arena_dom::dump`.
fn rcdom_dump(document: &Handle) -> String {
    fn walk(handle: &Handle, depth: usize, out: &mut String) {
        match &handle.data {
            RcData::Document => write_dump_line(out, depth, DumpNode::Document),
            RcData::Doctype {
                name,
                public_id,
                system_id,
            } => write_dump_line(
                out,
                depth,
                DumpNode::Doctype {
                    name,
                    public_id,
                    system_id,
                },
            ),
            RcData::Text { contents } => {
                write_dump_line(out, depth, DumpNode::Text(&contents.borrow()))
            }
            RcData::Comment { contents } => {
                write_dump_line(out, depth, DumpNode::Comment(contents))
            }
            RcData::ProcessingInstruction { target, contents } => write_dump_line(
                out,
                depth,
                DumpNode::ProcessingInstruction { target, contents },
            ),
            RcData::Element {
                name,
                attrs,
                template_contents,
                ..
            } => {
                let attrs = attrs.borrow();
                let template = template_contents.borrow();
                write_dump_line(
                    out,
                    depth,
                    DumpNode::Element {
                        name,
                        attrs: attrs.iter().map(|a| (a.name.clone(), &*a.value)).collect(),
                        template: template.is_some(),
                    },
                );
                if let Some(contents) = &*template {
                    for child in contents.children.borrow().iter() {
                        walk(child, depth + 2, out);
                    }
                }
            }
        }
        if !matches!(handle.data, RcData::Document) || depth > 0 {
            for child in handle.children.borrow().iter() {
                walk(child, depth + 1, out);
            }
        }
    }
    let mut out = String::new();
    for child in document.children.borrow().iter() {
        walk(child, 0, &mut out);
    }
    out
}

fn rcdom(html: &str) -> RcDom {
    html5ever::parse_document(RcDom::default(), Default::default()).one(html)
}

fn arena_dump(html: &str) -> (String, usize) {
    let arena = Arena::with_key();
    let doc = parse(&arena, html);
    let guard = pin();
    (dump(&arena, doc.document(), &guard), doc.errors)
}

#[test]
fn tricky_documents_match_rcdom() {
    for html in TRICKY {
        let reference = rcdom(html);
        let (ours, errors) = arena_dump(html);
        assert_eq!(ours, rcdom_dump(&reference.document), "tree of {html:?}");
        assert_eq!(
            errors,
            reference.errors.borrow().len(),
            "errors of {html:?}"
        );
        assert!(!ours.is_empty() || html.is_empty());
    }
}

#[test]
fn small_document_has_the_expected_shape() {
    let arena = Arena::with_key();
    let doc = parse(&arena, "<!DOCTYPE html><p class=a>x<b>y</b>z &amp; w</p>");
    let guard = pin();
    let expected = "\
| <!DOCTYPE html>
| <html>
|   <head>
|   <body>
|     <p>
|       class=\"a\"
|       \"x\"
|       <b>
|         \"y\"
|       \"z & w\"
";
    assert_eq!(dump(&arena, doc.document(), &guard), expected);
    assert_eq!(
        to_html(&arena, doc.document(), &guard),
        "<!DOCTYPE html><html><head></head><body><p class=\"a\">x<b>y</b>z &amp; w</p></body></html>"
    );
    // The parent links agree with the child lists.
    let html =
        arena
            .get(doc.document(), &guard)
            .unwrap()
            .child_keys(doc.document(), &arena, &guard)[1];
    let node = arena.get(html, &guard).unwrap();
    assert_eq!(node.parent(), Some(doc.document()));
    assert!(node.is_html_element(&html5ever::local_name!("html")));
}

#[test]
fn generated_corpus_matches_rcdom() {
    for doc in corpus::generate(12, 16 << 10, 7) {
        let reference = rcdom(&doc.html);
        let (ours, errors) = arena_dump(&doc.html);
        assert_eq!(
            ours,
            rcdom_dump(&reference.document),
            "tree of {}",
            doc.name
        );
        assert_eq!(
            errors,
            reference.errors.borrow().len(),
            "errors of {}",
            doc.name
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Differential test: markup soup from a small alphabet of tags, attributes, text and
    /// broken syntax gives the same tree as RcDom, and never panics.
    #[test]
    fn random_markup_matches_rcdom(parts in proptest::collection::vec(0usize..PIECES.len(), 0..40)) {
        let html: String = parts.iter().map(|&i| PIECES[i]).collect();
        let reference = rcdom(&html);
        let (ours, _) = arena_dump(&html);
        prop_assert_eq!(ours, rcdom_dump(&reference.document), "input {:?}", html);
    }
}

const PIECES: &[&str] = &[
    "<p>",
    "</p>",
    "<b>",
    "</b>",
    "<i>",
    "</i>",
    "<a href=x>",
    "</a>",
    "<div>",
    "</div>",
    "<table>",
    "</table>",
    "<tr>",
    "<td>",
    "</td>",
    "<template>",
    "</template>",
    "<svg>",
    "</svg>",
    "<math>",
    "<li>",
    "<ul>",
    "</ul>",
    "<select>",
    "<option selected>",
    "<selectedcontent>",
    "<button>",
    "</select>",
    "<form>",
    "<body a=1>",
    "<html b=2>",
    "text",
    " ",
    "\n",
    "&amp;",
    "&",
    "<!--c-->",
    "<!DOCTYPE html>",
    "<br>",
    "</br>",
    "<nobr>",
    "<h1>",
    "<h2>",
    "<pre>",
    "<textarea>",
    "<script>",
    "</script>",
    "<caption>",
    "<col>",
    "<frameset>",
    "<",
    ">",
    "'",
    "\"",
    "=",
    "\u{0}",
    "é",
    "<foreignObject>",
    "<title>",
    "<style>",
    "<head>",
];

#[test]
fn parallel_build_with_concurrent_collections_equals_serial_build() {
    let docs = corpus::generate(24, 24 << 10, 11);

    let serial_arena = Arena::with_key();
    let serial: Vec<String> = {
        let parsed: Vec<Parsed<'_>> = docs.iter().map(|d| parse(&serial_arena, &d.html)).collect();
        let guard = pin();
        parsed
            .iter()
            .map(|p| dump(&serial_arena, p.document(), &guard))
            .collect()
    };

    let arena = Arena::with_key();
    let next = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let slots: Vec<Mutex<Option<Parsed<'_>>>> = docs.iter().map(|_| Mutex::new(None)).collect();
    let collections = std::thread::scope(|s| {
        let workers: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= docs.len() {
                        break;
                    }
                    let parsed = parse(&arena, &docs[i].html);
                    *slots[i].lock().unwrap() = Some(parsed);
                })
            })
            .collect();
        let collector = s.spawn(|| {
            let mut n = 0;
            while !done.load(Ordering::Acquire) {
                arena.collect([]);
                n += 1;
            }
            n
        });
        for w in workers {
            w.join().unwrap();
        }
        done.store(true, Ordering::Release);
        collector.join().unwrap()
    });
    assert!(collections >= 1);
    // One more collection after the build: everything the documents hold must survive it.
    arena.collect([]);
    let guard = pin();
    for (i, slot) in slots.iter().enumerate() {
        let slot = slot.lock().unwrap();
        let parsed = slot.as_ref().expect("parsed");
        assert_eq!(
            dump(&arena, parsed.document(), &guard),
            serial[i],
            "document {i} differs between the parallel and the serial build"
        );
    }
}

#[test]
fn collect_after_drop_reclaims_exactly_the_dropped_documents() {
    let docs = corpus::generate(10, 16 << 10, 3);
    let arena = Arena::with_key();
    let parsed: Vec<Parsed<'_>> = docs.iter().map(|d| parse(&arena, &d.html)).collect();
    let created: usize = parsed.iter().map(|p| p.created).sum();
    assert_eq!(arena.len(), created);

    // A first collection with every root held only sweeps what html5ever detached.
    let guard = pin();
    let reachable: Vec<usize> = parsed
        .iter()
        .map(|p| count_reachable(&arena, p.document(), &guard))
        .collect();
    drop(guard);
    let all_reachable: usize = reachable.iter().sum();
    let first = arena.collect([]);
    assert_eq!(first.swept, created - all_reachable);
    assert_eq!(first.marked, all_reachable);

    // Keep documents 2 and 7; drop the rest.
    let guard = pin();
    let mut kept = Vec::new();
    let mut dropped = 0;
    for (i, p) in parsed.into_iter().enumerate() {
        if i == 2 || i == 7 {
            let before = (
                to_html(&arena, p.document(), &guard),
                dump(&arena, p.document(), &guard),
            );
            kept.push((p, before));
        } else {
            dropped += reachable[i];
        }
    }
    drop(guard);
    let stats = arena.collect([]);
    assert_eq!(
        stats.swept, dropped,
        "exactly the dropped documents' nodes are swept"
    );
    assert_eq!(arena.len(), reachable[2] + reachable[7]);
    let guard = pin();
    for (p, (html, tree)) in &kept {
        assert_eq!(&to_html(&arena, p.document(), &guard), html);
        assert_eq!(&dump(&arena, p.document(), &guard), tree);
    }
    drop(guard);

    // And once the last roots go, the arena empties.
    drop(kept);
    let last = arena.collect([]);
    assert_eq!(last.swept, reachable[2] + reachable[7]);
    assert!(arena.is_empty());
}

/// Readers on other threads walk documents while they are built: under a list's lock, every
/// child in it names that list's owner as its parent, and no child appears twice.
#[test]
fn readers_see_consistent_child_lists_while_documents_are_built() {
    let docs = corpus::generate(8, 32 << 10, 5);
    let arena: Arena<Node, NodeId> = Arena::with_key();
    // The document keys are published as soon as each parse starts: readers follow the
    // documents' growth, not only finished trees.
    let keys: Vec<AtomicKey<NodeId>> = docs.iter().map(|_| AtomicKey::default()).collect();
    let done = AtomicBool::new(false);
    let checked = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let builder = s.spawn(|| {
            let mut kept = Vec::new();
            for (i, doc) in docs.iter().enumerate() {
                let sink = epoch_arena_dom::ArenaSink::new(&arena);
                // Publish the document's key before feeding the input.
                keys[i].store(Some(sink.document()), Ordering::Release);
                let parser = html5ever::parse_document(sink, Default::default());
                kept.push(parser.one(doc.html.as_str()));
            }
            kept
        });
        let reader = s.spawn(|| {
            // One last walk after `done` (over the finished documents): something is checked
            // even if this thread was not scheduled during the build (a loaded machine).
            let mut last = false;
            while !last {
                last = done.load(Ordering::Acquire);
                for k in &keys {
                    let Some(doc) = k.load(Ordering::Acquire) else {
                        continue;
                    };
                    let guard = pin();
                    let mut stack = vec![doc];
                    while let Some(key) = stack.pop() {
                        let Some(node) = arena.get(key, &guard) else {
                            continue;
                        };
                        let children = node.children(key, &arena, &guard);
                        let mut seen = std::collections::HashSet::new();
                        let mut prev = None;
                        for (child, c) in children.iter() {
                            assert!(seen.insert(child), "a child appears twice in one list");
                            assert_eq!(
                                c.parent(),
                                Some(key),
                                "child's parent is not the list's owner"
                            );
                            assert_eq!(
                                children.prev(c),
                                prev,
                                "prev link disagrees with the order"
                            );
                            prev = Some(child);
                            stack.push(child);
                            checked.fetch_add(1, Ordering::Relaxed);
                        }
                        assert_eq!(children.last(), prev, "last child is not the list's end");
                        drop(children);
                        if let Some(t) = node.element().and_then(|e| e.template_contents) {
                            stack.push(t);
                        }
                    }
                }
            }
        });
        let kept = builder.join().unwrap();
        done.store(true, Ordering::Release);
        reader.join().unwrap();
        drop(kept);
    });
    assert!(checked.load(Ordering::Relaxed) > 0);
}

#[test]
fn text_nodes_merge_like_rcdom() {
    let arena = Arena::with_key();
    let doc = parse(&arena, "<p>a&amp;b<!--c-->d&lt;e</p>");
    let guard = pin();
    let body_p = {
        let kids = |k| arena.get(k, &guard).unwrap().child_keys(k, &arena, &guard);
        let html = kids(doc.document())[0];
        let body = kids(html)[1];
        kids(body)[0]
    };
    let texts: Vec<String> = arena
        .get(body_p, &guard)
        .unwrap()
        .child_keys(body_p, &arena, &guard)
        .into_iter()
        .filter_map(|k| match &arena.get(k, &guard).unwrap().data {
            NodeData::Text(t) => Some(t.lock().unwrap().to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["a&b", "d<e"]);
}

#[test]
fn unreadable_paths_are_reported_and_skipped_and_legacy_bytes_are_transcoded() {
    let dir = std::env::temp_dir().join(format!("dom_builder_input_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("a.html"), "<p>a").unwrap();
    std::fs::write(dir.join("sub/b.htm"), b"\xEF\xBB\xBF<p>b").unwrap();
    std::fs::write(dir.join("sub/c.html"), b"<p>caf\xE9 \xFF</p>").unwrap();
    std::fs::write(dir.join("notes.txt"), "not html").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.join("missing.html"), dir.join("dangling.html")).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&dir, dir.join("sub/loop")).unwrap();

    let paths = [dir.clone(), dir.join("nope.html"), dir.join("notes.txt")];
    let loaded = input::load(&paths);
    let names: Vec<&str> = loaded
        .docs
        .iter()
        .map(|d| d.name.rsplit('/').next().unwrap())
        .collect();
    // Directory walk: a.html, sub/b.htm, sub/c.html (notes.txt only when named; the loop is
    // not followed twice), then the named notes.txt.
    assert_eq!(names, ["a.html", "b.htm", "c.html", "notes.txt"]);
    assert_eq!(
        loaded.docs[1].html, "<p>b",
        "the byte-order mark is dropped"
    );
    // Not UTF-8 and unlabeled: windows-1252, as browsers read it.
    assert_eq!(loaded.docs[2].html, "<p>café ÿ</p>");
    assert_eq!(loaded.transcoded, 1);
    let expected_skipped = if cfg!(unix) { 2 } else { 1 }; // nope.html, dangling.html
    assert_eq!(loaded.skipped, expected_skipped);

    // Everything loaded parses, transcoded text included.
    let arena = Arena::with_key();
    for doc in &loaded.docs {
        let p = parse(&arena, &doc.html);
        assert!(count_reachable(&arena, p.document(), &pin()) >= 4);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What a kept document looks like: its HTML, its tree dump and its links' shape.
fn snapshot(arena: &Arena<Node, NodeId>, document: NodeId) -> (String, String, LinkShape) {
    let guard = pin();
    (
        to_html(arena, document, &guard),
        dump(arena, document, &guard),
        link_shape(arena, document, &guard),
    )
}

/// Parses generated pages, then the tricky documents (templates, foreign content, adoption
/// agency) after them, into one arena, drops the pages and every third tricky document,
/// and collects. The kept documents sit in the highest slots, above the freed ones, so a
/// compaction moves them. Returns the kept documents, unrooted, with their snapshots taken
/// before the collection.
fn kept_after_collection(
    arena: &Arena<Node, NodeId>,
) -> Vec<(Unrooted, (String, String, LinkShape))> {
    let pages = corpus::generate(10, 16 << 10, 21);
    let dropped: Vec<Parsed<'_>> = pages.iter().map(|d| parse(arena, &d.html)).collect();
    let mut kept = Vec::new();
    let mut dropped_too = Vec::new();
    for (i, html) in TRICKY.iter().enumerate() {
        let p = parse(arena, html);
        if i % 3 == 1 {
            dropped_too.push(p);
        } else {
            let before = snapshot(arena, p.document());
            kept.push((p, before));
        }
    }
    drop((dropped, dropped_too));
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
    let guard = pin();
    let kept_nodes: usize = kept
        .iter()
        .map(|(p, _)| count_reachable(arena, p.document(), &guard))
        .sum();
    assert_eq!(arena.len(), kept_nodes, "only the kept documents are left");
    drop(guard);
    kept.into_iter().map(|(p, s)| (p.unroot(), s)).collect()
}

/// Every kept document serializes and dumps as before, its links agree with each other,
/// and each points to the node at the same position as before.
fn assert_unchanged(arena: &Arena<Node, NodeId>, kept: &[(Unrooted, (String, String, LinkShape))]) {
    for (doc, (html, tree, shape)) in kept {
        let (html2, tree2, shape2) = snapshot(arena, doc.document);
        assert_eq!(&html2, html);
        assert_eq!(&tree2, tree);
        assert_eq!(&shape2, shape, "a link points elsewhere in\n{tree}");
        let nodes = check_links(arena, doc.document, &pin()).unwrap();
        assert_eq!(nodes, shape.len());
        assert!(shape.nodes().iter().all(|n| [
            n.parent,
            n.prev_sibling,
            n.next_sibling,
            n.first_child,
            n.last_child
        ]
        .iter()
        .all(|t| matches!(t, Target::None | Target::Node(_)))));
    }
}

#[test]
fn compaction_keeps_serialization_and_every_link() {
    let mut arena: Arena<Node, NodeId> = Arena::with_key();
    let mut kept = kept_after_collection(&arena);
    assert!(kept.len() >= 10);
    let templates = kept
        .iter()
        .filter(|(_, (_, _, shape))| {
            shape
                .nodes()
                .iter()
                .any(|n| matches!(n.template_contents, Target::Node(_)))
        })
        .count();
    assert!(templates > 0, "a template's contents key is relocated too");
    assert_unchanged(&arena, &kept);

    let live = arena.len();
    let old: Vec<NodeId> = kept.iter().map(|(d, _)| d.document).collect();
    let capacity = arena.capacity();
    let mut docs: Vec<Unrooted> = kept.iter().map(|(d, _)| *d).collect();
    let remap = compact(&mut arena, &mut docs);
    assert_eq!(remap.live(), live);
    assert!(remap.moved() > 0, "the kept documents sat above the holes");
    assert!(
        arena.capacity() < capacity,
        "the chunks above were given back"
    );
    assert_eq!(arena.len(), live);
    for (i, doc) in docs.iter().enumerate() {
        assert_eq!(remap.get(old[i]), Some(doc.document));
        if doc.document != old[i] {
            assert!(
                !arena.contains(old[i]),
                "a moved document's old key is dead"
            );
        }
        kept[i].0 = *doc;
    }
    // Every live node is in the lowest slots now.
    let guard = pin();
    assert!(arena
        .iter(&guard)
        .all(|(k, _)| (k.to_key().index() as usize) < live));
    drop(guard);
    assert_unchanged(&arena, &kept);

    // A second compaction has nothing to move and changes nothing.
    let again = compact(&mut arena, &mut docs);
    assert_eq!(again.moved(), 0);
    assert!(docs
        .iter()
        .zip(&kept)
        .all(|(d, k)| d.document == k.0.document));
    assert_unchanged(&arena, &kept);

    // The relocated traced links still reach every node: rooted again, the documents keep
    // all of them through a collection, and unrooted, they go.
    let roots: Vec<Parsed<'_>> = docs.iter().map(|d| d.root(&arena)).collect();
    let stats = arena.collect([]);
    assert_eq!((stats.marked, stats.swept), (live, 0));
    assert_unchanged(&arena, &kept);
    drop(roots);
    assert_eq!(arena.collect([]).swept, live);
    assert!(arena.is_empty());
}

#[test]
fn trim_keeps_serialization_and_every_link() {
    let arena: Arena<Node, NodeId> = Arena::with_key();
    let kept = kept_after_collection(&arena);
    let roots: Vec<Parsed<'_>> = kept.iter().map(|(d, _)| d.root(&arena)).collect();
    let before = arena.resident_bytes();
    let released = arena.trim();
    #[cfg(target_os = "linux")]
    {
        assert!(released > 0, "the dropped pages' memory goes back");
        assert!(arena.resident_bytes() < before);
    }
    let _ = (before, released);
    assert_unchanged(&arena, &kept);

    // Trimming runs while other threads parse into the arena and read the kept documents;
    // the released slots are reused, and the new documents come out as a serial parse's.
    let pages = corpus::generate(6, 16 << 10, 22);
    let expected: Vec<String> = {
        let serial = Arena::with_key();
        pages
            .iter()
            .map(|d| dump(&serial, parse(&serial, &d.html).document(), &pin()))
            .collect()
    };
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let builder = s.spawn(|| {
            let parsed: Vec<Parsed<'_>> = pages.iter().map(|d| parse(&arena, &d.html)).collect();
            done.store(true, Ordering::Release);
            parsed
        });
        let reader = s.spawn(|| {
            while !done.load(Ordering::Acquire) {
                assert_unchanged(&arena, &kept);
            }
        });
        // At least one trim, even if the build ends before this loop starts.
        let mut trims = 0;
        loop {
            arena.trim();
            trims += 1;
            if done.load(Ordering::Acquire) {
                break;
            }
        }
        let parsed = builder.join().unwrap();
        reader.join().unwrap();
        assert!(trims > 0);
        let guard = pin();
        for (p, want) in parsed.iter().zip(&expected) {
            assert_eq!(&dump(&arena, p.document(), &guard), want);
            check_links(&arena, p.document(), &guard).unwrap();
        }
    });
    assert_unchanged(&arena, &kept);
    drop(roots);
}

/// Feeds `html` to a [`Parser`](epoch_arena_dom::Parser) `step` bytes at a time (rounded up
/// to a character boundary) and collects the arena after every feed, on this thread: the
/// parse holds no guard between feeds, and every node html5ever still holds must survive
/// (fresh for the sink's mutator, linked, or rooted by the sink as loose).
fn chunked_dump(arena: &Arena<Node, NodeId>, html: &str, step: usize) -> (String, usize) {
    // Garbage for every collection to sweep.
    drop(parse(arena, "<p>garbage<b>x</b>"));
    let mut parser = epoch_arena_dom::Parser::new(arena);
    let mut rest = html;
    while !rest.is_empty() {
        let mut end = step.min(rest.len());
        while !rest.is_char_boundary(end) {
            end += 1;
        }
        parser.feed(&rest[..end]);
        rest = &rest[end..];
        arena.collect([]);
    }
    let doc = parser.finish();
    arena.collect([]);
    let guard = pin();
    assert_eq!(
        check_links(arena, doc.document(), &guard),
        Ok(count_reachable(arena, doc.document(), &guard)),
        "links of a chunked parse"
    );
    (dump(arena, doc.document(), &guard), doc.errors)
}

fn rcdom_chunked_errors(html: &str, step: usize) -> usize {
    let mut parser = html5ever::parse_document(RcDom::default(), Default::default());
    let mut rest = html;
    while !rest.is_empty() {
        let mut end = step.min(rest.len());
        while !rest.is_char_boundary(end) {
            end += 1;
        }
        parser.process(rest[..end].into());
        rest = &rest[end..];
    }
    let dom = parser.finish();
    let n = dom.errors.borrow().len();
    n
}

#[test]
fn chunked_parses_with_a_collection_after_every_chunk_match_rcdom() {
    let arena = Arena::with_key();
    let corpus = corpus::generate(if cfg!(miri) { 1 } else { 3 }, 4 << 10, 11);
    let docs = TRICKY
        .iter()
        .map(|s| s.to_string())
        .chain(corpus.into_iter().map(|d| d.html));
    for html in docs {
        let want = rcdom_dump(&rcdom(&html).document);
        for step in [1, 7, 64] {
            let (ours, errors) = chunked_dump(&arena, &html, step);
            assert_eq!(ours, want, "tree of {html:?} fed {step} bytes at a time");
            // html5ever reports some errors once per piece of text it is given, so the
            // reference is RcDom fed the same pieces.
            assert_eq!(
                errors,
                rcdom_chunked_errors(&html, step),
                "errors of {html:?}"
            );
        }
    }
}

/// A paused parse (between two feeds) holds no guard: a collection on another thread runs
/// to its end, and values removed from another arena are dropped, while the document is
/// half-built; the parse then goes on unharmed.
#[test]
fn a_paused_parse_blocks_neither_collections_nor_reclamation() {
    use std::sync::Arc;
    use testkit::{reclaim_until, DropLog, Tracked};
    let arena = Arena::with_key();
    let other: Arena<Tracked> = Arena::new();
    let log = Arc::new(DropLog::default());
    let removed: Vec<_> = (0..100)
        .map(|i| other.insert(Tracked::new(i, &log)))
        .collect();
    let html = "<table><b>bold<tr><td>cell</td></tr>x</b></table><p>after<i>italic";
    let (head, tail) = html.split_at(30);
    let mut parser = epoch_arena_dom::Parser::new(&arena);
    drop(parse(&arena, "<p>garbage"));
    parser.feed(head);
    let stats = std::thread::scope(|s| {
        s.spawn(|| {
            for &k in &removed {
                assert!(other.remove(k));
            }
            assert!(
                reclaim_until(&other, || log.count() == 100),
                "another arena's removals wait for a paused parse"
            );
            arena.collect([])
        })
        .join()
        .unwrap()
    });
    assert!(
        stats.swept > 0,
        "the garbage document was not swept: {stats:?}"
    );
    assert_eq!(stats.mutators, 1, "{stats:?}");
    parser.feed(tail);
    let doc = parser.finish();
    let guard = pin();
    let (want, _) = arena_dump(html);
    assert_eq!(dump(&arena, doc.document(), &guard), want);
}
