#!/usr/bin/env bash
# The balance service scaled out, for real: the wallet, the scratch-card service and two
# gateway replicas, each a process on a test host of its own (a network namespace on a
# bridge, veth pairs), behind nginx as the L7 load balancer; then the checks of
# runner-example/tests/scale_out.rs (traffic on both replicas, the client's deadline across
# every hop, a breaker per replica, a replica killed with no GET failed).
#
#   bash scripts/scale_out.sh
#
# Needs root (it makes network namespaces); installs iproute2 and nginx from Debian's
# packages if they are missing. Everything it makes is gone when it ends. `.ci/run` runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
    echo "scale_out.sh: $*" >&2
    exit 1
}
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

((EUID == 0)) || die "it makes network namespaces: run it as root"
ensure_tool ip iproute2
# Debian installs nginx in /usr/sbin, which a non-login shell may not have on PATH.
export PATH="$PATH:/usr/sbin:/sbin"
ensure_tool nginx nginx-light

echo "== cargo test -p runner-example --test scale_out (RUNNER_SCALE_OUT=1)"
RUNNER_SCALE_OUT=1 cargo test -p runner-example --test scale_out -- --nocapture
