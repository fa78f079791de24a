"""Grading a folder of submissions with otter-grader, without Docker.

Submissions (both layouts may be mixed in one folder)
-----------------------------------------------------
* ``SUBMISSIONS/<student>__<notebook>.ipynb`` (two underscores), e.g.
  ``ada__00_data_tour.ipynb``;
* ``SUBMISSIONS/<student>/<notebook>.ipynb`` (one folder per student).

Hidden files and ``.ipynb_checkpoints`` are skipped. A zip written by the student copy's
export cell may stand in for the notebook (``ada__00_data_tour.zip``).

How a submission is graded
--------------------------
1. ``otter run -a <autograder.zip> <submission>`` runs in its own process group (killed
   at the time limit): otter executes the notebook top to bottom in a fresh kernel, in
   smoke mode (``RECSYS_SMOKE=1``, as the zip's entry script sets on Gradescope), and
   scores it from the autograder's test files, never from what the notebook printed. The
   autograder of a notebook ``00_data_tour`` is ``ASSIGNMENTS/00_data_tour/autograder.zip``
   (the layout ``recsys-course assign`` writes), or the one zip given with
   ``--autograders``.
2. Otter's tests run inside the student's kernel, where the student's code ran first and
   could have rewritten the test files on disk or patched otter itself. So each question
   is graded a second time outside that kernel, without running the notebook: the
   definitions of the submission (top-level imports, functions, classes and constants of
   its code cells; no other statement) are executed in a fresh process that runs the
   hidden check of the autograder (its own ``recsys_hidden.py``, package copy and secret
   salt, extracted anew for every submission). A question keeps otter's points only if
   this out-of-kernel check passes too; the CSV's note names every question whose points
   it took back.

The CSV
-------
One row per (student, notebook), sorted: ``student, notebook, status, <one column per
question, e.g. ch00_click_rate: points earned>, score, max_score, note``.

``status`` is ``OK`` (otter graded it), ``TIMEOUT`` (the time limit was hit; no points),
``CRASH`` (otter could not finish: the kernel died, the notebook ended the process, ...;
no points) or ``INVALID`` (not a readable notebook or zip, no autograder for it, or otter
refused it, e.g. a notebook of another assignment). ``note`` says why. A question column
is empty when the question does not belong to the row's notebook.

Chapter: 00 (how the exercises work); used by instructors, not learners.
"""
from __future__ import annotations

import ast
import csv
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OK, TIMEOUT, CRASH, INVALID = "OK", "TIMEOUT", "CRASH", "INVALID"


@dataclass
class Submission:
    student: str
    notebook: str
    path: Path


@dataclass
class Result:
    submission: Submission
    status: str = OK
    note: str = ""
    points: dict[str, float] = field(default_factory=dict)      # question -> earned
    max_points: dict[str, float] = field(default_factory=dict)  # question -> possible
    feedback: dict[str, str] = field(default_factory=dict)      # question -> otter's output


# ----------------------------------------------------------------------------------------
# Finding submissions and autograders
# ----------------------------------------------------------------------------------------
def _visible(path: Path, root: Path) -> bool:
    return not any(p.startswith(".") for p in path.relative_to(root).parts)


def find_submissions(submissions_dir: str | Path) -> list[Submission]:
    """All submissions under ``submissions_dir`` (see the module docstring), sorted."""
    root = Path(submissions_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"no such folder: {root}")
    found = []
    for path in sorted([*root.glob("*.ipynb"), *root.glob("*.zip")]):
        if _visible(path, root):
            student, sep, notebook = path.stem.partition("__")
            found.append(Submission(student, notebook if sep else "", path))
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and _visible(p, root)):
        for path in sorted([*folder.rglob("*.ipynb"), *folder.rglob("*.zip")]):
            if _visible(path, root):
                notebook = path.relative_to(folder).with_suffix("").as_posix()
                found.append(Submission(folder.name, notebook, path))
    return sorted(found, key=lambda s: (s.student, s.notebook, str(s.path)))


def autograder_for(sub: Submission, autograders: Path) -> Path | None:
    """The autograder zip for ``sub``: ``autograders`` itself if it is a zip, else
    ``autograders/<notebook>/autograder.zip``."""
    if autograders.is_file():
        return autograders
    name = Path(sub.notebook).name
    path = autograders / name / "autograder.zip"
    return path if path.is_file() else None


def _readable(path: Path) -> str | None:
    """None if ``path`` looks like a notebook (or an otter export zip), else why not."""
    if path.suffix == ".zip":
        try:
            with zipfile.ZipFile(path) as z:
                if not any(n.endswith(".ipynb") for n in z.namelist()):
                    return "the zip holds no notebook"
        except zipfile.BadZipFile:
            return "not a zip file"
        return None
    try:
        with open(path, encoding="utf-8") as f:
            nb = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return f"not a notebook (not JSON: {type(e).__name__})"
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return "not a notebook (no list of cells)"
    return None


