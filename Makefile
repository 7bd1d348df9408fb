# trademl: `make demo` (the whole asset graph on this machine), `make test`, `make ui`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export DAGSTER_HOME := $(CURDIR)/var/dagster_home
export TRADEML_HOME := $(CURDIR)/var
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test ui venv instance services demo-data bench lint clean

venv: $(STAMP)

# torch first and pinned: a looser requirement pulls a multi-GB CUDA build.
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==25.3
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# TRADEML_PROFILE=local|production|celery|k8s (deploy/README.md): the instance file to install.
TRADEML_PROFILE ?= local
instance:
	mkdir -p $(DAGSTER_HOME)
	if [ "$(TRADEML_PROFILE)" = local ]; then cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml; \
	elif [ -f deploy/$(TRADEML_PROFILE)/dagster.yaml ]; then cp deploy/$(TRADEML_PROFILE)/dagster.yaml $(DAGSTER_HOME)/dagster.yaml; \
	else echo "TRADEML_PROFILE=$(TRADEML_PROFILE): no deploy/$(TRADEML_PROFILE)/dagster.yaml (k8s: the Helm chart writes the instance)" >&2; exit 2; fi

demo-data: venv
	$(VENV)/bin/trademl demo-data --out var/demo_data

# The demo's gold set for the promotion gate (TRADEML_GOLD): hand-written channel layouts. Set
# TRADEML_GOLD to a desk's own hand-labelled JSONL files, or empty for the test split alone.
demo ui: export TRADEML_GOLD ?= $(CURDIR)/tests/data/channel_styles.jsonl

demo: venv instance demo-data
	$(PY) -m trademl_jobs.demo

ui: venv instance
	$(VENV)/bin/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

services:
	bash scripts/ensure_services.sh

test: venv services
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: venv
	$(PY) benchmarks/bench_ingest.py

lint: venv
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

clean:
	rm -rf var
