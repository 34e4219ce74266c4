# The two commands of the README: `make run` executes the series, `make test` tests it.
# Both create .venv and install requirements.txt first, when missing or out of date.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
READY  := $(VENV)/.requirements-installed

.PHONY: run test lint unit notebooks data stamp bench clean

$(READY): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(READY)

run: $(READY)            ## execute every notebook top to bottom, saving outputs in place
	$(PY) scripts/run_notebooks.py notebooks/[0-9]*.ipynb

test: lint unit notebooks  ## lint, unit tests (numbers in prose included), then every notebook under nbval

lint: $(READY)           ## ruff, with the rules in ruff.toml
	$(PY) -m ruff check utils scripts tests notebooks

unit: $(READY)           ## the unit tests, in two worker processes (pytest-xdist): one per core of the CI machine
	$(PY) -m pytest -n 2 tests

notebooks: $(READY)      ## every notebook under nbval, two pytest processes at a time (see the script's docstring)
	$(PY) scripts/test_notebooks.py

data: $(READY)           ## regenerate the held-out sets in data/ and their manifest
	$(PY) scripts/make_data.py

stamp: $(READY)          ## write the repository address (git remote origin, else scripts/repository.json) into every notebook
	$(PY) scripts/stamp_colab.py $(if $(URL),--url $(URL))

bench: $(READY)          ## speed and training-time benchmark -> bench/results.json, bench/results.md
	$(PY) scripts/bench.py

clean:
	rm -rf models .pytest_cache
