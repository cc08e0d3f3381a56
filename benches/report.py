#!/usr/bin/env python3
"""Tables, target checks and a chart from the criterion results of
`cargo bench -p benches --bench arena`, `cargo bench -p benches --bench gc` and
`cargo bench -p epoch-arena-dom --bench dom_build`.

Usage:
    python3 benches/report.py [CRITERION_DIR] [--strict] [--svg PATH | --no-svg]

CRITERION_DIR defaults to $CARGO_TARGET_DIR/criterion if CARGO_TARGET_DIR is set, else to
target/criterion next to this script's crate. For every benchmark of every group it reads
<group>/<contender...>/new/benchmark.json (name, elements per iteration) and
new/estimates.json (times per iteration, ns). Within an arena group, a result older than the
group's newest by over an hour is from another run (criterion keeps renamed or dropped
contenders' results): it is left out and named.

For the arena bench it prints, per workload, the median ns per operation of epoch-arena
(`Arena` API and `Handle`) and the best peer and their ratio, then per workload a Markdown
table of every contender with its ratio against epoch-arena's `Arena` API, then the targets
from issue 14 (and those of the first round) as PASS / MISS. From the same results it draws
the chart: a horizontal bar per contender per workload (median ns/op, epoch-arena
highlighted, each bar's time ÷ epoch-arena's printed beside it), written as SVG to PATH
(default: chart.svg next to this script, i.e. benches/chart.svg; --no-svg: none). With
--strict the exit status is 1 if a target is missed or has no data.

If the `gc` bench has run, it then prints the collector's tables: per heap size (groups
gc_10k, gc_100k, gc_1m) the median time of one collection for the plain mark-and-sweep floor,
the arena with one marker and with two, their ratios and mark rates, the same with garbage,
the phase breakdown the bench wrote to gc_phases.json, the reader latency (group
gc_reader_latency and gc_reader_latency.json) and the collector's targets as PASS / MISS.
If the `dom_build` bench has run, it prints the DOM-building table (RcDom against the
arena DOM, 1 and 2 threads) and the issue's two DOM targets.
Each section is printed only when its results exist.

Python 3.11 standard library only.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

GROUPS = [
    "insert_1m",
    "get_pin_each",
    "get_pin_256",
    "churn",
    "remove_1m",
    "mixed_2t",
    "insert_2t",
    "insert_alternating",
]


@dataclass(frozen=True)
class Workload:
    """One row of the summary, one table, one block of the chart: a criterion group, or
    the contenders of a group whose variant ends in `shape` (`epoch-arena/two`,
    `epoch-arena/handle-two`, `mutex-slotmap/two` for shape `two`), named without it."""

    key: str
    group: str
    shape: str | None
    label: str


WORKLOADS = [
    Workload("insert_1m", "insert_1m", None, "insert 1M into a fresh container, 1 thread"),
    Workload("get_pin_each", "get_pin_each", None, "random get, one pin/lock per get"),
    Workload("get_pin_256", "get_pin_256", None, "random get, one pin/lock per 256 gets"),
    Workload("churn", "churn", None, "churn: remove random + insert, 100k live"),
    Workload("remove_1m", "remove_1m", None, "remove 1M random keys from a full container"),
    Workload(
        "mixed_2t", "mixed_2t", None, "2 threads: 80% get (16 per pin), 10% insert, 10% remove"
    ),
    Workload("insert_2t", "insert_2t", None, "2 threads insert into one container"),
    Workload(
        "alternating_two",
        "insert_alternating",
        "two",
        "1 thread inserts 1M alternately into two containers",
    ),
    Workload(
        "alternating_one",
        "insert_alternating",
        "one",
        "1 thread inserts 1M into one container (same group)",
    ),
]

# Every ratio is taken against this contender: epoch-arena through its default API
# (`Arena::insert`, `Arena::remove`, `Arena::get` under `pin()`).
BASELINE = "epoch-arena"
HANDLE = "epoch-arena/handle"

# Shown, but never the "best peer": the floors, and boxcar, which cannot remove.
NOT_PEERS = {"vec-index", "bumpalo", "boxcar"}

# Names in the chart and the summary.
PRETTY = {
    "epoch-arena": "epoch-arena (Arena API)",
    "epoch-arena/handle": "epoch-arena (Handle)",
    "sharded-slab": "sharded-slab",
    "sharded-slab-unbatched": "sharded-slab (no batching)",
    "concurrent-slotmap": "concurrent-slotmap",
    "mutex-slotmap": "Mutex<SlotMap> (parking_lot)",
    "rwlock-slotmap": "RwLock<SlotMap> (parking_lot)",
    "boxcar": "boxcar (append-only)",
    "bumpalo": "bumpalo (floor)",
    "vec-index": "Vec index (floor)",
}

AS_FAST = "at least as fast as `Mutex<SlotMap>`"
MIXED = "≥1.3× faster than concurrent-slotmap"

# Issue 14's targets: (workload, epoch-arena contender, other, kind, factor, wording).
# kind "faster": the other's time ÷ ours ≥ factor; "within": ours ÷ the other's ≤ factor.
# other "@best" is the best peer of the workload; "@alternating_one/<name>" is a contender of
# another workload.
TARGETS = [
    ("insert_1m", BASELINE, "mutex-slotmap", "faster", 1.0, AS_FAST),
    ("get_pin_256", BASELINE, "mutex-slotmap", "faster", 1.0, AS_FAST),
    ("churn", BASELINE, "mutex-slotmap", "faster", 1.0, AS_FAST),
    ("get_pin_each", BASELINE, "mutex-slotmap", "within", 1.1, "within 1.1× of `Mutex<SlotMap>`"),
    ("insert_1m", HANDLE, "mutex-slotmap", "faster", 1.3, "≥1.3× faster than `Mutex<SlotMap>`"),
    ("churn", HANDLE, "mutex-slotmap", "faster", 1.3, "≥1.3× faster than `Mutex<SlotMap>`"),
    (
        "alternating_two",
        BASELINE,
        f"@alternating_one/{BASELINE}",
        "within",
        1.0,
        "two arenas alternately cost no more than one",
    ),
    (
        "alternating_two",
        HANDLE,
        f"@alternating_one/{HANDLE}",
        "within",
        1.0,
        "two arenas alternately cost no more than one",
    ),
    ("mixed_2t", BASELINE, "concurrent-slotmap", "faster", 1.3, MIXED),
    ("mixed_2t", HANDLE, "concurrent-slotmap", "faster", 1.3, MIXED),
    ("insert_2t", BASELINE, "@best", "faster", 1.0, "keep the lead: faster than the best peer"),
    ("insert_2t", HANDLE, "@best", "faster", 1.0, "keep the lead: faster than the best peer"),
]

# The first round's targets, still reported: (workload, other, kind, factor, wording), each
# checked for every epoch-arena contender of the workload.
FIRST_ROUND_TARGETS = [
    ("insert_1m", "sharded-slab", "faster", 5.0, "≥5× faster than sharded-slab"),
    ("insert_1m", "mutex-slotmap", "faster", 1.5, "≥1.5× faster than `Mutex<SlotMap>`"),
    ("insert_1m", "bumpalo", "within", 2.0, "within 2× of bumpalo"),
    ("get_pin_256", "vec-index", "within", 1.5, "within 1.5× of vec-index"),
    ("get_pin_each", "sharded-slab", "faster", 3.0, "≥3× faster than sharded-slab"),
    ("churn", "sharded-slab", "faster", 4.0, "≥4× faster than sharded-slab"),
    ("churn", "rwlock-slotmap", "faster", 1.0, "faster than `RwLock<SlotMap>`"),
    ("mixed_2t", "concurrent-slotmap", "faster", 1.5, "≥1.5× faster than concurrent-slotmap"),
]

Results = dict[str, dict[str, dict[str, float]]]


def default_criterion_dir() -> Path:
    target = os.environ.get("CARGO_TARGET_DIR")
    if target:
        return Path(target) / "criterion"
    return Path(__file__).resolve().parent.parent / "target" / "criterion"


def load_group(group_dir: Path) -> dict[str, dict[str, float]]:
    """contender -> {"median": ns/op, "mad": ns/op, "mean": ns/op, "elements", "mtime"}
    for one group."""
    out: dict[str, dict[str, float]] = {}
    for bench_json in sorted(group_dir.rglob("new/benchmark.json")):
        new = bench_json.parent
        est_path = new / "estimates.json"
        if not est_path.is_file():
            continue
        bench = json.loads(bench_json.read_text())
        est = json.loads(est_path.read_text())
        name = bench.get("function_id") or ""
        if bench.get("value_str"):
            name = f"{name}/{bench['value_str']}" if name else bench["value_str"]
        throughput = bench.get("throughput") or {}
        elements = throughput.get("Elements") or throughput.get("ElementsAndBytes", {}).get(
            "elements"
        )
        if not elements:
            elements = 1
        out[name] = {
            "elements": elements,
            "median": est["median"]["point_estimate"] / elements,
            "mad": est["median_abs_dev"]["point_estimate"] / elements,
            "mean": est["mean"]["point_estimate"] / elements,
            "mtime": est_path.stat().st_mtime,
        }
    return out


# Results older than a group's newest by more than this come from another run (criterion
# never deletes a contender that was renamed or dropped): they are left out, and named.
STALE_AFTER_S = 3600


def drop_stale(results: Results) -> list[str]:
    """Removes each group's results from an earlier run; returns their names."""
    dropped = []
    for group, data in results.items():
        if not data:
            continue
        newest = max(d["mtime"] for d in data.values())
        for name in [n for n, d in data.items() if newest - d["mtime"] > STALE_AFTER_S]:
            del data[name]
            dropped.append(f"{group}/{name}")
    return dropped


