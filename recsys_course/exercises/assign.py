"""Otter-grader assignments from the chapter notebooks (the notebooks stay the one source).

``recsys-course assign notebooks/00_data_tour.ipynb --out assignments`` writes, for each
notebook::

    assignments/00_data_tour/
        source/00_data_tour.ipynb     the notebook in otter-assign's format (generated)
        student/00_data_tour.ipynb    otter's student notebook: hand this out
        autograder/                   otter's autograder folder (solutions, all tests)
        autograder.zip                otter's Gradescope autograder (also for `otter run`);
                                      its entry script exports RECSYS_SMOKE=1

How a chapter notebook becomes an otter assignment
--------------------------------------------------
* A code exercise is a code cell tagged ``solution`` followed by a cell calling a check,
  ``ch00.check_click_rate(click_rate)``: the check names the exercise (its registered id,
  e.g. ``ch00.click_rate``) and the argument names the learner's function.
* Each becomes one otter question ``ch00_click_rate`` worth ``--points`` (default 1):
  its solution is the tagged cell, in which every function and method body is wrapped in
  ``# BEGIN SOLUTION NO PROMPT`` / ``# END SOLUTION`` with the prompt
  ``raise NotImplementedError(...)`` (so the student copy keeps signatures and docstrings,
  and the check reports "not attempted yet" as it always did).
* Its **public** test (0 points) calls the same ``check_*`` learners call, so otter shows
  the check's specific feedback. Its **hidden** test (all the points) runs the check in
  a fresh process on salted random cases (``grading/recsys_hidden.py``); see the
  instructor guide for what that protects against.
* The check cell itself stays after the question, so "Run all" on the student copy still
  stops at the first unsolved exercise with the check's message.
* Markdown cells tagged ``solution`` (quiz answers, discussion) and cells tagged
  ``remove-student`` are left out of the assignment; a code cell tagged ``solution``
  that no check follows is stubbed all the same (ungraded); outputs are cleared.

The secret salt of the hidden cases is drawn at random (or given with ``--seed``) and is
written only into the autograder (``recsys_secret.json``). Before otter runs, every
exercise's reference solution is checked on the salted cases; a salt under which a
reference fails is replaced by the next one.

Needs ``otter-grader`` (``pip install "recsys-course[instructor]"``) and a clone of the
repository (the ``grading/`` folder beside the package). Chapter: 00 (how the exercises
work); used by instructors, not learners.
"""
from __future__ import annotations

import ast
import copy
import importlib.util
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .core import by_function_name, load_all

SOLUTION_TAG = "solution"
REMOVE_TAG = "remove-student"
REPO = Path(__file__).resolve().parents[2]
GRADING_DIR = REPO / "grading"
HIDDEN_MODULE = "recsys_hidden.py"
# The package as learners install it on Colab (the notebooks' first cell does the same).
DEFAULT_PACKAGE = "recsys-course @ git+https://github.com/recsys-course/ranking-from-scratch"
_CHECK_CALL = re.compile(r"\bcheck_\w+\s*\(")


@dataclass
class Question:
    name: str          # otter question name, e.g. "ch00_click_rate"
    chapter: str       # "ch00"
    check: str         # "check_click_rate"
    fn_name: str       # the learner's function, e.g. "click_rate"
    solution: int      # index of the solution cell
    check_cell: int    # index of the check cell


