#!/usr/bin/env bash
# Generates the Python client package from openapi.json with the pinned generator: the one
# command behind `make client` and tests/clients/test_generated.py.
# Usage: clients/generate.sh [OUTPUT_DIR]   (default: clients/python/deferred_diffusion_client;
# relative paths are taken from the repository root, like CLIENT_GEN_VENV, the generator's venv)
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${CLIENT_GEN_VENV:-.venv-client-gen}"
output="${1:-clients/python/deferred_diffusion_client}"
if [ ! -x "$venv/bin/openapi-python-client" ]; then
    echo "The pinned client generator is not installed in $venv: run \`make client\`." >&2
    exit 1
fi
# The post hooks run `ruff` from PATH: the generator venv's pinned one. The generator orders
# some imports by iterating sets: a fixed hash seed makes its output the same on every run.
export PYTHONHASHSEED=0
PATH="$(cd "$venv" && pwd)/bin:$PATH" "$venv/bin/openapi-python-client" generate \
    --path openapi.json \
    --config clients/generator/config.yaml \
    --meta none \
    --fail-on-warning \
    --overwrite \
    --output-path "$output"
