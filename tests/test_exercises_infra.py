"""The exercise infrastructure: the checks (core + ch00), the otter conversion
(recsys-course assign), the hidden checks' isolation (grading/recsys_hidden.py), the
grader's bookkeeping and the CLI. No notebook runs here; tests/test_grading_otter.py
grades real submissions end to end.
"""
from __future__ import annotations

import csv
import importlib.util
import json
import linecache
import math
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from recsys_course.cli import main as cli_main
from recsys_course.exercises import core
from recsys_course.exercises.ch00 import (
    _reference_click_rate,
    _reference_time_split,
    check_click_rate,
    check_time_split,
)
from recsys_course.exercises.core import (
    CheckError,
    CheckFailed,
    NotAttempted,
    exercise,
    expect_close,
    expect_equal,
    expect_raises,
    expect_scalar,
    expect_shape,
    expect_type,
)
from recsys_course.exercises.assign import find_questions, mark_solution, otter_notebook
from recsys_course.exercises.grade import (
    CRASH,
    INVALID,
    OK,
    Result,
    Submission,
    _readable,
    autograder_for,
    definitions,
    find_submissions,
    hidden_checks,
    tabulate,
)


def failure(check, fn) -> CheckFailed:
    with pytest.raises(CheckFailed) as info:
        check(fn)
    return info.value


@pytest.fixture
def scratch_registry():
    """Lets a test declare throw-away exercises without leaving them registered."""
    saved = dict(core.REGISTRY)
    yield
    core.REGISTRY.clear()
    core.REGISTRY.update(saved)


# ----------------------------------------------------------------------------------------
# ch00 checks
# ----------------------------------------------------------------------------------------
def test_reference_solutions_pass(capsys):
    assert check_click_rate(_reference_click_rate) is True
    assert check_time_split(_reference_time_split) is True
    out = capsys.readouterr().out
    assert "✓ check_click_rate: 5 hidden cases passed" in out
    assert "✓ check_time_split: 4 hidden cases passed" in out


def test_click_rate_type_error_and_off_by_one_get_different_messages():
    series = failure(check_click_rate, lambda df, t: df["rating"] >= t)   # forgot .mean()
    strict = failure(check_click_rate, lambda df, t: float((df["rating"] > t).mean()))
    count = failure(check_click_rate, lambda df, t: int((df["rating"] >= t).sum()))
    assert "should be a single number" in str(series) and "Series with 6 values" in str(series)
    assert "hidden case 1" in str(strict)
    assert "should be 0.666667, but got 0.166667" in str(strict)
    assert "> instead of >=" in str(strict)
    assert "divide by the number of ratings" in str(count)
    assert len({str(series), str(strict), str(count)}) == 3


def test_click_rate_learner_exception_names_case_and_line():
    def click_rate(df, threshold):
        counts = df["rating"].value_counts()
        return counts[threshold] / len(df) + counts[counts.index > threshold].sum() / len(df)

    err = failure(check_click_rate, click_rate)
    text = str(err)
    # the first two cases pass; the third uses a threshold absent from the data
    assert "hidden case 3 (a threshold that is not one of the ratings)" in text
    assert "your function raised KeyError" in text
    assert "return counts[threshold]" in text and "of click_rate" in text


def test_time_split_wrong_solutions_get_specific_messages():
    def leaks_one_tie(df, frac):
        d = df.sort_values("timestamp")
        k = int(frac * len(d))
        return d.iloc[:k], d.iloc[k:]

    def positional(df, frac):
        k = int(frac * len(df))
        return df.iloc[:k], df.iloc[k:]

    def ties_to_train(df, frac):
        t = np.sort(df["timestamp"].to_numpy())
        cut = t[int(frac * len(df)) - 1]
        return df[df["timestamp"] <= cut], df[df["timestamp"] > cut]

    def rounds_up(df, frac):
        t = np.sort(df["timestamp"].to_numpy())
        cut = t[math.ceil(frac * len(df))]
        return df[df["timestamp"] < cut], df[df["timestamp"] >= cut]

    tie = str(failure(check_time_split, leaks_one_tie))
    assert "hidden case 2" in tie and "same moment" in tie
    assert "1 rating(s) in train and 2 in test" in tie
    order = str(failure(check_time_split, positional))
    assert "not split by time" in order and "sort by the timestamp" in order
    to_train = str(failure(check_time_split, ties_to_train))
    assert "should be 5, but got 8" in to_train and "tied ratings at the cut put in train" in to_train
    up = str(failure(check_time_split, rounds_up))
    assert "hidden case 3" in up and "rounding frac * n up" in up
    one = str(failure(check_time_split, lambda df, frac: df))
    assert "should return two DataFrames (train, test)" in one
    arrays = str(failure(check_time_split, lambda df, frac: (df.to_numpy(), df.to_numpy())))
    assert "train (the first value returned) should be a pandas DataFrame" in arrays
    dup = str(failure(check_time_split, lambda df, frac: (df, df)))
    assert "appear in both train and test" in dup
    assert len({tie, order, to_train, up, one, arrays, dup}) == 7


