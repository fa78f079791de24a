"""The notebook time budget (tests/notebook_budget.py, tests/notebook_budgets.toml)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

import notebook_budget as nb

ROOT = Path(__file__).resolve().parents[1]
BUDGETS = {"smoke": {"default": 60, "slow.ipynb": 5}, "full": {"default": 150},
           "total": {"smoke": 600, "full": 900}}


def test_notebook_of_reads_nbval_node_ids():
    assert nb.notebook_of("notebooks/00_data_tour.ipynb::Cell 3") == "00_data_tour.ipynb"
    assert nb.notebook_of("00_data_tour.ipynb::Cell 0") == "00_data_tour.ipynb"
    assert nb.notebook_of("tests/test_train.py::test_fit") is None
    assert nb.notebook_of("notebooks/00_data_tour.ipynb") is None       # the file, not a cell


def test_durations_add_up_per_notebook_including_setup_and_teardown():
    acc = nb.Accumulator()
    for nodeid, when, d, outcome in [
            ("notebooks/a.ipynb::Cell 0", "setup", 4.0, "passed"),      # kernel start
            ("notebooks/a.ipynb::Cell 0", "call", 1.0, "passed"),
            ("notebooks/a.ipynb::Cell 0", "teardown", 0.0, "passed"),
            ("notebooks/a.ipynb::Cell 1", "call", 2.5, "failed"),
            ("notebooks/b.ipynb::Cell 0", "call", 0.5, "passed"),
            ("tests/test_x.py::test_y", "call", 99.0, "passed")]:
        acc.add(nodeid, when, d, outcome)
    assert set(acc.times) == {"a.ipynb", "b.ipynb"}
    a = acc.times["a.ipynb"]
    assert a.seconds == pytest.approx(7.5) and a.cells == 2 and a.failed == 1


def test_a_fake_notebook_over_budget_is_flagged_and_others_are_not():
    times = {"slow.ipynb": nb.NotebookTime("slow.ipynb", 6.0, 3),
             "fast.ipynb": nb.NotebookTime("fast.ipynb", 59.0, 3)}
    rows = nb.rows_for(times, BUDGETS, "smoke")
    assert [r["notebook"] for r in rows] == ["fast.ipynb", "slow.ipynb"]   # slowest first
    over = nb.over_budget(rows)
    assert [r["notebook"] for r in over] == ["slow.ipynb"]
    assert over[0]["budget_seconds"] == 5 and over[0]["status"] == "OVER BUDGET"
    # in full mode the defaults apply and nothing is over
    assert nb.over_budget(nb.rows_for(times, BUDGETS, "full")) == []
    # a slower machine: RECSYS_BUDGET_SCALE scales every budget
    assert nb.over_budget(nb.rows_for(times, BUDGETS, "smoke", scale=1.5)) == []


def test_budget_lookup_and_table_name_the_slowest():
    assert nb.budget_for(BUDGETS, "smoke", "other.ipynb") == 60
    assert nb.budget_for(BUDGETS, "smoke", "slow.ipynb", scale=2) == 10
    assert nb.budget_for({}, "smoke", "x.ipynb") is None
    rows = nb.rows_for({"x.ipynb": nb.NotebookTime("x.ipynb", 12.0, 1),
                        "y.ipynb": nb.NotebookTime("y.ipynb", 3.0, 1)}, BUDGETS, "smoke")
    text = nb.format_table(rows, 600)
    assert "slowest: x.ipynb (12.0 s)" in text and "15.0 s (target < 600 s)" in text


def test_the_repository_budgets_cover_every_notebook():
    budgets = nb.load_budgets()
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert nb.budget_for(budgets, "smoke", notebook.name) is not None
        assert nb.budget_for(budgets, "full", notebook.name) is not None
    assert budgets["total"]["smoke"] <= 600 and budgets["total"]["full"] <= 900


def test_csv_round_trip_and_the_full_mode_command(tmp_path, capsys):
    rows = nb.rows_for({"a.ipynb": nb.NotebookTime("a.ipynb", 200.0, 4)},
                       {"full": {"default": 150}, "total": {"full": 900}}, "full")
    path = tmp_path / "times.csv"
    nb.write_csv(path, rows)
    assert nb.read_csv(path)[0]["notebook"] == "a.ipynb"
    # the command checks a CSV like tools/execute_notebooks.py --csv writes
    exec_csv = tmp_path / "full.csv"
    exec_csv.write_text("notebook,mode,seconds,status\na.ipynb,full,100.0,ok\n"
                        "b.ipynb,full,170.0,ok\n")
    assert nb.main([str(exec_csv)]) == 1
    out = capsys.readouterr().out
    assert "OVER BUDGET: b.ipynb" in out and "slowest: b.ipynb" in out
    exec_csv.write_text("notebook,mode,seconds,status\na.ipynb,full,100.0,ok\n")
    assert nb.main([str(exec_csv)]) == 0


FAKE_CONFTEST = """
import sys, time
import pytest
sys.path.insert(0, {tests!r})
import notebook_budget

