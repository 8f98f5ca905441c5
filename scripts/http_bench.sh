#!/usr/bin/env bash
# HTTP benchmark of the balance gateway: the `fan_out!` gateway (`--gateway-impl runner`)
# against the same gateway written by hand with `tokio::try_join!` (`--gateway-impl baseline`)
# and against a Go gateway in the design Go users start from (`bench/go-gateway`: goroutines,
# a WaitGroup, a result channel, per-call context timeouts; only the standard library).
#
#   bash scripts/http_bench.sh                          # 3 rounds of 10 s per gateway
#   bash scripts/http_bench.sh --rounds 5 --duration 20
#   bash scripts/http_bench.sh --fault scratch:latency=100ms@0.05   # a slow tail to hedge
#   bash scripts/http_bench.sh --allocations            # heap allocations per request too
#
# It builds runner-example in release and the Go gateway (Debian's golang-go, installed if
# missing), and starts, on loopback ports of its own, one wallet and one scratch-card service
# (no injected faults unless `--fault`) and three gateways in front of them, all making the
# same downstream calls (the two Rust ones through the same HTTP client code). It then runs
# wrk against each gateway in turn, the order rotated every round so that drift on the
# machine (thermal, other work) falls on all alike, with the same wrk settings and user_id
# spread round-robin over 1..1000 by a Lua script.
# For each run it reads requests/s and p99 latency from wrk's report (`--latency`) and the
# gateway's CPU time from /proc; it prints a table per round, then the medians over the
# rounds and the ratios runner/baseline, and what the runner gateway's resilience policies
# did (its `gateway_policy_*` counters: the baseline has no retries, hedges or breakers).
#
# Caveat printed with the results: wrk, both gateways and both downstream services share the
# machine's cores (2 on the reference machine). Only one gateway is under load at a time,
# but the load generator and the downstream services take CPU from it: the numbers compare
# the two implementations on this machine, they are not the capacity of either.
#
# The exit status is non-zero if any run had non-2xx answers or socket errors (its numbers
# would not measure the same work), or if anything failed to start.
set -euo pipefail
# Decimal points, not commas, in the numbers that awk and printf read and write.
export LC_ALL=C

# wrk's per-request timeout: the gateway's deadline is 300 ms, so 2 s is far beyond any
# legitimate answer; wrk counts a request over it as a timeout error.
readonly WRK_TIMEOUT=2s
# How long the start-up may take before we give up: 30 s (a first start seeds the wallet's
# database).
readonly HEALTH_WAIT_TENTHS=300

usage() {
    cat <<'EOF'
Usage: bash scripts/http_bench.sh [--rounds N] [--duration SECONDS] [--connections N]
                                  [--threads N] [--warmup SECONDS] [--base-port PORT]
                                  [--fault SPEC]... [--csv FILE] [--allocations]

  --rounds N         Measured rounds; each runs wrk once against each gateway (default 3).
  --duration SECS    Length of each measured wrk run (default 10).
  --connections N    wrk connections, the same for both gateways (default 32).
  --threads N        wrk threads (default 1).
  --warmup SECS      Unmeasured wrk run against each gateway first (default 2; 0 for none).
  --base-port PORT   Wallet on PORT, scratch-card service on PORT+1, runner gateway on PORT+2,
                     baseline gateway on PORT+3, Go gateway on PORT+4 (default 19180, or
                     HTTP_BENCH_BASE_PORT). If taken, PORT+100, +200, ... are tried (10
                     candidates).
  --csv FILE         Also append the medians to FILE, a row per gateway:
                     connections,gateway,requests_per_s,p50_ms,p99_ms,cpu_us_per_request
                     (scripts/scaling_bench.sh collects them for its plots).
  --fault SPEC       A fault for the downstream services, as runner-example's --fault (e.g.
                     scratch:latency=100ms@0.05: 100 ms on 5 % of the card requests).
                     Repeatable; none by default.
  --allocations      Build runner-example with its counting allocator (feature
                     count-allocations) and also report the heap allocations and bytes per
                     request of the two Rust gateways (the process's counts before and after
                     each run, over the requests wrk made). The count is an atomic add on
                     every allocation: quote this mode's allocations, not its speeds.

