# Esteira: `make synth` (main job for now) and `make test` (everything CI runs). Both install what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help
ENV ?= dev
GLUE_RUNNER ?= .out/glue-runner.sock

VENV := .venv
PY := $(VENV)/bin/python
# checkov has many pinned dependencies of its own: it gets its own venv so that .venv stays as pinned.
CHECKOV_VENV := .venv-checkov
CDK := node_modules/.bin/cdk
CDK_OUT ?= cdk.out
GIT_COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export SPARK_LOCAL_IP := 127.0.0.1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Python writes each module's bytecode once, the first time a process imports it, and every later process reads it.
# With PYTHONDONTWRITEBYTECODE set (some images set it) nothing is written, so every process (hundreds in `make test`:
# the moto servers, the local runs' children, the CLI synths) compiled each module it imports again: a 3,000-row
# local run took 22.4 s and 33 s of CPU on a fresh install, 16.5 s and 24 s once the bytecode was there.
unexport PYTHONDONTWRITEBYTECODE

# Debian packages the tests need: a JVM for Spark, a PostgreSQL server and the JDBC drivers, a C++ compiler for the
# model server's CSV codec.
APT_PACKAGES := default-jre-headless postgresql libpostgresql-jdbc-java libxerial-sqlite-jdbc-java graphviz g++
SYSTEM_MARKERS := /usr/bin/java /usr/share/java/postgresql.jar /usr/share/java/sqlite-jdbc.jar /usr/bin/dot /usr/bin/g++

DIAGRAM_ENV ?= prod

# Every value a caller gives make (the command line, the environment, the CD pipeline's synth step) is checked here,
# before any recipe runs, against the rule for its format. The check reads the raw text with $(value ...): make
# would otherwise expand a `$(shell ...)` in it. Recipes then take the values from the environment, quoted
# ("$$ENV"), never pasted into the command text. Make has no regexes, so each rule is a set of allowed characters
# (plus a prefix for ARNs); app.py and the tools then check the full format (an env's config exists, an ARN's shape).
_lower := a b c d e f g h i j k l m n o p q r s t u v w x y z
_upper := A B C D E F G H I J K L M N O P Q R S T U V W X Y Z
_digits := 0 1 2 3 4 5 6 7 8 9
_space := $(subst ,, )
_tab := $(subst ,,	)
define _newline


endef
# $(call _without,text,chars): text minus every listed character (recursion: make has no loop with an accumulator).
_without = $(if $(2),$(call _without,$(subst $(firstword $(2)),,$(1)),$(wordlist 2,$(words $(2)),$(2))),$(1))
RULE_name_chars := $(_lower) $(_digits) -
RULE_name := name: lowercase letters, digits and '-' (a config/<env>.yaml or config/delivery/<name>.yaml name)
RULE_arn_chars := $(_lower) $(_upper) $(_digits) : / . -
RULE_arn := arn: empty, or an ARN (arn:...) of letters, digits and ':/.-'
RULE_commit_chars := $(_lower) $(_upper) $(_digits)
RULE_commit := commit: letters and digits (a git commit id)
RULE_path_chars := $(_lower) $(_upper) $(_digits) _ . / -
RULE_path := path: a non-empty relative or absolute path of letters, digits and '_./-', not starting with '-'
RULE_args_chars := $(_lower) $(_upper) $(_digits) _ . : / = @ + -
RULE_args := args: words of letters, digits and '_.:/=@+-' separated by spaces (no quotes, globs or shell operators)
# Whitespace becomes '!', which no rule allows; only the args rule separates words with spaces.
_marked = $(subst $(_tab),!,$(subst $(_newline),!,$(if $(filter args,$(2)),$(subst $(_space),,$(1)),$(subst $(_space),!,$(1)))))
# $(call _check,VARIABLE,rule): stop make, naming the rule, when the raw value holds a character the rule forbids.
_check = $(if $(call _without,$(call _marked,$(value $(1)),$(2)),$(RULE_$(2)_chars)),$(error $(1)='$(value $(1))' breaks rule $(RULE_$(2))))
$(call _check,ENV,name)
$(call _check,DIAGRAM_ENV,name)
$(call _check,DELIVERY,name)
$(call _check,MODEL_PACKAGE_ARN,arn)
$(call _check,GIT_COMMIT,commit)
$(call _check,CDK_OUT,path)
$(call _check,GLUE_RUNNER,path)
$(call _check,ARGS,args)
$(if $(value MODEL_PACKAGE_ARN),$(if $(filter arn:%,$(value MODEL_PACKAGE_ARN)),,$(error MODEL_PACKAGE_ARN='$(value MODEL_PACKAGE_ARN)' breaks rule $(RULE_arn))))
$(if $(filter -% ,$(value CDK_OUT) ),$(error CDK_OUT='$(value CDK_OUT)' breaks rule $(RULE_path)))
$(if $(value CDK_OUT),,$(error CDK_OUT='' breaks rule $(RULE_path)))
$(if $(filter -% ,$(value GLUE_RUNNER) ),$(error GLUE_RUNNER='$(value GLUE_RUNNER)' breaks rule $(RULE_path)))
$(if $(value GLUE_RUNNER),,$(error GLUE_RUNNER='' breaks rule $(RULE_path)))
$(if $(value GIT_COMMIT),,$(error GIT_COMMIT='' breaks rule $(RULE_commit)))
export ENV DIAGRAM_ENV DELIVERY MODEL_PACKAGE_ARN GIT_COMMIT CDK_OUT ARGS GLUE_RUNNER

