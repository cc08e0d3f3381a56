//! Parses the same documents with `markup5ever_rcdom::RcDom` and with the arena DOM, for
//! profiling and instruction counts (`perf record`, `valgrind --tool=callgrind`) where the
//! criterion bench is too long.
//!
//! `cargo run --release -p epoch-arena-dom --example dom_compare -- MODE REPS [FILES...]`
//!
//! MODE is `rcdom`, `arena`, `arena2` (two threads into one arena), `rcdom2` (two threads,
//! each DOM dropped at once), `null` (a sink that builds nothing: the floor), `alt` (rcdom
//! and arena alternately, each rep), `alt3` (rcdom, arena and null). With no files it
//! parses the embedded corpus. Each rep parses every document once; `rcdom`, `arena` and
//! `arena2` keep the results until the end of the rep and free them inside it, as the
//! bench does. On a loaded machine, compare contenders within one `alt` run. Prints each
//! contender's median ms per rep, its Mnodes/s and the process's user CPU time. With
//! `DOM_COMPARE_NO_COUNT=1` it skips the parse that counts the nodes (for instruction
//! counts of one contender alone).

use epoch_arena::{pin, Arena};
use epoch_arena_dom::{corpus, count_reachable, parse, Node, NodeId};
use html5ever::interface::{ElementFlags, NodeOrText, QuirksMode, TreeSink};
use html5ever::tendril::StrTendril;
use html5ever::tendril::TendrilSink;
use html5ever::{local_name, ns, Attribute, ExpandedName, QualName};
use markup5ever_rcdom::RcDom;
use std::borrow::Cow;
use std::cell::Cell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::Instant;

/// The floor: a sink that builds no tree. A handle is a counter and the element's name (so
/// `elem_name` borrows from the handle); nothing is linked, text and attributes are dropped.
struct NullSink {
    next: Cell<u32>,
}

#[derive(Clone)]
struct NullHandle(u32, Rc<QualName>);

impl NullSink {
    fn handle(&self, name: Rc<QualName>) -> NullHandle {
        self.next.set(self.next.get() + 1);
        NullHandle(self.next.get(), name)
    }
}

thread_local! {
    static NO_NAME: Rc<QualName> = Rc::new(QualName::new(None, ns!(), local_name!("")));
}

fn no_name() -> Rc<QualName> {
    NO_NAME.with(Rc::clone)
}

