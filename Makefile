# Deploy settings (Cloud Functions 2nd gen). An instance takes CONCURRENCY
# requests at once (Cloud Run's request concurrency); functions-framework runs
# as many gunicorn threads and the sandbox as many traced children, so no
# request waits inside an instance behind a long trace (the kernel shares the
# CPUs; past CONCURRENCY Cloud Run starts another instance). Measured on 2
# CPUs (README, Speed): 4 children per CPU hold 30% more 1000-step traces per
# second than 1 per CPU, and with 8 clients mixing hostile programs in, the
# normal ones' p99 is 0.1 s instead of 11 s. MEMORY must hold the service
# (about 60 MB), its 16 spare children (about 3 MB each: TRACER_SPARES) and
# CONCURRENCY children of CHILD_MEMORY_MB each.
FUNCTION_NAME ?= python_tracer
RUNTIME ?= python312
CPU ?= 1
CONCURRENCY ?= 4
MEMORY ?= 1Gi
CHILD_MEMORY_MB ?= 160
TIMEOUT ?= 30s
MAX_INSTANCES ?= 20
REGION_FLAG ?=

PYTHON ?= python3
VENV ?= .venv
PORT ?= 8081
BIN = $(VENV)/bin

.PHONY: build test emulator deploy fixtures bench clean asan fuzz

# The tracer's per-step work in C (tracer/_speedups.c). Where it is not
# built, tracer/speedups.py falls back to Python: the same record, slower.
PY_CONFIG := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"), sysconfig.get_paths()["include"])')
SPEEDUPS = tracer/_speedups$(word 1,$(PY_CONFIG))

build: $(VENV)/.built $(SPEEDUPS)

# _speedups.c includes its parts (tracer/c/*.c, split by job) as one compilation unit.
SPEEDUPS_SOURCES = tracer/_speedups.c tracer/_json_check.c tracer/_collector.c tracer/_kernel.c tracer/_immortal.c
SPEEDUPS_PARTS = $(wildcard tracer/c/*.c) tracer/_json_check.h tracer/_collector.h tracer/_kernel.h tracer/_immortal.h

$(SPEEDUPS): $(SPEEDUPS_SOURCES) $(SPEEDUPS_PARTS)
	$(CC) -O2 -Wall -Werror -shared -fPIC -I$(word 2,$(PY_CONFIG)) $(SPEEDUPS_SOURCES) -o $@

$(VENV)/.built: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

test: build $(VENV)/.test-built $(VENV)/.system-packages
	$(BIN)/python -m pytest -q tests

# What only the tests need stays out of requirements.txt, which is deployed.
$(VENV)/.test-built: tests/requirements.txt $(VENV)/.built
	$(BIN)/pip install --quiet -r tests/requirements.txt
	touch $@

# What the tests need from Debian: Chromium for the browser test (browser
# downloads are not used); gVisor's runsc, and python3 with venv and headers
# for an unprivileged user, to run tests/security in those environments.
SYSTEM_PACKAGES = chromium runsc python3-dev python3-venv
APT_INSTALL = $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(SYSTEM_PACKAGES)

$(VENV)/.system-packages: $(VENV)/.built
	dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1 || $(APT_INSTALL) || ($(SUDO) apt-get update && $(APT_INSTALL))
	touch $@

emulator: build
	$(BIN)/functions-framework --target service --port $(PORT)

# The C code built with AddressSanitizer and UndefinedBehaviorSanitizer, under
# the tests that trace in process (the sandbox's children run under an
# address-space limit that ASAN's shadow memory cannot fit in): a copy of the
# project in build/asan with the sanitized extension, CPython's allocator
# replaced by malloc so ASAN sees every object. Any report fails the run.
ASAN_DIR = build/asan
ASAN_TESTS = tests/test_speedups.py tests/test_fuzz.py tests/test_fixtures.py tests/test_values.py \
	tests/test_heap.py tests/test_steps.py tests/test_delta.py tests/test_outcomes.py tests/test_program_io.py \
	tests/test_imports.py tests/test_no_leaks.py tests/test_cli.py
SANITIZERS = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

asan: build $(VENV)/.test-built
	rm -rf $(ASAN_DIR) && mkdir -p $(ASAN_DIR)
	cp -r main.py tracer tests res bench $(ASAN_DIR)/
	rm -f $(ASAN_DIR)/tracer/*.so
	$(CC) -O1 -g -Wall -Werror $(SANITIZERS) -shared -fPIC -I$(word 2,$(PY_CONFIG)) \
		$(addprefix $(ASAN_DIR)/,$(SPEEDUPS_SOURCES)) -o $(ASAN_DIR)/$(SPEEDUPS)
	cd $(ASAN_DIR) && LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
		PYTHONMALLOC=malloc ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		$(abspath $(BIN))/python -m pytest -q -p no:cacheprovider $(ASAN_TESTS)

# The fuzz test at length: TRACER_FUZZ_PROGRAMS generated programs (CI runs 150).
FUZZ_PROGRAMS ?= 5000
fuzz: build $(VENV)/.test-built
	TRACER_FUZZ_PROGRAMS=$(FUZZ_PROGRAMS) $(BIN)/python -m pytest -q -s tests/test_fuzz.py

# Rewrites res/*.json from the current tracer: review the diff before committing.
fixtures: build
	$(BIN)/python -m tests.fixtures

# Timings are reported, never asserted.
bench: build
	$(BIN)/python -m bench.performance
	$(BIN)/python -m bench.isolation
	$(BIN)/python -m bench.end_to_end

# The deployed function runs CPython 3.12: the C code is built for it here
# and uploaded (.gcloudignore lists what is not); without a local 3.12 the
# service runs their Python fallback.
DEPLOY_PYTHON ?= python3.12

# The execution environment of the Cloud Run service under the function.
# gen2 (a microVM with a full Linux kernel) is the default: there the fork
# server gets a user namespace, an empty pivoted root and Landlock. gen1 is
# gVisor: there the sandbox runs too, with a chroot into an empty directory
# instead of the pivot and no Landlock (README, Isolation). Cloud Run names
# the service after the function, underscores as hyphens.
EXECUTION_ENVIRONMENT ?= gen2
RUN_SERVICE = $(subst _,-,$(FUNCTION_NAME))

deploy:
	-$(MAKE) --no-print-directory PYTHON=$(DEPLOY_PYTHON) tracer/_speedups.cpython-312-x86_64-linux-gnu.so
	@echo "deploying $(FUNCTION_NAME) on Cloud Run's $(EXECUTION_ENVIRONMENT) execution environment" \
		"(gen2: full kernel, every isolation layer; gen1: gVisor, chroot instead of pivot_root, no Landlock)"
	gcloud functions deploy $(FUNCTION_NAME) --gen2 --entry-point service --runtime $(RUNTIME) \
		--memory $(MEMORY) --cpu $(CPU) --concurrency $(CONCURRENCY) --timeout $(TIMEOUT) \
		--max-instances $(MAX_INSTANCES) $(REGION_FLAG) \
		--set-env-vars THREADS=$(CONCURRENCY),TRACER_CONCURRENCY=$(CONCURRENCY),TRACER_MEMORY_MB=$(CHILD_MEMORY_MB) \
		--source . --allow-unauthenticated --trigger-http
	gcloud run services update $(RUN_SERVICE) --execution-environment $(EXECUTION_ENVIRONMENT) $(REGION_FLAG)

clean:
	rm -rf $(VENV) .pytest_cache build tracer/_speedups.*.so