.PHONY: help install lock system-deps spark-class-archive pipeline glue-runner synth lint test test-only image bench-serving bench-fanout bench-consumer tune cost swap-weights diagram diagram-check checkov clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

# uv installs the venvs: the same packages as pip (the same `pip freeze`), downloaded in parallel and installed from
# its cache; pip took ~34 s for .venv and ~31 s for .venv-checkov, uv online ~19 s (most of it building pyspark, which
# PyPI has only as source) and ~2 s. Like pip's --no-compile, it byte-compiles nothing (see bytecode below). uv itself
# is pinned and lives in .venv.
UV_VERSION := 0.13.8
UV := $(VENV)/bin/uv
# The venv gets no pip of its own (uv installs into it): creating one with pip took 4.2 s, without 0.1 s. The system's
# pip (22.3 or newer, for --python) installs uv into it; an older pip falls back to the venv's own.
$(UV):
	test -x $(PY) || python3 -m venv --without-pip $(VENV)
	python3 -m pip --python $(PY) install -q --no-compile uv==$(UV_VERSION) 2>/dev/null \
	  || { $(PY) -m ensurepip > /dev/null && $(PY) -m pip install -q --no-compile uv==$(UV_VERSION); }

# Each venv installs its lock file (every package pinned, `make lock` writes them from the requirements files), first
# from uv's cache alone (--offline: 0.4 s when every pinned wheel is there), else from the registry. Online, uv asks
# the registry whether each file has changed, and it re-downloads and rebuilds pyspark's source every time.
LOCK_OPTIONS := --universal --python-version 3.11
# pyspark is published as source only: uv builds it into a wheel (317 MB, nearly all jars) and unpacks that. Jars are
# zip files already, so the wheel stores them instead of deflating them again: the build took 7.7 s and 8.1 s of CPU
# instead of 14.4 s and 15.5 s, and installs the same files. uv keys the wheels it caches by these settings, so both
# attempts pass them.
UV_BUILD_SETTINGS := --config-settings-package=pyspark:--build-option=--compression=stored
# $(call uv_install,python,lock file)
uv_install = $(UV) pip install -q --offline $(UV_BUILD_SETTINGS) --python $(1) -r $(2) 2>/dev/null \
  || $(UV) pip install -q $(UV_BUILD_SETTINGS) --python $(1) -r $(2)

$(VENV)/.installed: requirements-dev.lock | $(UV)
	$(call uv_install,$(PY),requirements-dev.lock)
	touch $@

lock: | $(UV) ## Pin every package (with its dependencies) from the requirements files into the .lock files
	$(UV) pip compile -q $(LOCK_OPTIONS) requirements-dev.txt -o requirements-dev.lock
	$(UV) pip compile -q $(LOCK_OPTIONS) tools/requirements-checkov.txt -o tools/requirements-checkov.lock

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed ## Python venv and the pinned cdk CLI

# The model server's CSV codec in C (containers/model/native), built beside the package that loads it, as the image's
# Dockerfile builds it, for everything that runs the server: the tests, the local run, the serving bench. Without it,
# CSV bodies take the careful Python parser (20x slower). system-deps installs g++ when missing.
NATIVE_CSV := containers/model/src/esteira_model/_csv_codec.so
$(NATIVE_CSV): containers/model/native/csv_codec.cc containers/model/native/powers_of_five.h containers/model/native/build.sh | system-deps
	containers/model/native/build.sh $@

