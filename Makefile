# Two commands for a fresh machine: `make demo` and `make test`. Both create .venv here if missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: setup demo test clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)  ## install the package and its test tools into .venv

demo: setup  ## the main job on the embedded default (tiny model + synthetic videos), CPU, a few minutes
	$(VENV)/bin/video-ktr demo --out runs/demo

test: setup  ## the whole test suite
	$(PY) -m pytest -q

clean:
	rm -rf runs .pytest_cache
