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
    _configure_state_guard(config)
# ---------------------------------------------------------------------- end of section --


# ----------------------------------------------------------------------------------------
# Global state: no test leaks it into the next (issue 13)
# A test that changes process-wide settings changes the tests that run after it, so the
# result depends on the order (pytest-randomly shuffles it). The fixture below snapshots
# the settings before each test and puts them back after it:
#   * torch's intra-op thread count. The root cause of the order dependence found in
#     issue 13: a benchmark or scaling helper run in-process calls
#     torch.set_num_threads(1), and a later test comparing two Adam implementations ran on
#     one thread instead of two. Fused kernels split their work into per-thread chunks
#     and round the vectorised body and the scalar tail of each chunk differently, so the
#     last bits of a result depend on the thread count (tolerances must allow for that;
#     restoring the count only removes the dependence on the order).
#   * deterministic-algorithms mode (and its warn-only flag), the default dtype, grad mode,
#     float32 matmul precision;
#   * os.environ and the working directory;
#   * the random states of torch, numpy's global generator and ``random`` (a test that
#     draws from them shifts what every later unseeded draw sees);
#   * the torch.compile (dynamo) cache and config: compiled code is cached per function
#     and, after ``recompile_limit`` recompilations of the same function (one per new
#     model), dynamo silently falls back to eager; so whether a test really compiles would
#     depend on how many compiling tests ran before it. A test that compiled something is
#     followed by torch._dynamo.reset().
# A change is reported as a GlobalStateLeak warning naming the test and the setting (RNG
# states and the dynamo cache are restored silently: using them is normal), so the test
# can be fixed to restore it itself.
# ----------------------------------------------------------------------------------------
import os as _os  # noqa: E402
import random as _random  # noqa: E402
import warnings as _warnings  # noqa: E402

import pytest  # noqa: E402


class GlobalStateLeak(UserWarning):
    """A test left a process-wide setting changed (the fixture has restored it)."""


# Variables that pytest and the libraries set for their own bookkeeping (the current
# test's name; inductor's cache folder and the address its compiled modules read when they
# load; the OpenMP settings scikit-learn sets when imported): neither reported nor removed.
_OWN_ENV = ("PYTEST_CURRENT_TEST", "TORCHINDUCTOR_", "_TORCHINDUCTOR_", "TRITON_", "KMP_")


def _dynamo_compiles(torch) -> int | None:
    """How many graphs dynamo compiled so far in this process (None: dynamo unused)."""
    import sys as _sys
    if "torch._dynamo" not in _sys.modules:
        return None
    from torch._dynamo.utils import counters
    return sum(counters["stats"].values()) + sum(counters["frames"].values())


def _snapshot() -> dict:
    import sys as _sys
    state = {"environ": dict(_os.environ), "cwd": _os.getcwd(), "random": _random.getstate()}
    np = _sys.modules.get("numpy")
    if np is not None:
        state["numpy_rng"] = np.random.get_state()
    torch = _sys.modules.get("torch")
    if torch is not None:
        state.update(
            threads=torch.get_num_threads(),
            deterministic=(torch.are_deterministic_algorithms_enabled(),
                           torch.is_deterministic_algorithms_warn_only_enabled()),
            dtype=torch.get_default_dtype(),
            grad=torch.is_grad_enabled(),
            matmul=torch.get_float32_matmul_precision(),
            torch_rng=torch.get_rng_state(),
            compiles=_dynamo_compiles(torch),
        )
        if "torch._dynamo" in _sys.modules:
            state["dynamo_config"] = torch._dynamo.config.get_config_copy()
    return state


def _restore(before: dict) -> list[str]:
    """Put the settings of ``before`` back; return what the test had changed."""
    import sys as _sys
    changed = []
    keys = sorted(k for k in set(_os.environ) | set(before["environ"])
                  if _os.environ.get(k) != before["environ"].get(k) and not k.startswith(_OWN_ENV))
    if keys:
        changed.append(f"os.environ ({', '.join(keys)})")
        for k in keys:
            if k in before["environ"]:
                _os.environ[k] = before["environ"][k]
            else:
                del _os.environ[k]
    if _os.getcwd() != before["cwd"]:
        changed.append(f"working directory ({_os.getcwd()})")
        _os.chdir(before["cwd"])
    _random.setstate(before["random"])
    if "numpy_rng" in before:
        _sys.modules["numpy"].random.set_state(before["numpy_rng"])
    torch = _sys.modules.get("torch")
    if torch is None or "threads" not in before:
        return changed
    if torch.get_num_threads() != before["threads"]:
        changed.append(f"torch threads ({before['threads']} -> {torch.get_num_threads()})")
        torch.set_num_threads(before["threads"])
    det = (torch.are_deterministic_algorithms_enabled(),
           torch.is_deterministic_algorithms_warn_only_enabled())
    if det != before["deterministic"]:
        changed.append(f"deterministic algorithms ({before['deterministic']} -> {det})")
        torch.use_deterministic_algorithms(before["deterministic"][0],
                                           warn_only=before["deterministic"][1])
    if torch.get_default_dtype() != before["dtype"]:
        changed.append(f"default dtype ({torch.get_default_dtype()})")
        torch.set_default_dtype(before["dtype"])
    if torch.is_grad_enabled() != before["grad"]:
        changed.append("grad mode")
        torch.set_grad_enabled(before["grad"])
    if torch.get_float32_matmul_precision() != before["matmul"]:
        changed.append(f"float32 matmul precision ({torch.get_float32_matmul_precision()})")
        torch.set_float32_matmul_precision(before["matmul"])
    torch.set_rng_state(before["torch_rng"])
    if "torch._dynamo" in _sys.modules:
        config = torch._dynamo.config
        if "dynamo_config" in before and config.get_config_copy() != before["dynamo_config"]:
            changed.append("torch._dynamo.config")
            config.load_config(before["dynamo_config"])
        if _dynamo_compiles(torch) != before["compiles"]:
            torch._dynamo.reset()
            from torch._dynamo.utils import counters
            counters.clear()
    return changed


_SESSION_START: dict = {}


def _configure_state_guard(config) -> None:
    """Snapshot the settings before collection (importing torch first, so its defaults
    are in the snapshot): importing a test module must not change them for the session."""
    try:
        import torch  # noqa: F401
    except ImportError:
        pass
    _SESSION_START.update(_snapshot())


def pytest_collection_finish(session):
    """A test module that changes a setting when it is imported (``torch.set_num_threads(1)``
    at module level) changes it for every test of the session, whichever runs first:
    put the settings back after collection and name what changed."""
    if _SESSION_START:
        changed = _restore(_SESSION_START)
        if changed:
            _warnings.warn(GlobalStateLeak("importing the test modules changed: " + "; ".join(changed)
                                           + " (restored for the tests by tests/conftest.py)"))


@pytest.fixture(autouse=True)
def _no_global_state_leaks(request):
    before = _snapshot()
    yield
    changed = _restore(before)
    if changed:
        _warnings.warn(GlobalStateLeak(f"{request.node.nodeid} changed and did not restore: "
                                       + "; ".join(changed) + " (restored by tests/conftest.py)"))
# ---------------------------------------------------------------------- end of section --


@pytest.fixture
def one_thread():
    """One torch thread for the test, then the count it found: small models train faster
    on one thread. A module opts in with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
