"""The book's time budget: execution time per notebook, checked against budgets.

Two ways to measure, one table format (notebook, mode, seconds, budget, cells, status):

* The test run (``make test``, smoke mode): ``tests/conftest.py`` registers
  :class:`NotebookTimer`, which sums the setup + call + teardown durations of every nbval
  cell per notebook (the first cell's setup includes starting the kernel), prints a table
  at the end of the session, writes ``artifacts/notebook_times.csv`` and fails the
  session when a notebook exceeds its smoke budget.
* The book (full mode): ``tools/execute_notebooks.py notebooks/*.ipynb --csv
  artifacts/notebook_times_full.csv``, then ``python tests/notebook_budget.py
  artifacts/notebook_times_full.csv`` prints the same table and exits 1 when a notebook
  or the whole book is over budget.

Budgets live in ``tests/notebook_budgets.toml``; ``RECSYS_BUDGET_SCALE`` (e.g. ``1.5``)
multiplies all of them on a slower machine. Appendix notebooks/06_benchmark.ipynb shows
the tables.
"""
from __future__ import annotations

import csv
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BUDGETS_FILE = Path(__file__).with_name("notebook_budgets.toml")
CSV_NAME = "notebook_times.csv"
FIELDS = ["notebook", "mode", "seconds", "budget_seconds", "cells", "status"]


# ----------------------------------------------------------------------------------------
# Pure logic (unit-tested in tests/test_time_budget.py)
# ----------------------------------------------------------------------------------------
def current_mode() -> str:
    return "smoke" if os.environ.get("RECSYS_SMOKE") == "1" else "full"


