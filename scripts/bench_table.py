#!/usr/bin/env python3
"""Prints criterion's medians as Markdown tables, each row with its ratio to the baseline
measured in the same run (for BENCHMARKS.md).

    cargo bench -p runner-core-benches -- --noplot
    python3 scripts/bench_table.py [target/criterion]

Given several criterion directories (copies of target/criterion from repeated runs), each
bench's median is the median of its medians over the runs, which steadies a noisy machine.
"""

import json
import statistics
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
    ("policy/", "bare"),
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
    roots = [Path(arg) for arg in sys.argv[1:]] or [Path("target/criterion")]
    # runs[group][name][i]: the median in the i-th directory.
    runs = defaultdict(lambda: defaultdict(dict))
    for i, root in enumerate(roots):
        for estimates in root.glob("**/new/estimates.json"):
            meta = json.loads((estimates.parent / "benchmark.json").read_text())
            median = json.loads(estimates.read_text())["median"]["point_estimate"]
            group = meta["group_id"]
            name = meta["function_id"] or ""
            if meta.get("value_str"):
                group = f"{group} n={meta['value_str']}"
            runs[group][name][i] = median

    def order(group):
        # Numbers sort as numbers: static/ready/2 before static/ready/16, n=1000 before n=10000.
        return [int(part) if part.isdigit() else part for part in group.replace(" n=", "/").replace("_", "/").split("/")]

    for group in sorted(runs, key=order):
        benches = {name: statistics.median(by_run.values()) for name, by_run in runs[group].items()}
        baseline_name = baseline_of(group)
        baseline = benches.get(baseline_name or "")
        by_run_baseline = runs[group].get(baseline_name or "", {})
        # With several runs, each run's ratio (to that run's own baseline), lowest to highest.
        spread = len(roots) > 1
        print(f"\n**{group}**\n")
        if spread:
            print(f"| bench | median of {len(roots)} runs | ratio to baseline | ratio in each run |")
            print("|---|---:|---:|---:|")
        else:
            print("| bench | median | ratio to baseline |")
            print("|---|---:|---:|")
        for name, median in sorted(benches.items(), key=lambda item: item[1]):
            ratio = f"{median / baseline:.2f}x" if baseline else "n/a"
            if name == baseline_name:
                ratio = "1.00x (baseline)"
            if not spread:
                print(f"| {name} | {fmt(median)} | {ratio} |")
                continue
            ratios = sorted(
                runs[group][name][i] / by_run_baseline[i]
                for i in runs[group][name]
                if i in by_run_baseline
            )
            each = "–".join([f"{ratios[0]:.2f}", f"{ratios[-1]:.2f}"]) if ratios else "n/a"
            if name == baseline_name:
                each = ""
            print(f"| {name} | {fmt(median)} | {ratio} | {each} |")


if __name__ == "__main__":
    main()
