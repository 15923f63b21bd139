# Provenant — every target here is listed by `make help`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed

.DEFAULT_GOAL := help
.PHONY: worker index verify bench-indexer bench-trace bench-signing services help install contracts contracts-check node deploy seed demo test faults test-fast test-unit test-chain test-integration lint bench-gas bench-ingest bench-export bench-e2e bench-portal prod-smoke lock clean

help: ## List the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

install: $(PY_STAMP) $(NPM_STAMP) ## Install Python (requirements.lock + requirements-dev.lock, hashed) and npm (package-lock.json) dependencies

$(PY_STAMP): requirements.lock requirements-dev.lock deploy/azure/requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(VENV)/bin/uv pip install --quiet --python $(PY) --require-hashes -r requirements-dev.lock
	# the infrastructure program's SDKs, for its mock tests (never in the runtime install)
	$(VENV)/bin/uv pip install --quiet --python $(PY) --require-hashes -r deploy/azure/requirements.lock
	$(VENV)/bin/uv pip install --quiet --python $(PY) --no-deps -e .
	touch $@

$(NPM_STAMP): package-lock.json
	command -v npm >/dev/null || (apt-get update && apt-get install -y nodejs npm)
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

contracts: install ## Compile the Solidity sources into contracts/artifacts (commit the result)
	$(PY) -m contracts.chain.compile

contracts-check: install ## Fail when the committed artifacts differ from a fresh compile
	$(PY) -m contracts.chain.compile --check

node: install ## Run the local free-gas chain node (anvil, chain id 1337, state in var/)
	$(PY) -m deploy.local.node

deploy: install ## Deploy the contracts to PROVENANT_RPC_URL (idempotent; manifest in var/deployments)
	$(PY) -m contracts.chain.deploy

seed: install ## Seed the running local chain with the demo consortium
	$(PY) -m deploy.local.seed

demo: install ## Start the node, deploy, seed the demo consortium, serve the portal + API, run the worker (PROVENANT_KEY_BACKEND=keystore|pkcs11|keyvault)
	@[ "$$PROVENANT_KEY_BACKEND" != pkcs11 ] || [ -e /usr/lib/softhsm/libsofthsm2.so ] || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq softhsm2)
	$(PY) -m deploy.local.demo

# The test suite's mirror tests run on the real PostgreSQL (trust auth on 127.0.0.1).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/provenant

services: ## Start PostgreSQL, Redis and Mosquitto if they are not running
	./deploy/local/ensure-services.sh

test: install lint services ## Lint, start services, run the whole suite (unit, EVM, node, PostgreSQL, Redis, browser)
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) -m pytest -n 2 --dist loadfile --durations=15

faults: install services ## Run only the fault suite (part of `make test`): a private production-style site under load while a worker, Redis, PostgreSQL, the node or the key stores fail, a reorg, racing workers; prints each recovery time
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) -m pytest -m faults -s tests/faults

test-fast: install ## Run the tests that need no node process and no services
	$(PY) -m pytest -m "not node and not integration"

test-unit: install ## Run the unit tier: no EVM, no node, no service
	$(PY) -m pytest -m "not chain and not integration"

test-chain: install ## Run the chain tier: py-evm in process or anvil from node_modules, no service
	$(PY) -m pytest -m "chain and not integration"

test-integration: install services ## Run the integration tier: PostgreSQL, Redis, SoftHSM2, Chromium
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) -m pytest -m integration

worker: install ## Run a Celery worker with beat: submits operations, indexes the chain every 2 s
	$(PY) -m celery -A workers.celery worker --beat --loglevel=info --pool=threads --concurrency=4

index: install ## Mirror the running chain into the database once (manage.py index_chain)
	$(PY) manage.py migrate --verbosity 0
	$(PY) manage.py index_chain

verify: install ## Re-read the chain and compare the mirror (manage.py verify_mirror)
	$(PY) manage.py verify_mirror

bench-indexer: install services ## Print the pipeline rate (store + consumers) on a new-lot and an update-heavy chain, live lag and web3 decode comparison
	$(PY) bench/indexer.py

lint: install ## ruff (lint + format check), mypy, import contracts (lint-imports), and a check that no migration is missing
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	DJANGO_SETTINGS_MODULE=webapp.settings $(PY) manage.py makemigrations --check --dry-run >/dev/null

bench-trace: install services ## Print lineage trace latency on a 100,000-lot graph and proof verification time
	$(PY) bench/trace.py

bench-signing: install services ## Print ms per signed transaction per key store (keystore, SoftHSM2, Key Vault protocol) and µs per personal-data seal+open
	$(PY) bench/signing.py

bench-gas: install ## Print gas per operation and the handoff/ERC-1155 ratio
	$(PY) bench/gas.py

bench-ingest: install services ## Print signed MQTT readings ingested per second (two shards, a private Mosquitto)
	$(PY) bench/ingest.py

bench-export: install services ## Print lake export and warehouse refresh events/s, search reindex rows/s, GraphQL lineage and search p50/p95 over 100k lots and 500k events
	$(PY) bench/export.py

bench-e2e: install services ## Print end-to-end handoffs/s through the production stack, confirm latency and its breakdown, against raw transfers on the same node
	$(PY) bench/e2e.py

soak: install services ## Run the production stack under steady handoff load for 30 min (--minutes); sample each process's memory and the tables' sizes every minute; not in CI
	$(PY) bench/soak.py

bench-portal: install services ## Print portal page p95/p50 for 50 Locust users browsing the production stack during handoff load, and what dominates the slowest page
	$(PY) bench/portal_load.py

prod-smoke: install services ## Start the production stack (gunicorn, nginx with TLS, one Celery worker per queue, beat, a Besu-like node) and smoke-test it over HTTPS
	$(PY) -m deploy.production.smoke

lock: ## Re-resolve the lock files from pyproject.toml (runtime, then development on top of it; hashed)
	$(VENV)/bin/uv pip compile pyproject.toml --prerelease=if-necessary --generate-hashes -q -o requirements.lock
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --prerelease=if-necessary --generate-hashes -q \
		-c requirements.lock -o requirements-dev.lock
	$(VENV)/bin/uv pip compile deploy/azure/requirements.in --generate-hashes -q \
		-c requirements-dev.lock -o deploy/azure/requirements.lock

clean: ## Remove the virtualenv, node_modules and local chain state (var/)
	rm -rf $(VENV) node_modules var .pytest_cache .mypy_cache .ruff_cache
