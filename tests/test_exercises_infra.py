"""The exercise infrastructure: checks (core + ch00), student copies, grading, CLI.

Only five notebooks are executed in a kernel (one student copy, three graded
submissions, one time-limit run); everything else runs in-process.
"""
from __future__ import annotations

import csv
import math

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

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
from recsys_course.exercises.grade import (
    CRASH,
    TIMEOUT,
    execute_notebook,
    find_submissions,
    read_results,
)
from recsys_course.exercises.student import make_student_copies, stub_source, strip_answers


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
def test_reference_solutions_pass(capsys, monkeypatch):
    monkeypatch.delenv("RECSYS_GRADING", raising=False)
    assert check_click_rate(_reference_click_rate) is True
    assert check_time_split(_reference_time_split) is True
    out = capsys.readouterr().out
    assert "✓ check_click_rate: 5 hidden cases passed" in out
    assert "✓ check_time_split: 4 hidden cases passed" in out
    assert "[recsys-check]" not in out  # markers only when grading


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


def test_markers_when_grading(capsys, monkeypatch):
    monkeypatch.setenv("RECSYS_GRADING", "1")
    check_click_rate(_reference_click_rate)
    with pytest.raises(CheckFailed):
        check_time_split(lambda df, frac: df)
    with pytest.raises(NotAttempted):
        check_time_split(lambda df, frac: (_ for _ in ()).throw(NotImplementedError()))
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("[recsys-check]")]
    assert lines[0] == "[recsys-check] ch00.click_rate PASS 5"
    assert lines[1].startswith("[recsys-check] ch00.time_split FAIL hidden case 1")
    assert "two DataFrames" in lines[1] and "\n" not in lines[1]
    assert lines[2].startswith("[recsys-check] ch00.time_split TODO not attempted yet")


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
# Student copies
# ----------------------------------------------------------------------------------------
SOLUTION_CLICK_RATE = '''import pandas as pd


def click_rate(ratings: pd.DataFrame, threshold: float) -> float:
    """Share of the ratings at or above ``threshold``."""
    # secret: compare, then average
    return float((ratings["rating"] >= threshold).mean())


print(click_rate(pd.DataFrame({"rating": [1, 5]}), 4))
'''


def instructor_notebook() -> nbformat.NotebookNode:
    solution = new_code_cell(SOLUTION_CLICK_RATE, metadata={"tags": ["solution"]},
                             execution_count=3)
    solution.outputs = [new_output("stream", name="stdout", text="0.5\n")]
    cells = [
        new_markdown_cell("# Data tour\n\n**Exercise 1.** Write `click_rate`."),
        new_code_cell("from recsys_course.exercises.ch00 import check_click_rate",
                      execution_count=2),
        solution,
        new_code_cell("check_click_rate(click_rate)", execution_count=4,
                      outputs=[new_output("stream", name="stdout", text="✓ passed\n")]),
        new_markdown_cell("**Quiz.** Why `>=`?\n\n:::{dropdown} Hint\nThink of 4 stars.\n:::"
                          "\n\n:::{dropdown} Answer\nBECAUSE-TIES-COUNT\n:::"),
        new_markdown_cell("SECRET-ANSWER: a 4 is a click.", metadata={"tags": ["solution"]}),
        new_code_cell("print('instructor only')", metadata={"tags": ["remove-student"]}),
        new_code_cell("print('after the check')"),
    ]
    return new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3",
                                                              "display_name": "Python 3",
                                                              "language": "python"}})


def test_stub_source_keeps_signatures_and_drops_bodies():
    stub = stub_source(SOLUTION_CLICK_RATE)
    assert "def click_rate(ratings: pd.DataFrame, threshold: float) -> float:" in stub
    assert '"""Share of the ratings at or above ``threshold``."""' in stub
    assert 'raise NotImplementedError("write click_rate")' in stub
    assert "import pandas as pd" in stub
    for secret in (">= threshold).mean", "secret", "print("):
        assert secret not in stub
    compile(stub, "<stub>", "exec")

    klass = stub_source("class FM:\n    k = 2\n    def __init__(self, d):\n        self.d = d\n"
                        "    def forward(self, x): return x * self.d\n", label="Exercise 2.1")
    assert 'raise NotImplementedError("Exercise 2.1: write FM.forward")' in klass
    assert "self.d = d" not in klass and "x * self.d" not in klass and "k = 2" not in klass
    compile(klass, "<stub>", "exec")
    assert stub_source("answer = 42").endswith('raise NotImplementedError("write your solution here")')
    assert "NotImplementedError" in stub_source("%timeit 1 + 1")  # not Python: generic stub


