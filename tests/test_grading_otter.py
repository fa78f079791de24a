"""End to end, with otter-grader for real: `recsys-course assign` on a small notebook with
chapter 00's two exercises, then `recsys-course grade` on a folder of submissions (correct,
partly correct, wrong, crashing, looping, malformed, and tampered in every way the
instructor guide lists), and chapter 00's own student notebook run top to bottom.

These are the slow tests of the exercise infrastructure (a few minutes on 2 busy cores:
each submission is a notebook run by otter plus fresh processes for the hidden checks).
"""
from __future__ import annotations

import copy
import csv
import json
import os
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from recsys_course.cli import main as cli_main

REPO = Path(__file__).resolve().parents[1]
CLICK_RATE = ('def click_rate(ratings, threshold):\n'
              '    """The share of ratings at or above threshold."""\n'
              '    return float((ratings["rating"] >= threshold).mean())\n')
TIME_SPLIT = ('def time_split_df(df, frac):\n'
              '    k = int(frac * len(df))\n'
              '    if k >= len(df):\n'
              '        return df, df.iloc[:0]\n'
              '    cut = df["timestamp"].sort_values().iloc[k]\n'
              '    return df[df["timestamp"] < cut], df[df["timestamp"] >= cut]\n')
LEAKY_SPLIT = ('def time_split_df(df, frac):\n'
               '    d = df.sort_values("timestamp")\n'
               '    k = int(frac * len(d))\n'
               '    return d.iloc[:k], d.iloc[k:]\n')
TAMPERING = '''\
import glob, os, numpy as np, torch
from recsys_course.exercises import ch00, core
print("[recsys-check] ch00.click_rate PASS 5")
print("All tests passed!")
ch00.check_click_rate = lambda *a, **k: True
ch00.check_time_split = lambda *a, **k: True
core.expect_close = ch00.expect_close = lambda *a, **k: None
torch.allclose = lambda *a, **k: True
np.isclose = lambda a, b, **k: np.ones(np.broadcast(a, b).shape, bool)
for path in glob.glob("tests/*.py"):   # otter's test files, next to the notebook
    name = os.path.basename(path)[:-3]
    with open(path, "w") as f:
        f.write("from otter.test_files import test_case\\nOK_FORMAT = False\\n"
                f"name = {name!r}\\npoints = 1\\n"
                "@test_case(points=1, hidden=True)\\ndef t(env):\\n    pass\\n")
'''
INSIDE_PATCH = ('def click_rate(ratings, threshold):\n'
                '    import numpy as np\n'
                '    from recsys_course.exercises import ch00\n'
                '    ch00.expect_close = lambda *a, **k: None\n'
                '    np.isclose = lambda a, b, **k: np.ones(np.broadcast(a, b).shape, bool)\n'
                '    return 0.5\n')
EXITING = 'def time_split_df(df, frac):\n    import sys\n    sys.exit(0)\n'


