#!/usr/bin/env bash
# `bench`'s request rate against one simulator endpoint at concurrency 64,
# beside `oha` (crates.io) against the same endpoint in the same run.
# The simulator runs with a huge time scale, so the endpoint answers at once
# and the figure is the client's own cost per request.
#
# usage: scripts/bench-load.sh [REQUESTS] [ROUNDS]   (installs oha with cargo if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-20000}
rounds=${2:-5}
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

# Alternate the two in rounds (this VM's speed drifts), compare medians.
for round in $(seq "$rounds"); do
    "$bin" --profile "$work/profile.toml" --json bench --cell llama-3.2-1b/us-east --provider modal \
        --requests "$requests" --concurrency 64 >"$work/bench-$round.json" 2>"$work/bench-$round.err" || true  # one provider: the gates say INCONCLUSIVE
    oha --no-tui --output-format json -n "$requests" -c 64 -m POST \
        -H "Modal-Key: $LOAD_MODAL_KEY" -H "Modal-Secret: $LOAD_MODAL_SECRET" -H "content-type: application/json" \
        -d '{"prompt":"bias probe"}' "$url" >"$work/oha-$round.json"
done

python3 - "$work" "$requests" "$rounds" <<'PY'
import json, os, statistics, sys
d, n, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
ours, theirs = [], []
for r in range(1, rounds + 1):
    b = json.load(open(os.path.join(d, f"bench-{r}.json")))
    o = json.load(open(os.path.join(d, f"oha-{r}.json")))
    assert b["endpoints"][0]["ok"] == int(n), "bench had failed requests"
    assert o["summary"]["successRate"] == 1.0, "oha had failed requests"
    ours.append(b["requests_per_second"])
    theirs.append(o["summary"]["requestsPerSec"])
    print(f"round {r}: bench {ours[-1]:8.0f} req/s   oha {theirs[-1]:8.0f} req/s   ratio {ours[-1] / theirs[-1]:.2f}")
# Each round's pair ran back to back, so the per-round ratio cancels the
# VM's drift; its median is the figure.
m, t = statistics.median(ours), statistics.median(theirs)
r = statistics.median(a / b for a, b in zip(ours, theirs))
print(f"requests {n} per run, concurrency 64, one simulator endpoint, {rounds} rounds")
print(f"median rates: bench {m:8.0f} req/s   oha {t:8.0f} req/s")
print(f"median of the per-round ratios: {r:.2f}")
PY
