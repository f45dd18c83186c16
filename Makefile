# Deploy settings (Cloud Functions 2nd gen). MEMORY must hold the service
# (about 60 MB) plus CONCURRENCY traced children of CHILD_MEMORY_MB each.
FUNCTION_NAME ?= python_tracer
RUNTIME ?= python312
MEMORY ?= 512Mi
CONCURRENCY ?= 2
CHILD_MEMORY_MB ?= 160
TIMEOUT ?= 30s
MAX_INSTANCES ?= 20
REGION_FLAG ?=

PYTHON ?= python3
VENV ?= .venv
PORT ?= 8081
BIN = $(VENV)/bin

.PHONY: build test emulator deploy fixtures bench clean

# The tracer's per-step work in C (tracer/_speedups.c). Where it is not
# built, tracer/speedups.py falls back to Python: the same record, slower.
PY_CONFIG := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"), sysconfig.get_paths()["include"])')
SPEEDUPS = tracer/_speedups$(word 1,$(PY_CONFIG))

build: $(VENV)/.built $(SPEEDUPS)

$(SPEEDUPS): tracer/_speedups.c
	$(CC) -O2 -Wall -Werror -shared -fPIC -I$(word 2,$(PY_CONFIG)) $< -o $@

$(VENV)/.built: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

CHROMIUM ?= /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

test: build $(VENV)/.test-built $(CHROMIUM)
	$(BIN)/python -m pytest -q tests

# What only the tests need stays out of requirements.txt, which is deployed.
$(VENV)/.test-built: tests/requirements.txt $(VENV)/.built
	$(BIN)/pip install --quiet -r tests/requirements.txt
	touch $@

# The browser test drives Debian's Chromium (browser downloads are not used).
$(CHROMIUM):
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium || \
		($(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium)

emulator: build
	$(BIN)/functions-framework --target service --port $(PORT)

# Rewrites res/*.json from the current tracer: review the diff before committing.
fixtures: build
	$(BIN)/python -m tests.fixtures

# Timings are reported, never asserted.
bench: build
	$(BIN)/python -m bench.performance
	$(BIN)/python -m bench.isolation

# The deployed function runs CPython 3.12: the C code is built for it here
# and uploaded (.gcloudignore lists what is not); without a local 3.12 the
# service runs their Python fallback.
DEPLOY_PYTHON ?= python3.12

deploy:
	-$(MAKE) --no-print-directory PYTHON=$(DEPLOY_PYTHON) tracer/_speedups.cpython-312-x86_64-linux-gnu.so
	gcloud functions deploy $(FUNCTION_NAME) --gen2 --entry-point service --runtime $(RUNTIME) \
		--memory $(MEMORY) --timeout $(TIMEOUT) --max-instances $(MAX_INSTANCES) $(REGION_FLAG) \
		--set-env-vars TRACER_CONCURRENCY=$(CONCURRENCY),TRACER_MEMORY_MB=$(CHILD_MEMORY_MB) \
		--source . --allow-unauthenticated --trigger-http

clean:
	rm -rf $(VENV) .pytest_cache build tracer/_speedups.*.so
