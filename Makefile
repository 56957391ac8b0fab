# One Makefile, used the same way locally and in CI.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 127.0.0.1
PYTEST_ARGS ?=

.PHONY: install run test lint format bench eval eval-facts clean

# `make run` needs only the runtime set; the test and lint tools come with `make install`/`test`.
$(VENV)/.runtime-installed: requirements.txt
	@echo "==> Installing the runtime requirements into $(VENV) (first run only, about a minute)"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check --progress-bar on -r requirements.txt
	touch $@

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(VENV)/.runtime-installed $@

install: $(VENV)/.installed

## Set up and run the service with demo data on the embedded database. The demo is loaded into
## an empty database only (`manage.py bootstrap_demo --reset` re-applies it); a busy port stops
## the start before anything is touched.
run: $(VENV)/.runtime-installed
	@echo "==> Starting the embedded PostgreSQL and the server on http://$(HOST):$(PORT)/"
	PROJECTS_SERVICE_URL="$${PROJECTS_SERVICE_URL:-http://$(HOST):$(PORT)/demo/projects-service}" \
		$(PY) manage.py serve --demo --host $(HOST) --port $(PORT)

## Set up and run the whole test suite (embedded PostgreSQL; Redis at REDIS_URL when needed).
test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## Benchmarks (not part of `make test`); results printed and saved under tests/bench/results/.
## One file: `make bench BENCH=tests/bench/test_bench_facts.py`.
BENCH ?= tests/bench
bench: install
	$(PY) -m pytest $(BENCH) -p no:randomly -s -o addopts="" $(PYTEST_ARGS)

## Fact-extraction eval (eval/facts): scripted model by default; EVAL_FACTS_REAL=1 for a real one.
eval-facts: install
	$(PY) -m pytest eval/facts -p no:randomly -s -o addopts="" $(PYTEST_ARGS)
## Retrieval eval (tests/eval): recall@1/@5 and MRR per slice for every embedding route and a few
## fusion weights, then the local model's costs on this machine (docs/memory-embeddings.md).
eval: install
	EVAL=1 $(PY) -m pytest tests/eval -p no:randomly -s -o addopts="" $(PYTEST_ARGS)
	$(PY) -m tests.eval.embedding_costs

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
