#!/usr/bin/env bash
# Load shedding by an adaptive limit: the scratch-card service cut to a capacity below the
# gateway's load, and three runner gateways in front of it that differ only in the card's
# limit of calls in flight:
#
#   adaptive  [scratch_card.limit] adaptive = true, max = 200, reject = true
#   fixed     [scratch_card.limit] max = 64, reject = true     (sized for the healthy service)
#   none      no limit                                          (the built-in policies)
#
# Everything else is the built-in policies.toml (the card's 150 ms timeout, hedge, breaker
# and rate limit; the wallet's retries and breaker).
#
#   bash scripts/shed_bench.sh                       # 3 rounds of 10 s per gateway
#   bash scripts/shed_bench.sh --latency 20ms --capacity 4 --rounds 5
#
# The card service serves `--capacity` requests at once, each `--latency` long (the faults
# `scratch:concurrency` and `scratch:latency`): 4 at 20 ms is 200 cards a second, against a
# gateway asked for thousands of pages a second. wrk runs against each gateway in turn, the
# order rotated every round, with the same settings; for each run the script reads
# requests/s, p50 and p99 from wrk, and from the gateway's /metrics the card outcomes (the
# share of pages that carry a card) and the adaptive limit it learned.
#
# It exits non-zero if any page was not a 200: the card is best effort, so its service
# being overloaded must never cost a page.
set -euo pipefail
export LC_ALL=C

readonly WRK_TIMEOUT=2s
readonly HEALTH_WAIT_TENTHS=300
readonly VARIANTS=(adaptive fixed none)

usage() {
    cat <<'EOF'
Usage: bash scripts/shed_bench.sh [--rounds N] [--duration SECONDS] [--connections N]
                                  [--latency DURATION] [--capacity N] [--warmup SECONDS]
                                  [--base-port PORT]

  --rounds N         Measured rounds; each runs wrk once against each gateway (default 3).
  --duration SECS    Length of each measured wrk run (default 10).
  --connections N    wrk connections (default 32; one wrk thread).
  --latency D        The card service's latency per request (default 20ms).
  --capacity N       The card requests it serves at once (default 4).
  --warmup SECS      Unmeasured wrk run against each gateway first, in which the adaptive
                     limit learns (default 5; 0 for none).
  --base-port PORT   Wallet on PORT, card service on PORT+1, the gateways on PORT+2..PORT+4
                     (default 19280). If taken, PORT+100, +200, ... are tried.

CARGO_TARGET_DIR is honoured. wrk is installed with apt-get if it is not on PATH.
EOF
}

die() {
    echo "shed_bench: $*" >&2
    exit 2
}

rounds=3
duration=10
connections=32
latency=20ms
capacity=4
warmup=5
base_port=19280

while (($# > 0)); do
    case "$1" in
        --rounds | --duration | --connections | --latency | --capacity | --warmup | --base-port)
            (($# >= 2)) || die "$1 needs a value"
            case "$1" in
                --rounds) rounds="$2" ;;
                --duration) duration="${2%s}" ;;
                --connections) connections="$2" ;;
                --latency) latency="$2" ;;
                --capacity) capacity="$2" ;;
                --warmup) warmup="${2%s}" ;;
                --base-port) base_port="$2" ;;
            esac
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            usage >&2
            die "unknown argument: $1"
            ;;
    esac
    shift
done

for value in "$rounds" "$duration" "$connections" "$capacity" "$base_port"; do
    [[ "$value" =~ ^[1-9][0-9]*$ ]] || die "not a positive whole number: $value"
done
[[ "$warmup" =~ ^(0|[1-9][0-9]*)$ ]] || die "not a whole number: $warmup"
((rounds <= 50 && duration <= 600)) || die "--rounds 50 and --duration 600 at most"
((base_port + 4 + 9 * 100 <= 65535)) || die "--base-port too high"

cd "$(dirname "$0")/.."
repo_root="$PWD"
target_dir="${CARGO_TARGET_DIR:-$repo_root/target}"

# shellcheck source=scripts/lib.sh
source "$repo_root/scripts/lib.sh"
trap cleanup_servers EXIT
# Turn signals into an exit, so that the EXIT trap runs.
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_tool wrk wrk
build_example

first_port="$(free_ports "$base_port" 5)" || die "no five free ports from $base_port in 10 tries"
wallet_url="http://127.0.0.1:$first_port"
scratch_url="http://127.0.0.1:$((first_port + 1))"
declare -A gateway_url
for i in "${!VARIANTS[@]}"; do
    gateway_url[${VARIANTS[i]}]="http://127.0.0.1:$((first_port + 2 + i))"
done

tmp_dir="$(mktemp -d "${TMPDIR:-/tmp}/shed_bench.XXXXXX")"
while IFS= read -r name; do
    unset "$name"
done < <(compgen -e | grep '^RUNNER_' || true)
export RUST_LOG=warn

# The three policy files: the built-in ones, with the card's limit or without.
builtin="$repo_root/runner-example/policies.toml"
cp "$builtin" "$tmp_dir/none.toml"
{
    cat "$builtin"
    printf '\n[scratch_card.limit]\nadaptive = true\nmax = 200\nreject = true\n'
} >"$tmp_dir/adaptive.toml"
{
    cat "$builtin"
    printf '\n[scratch_card.limit]\nmax = 64\nreject = true\n'
} >"$tmp_dir/fixed.toml"


