#!/usr/bin/env python3
"""Tables and target checks from the criterion results of `cargo bench --bench arena`.

Usage:
    python3 benches/report.py [CRITERION_DIR] [--strict]

CRITERION_DIR defaults to $CARGO_TARGET_DIR/criterion if CARGO_TARGET_DIR is set, else to
target/criterion next to this script's crate. For every benchmark of every group it reads
<group>/<contender...>/new/benchmark.json (name, elements per iteration) and
new/estimates.json (times per iteration, ns) and prints, per group, a Markdown table of the
median ns per operation and the ratio against epoch-arena, then the targets from the issue
as PASS / MISS. With --strict the exit status is 1 if a target is missed or has no data.

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


def main(argv: list[str]) -> int:
    strict = "--strict" in argv
    args = [a for a in argv if a != "--strict"]
    if any(a in ("-h", "--help") for a in args):
        print(__doc__)
        return 0
    root = Path(args[0]) if args else default_criterion_dir()
    if not root.is_dir():
        print(f"no criterion results in {root} (run `cargo bench --bench arena` first)")
        return 1

    results = {g: load_group(root / g) for g in GROUPS if (root / g).is_dir()}
    if not results:
        print(f"no results for the groups {', '.join(GROUPS)} in {root}")
        return 1

    print(f"Criterion results from `{root}` (median of the samples, ns per operation).\n")
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
    return 1 if strict and misses else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