def test_not_attempted_and_not_callable():
    def click_rate(df, threshold):
        # YOUR CODE HERE
        raise NotImplementedError("write click_rate")

    with pytest.raises(NotAttempted, match="not attempted yet: click_rate still raises"):
        check_click_rate(click_rate)
    assert "pass the name without calling it" in str(failure(check_click_rate, 0.5))


# ----------------------------------------------------------------------------------------
# Framework helpers
# ----------------------------------------------------------------------------------------
def test_shape_and_numeric_errors_are_told_apart():
    ref = np.array([0.1, 0.2, 0.3, 0.4])
    with pytest.raises(CheckFailed) as shape:
        expect_close(ref[:, None], ref, what="the logits")
    with pytest.raises(CheckFailed) as numeric:
        expect_close(ref + np.array([0, 0, 1e-3, 0]), ref, what="the logits")
    assert "has shape (4, 1) but should have shape (4,)" in str(shape.value)
    assert "squeeze" in str(shape.value)
    assert "1 of 4 values differ" in str(numeric.value)
    assert "largest difference is 0.001 at index 2" in str(numeric.value)
    assert "got 0.301, expected 0.3" in str(numeric.value)

    with pytest.raises(CheckFailed, match="axes look swapped"):
        expect_shape(np.zeros((3, 2)), (2, 3), "the scores")
    expect_shape(np.zeros((5, 3)), (None, 3))
    with pytest.raises(CheckFailed, match="contains NaN: 1 of 2 values, first at index"):
        expect_close(np.array([1.0, np.nan]), np.array([1.0, 2.0]))
    with pytest.raises(CheckFailed, match=r"exactly what you get with a forgotten sigmoid"):
        expect_close(np.array([0.0, 2.0]), 1 / (1 + np.exp(-np.array([0.0, 2.0]))),
                     mistakes={"a forgotten sigmoid": np.array([0.0, 2.0])})


def test_type_scalar_equal_raises_helpers():
    import torch
    with pytest.raises(CheckFailed, match="should be a pandas DataFrame, but got a list"):
        expect_type([1, 2], pd.DataFrame, "the split")
    assert expect_scalar(torch.tensor(0.5)) == 0.5
    with pytest.raises(CheckFailed, match="torch tensor of shape \\(3,\\)"):
        expect_scalar(torch.zeros(3), "the loss")
    with pytest.raises(CheckFailed, match="should be 3, but got 4"):
        expect_equal(4, 3)
    expect_raises(ValueError, lambda: int("x"))
    with pytest.raises(CheckFailed, match="should raise ValueError on a negative size, but it "
                                          "returned an int"):
        expect_raises(ValueError, lambda n: n, -1, what="a negative size")


def test_framework_for_chapter_authors(scratch_registry, capsys):
    @exercise("chZZ", title="double a tensor")
    def check_double_zz(fn, run):
        import torch
        with run.case("a batch with padding"):
            x = torch.tensor([[1.0, 0.0], [2.0, 3.0]])
            got = run.call(fn, x, forbid_mutation=True)
            expect_close(got, 2 * x, what="the doubled batch")

    assert "chZZ.double_zz" in core.REGISTRY
    assert core.REGISTRY["chZZ.double_zz"].func_name == "check_double_zz"
    assert check_double_zz(lambda x: 2 * x)
    assert "✓ check_double_zz: 1 hidden case passed" in capsys.readouterr().out

    def index_error(x):
        return x[5]

    msg = str(failure(check_double_zz, index_error))
    assert msg.startswith("check_double_zz failed on hidden case 1 (a batch with padding): "
                          "your function raised IndexError")

    def in_place(x):
        return x.mul_(2)

    assert "changed its argument 1" in str(failure(check_double_zz, in_place))

    @exercise("chZZ", "broken")
    def check_broken_zz(fn, run):
        raise KeyError("oops")  # outside any case: a bug in the check

    with pytest.raises(CheckError, match="internal error in the check"):
        check_broken_zz(len)
    with pytest.raises(ValueError, match="must be unique"):
        exercise("chYY", "other")(check_double_zz.__wrapped__)