@dataclass
class Assignment:
    notebook: Path
    folder: Path
    student: Path
    autograder_dir: Path
    autograder_zip: Path
    questions: list[Question]
    varied: dict[str, bool]   # question -> the hidden check drew salted random cases


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _check_call(source: str) -> tuple[str, str] | None:
    """``(check function name, learner's function name)`` of a check cell, or None."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name.startswith("check_") and node.args and isinstance(node.args[0], ast.Name):
                return name, node.args[0].id
    return None


def find_questions(nb: Any) -> list[Question]:
    """The code exercises of ``nb``: solution cells followed by a registered check call."""
    load_all()  # every chapter's checks (imports are cached: cheap when already done)
    registry = by_function_name()
    found = []
    cells = nb.cells
    for i, cell in enumerate(cells):
        if cell.cell_type != "code" or SOLUTION_TAG not in _tags(cell):
            continue
        for j in range(i + 1, len(cells)):
            if cells[j].cell_type != "code":
                continue
            call = _check_call(cells[j].source)
            if call and call[0] in registry:
                ex = registry[call[0]]
                found.append(Question(f"{ex.chapter}_{ex.name}", ex.chapter, call[0], call[1],
                                      i, j))
            break
    return found


# ----------------------------------------------------------------------------------------
# The solution cell with otter's solution markers
# ----------------------------------------------------------------------------------------
def _body_start(node: ast.AST) -> int:
    """Line (1-based) of the first body statement after the docstring, or 0 if none."""
    body = list(node.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return body[0].lineno if body else 0


def mark_solution(source: str, label: str = "") -> str:
    """``source`` with every top-level function body (and method body) between otter's
    ``# BEGIN SOLUTION NO PROMPT`` / ``# END SOLUTION``, followed by a prompt that raises
    ``NotImplementedError``; a cell that defines nothing is one solution block."""
    prefix = f"{label}: " if label else ""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        tree = None
    lines = source.splitlines()
    spans: list[tuple[int, int, str, str]] = []   # (first, last line, indent, what)

    def add(node: ast.AST, what: str) -> None:
        start = _body_start(node)
        if not start or start == node.lineno:
            return  # no body to hide, or a one-line definition (left whole)
        while start - 2 >= node.lineno and (not lines[start - 2].strip() or
                                            lines[start - 2].lstrip().startswith("#")):
            start -= 1  # comments above the first statement belong to the solution
        while not lines[start - 1].strip():
            start += 1
        indent = re.match(r"\s*", lines[start - 1]).group(0)
        spans.append((start, node.end_lineno, indent, what))

    for node in (tree.body if tree else []):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            add(node, node.name)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    add(item, f"{node.name}.{item.name}")
    if not spans:
        return ("# BEGIN SOLUTION NO PROMPT\n" + source.rstrip("\n") + "\n# END SOLUTION\n"
                f'""" # BEGIN PROMPT\nraise NotImplementedError("{prefix}write your '
                f'solution here")\n""" # END PROMPT')
    out = list(lines)
    for start, end, indent, what in sorted(spans, reverse=True):
        message = f"{prefix}write {what}".replace('"', "'")
        out[end:end] = [f"{indent}# END SOLUTION",
                        f'{indent}""" # BEGIN PROMPT',
                        f'{indent}raise NotImplementedError("{message}")',
                        f'{indent}""" # END PROMPT']
        out[start - 1:start - 1] = [f"{indent}# BEGIN SOLUTION NO PROMPT"]
    return "\n".join(out)


# ----------------------------------------------------------------------------------------
# The otter-format notebook
# ----------------------------------------------------------------------------------------
PUBLIC_TEST = '''\
""" # BEGIN TEST CONFIG
points: 0
success_message: {check} passed
""" # END TEST CONFIG
def test_public(env):
    # the check learners run; it scores nothing (it runs inside the student's kernel)
    from recsys_course.exercises import {chapter}
    try:
        {chapter}.{check}(env.get("{fn_name}"))
    except (SystemExit, KeyboardInterrupt) as e:
        raise AssertionError(f"your code tried to end the program ({{type(e).__name__}})")'''

HIDDEN_TEST = '''\
""" # BEGIN TEST CONFIG
hidden: true
points: {points}
""" # END TEST CONFIG
def test_hidden(env):
    # the grader's own check, in a fresh process, on secret cases (grading/recsys_hidden.py)
    import importlib.util, os
    spec = importlib.util.spec_from_file_location(
        "recsys_hidden_grader", os.path.join(os.getcwd(), "recsys_hidden.py"))
    hidden = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hidden)
    hidden.check_hidden(env, "{chapter}", "{check}", "{fn_name}")'''


def _raw(text: str) -> Any:
    from nbformat.v4 import new_raw_cell
    return new_raw_cell(text)


