# deferred-diffusion: `make run` starts the platform, `make test` runs the test suite.
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.DEFAULT_GOAL := help
.PHONY: help install run test bench openapi lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(INSTALLED): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[gpu,cpu,test]'
	touch $@

install: $(INSTALLED) ## create the venv and install the project (once)

run: $(INSTALLED) ## start Redis (embedded), the api and one worker per queue
	$(VENV)/bin/ddiffusion serve

test: $(INSTALLED) ## run the test suite against real parts (no tests found is a failure)
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

bench: $(INSTALLED) ## measure submit rate, latencies, overhead and Redis bytes; prints JSON
	@$(PY) -m bench.run

openapi: $(INSTALLED) ## write openapi.json from the app
	$(PY) -m api.openapi > openapi.json

lint: $(INSTALLED) ## check the code with ruff
	$(VENV)/bin/ruff check core api workers bench tests

clean: ## remove the venv and local data
	rm -rf $(VENV) data
