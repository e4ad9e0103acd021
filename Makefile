# The two commands of the quick start: `make demo` and `make test`.
# Each creates .venv if it is missing, installs torch 2.13.0 (the CPU build on disk) first,
# then the project with its dev extras, then runs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.privet-installed
PEERS_VENV ?= $(HOME)/.privet-peers
export PEERS_VENV

.PHONY: demo test test-all lint bench bench-privet peers clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q --upgrade pip
	$(BIN)/python -m pip install --disable-pip-version-check -q torch==2.13.0
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/privet demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest -q

test-all: lint
	$(BIN)/pytest -q -m ""

# Peers' environment (Opacus, OpenDP, dp_accounting, pure-ldp, CrypTen, Flower), for side-by-side runs.
peers:
	bash ../shared/peers/setup.sh

bench: $(STAMP) peers
	$(BIN)/python benchmarks/run.py --peers-python $(PEERS_VENV)/bin/python

bench-privet: $(STAMP)
	$(BIN)/python benchmarks/run.py --no-peers

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
