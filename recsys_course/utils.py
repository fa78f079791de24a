"""Small process helpers (chapters 05 and the benchmark): replacing the environment of
child processes."""
from __future__ import annotations

import contextlib
import os


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
