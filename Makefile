# The two commands of the README: `make demo` and `make test`. Each creates .venv when
# it is missing and installs the project into it first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: demo test lint unit screenshots clean bench kube mutants

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "b2tui needs Python >= 3.11; set PYTHON=python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

# A demo run that ends rolled back (3), blocked (4) or aborted (5) played its scenario:
# that is not a failure of `make`, so those codes exit quietly. `b2tui demo` itself still
# exits with the run's outcome (README, "Exit status"); usage errors (2) still fail.
demo: $(STAMP)
	@$(BIN)/b2tui demo $(ARGS); rc=$$?; case $$rc in 0|3|4|5) exit 0;; *) exit $$rc;; esac

lint: $(STAMP)
	$(BIN)/ruff check b2tui tests
	$(BIN)/ruff format --check b2tui tests
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest -q $(ARGS)

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit $(ARGS)

# Each promise broken on purpose in a copy of the repo; its guarding tests must fail
# (never part of `make test`; see tests/README.md). `make mutants ARGS=--list` lists them.
mutants: $(STAMP)
	$(BIN)/python tests/mutants/run.py $(ARGS)

# Benchmarks print numbers (never part of `make test`); see benchmarks/README.md.
# `make bench ARGS=--quick` runs each row once; `ARGS="--only idle"` one row alone.
bench: $(STAMP)
	$(BIN)/python -m benchmarks.suite $(ARGS)

# The real control plane (kube-apiserver + kube-controller-manager 1.20.2) the
# real-cluster tests start: built once from Debian's source package into the XDG cache.
kube:
	tests/realkube/build.sh

screenshots: $(STAMP)
	$(BIN)/python -m b2tui.screenshots screenshots

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
