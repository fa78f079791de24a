#!/usr/bin/env bash
# make colab-check: run the notebooks in full mode on the Colab stack.
#
#   tools/colab_check.sh [notebooks/NN_x.ipynb ...]     (default: every notebook)
#
# 1. Builds, once, a venv outside the repository (COLAB_ENV, default ../colab-env) with
#    Python 3.13 (COLAB_PYTHON, default python3.13; pyenv's is found too) and the library
#    versions of tools/colab-stack.txt. It is rebuilt only when that file changes. PyPI's
#    torch for Linux is the CUDA build (about 5 GB with its libraries); it runs on CPU.
# 2. Installs the package the way a notebook's first cell does on Colab, not editable:
#    pip install ".[reference]" from a copy of the repository's tracked files (with their
#    uncommitted changes), with the stack as constraints so pip cannot swap torch & co.
# 3. Runs tools/execute_notebooks.py with that interpreter: one line per notebook (mode,
#    seconds, ok or the error), executed copies and times.csv in COLAB_OUT.
# Exits non-zero if a notebook failed. Not part of CI: it takes long and needs the stack.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
env_dir=${COLAB_ENV:-$(cd .. && pwd)/colab-env}
out=${COLAB_OUT:-artifacts/colab-check}
stack=$repo/tools/colab-stack.txt
[ $# -gt 0 ] || set -- notebooks/*.ipynb

case "$(cd "$(dirname "$env_dir")" 2>/dev/null && pwd)/$(basename "$env_dir")/" in
    "$repo"/*) echo "colab_check.sh: COLAB_ENV=$env_dir lies inside the repository; put it outside" >&2
               exit 1 ;;
esac

find_python() {
    local want=${COLAB_PYTHON:-python3.13} candidate
    for candidate in "$want" $(command -v pyenv >/dev/null 2>&1 && ls -d "$(pyenv root)"/versions/3.13*/bin/python3.13 2>/dev/null) \
                     "$HOME"/.pyenv/versions/3.13*/bin/python3.13; do
        if command -v "$candidate" >/dev/null 2>&1 && \
           "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then
            command -v "$candidate"; return 0
        fi
    done
    return 1
}

# 1. The stack, once
stamp=$env_dir/.colab-stack
if ! cmp -s "$stack" "$stamp"; then
    python=$(find_python) || { echo "colab_check.sh: Python 3.13 not found (set COLAB_PYTHON)" >&2; exit 1; }
    echo "colab_check.sh: building the Colab stack in $env_dir with $python (downloads ~5 GB once)"
    start=$(date +%s)
    "$python" -m venv --clear "$env_dir"
    "$env_dir/bin/pip" install -q --disable-pip-version-check -r "$stack"
    # what Colab itself provides to run notebooks
    "$env_dir/bin/pip" install -q --disable-pip-version-check -c "$stack" nbclient nbformat ipykernel
    cp "$stack" "$stamp"
    echo "colab_check.sh: stack built in $(( $(date +%s) - start )) s"
fi

# 2. The package, as the first cell installs it
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/src"
git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$tmp/src"
start=$(date +%s)
"$env_dir/bin/pip" install -q --disable-pip-version-check -c "$stack" "$tmp/src[reference]"
"$env_dir/bin/pip" install -q --disable-pip-version-check --no-deps --force-reinstall "$tmp/src"
echo "colab_check.sh: installed recsys-course[reference] from $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)') in $(( $(date +%s) - start )) s"

# 3. The notebooks, with the installed package (not this checkout) on the path
unset PYTHONPATH
where=$(cd notebooks && "$env_dir/bin/python" -c 'import recsys_course; print(recsys_course.__file__)')
case "$where" in
    "$env_dir"/*) ;;
    *) echo "colab_check.sh: the notebooks would import recsys_course from $where, not $env_dir" >&2; exit 1 ;;
esac
"$env_dir/bin/python" -c 'import platform, torch, numpy, pandas, sklearn; print("colab_check.sh: python", platform.python_version(), "torch", torch.__version__, "numpy", numpy.__version__, "pandas", pandas.__version__, "scikit-learn", sklearn.__version__)'
mkdir -p "$out"
"$env_dir/bin/python" tools/execute_notebooks.py "$@" --out "$out" --csv "$out/times.csv"
