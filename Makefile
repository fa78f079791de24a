# Two commands set up and run everything on a fresh machine (Python 3.11 to 3.13, CPU):
#   make book   build the rendered book, executing every notebook in full mode
#   make test   unit tests, every notebook in smoke mode (nbval), the browser test
# Both create .venv with the pinned environment first. RECSYS_COURSE_DATA may point at
# a folder holding the datasets (CI: ../shared/data); otherwise they are downloaded
# into data/ on first use.
#   make colab-check   (not part of CI) every notebook in full mode on the Colab stack,
#                      a Python 3.13 venv outside the repository (COLAB_ENV)

# The interpreter that creates .venv: python3.11 (the version the pins are tested with)
# if there is one, else python3 if it is 3.11 to 3.13; `make PYTHON=...` chooses another.
SUPPORTED_PYTHONS := 3.11, 3.12 or 3.13
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell command -v python3.11 2>/dev/null || \
	{ python3 -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' \
	  2>/dev/null && command -v python3; })
endif
# Idle OpenMP threads sleep instead of spinning. The chapters train on one thread, where
# this costs nothing, and a spinning pool of another process (two threads on a 2-core
# machine also running the tests) was measured 5-30x slower. Runs that use two threads
# start their own processes with the library's own policy (bench._worker_env,
# scale.ddp_train), where spinning makes short parallel operations much cheaper.
export OMP_WAIT_POLICY ?= PASSIVE
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: book test env clean colab-check assignments

env: $(STAMP)

# torch is installed first, on its own, so that TORCH_INDEX can point pip at the CPU
# builds (e.g. TORCH_INDEX=https://download.pytorch.org/whl/cpu on a laptop; plain PyPI
# serves a multi-GB CUDA build on Linux). Left empty, pip's own configuration decides.
TORCH_INDEX ?=
PIP := $(BIN)/pip install --quiet --disable-pip-version-check

$(STAMP): requirements.txt pyproject.toml
	@if [ -z "$(PYTHON)" ]; then \
		echo "make: no supported Python found: install Python $(SUPPORTED_PYTHONS)" \
		     "(python3.11 is the tested one) or run make PYTHON=/path/to/python3.1x" >&2; exit 1; fi
	@$(PYTHON) -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' || { \
		echo "make: $(PYTHON) is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())' 2>/dev/null)," \
		     "the course supports Python $(SUPPORTED_PYTHONS)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) torch==2.13.0
	$(PIP) -r requirements.txt
	$(PIP) --no-deps --no-build-isolation -e .
	touch $(STAMP)

# tools/build_book.sh runs `jupyter-book build . --all -W` and then stamps the commit
# into the notebooks the built book offers for download (their Colab install cell).
book: $(STAMP)
	VENV=$(VENV) bash tools/build_book.sh

test: $(STAMP)
	bash tools/install_chromium.sh
	RECSYS_SMOKE=1 $(BIN)/pytest tests notebooks --nbval-lax --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider --durations=15

# Every notebook in full mode on the Colab stack (tools/colab-stack.txt, Python 3.13),
# with the package installed as the notebooks' first cell does on Colab. Builds the venv
# COLAB_ENV on first use (about 5 GB: PyPI's torch for Linux is the CUDA build, which runs
# on CPU), outside the repository; later runs only reinstall the package. Not part of CI.
# NOTEBOOKS=notebooks/00_data_tour.ipynb runs a subset; results go to COLAB_OUT.
COLAB_ENV ?= $(abspath ..)/colab-env
COLAB_PYTHON ?= python3.13
COLAB_OUT ?= artifacts/colab-check
NOTEBOOKS ?= $(sort $(wildcard notebooks/*.ipynb))
colab-check:
	COLAB_ENV="$(COLAB_ENV)" COLAB_PYTHON="$(COLAB_PYTHON)" COLAB_OUT="$(COLAB_OUT)" \
		bash tools/colab_check.sh $(NOTEBOOKS)

# Instructors: otter-grader assignments (student notebook, autograder folder, Gradescope
# zip) for every chapter, in assignments/ (book/instructors.md).
assignments: $(STAMP)
	$(BIN)/recsys-course assign --out assignments

clean:
	rm -rf _build artifacts student assignments .pytest_cache
