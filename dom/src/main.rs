//! Parses many HTML documents on all cores into ONE shared `Arena<Node>`, then drops all but
//! a few documents and collects: exactly the dropped documents' nodes are reclaimed, and the
//! kept documents serialize to the same HTML as before. Then it gives the memory back:
//! it prints the resident memory, trims (and with `--compact`, compacts, relocating every
//! node link), prints it again, and checks that the kept documents still serialize to the
//! same HTML and that every node link still points where it did.
//!
//! ```text
//! cargo run --release -p epoch-arena-dom -- [FILES or DIRS...] [--threads N]
//!     [--repeat N] [--keep N] [--collect-while-building] [--compact]
//! ```
//!
//! With no files it parses an embedded, deterministic corpus (`corpus.rs`, about 3 MB of
//! generated pages). The DOM itself is this crate's library.

use epoch_arena::{pin, Arena, CollectStats};
use epoch_arena_dom::corpus::{self, Doc};
use epoch_arena_dom::input;
use epoch_arena_dom::{
    check_links, compact, count_reachable, dump, link_shape, parse, to_html, LinkShape, Node,
    Parsed, Unrooted,
};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: epoch-arena-dom [FILES or DIRS...] [--threads N] [--repeat N] [--keep N]
                       [--collect-while-building] [--compact]

Parses the documents (directories: their .html/.htm/.xhtml files, recursively; none: an
embedded generated corpus of about 3 MB) on N threads into one shared arena, drops all but
--keep documents, collects, and checks that exactly the dropped documents were reclaimed.
Then it trims the arena (and compacts it, with --compact), printing the resident memory
before and after, and checks that the kept documents are unchanged.

  --threads N                 parser threads (default: one per core)
  --repeat N                  parse the whole input N times (default 1)
  --keep N                    documents kept alive through the collection (default 3)
  --collect-while-building    run collections back to back while the threads parse
  --compact                   after trimming, also compact the arena (relocating every
                              node link) and print the resident memory again
  -h, --help                  this text";

#[derive(Debug)]
struct Options {
    paths: Vec<PathBuf>,
    threads: usize,
    repeat: usize,
    keep: usize,
    collect_while_building: bool,
    compact: bool,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
    let mut opts = Options {
        paths: Vec::new(),
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        repeat: 1,
        keep: 3,
        collect_while_building: false,
        compact: false,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut number = |min: usize| -> Result<usize, String> {
            let value = inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a number"))?;
            match value.parse::<usize>() {
                Ok(n) if n >= min => Ok(n),
                _ => Err(format!(
                    "{flag}: expected a whole number ≥ {min}, got {value:?}"
                )),
            }
        };
        match flag.as_str() {
            "--threads" => opts.threads = number(1)?,
            "--repeat" => opts.repeat = number(1)?,
            "--keep" => opts.keep = number(0)?,
            "--collect-while-building" => opts.collect_while_building = true,
            "--compact" => opts.compact = true,
            "-h" | "--help" => return Ok(None),
            "--" => opts.paths.extend(args.by_ref().map(PathBuf::from)),
            f if f.starts_with('-') && f.len() > 1 => return Err(format!("unknown option {f}")),
            _ => opts.paths.push(PathBuf::from(arg)),
        }
    }
    Ok(Some(opts))
}

