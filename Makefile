# Every target bootstraps .venv from pyproject.toml on a fresh machine. The Mailchimp emulator is
# its own distribution (mailchimp_emulator/pyproject.toml), installed here for demo/dev/bench/test
# and never part of the mc_pipelines wheel.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.data/dagster_home

.PHONY: demo test lint dev bench e2e clean

$(STAMP): pyproject.toml mailchimp_emulator/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ./mailchimp_emulator -e '.[dev,bench]'
	touch $(STAMP)

## make demo: the main job — seed, start the emulator, connect, sync every demo org, summary
demo: $(STAMP)
	mkdir -p $(DAGSTER_HOME)
	$(BIN)/mc-pipelines demo

## make test: ruff, the import contracts (.importlinter), the suite (real PostgreSQL, SQLite and
## the emulator over HTTP; slow/e2e excluded)
test: $(STAMP)
	$(BIN)/ruff check mc_pipelines mc_pipelines_tests mailchimp_emulator
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check mc_pipelines mc_pipelines_tests mailchimp_emulator
	$(BIN)/lint-imports

## make dev: the Dagster UI on the demo data, with the emulator running
dev: $(STAMP)
	mkdir -p $(DAGSTER_HOME)
	$(BIN)/mc-pipelines dev

## make bench: benchmarks (speed, scale, memory) -> bench/results.json
bench: $(STAMP)
	$(BIN)/mc-pipelines bench

## make e2e: the real-browser test of the Dagster UI (screenshots in test-artifacts/e2e/)
e2e: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -m e2e -s mc_pipelines_tests/e2e

clean:
	rm -rf .data bench/results.json
