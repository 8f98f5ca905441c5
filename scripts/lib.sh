# shellcheck shell=bash
# Shared by scripts/soak.sh, scripts/http_bench.sh and scripts/shed_bench.sh: sourced, not run. The caller defines
# `die` (with its own name in the message) and `target_dir` before calling these.

# Installs Debian's package $2 if the command $1 is not on PATH.
ensure_tool() {
    local tool=$1 package=$2
    command -v "$tool" >/dev/null 2>&1 && return 0
    echo "== $tool not on PATH: installing Debian's package $package"
    command -v apt-get >/dev/null 2>&1 || die "$tool is missing and there is no apt-get; install $package"
    local sudo_cmd=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null 2>&1 || die "$tool is missing; run as root or install $package"
        sudo_cmd=(sudo)
    fi
    "${sudo_cmd[@]}" apt-get update
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "$package"
    command -v "$tool" >/dev/null 2>&1 || die "$tool still not on PATH after apt-get install $package"
}

# Builds runner-example in release (with the caller's `example_features`, if any) and sets
# `bin` to it. Always asks cargo: when the binary
# is up to date this is a no-op of well under a second, and it never runs a stale binary
# left over from an older checkout. Release even for a smoke run: a debug build is slow
# enough that a CPU hiccup on a busy machine pushes the critical task past its real 200 ms
# timeout, and a check would then fail for the machine's sake, not the service's.
build_example() {
    local features=(${example_features[@]+"${example_features[@]}"})
    echo "== cargo build --release -p runner-example ${features[*]}"
    cargo build --release -p runner-example "${features[@]}"
    # shellcheck disable=SC2154 # `target_dir` is the caller's.
    bin="$target_dir/release/runner-example"
    [[ -x "$bin" ]] || die "no binary at $bin after the build"
}

# True when something accepts connections on 127.0.0.1:$1 (a closed loopback port refuses
# at once; the timeout only bounds the odd case).
port_in_use() {
    # $0 is expanded by the inner bash, on purpose.
    # shellcheck disable=SC2016
    timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$1" 2>/dev/null
}

# Prints the first of `$2` consecutive free loopback ports, trying `$1`, `$1 + 100`, ... ten
# times; fails if none is free. The check and the caller's bind are not atomic: if another
# process takes a port in between, the server fails to bind and exits, which the caller's
# health check reports.
free_ports() {
    local base=$1 count=$2 attempt candidate offset free
    for ((attempt = 0; attempt < 10; attempt++)); do
        candidate=$((base + attempt * 100))
        free=true
        for ((offset = 0; offset < count; offset++)); do
            if port_in_use "$((candidate + offset))"; then
                free=false
                break
            fi
        done
        if $free; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

# Stops one process we started: SIGTERM, 5 s, then SIGKILL.
stop_process() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# A wrk latency ("812.00us", "1.23ms", "2.00s", "1.50m") in milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (match(v, /^[0-9.]+/) == 0) { print "nan"; exit }
        n = substr(v, 1, RLENGTH); u = substr(v, RLENGTH + 1)
        f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : -1
        if (f < 0) print "nan"; else printf "%.3f", n * f
    }'
}

# read_wrk_report <file>: sets wrk_rps, wrk_p50 and wrk_p99 (ms), wrk_non2xx and
# wrk_sockets (socket errors, timeouts included) from a `wrk --latency` report.
read_wrk_report() {
    local out=$1
    wrk_rps=$(awk '$1 == "Requests/sec:" { print $2 }' "$out")
    wrk_p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
    wrk_p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
    wrk_non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF; found = 1 }
        END { if (!found) print 0 }' "$out")
    # "Socket errors: connect 0, read 0, write 0, timeout 0"
    wrk_sockets=$(awk '/Socket errors:/ { gsub(",", ""); print $4 + $6 + $8 + $10; found = 1 }
        END { if (!found) print 0 }' "$out")
    [[ -n "$wrk_rps" && "$wrk_p99" != nan ]] ||
        die "could not read requests/s and p99 from wrk's report: $(cat "$out")"
}

# median <values...>
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2
    }'
}

# Writes to $1 a wrk script that GETs /get_balance round-robin over the wallet's seeded
# users 1..1000. The requests are formatted once per thread; no response() callback, so wrk
# does no Lua work per answer.
write_round_robin_lua() {
    cat >"$1" <<'LUA'
local users = 1000
local started = 0

-- Main Lua state, once per thread: spread the threads' starting points over the id range.
function setup(thread)
   thread:set("first_user", (started * 397) % users)
   started = started + 1
end

function init(args)
   requests = {}
   for id = 1, users do
      requests[id] = wrk.format("GET", "/get_balance?user_id=" .. id)
   end
   next_user = first_user or 0
end

function request()
   next_user = next_user % users + 1
   return requests[next_user]
end
LUA
}

# --- the servers a benchmark starts ----------------------------------------------------
# The caller sets `bin` (build_example), `tmp_dir`, and `HEALTH_WAIT_TENTHS`, and installs
# `trap cleanup_servers EXIT`.
pids=()
names=()
tmp_dir=""

# Whatever happens (failure, Ctrl-C), leaves no server running and no temp dir behind. On
# failure, the end of each server's log is the first thing to read.
cleanup_servers() {
    local status=$? i
    # The last started (the gateways) first, then the downstream services.
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        stop_process "${pids[i]}"
    done
    if ((status != 0)) && [[ -n "$tmp_dir" ]]; then
        for i in "${!names[@]}"; do
            if [[ -s "$tmp_dir/${names[i]}.log" ]]; then
                echo "--- last 10 lines of the ${names[i]} log ---" >&2
                tail -n 10 "$tmp_dir/${names[i]}.log" >&2 || true
            fi
        done
    fi
    if [[ -n "$tmp_dir" ]]; then
        rm -rf -- "$tmp_dir"
    fi
    exit "$status"
}

# start_server <name> <args...>: runs runner-example in the background, logging to the temp
# dir.
start_server() {
    local name=$1
    shift
    # shellcheck disable=SC2154 # `bin` is build_example's.
    start_program "$name" "$bin" "$@"
}

# start_program <name> <program> <args...>: runs any program as start_server does.
start_program() {
    local name=$1 program=$2
    shift 2
    echo "== starting $name: $(basename "$program") $*"
    "$program" "$@" >"$tmp_dir/$name.log" 2>&1 &
    pids+=($!)
    names+=("$name")
}

# Fails if any server started has exited.
all_alive() {
    local i
    for i in "${!pids[@]}"; do
        kill -0 "${pids[i]}" 2>/dev/null || die "the ${names[i]} process exited during start-up"
    done
}

# wait_healthy <url...>: a bounded wait for each one's /healthz, checking first that no
# server has died (e.g. on a port taken since it was found free); then, since a port taken
# by someone else may have answered while ours was failing, once more that all live.
wait_healthy() {
    local url i healthy
    for url in "$@"; do
        healthy=false
        for ((i = 0; i < HEALTH_WAIT_TENTHS; i++)); do
            all_alive
            if curl -fsS --max-time 1 "$url/healthz" >/dev/null 2>&1; then
                healthy=true
                break
            fi
            sleep 0.1
        done
        $healthy || die "no healthy answer from $url/healthz within $((HEALTH_WAIT_TENTHS / 10)) s"
    done
    sleep 0.2
    all_alive
}