def fmt_ns(ns: float) -> str:
    if ns >= 100:
        return f"{ns:.0f}"
    if ns >= 10:
        return f"{ns:.1f}"
    return f"{ns:.2f}"


def ratio_text(ns: float, base_ns: float, base_name: str) -> str:
    if ns == base_ns:
        return "="
    if ns > base_ns:
        return f"{ns / base_ns:.2f}× slower than {base_name}"
    return f"{base_ns / ns:.2f}× faster than {base_name}"


def is_ours(name: str) -> bool:
    return name.startswith("epoch-arena")


def pretty(name: str) -> str:
    return PRETTY.get(name, name)


def md(name: str) -> str:
    """A name for a Markdown table: in a code span if it holds angle brackets."""
    return f"`{name}`" if "<" in name else name


def workload_data(w: Workload, results: Results) -> dict[str, dict[str, float]]:
    """The workload's contenders, named without the shape: `epoch-arena/two` ->
    `epoch-arena`, `epoch-arena/handle-two` -> `epoch-arena/handle`."""
    data = results.get(w.group, {})
    if w.shape is None:
        return dict(data)
    out = {}
    for name, d in data.items():
        crate, _, variant = name.partition("/")
        if variant == w.shape:
            out[crate] = d
        elif variant.endswith("-" + w.shape):
            out[f"{crate}/{variant[: -len(w.shape) - 1]}"] = d
    return out


