//! Parses many HTML documents on all cores into ONE shared `Arena<Node, NodeId>`, then drops
//! all but a few documents and collects: exactly the dropped documents' nodes are reclaimed,
//! and the kept documents serialize to the same HTML as before. Then it gives the memory back:
//! it prints the resident memory, trims (and with `--compact`, compacts, relocating every
//! node link), prints it again, and checks that the kept documents still serialize to the
//! same HTML and that every node link still points where it did.
//!
//! With `--save FILE` it then saves the kept documents, with their arena, to `FILE`
//! (`persist.rs`: the arena's snapshot, which keeps every key, and the documents' names
//! and keys). With `--load FILE` it reads such a file instead of parsing: it checks that
//! each loaded document serializes to the same HTML (and dumps to the same tree, with the
//! same link shape) as its source parsed again, then runs the same collection, trim and
//! checks on the loaded documents as on parsed ones.
//!
//! ```text
//! cargo run --release -p epoch-arena-dom -- [FILES or DIRS...] [--threads N]
//!     [--repeat N] [--keep N] [--collect-while-building] [--compact] [--save FILE]
//! cargo run --release -p epoch-arena-dom -- --load FILE [--keep N] [--compact]
//!     [--save FILE]
//! ```
//!
//! With no files it parses an embedded, deterministic corpus (`corpus.rs`, about 3 MB of
//! generated pages). The DOM itself is this crate's library; the parse runs on a rayon
//! pool of `--threads` workers, options are read with `lexopt`, and counts and sizes are
//! printed with indicatif's `HumanCount` and `HumanBytes`.

use epoch_arena::{pin, Arena, CollectStats};
use epoch_arena_dom::corpus::{self, Doc};
use epoch_arena_dom::input;
use epoch_arena_dom::{
    check_links, compact, count_reachable, dump, link_shape, load, parse, save, to_html,
    DocumentList, LinkShape, Node, NodeId, Parsed, Unrooted,
};
use indicatif::{HumanBytes, HumanCount, ProgressBar, ProgressStyle};
use rayon::prelude::*;
use std::ffi::OsString;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: epoch-arena-dom [FILES or DIRS...] [--threads N] [--repeat N] [--keep N]
                       [--collect-while-building] [--compact] [--save FILE]
       epoch-arena-dom --load FILE [--keep N] [--compact] [--save FILE]

Parses the documents (directories: their .html/.htm/.xhtml files, recursively; none: an
embedded generated corpus of about 3 MB) on N threads into one shared arena, drops all but
--keep documents, collects, and checks that exactly the dropped documents were reclaimed.
Then it trims the arena (and compacts it, with --compact), printing the resident memory
before and after, and checks that the kept documents are unchanged.

  --threads N                 parser threads (default: one per core)
  --repeat N                  parse the whole input N times (default 1)
  --keep N                    documents kept alive through the collection (default 3;
                              with --load, all)
  --collect-while-building    run collections back to back while the threads parse
  --compact                   after trimming, also compact the arena (relocating every
                              node link) and print the resident memory again
  --save FILE                 at the end, save the kept documents and their arena to FILE
  --load FILE                 instead of parsing, load documents saved with --save, check
                              that each serializes to the same HTML as its source parsed
                              again (a file named as saved, or the embedded corpus), and
                              run the collection, trim and checks on them (no FILES,
                              --repeat or --collect-while-building)
  -h, --help                  this text";

/// The name under which a document of the embedded corpus is saved: this prefix and the
/// corpus's name for it. Other documents are saved under their paths.
const EMBEDDED: &str = "embedded:";

#[derive(Debug)]
struct Options {
    paths: Vec<PathBuf>,
    threads: usize,
    repeat: usize,
    /// `None`: the default (3, or with `--load` every loaded document).
    keep: Option<usize>,
    collect_while_building: bool,
    compact: bool,
    save: Option<PathBuf>,
    load: Option<PathBuf>,
}

