# Every target bootstraps .venv from pyproject.toml on a fresh machine. The Mailchimp emulator is
# its own distribution (mailchimp_emulator/pyproject.toml), installed here for demo/dev/bench/test
# and never part of the mc_pipelines wheel.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.data/dagster_home

.PHONY: demo test lint dev bench e2e distributed clean

$(STAMP): pyproject.toml mailchimp_emulator/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ./mailchimp_emulator -e '.[dev,celery,bench]'
	touch $(STAMP)

## make demo: the main job — seed, start the emulator, connect, sync every demo org, summary
demo: $(STAMP)
	mkdir -p $(DAGSTER_HOME)
	$(BIN)/mc-pipelines demo

## make test: ruff, the import contracts (.importlinter), `dg check defs` (the definitions load and
## validate), the suite (real PostgreSQL, SQLite and the emulator over HTTP; slow/e2e/distributed
## excluded), on two pytest-xdist workers (one per core; each has its own PostgreSQL database and
## emulator)
test: $(STAMP)
	$(BIN)/ruff check mc_pipelines mc_pipelines_tests mailchimp_emulator
	$(BIN)/lint-imports
	mkdir -p $(DAGSTER_HOME) && $(BIN)/dg check defs
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2

lint: $(STAMP)
	$(BIN)/ruff check mc_pipelines mc_pipelines_tests mailchimp_emulator
	$(BIN)/lint-imports
	mkdir -p $(DAGSTER_HOME) && $(BIN)/dg check defs

## make dev: the Dagster UI (workspace.yaml, code location mc_pipelines) on a freshly seeded demo
## dataset and an emptied demo instance with the production run queue (one run per org), with
## the emulator running
dev: $(STAMP)
	mkdir -p $(DAGSTER_HOME)
	$(BIN)/mc-pipelines dev

## make bench: benchmarks (speed, scale, memory) -> bench/results.json
bench: $(STAMP)
	$(BIN)/mc-pipelines bench

## make distributed: the sync job on dagster-celery (two workers, RabbitMQ on 127.0.0.1:5672,
## Dagster storage on PostgreSQL; figures in test-artifacts/celery/figures.json) and a CLI sync
## racing a Dagster run of the same org (intervals in test-artifacts/one_run_per_org/)
distributed: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -m distributed -s mc_pipelines_tests/automation

## make e2e: the real-browser test of the Dagster UI (screenshots in test-artifacts/e2e/)
e2e: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -m e2e -s mc_pipelines_tests/e2e

clean:
	rm -rf .data bench/results.json