def ordered(data: dict[str, dict[str, float]]) -> list[str]:
    """epoch-arena first (the `Arena` API, then the rest by name), then the peers fastest
    first, then the floors and boxcar fastest first."""
    mine = sorted((n for n in data if is_ours(n)), key=lambda n: (n != BASELINE, n))
    peers = sorted(
        (n for n in data if not is_ours(n) and n not in NOT_PEERS), key=lambda n: data[n]["median"]
    )
    rest = sorted((n for n in data if n in NOT_PEERS), key=lambda n: data[n]["median"])
    return mine + peers + rest


def best_peer(data: dict[str, dict[str, float]]) -> str | None:
    peers = [n for n in data if not is_ours(n) and n not in NOT_PEERS]
    return min(peers, key=lambda n: data[n]["median"]) if peers else None


def summary(results: Results) -> None:
    print("## Summary: epoch-arena against the best peer\n")
    print(
        "Median ns per operation. Ratio: the best peer's time ÷ epoch-arena's (above 1×: "
        "epoch-arena is faster). The best peer is the fastest of sharded-slab, "
        "concurrent-slotmap and the parking_lot-locked slotmaps (not boxcar, which cannot "
        "remove, nor the floors).\n"
    )
    print(
        "| workload | epoch-arena (Arena API) | epoch-arena (Handle) | best peer "
        "| ratio, Arena API | ratio, Handle |"
    )
    print("|---|---:|---:|---|---:|---:|")
    for w in WORKLOADS:
        data = workload_data(w, results)
        if not data:
            continue
        best = best_peer(data)
        b = data[best]["median"] if best else None

        def cell(name: str) -> tuple[str, str]:
            d = data.get(name)
            if not d:
                return "–", "–"
            return fmt_ns(d["median"]), (f"{b / d['median']:.2f}×" if b else "–")

        a_ns, a_x = cell(BASELINE)
        h_ns, h_x = cell(HANDLE)
        peer = f"{md(pretty(best))} {fmt_ns(b)}" if best else "–"
        print(f"| {w.label} | {a_ns} | {h_ns} | {peer} | {a_x} | {h_x} |")
    print()