def otter_notebook(nb: Any, name: str, *, points: float = 1,
                   files: Sequence[str] = ()) -> tuple[Any, list[Question]]:
    """The otter-assign source notebook of chapter notebook ``nb`` and its questions."""
    import yaml
    from nbformat.v4 import new_code_cell

    questions = find_questions(nb)
    by_solution = {q.solution: q for q in questions}
    config = {
        "name": name,
        "runs_on": "colab",
        "python_version": "3.11",   # the Gradescope image: the Python the course is tested on
        "requirements": "requirements.txt",
        "init_cell": True,
        "check_all_cell": False,
        "export_cell": {"pdf": False, "run_tests": False,
                        "instructions": "Run this cell, then hand in the zip file it "
                                        "writes (or the notebook itself)."},
        "generate": {"show_stdout": False, "show_hidden": False, "pdf": False},
        "tests": {"files": True, "ok_format": False},
        "autograder_files": list(files),
    }
    out = copy.deepcopy(nb)
    cells = [_raw("# ASSIGNMENT CONFIG\n" + yaml.safe_dump(config, sort_keys=False))]
    skip = {q.check_cell for q in questions}
    for i, cell in enumerate(nb.cells):
        tags = _tags(cell)
        if REMOVE_TAG in tags or (cell.cell_type == "markdown" and SOLUTION_TAG in tags):
            continue
        cell = copy.deepcopy(cell)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        for key in ("execution", "ExecuteTime"):
            cell.metadata.pop(key, None)
        if i in by_solution:
            q = by_solution[i]
            label = str(cell.metadata.get("exercise", "")).strip()
            cell.source = mark_solution(cell.source, label)
            cell.metadata["tags"] = [t for t in tags if t != SOLUTION_TAG]
            if not cell.metadata["tags"]:
                del cell.metadata["tags"]
            fields = dict(chapter=q.chapter, check=q.check, fn_name=q.fn_name, points=points)
            cells += [
                _raw(f"# BEGIN QUESTION\nname: {q.name}\npoints: {points}\ncheck_cell: false"),
                _raw("# BEGIN SOLUTION"), cell, _raw("# END SOLUTION"),
                _raw("# BEGIN TESTS"),
                new_code_cell(PUBLIC_TEST.format(**fields)),
                new_code_cell(HIDDEN_TEST.format(**fields)),
                _raw("# END TESTS"), _raw("# END QUESTION"),
            ]
            check = copy.deepcopy(nb.cells[q.check_cell])
            check.outputs, check.execution_count = [], None
            cells.append(check)
            continue
        if i in skip:
            continue
        if cell.cell_type == "code" and SOLUTION_TAG in tags:
            # no check follows: ungraded, but not given away either (otter's own stripping,
            # applied here since otter strips solutions only inside questions)
            from otter.assign.solutions import replace_solutions
            cell.source = "\n".join(replace_solutions(mark_solution(cell.source).splitlines(),
                                                      "python"))
        cells.append(cell)
    out.cells = cells
    for c in out.cells:  # otter's own cells get ids from nbformat; keep ids unique
        c.pop("id", None)
    out.nbformat_minor = 4
    return out, questions


# ----------------------------------------------------------------------------------------
# Building the assignment
# ----------------------------------------------------------------------------------------
def _copy_package(dest: Path) -> None:
    """The grader's own copy of the ``recsys_course`` package (its .py files)."""
    src = Path(__file__).resolve().parents[1]
    target = dest / "recsys_course"
    shutil.rmtree(dest, ignore_errors=True)
    for path in sorted(src.rglob("*.py")):
        if "__pycache__" in path.parts or path.name in ("assign.py", "grade.py"):
            continue
        to = target / path.relative_to(src)
        to.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, to)