/// Reads the options (`lexopt`): `--flag VALUE` and `--flag=VALUE` alike, `--` ends the
/// options, a lone `-` is a path. `Ok(None)` for `--help`.
fn parse_args<I>(args: I) -> Result<Option<Options>, String>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    use lexopt::prelude::*;

    let mut opts = Options {
        paths: Vec::new(),
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        repeat: 1,
        keep: None,
        collect_while_building: false,
        compact: false,
        save: None,
        load: None,
    };
    let mut parser = lexopt::Parser::from_args(args);
    // The option's value (the next argument, or the text after `=`), as text.
    let value = |parser: &mut lexopt::Parser, flag: &str, what: &str| -> Result<String, String> {
        let value = parser.value().map_err(|_| format!("{flag} needs {what}"))?;
        value
            .into_string()
            .map_err(|v| format!("{flag}: {v:?} is not valid UTF-8"))
    };
    let number = |parser: &mut lexopt::Parser, flag: &str, min: usize| -> Result<usize, String> {
        let value = value(parser, flag, "a number")?;
        match value.parse::<usize>() {
            Ok(n) if n >= min => Ok(n),
            _ => Err(format!(
                "{flag}: expected a whole number ≥ {min}, got {value:?}"
            )),
        }
    };
    let file = |parser: &mut lexopt::Parser, flag: &str| -> Result<Option<PathBuf>, String> {
        let file = parser
            .value()
            .map_err(|_| format!("{flag} needs a file name"))?;
        if file.is_empty() {
            return Err(format!("{flag} needs a file name"));
        }
        Ok(Some(PathBuf::from(file)))
    };
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("threads") => opts.threads = number(&mut parser, "--threads", 1)?,
            Long("repeat") => opts.repeat = number(&mut parser, "--repeat", 1)?,
            Long("keep") => opts.keep = Some(number(&mut parser, "--keep", 0)?),
            Long("collect-while-building") => opts.collect_while_building = true,
            Long("compact") => opts.compact = true,
            Long("save") => opts.save = file(&mut parser, "--save")?,
            Long("load") => opts.load = file(&mut parser, "--load")?,
            Short('h') | Long("help") => return Ok(None),
            Value(path) => opts.paths.push(PathBuf::from(path)),
            Short(c) => return Err(format!("unknown option -{c}")),
            Long(name) => return Err(format!("unknown option --{name}")),
        }
    }
    if opts.load.is_some()
        && (!opts.paths.is_empty() || opts.repeat != 1 || opts.collect_while_building)
    {
        return Err(
            "--load replaces parsing: it takes no FILES, --repeat or --collect-while-building"
                .to_owned(),
        );
    }
    Ok(Some(opts))
}

/// What one parser thread (a worker of the pool) did; `busy` is the time it spent parsing.
#[derive(Debug, Default, Clone, Copy)]
struct ThreadReport {
    docs: usize,
    nodes: usize,
    busy: Duration,
}

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args_os().skip(1)) {
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

    let (mut arena, loaded) = match &opts.load {
        Some(file) => match load_file(file) {
            Ok((arena, documents)) => (arena, Some(documents)),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        },
        None => (Arena::with_key(), None),
    };
    let is_loaded = loaded.is_some();
    // The documents, rooted, and their names (for --save), in input order.
    let (parsed, names) = match loaded {
        Some(documents) => {
            if let Err(e) = check_against_sources(&arena, &documents) {
                eprintln!("FAILED: {e}");
                return ExitCode::from(1);
            }
            // Rooted before any collection runs: nothing else keeps them alive.
            let parsed: Vec<Parsed<'_>> = documents
                .iter()
                .map(|&(_, document)| {
                    Unrooted {
                        document,
                        quirks_mode: html5ever::interface::QuirksMode::NoQuirks,
                        errors: 0,
                        created: 0,
                    }
                    .root(&arena)
                })
                .collect();
            let names = documents.into_iter().map(|(name, _)| name).collect();
            print_stats("arena after loading", &arena);
            (parsed, names)
        }
        None => match parse_inputs(&arena, &opts) {
            Ok(parsed) => parsed,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        },
    };

    let keep = opts
        .keep
        .unwrap_or(if is_loaded { parsed.len() } else { 3 });
    let default_run = !is_loaded && opts.paths.is_empty() && opts.repeat == 1 && keep == 3;
    let outcome = drop_and_collect(&arena, parsed, keep)
        .and_then(|kept| give_memory_back(&mut arena, kept, opts.compact, default_run))
        .and_then(|kept| match &opts.save {
            Some(file) => save_file(&arena, &kept, &names, file),
            None => Ok(()),
        });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("FAILED: {e}");
            ExitCode::from(1)
        }
    }
}

