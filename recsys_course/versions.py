"""The versions a chapter runs on, and a one-line warning when they were never tested.

Every chapter's first code cell calls :func:`print_versions`. Colab upgrades its
libraries on its own schedule, so a notebook that ran last month may meet a torch or a
pandas it never saw; the warning says so up front instead of leaving a learner to guess
why a cell behaves differently from the book.

The tested range is the union of the two environments the project runs in:

* ``requirements.txt``, the pinned environment of ``make test`` and ``make book``
  (Python 3.11);
* the Colab stack of ``tools/colab-stack.txt`` (Python 3.13), on which ``make
  colab-check`` runs every notebook.

``tests/test_versions.py`` checks that :data:`TESTED` covers both files' pins.
"""
from __future__ import annotations

import platform
import re
import sys

# (lowest, highest) major.minor release tested, per package; a newer patch release of a
# tested minor release counts as tested.
TESTED: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "python": ((3, 11), (3, 13)),
    "torch": ((2, 11), (2, 13)),
    "numpy": ((2, 1), (2, 1)),
    "pandas": ((2, 2), (2, 2)),
    "scikit-learn": ((1, 6), (1, 9)),
}


def versions() -> dict:
    """Versions of Python and of the libraries results depend on."""
    from importlib.metadata import PackageNotFoundError, version

    import numpy
    import pandas
    import sklearn
    import torch

    out = {"python": platform.python_version(), "torch": torch.__version__,
           "numpy": numpy.__version__, "pandas": pandas.__version__,
           "scikit-learn": sklearn.__version__}
    for dist in ("torch-rechub", "recsys-course"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:     # torch-rechub is optional: its cells say so
            out[dist] = "not installed"
    out["threads"] = torch.get_num_threads()
    out["colab"] = "google.colab" in sys.modules
    return out


def major_minor(text: str) -> tuple[int, int] | None:
    """(major, minor) of a version string: ``"2.11.0+cu130"`` -> (2, 11); None if it has none."""
    match = re.match(r"\s*(\d+)\.(\d+)", str(text))
    return (int(match.group(1)), int(match.group(2))) if match else None


def _release(pair: tuple[int, int]) -> str:
    return f"{pair[0]}.{pair[1]}"


def untested(found: dict) -> list[str]:
    """The entries of ``found`` outside :data:`TESTED`, each as 'name version (tested range)'."""
    out = []
    for name, (low, high) in TESTED.items():
        if name not in found:
            continue
        mm = major_minor(found[name])
        if mm is None or not low <= mm <= high:
            span = _release(low) if low == high else f"{_release(low)} to {_release(high)}"
            out.append(f"{name} {found[name]} (tested: {span})")
    return out


def version_warning(found: dict) -> str | None:
    """One line naming the untested versions in ``found``, or None when all were tested."""
    outside = untested(found)
    if not outside:
        return None
    return ("WARNING: this chapter was not tested with " + ", ".join(outside)
            + "; if a cell fails or a result differs from the book, this may be why.")


def print_versions(found: dict | None = None) -> None:
    """Print the versions this chapter runs on, and a one-line warning for untested ones."""
    found = versions() if found is None else found
    print("  ".join(f"{k}={v}" for k, v in found.items()))
    warning = version_warning(found)
    if warning:
        print(warning)
