#!/usr/bin/env bash
# Build the book exactly as CI does: every notebook executed, warnings are errors.
#   tools/build_book.sh                 # full build into _build/html
#   RECSYS_SMOKE=1 tools/build_book.sh  # quick build: notebooks shrink their work
# Extra arguments go to jupyter-book (for example --path-output /tmp/book).
# Prints the wall-clock time of the build at the end.
#
# After the build it stamps the commit the book was built from into the copies of the
# notebooks that the built book serves for download (_build/html/_sources): their Colab
# install cell then installs the package at exactly that commit, and falls back to the
# branch or tag of _config.yml when the commit cannot be installed (never pushed).
# Outside a git checkout nothing is stamped: the cells install that branch or tag.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${VENV:-.venv}"
jb="$venv/bin/jupyter-book"
[ -x "$jb" ] || jb="$(command -v jupyter-book)"
python="$venv/bin/python"
[ -x "$python" ] || python="$(command -v python3)"

out=.
prev=""
for arg in "$@"; do
    case "$arg" in --path-output=*) out=${arg#--path-output=} ;; esac
    [ "$prev" = "--path-output" ] && out=$arg
    prev=$arg
done

start=$(date +%s)
"$jb" build . --all -W "$@"
echo "book built in $(( $(date +%s) - start )) s"

if commit=$(git rev-parse HEAD 2>/dev/null); then
    "$python" tools/nb_build.py --stamp "$commit" "$out/_build/html/_sources"
    git diff --quiet HEAD -- 2>/dev/null || \
        echo "note: uncommitted changes: the book differs from $commit, which the downloads install"
else
    echo "not a git checkout: the notebooks in the book install the branch or tag of _config.yml"
fi
