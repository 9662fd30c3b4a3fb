# kafka-drift-detector: every target installs what it needs (a virtualenv in .venv).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# The Rust extension (native/) is built by `pip install -e .` (maturin, release profile); editing
# it re-runs the install, which rebuilds incrementally in native/target. The extension is abi3
# (detector/_native.abi3.so); an older per-version build (_native.cpython-3XX-*.so) would shadow
# it on import, so the install removes in-place builds first.
NATIVE_SOURCES := native/Cargo.toml native/Cargo.lock $(wildcard native/src/*.rs)
KAFKA_DIR ?= .kafka
KAFKA_LIB_DIR ?= $(KAFKA_DIR)/lib
KAFKA_PORT ?= 9092
KAFKA_CONTROLLER_PORT ?= 9093
# What `kafka` and `demo` need first; `make kafka KAFKA_DEPS=` runs the broker logic alone (tests).
KAFKA_DEPS ?= $(STAMP)
# Where the broker `demo` uses listens (written by the start command: it may be another port).
KAFKA_BOOTSTRAP_FILE = $(KAFKA_DIR)/bootstrap
# `make kafka` starts its own broker or fails. `make demo` with the default port reuses a Kafka
# broker already answering there, or starts one on free ports if something else holds the port;
# with KAFKA_PORT given, it uses that port only (reuses the Kafka answering there, or starts one).
DEMO_IF_TAKEN ?= $(if $(filter file,$(origin KAFKA_PORT)),reuse-or-free,reuse)
KAFKA_START = $(PY) -m detector.testing.kafka_broker start --dir $(KAFKA_DIR) \
	--lib-dir $(KAFKA_LIB_DIR) --port $(KAFKA_PORT) --controller-port $(KAFKA_CONTROLLER_PORT) \
	--bootstrap-file $(KAFKA_BOOTSTRAP_FILE)

# Debian packages some tests run for real: Prometheus and promtool (tests/observability),
# Alertmanager (tests/routing) and headless Chromium (tests/test_report.py). Installed when
# missing; without root, through sudo.
TEST_PACKAGES := prometheus prometheus-alertmanager chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

DIST ?= dist

.PHONY: install test-deps demo test lint format schemas kafka kafka-stop clean bench bench-formats dist

$(STAMP): pyproject.toml $(NATIVE_SOURCES)
	@command -v cargo >/dev/null || { echo "cargo is needed to build native/ (https://rustup.rs)"; exit 1; }
	@echo "install: creating the virtualenv $(VENV) and upgrading pip (~30 s)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	rm -f detector/_native.*.so
	@echo "install: installing the package and its dev tools, and building the Rust core"
	@echo "install: (cargo, release profile; first time ~5-7 min on 2 cores, then incremental)"
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)
	@echo "install: done"

install: $(STAMP) ## create .venv with the package and its dev tools

demo: $(KAFKA_DEPS) ## synthetic stream with one injected drift -> local broker -> detector -> alerts
	@echo "demo: starting a local Kafka broker (first time: Maven fetches its jars, ~1-2 min)"
	$(KAFKA_START) --if-taken $(DEMO_IF_TAKEN)
	KAFKA_BOOTSTRAP_SERVERS=$$(cat $(KAFKA_BOOTSTRAP_FILE)) $(PY) examples/demo.py $(DEMO_ARGS)

test-deps: ## the Debian packages above, when missing (skipped where apt-get is absent)
	@if ! command -v promtool >/dev/null || ! command -v prometheus-alertmanager >/dev/null \
		|| ! command -v chromium >/dev/null; then \
		if command -v apt-get >/dev/null; then \
			$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install \
				-y -qq --no-install-recommends $(TEST_PACKAGES); \
		else echo "note: $(TEST_PACKAGES) not installed; their tests will be skipped"; fi; \
	fi
	@# tests/deploy: helm and Prometheus 3.5's promtool (Go module proxy), KEDA and Prometheus
	@# Operator CRD schemas (npm), cached in .cache/deploy-tools (first time ~10 min, then instant)
	$(PYTHON) tests/deploy/deploy_tools.py

test: $(STAMP) test-deps ## all tests; Kafka tests use $$KAFKA_BOOTSTRAP_SERVERS or start their own broker
	@# the Rust core's unit tests (native/src/core_tests.rs); no extension-module feature here,
	@# so the test binary links on its own
	cargo test --manifest-path native/Cargo.toml --quiet
	$(PY) -m pytest

lint: $(STAMP) ## ruff, formatting, mypy --strict; rustfmt and clippy for native/
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	cargo fmt --manifest-path native/Cargo.toml --check
	cargo clippy --manifest-path native/Cargo.toml --release --quiet -- -D warnings

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
	cargo fmt --manifest-path native/Cargo.toml

schemas: $(STAMP) ## regenerate schemas/ and detector/schemas/ from the pydantic models
	$(PY) -m detector.schemas

dist: $(STAMP) ## wheel (abi3, one per platform) and sdist into $$(DIST)/, checked with twine
	@echo "dist: emptying $(DIST)/"
	rm -rf $(DIST)
	@echo "dist: building the wheel (maturin, release profile; compiles native/)"
	$(VENV)/bin/maturin build --release --quiet --interpreter $(PY) --out $(DIST)
	@echo "dist: building the sdist"
	$(VENV)/bin/maturin sdist --out $(DIST)
	@echo "dist: checking metadata and README rendering (twine check --strict)"
	$(VENV)/bin/twine check --strict $(DIST)/*
	@echo "dist: done:"; ls -l $(DIST)

bench: $(STAMP) ## throughput, memory, alert latency, then input formats (bench/README.md); BENCH_ARGS="--events 50000"
	$(PY) bench/run.py $(BENCH_ARGS)
	@echo "bench: decode throughput of Avro and Protobuf against JSON (bench/formats.py)"
	$(PY) bench/formats.py $(FORMATS_ARGS)

bench-formats: $(STAMP) ## only the input formats' decode throughput; FORMATS_ARGS="--events 20000 --rounds 1"
	$(PY) bench/formats.py $(FORMATS_ARGS)

kafka: $(KAFKA_DEPS) ## start a single-node KRaft broker on 127.0.0.1:$$KAFKA_PORT (9092; idempotent)
	$(KAFKA_START) --if-taken fail

kafka-stop: $(STAMP) ## stop the broker started by `make kafka`
	$(PY) -m detector.testing.kafka_broker stop --dir $(KAFKA_DIR)

clean: kafka-stop
	rm -rf $(KAFKA_DIR) .demo .pytest_cache .mypy_cache .ruff_cache native/target $(DIST)