/// Reads the input documents (the paths, or the embedded corpus), parses them into `arena`
/// ([`build`]) and prints what happened. Returns the parsed documents in job order and
/// their names (as `--save` writes them: [`EMBEDDED`] and the corpus's name, or the path).
fn parse_inputs<'a>(
    arena: &'a Arena<Node, NodeId>,
    opts: &Options,
) -> Result<(Vec<Parsed<'a>>, Vec<String>), String> {
    let started = Instant::now();
    let (inputs, source, names) = if opts.paths.is_empty() {
        let docs = corpus::default_corpus();
        let what = format!("the embedded generated corpus ({} documents)", docs.len());
        let names: Vec<String> = docs
            .iter()
            .map(|d| format!("{EMBEDDED}{}", d.name))
            .collect();
        (docs, what, names)
    } else {
        let loaded = input::load(&opts.paths);
        let what = format!(
            "{} documents from the command line ({} paths skipped, {} not UTF-8, transcoded)",
            loaded.docs.len(),
            loaded.skipped,
            loaded.transcoded
        );
        let names: Vec<String> = loaded.docs.iter().map(|d| d.name.clone()).collect();
        (loaded.docs, what, names)
    };
    if inputs.is_empty() {
        return Err("no readable documents; nothing to do".to_owned());
    }
    let jobs = inputs.len() * opts.repeat;
    let bytes: usize = inputs.iter().map(|d| d.html.len()).sum::<usize>() * opts.repeat;
    println!(
        "input: {source}, ×{} = {} documents, {:.1} MB (ready in {:.0?})",
        opts.repeat,
        count(jobs),
        bytes as f64 / 1e6,
        started.elapsed()
    );

    let Built {
        parsed,
        reports,
        wall,
        during,
    } = build(arena, &inputs, jobs, opts)?;
    let created: usize = parsed.iter().map(|p| p.created).sum();
    let errors: usize = parsed.iter().map(|p| p.errors).sum();
    let quirks = parsed
        .iter()
        .filter(|p| p.quirks_mode != html5ever::interface::QuirksMode::NoQuirks)
        .count();

    println!(
        "built: {} documents, {} nodes in {:.3} s on {} threads: {:.2} M nodes/s, {:.1} MB/s",
        count(jobs),
        count(created),
        wall.as_secs_f64(),
        opts.threads,
        created as f64 / wall.as_secs_f64() / 1e6,
        bytes as f64 / wall.as_secs_f64() / 1e6,
    );
    for (i, r) in reports.iter().enumerate() {
        println!(
            "  thread {i}: {} documents, {} nodes, {:.2} M nodes/s while busy ({:.3} s)",
            count(r.docs),
            count(r.nodes),
            r.nodes as f64 / r.busy.as_secs_f64().max(1e-9) / 1e6,
            r.busy.as_secs_f64()
        );
    }
    println!(
        "  html5ever: {} parse errors recovered from, {} documents in quirks mode",
        count(errors),
        quirks
    );
    if opts.collect_while_building {
        let swept: usize = during.iter().map(|s| s.swept).sum();
        println!(
            "  {} collections ran while building; they swept {} detached nodes",
            during.len(),
            count(swept)
        );
    }
    print_stats("arena after building", arena);
    let names = (0..jobs)
        .map(|job| names[job % names.len()].clone())
        .collect();
    Ok((parsed, names))
}

/// Loads a file written by `--save` and prints what it held.
fn load_file(file: &Path) -> Result<(Arena<Node, NodeId>, DocumentList), String> {
    let started = Instant::now();
    let what = |e: &dyn std::fmt::Display| format!("{}: {e}", file.display());
    let f = File::open(file).map_err(|e| what(&e))?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let (arena, documents) = load(BufReader::new(f)).map_err(|e| what(&e))?;
    println!(
        "input: {}: {} saved documents, {} nodes, {:.1} MB (loaded in {:.0?})",
        file.display(),
        count(documents.len()),
        count(arena.len()),
        size as f64 / 1e6,
        started.elapsed()
    );
    Ok((arena, documents))
}

