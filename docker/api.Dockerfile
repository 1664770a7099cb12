# The api image: the FastAPI gateway on the shared kernel, nothing else. `pip install .` takes
# only pyproject's base dependencies, so neither torch nor the workers' code is in here
# (tests/test_compose.py checks both). Build from the repository root:
#   docker build -f docker/api.Dockerfile -t ddiffusion/api .
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
# pyproject.toml), so a code change rebuilds only the last layer and every build gets the same packages.
COPY docker/requirements/api.txt ./requirements.txt
RUN pip install --require-hashes --no-deps -r requirements.txt
COPY pyproject.toml README.md ./
COPY core ./core
COPY api ./api
# No workers/ in this context copy: the api never imports them, and leaving them out keeps it so.
RUN pip install --no-deps . \
 && pip check \
 && python -c "import importlib.util as u, sys; sys.exit(1 if u.find_spec('torch') else 0)"

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DDIFFUSION_HOST=0.0.0.0 \
    DDIFFUSION_DATA_DIR=/data \
    DDIFFUSION_COMFY_WORKFLOWS_DIR=/opt/ddiffusion/workflows
# One fixed uid/gid in every image of the platform: api and workers share the data volume, and a
# named volume takes its owner from the first image that mounts it.
RUN groupadd --system --gid 10001 ddiffusion \
 && useradd --system --uid 10001 --gid ddiffusion --create-home --home-dir /home/ddiffusion \
      --shell /usr/sbin/nologin ddiffusion \
 && mkdir -p /data/blobs \
 && chown -R ddiffusion:ddiffusion /data
COPY --from=build /opt/venv /opt/venv
# ComfyUI templates: the api checks workflow requests against them at submit and lists them.
COPY comfy_sidecar/workflows /opt/ddiffusion/workflows
# Numeric, so a runtime that insists on a non-root uid (Kubernetes runAsNonRoot) can verify it.
USER 10001:10001
# An empty working directory: pydantic-settings reads `.env` from here, and there is none.
WORKDIR /home/ddiffusion
EXPOSE 8000
# Liveness only (/healthz): /readyz also wants a worker per queue, which is not the api's health.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["uvicorn", "--factory", "api.main:create_app", "--host", "0.0.0.0", "--port", "8000"]