def pytest_configure(config):
    config.pluginmanager.register(
        notebook_budget.NotebookTimer(config.rootpath, budgets_file={budgets!r}), "notebook-timer")

class FakeCell(pytest.Item):
    def runtest(self):
        time.sleep(self.seconds)

class FakeNotebook(pytest.File):
    # stands in for nbval: one item per line of the file, "Cell i", sleeping that long
    def collect(self):
        for i, line in enumerate(self.path.read_text().split()):
            item = FakeCell.from_parent(self, name=f"Cell {{i}}")
            item.seconds = float(line)
            yield item

def pytest_collect_file(file_path, parent):
    if file_path.suffix == ".ipynb":
        return FakeNotebook.from_parent(parent, path=file_path)
"""


def _run_fake_session(tmp_path: Path, budget: float) -> subprocess.CompletedProcess:
    (tmp_path / "budgets.toml").write_text(f'[smoke]\ndefault = 60\n"slow.ipynb" = {budget}\n')
    (tmp_path / "conftest.py").write_text(FAKE_CONFTEST.format(
        tests=str(Path(__file__).parent), budgets=str(tmp_path / "budgets.toml")))
    (tmp_path / "slow.ipynb").write_text("0.3 0.3\n")
    (tmp_path / "fast.ipynb").write_text("0.01\n")
    env = dict(os.environ, RECSYS_SMOKE="1")
    env.pop("RECSYS_BUDGET_SCALE", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--rootdir", str(tmp_path), str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


# The two sessions below time real sleeps, yet hold on any machine: a sleep never takes
# less than asked, so 0.6 s of sleeps always exceed a 0.2 s budget; and a 30 s budget
# leaves 50 times the sleeps' length for scheduling delays and pytest's own per-item
# overhead, far beyond what one core or a busy neighbour adds (at most a few times).
def test_a_session_with_a_fake_notebook_over_budget_fails(tmp_path):
    proc = _run_fake_session(tmp_path, budget=0.2)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "3 passed" in out                                   # every cell passed ...
    assert "OVER BUDGET: slow.ipynb" in out                     # ... yet the budget fails it
    assert "slowest: slow.ipynb" in out
    rows = nb.read_csv(tmp_path / "artifacts" / "notebook_times.csv")
    assert {r["notebook"]: r["status"] for r in rows} == {"slow.ipynb": "OVER BUDGET",
                                                          "fast.ipynb": "ok"}


def test_a_session_within_budget_passes(tmp_path):
    proc = _run_fake_session(tmp_path, budget=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "notebook time budget" in proc.stdout and "OVER BUDGET" not in proc.stdout


def test_budget_ignored_without_notebooks():
    timer = nb.NotebookTimer(ROOT, mode="smoke", csv_path=os.devnull)
    session = SimpleNamespace(exitstatus=0)
    timer.pytest_sessionfinish(session, 0)
    assert session.exitstatus == 0 and timer.rows == []