CARGO_TARGET_DIR is honoured. wrk and go are installed with apt-get if they are not on PATH.
EOF
}

die() {
    echo "http_bench: $*" >&2
    exit 2
}

# --- arguments -------------------------------------------------------------------------

rounds=3
duration=10
# One wrk thread: its event loop drives more requests than one gateway answers on this
# machine, and a second thread would only take CPU from the gateway under test. 32
# connections keep the gateway's two tokio workers busy (a request takes about a
# millisecond end to end with no injected latency) without an extreme overload.
connections=32
threads=1
warmup=2
base_port="${HTTP_BENCH_BASE_PORT:-19180}"
faults=()
csv=""
allocations=0

while (($# > 0)); do
    case "$1" in
        --rounds | --duration | --connections | --threads | --warmup | --base-port)
            (($# >= 2)) || die "$1 needs a value"
            case "$1" in
                --rounds) rounds="$2" ;;
                --duration) duration="${2%s}" ;; # accept "10" and "10s"
                --connections) connections="$2" ;;
                --threads) threads="$2" ;;
                --warmup) warmup="${2%s}" ;;
                --base-port) base_port="$2" ;;
            esac
            shift
            ;;
        --fault)
            (($# >= 2)) || die "$1 needs a value"
            faults+=(--fault "$2")
            shift
            ;;
        --csv)
            (($# >= 2)) || die "$1 needs a value"
            csv="$2"
            shift
            ;;
        --allocations) allocations=1 ;;
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

for value in "$rounds" "$duration" "$connections" "$threads" "$base_port"; do
    # No leading zero: bash arithmetic would read "08" as (invalid) octal.
    [[ "$value" =~ ^[1-9][0-9]*$ ]] || die "not a positive whole number: $value"
done
[[ "$warmup" =~ ^(0|[1-9][0-9]*)$ ]] || die "not a whole number: $warmup"
((rounds <= 50)) || die "--rounds: 50 at most"
((duration <= 600)) || die "--duration: 600 s at most"
((connections >= threads)) || die "--connections must be at least --threads (a wrk rule)"
((base_port + 4 + 9 * 100 <= 65535)) || die "--base-port too high"

cd "$(dirname "$0")/.."
repo_root="$PWD"
target_dir="${CARGO_TARGET_DIR:-$repo_root/target}"

# --- cleanup: whatever happens, no server left running, no temp dir left behind ----------

# shellcheck source=scripts/lib.sh
source "$repo_root/scripts/lib.sh"
trap cleanup_servers EXIT
# Turn signals into an exit, so that the EXIT trap runs.
trap 'exit 130' INT
trap 'exit 143' TERM

# --- wrk and the build ---------------------------------------------------------------

ensure_tool wrk wrk
if ((allocations)); then
    example_features=(--features count-allocations)
fi
build_example
ensure_tool go golang-go
echo "== go build bench/go-gateway"
(cd "$repo_root/bench/go-gateway" && go build -o "$target_dir/release/go-gateway" .)
go_bin="$target_dir/release/go-gateway"

# --- ports -----------------------------------------------------------------------------

# Five ports of our own, clear of a developer's instance on 8080-8082.
first_port="$(free_ports "$base_port" 5)" || die "no five free ports from $base_port in 10 tries"
wallet_url="http://127.0.0.1:$first_port"
scratch_url="http://127.0.0.1:$((first_port + 1))"
impls=(runner baseline go)
declare -A gateway_port=([runner]=$((first_port + 2)) [baseline]=$((first_port + 3)) [go]=$((first_port + 4)))
declare -A gateway_url
for impl in "${impls[@]}"; do
    gateway_url[$impl]="http://127.0.0.1:${gateway_port[$impl]}"
done

# --- start -----------------------------------------------------------------------------

tmp_dir="$(mktemp -d "${TMPDIR:-/tmp}/http_bench.XXXXXX")"

# Every flag can also come from the environment (RUNNER_*): a developer's RUNNER_FAULTS or
# RUNNER_GATEWAY_IMPL would change what is measured. Drop them all and pass flags instead.
while IFS= read -r name; do
    unset "$name"
done < <(compgen -e | grep '^RUNNER_' || true)
# The gateway logs every request at `info`; at `warn` neither gateway pays for an access log
# (formatting and writing it would dwarf the difference under test).
export RUST_LOG=warn

# Each service takes the faults meant for it from the same flags.
start_server wallet --role wallet --wallet-listen "127.0.0.1:$first_port" --db "$tmp_dir/wallet.db" \
    "${faults[@]}"
start_server scratch --role scratch --scratch-listen "127.0.0.1:$((first_port + 1))" "${faults[@]}"
for impl in runner baseline; do
    start_server "gateway-$impl" --role gateway --gateway-impl "$impl" \
        --listen "127.0.0.1:${gateway_port[$impl]}" \
        --wallet-url "$wallet_url" --scratch-url "$scratch_url"
done
start_program gateway-go "$go_bin" -listen "127.0.0.1:${gateway_port[go]}" \
    -wallet "$wallet_url" -scratch "$scratch_url"
declare -A gateway_pid=([runner]="${pids[2]}" [baseline]="${pids[3]}" [go]="${pids[4]}")

# Bounded wait for /healthz on all five.
wait_healthy "$wallet_url" "$scratch_url" "${gateway_url[runner]}" "${gateway_url[baseline]}" \
    "${gateway_url[go]}"

# The gateways must answer the same thing before their speeds are compared.
for user_id in 1 500 1000; do
    runner_body=$(curl -fsS --max-time 2 "${gateway_url[runner]}/get_balance?user_id=$user_id") ||
        die "the runner gateway did not answer 200 for user $user_id"
    for impl in baseline go; do
        body=$(curl -fsS --max-time 2 "${gateway_url[$impl]}/get_balance?user_id=$user_id") ||
            die "the $impl gateway did not answer 200 for user $user_id"
        [[ "$runner_body" == "$body" ]] ||
            die "different answers for user $user_id: runner $runner_body, $impl $body"
    done
done
echo "== all three gateways answer 200 with the same body (users 1, 500, 1000)"

# --- wrk script --------------------------------------------------------------------------

lua_script="$tmp_dir/bench.lua"
write_round_robin_lua "$lua_script"

# --- measuring -----------------------------------------------------------------------------

wrk_args=(-t "$threads" -c "$connections" --timeout "$WRK_TIMEOUT" -s "$lua_script")
clk_tck=$(getconf CLK_TCK)

# User + system CPU time of process $1 so far, in clock ticks.
cpu_ticks() {
    local stat
    stat="$(<"/proc/$1/stat")"
    # Field 2 (comm) is in parentheses and may hold spaces: cut after the last ')'. Then
    # field 1 is the state, and utime, stime are the 12th and 13th.
    stat="${stat##*) }"
    awk '{ print $12 + $13 }' <<<"$stat"
}

# Results, by "<impl>,<round>": requests/s, p50 and p99 in ms, gateway CPU % and CPU per
# request in microseconds, non-2xx answers, socket errors.
declare -A rps p50 p99 cpu_pct cpu_us non2xx sock_err
# With --allocations, by "<impl>,<round>" for the Rust gateways: heap allocations and bytes
# per request.
declare -A allocs alloc_bytes
bad_runs=0

# run_wrk <impl> <seconds> <outfile>
run_wrk() {
    local impl=$1 seconds=$2 out=$3
    wrk "${wrk_args[@]}" -d "${seconds}s" --latency "${gateway_url[$impl]}" >"$out" 2>&1 || {
        cat "$out" >&2
        die "wrk failed against the $impl gateway"
    }
}

# measure <impl> <round>: one measured run, its numbers stored under "<impl>,<round>".
measure() {
    local impl=$1 round=$2 key="$1,$2" out="$tmp_dir/wrk-$1-$2.out"
    local pid=${gateway_pid[$impl]} before after start_s end_s
    kill -0 "$pid" 2>/dev/null || die "the $impl gateway has exited"
    local counted=0 counts_before counts_after
    if ((allocations)) && [[ $impl != go ]]; then
        counted=1
        counts_before=$(read_allocations "$impl")
    fi
    before=$(cpu_ticks "$pid")
    start_s=$EPOCHREALTIME
    run_wrk "$impl" "$duration" "$out"
    end_s=$EPOCHREALTIME
    after=$(cpu_ticks "$pid")
    if ((counted)); then
        counts_after=$(read_allocations "$impl")
    fi

    read_wrk_report "$out"
    rps[$key]=$wrk_rps
    p50[$key]=$wrk_p50
    p99[$key]=$wrk_p99
    non2xx[$key]=$wrk_non2xx
    sock_err[$key]=$wrk_sockets
    local total
    total=$(awk '/requests in/ { print $1 }' "$out")
    cpu_pct[$key]=$(awk -v t=$((after - before)) -v hz="$clk_tck" -v a="$start_s" -v b="$end_s" \
        'BEGIN { printf "%.0f", (t / hz) * 100 / (b - a) }')
    cpu_us[$key]=$(awk -v t=$((after - before)) -v hz="$clk_tck" -v n="$total" \
        'BEGIN { if (n > 0) printf "%.1f", (t / hz) * 1e6 / n; else print "nan" }')
    if [[ "${non2xx[$key]}" != 0 || "${sock_err[$key]}" != 0 ]]; then
        bad_runs=$((bad_runs + 1))
    fi
    if ((counted)); then
        read -r allocs[$key] alloc_bytes[$key] < <(awk -v n="$total" \
            -v b="$counts_before" -v a="$counts_after" 'BEGIN {
                split(b, x, " "); split(a, y, " ")
                printf "%.1f %.0f\n", (y[1] - x[1]) / n, (y[2] - x[2]) / n }')
    fi
}

# read_allocations <impl>: "<allocations> <bytes>" the gateway's process has made so far.
read_allocations() {
    curl -fsS --max-time 2 "${gateway_url[$1]}/admin/allocations" |
        sed -E 's/.*"allocations":([0-9]+).*"bytes":([0-9]+).*/\1 \2/'
}

row_format="  %-9s %12s %10s %10s %12s %14s %8s %8s\n"
print_header() {
    # shellcheck disable=SC2059
    printf "$row_format" gateway "requests/s" "p50 ms" "p99 ms" "gateway CPU" "CPU us/request" \
        "non-2xx" "sock err"
}
print_row() { # <impl> <round>
    local key="$1,$2"
    # shellcheck disable=SC2059
    printf "$row_format" "$1" "${rps[$key]}" "${p50[$key]}" "${p99[$key]}" "${cpu_pct[$key]} %" \
        "${cpu_us[$key]}" "${non2xx[$key]}" "${sock_err[$key]}"
}

echo
echo "== machine: $(nproc) CPUs, $(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
echo "   NOTE: wrk, the gateways and the wallet and scratch-card services all share these"
echo "   $(nproc) cores. Only one gateway is loaded at a time, but the load generator and the"
echo "   downstream services take CPU from it: the numbers compare the implementations on"
echo "   this machine; they are not the capacity of any."
echo "== wrk -t $threads -c $connections --timeout $WRK_TIMEOUT -s bench.lua -d ${duration}s --latency, user_id round-robin over 1..1000"
echo "   (wrk's latencies are corrected for coordinated omission); RUST_LOG=warn"
echo "== faults: ${faults[*]:-none}"
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

if ((warmup > 0)); then
    for impl in "${impls[@]}"; do
        echo "== warm-up: ${warmup} s against the $impl gateway (not measured)"
        run_wrk "$impl" "$warmup" "$tmp_dir/warmup-$impl.out"
    done
fi

for ((round = 1; round <= rounds; round++)); do
    # Each round starts one further along the list: runner, baseline, go first in turn.
    order=()
    for ((i = 0; i < ${#impls[@]}; i++)); do
        order+=("${impls[(round - 1 + i) % ${#impls[@]}]}")
    done
    for impl in "${order[@]}"; do
        measure "$impl" "$round"
    done
    echo
    echo "== round $round/$rounds (order: ${order[*]})"
    print_header
    for impl in "${order[@]}"; do
        print_row "$impl" "$round"
    done
done

# --- summary -------------------------------------------------------------------------------

# median_of <metric> <impl>: the median over the rounds of the metric's array.
median_of() {
    local -n values="$1"
    local list=() round
    for ((round = 1; round <= rounds; round++)); do
        list+=("${values[$2,$round]}")
    done
    median "${list[@]}"
}

declare -A med
for impl in "${impls[@]}"; do
    for metric in rps p50 p99 cpu_pct cpu_us; do
        med[$impl,$metric]=$(median_of "$metric" "$impl")
    done
done

ratio() { # <metric> <other impl>
    awk -v r="${med[runner,$1]}" -v b="${med[$2,$1]}" 'BEGIN {
        if (b > 0) printf "%.3f", r / b; else print "nan" }'
}

echo
echo "== medians over $rounds rounds (${duration} s each, wrk -t$threads -c$connections)"
summary_format="  %-22s %12s %12s %12s %16s %16s\n"
# shellcheck disable=SC2059
printf "$summary_format" "" runner baseline go "runner/baseline" "runner/go"
for metric in rps p50 p99 cpu_us cpu_pct; do
    case $metric in
        rps) label="requests/s" ;;
        p50) label="p50 latency (ms)" ;;
        p99) label="p99 latency (ms)" ;;
        cpu_us) label="gateway CPU us/request" ;;
        cpu_pct) label="gateway CPU (%)" ;;
    esac
    # shellcheck disable=SC2059
    printf "$summary_format" "$label" "${med[runner,$metric]}" "${med[baseline,$metric]}" \
        "${med[go,$metric]}" "$(ratio "$metric" baseline)" "$(ratio "$metric" go)"