system-deps: ## apt packages for the tests (JVM, PostgreSQL, JDBC jars), when missing
	@missing=0; for f in $(SYSTEM_MARKERS); do test -e $$f || missing=1; done; \
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing=1; \
	if [ $$missing = 1 ]; then \
	  echo "installing $(APT_PACKAGES)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	fi

# The local Glue runner's class archive (pipeline/spark_class_archive.py): recorded once for this JVM and class path
# (~20 s), a no-op after. Part of `make pipeline`'s set-up, so that no local run pays for it; `make test` records it
# beside the tests (test-only).
spark-class-archive: system-deps install
	$(PY) -m pipeline.spark_class_archive

# The bytecode of every installed package the local run can import (not the CDK, lint and test tools), written once
# (~12 s on 2 cores): a fresh install has none (uv, like pip's --no-compile, writes none), and the run's dozen processes
# then compiled what each imports: a first 100k-row run took 42.1 s, the next 39.6 s. `make test` compiles lazily
# instead (each module once, as a test first imports it): less work than compiling every package up front.
BYTECODE_SKIPPED := /(aws_cdk|cfnlint|mypy|mypyc|hypothesis|pip|setuptools|pkg_resources|jsii|constructs|cdk_nag|syrupy|_pytest|pytest|xdist|tests?)/
$(VENV)/.bytecode: $(VENV)/.installed
	$(PY) -m compileall -q -j 0 -x '$(BYTECODE_SKIPPED)' "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" > /dev/null \
	  || echo "bytecode: some files did not compile; Python compiles them when they are imported"
	touch $@

pipeline: system-deps install $(NATIVE_CSV) spark-class-archive $(VENV)/.bytecode ## The whole pipeline on this machine, no AWS account (ARGS="--rows 20000 --change-rows 500")
# ARGS is unquoted on purpose: it is several arguments; its rule allows no globs or shell operators.
	$(PY) -m pipeline $$ARGS

# A local Glue runner that stays warm between local runs (pipeline/glue_runner.py): start it in one terminal, then
# `make pipeline ARGS="--glue-runner .out/glue-runner.sock ..."` in another; each run's Spark jobs then skip the JVM's
# start and warm-up. Ctrl-C stops it.
glue-runner: system-deps install spark-class-archive $(VENV)/.bytecode ## Keep Spark warm for local runs: `make pipeline ARGS="--glue-runner .out/glue-runner.sock"` (GLUE_RUNNER=socket)
	$(PY) -m pipeline.glue_runner --listen "$$GLUE_RUNNER"

synth: install ## Synthesize ENV's stacks (default dev), or with DELIVERY=pipeline the CD pipeline and all its stages, offline; print the cdk-nag summary and run cfn-lint
	rm -rf -- "$$CDK_OUT"
	$(CDK) synth -q $(if $(value DELIVERY),-c delivery="$$DELIVERY",-c env="$$ENV") -c git_commit="$$GIT_COMMIT" $(if $(value MODEL_PACKAGE_ARN),-c model_package_arn="$$MODEL_PACKAGE_ARN") --output "$$CDK_OUT"
	$(PY) -m stacks.nag_report "$$CDK_OUT"
	shopt -s nullglob; $(VENV)/bin/cfn-lint "$$CDK_OUT"/*.template.json "$$CDK_OUT"/assembly-*/*.template.json

# mypy's incremental cache lives in the user's cache folder, shared by every clone on the machine: mypy checks each
# cached module against its source's hash, so a fresh clone re-checks only what differs. Cold, it took 35 s of CPU
# beside the tests' first minute; warm from another clone, 1 s.
# (mypy reads it from the environment: the value never reaches a shell command.)
MYPY_CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/esteira/mypy
export MYPY_CACHE_DIR

lint: install ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

test: ## Everything CI runs: lint, unit, stack, Spark/PostgreSQL and container tests, checkov
# Side by side: mypy uses one core and the tests' workers wait on servers at times, so the two fill both cores (each
# one's output is printed whole when it ends). The installs (apt's packages when missing, .venv, node_modules,
# .venv-checkov) run side by side first: on a fresh machine apt took 7-11 s before the rest began. The tests run checkov
# (tests/stacks/test_checkov.py) on the apps they synthesize anyway, so `make test` does not synthesize them a second
# time for it. Any failure fails `make test`.
	$(MAKE) --no-print-directory -j3 --output-sync=target lint test-only

