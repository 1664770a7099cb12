# GPU workers: local diffusers/transformers engines on the `gpu` queue. Build from the repository
# root:  docker build -f docker/worker-gpu.Dockerfile -t ddiffusion/worker-gpu .
#
# torch comes from the PyTorch index as the CUDA build of exactly the version pyproject pins
# (TORCH_VERSION must equal the `torch==` pin of the gpu extra; tests/test_compose.py checks).
# pip's wheels bundle their own CUDA libraries, so the base image only has to suit the host
# driver: TORCH_CUDA and CUDA_IMAGE go together (e.g. cu130 with a 13.0 image on drivers >= 580).
#
# Every source is a build argument with the official default: CUDA_IMAGE, TORCH_INDEX_URL (a
# mirror of the PyTorch index) or a torch wheel in TORCH_WHEELS, PIP_INDEX_URL (a mirror of PyPI).
# TORCH_DEVICE=cpu builds the same image with CPU torch for machines without a GPU
# (docker-compose.no-gpu.yml sets these):
#   docker build -f docker/worker-gpu.Dockerfile --build-arg CUDA_IMAGE=python:3.11-slim-bookworm \
#     --build-arg TORCH_DEVICE=cpu --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu .
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-runtime-ubuntu24.04

FROM ${CUDA_IMAGE} AS build
ARG TORCH_VERSION=2.13.0
ARG TORCH_CUDA=cu128
ARG TORCH_DEVICE=cuda
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/${TORCH_CUDA}
ARG PIP_INDEX_URL=https://pypi.org/simple
ARG PIP_EXTRA_INDEX_URL
ARG PIP_TRUSTED_HOST
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 DEBIAN_FRONTEND=noninteractive
# Distro packages are not pinned (DL3008): the base image tag fixes the release they come from.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install --yes --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
# A venv: Ubuntu's system Python refuses pip installs (PEP 668), and a venv copies cleanly.
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# A wheel in docker/wheels (TORCH_WHEELS) wins over the index: a network without the PyTorch index,
# or the CPU variant built from a local wheel. Its dependencies come from PIP_INDEX_URL.
ARG TORCH_WHEELS=docker/wheels
RUN --mount=type=bind,source=${TORCH_WHEELS},target=/torch-wheels \
    set -- /torch-wheels/torch-"${TORCH_VERSION}"*.whl; \
    if [ -f "$1" ]; then pip install "$1"; \
    else pip install --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"; fi
WORKDIR /src
# Then everything else exactly as locked (versions and hashes; `make lock` writes the file from
# pyproject.toml's gpu and cpu extras, torch left out: the one above satisfies `torch==X`, a local
# version like X+cu128 included), so a code change rebuilds only the last layer.
COPY docker/requirements/gpu.txt ./requirements.txt
RUN pip install --require-hashes --no-deps -r requirements.txt
COPY pyproject.toml README.md ./
COPY core ./core
COPY workers ./workers
# The launcher's CLI too: `docker compose run --rm gpu-workers ddiffusion-server models pull NAME`.
COPY server ./server
RUN pip install --no-deps . \
 && pip check \
 && python -c "import torch, sys; v = torch.__version__; cuda = torch.version.cuda is not None; sys.exit(0 if v.split('+')[0] == '${TORCH_VERSION}' and cuda == ('${TORCH_DEVICE}' == 'cuda') else f'expected ${TORCH_DEVICE} torch ${TORCH_VERSION}, got {v} (CUDA {torch.version.cuda})')"

FROM ${CUDA_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install --yes --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/*
# DL3064 reads TOKENIZERS_PARALLELISM as a secret; it is a switch.
# hadolint ignore=DL3064
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TOKENIZERS_PARALLELISM=false \
    HF_HOME=/hf-cache \
    HF_HUB_OFFLINE=1 \
    WORKER_QUEUE=gpu \
    DDIFFUSION_DATA_DIR=/data \
    DDIFFUSION_MODELS_DIR=/models
# Same uid/gid as the api and cpu images: they all write the shared data volume. The model and
# Hugging Face cache dirs are created here so named volumes mounted on them start out writable.
# Ubuntu's images ship a `ubuntu` user with uid 1000; ours is 10001 like everywhere else.
RUN groupadd --system --gid 10001 ddiffusion \
 && useradd --system --uid 10001 --gid ddiffusion --create-home --home-dir /home/ddiffusion \
      --shell /usr/sbin/nologin ddiffusion \
 && mkdir -p /data/blobs /models /hf-cache \
 && chown -R ddiffusion:ddiffusion /data /models /hf-cache
COPY --from=build /opt/venv /opt/venv
# The same worker flags `ddiffusion serve` uses (server/launcher.py): prefork, one task at a time,
# and a soft time limit 10 s before the hard one, so an overrunning task ends `failed` with a
# reason rather than being killed mid-write. The tiny-* models are built first, as `make run`
# does: a no-op once they are in the models volume, and the platform works out of the box.
COPY --chmod=755 <<'SH' /usr/local/bin/ddiffusion-worker
#!/bin/sh
set -eu
queue="${WORKER_QUEUE:?set WORKER_QUEUE to gpu}"
if [ "$queue" != gpu ]; then
  echo "ddiffusion-worker: this image serves the gpu queue, not '$queue'" >&2
  exit 64
fi
limit="${DDIFFUSION_GPU_TIME_LIMIT_S:-1800}"
python -m workers.local.tiny "${DDIFFUSION_MODELS_DIR:-/models}"
exec celery -A workers.app worker -Q gpu -n "gpu@%h" \
  --pool prefork --concurrency "${WORKER_CONCURRENCY:-1}" \
  --time-limit "$limit" --soft-time-limit "$((limit > 10 ? limit - 10 : 1))" \
  --loglevel "${DDIFFUSION_LOG_LEVEL:-INFO}" --without-gossip --without-mingle "$@"
SH

# Numeric, so a runtime that insists on a non-root uid (Kubernetes runAsNonRoot) can verify it.
USER 10001:10001
WORKDIR /home/ddiffusion
# A remote-control ping answered by the worker's own consumer loop (also while a task runs): it
# fails when the worker is wedged or has lost Redis, not merely when the process is gone.
HEALTHCHECK --interval=30s --timeout=15s --start-period=120s --retries=3 \
  CMD ["sh", "-c", "celery -A workers.app inspect ping --timeout 10 -d \"$WORKER_QUEUE@${HOSTNAME:-$(hostname)}\" > /dev/null || exit 1"]
CMD ["ddiffusion-worker"]