/// What one parser thread did.
#[derive(Debug, Default, Clone, Copy)]
struct ThreadReport {
    docs: usize,
    nodes: usize,
    busy: Duration,
}

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(Some(opts)) => opts,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    let started = Instant::now();
    let (inputs, source) = if opts.paths.is_empty() {
        let docs = corpus::default_corpus();
        let what = format!("the embedded generated corpus ({} documents)", docs.len());
        (docs, what)
    } else {
        let loaded = input::load(&opts.paths);
        let what = format!(
            "{} documents from the command line ({} paths skipped, {} decoded lossily)",
            loaded.docs.len(),
            loaded.skipped,
            loaded.lossy
        );
        (loaded.docs, what)
    };
    if inputs.is_empty() {
        eprintln!("error: no readable documents; nothing to do");
        return ExitCode::from(1);
    }
    let jobs = inputs.len() * opts.repeat;
    let bytes: usize = inputs.iter().map(|d| d.html.len()).sum::<usize>() * opts.repeat;
    println!(
        "input: {source}, ×{} = {} documents, {:.1} MB (ready in {:.0?})",
        opts.repeat,
        group(jobs),
        bytes as f64 / 1e6,
        started.elapsed()
    );

    let mut arena: Arena<Node> = Arena::new();
    let (parsed, reports, wall, during) = build(&arena, &inputs, jobs, &opts);
    let created: usize = parsed.iter().map(|p| p.created).sum();
    let errors: usize = parsed.iter().map(|p| p.errors).sum();
    let quirks = parsed
        .iter()
        .filter(|p| p.quirks_mode != html5ever::interface::QuirksMode::NoQuirks)
        .count();

    println!(
        "built: {} documents, {} nodes in {:.3} s on {} threads: {:.2} M nodes/s, {:.1} MB/s",
        group(jobs),
        group(created),
        wall.as_secs_f64(),
        opts.threads,
        created as f64 / wall.as_secs_f64() / 1e6,
        bytes as f64 / wall.as_secs_f64() / 1e6,
    );
    for (i, r) in reports.iter().enumerate() {
        println!(
            "  thread {i}: {} documents, {} nodes, {:.2} M nodes/s while busy ({:.3} s)",
            group(r.docs),
            group(r.nodes),
            r.nodes as f64 / r.busy.as_secs_f64().max(1e-9) / 1e6,
            r.busy.as_secs_f64()
        );
    }
    println!(
        "  html5ever: {} parse errors recovered from, {} documents in quirks mode",
        group(errors),
        quirks
    );
    if opts.collect_while_building {
        let swept: usize = during.iter().map(|s| s.swept).sum();
        println!(
            "  {} collections ran while building; they swept {} detached nodes",
            during.len(),
            group(swept)
        );
    }
    print_stats("arena after building", &arena);

    let default_run = opts.paths.is_empty() && opts.repeat == 1 && opts.keep == 3;
    let outcome = drop_and_collect(&arena, parsed, opts.keep)
        .and_then(|kept| give_memory_back(&mut arena, kept, opts.compact, default_run));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("FAILED: {e}");
            ExitCode::from(1)
        }
    }
}

/// Parses `jobs` documents (input `i % inputs.len()`) on `opts.threads` threads into `arena`.
/// Returns the parsed documents in job order, each thread's report, the wall time, and the
/// collections run meanwhile (with `--collect-while-building`).
fn build<'a>(
    arena: &'a Arena<Node>,
    inputs: &[Doc],
    jobs: usize,
    opts: &Options,
) -> (
    Vec<Parsed<'a>>,
    Vec<ThreadReport>,
    Duration,
    Vec<CollectStats>,
) {
    let next = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let all_done = AtomicBool::new(false);
    let slots: Vec<Mutex<Option<Parsed<'a>>>> = (0..jobs).map(|_| Mutex::new(None)).collect();
    let bar = ProgressBar::new(jobs as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} documents, {per_sec}, eta {eta}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    let start = Instant::now();
    let (reports, during) = std::thread::scope(|s| {
        let workers: Vec<_> = (0..opts.threads)
            .map(|_| {
                s.spawn(|| {
                    let mut report = ThreadReport::default();
                    let t0 = Instant::now();
                    loop {
                        let job = next.fetch_add(1, Ordering::Relaxed);
                        if job >= jobs {
                            break;
                        }
                        let doc = parse(arena, &inputs[job % inputs.len()].html);
                        report.docs += 1;
                        report.nodes += doc.created;
                        *epoch_arena_dom::node::lock(&slots[job]) = Some(doc);
                        bar.inc(1);
                    }
                    report.busy = t0.elapsed();
                    if finished.fetch_add(1, Ordering::AcqRel) + 1 == opts.threads {
                        all_done.store(true, Ordering::Release);
                    }
                    report
                })
            })
            .collect();
        let mut during = Vec::new();
        if opts.collect_while_building {
            // Roots are the documents' `Root`s; a document under construction is protected
            // by its parser's guard (see dom/sink.rs).
            while !all_done.load(Ordering::Acquire) {
                during.push(arena.collect([]));
            }
        }
        let reports = workers
            .into_iter()
            .map(|w| w.join().expect("a parser thread panicked"))
            .collect::<Vec<_>>();
        (reports, during)
    });
    let wall = start.elapsed();
    bar.finish_and_clear();
    let parsed = slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every job was parsed")
        })
        .collect();
    (parsed, reports, wall, during)
}

