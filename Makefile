# Routine commands of Aval. `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.DEFAULT_GOAL := help
.PHONY: help setup test-setup chromium serve demo migrate test test-embedded test-postgres ci lint typecheck proto proto-check bench bench-console bench-retention bench-signing clean

help: ## List the routine commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Aval needs Python 3.11 or newer" if sys.version_info < (3, 11) else 0)'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

setup: $(STAMP) ## Create .venv and install Aval with its development tools

# The tests' real OpenID provider (tests/oidc): its npm packages, exactly as the lockfile pins
# them. Without npm the OpenID Connect tests skip outside CI and fail in CI (CI=true).
OIDC_STAMP := tests/oidc/node_modules/.installed-$(shell cat tests/oidc/package-lock.json | cksum | cut -d' ' -f1)

$(OIDC_STAMP): tests/oidc/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/$(notdir $(OIDC_STAMP)); \
	elif [ -n "$$CI" ]; then \
		echo "npm is needed for the OpenID Connect tests (tests/oidc): install Node.js and npm" >&2; exit 1; \
	else \
		echo "npm not found: the OpenID Connect tests will be skipped (install Node.js and npm)" >&2; \
	fi

# The browser tests' accessibility engine (axe-core, tests/browser) and browser: Debian's
# chromium (Playwright never downloads one). Installed when missing and this is root on a Debian
# machine (CI); elsewhere the browser tests skip with the reason, and fail in CI (CI=true).
BROWSER_STAMP := tests/browser/node_modules/.installed-$(shell cat tests/browser/package-lock.json | cksum | cut -d' ' -f1)

$(BROWSER_STAMP): tests/browser/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd tests/browser && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/$(notdir $(BROWSER_STAMP)); \
	elif [ -n "$$CI" ]; then \
		echo "npm is needed for the browser tests (tests/browser): install Node.js and npm" >&2; exit 1; \
	else \
		echo "npm not found: the browser tests will be skipped (install Node.js and npm)" >&2; \
	fi

chromium:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the browser tests" >&2; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	elif [ -n "$$CI" ]; then \
		echo "the browser tests need Debian's chromium: apt-get install chromium" >&2; exit 1; \
	else \
		echo "chromium not found: the browser tests will be skipped (apt-get install chromium)" >&2; \
	fi

test-setup: setup $(OIDC_STAMP) $(BROWSER_STAMP) chromium ## Install what the tests need besides Python (npm ci, chromium)

serve: setup ## Run the demo server on the embedded PostgreSQL (prints tokens to eval)
	$(BIN)/aval serve --demo

migrate: setup ## Apply database migrations (AVAL_DATABASE_URL, else the embedded database)
	$(BIN)/aval migrate

test: test-setup ## Run the whole test suite (AVAL_TEST_DATABASE_URL, else an embedded PostgreSQL)
	$(BIN)/python -m pytest -q

test-embedded: test-setup ## Run the tests on an embedded PostgreSQL even if a URL is configured
	env -u AVAL_TEST_DATABASE_URL $(BIN)/python -m pytest -q

test-postgres: test-setup ## Run the tests on the PostgreSQL of AVAL_TEST_DATABASE_URL (default: local server)
	AVAL_TEST_DATABASE_URL=$${AVAL_TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres} \
		$(BIN)/python -m pytest -q

lint: setup ## ruff and buf lint
	$(BIN)/ruff check .
	cd proto && ../$(BIN)/buf lint

typecheck: setup ## mypy --strict over the aval package (generated code excluded)
	$(BIN)/python -m mypy --strict -p aval.service -p aval.audit_store -p aval.policies -p aval.clients -p aval.verifier -p aval.texts -p aval.contract -p aval.console -p aval.witness

proto: setup ## Regenerate aval/v1 and docs/openapi.json from proto/aval/v1/*.proto
	$(BIN)/python proto/generate.py

proto-check: setup ## Fail if the generated code or docs/openapi.json is stale
	$(BIN)/python proto/generate.py --check

bench: setup ## Benchmark Propose against a bare gRPC echo server
	$(BIN)/python tests/benchmarks/propose_vs_echo.py

bench-console: setup ## p95 server time of the queue and case pages with 10,000 pending decisions
	$(BIN)/python tests/benchmarks/console_pages.py --database-url $${AVAL_TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres}

bench-retention: setup ## Online verification with 50,000 checkpoints, before and after their thinning
	$(BIN)/python tests/benchmarks/checkpoint_retention.py --database-url $${AVAL_TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres}

bench-signing: setup ## CPU per Propose with the tail signed against without a key, interleaved rounds
	$(BIN)/python tests/benchmarks/tail_signing.py --rounds 5 --database-url $${AVAL_TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres}

clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build