def _load_hidden(source_dir: Path):
    spec = importlib.util.spec_from_file_location("recsys_hidden_assign",
                                                  source_dir / HIDDEN_MODULE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def choose_salt(nb: Any, questions: list[Question], source_dir: Path,
                seed: int | None = None, tries: int = 5) -> tuple[int, dict[str, bool]]:
    """A salt under which every reference solution passes its hidden check, and for each
    question whether its check drew salted random cases."""
    from .grade import definitions

    hidden = _load_hidden(source_dir)
    package = str(source_dir / hidden.PACKAGE_DIR)
    rng_salt = seed if seed is not None else secrets.randbelow(2 ** 31)
    for attempt in range(tries):
        salt = rng_salt + attempt
        varied, failures = {}, []
        for q in questions:
            # the notebook's definitions up to the solution (its imports included), as
            # `recsys-course grade` sends a submission's
            source = definitions({"cells": nb.cells[:q.solution + 1]})
            verdict = hidden.run_isolated(q.chapter, q.check, q.fn_name, source, salt=salt,
                                          package_dir=package)
            varied[q.name] = bool(verdict.get("varied"))
            if not verdict.get("passed"):
                failures.append(f"{q.name}: {verdict.get('message')}")
        if not failures:
            return salt, varied
        if seed is not None:
            break
    raise RuntimeError("the reference solutions fail their hidden checks:\n" +
                       "\n".join(failures))


def _otter(*args: str, cwd: Path | None = None, env: dict | None = None) -> None:
    cmd = [sys.executable, "-m", "otter", *args]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n"
                           f"{proc.stderr[-3000:]}")


def _smoke_mode_zip(src: Path, dest: Path) -> None:
    """Copy otter's autograder zip, with ``RECSYS_SMOKE=1`` exported by its entry script:
    a graded notebook runs in smoke mode (its exercises do not depend on the mode, and a
    chapter's full experiments would take minutes per submission)."""
    import zipfile

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "run_autograder":
                lines = data.decode().splitlines()
                lines.insert(1, "export RECSYS_SMOKE=1")
                data = ("\n".join(lines) + "\n").encode()
            zout.writestr(item, data)


def assign(notebook: str | Path, out_dir: str | Path, *, points: float = 1,
           package: str = DEFAULT_PACKAGE, seed: int | None = None, run_tests: bool = True,
           timeout: float = 120) -> Assignment:
    """Build the otter assignment of one chapter notebook (see the module docstring)."""
    import nbformat

    if importlib.util.find_spec("otter") is None:
        raise RuntimeError("this needs otter-grader: pip install 'recsys-course[instructor]'")
    if not (GRADING_DIR / HIDDEN_MODULE).is_file():
        raise RuntimeError(f"{GRADING_DIR / HIDDEN_MODULE} is missing: run this from a clone "
                           "of the course repository")
    notebook = Path(notebook)
    stem = notebook.stem
    folder = Path(out_dir) / stem
    source_dir = folder / "source"
    shutil.rmtree(folder, ignore_errors=True)
    source_dir.mkdir(parents=True)
    nb = nbformat.read(notebook, as_version=4)

    shutil.copy2(GRADING_DIR / HIDDEN_MODULE, source_dir / HIDDEN_MODULE)
    hidden = _load_hidden(source_dir)
    _copy_package(source_dir / hidden.PACKAGE_DIR)
    # Gradescope installs these into its image; `otter run` uses the current environment.
    (source_dir / "requirements.txt").write_text(f"{package}\n", encoding="utf-8")
    questions = find_questions(nb)
    salt, varied = choose_salt(nb, questions, source_dir, seed)
    (source_dir / hidden.SECRET_FILE).write_text(
        json.dumps({"salt": salt, "timeout": timeout}) + "\n", encoding="utf-8")

    files = [HIDDEN_MODULE, hidden.SECRET_FILE, hidden.PACKAGE_DIR]
    master, questions = otter_notebook(nb, f"{stem}", points=points, files=files)
    nbformat.write(master, str(source_dir / f"{stem}.ipynb"))

    dist = folder / "dist"
    env = dict(os.environ, RECSYS_SMOKE="1")
    args = ["assign", str(source_dir / f"{stem}.ipynb"), str(dist)]
    if not run_tests:
        args.append("--no-run-tests")
    _otter(*args, env=env)

    student = folder / "student"
    autograder = folder / "autograder"
    shutil.move(str(dist / "student"), student)
    shutil.move(str(dist / "autograder"), autograder)
    shutil.rmtree(dist, ignore_errors=True)
    zips = sorted(autograder.glob("*autograder*.zip"))
    if not zips:
        raise RuntimeError(f"otter assign wrote no autograder zip in {autograder}")
    zip_path = folder / "autograder.zip"
    _smoke_mode_zip(zips[-1], zip_path)
    for z in zips:
        z.unlink()
    return Assignment(notebook, folder, student / f"{stem}.ipynb", autograder, zip_path,
                      questions, varied)
