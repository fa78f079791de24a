"""The ``recsys-course`` command (instructors' tools for the exercises).

    recsys-course assign [NOTEBOOK ...] --out assignments [--seed S] [--points P]
    recsys-course grade SUBMISSIONS --out grades.csv [--autograders assignments]
                        [--timeout S] [--jobs N] [--details D.csv]
    recsys-course list-exercises
    recsys-course bench ...

``assign`` and ``grade`` need otter-grader (``pip install "recsys-course[instructor]"``);
see book/instructors.md. Chapter: 00 (how the exercises work).
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recsys-course",
        description="Instructor tools for the course 'Ranking for recommender systems, "
                    "from scratch': otter-grader assignments from the chapter notebooks, "
                    "and grading.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    a = sub.add_parser(
        "assign", help="build otter-grader assignments from the chapter notebooks",
        description="For each NOTEBOOK (default: every chapter notebook in notebooks/ with a "
                    "code exercise), write OUT/<notebook>/ with otter's student notebook "
                    "(student/), autograder folder (autograder/) and Gradescope zip "
                    "(autograder.zip). Each code exercise is one otter question: public "
                    "test = the chapter's check (0 points), hidden test = the same check "
                    "run in a fresh process on secretly salted cases (all the points).")
    a.add_argument("notebooks", metavar="NOTEBOOK", nargs="*",
                   help="chapter notebooks (default: notebooks/*.ipynb)")
    a.add_argument("--out", default="assignments", help="output folder (default: assignments)")
    a.add_argument("--points", type=float, default=1, help="points per exercise (default: 1)")
    a.add_argument("--seed", type=int, default=None,
                   help="secret salt of the hidden cases (default: drawn at random)")
    a.add_argument("--package", default=None,
                   help="pip requirement that installs this package on Gradescope "
                        "(default: the course repository on GitHub)")
    a.add_argument("--no-run-tests", action="store_true",
                   help="skip otter's check that the solutions get full marks")

    g = sub.add_parser(
        "grade", help="grade a folder of submissions with otter and write a CSV",
        description="Grade every submission (SUBMISSIONS/<student>__<notebook>.ipynb or "
                    "SUBMISSIONS/<student>/<notebook>.ipynb; otter's export zips too) with "
                    "`otter run` (no Docker) and write one CSV row per (student, notebook): "
                    "status OK/TIMEOUT/CRASH/INVALID, points per question, score, note.")
    g.add_argument("submissions", metavar="SUBMISSIONS", help="folder of submitted notebooks")
    g.add_argument("--out", default="grades.csv", help="CSV to write (default: grades.csv)")
    g.add_argument("--autograders", "-a", default="assignments",
                   help="the folder `recsys-course assign` wrote, or one autograder zip "
                        "(default: assignments)")
    g.add_argument("--timeout", type=float, default=900,
                   help="time limit per submission in seconds (default: 900)")
    g.add_argument("--jobs", "-j", type=int, default=1,
                   help="submissions graded at once (default: 1)")
    g.add_argument("--details", metavar="CSV", default=None,
                   help="also write otter's feedback per question to this CSV")
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
                 "(pip install 'recsys-course[instructor]')")


def _default_notebooks() -> list[Path]:
    return sorted(Path("notebooks").glob("[0-9][0-9]_*.ipynb"))


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
    if args.command == "assign":
        _require("otter", "nbformat")
        import nbformat

        from .exercises.assign import DEFAULT_PACKAGE, assign, find_questions
        notebooks = [Path(p) for p in args.notebooks] or _default_notebooks()
        if not args.notebooks:  # chapters without a code exercise have nothing to grade
            notebooks = [p for p in notebooks if find_questions(nbformat.read(p, as_version=4))]
        if not notebooks:
            parser.error("no notebook to assign")
        for path in notebooks:
            print(f"{path}: building the otter assignment ...", flush=True)
            a = assign(path, args.out, points=args.points, seed=args.seed,
                       package=args.package or DEFAULT_PACKAGE,
                       run_tests=not args.no_run_tests)
            for q in a.questions:
                how = "salted random cases" if a.varied.get(q.name) else \
                    "the public cases (the check draws no random case)"
                print(f"  {q.name:32s} {q.check}({q.fn_name}); hidden test: {how}")
            if not args.no_run_tests:  # otter assign fails unless the solutions score fully
                print("  otter ran the solution notebook (RECSYS_SMOKE=1): full marks")
            print(f"  student notebook  {a.student}\n  autograder folder {a.autograder_dir}\n"
                  f"  Gradescope zip    {a.autograder_zip}")
        return 0
    if args.command == "grade":
        _require("otter", "nbformat")
        from .exercises.grade import grade
        rows = grade(args.submissions, args.out, args.autograders, timeout=args.timeout,
                     jobs=args.jobs, details_csv=args.details, verbose=not args.quiet)
        statuses = Counter(row["status"] for row in rows)
        summary = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
        print(f"graded {len(rows)} submission(s) ({summary or 'none'}); wrote {args.out}")
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
