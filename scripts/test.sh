#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, then
# format check, clippy, and every test (unit, CLI end to end, crash safety,
# lost updates, official flagd evaluator, property tests).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3)
python3 -m venv --help >/dev/null 2>&1 || need_apt+=(python3-venv)
command -v cc >/dev/null || need_apt+=(gcc)
# The console's end-to-end tests drive the real binary in a tmux pseudo-terminal.
command -v tmux >/dev/null || need_apt+=(tmux)
# The etcd store (feature `etcd`): its client's build needs protoc, and its
# tests start real etcd servers on loopback and read them with etcdctl.
command -v protoc >/dev/null || need_apt+=(protobuf-compiler)
command -v etcd >/dev/null || need_apt+=(etcd-server)
command -v etcdctl >/dev/null || need_apt+=(etcd-client)
# Prometheus as the metrics source: a real server scraping the simulated routers.
command -v prometheus >/dev/null || need_apt+=(prometheus)
if ((${#need_apt[@]})); then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
    else
        echo "missing: ${need_apt[*]} (run as root, or install them)" >&2
        exit 1
    fi
fi

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy --all-targets [--features etcd] -- -D warnings"
# Both builds: the demo's (no protoc needed) and the one with the etcd store.
cargo clippy --all-targets --quiet -- -D warnings
cargo clippy --all-targets --quiet --features etcd -- -D warnings
echo "== cargo test --features etcd"
# The flagd evaluator test makes its Python venv under target/ on first use.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --no-fail-fast --features etcd 2>&1 | tee "$log" || status=$?
# One closing line for the whole suite, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
