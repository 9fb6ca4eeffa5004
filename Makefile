# make demo: set-up, demo runs written to runs/, TensorBoard started.
# make test: set-up, the whole test suite (browser tests included).
# make bench: set-up, the benchmark table (benchmarks/RESULTS.md).
# make test-fast: the fast lane while iterating (no browser, nothing slow).

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PORT ?= 6006
TF_PACKAGE ?= tensorflow-cpu==2.21.0
# The tests' reference Keras 2 Tokenizer; its version follows TensorFlow's (setup.py says why --no-deps).
TF_KERAS_PACKAGE ?= tf_keras==2.21.0
# Test processes: most test files keep one core busy (TensorFlow, TensorBoard, Chromium), so two
# files at once (pytest-xdist, a file's tests together) took the suite from 13.4 to 6.1 minutes
# on 2 cores; each worker holds its own TensorFlow (~1.5 GB).
TEST_WORKERS ?= 2

.PHONY: demo test test-fast bench browser proto clean

$(STAMP): setup.py pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TF_PACKAGE)" "keras>=3.15,<4"
	$(PY) -m pip install -q -e ".[test,beam]"
	$(PY) -m pip install -q --no-deps "$(TF_KERAS_PACKAGE)"
	touch $(STAMP)

# Debian's Chromium for the browser tests; Playwright drives it (never `playwright install`).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium chromium-driver; }

demo: $(STAMP)
	$(VENV)/bin/tb-filters demo --logdir runs
	$(VENV)/bin/tensorboard --logdir runs --host 127.0.0.1 --port $(PORT) --samples_per_plugin filters=0

test: $(STAMP) browser
	node --test tests/js/
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile tests

test-fast: $(STAMP)
	node --test tests/js/
	$(PY) -m pytest -q -m "not e2e and not slow" tests

bench: $(STAMP) browser
	$(PY) benchmarks/run.py

# Regenerates filters_pb2.py with a protoc as old as TensorBoard's gencode (6.31).
proto:
	$(PY) -m pip install -q --target $(VENV)/protoc "grpcio-tools==1.74.0"
	PYTHONPATH=$(VENV)/protoc $(PY) -m grpc_tools.protoc -I. --python_out=. tb_filters/format/proto/filters.proto

clean:
	rm -rf $(VENV) runs build *.egg-info
