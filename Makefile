# The two commands in the README: `make dev` (set up, then run the demo bank) and `make test`
# (set up, then run every test and check). Both install what they need on a fresh machine.
VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed
SLITHER := .venv-slither
SLITHER_STAMP := $(SLITHER)/.installed

.PHONY: setup dev test browser screenshots test-contracts test-python lint typecheck slither clean

# The exact versions come from requirements.lock (ranges are in pyproject.toml); the project itself is
# installed on top without resolving again.
$(PY_STAMP): pyproject.toml requirements.lock
	scripts/bootstrap
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e ".[dev]"
	touch $@

$(NPM_STAMP): package.json package-lock.json
	scripts/bootstrap
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Slither needs web3 7 and the wallet web3 8: it gets a virtual environment of its own.
$(SLITHER_STAMP): scripts/slither.lock
	python3 -m venv $(SLITHER)
	$(SLITHER)/bin/pip install --quiet -r scripts/slither.lock
	touch $@

setup: $(PY_STAMP) $(NPM_STAMP)

dev: setup
	$(VENV)/bin/tdw dev

test: setup browser test-contracts slither lint typecheck test-python

# Pictures of the screens of a running `make dev` (in another terminal) for the README.
screenshots: setup browser
	$(PY) scripts/screenshots --data-dir data --out docs/screenshots

# Chromium and a CJK font for the browser tests (tests/test_browser.py).
browser:
	scripts/bootstrap --browser

test-contracts: setup
	npx hardhat test

# Static analysis of the contracts from a clean Hardhat build (stale build-info confuses the source maps);
# every high or medium result must be explained in contracts/slither-triage.json.
slither: setup $(SLITHER_STAMP)
	npx hardhat clean
	npx hardhat compile --quiet
	$(PY) scripts/slither-check $(SLITHER)/bin/slither

lint: setup
	$(VENV)/bin/ruff check wallet api tests
	$(VENV)/bin/ruff format --check wallet api tests

typecheck: setup
	$(VENV)/bin/mypy

test-python: setup
	$(PY) -m pytest

clean:
	rm -rf $(VENV) $(SLITHER) node_modules artifacts .cache data