impl TreeSink for NullSink {
    type Handle = NullHandle;
    type Output = u32;
    type ElemName<'a> = ExpandedName<'a>;
    fn finish(self) -> u32 {
        self.next.get()
    }
    fn parse_error(&self, _msg: Cow<'static, str>) {}
    fn get_document(&self) -> NullHandle {
        NullHandle(0, no_name())
    }
    fn elem_name<'a>(&'a self, target: &'a NullHandle) -> ExpandedName<'a> {
        target.1.expanded()
    }
    fn create_element(&self, name: QualName, _: Vec<Attribute>, _: ElementFlags) -> NullHandle {
        self.handle(Rc::new(name))
    }
    fn create_comment(&self, _: StrTendril) -> NullHandle {
        self.handle(no_name())
    }
    fn create_pi(&self, _: StrTendril, _: StrTendril) -> NullHandle {
        self.handle(no_name())
    }
    fn append(&self, _: &NullHandle, _: NodeOrText<NullHandle>) {}
    fn append_based_on_parent_node(
        &self,
        _: &NullHandle,
        _: &NullHandle,
        _: NodeOrText<NullHandle>,
    ) {
    }
    fn append_doctype_to_document(&self, _: StrTendril, _: StrTendril, _: StrTendril) {}
    fn get_template_contents(&self, target: &NullHandle) -> NullHandle {
        NullHandle(target.0 | (1 << 31), no_name())
    }
    fn same_node(&self, x: &NullHandle, y: &NullHandle) -> bool {
        x.0 == y.0
    }
    fn set_quirks_mode(&self, _: QuirksMode) {}
    fn append_before_sibling(&self, _: &NullHandle, _: NodeOrText<NullHandle>) {}
    fn add_attrs_if_missing(&self, _: &NullHandle, _: Vec<Attribute>) {}
    fn remove_from_parent(&self, _: &NullHandle) {}
    fn reparent_children(&self, _: &NullHandle, _: &NullHandle) {}
}

fn null_parse(html: &str) -> u32 {
    html5ever::parse_document(NullSink { next: Cell::new(0) }, Default::default()).one(html)
}

fn rcdom_parse(html: &str) -> RcDom {
    html5ever::parse_document(RcDom::default(), Default::default()).one(html)
}

#[path = "../benches/support/split.rs"]
mod support;
use support::split;

fn user_cpu_seconds() -> f64 {
    // utime is field 14 of /proc/self/stat, in clock ticks (100 per second on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    fields
        .get(11)
        .and_then(|t| t.parse::<f64>().ok())
        .map_or(0.0, |t| t / 100.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "alt".into());
    let reps: usize = args.next().map_or(5, |r| r.parse().expect("REPS"));
    let files: Vec<String> = args.collect();
    let htmls: Vec<String> = if files.is_empty() {
        corpus::default_corpus()
            .into_iter()
            .map(|d| d.html)
            .collect()
    } else {
        files
            .iter()
            .map(|f| std::fs::read_to_string(f).expect("readable UTF-8 file"))
            .collect()
    };
    // Under callgrind, skip the counting parse: DOM_COMPARE_NO_COUNT=1.
    let nodes: usize = if std::env::var_os("DOM_COMPARE_NO_COUNT").is_some() {
        1
    } else {
        let arena = Arena::with_key();
        let guard = pin();
        htmls
            .iter()
            .map(|h| {
                let p = parse(&arena, h);
                count_reachable(&arena, p.document(), &guard)
            })
            .sum()
    };
    let mut arena: Arena<Node, NodeId> = Arena::with_key();
    let mut times: Vec<(&str, Vec<f64>)> = Vec::new();
    let mut record = |name: &'static str, ms: f64| match times.iter_mut().find(|t| t.0 == name) {
        Some(t) => t.1.push(ms),
        None => times.push((name, vec![ms])),
    };
    let cpu0 = user_cpu_seconds();
    for _ in 0..reps {
        let run_rcdom = matches!(mode.as_str(), "rcdom" | "alt" | "alt3");
        let run_arena = matches!(mode.as_str(), "arena" | "alt" | "alt3");
        if run_rcdom {
            let t = Instant::now();
            let doms: Vec<RcDom> = htmls.iter().map(|h| rcdom_parse(h)).collect();
            black_box(&doms);
            drop(doms);
            record("rcdom", t.elapsed().as_secs_f64() * 1e3);
        }
        if run_arena {
            let t = Instant::now();
            {
                let parsed: Vec<_> = htmls.iter().map(|h| parse(&arena, h)).collect();
                black_box(&parsed);
            }
            arena.clear();
            record("arena", t.elapsed().as_secs_f64() * 1e3);
        }
        if matches!(mode.as_str(), "null" | "alt3") {
            let t = Instant::now();
            let n: Vec<u32> = htmls.iter().map(|h| null_parse(h)).collect();
            black_box(&n);
            record("null", t.elapsed().as_secs_f64() * 1e3);
        }
        if mode == "arena2" {
            let t = Instant::now();
            {
                let shared = &arena;
                let parsed = std::sync::Mutex::new(Vec::with_capacity(htmls.len()));
                split(2, htmls.len(), |i| {
                    let p = parse(shared, &htmls[i]);
                    parsed.lock().unwrap().push(p);
                });
                black_box(&parsed);
            }
            arena.clear();
            record("arena2", t.elapsed().as_secs_f64() * 1e3);
        }
        if mode == "rcdom2" {
            let t = Instant::now();
            split(2, htmls.len(), |i| {
                black_box(rcdom_parse(&htmls[i]));
            });
            record("rcdom2", t.elapsed().as_secs_f64() * 1e3);
        }
    }
    let cpu = user_cpu_seconds() - cpu0;
    for (name, t) in &times {
        let m = median(t.clone());
        println!(
            "{name:7} median {m:8.1} ms  {:6.2} Mnodes/s  (min {:.1}, max {:.1})",
            nodes as f64 / m / 1e3,
            t.iter().copied().fold(f64::INFINITY, f64::min),
            t.iter().copied().fold(0.0, f64::max),
        );
    }
    println!(
        "{} documents, {nodes} nodes, {reps} reps, user CPU {cpu:.2} s, size_of::<Node>() {}",
        htmls.len(),
        std::mem::size_of::<Node>()
    );
}