/// The source text of a saved document: the embedded corpus's document, or the file at
/// the path it was saved under (`None` if there is no such document or file).
fn source_of(name: &str, embedded: &mut Option<Vec<Doc>>) -> Option<String> {
    match name.strip_prefix(EMBEDDED) {
        Some(name) => embedded
            .get_or_insert_with(corpus::default_corpus)
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.html.clone()),
        None => {
            let bytes = std::fs::read(name).ok()?;
            Some(input::decode(Path::new(name), bytes, &mut 0).html)
        }
    }
}

/// Checks every loaded document's links, and that it serializes to the same HTML, dumps
/// to the same tree and has the same link shape as its source parsed again (when its
/// source can be found).
fn check_against_sources(
    arena: &Arena<Node, NodeId>,
    documents: &[(String, NodeId)],
) -> Result<(), String> {
    let mut embedded = None;
    let mut compared = 0;
    let mut unavailable = Vec::new();
    let mut nodes = 0;
    let guard = pin();
    for (name, key) in documents {
        nodes += check_links(arena, *key, &guard)
            .map_err(|e| format!("loaded document {name}: inconsistent links: {e}"))?;
        let Some(html) = source_of(name, &mut embedded) else {
            unavailable.push(name.as_str());
            continue;
        };
        let scratch: Arena<Node, NodeId> = Arena::with_key();
        let fresh = parse(&scratch, &html);
        let differs = if to_html(arena, *key, &guard) != to_html(&scratch, fresh.document(), &guard)
        {
            "serializes to other HTML"
        } else if dump(arena, *key, &guard) != dump(&scratch, fresh.document(), &guard) {
            "dumps to another tree"
        } else if link_shape(arena, *key, &guard) != link_shape(&scratch, fresh.document(), &guard)
        {
            "has another link shape"
        } else {
            compared += 1;
            continue;
        };
        return Err(format!(
            "loaded document {name} {differs} than its source parsed again (did the source \
             change since it was saved?)"
        ));
    }
    println!(
        "  check: {compared} of the {} loaded documents compared with their sources parsed \
         again: they serialize to the same HTML, dump to the same tree and have the same link \
         shape; all {} of their nodes' links agree",
        documents.len(),
        count(nodes)
    );
    if !unavailable.is_empty() {
        println!(
            "  not compared: {} documents whose source was not found: {}",
            unavailable.len(),
            unavailable.join(", ")
        );
    }
    Ok(())
}

/// Saves the kept documents (names from `names`, by input position) and the arena to
/// `file`; removes the file if that fails.
fn save_file(
    arena: &Arena<Node, NodeId>,
    kept: &[Kept],
    names: &[String],
    file: &Path,
) -> Result<(), String> {
    let started = Instant::now();
    let documents: Vec<(String, NodeId)> = kept
        .iter()
        .map(|k| (names[k.index].clone(), k.doc.document))
        .collect();
    let written = File::create(file)
        .map_err(|e| e.to_string())
        .and_then(|f| save(arena, &documents, BufWriter::new(f)).map_err(|e| e.to_string()));
    let info = written.map_err(|e| {
        let _ = std::fs::remove_file(file);
        format!("saving to {}: {e}", file.display())
    })?;
    println!(
        "saved: {} documents, {} nodes, {} to {} in {:.2?} (snapshot of {} slots, checksum \
         {:#010x})",
        info.documents,
        count(info.snapshot.live as usize),
        size(info.bytes as usize),
        file.display(),
        started.elapsed(),
        count(info.snapshot.slots as usize),
        info.snapshot.checksum
    );
    Ok(())
}

/// What [`build`] did.
struct Built<'a> {
    /// The parsed documents, in job order.
    parsed: Vec<Parsed<'a>>,
    /// Each worker's report.
    reports: Vec<ThreadReport>,
    /// The wall time of the parse.
    wall: Duration,
    /// The collections run meanwhile on the calling thread (`--collect-while-building`).
    during: Vec<CollectStats>,
}

