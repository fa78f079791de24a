"""Exercises: checks learners run in the notebooks, student copies, and grading.

* :mod:`.core` - the checking framework (:func:`exercise`, ``expect_*``, :class:`CheckFailed`).
* ``ch00``, ``ch02``, ... - the checks of each chapter, e.g.
  ``from recsys_course.exercises.ch00 import check_click_rate``.
* :mod:`.student` - ``make_student_copies``: notebooks without solutions (instructors).
* :mod:`.grade` - ``grade``: run submitted notebooks and tabulate the checks (instructors).

``student`` and ``grade`` need ``nbformat`` / ``nbclient`` + ``ipykernel`` and are not
imported here, so learners only need the course's own dependencies.

Chapter: 00 (how the exercises work).
"""
from .core import (
    GRADING_ENV,
    MARKER,
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
    "GRADING_ENV", "MARKER", "REGISTRY", "CheckError", "CheckFailed", "Exercise", "NotAttempted", "Run",
    "describe", "exercise", "expect_close", "expect_equal", "expect_raises", "expect_scalar",
    "expect_shape", "expect_type", "fail", "load_all",
]