done
if [[ -n "$csv" ]]; then
    for impl in "${impls[@]}"; do
        printf '%s,%s,%s,%s,%s,%s\n' "$connections" "$impl" "${med[$impl,rps]}" \
            "${med[$impl,p50]}" "${med[$impl,p99]}" "${med[$impl,cpu_us]}" >>"$csv"
    done
fi
echo "  (requests/s ratio above 1: the runner gateway is faster; p99 ratio above 1: its tail"
echo "  is slower. 100 % CPU = one core.)"
if ((allocations)); then
    echo
    echo "== heap allocations per request, the whole gateway process (counting allocator;"
    echo "   medians over $rounds rounds; the speeds above were measured with it on)"
    for impl in runner baseline; do
        for metric in allocs alloc_bytes; do
            med[$impl,$metric]=$(median_of "$metric" "$impl")
        done
    done
    # shellcheck disable=SC2059
    printf "$summary_format" "" runner baseline "" "runner/baseline" ""
    # shellcheck disable=SC2059
    printf "$summary_format" "allocations/request" "${med[runner,allocs]}" \
        "${med[baseline,allocs]}" "" "$(ratio allocs baseline)" ""
    # shellcheck disable=SC2059
    printf "$summary_format" "bytes/request" "${med[runner,alloc_bytes]}" \
        "${med[baseline,alloc_bytes]}" "" "$(ratio alloc_bytes baseline)" ""
fi
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
# What the runner gateway's policies did over all its runs, warm-up included, beside how
# many pages it answered (the baseline has no policies to count).
echo "== runner gateway: pages answered, and its policy counters (all runs, warm-up included)"
curl -fsS --max-time 2 "${gateway_url[runner]}/metrics" |
    grep -E '^gateway_(http_requests_total\{route="/get_balance"|policy_)' | sed 's/^/  /' || true

if ((bad_runs > 0)); then
    echo
    echo "http_bench: $bad_runs run(s) had non-2xx answers or socket errors: their numbers do" \
        "not measure the same work; see the tables above" >&2
    exit 1
fi