/// A document kept through the collection: its key (unrooted once the collection is over,
/// see [`give_memory_back`]) and what it looked like before.
struct Kept {
    /// Its position in the input.
    index: usize,
    doc: Unrooted,
    html: String,
    tree: String,
    shape: LinkShape,
}

/// Drops all but `keep` documents' roots (evenly spaced), collects once, and checks that
/// exactly the dropped documents' nodes (plus nodes html5ever detached during parsing) were
/// swept and the kept documents still serialize to the same HTML. Returns the kept
/// documents, unrooted.
fn drop_and_collect(
    arena: &Arena<Node>,
    parsed: Vec<Parsed<'_>>,
    keep: usize,
) -> Result<Vec<Kept>, String> {
    let total = parsed.len();
    let keep = keep.min(total);
    let kept_index = |i: usize| keep > 0 && (0..keep).any(|k| k * total / keep == i);

    let guard = pin();
    let reachable: Vec<usize> = parsed
        .iter()
        .map(|p| count_reachable(arena, p.document(), &guard))
        .collect();
    let mut kept = Vec::new();
    let mut dropped_nodes = 0;
    let mut dropped_docs = 0;
    for (i, p) in parsed.into_iter().enumerate() {
        if kept_index(i) {
            let html = to_html(arena, p.document(), &guard);
            let tree = dump(arena, p.document(), &guard);
            let shape = link_shape(arena, p.document(), &guard);
            kept.push((i, p, html, tree, shape, reachable[i]));
        } else {
            dropped_nodes += reachable[i];
            dropped_docs += 1;
            drop(p); // releases the document's root
        }
    }
    drop(guard);
    let kept_nodes: usize = kept.iter().map(|k| k.5).sum();
    let live_before = arena.len();
    let detached = live_before.saturating_sub(kept_nodes + dropped_nodes);

    let stats = arena.collect([]);
    println!(
        "collected: kept {} documents ({} nodes), dropped {} ({} nodes)",
        keep,
        group(kept_nodes),
        group(dropped_docs),
        group(dropped_nodes)
    );
    println!(
        "  marked {}, swept {} = {} nodes of dropped documents + {} html5ever detached while parsing",
        group(stats.marked),
        group(stats.swept),
        group(dropped_nodes),
        group(detached)
    );
    println!(
        "  {} roots, {} marker threads; wait {:.0?}, clear {:.0?}, mark {:.2?}, sweep {:.2?}",
        stats.roots,
        stats.threads,
        stats.wait_time,
        stats.clear_time,
        stats.mark_time,
        stats.sweep_time
    );
    // Swept values are dropped once the epoch has advanced past every guard that could
    // still see them; with no reader left, a few pins get there.
    let t = Instant::now();
    arena.flush();
    let mut pins = 0;
    while arena.stats().pending_reclamation > 0 && pins < 10_000 {
        pin().flush();
        pins += 1;
    }
    println!(
        "  swept values dropped in {:.2?} ({pins} epoch pins), slots free for reuse",
        t.elapsed()
    );
    print_stats("arena after collecting", arena);

    let mut problems = Vec::new();
    if stats.swept != dropped_nodes + detached {
        problems.push(format!(
            "swept {} values, expected {}",
            stats.swept,
            dropped_nodes + detached
        ));
    }
    if arena.len() != kept_nodes {
        problems.push(format!(
            "{} values live, expected {kept_nodes}",
            arena.len()
        ));
    }
    let guard = pin();
    for (i, p, html, tree, shape, _) in &kept {
        if to_html(arena, p.document(), &guard) != *html
            || dump(arena, p.document(), &guard) != *tree
            || link_shape(arena, p.document(), &guard) != *shape
        {
            problems.push(format!("kept document {i} changed"));
        }
    }
    drop(guard);
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    println!(
        "  check: exactly the dropped documents' nodes were reclaimed; the {} kept documents \
         serialize to the same HTML as before",
        kept.len()
    );
    // No collection runs from here on, so the roots can go: compaction needs the arena
    // exclusively, and every `Root` borrows it. `give_memory_back` roots them again.
    Ok(kept
        .into_iter()
        .map(|(index, p, html, tree, shape, _)| Kept {
            index,
            doc: p.unroot(),
            html,
            tree,
            shape,
        })
        .collect())
}

