"""Shared pytest configuration of the course's tests.

Sections are owned by the work that added them; keep each self-contained.
"""
from __future__ import annotations

import sys
from pathlib import Path

# ----------------------------------------------------------------------------------------
# Notebook time budget (tests/notebook_budget.py, tests/notebook_budgets.toml)
# Sums nbval cell durations per notebook, prints the per-notebook table at the end of the
# session, writes artifacts/notebook_times.csv and fails a smoke-mode session in which a
# notebook exceeds its budget. Registered as a global plugin because the notebooks live
# outside tests/ (a conftest's own hooks only see the tests below it).
# ----------------------------------------------------------------------------------------
sys.path.insert(0, str(Path(__file__).parent))
import notebook_budget as _notebook_budget  # noqa: E402


def pytest_configure(config):
    _notebook_budget.register(config)
# ---------------------------------------------------------------------- end of section --
