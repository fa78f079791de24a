# Two commands set up and run everything on a fresh machine (Python 3.11, CPU):
#   make book   build the rendered book, executing every notebook in full mode
#   make test   unit tests, every notebook in smoke mode (nbval), the browser test
# Both create .venv with the pinned environment first. RECSYS_COURSE_DATA may point at
# a folder holding the datasets (CI: ../shared/data); otherwise they are downloaded
# into data/ on first use.

PYTHON ?= python3.11
# Idle OpenMP threads sleep instead of spinning. The chapters train on one thread, where
# this costs nothing, and a spinning pool of another process (two threads on a 2-core
# machine also running the tests) was measured 5-30x slower. Runs that use two threads
# start their own processes with the library's own policy (bench._worker_env,
# scale.ddp_train), where spinning makes short parallel operations much cheaper.
export OMP_WAIT_POLICY ?= PASSIVE
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: book test env clean

env: $(STAMP)

# torch is installed first, on its own, so that TORCH_INDEX can point pip at the CPU
# builds (e.g. TORCH_INDEX=https://download.pytorch.org/whl/cpu on a laptop; plain PyPI
# serves a multi-GB CUDA build on Linux). Left empty, pip's own configuration decides.
TORCH_INDEX ?=
PIP := $(BIN)/pip install --quiet --disable-pip-version-check

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) torch==2.13.0
	$(PIP) -r requirements.txt
	$(PIP) --no-deps --no-build-isolation -e .
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . --all -W

test: $(STAMP)
	bash tools/install_chromium.sh
	RECSYS_SMOKE=1 $(BIN)/pytest tests notebooks --nbval-lax --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider --durations=15

clean:
	rm -rf _build artifacts student .pytest_cache