# loadgroup keeps the tests that share a costly fixture in one worker; tests/conftest.py defines the groups (its
# scheduler: xdist's own reading of xdist_group marks does not work with pytest 9) and orders them longest first.
# No Spark class archive is recorded for the tests' warm Glue runner: recording one beside them cost ~35-49 s of CPU to
# save ~11 s, and the whole suite took longer with it (interleaved fresh clones: 312, 284 and 299 s with it, 296, 277
# and 264 s without).
test-only: system-deps install $(NATIVE_CSV) $(CHECKOV_VENV)/.installed
	$(VENV)/bin/pytest -n 2 --dist loadgroup --durations=15

CHECKOV_ENVS := dev staging prod

$(CHECKOV_VENV)/.installed: tools/requirements-checkov.lock | $(UV)
	test -x $(CHECKOV_VENV)/bin/python || python3 -m venv --without-pip $(CHECKOV_VENV)
	$(call uv_install,$(CHECKOV_VENV)/bin/python,tools/requirements-checkov.lock)
	touch $@

checkov: install $(CHECKOV_VENV)/.installed ## checkov over every env's synth (serving a model package) and the CD app: 0 failed checks
	rm -rf -- "$$CDK_OUT/checkov"
# The four synths run two at a time (one per core); each has its own output folder. Any failure stops the target.
	set -e; pids=(); for env in $(CHECKOV_ENVS); do \
	  arn=$$($(PY) -m tools.checkov_model_package "$$env"); \
	  $(CDK) synth -q -c env="$$env" -c git_commit="$$GIT_COMMIT" -c model_package_arn="$$arn" --output "$$CDK_OUT/checkov/$$env" & pids+=($$!); \
	  if [ $${#pids[@]} = 2 ]; then wait "$${pids[0]}"; pids=("$${pids[1]}"); fi; \
	done; \
	$(CDK) synth -q -c delivery=pipeline -c git_commit="$$GIT_COMMIT" --output "$$CDK_OUT/checkov/delivery" & pids+=($$!); \
	for pid in "$${pids[@]}"; do wait "$$pid"; done
# Only the templates: the assets beside them are code, which the Python tests and linters cover.
	$(CHECKOV_VENV)/bin/checkov --framework cloudformation --quiet --compact --skip-download \
	  -f "$$CDK_OUT"/checkov/*/*.template.json "$$CDK_OUT"/checkov/delivery/assembly-*/*.template.json

image: ## Build and push the model image with docker, tagged with the git commit (needs docker and AWS credentials)
	./containers/build_and_push.sh model "$$ENV"

bench-serving: install $(NATIVE_CSV) ## Serving benchmark: ours vs in-process predict vs MLflow
	$(PY) bench/serving.py

bench-fanout: install ## Fan-out benchmark: ours vs the seed's loop on a local SQS (the 1M run takes ~15 min)
	PYTHONPATH=.:lambdas $(PY) bench/fanout.py

bench-consumer: install ## Consumer benchmark: batched transactions vs the per-message baseline on the local run's moto
	$(PY) bench/consumer.py

tune: install ## Launch a tuning job by hand from ENV's config with the SageMaker SDK (ARGS="--role-arn .. --train-uri .. --output-uri .. [--launch]")
	test -x .venv-ops/bin/python || python3 -m venv .venv-ops
	.venv-ops/bin/python -m pip install -q -r tools/requirements-ops.txt
	.venv-ops/bin/python -m tools.tune --env "$$ENV" $$ARGS

cost: install ## Estimated monthly cost of ENV from config + the dated table tools/prices.yaml (ARGS=--json)
	$(PY) -m tools.cost --env "$$ENV" $$ARGS

swap-weights: install ## Set ENV's variant weights in its served state and live endpoint; later deploys keep them (ARGS="champion=90 challenger=10 [--state-only]")
	$(PY) -m tools.swap_weights --env "$$ENV" $$ARGS

diagram: system-deps install ## Redraw docs/architecture.{dot,png} from the synthesized app (DIAGRAM_ENV, default prod)
	$(PY) -m tools.diagram --env "$$DIAGRAM_ENV"

diagram-check: install ## Fail if docs/architecture.dot is stale
	$(PY) -m tools.diagram --check --env "$$DIAGRAM_ENV"

clean:
	rm -rf -- "$$CDK_OUT" .pytest_cache .mypy_cache .ruff_cache
