#!/usr/bin/env bash
# Whole-process timing of `beacon-console rollback --all --yes` (start-up,
# profile, lock, read, CAS, write + fsyncs, audit append + fsync) against the
# floor: a minimal native program that atomically replaces the same document
# (temp + fsync + rename + directory fsync), measured in the same run.
#
# usage: scripts/bench-rollback.sh [RUNS]       (needs hyperfine; installs it as root)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-200}
if ! command -v hyperfine >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine
fi
cargo build --release --quiet --bin beacon-console --example atomic_write
bin=$PWD/target/release/beacon-console
floor=$PWD/target/release/examples/atomic_write
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

printf '%-26s %12s %12s %8s %10s\n' "cells" "console (ms)" "floor (ms)" "ratio" "doc bytes"
for size in "3 3" "50 20"; do
    read -r models regions <<<"$size"
    dir=$work/${models}x$regions
    scripts/make-bench-profile.sh "$dir" "$models" "$regions"
    console=("$bin" --profile "$dir/profile.toml")
    "${console[@]}" shift --all --to 50 --reason bench --yes >/dev/null 2>&1
    cp "$dir/state/routes.json" "$dir/at-50.json"
    "${console[@]}" rollback --all --yes >/dev/null
    cp "$dir/state/routes.json" "$dir/rolled-back.json"
    # Both replace a copy of the same old document (a just-copied file costs
    # the rename more than one already on disk, so both start the same way).
    hyperfine -N --style none --warmup 20 --runs "$runs" --export-json "$dir/floor.json" \
        --prepare "cp $dir/at-50.json $dir/state/floor-target.json" \
        "$floor $dir/rolled-back.json $dir/state/floor-target.json" >/dev/null
    hyperfine -N --style none --warmup 10 --runs "$runs" --export-json "$dir/console.json" \
        --prepare "cp $dir/at-50.json $dir/state/routes.json" \
        "${console[*]} rollback --all --yes" >/dev/null
    python3 - "$dir" "$((models * regions))" <<'PY'
import json, os, sys
d, cells = sys.argv[1], sys.argv[2]
med = lambda f: json.load(open(os.path.join(d, f)))["results"][0]["median"] * 1000
c, f = med("console.json"), med("floor.json")
size = os.path.getsize(os.path.join(d, "rolled-back.json"))
print(f"{cells + ' (rollback --all)':<26} {c:12.2f} {f:12.2f} {c / f:7.2f}x {size:10d}")
PY
done
