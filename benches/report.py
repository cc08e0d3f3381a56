#!/usr/bin/env python3
"""Tables and target checks from the criterion results of `cargo bench -p benches --bench arena`,
`cargo bench -p benches --bench gc` and `cargo bench -p epoch-arena-dom --bench dom_build`.

Usage:
    python3 benches/report.py [CRITERION_DIR] [--strict]

CRITERION_DIR defaults to $CARGO_TARGET_DIR/criterion if CARGO_TARGET_DIR is set, else to
target/criterion next to this script's crate. For every benchmark of every group it reads
<group>/<contender...>/new/benchmark.json (name, elements per iteration) and
new/estimates.json (times per iteration, ns) and prints, per group, a Markdown table of the
median ns per operation and the ratio against epoch-arena, then the targets from the issue
as PASS / MISS. With --strict the exit status is 1 if a target is missed or has no data.

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
from pathlib import Path

GROUPS = ["insert_1m", "get_pin_each", "get_pin_256", "churn", "mixed_2t", "insert_2t"]

# The epoch-arena contender each group's ratios are taken against.
BASELINE = {
    "insert_1m": "epoch-arena/handle",
    "churn": "epoch-arena/handle",
}
DEFAULT_BASELINE = "epoch-arena"

# (group, other contender, kind, factor, wording). For "faster", epoch-arena must take at
# most 1/factor of the other's time; for "within", at most factor times the other's time.
# Checked against every epoch-arena contender of the group.
TARGETS = [
    ("insert_1m", "sharded-slab", "faster", 5.0, "≥5× faster than sharded-slab"),
    ("insert_1m", "mutex-slotmap", "faster", 1.5, "≥1.5× faster than mutex-slotmap"),
    ("insert_1m", "bumpalo", "within", 2.0, "within 2× of bumpalo"),
    ("get_pin_256", "vec-index", "within", 1.5, "within 1.5× of vec-index"),
    ("get_pin_each", "sharded-slab", "faster", 3.0, "≥3× faster than sharded-slab"),
    ("churn", "sharded-slab", "faster", 4.0, "≥4× faster than sharded-slab"),
    ("churn", "rwlock-slotmap", "faster", 1.0, "faster than rwlock-slotmap"),
    ("mixed_2t", "concurrent-slotmap", "faster", 1.5, "≥1.5× faster than concurrent-slotmap"),
]


def default_criterion_dir() -> Path:
    target = os.environ.get("CARGO_TARGET_DIR")
    if target:
        return Path(target) / "criterion"
    return Path(__file__).resolve().parent.parent / "target" / "criterion"


def load_group(group_dir: Path) -> dict[str, dict[str, float]]:
    """contender -> {"median": ns/op, "mad": ns/op, "mean": ns/op} for one group."""
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
        }
    return out


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


def ours(group: str, names: list[str]) -> list[str]:
    """The epoch-arena contenders: the group's baseline first, then by name."""
    base = BASELINE.get(group, DEFAULT_BASELINE)
    return sorted((n for n in names if n.startswith("epoch-arena")), key=lambda n: (n != base, n))


def arena_report(results: dict[str, dict[str, dict[str, float]]]) -> int:
    """The arena bench's tables and targets; returns the number of missed targets."""
    for group in GROUPS:
        data = results.get(group)
        if not data:
            print(f"## {group}\n\n(no results)\n")
            continue
        base_name = BASELINE.get(group, DEFAULT_BASELINE)
        base = data.get(base_name)
        print(f"## {group}\n")
        print("| contender | median ns/op | ± MAD | vs epoch-arena |")
        print("|---|---:|---:|---|")
        # epoch-arena first, then the others fastest first.
        names = ours(group, list(data)) + sorted(
            (n for n in data if not n.startswith("epoch-arena")),
            key=lambda n: data[n]["median"],
        )
        for name in names:
            d = data[name]
            if name == base_name:
                rel = "baseline"
            elif base is None:
                rel = "–"
            else:
                rel = f"{name} is " + ratio_text(d["median"], base["median"], base_name)
            print(f"| {name} | {fmt_ns(d['median'])} | {fmt_ns(d['mad'])} | {rel} |")
        print()

    print("## Targets\n")
    print("| group | epoch-arena contender | target | measured | result |")
    print("|---|---|---|---|---|")
    misses = 0
    for group, other, kind, factor, wording in TARGETS:
        data = results.get(group, {})
        mine = ours(group, list(data))
        if not mine or other not in data:
            print(f"| {group} | – | {wording} | no data | MISS |")
            misses += 1
            continue
        o = data[other]["median"]
        for name in mine:
            e = data[name]["median"]
            if kind == "faster":
                speedup = o / e
                ok = speedup >= factor if factor > 1.0 else speedup > 1.0
                measured = f"{speedup:.2f}× ({fmt_ns(e)} vs {fmt_ns(o)} ns)"
            else:
                slowdown = e / o
                ok = slowdown <= factor
                measured = f"{slowdown:.2f}× of {other} ({fmt_ns(e)} vs {fmt_ns(o)} ns)"
            misses += not ok
            print(f"| {group} | {name} | {wording} | {measured} | {'PASS' if ok else 'MISS'} |")
    print()
    return misses


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
    strict = "--strict" in argv
    args = [a for a in argv if a != "--strict"]
    if any(a in ("-h", "--help") for a in args):
        print(__doc__)
        return 0
    root = Path(args[0]) if args else default_criterion_dir()
    if not root.is_dir():
        print(
            f"no criterion results in {root} "
            "(run `cargo bench -p benches --bench arena` or `cargo bench -p benches --bench gc` first)"
        )
        return 1

    results = {g: load_group(root / g) for g in GROUPS if (root / g).is_dir()}
    gc_groups = [g for g, _, _ in GC_GROUPS] + [GC_LATENCY_GROUP]
    gc_results = {g: load_group(root / g) for g in gc_groups if (root / g).is_dir()}
    dom = load_group(root / DOM_GROUP) if (root / DOM_GROUP).is_dir() else {}
    if not results and not gc_results and not dom:
        print(f"no results for the groups {', '.join(GROUPS + gc_groups + [DOM_GROUP])} in {root}")
        return 1

    print(f"Criterion results from `{root}` (median of the samples, ns per operation).\n")
    misses = 0
    if results:
        misses += arena_report(results)
    if gc_results:
        misses += gc_report(root, gc_results)
    if dom:
        misses += dom_report(dom)
    return 1 if strict and misses else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
