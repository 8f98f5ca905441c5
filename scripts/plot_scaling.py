"""Plots of scripts/scaling_bench.sh's CSVs: the gateways against connections, and the
dynamic engine's cost per task against the number of tasks. Usage: plot_scaling.py DIR"""

import csv
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def series(rows, key, x, y):
    out = defaultdict(list)
    for row in rows:
        out[row[key]].append((float(row[x]), float(row[y])))
    return {name: sorted(points) for name, points in out.items()}


def two_panels(rows, key, x, xlabel, xbase, panels, title):
    """Two plots side by side, one line per `key`: `panels` is [(column, title), ...]."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for axis, (column, panel_title) in zip(axes, panels):
        for name, points in series(rows, key, x, column).items():
            axis.plot(*zip(*points), marker="o", label=name)
        axis.set_xscale("log", base=xbase)
        axis.set_xlabel(xlabel)
        axis.set_title(panel_title)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig, axes


def plot_http(rows, out):
    fig, (_, p99) = two_panels(
        rows, "gateway", "connections", "wrk connections", 2,
        [("requests_per_s", "requests/s"), ("p99_ms", "p99 latency (ms)")],
        "Balance gateway: runner, hand-written baseline, Go (one run, 2 cores shared with wrk)",
    )
    p99.set_yscale("log")
    fig.savefig(out / "http_scaling.png", dpi=110)


def plot_tasks(rows, out):
    fig, _ = two_panels(
        rows, "engine", "tasks", "tasks in the run (each yields once)", 10,
        [("ns_per_task", "time per task (ns)"), ("bytes_per_task", "peak heap per task (bytes)")],
        "Dynamic engine: TaskRunner against FuturesUnordered and JoinSet",
    )
    fig.savefig(out / "task_scaling.png", dpi=110)


def main():
    out = Path(sys.argv[1])
    if (out / "http_scaling.csv").exists():
        plot_http(read(out / "http_scaling.csv"), out)
    if (out / "task_scaling.csv").exists():
        plot_tasks(read(out / "task_scaling.csv"), out)


if __name__ == "__main__":
    main()
