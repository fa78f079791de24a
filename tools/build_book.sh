#!/usr/bin/env bash
# Build the book exactly as CI does: every notebook executed, warnings are errors.
#   tools/build_book.sh                 # full build into _build/html
#   RECSYS_SMOKE=1 tools/build_book.sh  # quick build: notebooks shrink their work
# Extra arguments go to jupyter-book (for example --path-output /tmp/book).
# Prints the wall-clock time of the build at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
jb="${VENV:-.venv}/bin/jupyter-book"
[ -x "$jb" ] || jb="$(command -v jupyter-book)"
start=$(date +%s)
"$jb" build . --all -W "$@"
echo "book built in $(( $(date +%s) - start )) s"
