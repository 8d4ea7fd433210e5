#!/usr/bin/env bash
# `bench`'s request rate against one simulator endpoint at concurrency 64,
# beside `oha` (crates.io) against the same endpoint in the same run.
# The simulator runs with a huge time scale, so the endpoint answers at once
# and the figure is the client's own cost per request.
#
# usage: scripts/bench-load.sh [REQUESTS]   (installs oha with cargo if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-20000}
command -v oha >/dev/null || cargo install oha --locked
cargo build --release --quiet --bin beacon-console
bin=$PWD/target/release/beacon-console
work=$(mktemp -d)
cleanup() { [ -n "${sim_pid:-}" ] && kill -INT "$sim_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# The simulator alone (demo cells), no routers.
"$bin" --state-dir "$work/demo" --json sim --no-routers --time-scale 1000000 >"$work/sim.json" &
sim_pid=$!
for _ in $(seq 100); do [ -s "$work/sim.json" ] && break; sleep 0.05; done
base=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["base"])' "$work/sim.json")
url="$base/modal/beacon-llama-3.2-1b-us-east"

# A profile whose one cell points at that endpoint.
cat >"$work/profile.toml" <<TOML
name = "load-bench"
environment = "staging"
fallback = "modal"
models = [{ id = "llama-3.2-1b" }]
regions = [{ id = "us-east" }]

[[providers]]
id = "modal"
kind = "modal"
price_per_second = 0.0003
url_template = "$base/modal/beacon-{model}-{region}"
proxy_key = { env = "LOAD_MODAL_KEY" }
proxy_secret = { env = "LOAD_MODAL_SECRET" }

[store]
kind = "file"
path = "state/routes.json"
TOML
export LOAD_MODAL_KEY=demo-modal-key LOAD_MODAL_SECRET=demo-modal-secret

"$bin" --profile "$work/profile.toml" --json bench --cell llama-3.2-1b/us-east --provider modal \
    --requests "$requests" --concurrency 64 >"$work/bench.json" || true
oha --no-tui --output-format json -n "$requests" -c 64 -m POST \
    -H "Modal-Key: $LOAD_MODAL_KEY" -H "Modal-Secret: $LOAD_MODAL_SECRET" -H "content-type: application/json" \
    -d '{"prompt":"bias probe"}' "$url" >"$work/oha.json"

python3 - "$work" "$requests" <<'PY'
import json, os, sys
d, n = sys.argv[1], sys.argv[2]
b = json.load(open(os.path.join(d, "bench.json")))
o = json.load(open(os.path.join(d, "oha.json")))
ours = b["requests_per_second"]
theirs = o["summary"]["requestsPerSec"]
ok = b["endpoints"][0]["ok"]
print(f"requests {n}, concurrency 64, one simulator endpoint")
print(f"beacon-console bench: {ours:8.0f} req/s ({ok} ok)")
print(f"oha:                  {theirs:8.0f} req/s (success rate {o['summary']['successRate']:.3f})")
print(f"ratio:                {ours / theirs:8.2f}")
PY