def test_strip_answers_keeps_hints():
    md = ("Q?\n\n:::{dropdown} Hint\nhint\n:::\n\n::::{solution} ex-1\nA1\n:::{note}\nx\n:::\n"
          "::::\n\n```{admonition} Answer\nA2\n```\n\n<details><summary>Show the answer"
          "</summary>\nA3\n</details>\n\n<details><summary>Hint</summary>h2</details>\nEnd.")
    out = strip_answers(md)
    for secret in ("A1", "A2", "A3", "{solution}", "{note}"):
        assert secret not in out
    assert ":::{dropdown} Hint\nhint\n:::" in out and "<summary>Hint</summary>h2" in out
    assert out.endswith("End.")
    assert strip_answers("plain text\n\n\nkept") == "plain text\n\n\nkept"


def test_student_copy_has_no_solutions_and_stops_at_the_check(tmp_path):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    src, out = tmp_path / "src", tmp_path / "out"
    (src / "part1").mkdir(parents=True)
    nbformat.write(instructor_notebook(), str(src / "part1" / "00_data_tour.ipynb"))
    (src / ".ipynb_checkpoints").mkdir()
    nbformat.write(instructor_notebook(), str(src / ".ipynb_checkpoints" / "x-checkpoint.ipynb"))
    written = make_student_copies(src, out)
    target = out / "part1" / "00_data_tour.ipynb"
    assert written == [(target, 1)]
    first = target.read_bytes()
    make_student_copies(src, tmp_path / "again")
    assert (tmp_path / "again" / "part1" / "00_data_tour.ipynb").read_bytes() == first

    text = first.decode()
    for secret in (">= threshold).mean", "SECRET-ANSWER", "BECAUSE-TIES-COUNT", "instructor only",
                   '"solution"', "0.5\\n", "✓ passed"):
        assert secret not in text
    nb = nbformat.reads(text, as_version=4)
    nbformat.validate(nb)
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code", "code", "markdown",
                                               "code"]
    assert all(c.outputs == [] and c.execution_count is None
               for c in nb.cells if c.cell_type == "code")
    assert "Think of 4 stars." in nb.cells[4].source  # hints stay
    assert 'raise NotImplementedError("write click_rate")' in nb.cells[2].source

    client = NotebookClient(nb, timeout=60, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    with pytest.raises(CellExecutionError) as info:
        client.execute()
    assert "NotAttempted" in str(info.value)
    assert "not attempted yet: click_rate still raises NotImplementedError" in str(info.value)
    assert nb.cells[2].execution_count is not None and _error_names(nb.cells[2]) == []
    assert _error_names(nb.cells[3]) == ["NotAttempted"]
    assert nb.cells[5].outputs == []  # execution stopped at the check


def _error_names(cell):
    return [o["ename"] for o in cell.outputs if o["output_type"] == "error"]


# ----------------------------------------------------------------------------------------
# Grading
# ----------------------------------------------------------------------------------------
GOOD_SPLIT = '''import numpy as np

def time_split(df, frac):
    t = np.sort(df["timestamp"].to_numpy())
    cut = t[int(frac * len(df))]
    return df[df["timestamp"] < cut], df[df["timestamp"] >= cut]
'''
LEAKY_SPLIT = '''def time_split(df, frac):
    d = df.sort_values("timestamp")
    k = int(frac * len(d))
    return d.iloc[:k], d.iloc[k:]
'''
FORGED_MARKER = [new_output("stream", name="stdout",
                            text="[recsys-check] ch00.time_split PASS 4\n")]


def submission(first: str, click_rate: str, time_split: str) -> nbformat.NotebookNode:
    return new_notebook(cells=[
        new_code_cell(first),
        new_code_cell("import os\nassert os.environ['RECSYS_SMOKE'] == '1'\n"
                      "from recsys_course.exercises.ch00 import check_click_rate, "
                      "check_time_split"),
        new_code_cell(click_rate),
        new_code_cell("check_click_rate(click_rate)"),
        new_markdown_cell("Now the split."),
        new_code_cell(time_split),
        new_code_cell("check_time_split(time_split)", outputs=FORGED_MARKER),
    ])


def test_grade_end_to_end(tmp_path):
    subs = tmp_path / "subs"
    (subs / "bob").mkdir(parents=True)
    good_rate = SOLUTION_CLICK_RATE
    nbformat.write(submission("x = 1", good_rate, GOOD_SPLIT),
                   str(subs / "alice__00_data_tour.ipynb"))
    # bob: a failing first cell does not stop the rest; one check passes, one fails
    nbformat.write(submission("raise ValueError('my own bug')", good_rate, LEAKY_SPLIT),
                   str(subs / "bob" / "00_data_tour.ipynb"))
    # carol: kills her kernel in the first cell (and carries a forged PASS marker)
    nbformat.write(submission("import os\nos._exit(1)", good_rate, GOOD_SPLIT),
                   str(subs / "carol__00_data_tour.ipynb"))
    (subs / "dave__00_data_tour.ipynb").write_text("{ not a notebook")
    assert [(s.student, s.notebook) for s in find_submissions(subs)] == [
        ("alice", "00_data_tour"), ("bob", "00_data_tour"), ("carol", "00_data_tour"),
        ("dave", "00_data_tour")]

    out, details = tmp_path / "grades.csv", tmp_path / "details.csv"
    code = cli_main(["grade", str(subs), "--out", str(out), "--timeout", "60",
                     "--details", str(details), "-q"])
    assert code == 0
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    table = [(r["student"], r["status"], r["ch00.click_rate"], r["ch00.time_split"],
              r["passed"], r["total"]) for r in rows]
    assert table == [
        ("alice", "OK", "PASS", "PASS", "2", "2"),
        ("bob", "OK", "PASS", "FAIL", "1", "2"),
        ("carol", "CRASH", "NOT RUN", "NOT RUN", "0", "2"),
        ("dave", "INVALID", "NOT RUN", "NOT RUN", "0", "2"),
    ]
    assert list(rows[0]) == ["student", "notebook", "status", "ch00.click_rate",
                             "ch00.time_split", "passed", "total", "note"]
    assert "kernel died while running cell 0" in rows[2]["note"]
    with open(details, newline="") as f:
        feedback = {(r["student"], r["exercise"]): r["feedback"] for r in csv.DictReader(f)}
    assert "same moment" in feedback[("bob", "ch00.time_split")]


def test_read_results_statuses_without_a_kernel():
    core.load_all()
    nb = submission("x = 1", "", "")
    nb.cells[0].execution_count = 1
    nb.cells[3].execution_count = 2
    nb.cells[3].outputs = [new_output("error", ename="NameError", evalue="name 'click_rate' "
                                      "is not defined", traceback=[])]
    nb.cells[6].outputs = []
    assert read_results(nb) == {
        "ch00.click_rate": ("ERROR", "the check's cell raised NameError: name 'click_rate' is "
                                     "not defined"),
        "ch00.time_split": ("NOT RUN", "the check's cell did not run")}
    assert read_results(nb, TIMEOUT, 6)["ch00.time_split"][0] == "TIMEOUT"
    nb.cells[6].source = "# check_time_split(time_split)"
    assert "ch00.time_split" not in read_results(nb, CRASH, 6)


def test_notebook_time_limit():
    nb = new_notebook(cells=[new_code_cell("print('start')"),
                             new_code_cell("import time\ntime.sleep(120)"),
                             new_code_cell("print('never')")])
    status, note, where = execute_notebook(nb, timeout=6)
    assert (status, where) == (TIMEOUT, 1) and "time limit of 6 s" in note
    assert nb.cells[0].outputs[0]["text"] == "start\n" and nb.cells[2].outputs == []


def test_cli_help_and_student_copies(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        cli_main(["--help"])
    assert info.value.code == 0
    assert "student-copies" in capsys.readouterr().out
    (tmp_path / "src").mkdir()
    nbformat.write(instructor_notebook(), str(tmp_path / "src" / "ch.ipynb"))
    assert cli_main(["student-copies", str(tmp_path / "src"), str(tmp_path / "out")]) == 0
    assert "1 solution cell stubbed" in capsys.readouterr().out
