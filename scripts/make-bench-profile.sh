#!/usr/bin/env bash
# Writes a profile with MODELS x REGIONS cells (endpoint templates, file store
# next to it) to DIR/profile.toml.   usage: make-bench-profile.sh DIR MODELS REGIONS
set -euo pipefail
dir=$1 models=$2 regions=$3
mkdir -p "$dir"
{
    echo 'name = "bench"'
    echo 'environment = "staging"'
    echo 'fallback = "modal"'
    printf 'models = ['
    for ((m = 0; m < models; m++)); do printf '{ id = "model-%02d" }, ' "$m"; done
    echo ']'
    printf 'regions = ['
    for ((r = 0; r < regions; r++)); do printf '{ id = "region-%02d" }, ' "$r"; done
    echo ']'
    cat <<'TOML'

[[providers]]
id = "modal"
kind = "modal"
price_per_second = 0.0003
url_template = "https://beacon--{model}-{region}.modal.run"

[[providers]]
id = "runpod"
kind = "runpod"
price_per_second = 0.000255
endpoint_template = "beacon-{model}-{region}"

[store]
kind = "file"
path = "state/routes.json"
TOML
} >"$dir/profile.toml"
