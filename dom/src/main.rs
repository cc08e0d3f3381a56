//! Parses many HTML documents on all cores into ONE shared `Arena<Node>`, then drops all but
//! a few documents and collects: exactly the dropped documents' nodes are reclaimed, and the
//! kept documents serialize to the same HTML as before.
//!
//! ```text
//! cargo run --release -p epoch-arena-dom -- [FILES or DIRS...] [--threads N]
//!     [--repeat N] [--keep N] [--collect-while-building]
//! ```
//!
//! With no files it parses an embedded, deterministic corpus (`corpus.rs`, about 3 MB of
//! generated pages). The DOM itself is this crate's library.

use epoch_arena::{pin, Arena, CollectStats};
use epoch_arena_dom::corpus::{self, Doc};
use epoch_arena_dom::input;
use epoch_arena_dom::{count_reachable, dump, parse, to_html, Node, Parsed};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: epoch-arena-dom [FILES or DIRS...] [--threads N] [--repeat N] [--keep N]
                       [--collect-while-building]

Parses the documents (directories: their .html/.htm/.xhtml files, recursively; none: an
embedded generated corpus of about 3 MB) on N threads into one shared arena, drops all but
--keep documents, collects, and checks that exactly the dropped documents were reclaimed.

  --threads N                 parser threads (default: one per core)
  --repeat N                  parse the whole input N times (default 1)
  --keep N                    documents kept alive through the collection (default 3)
  --collect-while-building    run collections back to back while the threads parse
  -h, --help                  this text";

#[derive(Debug)]
struct Options {
    paths: Vec<PathBuf>,
    threads: usize,
    repeat: usize,
    keep: usize,
    collect_while_building: bool,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
    let mut opts = Options {
        paths: Vec::new(),
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        repeat: 1,
        keep: 3,
        collect_while_building: false,
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

    let arena: Arena<Node> = Arena::new();
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

    match drop_and_collect(&arena, parsed, opts.keep) {
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

/// Drops all but `keep` documents' roots (evenly spaced), collects once, and checks that
/// exactly the dropped documents' nodes (plus nodes html5ever detached during parsing) were
/// swept and the kept documents still serialize to the same HTML.
fn drop_and_collect(
    arena: &Arena<Node>,
    parsed: Vec<Parsed<'_>>,
    keep: usize,
) -> Result<(), String> {
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
            kept.push((i, p, html, tree, reachable[i]));
        } else {
            dropped_nodes += reachable[i];
            dropped_docs += 1;
            drop(p); // releases the document's root
        }
    }
    drop(guard);
    let kept_nodes: usize = kept.iter().map(|k| k.4).sum();
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
    for (i, p, html, tree, _) in &kept {
        if to_html(arena, p.document(), &guard) != *html
            || dump(arena, p.document(), &guard) != *tree
        {
            problems.push(format!("kept document {i} changed"));
        }
    }
    if problems.is_empty() {
        println!(
            "  check: exactly the dropped documents' nodes were reclaimed; the {} kept documents \
             serialize to the same HTML as before",
            kept.len()
        );
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

fn print_stats(what: &str, arena: &Arena<Node>) {
    let s = arena.stats();
    println!(
        "{what}: {} live, {} slots in {} chunks, {:.1} MB of chunks, {:.1} KB of mark bits, \
         {} awaiting reclamation",
        group(s.live),
        group(s.slots),
        s.chunks,
        s.bytes_reserved as f64 / 1e6,
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
        assert!(!o.collect_while_building);
        let o = args(&["--collect-while-building", "--", "--threads"])
            .unwrap()
            .unwrap();
        assert!(o.collect_while_building);
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