# ----------------------------------------------------------------------------------------
# The out-of-kernel check
# ----------------------------------------------------------------------------------------
_HIDDEN_CALL = re.compile(r"check_hidden\(env,\s*['\"](\w+)['\"],\s*['\"](\w+)['\"],"
                          r"\s*['\"](\w+)['\"]\)")
_NAME = re.compile(r"^name\s*=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)


def hidden_checks(tests_dir: Path) -> dict[str, tuple[str, str, str]]:
    """``{question: (chapter, check, learner's function)}`` from an autograder's tests."""
    found = {}
    for path in sorted(tests_dir.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        name, call = _NAME.search(text), _HIDDEN_CALL.search(text)
        if name and call:
            found[name.group(1)] = call.groups()
    return found


_POINTS = re.compile(r"^points\s*=\s*([0-9.]+)", re.MULTILINE)


def questions_of(autograder: Path) -> dict[str, float]:
    """``{question: points}`` of an autograder zip (from its test files)."""
    found = {}
    try:
        with zipfile.ZipFile(autograder) as z:
            for name in sorted(z.namelist()):
                if name.startswith("tests/") and name.endswith(".py"):
                    text = z.read(name).decode("utf-8", errors="replace")
                    q, points = _NAME.search(text), _POINTS.search(text)
                    if q:
                        found[q.group(1)] = float(points.group(1)) if points else 1.0
    except (OSError, zipfile.BadZipFile):
        pass
    return found


def _simple_decorator(node: ast.expr) -> bool:
    if isinstance(node, ast.Call):
        node = node.func
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name)


def _literal(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def definitions(nb: dict) -> str:
    """The top-level imports, functions, classes and literal constants of a notebook's code
    cells, in order; every other statement (calls, loops, patches, file writes) is left
    out. Lines starting with ``%`` or ``!`` (IPython) are dropped; a cell that is not
    valid Python is skipped."""
    keep: list[str] = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        source = "\n".join(line for line in source.splitlines()
                           if not line.lstrip().startswith(("%", "!")))
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                keep.append(ast.unparse(node))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if all(_simple_decorator(d) for d in node.decorator_list):
                    keep.append(ast.unparse(node))
            elif isinstance(node, ast.Assign) and _literal(node.value) and \
                    all(isinstance(t, ast.Name) for t in node.targets):
                keep.append(ast.unparse(node))
    return "\n\n".join(keep) + "\n"


def _load_hidden(files_dir: Path):
    spec = importlib.util.spec_from_file_location(
        f"recsys_hidden_{abs(hash(str(files_dir)))}", files_dir / "recsys_hidden.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def recheck(submission: Path, autograder: Path, result: Result) -> None:
    """Take back otter's points of every question whose hidden check fails outside the
    student's kernel (see the module docstring)."""
    if not any(result.points.values()):
        return
    with tempfile.TemporaryDirectory(prefix="recsys-recheck-") as tmp:
        with zipfile.ZipFile(autograder) as z:
            z.extractall(tmp)
        files = Path(tmp) / "files"
        checks = hidden_checks(Path(tmp) / "tests")
        if not (files / "recsys_hidden.py").is_file() or not checks:
            return  # not an autograder of `recsys-course assign`: otter's scores stand
        hidden = _load_hidden(files)
        if submission.suffix == ".zip":
            with zipfile.ZipFile(submission) as z:
                name = next(n for n in z.namelist() if n.endswith(".ipynb"))
                nb = json.loads(z.read(name).decode("utf-8"))
        else:
            nb = json.loads(submission.read_text(encoding="utf-8"))
        source = definitions(nb)
        taken = []
        for question, earned in sorted(result.points.items()):
            if not earned or question not in checks:
                continue
            chapter, check, fn_name = checks[question]
            verdict = hidden.run_isolated(chapter, check, fn_name, source,
                                          package_dir=str(files / hidden.PACKAGE_DIR))
            if not verdict.get("passed"):
                result.points[question] = 0.0
                taken.append(question)
                result.feedback[question] = (result.feedback.get(question, "") +
                                             "\n[out-of-kernel check] " +
                                             str(verdict.get("message", "")))
        if taken:
            result.note = ("points taken back (the out-of-kernel check failed): " +
                           ", ".join(taken))


# ----------------------------------------------------------------------------------------
# Grading one submission
# ----------------------------------------------------------------------------------------
def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _read_scores(results_json: Path, result: Result) -> None:
    data = json.loads(results_json.read_text(encoding="utf-8"))
    for test in data.get("tests", []):
        if "max_score" not in test or test.get("name") == "Public Tests":
            continue
        name = str(test["name"])
        result.points[name] = float(test.get("score") or 0)
        result.max_points[name] = float(test.get("max_score") or 0)
        result.feedback[name] = str(test.get("output", ""))


def grade_one(sub: Submission, autograder: Path | None, timeout: float) -> Result:
    """Run otter on one submission (never raises for a bad submission)."""
    result = Result(sub)
    if autograder is not None:
        result.max_points = questions_of(autograder)
        result.points = {q: 0.0 for q in result.max_points}
    why = _readable(sub.path)
    if why:
        result.status, result.note = INVALID, why
        return result
    if autograder is None:
        result.status, result.note = INVALID, f"no autograder for notebook {sub.notebook!r}"
        return result
    with tempfile.TemporaryDirectory(prefix="recsys-grade-") as tmp:
        work = Path(tmp)
        # a plain name: otter looks for exactly one notebook in the submission folder
        target = work / ("submission" + sub.path.suffix)
        shutil.copy2(sub.path, target)
        out = work / "results"
        out.mkdir()
        cmd = [sys.executable, "-m", "otter", "run", "-a", str(autograder.resolve()),
               "-o", str(out), "--no-logo", str(target)]
        env = dict(os.environ, RECSYS_SMOKE="1")  # the chapter's small version, as Gradescope
        proc = subprocess.Popen(cmd, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True, env=env)
        try:
            log, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            result.status, result.note = TIMEOUT, f"time limit of {timeout:g} s reached"
            return result
        results_json = out / "results.json"
        if proc.returncode != 0 or not results_json.is_file():
            last = [line for line in (log or "").strip().splitlines() if line.strip()][-1:]
            text = last[0][:300] if last else ""
            refused = "Received submission for assignment" in (log or "")
            result.status = INVALID if refused else CRASH
            result.note = f"otter exited with code {proc.returncode}: {text}"
            return result
        try:
            _read_scores(results_json, result)
        except (ValueError, KeyError) as e:
            result.status, result.note = CRASH, f"unreadable otter results: {e}"
            return result
        if not result.feedback:  # otter read no question from its results
            result.status = CRASH
            result.note = "otter ran but recorded no results (the notebook stopped the " \
                          "grading)"
            return result
    try:
        recheck(sub.path, autograder, result)
    except Exception as e:  # an unreadable submission part: nothing can be confirmed
        for question in result.points:
            result.points[question] = 0.0
        result.note = f"the out-of-kernel check could not run ({type(e).__name__}: {e})"
    return result


# ----------------------------------------------------------------------------------------
# Grading a folder
# ----------------------------------------------------------------------------------------
def tabulate(results: list[Result]) -> tuple[list[str], list[dict[str, Any]]]:
    """The CSV header and rows for ``results`` (see the module docstring)."""
    per_notebook: dict[str, dict[str, float]] = {}
    for r in results:
        per_notebook.setdefault(r.submission.notebook, {}).update(r.max_points)
    columns: list[str] = []
    for questions in per_notebook.values():
        columns += [q for q in questions if q not in columns]
    columns.sort()
    header = ["student", "notebook", "status", *columns, "score", "max_score", "note"]
    rows = []
    for r in results:
        expected = per_notebook[r.submission.notebook]
        row: dict[str, Any] = {"student": r.submission.student,
                               "notebook": r.submission.notebook, "status": r.status}
        for q in columns:
            row[q] = _num(r.points.get(q, 0.0)) if q in expected else ""
        row["score"] = _num(sum(r.points.values()))
        row["max_score"] = _num(sum(expected.values()))
        row["note"] = r.note
        rows.append(row)
    return header, rows


def _num(x: float) -> float | int:
    return int(x) if float(x).is_integer() else round(x, 4)


def grade(submissions_dir: str | Path, out_csv: str | Path, autograders: str | Path,
          timeout: float = 600, jobs: int = 1, details_csv: str | Path | None = None,
          verbose: bool = False) -> list[dict[str, Any]]:
    """Grade every submission in ``submissions_dir`` and write ``out_csv``; return the rows.

    ``autograders`` is the folder ``recsys-course assign`` wrote (or one autograder zip);
    ``timeout`` is the time limit per submission in seconds; ``jobs`` submissions are
    graded at once. ``details_csv`` (optional) receives otter's feedback per question.
    """
    autograders = Path(autograders)
    if not autograders.exists():
        raise FileNotFoundError(f"no such autograder folder or zip: {autograders}")
    submissions = find_submissions(submissions_dir)

    def one(item: tuple[int, Submission]) -> Result:
        i, sub = item
        started = time.monotonic()
        result = grade_one(sub, autograder_for(sub, autograders), timeout)
        if verbose:
            print(f"[{i}/{len(submissions)}] {sub.student} {sub.notebook}: {result.status}, "
                  f"{_num(sum(result.points.values()))}/{_num(sum(result.max_points.values()))}"
                  f" ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(one, enumerate(submissions, 1)))
    header, rows = tabulate(results)
    out = Path(out_csv)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    if details_csv is not None:
        with open(details_csv, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["student", "notebook", "question", "points", "max_points",
                             "feedback"])
            for r in results:
                for q in sorted(r.max_points):
                    writer.writerow([r.submission.student, r.submission.notebook, q,
                                     _num(r.points.get(q, 0)), _num(r.max_points[q]),
                                     r.feedback.get(q, "")])
    return rows
