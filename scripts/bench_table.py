#!/usr/bin/env python3
"""Prints criterion's medians as Markdown tables, each row with its ratio to the baseline
measured in the same run (for BENCHMARKS.md).

    cargo bench -p runner-core-benches -- --noplot
    python3 scripts/bench_table.py [target/criterion]
"""

import json
import sys
from collections import defaultdict
from pathlib import Path

# The baseline of each group, by the group's name prefix: what users write by hand.
BASELINES = [
    ("static/timeouts_and_deadline", "hand_written_timeouts"),
    ("static/", "tokio_try_join"),
    ("dynamic/unlimited", "futures_unordered"),
    ("dynamic/limit_64", "buffer_unordered"),
    ("critical_failure/", "tokio_try_join"),
]


def baseline_of(group):
    for prefix, baseline in BASELINES:
        if group.startswith(prefix):
            return baseline
    return None


def fmt(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.1f} ns"


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
    rows = defaultdict(dict)
    for estimates in root.glob("**/new/estimates.json"):
        meta = json.loads((estimates.parent / "benchmark.json").read_text())
        median = json.loads(estimates.read_text())["median"]["point_estimate"]
        group = meta["group_id"]
        name = meta["function_id"] or ""
        if meta.get("value_str"):
            group = f"{group} n={meta['value_str']}"
        rows[group][name] = median
    def order(group):
        # Numbers sort as numbers: static/ready/2 before static/ready/16, n=1000 before n=10000.
        return [int(part) if part.isdigit() else part for part in group.replace(" n=", "/").replace("_", "/").split("/")]

    for group in sorted(rows, key=order):
        benches = rows[group]
        baseline = benches.get(baseline_of(group) or "")
        print(f"\n**{group}**\n")
        print("| bench | median | ratio to baseline |")
        print("|---|---:|---:|")
        for name, median in sorted(benches.items(), key=lambda item: item[1]):
            ratio = f"{median / baseline:.2f}x" if baseline else "n/a"
            if name == baseline_of(group):
                ratio = "1.00x (baseline)"
            print(f"| {name} | {fmt(median)} | {ratio} |")


if __name__ == "__main__":
    main()
