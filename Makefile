# All targets create .venv when it is missing and install the project into it.
# TORCH_SPEC selects the torch build: the CPU build by default; see README for CUDA.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= dev,data,audio,track,notebooks
STAMP := $(VENV)/.installed

.PHONY: venv test lint typecheck pytest figures figures-plan docs-figures bench clean data-deps notebooks lab

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

venv: $(STAMP)

# Debian's Fashion-MNIST (used by the empirical datasets); best effort where apt is available.
data-deps:
	@bash scripts/install_data_deps.sh

lint: $(STAMP)
	$(PY) -m ruff check linear_theory empirical figures tests benchmarks examples
	$(PY) -m ruff format --check linear_theory empirical figures tests benchmarks examples

typecheck: $(STAMP)
	$(PY) -m mypy linear_theory empirical figures

pytest: $(STAMP) data-deps
	$(PY) -m pytest -n 2 --dist loadfile -q

test: lint typecheck pytest

# All figures, one progress display for the whole job; then results/claims.json, claims.md and
# summary.md, and the README's "What these runs show" spliced from claims.json.
figures: $(STAMP) data-deps
	$(PY) -m figures all
	$(PY) -m figures claims --readme-file README.md

# What `make figures` would run: per figure its runs, cached and to train (nothing runs).
figures-plan: $(STAMP)
	$(PY) -m figures all --dry-run

# Committed copies of the drawn PNGs for the README: docs/figures/NAME.png, at most 300 KB each.
docs-figures: $(STAMP)
	$(PY) -m figures docs

bench: $(STAMP) data-deps
	$(PY) -m benchmarks

# The teaching notebooks: write examples/notebooks/NAME.ipynb from NAME.py (a jupytext pair:
# whichever of the two was edited last wins, so edits made in Jupyter flow back to the .py).
NOTEBOOKS := $(wildcard examples/notebooks/*.py)
notebooks: $(STAMP) data-deps
	$(VENV)/bin/jupytext --sync $(NOTEBOOKS)
	@echo "Open them with:  make lab    (installs JupyterLab into $(VENV) and starts it there)"
	@echo "or:              $(VENV)/bin/jupyter lab examples/notebooks    (JupyterLab installed)"

# JupyterLab in the project's environment (the `lab` extra), opened on the notebooks.
lab: notebooks
	test -x $(VENV)/bin/jupyter-lab || $(PY) -m pip install -q -e ".[lab]"
	$(VENV)/bin/jupyter lab examples/notebooks

clean:
	rm -rf $(VENV) results figures/out .pytest_cache .mypy_cache .ruff_cache
