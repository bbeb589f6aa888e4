# featurepulse: the project's verbs. Every target does its own set-up (venv, pip, npm) on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLINK_VENV := .venv-flink
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help setup run serve demo test test-fast lint format synth deploy diff bootstrap destroy bench soak clean flink-connectors

help:
	@echo "make run     the whole pipeline on this machine (no AWS account needed)"
	@echo "make test    the full test suite (what CI runs)"
	@echo "make lint    ruff + mypy + import contracts"
	@echo "make synth   synthesize the CloudFormation template (offline) and cfn-lint it"
	@echo "make demo    the local stack with live synthetic traffic until Ctrl-C (watch the dashboard)"
	@echo "make deploy  cdk deploy (needs AWS credentials); CONTEXT=\"-c key=value ...\" passes parameters"
	@echo "make diff / bootstrap TARGET=aws://ACCOUNT/REGION / destroy   the other CDK verbs, same CONTEXT"
	@echo "make bench   benchmarks; figures go to docs/performance.md"
	@echo "make soak    1,000,000 events under injected faults, exact checks; figures go to docs/reliability.md"

# --- set-up ------------------------------------------------------------------------------------
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

$(FLINK_VENV)/.installed: flink/requirements.txt
	test -x $(FLINK_VENV)/bin/python || $(PYTHON) -m venv $(FLINK_VENV)
	$(FLINK_VENV)/bin/pip install -q -r flink/requirements.txt
	touch $@

# System packages the browser tests need (Debian's chromium); a no-op when already there.
.chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)
	@touch $@

# What the local pipeline needs (`run`, `serve`, `bench`); the tests also need the CDK CLI and chromium.
RUNTIME := $(VENV)/.installed $(FLINK_VENV)/.installed
SETUP := $(RUNTIME) node_modules/.installed .chromium
setup: $(SETUP)

# --- verbs -------------------------------------------------------------------------------------
run: $(RUNTIME)
	$(BIN)/featurepulse local

serve: $(RUNTIME)
	$(BIN)/featurepulse local --serve

# Live numbers to watch: the stack stays up with synthetic traffic until Ctrl-C (dashboard URL printed).
demo: $(RUNTIME)
	$(BIN)/featurepulse local --serve --traffic

test: $(SETUP)
	$(MAKE) lint
	$(BIN)/pytest tests

test-fast: $(VENV)/.installed
	$(BIN)/pytest tests/unit

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy featurepulse lambdas glue_jobs cdk app.py bench
	$(BIN)/lint-imports
	$(BIN)/python -m tools.check_metric_catalogue

format: $(VENV)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# CDK verbs: deploy parameters go in CONTEXT, passed through as they are, e.g.
#   make deploy CONTEXT="-c streamMode=provisioned -c alarmEmail=ops@example.com"
#   make bootstrap TARGET=aws://123456789012/eu-west-1
# JSII_SILENCE_WARNING_* (exported above) keep Node's end-of-life banner out of the output.
CONTEXT ?=
TARGET ?=
CDK := npx --no-install cdk

synth: $(VENV)/.installed node_modules/.installed
	$(CDK) synth --quiet $(CONTEXT)
	$(BIN)/cfn-lint cdk.out/*.template.json

diff: $(VENV)/.installed node_modules/.installed
	$(CDK) diff $(CONTEXT)

bootstrap: $(VENV)/.installed node_modules/.installed
	$(CDK) bootstrap $(TARGET) $(CONTEXT)

destroy: $(VENV)/.installed node_modules/.installed
	$(CDK) destroy --all $(CONTEXT)

# The Flink connector jars (Kinesis source, DynamoDB sink) from Maven Central, merged into flink/app/lib/: a deploy
# needs them, synth and the tests never do (docs/realtime.md).
flink-connectors: flink/connectors.json
	$(PYTHON) flink/fetch_connectors.py

deploy: $(VENV)/.installed node_modules/.installed flink-connectors
	$(CDK) deploy --all $(CONTEXT)

bench: $(RUNTIME)
	$(BIN)/python -m bench

# 1,000,000 events under injected faults, exact checks; the table goes to docs/reliability.md. Runs as long as it
# needs (SOAK_EVENTS=20000 for a short one).
SOAK_EVENTS ?= 1000000
soak: $(RUNTIME)
	$(BIN)/python -m featurepulse.local.soak --events $(SOAK_EVENTS) --write-doc

clean:
	rm -rf cdk.out .featurepulse .pytest_cache .mypy_cache .ruff_cache .build
