"""Grading: run submitted notebooks and tabulate which checks pass.

Submissions (both layouts may be mixed in one folder)
-----------------------------------------------------
* ``SUBMISSIONS/<student>__<notebook>.ipynb`` (two underscores), e.g.
  ``ada__00_data_tour.ipynb``; a file without ``__`` is graded with ``notebook`` empty;
* ``SUBMISSIONS/<student>/<notebook>.ipynb`` (one folder per student, sub-folders allowed:
  the notebook name is then the relative path without ``.ipynb``).

Hidden files and ``.ipynb_checkpoints`` are skipped.

How a notebook is graded
------------------------
Its outputs are cleared (old outputs cannot fake a pass), then it runs top to bottom in a
fresh kernel (its own process) started in an empty temporary folder, with
``RECSYS_SMOKE=1`` and ``RECSYS_GRADING=1`` added to the grader's environment, errors
allowed (a failing cell does not stop the next ones), and a time limit for the whole
notebook. With ``RECSYS_GRADING=1`` every check prints a line
``[recsys-check] <chapter>.<exercise> PASS|FAIL|TODO|ERROR [reason]`` which is parsed
from the outputs. The exercises a notebook contains are found from the check calls in
its code cells (``check_click_rate(...)``, matched against the registry of
:mod:`recsys_course.exercises.core`) plus any marker printed.

Status of an exercise
---------------------
``PASS`` all hidden cases passed; ``FAIL`` wrong result, or the learner's code raised;
``TODO`` the learner's function still raises ``NotImplementedError``; ``ERROR`` the check
cell raised before the check could run (e.g. ``NameError``: the function was never
defined) or the check itself broke; ``NOT RUN`` the check cell never ran (deleted,
commented out, after a crash or a timeout); ``TIMEOUT`` / ``CRASH`` the time limit was
hit or the kernel died while the check's own cell was running.

The CSV
-------
One row per (student, notebook), sorted; columns ``student, notebook, status, <one column
per exercise id, e.g. ch00.click_rate>, passed, total, note``. ``status`` is the
notebook's: ``OK``, ``TIMEOUT``, ``CRASH`` (the kernel died or would not start) or
``INVALID`` (not a readable notebook). An exercise cell is empty when that exercise does
not belong to the row's notebook (a notebook's exercises are those found in any
submission of the same notebook name). ``passed`` counts ``PASS``; ``total`` is the
number of exercises of the notebook; ``note`` says what stopped a notebook. The optional
details CSV has one row per (student, notebook, exercise) with the feedback text.

Chapter: 00 (how the exercises work); used by instructors, not learners.
"""
from __future__ import annotations

import csv
import math
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .core import GRADING_ENV, MARKER, REGISTRY, load_all

PASS, FAIL, TODO, ERROR, NOT_RUN = "PASS", "FAIL", "TODO", "ERROR", "NOT RUN"
OK, TIMEOUT, CRASH, INVALID = "OK", "TIMEOUT", "CRASH", "INVALID"

_MARKER_LINE = re.compile(
    r"^" + re.escape(MARKER) + r" (?P<id>\S+) (?P<status>PASS|FAIL|TODO|ERROR)(?: (?P<why>.*))?$")
_CHECK_CALL = re.compile(r"\b(check_\w+)\s*\(")


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
    exercises: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (status, why)


# ----------------------------------------------------------------------------------------
# Finding submissions
# ----------------------------------------------------------------------------------------
def _visible(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    return not any(p.startswith(".") for p in parts)


def find_submissions(submissions_dir: str | Path) -> list[Submission]:
    """All submissions under ``submissions_dir`` (see the module docstring), sorted."""
    root = Path(submissions_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"no such folder: {root}")
    found = []
    for path in sorted(root.glob("*.ipynb")):
        if not _visible(path, root):
            continue
        student, sep, notebook = path.stem.partition("__")
        found.append(Submission(student, notebook if sep else "", path))
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and _visible(p, root)):
        for path in sorted(folder.rglob("*.ipynb")):
            if _visible(path, root):
                notebook = path.relative_to(folder).with_suffix("").as_posix()
                found.append(Submission(folder.name, notebook, path))
    return sorted(found, key=lambda s: (s.student, s.notebook, str(s.path)))


