#!/usr/bin/env bash
# Scaling curves (issue 16, point 5): requests/s and p99 against wrk connections, 1 to 256,
# for the three gateways of scripts/http_bench.sh (runner, hand-written baseline, Go); and
# the dynamic engine's cost per task against the number of tasks, 10 to 1,000,000, beside
# FuturesUnordered and tokio's JoinSet. Writes the CSVs and the PNGs into bench/plots/.
#
#   bash scripts/scaling_bench.sh                 # 5 s per gateway per point
#   bash scripts/scaling_bench.sh --duration 10
#   bash scripts/scaling_bench.sh --only tasks    # or --only http
#
# Needs python3 with matplotlib (installed with pip if missing) and what http_bench.sh needs.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."

die() {
    echo "scaling_bench: $*" >&2
    exit 2
}

duration=5
only=""
while (($# > 0)); do
    case "$1" in
        --duration)
            (($# >= 2)) || die "$1 needs a value"
            duration="${2%s}"
            shift
            ;;
        --only)
            (($# >= 2)) || die "$1 needs a value"
            only="$2"
            shift
            ;;
        *) die "unknown argument: $1" ;;
    esac
    shift
done
[[ "$duration" =~ ^[1-9][0-9]*$ ]] || die "not a positive whole number: $duration"
[[ -z "$only" || "$only" == http || "$only" == tasks ]] || die "--only takes http or tasks"

out="$PWD/bench/plots"
mkdir -p "$out"
python3 -c 'import matplotlib' 2>/dev/null || python3 -m pip install --quiet matplotlib

if [[ "$only" != tasks ]]; then
    csv="$out/http_scaling.csv"
    echo "connections,gateway,requests_per_s,p50_ms,p99_ms,cpu_us_per_request" >"$csv"
    for connections in 1 2 4 8 16 32 64 128 256; do
        echo "== $connections connections"
        bash scripts/http_bench.sh --rounds 1 --duration "$duration" --warmup 1 \
            --connections "$connections" --csv "$csv" >/dev/null
    done
fi

if [[ "$only" != http ]]; then
    echo "== the dynamic engine's cost per task, 10 to 1,000,000 tasks"
    cargo run --release -q -p runner-core-benches --example per_task_cost >"$out/task_scaling.csv"
fi

python3 scripts/plot_scaling.py "$out"
