# `make up`: set up this machine and start the embedded cloud.
# `make test`: set up this machine (MariaDB, RabbitMQ, QEMU too) and run every test.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup setup-test up up-deployed test lint bench clean

$(VENV)/.installed: pyproject.toml
	scripts/install-system-deps.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -U pip
	$(VENV)/bin/pip install -q --disable-pip-version-check -e '.[test]'
	touch $@

setup: $(VENV)/.installed

setup-test: setup
	scripts/install-system-deps.sh --test

up: setup
	$(VENV)/bin/cloudctl up

up-deployed: setup-test
	$(VENV)/bin/cloudctl up --deployed

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

test: setup-test lint
	$(PY) -m pytest -q -ra $(PYTEST_ARGS)

bench: setup-test
	$(PY) bench/boot_storm.py

clean:
	rm -rf .cloud .cloud-deployed .pytest_cache
