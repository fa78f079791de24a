"""recsys_course.versions: the printed versions and the warning for untested ones."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from recsys_course import versions as V

ROOT = Path(__file__).resolve().parents[1]

TESTED_STACK = {"python": "3.11.7", "torch": "2.13.0", "numpy": "2.1.3", "pandas": "2.2.3",
                "scikit-learn": "1.9.1", "torch-rechub": "0.9.0"}


def test_major_minor_reads_release_numbers_and_ignores_local_tags():
    assert V.major_minor("2.11.0+cu130") == (2, 11)
    assert V.major_minor("3.13.0rc1") == (3, 13)
    assert V.major_minor("2.1") == (2, 1)
    assert V.major_minor("unknown") is None


def test_tested_versions_give_no_warning():
    assert V.untested(TESTED_STACK) == []
    assert V.version_warning(TESTED_STACK) is None
    colab = dict(TESTED_STACK, python="3.13.0", torch="2.11.0+cu130", **{"scikit-learn": "1.6.1"})
    assert V.version_warning(colab) is None


@pytest.mark.parametrize("name, version", [("numpy", "1.26.4"), ("torch", "2.14.0"),
                                           ("python", "3.10.12"), ("pandas", "3.0.0"),
                                           ("scikit-learn", "1.5.2"), ("torch", "nightly")])
def test_a_version_outside_the_tested_range_gives_one_warning_line_naming_it(name, version):
    found = dict(TESTED_STACK, **{name: version})
    outside = V.untested(found)
    assert len(outside) == 1 and outside[0].startswith(f"{name} {version} (tested: ")
    line = V.version_warning(found)
    assert line is not None and "\n" not in line
    assert f"{name} {version}" in line
    for other, v in TESTED_STACK.items():
        if other != name:
            assert f"{other} {v}" not in line


def test_print_versions_prints_the_versions_and_the_warning(capsys):
    V.print_versions(dict(TESTED_STACK, numpy="1.26.4"))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert "numpy=1.26.4" in lines[0] and "torch=2.13.0" in lines[0]
    assert lines[1].startswith("WARNING") and "numpy 1.26.4 (tested: 2.1)" in lines[1]
    V.print_versions(TESTED_STACK)
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_this_environment_is_reported_with_every_library():
    found = V.versions()
    for name in ("python", "torch", "numpy", "pandas", "scikit-learn", "threads", "colab"):
        assert name in found


def _pins(path: Path) -> dict:
    out = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line.strip())
        if match:
            out[match.group(1).lower()] = match.group(2)
    return out


@pytest.mark.parametrize("pins", ["requirements.txt", "tools/colab-stack.txt"])
def test_the_tested_range_covers_both_tested_environments(pins):
    found = {k: v for k, v in _pins(ROOT / pins).items() if k in V.TESTED}
    assert set(found) >= set(V.TESTED) - {"python"}, f"{pins} misses a pin of {sorted(V.TESTED)}"
    assert V.untested(found) == []
