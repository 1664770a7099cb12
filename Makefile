# deferred-diffusion: `make run` starts the platform, `make test` runs the test suite.
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
# The client generator lives in its own venv: its pinned typer/ruff differ from the project's.
export CLIENT_GEN_VENV ?= .venv-client-gen
CLIENT_GEN := $(CLIENT_GEN_VENV)/.installed
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.DEFAULT_GOAL := help
.PHONY: help install run test test-ui test-deploy lock release bench bench-gpu openapi client lint build up down logs clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# Quiet on stdout (progress on stderr), so `make bench > figures.json` holds only the JSON.
$(INSTALLED): pyproject.toml clients/python/pyproject.toml
	@echo "installing the project into $(VENV) (once, and again when pyproject.toml changes)…" >&2
	@python3 -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check -e '.[gpu,cpu,test]' >&2
	@$(PY) -m pip install --quiet --disable-pip-version-check -e clients/python >&2
	@touch $@

$(CLIENT_GEN): clients/generator/requirements.txt
	python3 -m venv $(CLIENT_GEN_VENV)
	$(CLIENT_GEN_VENV)/bin/pip install --quiet --disable-pip-version-check -r clients/generator/requirements.txt
	touch $@

install: $(INSTALLED) ## create the venv and install the project (once)

run: $(INSTALLED) ## start Redis (embedded), the api and one worker per queue
	$(VENV)/bin/ddiffusion serve

test: $(INSTALLED) $(CLIENT_GEN) ## run the test suite against real parts (no tests found is a failure)
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

$(VENV)/.installed-ui: $(INSTALLED)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[ui]'
	touch $@

test-ui: $(VENV)/.installed-ui ## drive Swagger UI in headless Chromium (Debian's chromium, apt-installed when missing; root)
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	$(PY) -m pytest -m ui tests/ui $(PYTEST_ARGS)

# The images install exactly these (with hashes), so two builds a month apart get the same packages.
# torch is not in the gpu lock: the image takes it from its own index (or a local wheel) first.
LOCK := $(VENV)/bin/uv pip compile pyproject.toml --quiet --generate-hashes --no-config --index-url https://pypi.org/simple \
	--python-version 3.11 --python-platform x86_64-manylinux_2_28
lock: $(INSTALLED) ## re-lock the images' dependencies from pyproject.toml into docker/requirements/ (needs PyPI)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(LOCK) -o docker/requirements/api.txt
	$(LOCK) --extra cpu -o docker/requirements/cpu.txt
	$(LOCK) --extra gpu --extra cpu --override docker/requirements/gpu-overrides.txt -o docker/requirements/gpu.txt

test-deploy: $(INSTALLED) ## build every image and run the compose stack for real (needs a Docker engine with Compose v2)
	@docker compose version >/dev/null 2>&1 && docker info >/dev/null 2>&1 || \
	  (echo "make test-deploy needs a Docker engine with Compose v2: 'docker compose version' or 'docker info' failed" >&2; exit 1)
	$(PY) -m pytest -m deploy tests/deploy -s $(PYTEST_ARGS)

bench: $(INSTALLED) ## measure throughput, latencies, faults and engines; prints JSON (BENCH_QUICK=1: small counts)
	@$(PY) -m bench.run

bench-gpu: $(INSTALLED) ## the large models at their real size on a GPU, one JSON object (BENCH_GPU_ARGS: e.g. --tiny --device cpu; see bench/gpu_wheels.sh)
	@$(PY) -m bench.gpu $(BENCH_GPU_ARGS)

openapi: $(INSTALLED) ## write openapi.json from the app
	$(PY) -m api.openapi > openapi.json

client: $(CLIENT_GEN) ## regenerate clients/python/deferred_diffusion_client from openapi.json
	clients/generate.sh

lint: $(INSTALLED) ## check the code with ruff
	$(VENV)/bin/ruff check core api workers server bench tests clients/python

# Release images: <registry>/<image>:<version> (and :latest), the names docker-compose.release.yml runs.
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
REGISTRY ?= $(or $(DDIFFUSION_REGISTRY),ghcr.io/deferred-diffusion)
RELEASE_IMAGES ?= api worker-gpu worker-cpu comfy
BUILD_api := -f docker/api.Dockerfile .
BUILD_worker-gpu := -f docker/worker-gpu.Dockerfile .
BUILD_worker-cpu := -f docker/worker-cpu.Dockerfile .
BUILD_comfy := comfy_sidecar
release: ## build and tag the release images <REGISTRY>/<image>:<version> (PUSH=1 pushes them; RELEASE_IMAGES picks)
	$(foreach image,$(RELEASE_IMAGES),docker build $(RELEASE_BUILD_ARGS) -t $(REGISTRY)/$(image):$(VERSION) -t $(REGISTRY)/$(image):latest $(BUILD_$(image)) && ) true
	$(if $(filter 1,$(PUSH)),$(foreach image,$(RELEASE_IMAGES),docker push $(REGISTRY)/$(image):$(VERSION) && docker push $(REGISTRY)/$(image):latest && ) true)

build: ## build the docker images of docker-compose.yml
	docker compose build

up: ## start the platform with docker compose, in the background
	docker compose up -d

down: ## stop the docker compose platform
	docker compose down

logs: ## follow the docker compose logs
	docker compose logs -f

clean: ## remove the venvs and local data
	rm -rf $(VENV) $(CLIENT_GEN_VENV) data