def arena_report(results: Results) -> int:
    """The arena bench's tables and targets; returns the number of missed targets."""
    summary(results)
    for w in WORKLOADS:
        data = workload_data(w, results)
        title = w.group if w.shape is None else f"{w.group} ({w.shape})"
        if not data:
            print(f"## {title}\n\n(no results)\n")
            continue
        base = data.get(BASELINE)
        print(f"## {w.label} (`{title}`)\n")
        print("| contender | median ns/op | ± MAD | vs epoch-arena |")
        print("|---|---:|---:|---|")
        for name in ordered(data):
            d = data[name]
            if name == BASELINE:
                rel = "baseline"
            elif base is None:
                rel = "–"
            else:
                rel = f"{name} is " + ratio_text(d["median"], base["median"], BASELINE)
            print(f"| {name} | {fmt_ns(d['median'])} | {fmt_ns(d['mad'])} | {rel} |")
        print()

    by_key = {w.key: workload_data(w, results) for w in WORKLOADS}

    def check(workload: str, mine: str, other: str, kind: str, factor: float, wording: str) -> int:
        data = by_key.get(workload, {})
        if other == "@best":
            other_name = best_peer(data)
            o = data[other_name]["median"] if other_name else None
        elif other.startswith("@"):
            ref_key, _, other_name = other[1:].partition("/")
            ref = by_key.get(ref_key, {}).get(other_name)
            other_name = f"{other_name} ({ref_key})"
            o = ref["median"] if ref else None
        else:
            other_name = other
            o = data[other]["median"] if other in data else None
        if mine not in data or o is None:
            print(f"| {workload} | {mine} | {wording} | no data | MISS |")
            return 1
        e = data[mine]["median"]
        if kind == "faster":
            ok = o / e >= factor
            measured = f"{o / e:.2f}× ({fmt_ns(e)} vs {other_name} {fmt_ns(o)} ns)"
        else:
            ok = e / o <= factor
            measured = f"{e / o:.2f}× of {other_name} ({fmt_ns(e)} vs {fmt_ns(o)} ns)"
        print(f"| {workload} | {mine} | {wording} | {measured} | {'PASS' if ok else 'MISS'} |")
        return 0 if ok else 1

    print("## Targets (issue 14)\n")
    print("| workload | epoch-arena contender | target | measured | result |")
    print("|---|---|---|---|---|")
    misses = sum(check(*t) for t in TARGETS)
    print()

    print("## Targets of the first round\n")
    print("| workload | epoch-arena contender | target | measured | result |")
    print("|---|---|---|---|---|")
    for workload, other, kind, factor, wording in FIRST_ROUND_TARGETS:
        mine = [n for n in ordered(by_key.get(workload, {})) if is_ours(n)] or [BASELINE]
        misses += sum(check(workload, m, other, kind, factor, wording) for m in mine)
    print()
    return misses


# ---------------------------------------------------------------------------------------
# The chart

# Colours: epoch-arena's two APIs in orange, the peers in slate, the floors and boxcar in
# light grey; ratios above 1× (epoch-arena faster) in green, below in red.
COLOUR = {
    "ours": "#e8590c",
    "handle": "#ffa94d",
    "peer": "#5c7080",
    "other": "#c1c7cd",
}
GOOD, BAD, TEXT, MUTED = "#2b8a3e", "#c92a2a", "#212529", "#6c757d"


def kind_of(name: str) -> str:
    if name == BASELINE:
        return "ours"
    if is_ours(name):
        return "handle"
    return "other" if name in NOT_PEERS else "peer"