# ----------------------------------------------------------------------------------------
# Otter assignments (recsys-course assign): the conversion, without running otter
# ----------------------------------------------------------------------------------------
SOLUTION_CLICK_RATE = '''import pandas as pd


def click_rate(ratings: pd.DataFrame, threshold: float) -> float:
    """Share of the ratings at or above ``threshold``."""
    # secret: compare, then average
    return float((ratings["rating"] >= threshold).mean())
'''


def chapter_notebook() -> nbformat.NotebookNode:
    return new_notebook(cells=[
        new_markdown_cell("# Data tour\n\n**Exercise 1.** Write `click_rate`."),
        new_code_cell("from recsys_course.exercises import ch00"),
        new_code_cell(SOLUTION_CLICK_RATE, metadata={"tags": ["solution"]}),
        new_code_cell("ch00.check_click_rate(click_rate)"),
        new_markdown_cell("SECRET-ANSWER: a 4 is a click.", metadata={"tags": ["solution"]}),
        new_code_cell("print('instructor only')", metadata={"tags": ["remove-student"]}),
        new_code_cell("x = 1  # solution without a check", metadata={"tags": ["solution"]}),
        new_code_cell("print(x)"),
    ])


def _student_view(source: str) -> str:
    from otter.assign.solutions import replace_solutions
    return "\n".join(replace_solutions(source.splitlines(), "python"))


def test_mark_solution_gives_otter_a_stub_that_keeps_signatures_and_docstrings():
    marked = mark_solution(SOLUTION_CLICK_RATE)
    exec(compile(marked, "<solution>", "exec"), {})   # the instructor's version still runs
    student = _student_view(marked)
    assert "def click_rate(ratings: pd.DataFrame, threshold: float) -> float:" in student
    assert '"""Share of the ratings at or above ``threshold``."""' in student
    assert 'raise NotImplementedError("write click_rate")' in student
    assert "import pandas as pd" in student
    for secret in (">= threshold).mean", "secret", "BEGIN", "PROMPT"):
        assert secret not in student
    namespace = {}
    exec(compile(student, "<student>", "exec"), namespace)
    with pytest.raises(NotAttempted, match="click_rate still raises NotImplementedError"):
        check_click_rate(namespace["click_rate"])

    klass = _student_view(mark_solution(
        "class FM:\n    k = 2\n    def __init__(self, d):\n        self.d = d\n"
        "    def forward(self, x):\n        return x * self.d\n", label="Exercise 2.1"))
    assert 'raise NotImplementedError("Exercise 2.1: write FM.forward")' in klass
    assert "self.d = d" not in klass and "x * self.d" not in klass
    compile(klass, "<stub>", "exec")
    assert 'raise NotImplementedError("write your solution here")' in \
        _student_view(mark_solution("answer = 42"))


def test_otter_notebook_makes_one_question_per_checked_solution():
    nb = chapter_notebook()
    questions = find_questions(nb)
    assert [(q.name, q.chapter, q.check, q.fn_name, q.solution, q.check_cell)
            for q in questions] == [("ch00_click_rate", "ch00", "check_click_rate",
                                     "click_rate", 2, 3)]
    master, _ = otter_notebook(nb, "00_data_tour", points=2, files=["recsys_hidden.py"])
    raw = [c.source.splitlines()[0] for c in master.cells if c.cell_type == "raw"]
    assert raw == ["# ASSIGNMENT CONFIG", "# BEGIN QUESTION", "# BEGIN SOLUTION",
                   "# END SOLUTION", "# BEGIN TESTS", "# END TESTS", "# END QUESTION"]
    config = master.cells[0].source
    for line in ("runs_on: colab", "requirements: requirements.txt", "ok_format: false",
                 "- recsys_hidden.py"):
        assert line in config
    texts = [c.source for c in master.cells]
    assert not any("SECRET-ANSWER" in t or "instructor only" in t for t in texts)
    begin = texts.index(next(t for t in texts if t.startswith("# BEGIN QUESTION")))
    assert "points: 2" in texts[begin] and "check_cell: false" in texts[begin]
    public, hidden = texts[begin + 5], texts[begin + 6]
    assert "points: 0" in public and "ch00.check_click_rate(env.get(\"click_rate\"))" in public
    assert "hidden: true" in hidden and "points: 2" in hidden
    assert 'check_hidden(env, "ch00", "check_click_rate", "click_rate")' in hidden
    assert texts[begin + 9] == "ch00.check_click_rate(click_rate)"  # learners' check stays
    assert all(c.get("outputs", []) == [] for c in master.cells if c.cell_type == "code")
    assert "# BEGIN SOLUTION NO PROMPT" in texts[begin + 2]
    unchecked = next(t for t in texts if "raise NotImplementedError" in t and
                     "BEGIN" not in t)                   # ungraded, but not given away
    assert "x = 1" not in unchecked and "solution without a check" not in unchecked