/// Parses `jobs` documents (input `i % inputs.len()`) into `arena` on a rayon pool of
/// `opts.threads` workers ([`Built`]), or says why the pool could not start.
///
/// Each document is parsed by [`parse`], which pins a guard on the worker for each 4 KiB
/// chunk and inserts through its own `Mutator`; nothing is pinned between chunks, so a
/// collection waits for at most one chunk's parse per worker.
fn build<'a>(
    arena: &'a Arena<Node, NodeId>,
    inputs: &[Doc],
    jobs: usize,
    opts: &Options,
) -> Result<Built<'a>, String> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .thread_name(|i| format!("parser-{i}"))
        .build()
        .map_err(|e| format!("starting {} parser threads: {e}", opts.threads))?;
    // One report per worker, by its index in the pool.
    let reports: Vec<Mutex<ThreadReport>> = (0..pool.current_num_threads())
        .map(|_| Mutex::default())
        .collect();
    let bar = ProgressBar::new(jobs as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} documents, {per_sec}, eta {eta}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    let start = Instant::now();
    let parse_all = || -> Vec<Parsed<'a>> {
        pool.install(|| {
            (0..jobs)
                .into_par_iter()
                .map(|job| {
                    let t0 = Instant::now();
                    let doc = parse(arena, &inputs[job % inputs.len()].html);
                    let busy = t0.elapsed();
                    let worker = rayon::current_thread_index().unwrap_or(0);
                    let mut report = epoch_arena_dom::node::lock(&reports[worker]);
                    report.docs += 1;
                    report.nodes += doc.created;
                    report.busy += busy;
                    drop(report);
                    bar.inc(1);
                    doc
                })
                .collect()
        })
    };
    let (parsed, during) = if opts.collect_while_building {
        std::thread::scope(|s| {
            // The pool parses; this thread collects back to back until it is done. Roots
            // are the documents' `Root`s; a document under construction is protected by
            // its parser's guard (see dom/sink.rs).
            let parsing = s.spawn(parse_all);
            let mut during = Vec::new();
            while !parsing.is_finished() {
                during.push(arena.collect([]));
            }
            let parsed = parsing
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (parsed, during)
        })
    } else {
        (parse_all(), Vec::new())
    };
    let wall = start.elapsed();
    bar.finish_and_clear();
    let reports = reports
        .into_iter()
        .map(|r| r.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect();
    Ok(Built {
        parsed,
        reports,
        wall,
        during,
    })
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
    arena: &Arena<Node, NodeId>,
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
        count(kept_nodes),
        count(dropped_docs),
        count(dropped_nodes)
    );
    println!(
        "  marked {}, swept {} = {} nodes of dropped documents + {} html5ever detached while parsing",
        count(stats.marked),
        count(stats.swept),
        count(dropped_nodes),
        count(detached)
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

/// The bytes of one slot of `Arena<Node, NodeId>`: the node plus 8 bytes of state, rounded up to
/// the node's alignment (as `Arena::fragmentation` counts it).
fn slot_bytes() -> usize {
    (std::mem::size_of::<Node>() + 8).next_multiple_of(std::mem::align_of::<Node>().max(4))
}

const MIB: usize = 1 << 20;

/// `b` bytes, in binary units (`1.33 MiB`, `512.00 KiB`).
fn size(b: usize) -> HumanBytes {
    HumanBytes(b as u64)
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
fn print_memory(what: &str, arena: &Arena<Node, NodeId>) -> usize {
    let resident = arena.resident_bytes();
    let live = arena.len();
    let rss = process_rss().map_or_else(|| "n/a".to_owned(), |b| size(b).to_string());
    println!(
        "{what}: {} resident in the arena (process RSS {rss}); {} live nodes × {} B = {} of \
         live node bytes; fragmentation {:.1}%",
        size(resident),
        count(live),
        slot_bytes(),
        size(live * slot_bytes()),
        arena.fragmentation() * 100.0
    );
    resident
}

/// Checks that every kept document serializes to the same HTML and dumps to the same tree
/// as before the collection, that its links agree with each other, and that each link
/// points to the node it pointed to before (equal link shapes). Returns the nodes checked.
fn verify(arena: &Arena<Node, NodeId>, kept: &[Kept]) -> Result<usize, String> {
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
        count(nodes)
    );
}

/// After the collection: prints the resident memory, trims, prints it again, and with
/// `compact` compacts (relocating every node link and the kept documents' keys) and prints
/// it once more. After each step, verifies the kept documents ([`verify`]). Finally roots
/// the kept documents again and collects, which must sweep nothing. `default_run`: the
/// embedded corpus, once, 3 kept; the trim target (at most 40% left) is reported for it.
/// Returns the kept documents, unrooted again, with their keys relocated.
fn give_memory_back(
    arena: &mut Arena<Node, NodeId>,
    mut kept: Vec<Kept>,
    compact_too: bool,
    default_run: bool,
) -> Result<Vec<Kept>, String> {
    let live_bytes = arena.len() * slot_bytes();
    let before = print_memory("memory after collecting", arena);

    let t = Instant::now();
    let released = arena.trim();
    let trim_time = t.elapsed();
    println!("trimmed: {} released in {trim_time:.2?}", size(released));
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
            count(remap.live()),
            count(remap.live()),
            count(remap.moved())
        );
        let compacted = print_memory("memory after compact", arena);
        let bound = live_bytes + live_bytes / 2 + MIB;
        println!(
            "  after compact: {:.1}% of the resident memory before; target ≤ 1.5 × live node \
             bytes + 1 MiB = {}: {}",
            compacted as f64 / before.max(1) as f64 * 100.0,
            size(bound),
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
        count(live)
    );
    Ok(kept)
}

