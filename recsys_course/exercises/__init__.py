"""Exercises: the checks learners run in the notebooks, and otter-grader assignments.

* :mod:`.core` - the checking framework (:func:`exercise`, ``expect_*``, :class:`CheckFailed`).
* ``ch00``, ``ch02``, ... - the checks of each chapter, e.g.
  ``from recsys_course.exercises.ch00 import check_click_rate``.
* :mod:`.assign` - otter-grader assignments built from the chapter notebooks (instructors).
* :mod:`.grade` - grade a folder of submissions with ``otter run`` (instructors).

``assign`` and ``grade`` need ``otter-grader`` (the ``instructor`` extra) and are not
imported here, so learners only need the course's own dependencies.

Chapter: 00 (how the exercises work).
"""
from .core import (
    REGISTRY,
    CheckError,
    CheckFailed,
    Exercise,
    NotAttempted,
    Run,
    describe,
    exercise,
    expect_close,
    expect_equal,
    expect_raises,
    expect_scalar,
    expect_shape,
    expect_type,
    fail,
    load_all,
)

__all__ = [
    "REGISTRY", "CheckError", "CheckFailed", "Exercise", "NotAttempted", "Run",
    "describe", "exercise", "expect_close", "expect_equal", "expect_raises", "expect_scalar",
    "expect_shape", "expect_type", "fail", "load_all",
]