# ----------------------------------------------------------------------------------------
# Running one notebook
# ----------------------------------------------------------------------------------------
def _clear_outputs(nb: Any) -> None:
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None


def execute_notebook(nb: Any, timeout: float, kernel_name: str = "python3",
                     env: dict[str, str] | None = None) -> tuple[str, str, int | None]:
    """Run ``nb`` in place in a fresh kernel; return ``(status, note, index of the cell
    that was running when it stopped, or None)``.

    ``timeout`` bounds the whole notebook (kernel start included); errors in cells are
    recorded in their outputs and do not stop the run; a dying kernel ends it.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    deadline = time.monotonic() + timeout
    env = dict(os.environ if env is None else env)
    current: int | None = None
    with tempfile.TemporaryDirectory(prefix="recsys-grade-") as workdir:
        client = NotebookClient(
            nb, kernel_name=kernel_name, allow_errors=True, record_timing=False,
            startup_timeout=max(1, int(min(60, timeout))), shutdown_kernel="immediate",
            resources={"metadata": {"path": workdir}})
        client.timeout_func = lambda cell: max(1, math.ceil(deadline - time.monotonic()))
        try:
            with client.setup_kernel(env=env):
                for index, cell in enumerate(nb.cells):
                    if cell.cell_type != "code":
                        continue
                    if time.monotonic() >= deadline:
                        return TIMEOUT, f"time limit of {timeout:g} s reached before cell " \
                                        f"{index}", None
                    current = index
                    client.execute_cell(cell, index,
                                        execution_count=client.code_cells_executed + 1)
                current = None
        except CellTimeoutError:
            return TIMEOUT, f"time limit of {timeout:g} s reached in cell {current}", current
        except DeadKernelError:
            where = f" while running cell {current}" if current is not None else ""
            return CRASH, f"the kernel died{where}", current
        except Exception as e:  # kernel would not start, lost connection, ...
            where = f" in cell {current}" if current is not None else ""
            return CRASH, f"{type(e).__name__}{where}: {e}".strip()[:300], current
    return OK, "", None


# ----------------------------------------------------------------------------------------
# Reading the results
# ----------------------------------------------------------------------------------------
def _stdout(cell: Any) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream")


def _error(cell: Any) -> str | None:
    for o in cell.get("outputs", []):
        if o.get("output_type") == "error":
            return f"{o.get('ename', 'Error')}: {o.get('evalue', '')}"
    return None


def _called_checks(source: str, known: dict[str, str]) -> list[str]:
    code = "\n".join(line.split("#", 1)[0] for line in source.splitlines())
    ids = []
    for name in _CHECK_CALL.findall(code):
        if name in known and known[name] not in ids:
            ids.append(known[name])
    return ids


def exercises_in(nb: Any) -> list[str]:
    """Ids of the registered exercises whose check is called in ``nb``'s code cells."""
    known = {ex.func_name: ex.id for ex in REGISTRY.values()}
    ids: list[str] = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            ids += [i for i in _called_checks(cell.source, known) if i not in ids]
    return ids


def read_results(nb: Any, stopped: str = OK, stopped_at: int | None = None
                 ) -> dict[str, tuple[str, str]]:
    """``{exercise id: (status, why)}`` from an executed notebook's outputs."""
    known = {ex.func_name: ex.id for ex in REGISTRY.values()}
    results: dict[str, tuple[str, str]] = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        marked = set()
        for line in _stdout(cell).splitlines():
            m = _MARKER_LINE.match(line.strip())
            if m:
                results[m.group("id")] = (m.group("status"), (m.group("why") or "").strip())
                marked.add(m.group("id"))
        for ex_id in _called_checks(cell.source, known):
            if ex_id in marked or results.get(ex_id, (NOT_RUN,))[0] != NOT_RUN:
                continue
            error = _error(cell)
            if index == stopped_at and stopped in (TIMEOUT, CRASH):
                results[ex_id] = (stopped, f"the notebook stopped in this check's cell")
            elif cell.get("execution_count") is None:
                results[ex_id] = (NOT_RUN, "the check's cell did not run")
            elif error:
                results[ex_id] = (ERROR, f"the check's cell raised {error}")
            else:
                results[ex_id] = (NOT_RUN, "the check's cell ran but did not call the check")
    return results


