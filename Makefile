# One entry point. Every target creates .venv from the lock file if it is missing or stale.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 1
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

.PHONY: install browser demo test lint typecheck unit integration infra synth bench local lock clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv==0.13.8
	$(VENV)/bin/uv pip install -q --python $(PY) -r requirements.lock
	$(VENV)/bin/uv pip install -q --python $(PY) --no-deps -e .
	touch $(STAMP)

lock:
	$(VENV)/bin/uv pip compile pyproject.toml --extra infra --extra local --extra dev --universal --python-version 3.11 -o requirements.lock

demo: install
	$(VENV)/bin/qbsync demo

local: install
	$(VENV)/bin/qbsync local

lint: install
	$(VENV)/bin/ruff check .

# The domain's seams (shared/domain/ports.py) against the composition root: files are listed in pyproject.toml.
typecheck: install
	$(VENV)/bin/mypy

unit: install
	$(PY) -m pytest tests/unit -q -p no:cacheprovider

integration: install browser
	$(PY) -m pytest tests/integration tests/emulators -q -p no:cacheprovider

infra: install
	$(PY) -m pytest tests/infra -q -p no:cacheprovider

# The admin page's browser tests: Debian's chromium (Playwright's own browser download does not work here) and
# axe-core from the npm lock file. Each step runs only when its piece is missing.
browser:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium chromium-driver)
	test -f tests/browser/node_modules/axe-core/axe.min.js || npm ci --prefix tests/browser --no-audit --no-fund

# pytest exits 5 when it collects nothing; that is a failure here, never a pass. The table printed last is the
# coverage of shared/domain (decision 50); below the floor the run fails. --dist loadfile keeps each module on one
# worker, so a module's fixtures (a local stack, the Desktop story) are built once; modules of both kinds share
# the two workers (every local stack binds port 0 under its own temporary directory). Not --dist loadgroup:
# with pytest 9.2 its xdist_group marks are silently ignored (pytest-xdist#1386) and every module's tests were
# spread over both workers, each building the module's fixtures.
DOMAIN_COVERAGE_FLOOR := 95
test: install browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -q -p no:cacheprovider -n 2 --dist loadfile --cov --cov-report=term --cov-fail-under=$(DOMAIN_COVERAGE_FLOOR)

synth: install
	$(PY) -m infra.app

bench: install
	$(PY) -m bench
	$(PY) -m bench.steady_state
	$(PY) -m bench.webhooks
	$(PY) -m bench.fairness

clean:
	rm -rf $(VENV) cdk.out build .pytest_cache
