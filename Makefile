# The two commands a user needs: `make run` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-future lint fmt clean bench

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "gateway-auth needs Python 3.11 or newer; set PYTHON=python3.x")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,lint]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/gateway-auth serve

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The in-process suites with the clock a year and ten years ahead (libfaketime), so no test can
# depend on today's date. Tests that start external servers are left out: libfaketime cannot
# run redis-server.
test-future: $(STAMP)
	faketime -f '+1y' $(BIN)/python -m pytest -q -p no:cacheprovider tests/contract tests/http -k 'not redis'
	faketime -f '+10y' $(BIN)/python -m pytest -q -p no:cacheprovider tests/contract tests/http -k 'not redis'

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py
