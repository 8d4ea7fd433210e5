#!/usr/bin/env bash
# Whole-process timing of `beacon-console rollback --all --yes` (start-up,
# profile, lock, read, CAS, write + fsync + rename + dir fsync, audit append +
# fsync) against the floor: a minimal native program that atomically replaces
# the same document (temp + fsync + rename + directory fsync), in the same run.
#
# The two alternate in ROUNDS rounds of RUNS runs each, so that drift on a
# shared machine hits both alike; the ratio reported is the median of the
# per-round ratios of medians.
#
# usage: scripts/bench-rollback.sh [RUNS [ROUNDS]]   (needs hyperfine; installs it as root)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-100}
rounds=${2:-5}
if ! command -v hyperfine >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine
fi
cargo build --release --quiet --bin beacon-console --example atomic_write
bin=$PWD/target/release/beacon-console
floor=$PWD/target/release/examples/atomic_write
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

median() { # hyperfine JSON -> median in ms
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["median"]*1000)' "$1"
}

printf '%-8s %14s %12s %8s %10s\n' "cells" "console (ms)" "floor (ms)" "ratio" "doc bytes"
for size in "3 3" "50 20"; do
    read -r models regions <<<"$size"
    dir=$work/${models}x$regions
    scripts/make-bench-profile.sh "$dir" "$models" "$regions"
    console=("$bin" --profile "$dir/profile.toml")
    "${console[@]}" shift --all --to 50 --reason bench --yes >/dev/null 2>&1
    cp "$dir/state/routes.json" "$dir/at-50.json"
    "${console[@]}" rollback --all --yes >/dev/null
    cp "$dir/state/routes.json" "$dir/rolled-back.json"
    : >"$dir/rounds"
    for ((round = 0; round < rounds; round++)); do
        # Both replace a copy of the same old document (a just-copied file costs
        # the rename more than one already on disk, so both start the same way).
        hyperfine -N --style none --warmup 10 --runs "$runs" --export-json "$dir/floor.json" \
            --prepare "cp $dir/at-50.json $dir/state/floor-target.json" \
            "$floor $dir/rolled-back.json $dir/state/floor-target.json" >/dev/null
        hyperfine -N --style none --warmup 10 --runs "$runs" --export-json "$dir/console.json" \
            --prepare "cp $dir/at-50.json $dir/state/routes.json" \
            "${console[*]} rollback --all --yes" >/dev/null
        echo "$(median "$dir/console.json") $(median "$dir/floor.json")" >>"$dir/rounds"
    done
    python3 - "$dir" "$((models * regions))" <<'PY'
import os, statistics, sys
d, cells = sys.argv[1], sys.argv[2]
rows = [tuple(map(float, line.split())) for line in open(os.path.join(d, "rounds"))]
c = statistics.median(r[0] for r in rows)
f = statistics.median(r[1] for r in rows)
ratio = statistics.median(r[0] / r[1] for r in rows)
spread = ", ".join(f"{r[0] / r[1]:.2f}" for r in rows)
size = os.path.getsize(os.path.join(d, "rolled-back.json"))
print(f"{cells:<8} {c:14.2f} {f:12.2f} {ratio:7.2f}x {size:10d}   rounds: {spread}")
PY
done
