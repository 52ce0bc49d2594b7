# Two commands for a fresh machine: `make demo` and `make test`. Both create .venv here if missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: setup browser demo test clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,eval]'
	touch $(STAMP)

setup: $(STAMP)  ## install the package and its test tools into .venv

demo: setup  ## the main job on the embedded default (tiny model + synthetic videos), CPU, a few minutes
	$(VENV)/bin/video-ktr demo --out runs/demo

browser:  ## headless Chromium for the viewer tests (Debian package; idempotent, needs root or sudo)
	command -v chromium >/dev/null || (apt-get update && apt-get install -y --no-install-recommends chromium) \
	  || echo "could not install chromium: the viewer's browser tests will be skipped"

test: setup browser  ## the whole test suite
	$(PY) -m pytest -q

clean:
	rm -rf runs .pytest_cache