# ----------------------------------------------------------------------------------------
# The hidden check (grading/recsys_hidden.py), run as the autograder runs it
# ----------------------------------------------------------------------------------------
HIDDEN = Path(__file__).resolve().parents[1] / "grading" / "recsys_hidden.py"
PACKAGE = str(Path(__file__).resolve().parents[1])
GOOD_RATE = 'def click_rate(ratings, threshold):\n    return float((ratings["rating"] >= threshold).mean())\n'


@pytest.fixture(scope="module")
def hidden():
    spec = importlib.util.spec_from_file_location("recsys_hidden_under_test", HIDDEN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _verdict(hidden, source, fn_name="click_rate", check="check_click_rate", **kw):
    return hidden.run_isolated("ch00", check, fn_name, source, salt=7, package_dir=PACKAGE,
                               **kw)


def test_hidden_check_passes_a_solution_on_salted_cases(hidden):
    verdict = _verdict(hidden, GOOD_RATE)
    assert verdict["passed"] and verdict["varied"], verdict
    wrong = _verdict(hidden, GOOD_RATE.replace(">=", ">"))
    assert not wrong["passed"] and "> instead of >=" in wrong["message"]  # specific feedback
    assert hidden._Salt(7)(3) == hidden._Salt(7)(3) != hidden._Salt(8)(3)
    assert hidden._Salt(7)(None) is None


@pytest.mark.parametrize("attack", [
    # patches in the student's source, before the check runs
    "import numpy as np, torch\nfrom recsys_course.exercises import core, ch00\n"
    "np.isclose = lambda a, b, **k: np.ones(np.broadcast(a, b).shape, bool)\n"
    "torch.allclose = lambda *a, **k: True\ncore.expect_close = lambda *a, **k: None\n"
    "ch00.expect_close = lambda *a, **k: None\nch00.check_click_rate = lambda *a: True\n"
    "def click_rate(ratings, threshold):\n    return 0.5\n",
    # patches made while the check calls the function
    "def click_rate(ratings, threshold):\n    import numpy as np\n"
    "    from recsys_course.exercises import ch00\n"
    "    ch00.expect_close = lambda *a, **k: None\n    ch00.expect_scalar = lambda *a, **k: 0.5\n"
    "    np.isclose = lambda a, b, **k: np.ones(np.broadcast(a, b).shape, bool)\n"
    "    return 0.5\n",
    # a forged verdict line and an early exit
    "def click_rate(ratings, threshold):\n    import sys, json\n"
    "    print(json.dumps({'passed': True}))\n    sys.exit(0)\n",
    "def click_rate(ratings, threshold):\n    import os\n    print('passed')\n    os._exit(0)\n",
    "raise SystemExit(0)\n" + GOOD_RATE,
    "def click_rate(ratings, threshold):\n    while True:\n        pass\n",
])
def test_hidden_check_is_not_fooled_by_patches_forgeries_or_exits(hidden, attack):
    verdict = _verdict(hidden, attack, timeout=30)
    assert verdict["passed"] is False, verdict


def test_source_of_sends_the_function_its_helpers_imports_and_constants(hidden):
    cell = ("import numpy as np\nfrom math import floor\nTHRESHOLD_SHIFT = 0.0\n"
            "def _above(values, t):\n    return np.asarray(values) >= t + THRESHOLD_SHIFT\n"
            "def click_rate(ratings, threshold):\n"
            "    return float(_above(ratings['rating'], threshold).mean()) + floor(0.5)\n")
    filename = "<ipython-cell-1>"  # as IPython does: the cell's source in linecache
    linecache.cache[filename] = (len(cell), None, cell.splitlines(True), filename)
    env = {"__name__": "__main__"}
    exec(compile(cell, filename, "exec"), env)
    env["unrelated"] = object()
    source = hidden.source_of(env, "click_rate")
    for line in ("import numpy as np", "from math import floor as floor",
                 "THRESHOLD_SHIFT = 0.0", "def _above(", "def click_rate("):
        assert line in source
    assert "unrelated" not in source
    assert _verdict(hidden, source)["passed"]
    with pytest.raises(AssertionError, match="is not defined"):
        hidden.source_of(env, "time_split_df")


# ----------------------------------------------------------------------------------------
# Grading bookkeeping (recsys-course grade), without running otter
# ----------------------------------------------------------------------------------------
def test_find_submissions_both_layouts_and_unreadable_files(tmp_path):
    (tmp_path / "bob").mkdir()
    (tmp_path / ".hidden").mkdir()
    nbformat.write(new_notebook(), str(tmp_path / "alice__00_data_tour.ipynb"))
    nbformat.write(new_notebook(), str(tmp_path / "bob" / "00_data_tour.ipynb"))
    nbformat.write(new_notebook(), str(tmp_path / ".hidden" / "x.ipynb"))
    (tmp_path / "carol__00_data_tour.ipynb").write_text("{ not json")
    (tmp_path / "dave__00_data_tour.zip").write_bytes(b"not a zip")
    subs = find_submissions(tmp_path)
    assert [(s.student, s.notebook) for s in subs] == [
        ("alice", "00_data_tour"), ("bob", "00_data_tour"), ("carol", "00_data_tour"),
        ("dave", "00_data_tour")]
    assert _readable(subs[0].path) is None
    assert "not JSON" in _readable(subs[2].path) and "not a zip" in _readable(subs[3].path)
    (tmp_path / "ag" / "00_data_tour").mkdir(parents=True)
    (tmp_path / "ag" / "00_data_tour" / "autograder.zip").write_bytes(b"")
    assert autograder_for(subs[0], tmp_path / "ag") == \
        tmp_path / "ag" / "00_data_tour" / "autograder.zip"
    assert autograder_for(Submission("x", "99_other", Path("x")), tmp_path / "ag") is None


def test_definitions_keep_imports_functions_and_constants_only():
    nb = {"cells": [
        {"cell_type": "code", "source": "%pip install x\nimport numpy as np\nK = 3\n"
                                        "np.isclose = None\nprint('forged PASS')"},
        {"cell_type": "markdown", "source": "def not_code(): pass"},
        {"cell_type": "code", "source": ["def f(x):\n", "    return x + K\n",
                                         "@(lambda g: exec('import os'))\ndef g(): pass\n",
                                         "while True:\n    pass\n"]},
        {"cell_type": "code", "source": "this is not python"},
        {"cell_type": "code", "source": "def f(x):\n    return x * K\n"},
    ]}
    source = definitions(nb)
    assert source.split("\n\n") == ["import numpy as np", "K = 3",
                                    "def f(x):\n    return x + K",
                                    "def f(x):\n    return x * K\n"]


def test_hidden_checks_are_read_from_the_autograder_tests(tmp_path):
    (tmp_path / "q1.py").write_text(
        "name = 'ch00_click_rate'\npoints = 1\n"
        "    hidden.check_hidden(env, 'ch00', 'check_click_rate', 'click_rate')\n")
    (tmp_path / "other.py").write_text("name = 'q2'\n")
    assert hidden_checks(tmp_path) == {
        "ch00_click_rate": ("ch00", "check_click_rate", "click_rate")}


def test_tabulate_has_points_per_question_and_empty_cells_for_other_notebooks():
    def result(student, notebook, status, points, maxima, note=""):
        return Result(Submission(student, notebook, Path(f"{student}.ipynb")), status, note,
                      points, maxima)

    rows = tabulate([
        result("ada", "00", OK, {"ch00_a": 1.0, "ch00_b": 0.0}, {"ch00_a": 1.0, "ch00_b": 1.0}),
        result("bo", "00", CRASH, {}, {}, "the kernel died"),
        result("cy", "02", OK, {"ch02_c": 0.5}, {"ch02_c": 1.0}),
        result("di", "02", INVALID, {}, {}, "not JSON"),
    ])
    header, table = rows
    assert header == ["student", "notebook", "status", "ch00_a", "ch00_b", "ch02_c", "score",
                      "max_score", "note"]
    assert [[r[h] for h in header] for r in table] == [
        ["ada", "00", OK, 1, 0, "", 1, 2, ""],
        ["bo", "00", CRASH, 0, 0, "", 0, 2, "the kernel died"],
        ["cy", "02", OK, "", "", 0.5, 0.5, 1, ""],
        ["di", "02", INVALID, "", "", 0, 0, 1, "not JSON"],
    ]


def test_cli_help_lists_the_instructor_commands(capsys):
    with pytest.raises(SystemExit) as info:
        cli_main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "assign" in out and "grade" in out and "student-copies" not in out


def test_book_folds_code_solutions_behind_a_click():
    spec = importlib.util.spec_from_file_location(
        "sphinx_fixes_under_test", Path(__file__).resolve().parents[1] / "book" / "_ext" /
        "sphinx_fixes.py")
    fixes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fixes)
    nb = json.loads(nbformat.writes(chapter_notebook()))
    assert fixes.fold_solutions(nb) == 2          # the two code cells tagged solution
    by_source = {"".join(c["source"])[:20]: c["metadata"] for c in nb["cells"]}
    solution = by_source[SOLUTION_CLICK_RATE[:20]]
    assert solution["tags"] == ["solution", "hide-input"]
    assert solution["mystnb"]["code_prompt_show"] == "Show the solution"
    quiz = by_source["SECRET-ANSWER: a 4 i"]      # markdown answers keep their own dropdowns
    assert quiz["tags"] == ["solution"] and "mystnb" not in quiz
    assert "hide-input" not in by_source["ch00.check_click_rate(click_rate)"[:20]].get("tags", [])
    assert fixes.fold_solutions(nb) == 2 and solution["tags"] == ["solution", "hide-input"]


