# shellcheck shell=bash
# Shared by scripts/soak.sh and scripts/http_bench.sh: sourced, not run. The caller defines
# `die` (with its own name in the message) and `target_dir` before calling these.

# Installs wrk from Debian's packages if it is not on PATH.
ensure_wrk() {
    command -v wrk >/dev/null 2>&1 && return 0
    echo "== wrk not on PATH: installing Debian's package"
    command -v apt-get >/dev/null 2>&1 || die "wrk is missing and there is no apt-get; install wrk"
    local sudo_cmd=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null 2>&1 || die "wrk is missing; run as root or install wrk"
        sudo_cmd=(sudo)
    fi
    "${sudo_cmd[@]}" apt-get update
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y wrk
    command -v wrk >/dev/null 2>&1 || die "wrk still not on PATH after apt-get install"
}

# Builds runner-example in release and sets `bin` to it. Always asks cargo: when the binary
# is up to date this is a no-op of well under a second, and it never runs a stale binary
# left over from an older checkout. Release even for a smoke run: a debug build is slow
# enough that a CPU hiccup on a busy machine pushes the critical task past its real 200 ms
# timeout, and a check would then fail for the machine's sake, not the service's.
build_example() {
    echo "== cargo build --release -p runner-example"
    cargo build --release -p runner-example
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