faults=(--fault "scratch:latency=$latency" --fault "scratch:concurrency=$capacity")
start_server wallet --role wallet --wallet-listen "127.0.0.1:$first_port" --db "$tmp_dir/wallet.db"
start_server scratch --role scratch --scratch-listen "127.0.0.1:$((first_port + 1))" "${faults[@]}"
for variant in "${VARIANTS[@]}"; do
    start_server "gateway-$variant" --role gateway --listen "${gateway_url[$variant]#http://}" \
        --wallet-url "$wallet_url" --scratch-url "$scratch_url" \
        --policies "$tmp_dir/$variant.toml"
done

wait_healthy "$wallet_url" "$scratch_url" "${gateway_url[@]}"

lua_script="$tmp_dir/bench.lua"
write_round_robin_lua "$lua_script"
wrk_args=(-t 1 -c "$connections" --timeout "$WRK_TIMEOUT" -s "$lua_script")

# The card's task outcomes so far on gateway $1: "<ok> <all>".
card_outcomes() {
    curl -fsS --max-time 2 "$1/metrics" | awk '
        /^gateway_task_outcomes_total\{/ && /task="get_scratch_card"/ {
            all += $NF; if ($0 ~ /outcome="ok"/) ok += $NF
        }
        END { printf "%d %d\n", ok, all }'
}

# The card's adaptive limit on gateway $1, or "-".
card_limit() {
    curl -fsS --max-time 2 "$1/metrics" | awk '
        /^gateway_policy_limit\{/ && /task="get_scratch_card"/ { limit = $NF }
        END { print (limit == "" ? "-" : limit) }'
}

declare -A rps p50 p99 non2xx cards limit
bad_runs=0

measure() { # <variant> <round>
    local variant=$1 key="$1,$2" out="$tmp_dir/wrk-$1-$2.out" url=${gateway_url[$1]}
    local before after
    read -r -a before <<<"$(card_outcomes "$url")"
    wrk "${wrk_args[@]}" -d "${duration}s" --latency "$url" >"$out" 2>&1 || {
        cat "$out" >&2
        die "wrk failed against the $variant gateway"
    }
    read -r -a after <<<"$(card_outcomes "$url")"
    read_wrk_report "$out"
    rps[$key]=$wrk_rps
    p50[$key]=$wrk_p50
    p99[$key]=$wrk_p99
    non2xx[$key]=$wrk_non2xx
    cards[$key]=$(awk -v ok=$((after[0] - before[0])) -v all=$((after[1] - before[1])) \
        'BEGIN { if (all > 0) printf "%.1f", 100 * ok / all; else print "nan" }')
    limit[$key]=$(card_limit "$url")
    if [[ "${non2xx[$key]}" != 0 || "$wrk_sockets" != 0 ]]; then
        bad_runs=$((bad_runs + 1))
    fi
}

row_format="  %-9s %12s %10s %10s %14s %12s %8s\n"
print_header() {
    # shellcheck disable=SC2059
    printf "$row_format" limit "requests/s" "p50 ms" "p99 ms" "pages w/ card" "card limit" "non-2xx"
}
print_row() { # <variant> <round>
    local key="$1,$2"
    # shellcheck disable=SC2059
    printf "$row_format" "$1" "${rps[$key]}" "${p50[$key]}" "${p99[$key]}" "${cards[$key]} %" \
        "${limit[$key]}" "${non2xx[$key]}"
}

echo
echo "== machine: $(nproc) CPUs, $(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
echo "   NOTE: wrk, the three gateways and both services share these cores; one gateway is"
echo "   loaded at a time."
echo "== card service: ${latency} per request, ${capacity} at once; wrk -t1 -c$connections -d${duration}s --latency"
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

if ((warmup > 0)); then
    for variant in "${VARIANTS[@]}"; do
        echo "== warm-up: ${warmup} s against the $variant gateway (not measured)"
        wrk "${wrk_args[@]}" -d "${warmup}s" "${gateway_url[$variant]}" >/dev/null 2>&1 ||
            die "wrk failed in the warm-up of the $variant gateway"
    done
fi

for ((round = 1; round <= rounds; round++)); do
    order=("${VARIANTS[@]:round % 3}" "${VARIANTS[@]:0:round % 3}")
    for variant in "${order[@]}"; do
        measure "$variant" "$round"
    done
    echo
    echo "== round $round/$rounds (order: ${order[*]})"
    print_header
    for variant in "${order[@]}"; do
        print_row "$variant" "$round"
    done
done

echo
echo "== medians over $rounds rounds"
print_header
for variant in "${VARIANTS[@]}"; do
    for metric in rps p50 p99 cards; do
        declare -n values="$metric"
        list=()
        for ((round = 1; round <= rounds; round++)); do
            list+=("${values[$variant,$round]}")
        done
        values[$variant,median]=$(median "${list[@]}")
        unset -n values
    done
    limit[$variant,median]=${limit[$variant,$rounds]}
    non2xx[$variant,median]=$(for ((round = 1; round <= rounds; round++)); do
        echo "${non2xx[$variant,$round]}"
    done | awk '{ s += $1 } END { print s }')
    print_row "$variant" median
done
echo "   (card limit: the adaptive limit learned at the end of the last round; non-2xx: summed)"

((bad_runs == 0)) || die "$bad_runs runs had non-2xx answers or socket errors"
