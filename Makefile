# Two commands for a fresh machine: `make demo` and `make test`. Both create the virtual environments they need.
# Dependency policy (README "Install and dependency policy"): pyproject.toml declares tested ranges; the exact
# versions of each CI leg live in constraints/ and are applied here.
PYTHON ?= python3
VENV ?= .venv
VENV_VLLM ?= .venv-vllm
PY := $(VENV)/bin/python
PY_VLLM := $(VENV_VLLM)/bin/python
STAMP := $(VENV)/.installed-stamp
STAMP_VLLM := $(VENV_VLLM)/.installed-stamp
EXTRAS := dev,analysis,deepspeed,eval
# -qq: errors only (the registry mirrors on our machines print a warning per package otherwise)
PIP_INSTALL = -m pip install -qq --disable-pip-version-check
# The vLLM leg skips the slow end-to-end runs (marker `slow`); the default leg runs everything.
VLLM_LEG_PYTEST ?= -m "not slow"

.PHONY: setup setup-vllm-stack check-vllm-pin browser demo test test-default test-vllm-stack clean

$(STAMP): pyproject.toml constraints/common.txt constraints/cpu.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) $(PIP_INSTALL) -c constraints/cpu.txt -e '.[$(EXTRAS)]'
	$(PY) .ci/check_stack.py constraints/cpu.txt
	touch $(STAMP)

setup: $(STAMP)  ## the package, its test tools, the analysis, deepspeed and eval extras into .venv (constraints/cpu.txt)

# The pinned vLLM release's torch / torchvision / transformers (constraints/vllm.txt), on CPU, without vLLM itself.
# Installed first, as on a user's machine that already has them; then `pip install -e .` must keep them
# (check_stack fails otherwise).
$(STAMP_VLLM): pyproject.toml constraints/common.txt constraints/vllm.txt
	test -x $(PY_VLLM) || $(PYTHON) -m venv $(VENV_VLLM)
	$(PY_VLLM) $(PIP_INSTALL) -c constraints/vllm.txt torch torchvision transformers
	$(PY_VLLM) $(PIP_INSTALL) -c constraints/common.txt -e '.[$(EXTRAS)]'
	$(PY_VLLM) .ci/check_stack.py constraints/vllm.txt
	touch $(STAMP_VLLM)

setup-vllm-stack: $(STAMP_VLLM)  ## .venv-vllm: the suite's environment on the vLLM release's stack (CPU)

check-vllm-pin: setup  ## `pip install -e '.[vllm]' --dry-run` in a fresh venv resolves the pinned vLLM (metadata only)
	$(PY) .ci/check_vllm_pin.py

demo: setup  ## the main job on the embedded default (tiny model + synthetic videos), CPU, a few minutes
	$(VENV)/bin/video-ktr demo --out runs/demo

browser:  ## headless Chromium for the viewer tests (Debian package; idempotent, needs root or sudo)
	command -v chromium >/dev/null || (apt-get update && apt-get install -y --no-install-recommends chromium) \
	  || echo "could not install chromium: the viewer's browser tests will be skipped"

test-default: setup browser  ## the whole suite on the default stack (constraints/cpu.txt)
	$(PY) -m pytest -q

test-vllm-stack: setup-vllm-stack browser  ## the suite on the vLLM release's stack, without the slow end-to-end runs
	$(PY_VLLM) -m pytest -q $(VLLM_LEG_PYTEST)

test: test-default test-vllm-stack check-vllm-pin  ## CI: both legs + the vLLM pin check

clean:
	rm -rf runs .pytest_cache
