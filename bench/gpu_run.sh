#!/bin/sh
# The one prepared GPU run of issue 16 (about 8 minutes on one H200; run bench/gpu_wheels.sh here first).
# With the device tool: carry [".whl"], command `sh bench/gpu_run.sh`; its JSON comes back under $OUT,
# to be kept in bench/results/ beside the device's name.
set -eu
OUT=${OUT:-bench/results}
mkdir -p "$OUT" /tmp/site
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:. PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
models=/tmp/bench-models
# Each step goes on after another fails: every figure that can be had comes back.
python3 -m bench.gpu --models sdxl,flux-1-dev,flux-1-schnell,sd-3.5-medium --models-dir $models --out "$OUT/h200-images.json" || true
python3 -m bench.gpu --models ltx-video,wan-2.1 --dtypes bf16 --steps 10 --outputs 1 --models-dir $models --out "$OUT/h200-videos.json" || true
python3 -m bench.gpu --models sdxl,flux-1-dev --dtypes bf16 --outputs 1 --vae-tiling --vae-slicing --speedups fused_qkv,channels_last,fp8 \
    --compile --compile-cache-dir /tmp/compile-cache --models-dir $models --out "$OUT/h200-fast.json" || true
python3 -m bench.gpu_engine --model sdxl --second sd-3.5-medium --models-dir $models --out "$OUT/h200-engine.json"