/// The bytes of one slot of `Arena<Node>`: the node plus 8 bytes of state, rounded up to
/// the node's alignment (as `Arena::fragmentation` counts it).
fn slot_bytes() -> usize {
    (std::mem::size_of::<Node>() + 8).next_multiple_of(std::mem::align_of::<Node>().max(4))
}

const MIB: usize = 1 << 20;

/// `b` bytes in MiB (two decimals), or in KiB below 1 MiB.
fn bytes(b: usize) -> String {
    if b >= MIB {
        format!("{:.2} MiB", b as f64 / MIB as f64)
    } else {
        format!("{:.1} KiB", b as f64 / 1024.0)
    }
}

/// The process's resident set size, from `/proc/self/status` (Linux only).
fn process_rss() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Prints the arena's resident memory, the process's RSS, the live node bytes and the
/// fragmentation; returns the arena's resident bytes.
fn print_memory(what: &str, arena: &Arena<Node>) -> usize {
    let resident = arena.resident_bytes();
    let live = arena.len();
    let rss = process_rss().map_or_else(|| "n/a".to_owned(), bytes);
    println!(
        "{what}: {} resident in the arena (process RSS {rss}); {} live nodes × {} B = {} of \
         live node bytes; fragmentation {:.1}%",
        bytes(resident),
        group(live),
        slot_bytes(),
        bytes(live * slot_bytes()),
        arena.fragmentation() * 100.0
    );
    resident
}

/// Checks that every kept document serializes to the same HTML and dumps to the same tree
/// as before the collection, that its links agree with each other, and that each link
/// points to the node it pointed to before (equal link shapes). Returns the nodes checked.
fn verify(arena: &Arena<Node>, kept: &[Kept]) -> Result<usize, String> {
    let guard = pin();
    let mut nodes = 0;
    for k in kept {
        let key = k.doc.document;
        if to_html(arena, key, &guard) != k.html || dump(arena, key, &guard) != k.tree {
            return Err(format!("kept document {} serializes differently", k.index));
        }
        nodes += check_links(arena, key, &guard)
            .map_err(|e| format!("kept document {}: inconsistent links: {e}", k.index))?;
        if link_shape(arena, key, &guard) != k.shape {
            return Err(format!(
                "kept document {}: a node link points elsewhere than before",
                k.index
            ));
        }
    }
    Ok(nodes)
}

fn print_verified(kept: &[Kept], nodes: usize) {
    println!(
        "  verified: the {} kept documents serialize to the same HTML; all {} of their nodes' \
         links agree and point where they did",
        kept.len(),
        group(nodes)
    );
}

