"""The ``recsys-course`` command (instructors' tools for the exercises).

    recsys-course student-copies SRC OUT
    recsys-course grade SUBMISSIONS --out grades.csv [--timeout S] [--details D.csv]
    recsys-course list-exercises

Chapter: 00 (how the exercises work). Needs ``nbformat``, and ``nbclient`` + ``ipykernel``
for grading.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recsys-course",
        description="Instructor tools for the course 'Ranking for recommender systems, "
                    "from scratch': student copies of the notebooks and grading.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "student-copies", help="write the notebooks without their solutions",
        description="For every notebook under SRC, write a copy under OUT where code cells "
                    "tagged 'solution' become stubs raising NotImplementedError, markdown "
                    "cells tagged 'solution' and cells tagged 'remove-student' are removed, "
                    "answer blocks are cut and outputs cleared.")
    p.add_argument("src", metavar="SRC", help="folder with the instructor notebooks")
    p.add_argument("out", metavar="OUT", help="folder for the student copies")

    g = sub.add_parser(
        "grade", help="run submitted notebooks and write a table of passed checks",
        description="Run every submission (SUBMISSIONS/<student>__<notebook>.ipynb or "
                    "SUBMISSIONS/<student>/<notebook>.ipynb) in a fresh kernel with "
                    "RECSYS_SMOKE=1 and write one CSV row per (student, notebook) with "
                    "PASS/FAIL/TODO/ERROR/NOT RUN per exercise.")
    g.add_argument("submissions", metavar="SUBMISSIONS", help="folder of submitted notebooks")
    g.add_argument("--out", default="grades.csv", help="CSV to write (default: grades.csv)")
    g.add_argument("--timeout", type=float, default=600,
                   help="time limit per notebook in seconds (default: 600)")
    g.add_argument("--details", metavar="CSV", default=None,
                   help="also write the feedback of every exercise to this CSV")
    g.add_argument("--executed", metavar="DIR", default=None,
                   help="also save the executed notebooks in this folder")
    g.add_argument("--kernel", default="python3", help="Jupyter kernel name (default: python3)")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress lines")

    sub.add_parser("list-exercises", help="list the registered exercises and their checks")
    # bench: arguments are those of `python -m recsys_course.perf.bench` (see its --help)
    sub.add_parser("bench", add_help=False,
                   help="time DeepFM and DIN training: the course's trainer vs torch-rechub's")
    return parser


def _require(*modules: str) -> None:
    import importlib.util
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        sys.exit(f"recsys-course: this command needs {', '.join(missing)} "
                 f"(pip install {' '.join(missing)})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:  # everything after it belongs to the benchmark's own parser
        from .perf.bench import main as bench_main
        return bench_main(argv[1:])
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "student-copies":
        _require("nbformat")
        from .exercises.student import make_student_copies
        written = make_student_copies(args.src, args.out)
        for path, n_stubs in written:
            print(f"{path}  ({n_stubs} solution cell{'s' if n_stubs != 1 else ''} stubbed)")
        print(f"{len(written)} notebook(s) written to {args.out}")
        return 0
    if args.command == "grade":
        _require("nbformat", "nbclient", "ipykernel")
        from .exercises.grade import grade
        rows = grade(args.submissions, args.out, timeout=args.timeout,
                     details_csv=args.details, executed_dir=args.executed,
                     kernel_name=args.kernel, verbose=not args.quiet)
        statuses = Counter(row["status"] for row in rows)
        summary = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
        print(f"graded {len(rows)} notebook(s) ({summary or 'none'}); wrote {args.out}")
        return 0
    if args.command == "list-exercises":
        from .exercises.core import load_all
        for ex in load_all().values():
            print(f"{ex.id:30s} {ex.func_name:30s} {ex.title}")
        return 0
    parser.error(f"unknown command {args.command}")  # pragma: no cover
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
