# The two commands a user needs: `make run` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run

.PHONY: run test test-future lint fmt clean bench constraints fuzz soak messages

# Installs the versions pinned in constraints.txt (what CI last passed with); pyproject.toml
# holds the lower bounds a user's own environment may satisfy some other way. Running needs
# the service alone; testing adds the test and lint tools (browsers, gateways, mypy).
$(RUN_STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "gateway-auth needs Python 3.11 or newer; set PYTHON=python3.x")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e .
	@touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,lint]'
	@touch $(STAMP)

# Mails land in data/mail as .eml files unless an SMTP server (or a folder) is named.
run: $(RUN_STAMP)
	$(if $(GATEWAY_AUTH_SMTP_URL)$(GATEWAY_AUTH_MAIL_DIR),,GATEWAY_AUTH_MAIL_DIR=data/mail) $(BIN)/gateway-auth serve

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The in-process suites with the clock a year and ten years ahead (libfaketime), so no test can
# depend on today's date. Tests that start external servers are left out: libfaketime cannot
# run redis-server.
test-future: $(STAMP)
	faketime -f '+1y' $(BIN)/python -m pytest -q -p no:cacheprovider tests/contract tests/http/api -k 'not redis'
	faketime -f '+10y' $(BIN)/python -m pytest -q -p no:cacheprovider tests/contract tests/http/api -k 'not redis'

# The long schemathesis run (make test runs a short one): more examples per operation, and
# the stateful phase that chains operations through their links.
fuzz: $(STAMP)
	GATEWAY_AUTH_TEST_FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-300} $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_fuzz.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis

# The newest releases pyproject.toml allows, in a throwaway environment, written to
# constraints.txt; run make lint test afterwards before committing it.
constraints:
	rm -rf .venv-constraints
	$(PYTHON) -m venv .venv-constraints
	.venv-constraints/bin/python -m pip install --quiet --upgrade pip
	.venv-constraints/bin/python -m pip install --quiet -e '.[test,lint]'
	sed -n '1,4p' constraints.txt > constraints.new
	.venv-constraints/bin/python -m pip freeze --exclude-editable >> constraints.new
	mv constraints.new constraints.txt
	rm -rf .venv-constraints

# After changing a message people read: extract every message again and add the new ones to
# each language's catalogue (gateway_auth/locale/<language>/LC_MESSAGES/messages.po), to be
# translated there; tests/test_i18n.py fails until every one is.
messages: $(STAMP)
	$(BIN)/pybabel extract --no-location --sort-output --omit-header --no-wrap -F babel.cfg -k N_ -o gateway_auth/locale/messages.pot gateway_auth
	$(BIN)/pybabel update --no-wrap --ignore-obsolete --no-fuzzy-matching -i gateway_auth/locale/messages.pot -d gateway_auth/locale

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# A million /verify requests and a trickle of logins; memory, descriptors and p99, start and end.
# MODE=faults: the same while Redis restarts, the Sentinel primary dies and the rules reload.
soak: $(STAMP)
	cd benchmarks && ../$(BIN)/python soak.py $(if $(MODE),--mode $(MODE))