/// After the collection: prints the resident memory, trims, prints it again, and with
/// `compact` compacts (relocating every node link and the kept documents' keys) and prints
/// it once more. After each step, verifies the kept documents ([`verify`]). Finally roots
/// the kept documents again and collects, which must sweep nothing. `default_run`: the
/// embedded corpus, once, 3 kept; the trim target (at most 40% left) is reported for it.
fn give_memory_back(
    arena: &mut Arena<Node>,
    mut kept: Vec<Kept>,
    compact_too: bool,
    default_run: bool,
) -> Result<(), String> {
    let live_bytes = arena.len() * slot_bytes();
    let before = print_memory("memory after collecting", arena);

    let t = Instant::now();
    let released = arena.trim();
    let trim_time = t.elapsed();
    println!("trimmed: {} released in {trim_time:.2?}", bytes(released));
    let trimmed = print_memory("memory after trim", arena);
    let share = trimmed as f64 / before.max(1) as f64;
    let verdict = if !default_run {
        String::new()
    } else if share <= 0.4 {
        "; target ≤ 40%: met".to_owned()
    } else {
        "; target ≤ 40%: missed".to_owned()
    };
    println!(
        "  after trim: {:.1}% of the resident memory before{verdict}",
        share * 100.0
    );
    print_verified(&kept, verify(arena, &kept)?);

    if compact_too {
        let t = Instant::now();
        let remap = compact(
            arena,
            &mut kept.iter_mut().map(|k| &mut k.doc).collect::<Vec<_>>(),
        );
        let compact_time = t.elapsed();
        println!(
            "compacted: {} live nodes now in slots 0..{}, {} moved, every link relocated, in \
             {compact_time:.2?}",
            group(remap.live()),
            group(remap.live()),
            group(remap.moved())
        );
        let compacted = print_memory("memory after compact", arena);
        let bound = live_bytes + live_bytes / 2 + MIB;
        println!(
            "  after compact: {:.1}% of the resident memory before; target ≤ 1.5 × live node \
             bytes + 1 MiB = {}: {}",
            compacted as f64 / before.max(1) as f64 * 100.0,
            bytes(bound),
            if compacted <= bound { "met" } else { "missed" }
        );
        print_verified(&kept, verify(arena, &kept)?);
    }

    // Root the kept documents again and collect: their traced links (first child, next
    // sibling, template contents) must still reach every kept node, and nothing else is left.
    let live = arena.len();
    let roots: Vec<Parsed<'_>> = kept.iter().map(|k| k.doc.root(arena)).collect();
    let stats = arena.collect([]);
    drop(roots);
    if stats.marked != live || stats.swept != 0 {
        return Err(format!(
            "a collection after giving memory back marked {} and swept {}, expected {live} and 0",
            stats.marked, stats.swept
        ));
    }
    println!(
        "  verified: a collection of the re-rooted documents marks all {} nodes and sweeps none",
        group(live)
    );
    Ok(())
}

fn print_stats(what: &str, arena: &Arena<Node>) {
    let s = arena.stats();
    println!(
        "{what}: {} live, {} slots in {} chunks, {:.1} MB of chunks ({:.1} MB resident), \
         {:.1} KB of mark bits, {} awaiting reclamation",
        group(s.live),
        group(s.slots),
        s.chunks,
        s.bytes_reserved as f64 / 1e6,
        s.resident_bytes as f64 / 1e6,
        s.mark_bytes as f64 / 1e3,
        group(s.pending_reclamation)
    );
}

/// `1234567` → `1,234,567`.
fn group(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Option<Options>, String> {
        parse_args(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn options_parse_in_both_spellings() {
        let o = args(&[
            "a.html",
            "--threads",
            "3",
            "--repeat=2",
            "--keep",
            "0",
            "dir",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(o.paths, [PathBuf::from("a.html"), PathBuf::from("dir")]);
        assert_eq!((o.threads, o.repeat, o.keep), (3, 2, 0));
        assert!(!o.collect_while_building && !o.compact);
        let o = args(&["--collect-while-building", "--compact", "--", "--threads"])
            .unwrap()
            .unwrap();
        assert!(o.collect_while_building && o.compact);
        assert_eq!(
            o.paths,
            [PathBuf::from("--threads")],
            "after --, all are paths"
        );
        assert!(args(&["-h"]).unwrap().is_none());
        assert!(args(&["--help"]).unwrap().is_none());
    }

    #[test]
    fn bad_options_are_errors_not_panics() {
        for bad in [
            &["--threads"][..],
            &["--threads", "0"],
            &["--threads", "-1"],
            &["--repeat", "x"],
            &["--keep=1.5"],
            &["--frobnicate"],
        ] {
            let err = args(bad).unwrap_err();
            assert!(!err.is_empty(), "{bad:?}");
        }
        assert!(args(&["--threads", "0"]).unwrap_err().contains("≥ 1"));
        assert!(args(&["-x"]).unwrap_err().contains("unknown option -x"));
        // A lone "-" is a path, as is customary.
        assert_eq!(args(&["-"]).unwrap().unwrap().paths, [PathBuf::from("-")]);
    }

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1234567), "1,234,567");
    }
}