def notebook_of(nodeid: str) -> str | None:
    """'notebooks/00_data_tour.ipynb::Cell 3' -> '00_data_tour.ipynb'; None for other tests."""
    path = nodeid.split("::", 1)[0]
    if not path.endswith(".ipynb") or "::" not in nodeid:
        return None
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def load_budgets(path: Path | str = BUDGETS_FILE) -> dict:
    """{"smoke": {...}, "full": {...}, "total": {...}} from the TOML file."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def scale_factor() -> float:
    try:
        return float(os.environ.get("RECSYS_BUDGET_SCALE", "1") or 1)
    except ValueError:
        return 1.0


def budget_for(budgets: dict, mode: str, notebook: str, scale: float = 1.0) -> float | None:
    """The budget of ``notebook`` in ``mode`` (its own entry, else the mode's default)."""
    table = budgets.get(mode, {})
    value = table.get(notebook, table.get("default"))
    return None if value is None else float(value) * scale


@dataclass
class NotebookTime:
    notebook: str
    seconds: float = 0.0
    cells: int = 0
    failed: int = 0


class Accumulator:
    """Sums test-report durations per notebook."""

    def __init__(self):
        self.times: dict[str, NotebookTime] = {}

    def add(self, nodeid: str, when: str, duration: float, outcome: str) -> None:
        name = notebook_of(nodeid)
        if name is None:
            return
        t = self.times.setdefault(name, NotebookTime(name))
        t.seconds += float(duration or 0.0)
        if when == "call":
            t.cells += 1
        if outcome == "failed":
            t.failed += 1


def rows_for(times: dict[str, NotebookTime], budgets: dict, mode: str,
             scale: float = 1.0) -> list[dict]:
    """Table rows, slowest first, each with its budget and a status."""
    rows = []
    for t in sorted(times.values(), key=lambda t: -t.seconds):
        budget = budget_for(budgets, mode, t.notebook, scale)
        over = budget is not None and t.seconds > budget
        status = "failed" if t.failed else ("OVER BUDGET" if over else "ok")
        if t.failed and over:
            status = "failed, OVER BUDGET"
        rows.append({"notebook": t.notebook, "mode": mode, "seconds": round(t.seconds, 1),
                     "budget_seconds": budget, "cells": t.cells, "status": status})
    return rows


def over_budget(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["budget_seconds"] is not None
            and r["seconds"] > r["budget_seconds"]]


def total_budget(budgets: dict, mode: str, scale: float = 1.0) -> float | None:
    value = budgets.get("total", {}).get(mode)
    return None if value is None else float(value) * scale


def format_table(rows: list[dict], total_target: float | None = None,
                 label: str = "all notebooks") -> str:
    """A fixed-width table; the last lines name the slowest notebook and the total."""
    if not rows:
        return "no notebook was executed"
    head = f"{'notebook':<34} {'mode':<5} {'seconds':>8} {'budget':>7} {'cells':>5}  status"
    lines = [head, "-" * len(head)]
    for r in rows:
        budget = "-" if r["budget_seconds"] is None else f"{r['budget_seconds']:.0f}"
        lines.append(f"{r['notebook']:<34} {r['mode']:<5} {r['seconds']:>8.1f} {budget:>7} "
                     f"{r['cells']:>5}  {r['status']}")
    total = sum(r["seconds"] for r in rows)
    slowest = max(rows, key=lambda r: r["seconds"])
    lines.append("-" * len(head))
    target = "" if total_target is None else f" (target < {total_target:.0f} s)"
    lines.append(f"{label}: {total:.1f} s{target}; slowest: {slowest['notebook']} "
                 f"({slowest['seconds']:.1f} s)")
    return "\n".join(lines)


def write_csv(path: Path | str, rows: list[dict]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def read_csv(path: Path | str) -> list[dict]:
    """Rows of a CSV written here or by ``tools/execute_notebooks.py --csv``."""
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# ----------------------------------------------------------------------------------------
# The pytest plugin (registered by tests/conftest.py)
# ----------------------------------------------------------------------------------------
class NotebookTimer:
    """Per-notebook times of an nbval session, a table, a CSV and the smoke budget."""

    def __init__(self, rootpath: Path, budgets_file: Path | str = BUDGETS_FILE,
                 mode: str | None = None, csv_path: Path | str | None = None):
        self.mode = mode or current_mode()
        self.budgets = load_budgets(budgets_file)
        self.scale = scale_factor()
        self.csv_path = Path(csv_path) if csv_path else Path(rootpath) / "artifacts" / CSV_NAME
        self.acc = Accumulator()
        self.rows: list[dict] = []
        self.over: list[dict] = []
        self.t0 = time.perf_counter()

    def pytest_sessionstart(self, session):
        self.t0 = time.perf_counter()

    def pytest_runtest_logreport(self, report):
        self.acc.add(report.nodeid, report.when, report.duration, report.outcome)

    def pytest_sessionfinish(self, session, exitstatus):
        if not self.acc.times:
            return
        self.rows = rows_for(self.acc.times, self.budgets, self.mode, self.scale)
        write_csv(self.csv_path, self.rows)
        # The budget fails the session in smoke mode (the test command); full-mode
        # times are checked by this file's command line on the book build's CSV.
        self.over = over_budget(self.rows) if self.mode == "smoke" else []
        if self.over and session.exitstatus == 0:
            import pytest
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter, exitstatus, config):
        if not self.rows:
            return
        tr = terminalreporter
        tr.section("notebook time budget")
        tr.write_line(format_table(self.rows, total_budget(self.budgets, self.mode, self.scale)))
        tr.write_line(f"test session: {time.perf_counter() - self.t0:.0f} s; table written "
                      f"to {self.csv_path}")
        for r in self.over:
            tr.write_line(f"OVER BUDGET: {r['notebook']} took {r['seconds']:.1f} s in "
                          f"{r['mode']} mode, budget {r['budget_seconds']:.0f} s "
                          f"({BUDGETS_FILE.name})", red=True, bold=True)


def register(config) -> None:
    """Called from tests/conftest.py's ``pytest_configure``."""
    if config.pluginmanager.has_plugin("notebook-timer"):
        return
    config.pluginmanager.register(NotebookTimer(config.rootpath), "notebook-timer")


# ----------------------------------------------------------------------------------------
# Command line: check a CSV of full-mode times (tools/execute_notebooks.py --csv)
# ----------------------------------------------------------------------------------------
def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(description="Print and check notebook times against "
                                 "tests/notebook_budgets.toml.")
    ap.add_argument("csv", help="CSV with notebook,mode,seconds[,status] columns")
    ap.add_argument("--budgets", default=str(BUDGETS_FILE))
    args = ap.parse_args(argv)
    budgets, scale = load_budgets(args.budgets), scale_factor()
    raw = read_csv(args.csv)
    modes = {r.get("mode", "full") for r in raw}
    if len(modes) != 1:
        ap.error(f"one mode per CSV, found {sorted(modes)}")
    mode = modes.pop()
    times = {r["notebook"]: NotebookTime(r["notebook"], float(r["seconds"]),
                                         int(r.get("cells") or 0),
                                         int(not str(r.get("status", "ok")).startswith(("ok", "OVER"))))
             for r in raw}
    rows = rows_for(times, budgets, mode, scale)
    total_target = total_budget(budgets, mode, scale)
    print(format_table(rows, total_target, label="book" if mode == "full" else "all notebooks"))
    over = over_budget(rows)
    total = sum(r["seconds"] for r in rows)
    for r in over:
        print(f"OVER BUDGET: {r['notebook']} took {r['seconds']:.1f} s, budget "
              f"{r['budget_seconds']:.0f} s")
    if total_target is not None and total > total_target:
        print(f"OVER BUDGET: all notebooks took {total:.0f} s, target {total_target:.0f} s")
        return 1
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
