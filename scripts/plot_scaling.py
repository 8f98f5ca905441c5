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


def plot_http(rows, out):
    fig, (rps, p99) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, points in series(rows, "gateway", "connections", "requests_per_s").items():
        rps.plot(*zip(*points), marker="o", label=name)
    for name, points in series(rows, "gateway", "connections", "p99_ms").items():
        p99.plot(*zip(*points), marker="o", label=name)
    for axis, title in [(rps, "requests/s"), (p99, "p99 latency (ms)")]:
        axis.set_xscale("log", base=2)
        axis.set_xlabel("wrk connections")
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    p99.set_yscale("log")
    fig.suptitle("Balance gateway: runner, hand-written baseline, Go (one run, 2 cores shared with wrk)")
    fig.tight_layout()
    fig.savefig(out / "http_scaling.png", dpi=110)


def plot_tasks(rows, out):
    fig, (cost, memory) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, points in series(rows, "engine", "tasks", "ns_per_task").items():
        cost.plot(*zip(*points), marker="o", label=name)
    for name, points in series(rows, "engine", "tasks", "bytes_per_task").items():
        memory.plot(*zip(*points), marker="o", label=name)
    for axis, title in [(cost, "time per task (ns)"), (memory, "peak heap per task (bytes)")]:
        axis.set_xscale("log")
        axis.set_xlabel("tasks in the run (each yields once)")
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    fig.suptitle("Dynamic engine: TaskRunner against FuturesUnordered and JoinSet")
    fig.tight_layout()
    fig.savefig(out / "task_scaling.png", dpi=110)


def main():
    out = Path(sys.argv[1])
    if (out / "http_scaling.csv").exists():
        plot_http(read(out / "http_scaling.csv"), out)
    if (out / "task_scaling.csv").exists():
        plot_tasks(read(out / "task_scaling.csv"), out)


if __name__ == "__main__":
    main()