# ----------------------------------------------------------------------------------------
# Grading a folder
# ----------------------------------------------------------------------------------------
def grade_one(sub: Submission, timeout: float, kernel_name: str = "python3",
              executed_dir: Path | None = None) -> Result:
    """Run one submission and read its results (never raises for a bad submission)."""
    import nbformat

    result = Result(sub)
    try:
        nb = nbformat.read(sub.path, as_version=4)
        if not isinstance(getattr(nb, "cells", None), list):
            raise ValueError("no cells")
    except Exception as e:
        result.status, result.note = INVALID, f"cannot read the notebook: {type(e).__name__}: {e}"
        return result
    _clear_outputs(nb)
    env = dict(os.environ)
    env.update({"RECSYS_SMOKE": "1", GRADING_ENV: "1"})
    result.status, result.note, stopped_at = execute_notebook(nb, timeout, kernel_name, env)
    result.exercises = read_results(nb, result.status, stopped_at)
    for ex_id in exercises_in(nb):
        result.exercises.setdefault(ex_id, (NOT_RUN, "the check's cell did not run"))
    if executed_dir is not None:
        executed_dir.mkdir(parents=True, exist_ok=True)
        name = f"{sub.student}__{sub.notebook.replace('/', '__')}.ipynb"
        nbformat.write(nb, str(executed_dir / name))
    return result


def _order(ids: Iterable[str]) -> list[str]:
    registered = list(REGISTRY)
    return sorted(set(ids), key=lambda i: (registered.index(i) if i in registered
                                           else len(registered), i))


def tabulate(results: list[Result]) -> tuple[list[str], list[dict[str, Any]]]:
    """The CSV header and rows for ``results`` (see the module docstring)."""
    per_notebook: dict[str, set[str]] = {}
    for r in results:
        per_notebook.setdefault(r.submission.notebook, set()).update(r.exercises)
    columns = _order(set().union(*per_notebook.values()) if per_notebook else [])
    header = ["student", "notebook", "status", *columns, "passed", "total", "note"]
    rows = []
    for r in results:
        expected = per_notebook[r.submission.notebook]
        row: dict[str, Any] = {"student": r.submission.student,
                               "notebook": r.submission.notebook, "status": r.status}
        for ex_id in columns:
            row[ex_id] = r.exercises.get(ex_id, (NOT_RUN, ""))[0] if ex_id in expected else ""
        row["passed"] = sum(1 for ex_id in expected if row[ex_id] == PASS)
        row["total"] = len(expected)
        row["note"] = r.note
        rows.append(row)
    return header, rows


def grade(submissions_dir: str | Path, out_csv: str | Path, timeout: float = 600,
          kernel_name: str = "python3", details_csv: str | Path | None = None,
          executed_dir: str | Path | None = None, verbose: bool = False) -> list[dict[str, Any]]:
    """Grade every submission in ``submissions_dir`` and write ``out_csv``; return the rows.

    ``timeout`` is the time limit per notebook in seconds. ``details_csv`` (optional)
    receives the feedback of every exercise; ``executed_dir`` (optional) the executed
    notebooks, for reading a learner's outputs.
    """
    load_all()
    submissions = find_submissions(submissions_dir)
    results = []
    for i, sub in enumerate(submissions, 1):
        started = time.monotonic()
        result = grade_one(sub, timeout, kernel_name,
                           Path(executed_dir) if executed_dir is not None else None)
        results.append(result)
        if verbose:
            passed = sum(1 for s, _ in result.exercises.values() if s == PASS)
            print(f"[{i}/{len(submissions)}] {sub.student} {sub.notebook}: {result.status}, "
                  f"{passed}/{len(result.exercises)} passed "
                  f"({time.monotonic() - started:.1f} s)", file=sys.stderr)
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
            writer.writerow(["student", "notebook", "exercise", "status", "feedback"])
            for r in results:
                for ex_id in _order(r.exercises):
                    status, why = r.exercises[ex_id]
                    writer.writerow([r.submission.student, r.submission.notebook, ex_id,
                                     status, why])
    return rows