fn print_stats(what: &str, arena: &Arena<Node, NodeId>) {
    let s = arena.stats();
    println!(
        "{what}: {} live, {} slots in {} chunks, {:.1} MB of chunks ({:.1} MB resident), \
         {:.1} KB of mark bits, {} awaiting reclamation",
        count(s.live),
        count(s.slots),
        s.chunks,
        s.bytes_reserved as f64 / 1e6,
        s.resident_bytes as f64 / 1e6,
        s.mark_bytes as f64 / 1e3,
        count(s.pending_reclamation)
    );
}

/// `1234567` → `1,234,567`.
fn count(n: usize) -> HumanCount {
    HumanCount(n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Option<Options>, String> {
        parse_args(list.iter().copied())
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
        assert_eq!((o.threads, o.repeat, o.keep), (3, 2, Some(0)));
        assert!(!o.collect_while_building && !o.compact);
        assert_eq!((o.save, o.load), (None, None));
        let o = args(&["--collect-while-building", "--compact", "--", "--threads"])
            .unwrap()
            .unwrap();
        assert!(o.collect_while_building && o.compact);
        assert_eq!(
            o.paths,
            [PathBuf::from("--threads")],
            "after --, all are paths"
        );
        let o = args(&["--save", "out.dom", "--load=in.dom", "--keep=2"])
            .unwrap()
            .unwrap();
        assert_eq!(o.save, Some(PathBuf::from("out.dom")));
        assert_eq!(o.load, Some(PathBuf::from("in.dom")));
        assert_eq!(o.keep, Some(2));
        assert!(o.paths.is_empty());
        assert_eq!(
            args(&["--compact", "--save=a b.dom"])
                .unwrap()
                .unwrap()
                .save,
            Some(PathBuf::from("a b.dom"))
        );
        assert_eq!(
            args(&[]).unwrap().unwrap().keep,
            None,
            "the default depends on --load"
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
            &["--save"],
            &["--load"],
            &["--save="],
            &["--load", "x.dom", "a.html"],
            &["--load", "x.dom", "--repeat", "2"],
            &["--collect-while-building", "--load", "x.dom"],
        ] {
            let err = args(bad).unwrap_err();
            assert!(!err.is_empty(), "{bad:?}");
        }
        assert!(args(&["--threads", "0"]).unwrap_err().contains("≥ 1"));
        assert!(args(&["-x"]).unwrap_err().contains("unknown option -x"));
        assert!(args(&["--save"])
            .unwrap_err()
            .contains("--save needs a file name"));
        assert!(args(&["--load", "x", "a.html"])
            .unwrap_err()
            .contains("--load replaces parsing"));
        // A lone "-" is a path, as is customary.
        assert_eq!(args(&["-"]).unwrap().unwrap().paths, [PathBuf::from("-")]);
    }

    #[test]
    fn numbers_are_grouped_by_thousands() {
        for (n, text) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (1234567, "1,234,567"),
        ] {
            assert_eq!(count(n).to_string(), text);
        }
        assert_eq!(size(1 << 20).to_string(), "1.00 MiB");
        assert_eq!(size(1536).to_string(), "1.50 KiB");
    }
}