def test_source_of_puts_imports_first_and_sends_no_numpy_scalar_as_a_constant(hidden):
    # chapter 01's notebook leaves a global `lam = np.float64(1.0)` behind, and its
    # exercise names a parameter `lam`: the source must still run on its own
    cell = ("import numpy as np\nlam = np.round(np.float64(1.0), 2)\nk = 3\n"
            "def click_rate(ratings, threshold, lam: np.floating = 0.5):\n"
            "    return float(np.mean(np.asarray(ratings['rating']) >= threshold))\n")
    filename = "<ipython-cell-2>"
    linecache.cache[filename] = (len(cell), None, cell.splitlines(True), filename)
    env = {"__name__": "__main__"}
    exec(compile(cell, filename, "exec"), env)
    source = hidden.source_of(env, "click_rate")
    assert source.index("import numpy as np") < source.index("def click_rate(")
    assert "np.float64" not in source
    assert _verdict(hidden, source)["passed"]


def test_hidden_check_of_a_torch_exercise_ignores_patched_torch_and_numpy(hidden):
    good = ("import torch\n\ndef masked_dice_train(s, mask, alpha, eps):\n"
            "    rows = s[mask.bool()]\n"
            "    mean, var = rows.mean(0), rows.var(0, unbiased=False)\n"
            "    p = torch.sigmoid((s - mean) / torch.sqrt(var + eps))\n"
            "    return (p * s + (1 - p) * alpha * s) * mask.bool()[..., None]\n")
    patched = ("import numpy as np, torch\ntorch.allclose = lambda *a, **k: True\n"
               "def masked_dice_train(s, mask, alpha, eps):\n"
               "    torch.allclose = lambda *a, **k: True\n"
               "    torch.isclose = lambda a, b, **k: torch.ones_like(a, dtype=torch.bool)\n"
               "    np.isclose = lambda a, b, **k: np.ones(np.broadcast(a, b).shape, bool)\n"
               "    return s\n")
    run = dict(salt=7, package_dir=PACKAGE, timeout=60)
    verdict = hidden.run_isolated("ch04", "check_masked_dice_train", "masked_dice_train", good,
                                  **run)
    assert verdict["passed"] and verdict["varied"], verdict
    assert not hidden.run_isolated("ch04", "check_masked_dice_train", "masked_dice_train", patched,
                                   **run)["passed"]