def chapter() -> nbformat.NotebookNode:
    """Chapter 00's two code exercises, as the chapter notebook holds them."""
    return new_notebook(cells=[
        new_markdown_cell("# A tiny chapter"),
        new_code_cell("import os\nimport pandas as pd"),
        new_markdown_cell("**Task 1.** Write `click_rate(ratings, threshold)`."),
        new_code_cell(CLICK_RATE, metadata={"tags": ["solution"]}),
        new_code_cell("from recsys_course.exercises import ch00\n"
                      "ch00.check_click_rate(click_rate)"),
        new_markdown_cell("**Quiz.** The answer: 42.", metadata={"tags": ["solution"]}),
        new_markdown_cell("**Task 2.** Write `time_split_df(df, frac)`."),
        new_code_cell(TIME_SPLIT, metadata={"tags": ["solution"]}),
        new_code_cell("ch00.check_time_split(time_split_df)"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"}})


@pytest.fixture(scope="module")
def assignment(tmp_path_factory):
    root = tmp_path_factory.mktemp("assign")
    nbformat.write(chapter(), str(root / "tiny00.ipynb"))
    assert cli_main(["assign", str(root / "tiny00.ipynb"), "--out", str(root / "out"),
                     "--seed", "11", "--no-run-tests"]) == 0
    return root / "out" / "tiny00"


def _answer(nb: dict, fn: str, source: str) -> None:
    for cell in nb["cells"]:
        if "otter_answer_cell" in cell["metadata"].get("tags", []) and \
                f"def {fn}(" in "".join(cell["source"]):
            cell["source"] = source
            return
    raise KeyError(fn)


def _insert(nb: dict, index: int, source: str) -> None:
    nb["cells"].insert(index, {"cell_type": "code", "metadata": {}, "source": source,
                               "outputs": [], "execution_count": None})


def test_assign_writes_student_notebook_autograder_and_gradescope_zip(assignment):
    student = json.loads((assignment / "student" / "tiny00.ipynb").read_text())
    text = json.dumps(student)
    assert student["metadata"]["otter"]["assignment_name"] == "tiny00"
    assert "%pip install -q otter-grader" in text and "grader = otter.Notebook(" in text
    assert 'raise NotImplementedError(\\"write click_rate\\")' in text
    assert "The share of ratings at or above threshold." in text   # docstrings stay
    for secret in (">= threshold).mean", "sort_values().iloc[k]", "The answer: 42",
                   "check_hidden", "BEGIN SOLUTION"):
        assert secret not in text
    sources = ["".join(c["source"]) for c in student["cells"]]
    assert "ch00.check_time_split(time_split_df)" in sources          # learners' checks stay
    student_files = " ".join(p.read_text(errors="ignore")
                             for p in (assignment / "student").rglob("*") if p.is_file())
    assert "check_hidden" not in student_files and "salt" not in student_files

    with zipfile.ZipFile(assignment / "autograder.zip") as z:
        names = set(z.namelist())
        tests = z.read("tests/ch00_click_rate.py").decode()
        secret = json.loads(z.read("files/recsys_secret.json"))
        environment = z.read("environment.yml").decode()
        entry = z.read("run_autograder").decode()
    assert "export RECSYS_SMOKE=1" in entry    # Gradescope grades the chapter's small version
    assert "python=3.11" in environment
    assert "recsys-course @ git+https://github.com/recsys-course/ranking-from-scratch" in \
        environment                               # Gradescope installs the package
    assert {"run_autograder", "setup.sh", "environment.yml", "tests/ch00_time_split.py",
            "files/recsys_hidden.py",
            "files/recsys_grader_pkg/recsys_course/exercises/ch00.py"} <= names
    assert "@test_case(points=0, hidden=False" in tests and "@test_case(points=1, hidden=True)" \
        in tests
    assert secret["salt"] == 11
    assert (assignment / "autograder" / "tiny00.ipynb").is_file()


def test_grade_scores_from_the_graders_checks_whatever_the_notebook_does(assignment, tmp_path):
    student = json.loads((assignment / "student" / "tiny00.ipynb").read_text())
    subs = tmp_path / "subs"
    (subs / "bo").mkdir(parents=True)

    def write(name: str, nb: dict) -> None:
        path = subs / name
        path.write_text(json.dumps(nb))

    ada = copy.deepcopy(student)
    _answer(ada, "click_rate", CLICK_RATE)
    _answer(ada, "time_split_df", TIME_SPLIT)
    write("ada__tiny00.ipynb", ada)

    bo = copy.deepcopy(student)                   # one right, one not attempted, a bad cell
    _insert(bo, 3, "raise ValueError('my own bug')")
    _answer(bo, "click_rate", CLICK_RATE)
    write("bo/tiny00.ipynb", bo)

    cy = copy.deepcopy(student)                   # a mistake the check names, one it does not
    _answer(cy, "click_rate", CLICK_RATE.replace(">=", ">"))
    _answer(cy, "time_split_df", LEAKY_SPLIT)
    write("cy__tiny00.ipynb", cy)

    dan = copy.deepcopy(student)                  # tampers; his time split is right
    _answer(dan, "click_rate", "def click_rate(ratings, threshold):\n    return 0.5\n")
    _answer(dan, "time_split_df", TIME_SPLIT)
    _insert(dan, 3, TAMPERING)
    for cell in dan["cells"]:                     # edits the public check cell
        if "".join(cell["source"]).startswith("from recsys_course.exercises import ch00"):
            cell["source"] = ("from recsys_course.exercises import ch00\n"
                              "print('✓ check_click_rate: 5 hidden cases passed')")
    write("dan__tiny00.ipynb", dan)

    eve = copy.deepcopy(student)                  # patches while checked; exits when called
    _answer(eve, "click_rate", INSIDE_PATCH)
    _answer(eve, "time_split_df", EXITING)
    write("eve__tiny00.ipynb", eve)

    fay = copy.deepcopy(student)                  # ends the kernel early
    _answer(fay, "click_rate", CLICK_RATE)
    _insert(fay, 3, "import os\nos._exit(0)")
    write("fay__tiny00.ipynb", fay)

    (subs / "hal__tiny00.ipynb").write_text("this is not a notebook {")

    out, details = tmp_path / "grades.csv", tmp_path / "details.csv"
    assert cli_main(["grade", str(subs), "--autograders", str(assignment.parent), "--out",
                     str(out), "--details", str(details), "--timeout", "600", "--jobs", "2",
                     "-q"]) == 0
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))

    # a submission that never ends, graded alone with a short time limit
    gus = copy.deepcopy(student)
    _answer(gus, "click_rate", CLICK_RATE)
    _insert(gus, 3, "while True:\n    pass")
    (tmp_path / "loop").mkdir()
    (tmp_path / "loop" / "gus__tiny00.ipynb").write_text(json.dumps(gus))
    assert cli_main(["grade", str(tmp_path / "loop"), "--autograders", str(assignment.parent),
                     "--out", str(tmp_path / "loop.csv"), "--timeout", "20", "-q"]) == 0
    with open(tmp_path / "loop.csv", newline="") as f:
        rows += list(csv.DictReader(f))
    rows.sort(key=lambda r: r["student"])
    assert list(rows[0]) == ["student", "notebook", "status", "ch00_click_rate",
                             "ch00_time_split", "score", "max_score", "note"]
    table = [(r["student"], r["status"], r["ch00_click_rate"], r["ch00_time_split"],
              r["score"], r["max_score"]) for r in rows]
    assert table == [
        ("ada", "OK", "1", "1", "2", "2"),
        ("bo", "OK", "1", "0", "1", "2"),
        ("cy", "OK", "0", "0", "0", "2"),
        ("dan", "OK", "0", "1", "1", "2"),
        ("eve", "OK", "0", "0", "0", "2"),
        ("fay", "CRASH", "0", "0", "0", "2"),
        ("gus", "TIMEOUT", "0", "0", "0", "2"),
        ("hal", "INVALID", "0", "0", "0", "2"),
    ], rows
    notes = {r["student"]: r["note"] for r in rows}
    assert "ch00_click_rate" in notes["dan"] and "taken back" in notes["dan"]
    assert "not JSON" in notes["hal"] and "time limit" in notes["gus"]
    with open(details, newline="") as f:
        feedback = {(r["student"], r["question"]): r["feedback"] for r in csv.DictReader(f)}
    assert "> instead of >=" in feedback[("cy", "ch00_click_rate")]     # the check's words
    assert "not attempted yet" in feedback[("bo", "ch00_time_split")]


def test_chapter_00_student_notebook_runs_until_its_first_unsolved_exercise(tmp_path):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    assert cli_main(["assign", str(REPO / "notebooks" / "00_data_tour.ipynb"), "--out",
                     str(tmp_path), "--no-run-tests"]) == 0
    folder = tmp_path / "00_data_tour"
    assert (folder / "autograder.zip").is_file()
    with zipfile.ZipFile(folder / "autograder.zip") as z:
        assert {"tests/ch00_click_rate.py", "tests/ch00_time_split.py"} <= set(z.namelist())
    nb = nbformat.read(folder / "student" / "00_data_tour.ipynb", as_version=4)
    env = dict(os.environ, RECSYS_SMOKE="1")
    work = tmp_path / "work"        # otter writes its log next to the notebook
    work.mkdir()
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(work)}})
    client.km = client.create_kernel_manager()
    with pytest.raises(CellExecutionError) as info:
        client.execute(env=env)
    assert "NotAttempted" in str(info.value)
    assert "not attempted yet: click_rate still raises NotImplementedError" in str(info.value)
    failed = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and
              any(o.get("output_type") == "error" for o in c.outputs)]
    assert len(failed) == 1 and "check_click_rate" in nb.cells[failed[0]].source
