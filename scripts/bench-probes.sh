#!/usr/bin/env bash
# The probe engine with 2,000 (cell, provider) targets at 1 Hz against the
# simulator (a separate process): CPU of the probing process and its memory
# after an hour of history (the telemetry clock runs 30× faster, so two
# minutes of probing fill an hour of windows).
#
# usage: scripts/bench-probes.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-120}
cargo build --release --quiet --bin beacon-console --example probe_soak
bin=$PWD/target/release/beacon-console
work=$(mktemp -d)
cleanup() { [ -n "${sim_pid:-}" ] && kill -INT "$sim_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

cells() {
    printf 'models = ['
    for ((m = 0; m < 50; m++)); do printf '{ id = "model-%02d" }, ' "$m"; done
    printf ']\nregions = ['
    for ((r = 0; r < 20; r++)); do printf '{ id = "region-%02d" }, ' "$r"; done
    printf ']\n'
}
providers() { # $1: base URL (or {sim})
    cat <<TOML

[[providers]]
id = "modal"
kind = "modal"
price_per_second = 0.0003
url_template = "$1/modal/beacon-{model}-{region}"
proxy_key = { env = "SOAK_MODAL_KEY" }
proxy_secret = { env = "SOAK_MODAL_SECRET" }

[[providers]]
id = "runpod"
kind = "runpod"
price_per_second = 0.000255
api_base = "$1/runpod/v2"
endpoint_template = "beacon-{model}-{region}"
api_key = { env = "SOAK_RUNPOD_KEY" }

[store]
kind = "file"
path = "state/routes.json"
TOML
}
export SOAK_MODAL_KEY=demo-modal-key SOAK_MODAL_SECRET=demo-modal-secret SOAK_RUNPOD_KEY=demo-runpod-key
export BEACON_DEMO_MODAL_KEY=$SOAK_MODAL_KEY BEACON_DEMO_MODAL_SECRET=$SOAK_MODAL_SECRET BEACON_DEMO_RUNPOD_KEY=$SOAK_RUNPOD_KEY

{ echo 'name = "soak-sim"'; echo 'environment = "demo"'; echo 'fallback = "modal"'; cells; providers '{sim}';
  printf '\n[simulator]\nseed = 1\nrequests_per_second = 1\ntime_scale = 1000\n'; } >"$work/sim.toml"
"$bin" --profile "$work/sim.toml" --json sim --no-routers --time-scale 1000 >"$work/sim.json" &
sim_pid=$!
for _ in $(seq 100); do [ -s "$work/sim.json" ] && break; sleep 0.05; done
base=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["base"])' "$work/sim.json")

{ echo 'name = "soak"'; echo 'environment = "staging"'; echo 'fallback = "modal"'; cells; providers "$base"; } >"$work/probe.toml"
${PROFILER:-} target/release/examples/probe_soak "$work/probe.toml" "$seconds" 30