def chart_svg(results: Results) -> str:
    """The SVG: per workload a block of horizontal bars (median ns/op, each workload on its
    own scale), the time and its ratio to epoch-arena's `Arena` API beside each bar."""
    width, label_w, bar_w = 980, 250, 470
    x_bar = label_w + 10
    row_h, bar_h, head_h, gap = 19, 13, 24, 14
    font = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\""
    parts: list[str] = []
    y = 20

    def text(x: float, y: float, s: str, size: int = 12, **attrs: str) -> None:
        extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
        parts.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}"{extra}>{escape(s)}</text>')

    stamp = max(
        (d["mtime"] for g in results.values() for d in g.values() if "mtime" in d), default=None
    )
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(stamp)) if stamp else "unknown date"
    title = "epoch-arena against its peers: median ns per operation"
    text(10, y, title, 17, font_weight="bold", fill=TEXT)
    for line in (
        f"One run of `cargo bench -p benches --bench arena` ({when}): 32-byte values, "
        "1M operations per iteration, criterion medians.",
        "Shorter bars are faster. Each workload has its own scale; the two blocks of one and two "
        "containers share one.",
        "Beside each bar: its median ns/op and its time ÷ epoch-arena's (Arena API): above 1× "
        "(green) epoch-arena is faster,",
        "below 1× (red) slower. ◀ best marks the fastest peer.",
    ):
        y += 17
        text(10, y, line, 12, fill=MUTED)
    y += 22
    legend = [
        ("ours", "epoch-arena, Arena API (insert, remove, get + pin)"),
        ("handle", "epoch-arena, Handle"),
        ("peer", "peer"),
        ("other", "floor or append-only (not a peer)"),
    ]
    x = 10.0
    for kind, label in legend:
        parts.append(
            f'<rect x="{x:.1f}" y="{y - 10:.1f}" width="14" height="11" fill="{COLOUR[kind]}"/>'
        )
        text(x + 19, y, label, 12, fill=TEXT)
        x += 19 + 6.5 * len(label) + 20
    y += 6
    scales: dict[str, float] = {}
    for w in WORKLOADS:
        data = workload_data(w, results)
        if data:
            top = max(d["median"] for d in data.values())
            scales[w.group] = max(scales.get(w.group, 0.0), top)

    for w in WORKLOADS:
        data = workload_data(w, results)
        if not data:
            continue
        y += gap
        text(10, y + 14, w.label, 13, font_weight="bold", fill=TEXT)
        y += head_h
        names = ordered(data)
        top = scales[w.group]  # shared by the workloads of one group (one and two arenas)
        base = data.get(BASELINE, {}).get("median")
        best = best_peer(data)
        for name in names:
            ns = data[name]["median"]
            kind = kind_of(name)
            weight = ' font-weight="bold"' if kind == "ours" else ""
            parts.append(
                f'<text x="{label_w:.1f}" y="{y + bar_h - 2:.1f}" font-size="12" '
                f'text-anchor="end" fill="{TEXT}"{weight}>{escape(pretty(name))}</text>'
            )
            length = max(1.0, bar_w * ns / top)
            parts.append(
                f'<rect x="{x_bar}" y="{y:.1f}" width="{length:.1f}" height="{bar_h}" '
                f'fill="{COLOUR[kind]}"><title>{escape(pretty(name))}: {fmt_ns(ns)} ns/op</title>'
                "</rect>"
            )
            tx = x_bar + length + 6
            value = f"{fmt_ns(ns)} ns"
            parts.append(
                f'<text x="{tx:.1f}" y="{y + bar_h - 2:.1f}" font-size="12" fill="{TEXT}"{weight}>'
                f"{escape(value)}"
            )
            if base and name != BASELINE:
                r = ns / base
                colour = MUTED if kind_of(name) != "peer" else (GOOD if r > 1 else BAD)
                parts.append(f'<tspan dx="8" fill="{colour}">{r:.2f}×</tspan>')
            if name == best:
                parts.append('<tspan dx="8" font-weight="bold" fill="#343a40">◀ best</tspan>')
            parts.append("</text>")
            y += row_h
    y += 10
    height = int(y)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" {font}>\n'
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>\n'
    )
    return head + "\n".join(parts) + "\n</svg>\n"


# ---------------------------------------------------------------------------------------
# The gc bench

# (criterion group, label, nodes)
GC_GROUPS = [("gc_10k", "10k", 10_000), ("gc_100k", "100k", 100_000), ("gc_1m", "1M", 1_000_000)]
GC_LATENCY_GROUP = "gc_reader_latency"
GC_LATENCY = ["idle", "during_1m_collect", "during_1m_collect_2_markers"]

# Targets from the issue.
GC_WITHIN_FLOOR = 1.5  # one marker within 1.5× of the floor, every size
GC_PARALLEL_SPEEDUP = 1.5  # two markers ≥ 1.5× faster than one, at 1M
GC_PARALLEL_GROUP = "gc_1m"


def ms_of(d: dict[str, float] | None) -> float | None:
    """Median milliseconds per collection (criterion's median per element × elements)."""
    if not d:
        return None
    return d["median"] * d["elements"] / 1e6


def fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "–"
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    return f"{ms:.3f}"


def fmt_rate(nodes: float, ms: float | None) -> str:
    """Nodes per millisecond, in thousands."""
    if not ms:
        return "–"
    return f"{nodes / ms / 1000:.0f}k"


def fmt_x(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}×"


def load_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def gc_report(root: Path, results: dict[str, dict[str, dict[str, float]]]) -> int:
    """The gc bench's tables and targets; returns the number of missed targets."""
    phases = load_json(root / "gc_phases.json")
    latency = load_json(root / "gc_reader_latency.json")

    print("## Collector: one collection of a random tree, fully reachable\n")
    print(
        "Median ms per collection (criterion). Ratios: 1 marker ÷ floor (lower is better), "
        "1 marker ÷ 2 markers (speedup). Rate: nodes per ms of the whole collection.\n"
    )
    print(
        "| nodes | floor ms | 1 marker ms | 2 markers ms | 1 marker ÷ floor "
        "| 2-marker speedup | rate floor | rate 1 marker | rate 2 markers |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for group, label, nodes in GC_GROUPS:
        data = results.get(group)
        if not data:
            print(f"| {label} | (no results) | | | | | | | |")
            continue
        floor = ms_of(data.get("floor"))
        one = ms_of(data.get("arena_1_marker"))
        two = ms_of(data.get("arena_2_markers"))
        within = one / floor if one and floor else None
        speedup = one / two if one and two else None
        print(
            f"| {label} | {fmt_ms(floor)} | {fmt_ms(one)} | {fmt_ms(two)} | {fmt_x(within)} "
            f"| {fmt_x(speedup)} | {fmt_rate(nodes, floor)} | {fmt_rate(nodes, one)} "
            f"| {fmt_rate(nodes, two)} |"
        )
    print()

    if any("floor_garbage" in results.get(g, {}) for g, _, _ in GC_GROUPS):
        print("## Collector: the same tree plus nodes/2 unreachable leaves (swept each time)\n")
        print(
            "| nodes | floor ms | 1 marker ms | 2 markers ms | 1 marker ÷ floor "
            "| 2-marker speedup |"
        )
        print("|---|---:|---:|---:|---:|---:|")
        for group, label, _ in GC_GROUPS:
            data = results.get(group, {})
            floor = ms_of(data.get("floor_garbage"))
            one = ms_of(data.get("arena_1_marker_garbage"))
            two = ms_of(data.get("arena_2_markers_garbage"))
            within = one / floor if one and floor else None
            speedup = one / two if one and two else None
            print(
                f"| {label} | {fmt_ms(floor)} | {fmt_ms(one)} | {fmt_ms(two)} "
                f"| {fmt_x(within)} | {fmt_x(speedup)} |"
            )
        print()

    if phases:
        print("## Collector phases (median over every collection the bench ran, µs)\n")
        print(
            "wait = lock + epoch grace period. Mark rate = marked ÷ mark phase. CPU = process "
            "CPU time during the collection; cores = CPU ÷ wall (2 markers on an idle 2-core "
            "machine would approach 2).\n"
        )
        print(
            "| collection | runs | wall | wait | clear | mark | sweep | mark rate (nodes/ms) "
            "| CPU | cores |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        order = {g: i for i, (g, _, _) in enumerate(GC_GROUPS)}
        for key in sorted(phases, key=lambda k: (order.get(k.split("/")[0], 99), k)):
            p = phases[key]

            def f(name: str) -> str:
                v = p.get(name)
                return "–" if v is None else f"{v:.0f}" if v >= 10 else f"{v:.1f}"

            mark = p.get("mark_us")
            # marked per µs = thousands of nodes per ms
            rate = f"{p['marked'] / mark:.0f}k" if mark else "–"
            cpu, wall = p.get("cpu_us"), p.get("wall_us")
            cores = f"{cpu / wall:.2f}" if cpu is not None and wall else "–"
            print(
                f"| {key} | {p.get('runs', 0)} | {f('wall_us')} | {f('wait_us')} "
                f"| {f('clear_us')} | {f('mark_us')} | {f('sweep_us')} | {rate} "
                f"| {f('cpu_us')} | {cores} |"
            )
        print()

    if phases:
        print("## Collector CPU time (median process CPU per collection, ms)\n")
        print(
            "Less sensitive than wall time to other processes taking the CPU (but not to "
            "their cache traffic). Projected speedup = 2 × CPU(1 marker) ÷ CPU(2 markers): "
            "what 2 markers would reach with a free core each and perfect balance; an "
            "estimate, not a measurement.\n"
        )
        print(
            "| nodes | floor | 1 marker | 2 markers | 1 marker ÷ floor | 2 markers ÷ 1 marker "
            "| projected 2-marker speedup |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")
        for group, label, _ in GC_GROUPS:
            for suffix in ("", "_garbage"):

                def cpu_ms(name: str) -> float | None:
                    v = phases.get(f"{group}/{name}{suffix}", {}).get("cpu_us")
                    return None if v is None else v / 1000

                floor = cpu_ms("floor")
                one, two = cpu_ms("arena_1_marker"), cpu_ms("arena_2_markers")
                if floor is None and one is None and two is None:
                    continue
                within = one / floor if one and floor else None
                overhead = two / one if one and two else None
                projected = 2 * one / two if one and two else None
                print(
                    f"| {label}{' + garbage' if suffix else ''} | {fmt_ms(floor)} | {fmt_ms(one)} "
                    f"| {fmt_ms(two)} | {fmt_x(within)} | {fmt_x(overhead)} | {fmt_x(projected)} |"
                )
        print()

    lat_crit = results.get(GC_LATENCY_GROUP, {})
    if lat_crit or latency:
        print("## Reader latency: pin() + get of a random key, 1M-node arena\n")
        print(
            "Mean ns per get from criterion (batches timed as a whole); the percentiles time "
            "each get on its own (clock cost included). Slow = over `slow_ns`, classified by "
            "the reader thread's context switches: preempted by the scheduler, blocked "
            "(voluntary switch), or no switch at all (a stall in the reader itself or the "
            "hypervisor).\n"
        )
        print(
            "| reader | ns/get (criterion) | p50 | p90 | p99 | p99.9 | p99.99 | max "
            "| >100µs | slow: preempted / blocked / no switch (max) | collections |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
        for name in GC_LATENCY:
            c = lat_crit.get(name)
            h = latency.get(name, {})
            if not c and not h:
                continue
            crit = fmt_ns(c["median"]) if c else "–"

            def g(k: str) -> str:
                v = h.get(k)
                return "–" if v is None else str(v)

            def us(k: str) -> str:
                v = h.get(k)
                return "–" if v is None else f"{v / 1000:.1f} µs" if v >= 1000 else f"{v} ns"

            slow = (
                f"{g('slow_preempted')} / {g('slow_blocked')} / {g('slow_unexplained')} "
                f"({us('slow_unexplained_max_ns')})"
                if h
                else "–"
            )
            coll = "–"
            if h.get("collections"):
                coll = f"{h['collections']} × {h.get('collection_ms')} ms"
            print(
                f"| {name} | {crit} | {us('p50_ns')} | {us('p90_ns')} | {us('p99_ns')} "
                f"| {us('p999_ns')} | {us('p9999_ns')} | {us('max_ns')} | {g('over_100us')} "
                f"| {slow} | {coll} |"
            )
        print()

    print("## Collector targets\n")
    print("| size | target | measured | result |")
    print("|---|---|---|---|")
    misses = 0
    for group, label, _ in GC_GROUPS:
        data = results.get(group, {})
        floor, one = ms_of(data.get("floor")), ms_of(data.get("arena_1_marker"))
        wording = f"1 marker within {GC_WITHIN_FLOOR}× of the floor"
        if not floor or not one:
            print(f"| {label} | {wording} | no data | MISS |")
            misses += 1
            continue
        ok = one / floor <= GC_WITHIN_FLOOR
        misses += not ok
        print(
            f"| {label} | {wording} | {one / floor:.2f}× ({fmt_ms(one)} vs {fmt_ms(floor)} ms) "
            f"| {'PASS' if ok else 'MISS'} |"
        )
    data = results.get(GC_PARALLEL_GROUP, {})
    one, two = ms_of(data.get("arena_1_marker")), ms_of(data.get("arena_2_markers"))
    label = next(lb for g, lb, _ in GC_GROUPS if g == GC_PARALLEL_GROUP)
    wording = f"2 markers ≥ {GC_PARALLEL_SPEEDUP}× faster than 1"
    if not one or not two:
        print(f"| {label} | {wording} | no data | MISS |")
        misses += 1
    else:
        ok = one / two >= GC_PARALLEL_SPEEDUP
        misses += not ok
        print(
            f"| {label} | {wording} | {one / two:.2f}× ({fmt_ms(two)} vs {fmt_ms(one)} ms) "
            f"| {'PASS' if ok else 'MISS'} |"
        )
    print()
    return misses


DOM_GROUP = "dom_build"
# (contender, label)
DOM_ROWS = [
    ("rcdom_1_thread", "RcDom, 1 thread"),
    ("arena_1_thread", "arena DOM, 1 thread"),
    ("rcdom_2_threads", "RcDom, 2 threads (a DOM per thread)"),
    ("arena_2_threads", "arena DOM, 2 threads, one shared arena"),
]


def dom_report(results: dict[str, dict[str, float]]) -> int:
    """The DOM-building table and the issue's two targets; returns the number of misses."""
    print("## DOM building: the embedded corpus parsed with html5ever, built and freed\n")
    print("| contender | ms per corpus | M nodes/s | vs RcDom, same threads |")
    print("|---|---:|---:|---:|")
    ms = {}
    for name, label in DOM_ROWS:
        d = results.get(name)
        if not d:
            continue
        ms[name] = ms_of(d)
        nodes = d["elements"]
        peer = "rcdom_" + name.split("_", 1)[1]
        vs = "–"
        if name.startswith("arena") and ms.get(peer):
            vs = fmt_x(ms[peer] / ms[name])
        print(f"| {label} | {fmt_ms(ms[name])} | {nodes / ms[name] / 1000:.2f} | {vs} |")
    print()
    misses = 0
    checks = [
        ("1 thread ≥ 1.2× RcDom's nodes/s", "rcdom_1_thread", "arena_1_thread", 1.2),
        ("2 threads, one arena, ≥ 1.8× the 1-thread rate", "arena_1_thread", "arena_2_threads", 1.8),
    ]
    print("| target | measured | result |")
    print("|---|---:|---|")
    for wording, slow, fast, factor in checks:
        if not ms.get(slow) or not ms.get(fast):
            print(f"| {wording} | no data | MISS |")
            misses += 1
            continue
        x = ms[slow] / ms[fast]
        ok = x >= factor
        misses += not ok
        print(f"| {wording} | {x:.2f}× | {'PASS' if ok else 'MISS'} |")
    print()
    return misses


def main(argv: list[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    strict, svg, args = False, Path(__file__).resolve().parent / "chart.svg", []
    rest = iter(argv)
    for a in rest:
        if a == "--strict":
            strict = True
        elif a == "--no-svg":
            svg = None
        elif a == "--svg" or a.startswith("--svg="):
            value = a.partition("=")[2] if "=" in a else next(rest, None)
            if not value:
                print("--svg needs a path")
                return 2
            svg = Path(value)
        elif a.startswith("-"):
            print(f"unknown option {a} (see --help)")
            return 2
        else:
            args.append(a)
    root = Path(args[0]) if args else default_criterion_dir()
    if not root.is_dir():
        print(
            f"no criterion results in {root} "
            "(run `cargo bench -p benches --bench arena` or `cargo bench -p benches --bench gc` first)"
        )
        return 1

    results = {g: load_group(root / g) for g in GROUPS if (root / g).is_dir()}
    stale = drop_stale(results)
    gc_groups = [g for g, _, _ in GC_GROUPS] + [GC_LATENCY_GROUP]
    gc_results = {g: load_group(root / g) for g in gc_groups if (root / g).is_dir()}
    dom = load_group(root / DOM_GROUP) if (root / DOM_GROUP).is_dir() else {}
    if not results and not gc_results and not dom:
        print(f"no results for the groups {', '.join(GROUPS + gc_groups + [DOM_GROUP])} in {root}")
        return 1

    print(f"Criterion results from `{root}` (median of the samples, ns per operation).\n")
    if stale:
        print(
            f"Left out, older than their group's newest result by over {STALE_AFTER_S // 60} "
            f"min (another run): {', '.join(stale)}.\n"
        )
    misses = 0
    if results:
        misses += arena_report(results)
        if svg is not None:
            svg.parent.mkdir(parents=True, exist_ok=True)
            svg.write_text(chart_svg(results), encoding="utf-8")
            print(f"Chart written to `{svg}`.\n")
    if gc_results:
        misses += gc_report(root, gc_results)
    if dom:
        misses += dom_report(dom)
    return 1 if strict and misses else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
