"""Small helpers every chapter's first cells use (chapter 00 introduces them)."""
from __future__ import annotations

import contextlib
import os
import platform
import sys


def smoke_mode() -> bool:
    """True when ``RECSYS_SMOKE=1``: the tests run each notebook with shrunken work."""
    return os.environ.get("RECSYS_SMOKE", "") == "1"


def versions() -> dict:
    """Versions of Python and the libraries results depend on (torch-rechub if present)."""
    import numpy, pandas, torch
    from . import __version__
    out = {"python": platform.python_version(), "torch": torch.__version__,
           "numpy": numpy.__version__, "pandas": pandas.__version__,
           "recsys_course": __version__, "threads": torch.get_num_threads()}
    try:
        from importlib.metadata import version
        out["torch-rechub"] = version("torch-rechub")
    except Exception:  # not installed: the comparison cells say so
        out["torch-rechub"] = "not installed"
    out["colab"] = "google.colab" in sys.modules
    return out


def print_versions() -> None:
    print("  ".join(f"{k}={v}" for k, v in versions().items()))


@contextlib.contextmanager
def replaced_environ(env: dict):
    """Replace ``os.environ`` by ``env`` for a block, then put the old one back. Child
    processes started inside inherit ``env`` (this process's libraries, already loaded,
    do not see it)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
