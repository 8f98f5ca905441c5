#!/usr/bin/env bash
# The balance service scaled out, for real: the wallet, the scratch-card service and two
# gateway replicas, each a process on a test host of its own (a network namespace on a
# bridge, veth pairs), behind nginx as the L7 load balancer; then the checks of
# runner-example/tests/scale_out.rs (traffic on both replicas, the client's deadline across
# every hop, a breaker per replica, a replica killed with no GET failed).
#
#   bash scripts/scale_out.sh
#
# It makes network namespaces: run it as root, or as a user with passwordless sudo (the
# test binary is built as the user and only run under sudo). Installs iproute2 and nginx from
# Debian's packages if they are missing. Everything it makes is gone when it ends. `.ci/run`
# runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
    echo "scale_out.sh: $*" >&2
    exit 1
}
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

as_root=()
if ((EUID != 0)); then
    sudo -n true 2>/dev/null ||
        die "it makes network namespaces: run it as root, or as a user with passwordless sudo"
    as_root=(sudo -E env "PATH=$PATH")
fi
ensure_tool ip iproute2
# Debian installs nginx in /usr/sbin, which a non-login shell may not have on PATH.
export PATH="$PATH:/usr/sbin:/sbin"
ensure_tool nginx nginx-light

echo "== cargo test -p runner-example --test scale_out --no-run"
# Cargo's output goes on, as it comes, and to a file to read the binary's path from (not
# `tee /dev/stderr`, which truncates a log file that stderr is redirected to).
build_log=$(mktemp)
cargo test -p runner-example --test scale_out --no-run 2>&1 | tee "$build_log"
test_bin=$(sed -n 's/.*Executable .*(\(.*\))$/\1/p' "$build_log" | tail -n 1)
rm -f "$build_log"
[[ -x "$test_bin" ]] || die "no test binary after the build"
test_bin=$(realpath "$test_bin")

echo "== $test_bin --nocapture (RUNNER_SCALE_OUT=1${as_root:+, under sudo})"
# Run from the package's directory, as `cargo test` would.
(cd runner-example && ${as_root[@]+"${as_root[@]}"} env RUNNER_SCALE_OUT=1 "$test_bin" --nocapture)
