# CPU workers: hosted providers (queue `cpu`) and the ComfyUI client (queue `comfy`). The image
# installs `.[cpu]` only, so torch never comes in (tests/test_compose.py checks). One image, two
# services: WORKER_QUEUE picks the queue. Build from the repository root:
#   docker build -f docker/worker-cpu.Dockerfile -t ddiffusion/worker-cpu .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# Where pip gets packages: PyPI unless a build says otherwise (an internal mirror, say); pip reads
# these from the environment, where build arguments are during RUN. Not kept in the image.
ARG PIP_INDEX_URL=https://pypi.org/simple
ARG PIP_EXTRA_INDEX_URL
ARG PIP_TRUSTED_HOST
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, exactly as locked (versions and hashes: `make lock` writes the file from
# pyproject.toml's base and `cpu` extra), so a code change rebuilds only the last layer.
COPY docker/requirements/cpu.txt ./requirements.txt
RUN pip install --require-hashes --no-deps -r requirements.txt
COPY pyproject.toml README.md ./
COPY core ./core
COPY workers ./workers
RUN pip install --no-deps . \
 && pip check \
 && python -c "import importlib.util as u, sys; sys.exit(1 if u.find_spec('torch') else 0)"

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    WORKER_QUEUE=cpu \
    DDIFFUSION_DATA_DIR=/data \
    DDIFFUSION_COMFY_WORKFLOWS_DIR=/opt/ddiffusion/workflows
# Same uid/gid as the api and gpu images: they all write the shared data volume.
RUN groupadd --system --gid 10001 ddiffusion \
 && useradd --system --uid 10001 --gid ddiffusion --create-home --home-dir /home/ddiffusion \
      --shell /usr/sbin/nologin ddiffusion \
 && mkdir -p /data/blobs \
 && chown -R ddiffusion:ddiffusion /data
COPY --from=build /opt/venv /opt/venv
# The engine finds its templates next to the source tree by default; an installed package has no
# such tree, hence the copy here and DDIFFUSION_COMFY_WORKFLOWS_DIR above.
COPY comfy_sidecar/workflows /opt/ddiffusion/workflows
# The same worker flags `ddiffusion serve` uses (server/launcher.py): prefork, per-queue concurrency,
# and a soft time limit 10 s before the hard one, so an overrunning task ends `failed` with a
# reason rather than being killed mid-write. Node name <queue>@<hostname>, which the
# HEALTHCHECK pings.
COPY --chmod=755 <<'SH' /usr/local/bin/ddiffusion-worker
#!/bin/sh
set -eu
queue="${WORKER_QUEUE:?set WORKER_QUEUE to cpu or comfy}"
case "$queue" in
  cpu)   limit="${DDIFFUSION_CPU_TIME_LIMIT_S:-600}";   concurrency=2 ;;
  comfy) limit="${DDIFFUSION_COMFY_TIME_LIMIT_S:-1800}"; concurrency=1 ;;
  *) echo "ddiffusion-worker: this image serves the cpu and comfy queues, not '$queue'" >&2; exit 64 ;;
esac
exec celery -A workers.app worker -Q "$queue" -n "$queue@%h" \
  --pool prefork --concurrency "${WORKER_CONCURRENCY:-$concurrency}" \
  --time-limit "$limit" --soft-time-limit "$((limit > 10 ? limit - 10 : 1))" \
  --loglevel "${DDIFFUSION_LOG_LEVEL:-INFO}" --without-gossip --without-mingle "$@"
SH

# Numeric, so a runtime that insists on a non-root uid (Kubernetes runAsNonRoot) can verify it.
USER 10001:10001
WORKDIR /home/ddiffusion
# A remote-control ping answered by the worker's own consumer loop: it fails when the worker is
# wedged or has lost Redis, not merely when the process is gone.
HEALTHCHECK --interval=30s --timeout=15s --start-period=30s --retries=3 \
  CMD ["sh", "-c", "celery -A workers.app inspect ping --timeout 10 -d \"$WORKER_QUEUE@${HOSTNAME:-$(hostname)}\" > /dev/null || exit 1"]
CMD ["ddiffusion-worker"]
