# Two commands do everything on a fresh machine with Python 3.11 and make:
#   make lab    create .venv if missing, install, open JupyterLab on course/
#   make test   create .venv if missing, install, run the whole test suite
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# nbgrader shells out to alembic, which lives in the venv's bin/
export PATH := $(BIN):$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

LAB_STAMP := $(VENV)/.stamp-course
DEV_STAMP := $(VENV)/.stamp-dev
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
PORT ?= 8888
PYTEST_ARGS ?=
BENCH_ARGS ?=
# The project's own Jupyter settings (jupyter-config/README.md), ahead of any already set.
LAB_CONFIG := $(CURDIR)/jupyter-config

.PHONY: lab test test-fast release check lint bench clean-venv help

help:
	@echo "make lab        set up and open JupyterLab on course/"
	@echo "make test       set up and run every test"
	@echo "make test-fast  the suite without real nbgrader, kernels or the browser"
	@echo "make check NB=00   run one notebook's visible checks (a verdict per exercise)"
	@echo "make release    regenerate course/ from solutions/"
	@echo "make lint       ruff"
	@echo "make bench      every budget (widgets, notebooks, cells, grading, nnlib vs PyTorch)"
	@echo "                BENCH_ARGS=\"--only widgets\" runs one part (see bench/README.md)"

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(LAB_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[course]'
	touch $@

$(DEV_STAMP): pyproject.toml $(LAB_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[course,dev]'
	touch $@

lab: $(LAB_STAMP)
	@# nbgrader's assignment list wants a world-writable exchange (as /srv/nbgrader/exchange is)
	@mkdir -p autograder/exchange && chmod 777 autograder/exchange
	JUPYTER_CONFIG_PATH="$(LAB_CONFIG)$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" \
	  $(BIN)/jupyter lab --notebook-dir=course $(ROOT_FLAG) --port=$(PORT) $(LAB_ARGS)

test: $(DEV_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(DEV_STAMP)
	$(BIN)/python -m pytest -m "not slow and not browser" $(PYTEST_ARGS)

release: $(LAB_STAMP)
	$(BIN)/python -m autograder.release

check: $(LAB_STAMP)
	$(BIN)/nnlib-check $(NB)

lint: $(DEV_STAMP)
	$(BIN)/ruff check nnlib nncourse tests autograder $(wildcard bench)

bench: $(DEV_STAMP)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean-venv:
	rm -rf $(VENV)
