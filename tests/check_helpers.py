"""Helpers shared by the tests of the exercise checks (tests/test_exercises_ch*.py)."""
import pytest

from recsys_course.exercises.core import CheckFailed


def failure(check, fn) -> str:
    """The feedback a check gives a wrong solution (the test fails if the check passes)."""
    with pytest.raises(CheckFailed) as info:
        check(fn)
    return str(info.value)
