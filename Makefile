# The README's quick start is `make demo` and `make test`; both work on a fresh Debian machine
# with only python3, pip, make and apt.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test
# The compiled build (mypyc; setup.py, docs/design.md): a wheel built with
# PRONGHORN_BUILD=compiled, installed (not editable) in its own venv, where `make test` runs
# the whole suite a second time.
VENV_COMPILED := .venv-compiled
PY_COMPILED := $(VENV_COMPILED)/bin/python
STAMP_COMPILED := $(VENV_COMPILED)/.installed-compiled
COMPILED_WHEELS := dist/compiled
SOURCES := $(shell find src -name "*.py" -o -name "*.c" -o -name "*.pyi") setup.py build_backend/backend.py
# What the tests run for real: curl as a client, headless Chromium for the browser tests,
# nginx and haproxy in front of pronghorn for the differential tests (tests/interop/), and
# openssl for the certificate of the nginx recipe's TLS test; systemd for systemd-socket-activate,
# which runs the socket-activation recipe (tests/recipes/); prometheus, which scrapes the metrics
# listener and whose promtool checks the text format (tests/metrics/; 14 s to install);
# logrotate, which rotates a running server's logs by the examples/logrotate recipe (tests/logging/).
APT_TEST_PACKAGES := curl chromium nginx haproxy openssl systemd prometheus logrotate
# Loopback only; `make demo HOST=0.0.0.0` to share it on a network you trust.
HOST ?= 127.0.0.1
PORT ?= 8000

# `make fuzz` and `make soak` run this long; override: `make fuzz FUZZ_SECONDS=60`.
FUZZ_SECONDS ?= 300
SOAK_SECONDS ?= 300

.PHONY: compiled compiler-deps demo test stress apt-test-deps lint typecheck bench bench-quick fuzz soak clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV) || { apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }
	$(PIP) install -q --upgrade pip

$(STAMP_RUN): pyproject.toml | $(VENV)/bin/python
	$(PIP) install -q -e '.[reload]'
	touch $@

$(STAMP_TEST): pyproject.toml | $(VENV)/bin/python
	$(PIP) install -q -e '.[reload,test]'
	touch $@ $(STAMP_RUN)

demo: $(STAMP_RUN)
	$(VENV)/bin/pronghorn --bind $(HOST):$(PORT) --access-logfile - --static /static=src/pronghorn/demo/site pronghorn.demo:app

apt-test-deps:
	@missing=""; for p in $(APT_TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "missing apt packages:$$missing (install them as root)"; fi; \
	fi

# A C compiler and Python's headers, for the compiled build (from apt when missing).
compiler-deps:
	@headers="$$($(PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h"; \
	if ! command -v gcc >/dev/null || [ ! -e "$$headers" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc python3-dev; \
	  else echo "missing gcc or $$headers (install gcc python3-dev as root)"; fi; \
	fi

$(VENV_COMPILED)/bin/python:
	$(PYTHON) -m venv $(VENV_COMPILED)
	$(PY_COMPILED) -m pip install -q --upgrade pip

# PRONGHORN_BUILD=compiled fails rather than falling back to pure: this venv must be compiled.
$(STAMP_COMPILED): pyproject.toml $(SOURCES) | $(VENV_COMPILED)/bin/python $(STAMP_TEST) compiler-deps
	rm -rf $(COMPILED_WHEELS) build
	PRONGHORN_BUILD=compiled $(PIP) wheel -q --no-deps -w $(COMPILED_WHEELS) .
	wheel="$$(ls $(COMPILED_WHEELS)/pronghorn-*.whl)" && \
	  $(PY_COMPILED) -m pip install -q "$$wheel[reload,test]" && \
	  $(PY_COMPILED) -m pip install -q --no-deps --force-reinstall "$$wheel"
	touch $@

compiled: $(STAMP_COMPILED)

# The whole suite twice: on the editable pure tree, then on the installed compiled wheel
# (tests/test_build.py checks each run imports the build it claims).
test: $(STAMP_TEST) apt-test-deps $(STAMP_COMPILED)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy --strict src
	PRONGHORN_EXPECT_BUILD=pure $(PY) -m pytest -n 2 -q
	PRONGHORN_EXPECT_BUILD=compiled $(PY_COMPILED) -m pytest -n 2 -q -p no:cacheprovider

# Many rounds of SIGTERM, SIGHUP and SIGUSR2 under load (ROUNDS of each, a few minutes):
# one line a round and a total; fails on any lost request.
ROUNDS ?= 20
stress: $(STAMP_TEST)
	$(PY) tests/stress/drain_stress.py --rounds $(ROUNDS)

lint:
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests

typecheck:
	$(VENV)/bin/mypy --strict src

# The server fuzzer (tests/server/fuzzserver.py), guided by atheris when it installs (it is
# a binary wheel; without it the same generator runs on seeded random input). Findings are
# written to tests/http/corpus/ as fuzz_* cases: review them before committing.
fuzz: $(STAMP_TEST)
	@$(PY) -c "import atheris" 2>/dev/null || $(PIP) install -q atheris \
	  || echo "atheris did not install: fuzzing with seeded random input instead"
	$(PY) tests/server/fuzzmain.py --seconds $(FUZZ_SECONDS)

# Keep-alive clients against pronghorn -w 2 for SOAK_SECONDS (tests/soak/soakload.py).
soak: $(STAMP_TEST)
	$(PY) tests/soak/soakload.py --seconds $(SOAK_SECONDS)

# pronghorn's two builds side by side: the pure .venv (row pronghorn) and the compiled wheel
# (row pronghorn-compiled).
bench: $(STAMP_RUN) $(STAMP_COMPILED)
	$(PY) bench/run.py

bench-quick: $(STAMP_RUN) $(STAMP_COMPILED)
	$(PY) bench/run.py --quick

clean:
	rm -rf $(VENV) $(VENV_COMPILED) build dist src/*.egg-info .mypy_cache .ruff_cache .pytest_cache .fuzz
