"""The checking framework behind every exercise of the course.

A *check* runs the learner's function on hidden cases and explains what went wrong,
case by case, in words a learner can act on. Chapter modules (``ch00.py``, ``ch02.py``,
...) declare their checks with the :func:`exercise` decorator:

.. code-block:: python

    from .core import exercise, expect_close, expect_scalar

    @exercise("ch00", "click_rate", title="share of ratings at or above a threshold")
    def check_click_rate(fn, run):
        for name, df, threshold, expected in _cases():
            with run.case(name):                      # names the case in any failure
                got = run.call(fn, df, threshold)     # learner's exceptions -> feedback
                expect_scalar(got, "the share")
                expect_close(got, expected, what="the share", atol=1e-9,
                             mistakes={"the share strictly above (> instead of >=)": gt})

The learner only sees ``check_click_rate(click_rate)``. The wrapper made by
:func:`exercise`

* prints ``✓ check_click_rate: 4 hidden cases passed`` and returns ``True`` on success;
* raises :class:`CheckFailed` (an ``AssertionError``) with a specific message otherwise,
  so the notebook cell fails visibly and "Run all" stops at the first unsolved task;
* raises :class:`NotAttempted` (a ``CheckFailed``) when the learner's code still raises
  ``NotImplementedError`` (the stubs of the student copies do).

Nothing a check prints is read by the grader: graded assignments are otter-grader
assignments (:mod:`recsys_course.exercises.assign`) whose tests call these checks and
score from their exceptions, the hidden ones in a fresh process.

Failures raised inside ``run.case(...)`` are prefixed with the case's name; exceptions
raised by the learner's code inside ``run.call`` become "your function raised
IndexError: ..." with the line of the learner's code; any other exception inside a case
(the check could not even compare the result) becomes a failure too. An exception
outside every case is a bug in the check (:class:`CheckError`).

Chapter: every chapter's exercises (the framework itself is presented in 00).
"""
from __future__ import annotations

import copy
import functools
import math
import numbers
import os
import sys
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np


# ----------------------------------------------------------------------------------------
# Exceptions
# ----------------------------------------------------------------------------------------
class CheckFailed(AssertionError):
    """A check found a problem. ``str(e)`` is the full feedback for the learner.

    ``hint`` (optional) is appended on its own line as ``Hint: ...``; ``case`` is the
    name of the hidden case that failed (filled in by ``run.case``).
    """

    def __init__(self, message: str, hint: str | None = None, case: str | None = None):
        self.detail = message
        self.hint = hint
        self.case = case
        super().__init__(self._compose())

    def _compose(self) -> str:
        text = self.detail
        if self.hint:
            text += f"\nHint: {self.hint}"
        return text

    def _render_traceback_(self) -> list[str]:
        """How IPython/Jupyter shows it: the feedback alone, without framework frames."""
        lines = str(self).splitlines() or [""]
        return [f"\x1b[31m{type(self).__name__}\x1b[0m: {lines[0]}", *lines[1:]]

    @property
    def summary(self) -> str:
        """The feedback on one line."""
        return " | ".join(line.strip() for line in str(self).splitlines() if line.strip())


class NotAttempted(CheckFailed):
    """The learner's function still raises ``NotImplementedError``."""


class CheckError(RuntimeError):
    """A bug in a check itself (not the learner's fault)."""


def fail(message: str, hint: str | None = None) -> None:
    """Raise :class:`CheckFailed` with ``message`` (for checks written by hand)."""
    __tracebackhide__ = True
    raise CheckFailed(message, hint=hint)


# ----------------------------------------------------------------------------------------
# Registry
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Exercise:
    """One registered check: ``id`` is ``"<chapter>.<name>"``, e.g. ``"ch00.click_rate"``."""

    chapter: str
    name: str
    title: str
    func_name: str  # name of the check function learners call, e.g. "check_click_rate"
    check: Callable[..., bool]

    @property
    def id(self) -> str:
        return f"{self.chapter}.{self.name}"


REGISTRY: dict[str, Exercise] = {}
"""All exercises declared so far, by id, in declaration order."""


def _register(ex: Exercise) -> None:
    for other in REGISTRY.values():
        if other.func_name == ex.func_name and other.id != ex.id:
            raise ValueError(
                f"check function name {ex.func_name!r} is used by both {other.id} and "
                f"{ex.id}; names must be unique across chapters (assignments find "
                "exercises in notebooks by these names)")
    REGISTRY[ex.id] = ex  # re-registering the same id (module reload) replaces it


def load_all() -> dict[str, Exercise]:
    """Import every chapter module ``recsys_course.exercises.ch*`` and return the registry.

    A chapter module that fails to import is reported on stderr and skipped.
    """
    import importlib
    import pkgutil

    from . import __path__ as pkg_path

    for info in sorted(pkgutil.iter_modules(pkg_path), key=lambda m: m.name):
        if info.name.startswith("ch"):
            try:
                importlib.import_module(f"{__package__}.{info.name}")
            except Exception as e:  # pragma: no cover - depends on other chapters
                print(f"warning: could not import {__package__}.{info.name}: "
                      f"{type(e).__name__}: {e}", file=sys.stderr)
    return REGISTRY


def by_function_name() -> dict[str, Exercise]:
    """Map ``"check_click_rate"`` -> its :class:`Exercise`."""
    return {ex.func_name: ex for ex in REGISTRY.values()}


# ----------------------------------------------------------------------------------------
# Running a check
# ----------------------------------------------------------------------------------------
def _a(word: str) -> str:
    return ("an " if word[:1].lower() in "aeio" else "a ") + word


def describe(obj: Any) -> str:
    """A short, learner-friendly description of a value's type (and shape)."""
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover
        pd = None
    if obj is None:
        return "None"
    if isinstance(obj, bool):
        return f"a bool ({obj})"
    if pd is not None and isinstance(obj, pd.DataFrame):
        return f"a pandas DataFrame of shape {obj.shape}"
    if pd is not None and isinstance(obj, pd.Series):
        return f"a pandas Series with {len(obj)} values"
    if isinstance(obj, np.ndarray):
        return f"a numpy array of shape {obj.shape} (dtype {obj.dtype})"
    if type(obj).__module__.startswith("torch") and hasattr(obj, "shape"):
        return f"a torch tensor of shape {tuple(obj.shape)} (dtype {obj.dtype})"
    if isinstance(obj, (tuple, list)):
        return f"{_a(type(obj).__name__)} of {len(obj)} items"
    if isinstance(obj, numbers.Number):
        return f"{_a(type(obj).__name__)} ({obj!r})"
    return _a(type(obj).__name__)


def _learner_frame(tb) -> traceback.FrameSummary | None:
    """The deepest frame of the traceback that is the learner's code.

    Library frames (site-packages, the standard library, this package) are skipped, so a
    pandas ``KeyError`` points at the learner's line that triggered it.
    """
    frames = traceback.extract_tb(tb)[1:]  # [0] is run.call itself
    stdlib = os.path.dirname(os.__file__)
    ours = os.path.dirname(os.path.abspath(__file__))
    mine = [f for f in frames
            if "site-packages" not in f.filename and "dist-packages" not in f.filename
            and not f.filename.startswith(stdlib) and not f.filename.startswith(ours)]
    if mine:
        return mine[-1]
    return frames[0] if frames else None


def _same_value(a: Any, b: Any) -> bool:
    """Equality for inputs compared before/after the learner's call (mutation check)."""
    try:
        import pandas as pd
        if isinstance(a, (pd.DataFrame, pd.Series)):
            return type(a) is type(b) and a.equals(b) and a.index.equals(b.index)
    except ImportError:  # pragma: no cover
        pass
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    if type(a).__module__.startswith("torch") and hasattr(a, "shape"):
        import torch
        return torch.is_tensor(b) and a.shape == b.shape and bool(torch.equal(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same_value, a, b))
    try:
        return bool(a == b)
    except Exception:
        return True  # cannot compare: do not accuse the learner


def _safe_copy(x: Any) -> Any:
    try:
        return copy.deepcopy(x)
    except Exception:
        return x


class Run:
    """The state of one check run, handed to the check's body as its second argument."""

    def __init__(self, exercise: Exercise):
        self.exercise = exercise
        self.n_cases = 0
        self.current: str | None = None

    @contextmanager
    def case(self, name: str) -> Iterator[None]:
        """Run one hidden case; failures inside are reported with the case's name."""
        __tracebackhide__ = True
        self.n_cases += 1
        self.current = name
        label = f"hidden case {self.n_cases} ({name})"
        try:
            yield
        except NotAttempted:
            raise
        except CheckFailed as e:
            raise type(e)(f"{label}: {e.detail}", hint=e.hint, case=name) from None
        except Exception as e:
            raise CheckFailed(
                f"{label}: the check could not examine your result "
                f"({type(e).__name__}: {e}).",
                hint="return the type the exercise asks for", case=name) from None
        finally:
            self.current = None

    def call(self, fn: Callable, *args: Any, forbid_mutation: bool = False,
             copy_args: bool = True, **kwargs: Any) -> Any:
        """Call the learner's ``fn(*args, **kwargs)`` and return its result.

        * Arguments are deep-copied first (``copy_args``), so hidden data cannot leak
          from one case to the next through in-place changes.
        * ``NotImplementedError`` -> :class:`NotAttempted`; any other exception ->
          :class:`CheckFailed` naming the exception and the learner's line.
        * ``forbid_mutation=True`` fails when the function changed its arguments in place.
        """
        __tracebackhide__ = True
        given_args = [_safe_copy(a) for a in args] if copy_args else list(args)
        given_kwargs = {k: _safe_copy(v) for k, v in kwargs.items()} if copy_args else kwargs
        try:
            result = fn(*given_args, **given_kwargs)
        except NotImplementedError as e:
            name = getattr(fn, "__name__", "your function")
            why = f" ({e})" if str(e) else ""
            raise NotAttempted(
                f"not attempted yet: {name} still raises NotImplementedError{why}.",
                hint=f"replace the `raise NotImplementedError` line with your code, run "
                     f"that cell, then run this check again.") from None
        except Exception as e:
            frame = _learner_frame(e.__traceback__)
            where = ""
            if frame is not None:
                code = f": {frame.line.strip()}" if frame.line else ""
                where = f"\n  at line {frame.lineno} of {frame.name}{code}"
            raise CheckFailed(
                f"your function raised {type(e).__name__}: {e}{where}") from None
        if forbid_mutation and copy_args:
            for i, (before, after) in enumerate(zip(args, given_args)):
                if not _same_value(before, after):
                    fail(f"your function changed its argument {i + 1} ({describe(before)}) "
                         "in place.",
                         hint="work on a copy (e.g. df = df.copy(), or avoid inplace=True).")
            for k in kwargs:
                if not _same_value(kwargs[k], given_kwargs[k]):
                    fail(f"your function changed its argument {k!r} in place.",
                         hint="work on a copy (e.g. df = df.copy(), or avoid inplace=True).")
        return result


def exercise(chapter: str, name: str | None = None, title: str = "") -> Callable:
    """Declare a check: ``@exercise("ch00", "click_rate", title=...)`` on ``body(fn, run)``.

    ``name`` defaults to the function name without its ``check_`` prefix. The returned
    function, called by learners as ``check_x(their_function)``, returns ``True`` or
    raises :class:`CheckFailed`. Extra positional/keyword arguments are passed on to the
    body (e.g. a ``seed``).
    """

    def decorate(body: Callable[..., None]) -> Callable[..., bool]:
        func_name = body.__name__
        ex_name = name or func_name.removeprefix("check_")

        @functools.wraps(body)
        def check(fn: Any, *args: Any, **kwargs: Any) -> bool:
            __tracebackhide__ = True
            run = Run(ex)
            try:
                if not callable(fn):
                    fail(f"this check expects your function (or class) itself, but got "
                         f"{describe(fn)}.",
                         hint=f"pass the name without calling it, e.g. "
                              f"{func_name}(my_function), not {func_name}(my_function(...)).")
                body(fn, run, *args, **kwargs)
                if run.n_cases == 0:
                    raise CheckError(f"{func_name} ran no case (a bug in the check)")
            except NotAttempted as e:
                raise NotAttempted(f"{func_name}: {e.detail}", hint=e.hint) from None
            except CheckFailed as e:
                raise CheckFailed(f"{func_name} failed on {e.detail}" if e.case else
                                  f"{func_name}: {e.detail}", hint=e.hint, case=e.case) from None
            except Exception as e:
                raise CheckError(
                    f"{func_name}: internal error in the check, not in your code "
                    f"({type(e).__name__}: {e}). Please report it.") from e
            plural = "s" if run.n_cases != 1 else ""
            print(f"✓ {func_name}: {run.n_cases} hidden case{plural} passed")
            return True

        ex = Exercise(chapter=chapter, name=ex_name, title=title or ex_name.replace("_", " "),
                      func_name=func_name, check=check)
        _register(ex)
        check.exercise = ex  # type: ignore[attr-defined]
        return check

    return decorate


# ----------------------------------------------------------------------------------------
# Expectations
# ----------------------------------------------------------------------------------------
def _to_array(x: Any, what: str) -> np.ndarray:
    """Numbers, lists, numpy arrays, pandas objects and torch tensors as a float array."""
    __tracebackhide__ = True
    if type(x).__module__.startswith("torch") and hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    elif hasattr(x, "to_numpy"):
        x = x.to_numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        fail(f"{what} should be numbers, but got {describe(x)}.")
    return arr


def _type_names(types: Sequence[type]) -> str:
    names = {numbers.Real: "a real number", numbers.Integral: "an integer", float: "a float",
             int: "an int", str: "a string", tuple: "a tuple", list: "a list", dict: "a dict",
             np.ndarray: "a numpy array"}
    out = []
    for t in types:
        if t in names:
            out.append(names[t])
        elif t.__module__ == "builtins":
            out.append(_a(t.__name__))
        else:
            out.append(f"a {t.__module__.split('.')[0]} {t.__name__}")
    return " or ".join(out)


def expect_type(got: Any, types: type | Sequence[type], what: str = "the result") -> None:
    """Fail unless ``isinstance(got, types)``, saying what was expected and what came."""
    __tracebackhide__ = True
    types = tuple(types) if isinstance(types, (list, tuple)) else (types,)
    if not isinstance(got, types):
        fail(f"{what} should be {_type_names(types)}, but got {describe(got)}.")


def expect_scalar(got: Any, what: str = "the result") -> float:
    """Fail unless ``got`` is a single real number (Python, numpy or 0-d tensor); return it."""
    __tracebackhide__ = True
    if isinstance(got, bool) or isinstance(got, np.bool_):
        fail(f"{what} should be a single number, but got {describe(got)}.")
    if isinstance(got, numbers.Real):
        return float(got)
    shape = getattr(got, "shape", None)
    if shape is not None and tuple(shape) == () and not isinstance(got, (str, bytes)):
        value = _to_array(got, what)
        return float(value)
    hint = None
    if shape is not None or isinstance(got, (list, tuple)):
        hint = ("reduce it to one number (e.g. with .mean() or .item()) or return "
                "float(...).")
    fail(f"{what} should be a single number, but got {describe(got)}.", hint=hint)
    raise AssertionError  # unreachable, for type checkers


def _shape_of(x: Any) -> tuple | None:
    shape = getattr(x, "shape", None)
    if shape is not None:
        return tuple(int(s) for s in shape)
    if isinstance(x, (list, tuple)):
        try:
            return np.shape(np.asarray(x, dtype=object)) if x else (0,)
        except Exception:
            return (len(x),)
    return None


def expect_shape(got: Any, expected: Sequence[int | None], what: str = "the result") -> None:
    """Fail unless ``got.shape == expected`` (``None`` in ``expected`` matches any size).

    The message says both shapes and guesses the usual causes: a transpose, a missing or
    extra dimension of size 1, or a wrong number of elements.
    """
    __tracebackhide__ = True
    shape = _shape_of(got)
    expected = tuple(expected)
    shown = "(" + ", ".join("any" if e is None else str(e) for e in expected) + \
        ("," if len(expected) == 1 else "") + ")"
    if shape is None:
        fail(f"{what} should be an array/tensor of shape {shown}, but got {describe(got)} "
             "which has no shape.")
    ok = len(shape) == len(expected) and all(e is None or e == s for s, e in zip(shape, expected))
    if ok:
        return
    hint = None
    concrete = all(e is not None for e in expected)
    if concrete and shape == expected[::-1] and len(shape) > 1:
        hint = "the axes look swapped: a transpose too many (or too few)?"
    elif tuple(s for s in shape if s != 1) == tuple(e for e in expected if e != 1):
        hint = ("same sizes apart from dimensions of size 1: a missing .squeeze(-1) or an "
                "extra [:, None] / .unsqueeze?")
    elif concrete and math.prod(shape) == math.prod(expected):
        hint = "same number of elements in a different arrangement: check the reshape/view."
    elif len(shape) == len(expected) - 1 or len(shape) == len(expected) + 1:
        hint = "one dimension too many or too few: check which axis you reduce (sum/mean over dim=?)."
    fail(f"{what} has shape {shape} but should have shape {shown}.", hint=hint)


def _close_mask(got: np.ndarray, expected: np.ndarray, atol: float, rtol: float) -> np.ndarray:
    return np.isclose(got, expected, atol=atol, rtol=rtol, equal_nan=True)


def expect_close(got: Any, expected: Any, what: str = "the result", atol: float = 1e-6,
                 rtol: float = 1e-5, mistakes: Mapping[str, Any] | None = None) -> None:
    """Fail unless ``got`` matches ``expected`` within ``atol + rtol * |expected|``.

    Shapes are compared first (see :func:`expect_shape`). A numerical mismatch is
    reported with how many values differ, the largest absolute difference and where it
    is (index of the worst element, with both values). ``mistakes`` maps descriptions of
    known wrong answers to their values; a result matching one of them is named
    ("this is what you get with ...").
    """
    __tracebackhide__ = True
    exp = _to_array(expected, "the reference")
    arr = _to_array(got, what)
    if exp.ndim > 0 or arr.ndim > 0:
        expect_shape(arr, exp.shape, what)
    if np.all(_close_mask(arr, exp, atol, rtol)):
        return
    hint = None
    for description, value in (mistakes or {}).items():
        try:
            wrong = _to_array(value, "mistake")
            if wrong.shape == exp.shape and not np.all(_close_mask(wrong, exp, atol, rtol)) \
                    and np.all(_close_mask(arr, wrong, atol, rtol)):
                hint = f"your result is exactly what you get with {description}."
                break
        except CheckFailed:
            continue
    tol = f"(tolerance atol={atol:g}, rtol={rtol:g})"
    if arr.ndim == 0:
        if np.isnan(arr) and not np.isnan(exp):
            fail(f"{what} is NaN but should be {float(exp):.6g}.",
                 hint=hint or "a division by zero or the mean of an empty selection?")
        diff = abs(float(arr) - float(exp))
        subtle = diff < 1e-3 * max(1.0, abs(float(exp)))
        fail(f"{what} should be {float(exp):.6g}, but got {float(arr):.6g} "
             f"(off by {diff:.3g}{', ' + tol[1:-1] if subtle else ''}).", hint=hint)
    bad = ~_close_mask(arr, exp, atol, rtol)
    n_bad, n = int(bad.sum()), bad.size
    nan_bad = bad & np.isnan(arr)
    if nan_bad.any():
        idx = tuple(int(i) for i in np.argwhere(nan_bad)[0])
        fail(f"{what} contains NaN: {int(nan_bad.sum())} of {n} values, first at index "
             f"{idx} (expected {exp[idx]:.6g} there).", hint=hint)
    diff = np.where(bad, np.abs(arr - exp), 0.0)
    worst = np.unravel_index(int(np.nanargmax(np.nan_to_num(diff, nan=np.inf))), diff.shape)
    worst = tuple(int(i) for i in worst)
    worst_idx = worst[0] if len(worst) == 1 else worst
    fail(f"{what}: {n_bad} of {n} values differ from the reference {tol}; the largest "
         f"difference is {float(diff[worst]):.3g} at index {worst_idx} "
         f"(got {arr[worst]:.6g}, expected {exp[worst]:.6g}).", hint=hint)


def expect_equal(got: Any, expected: Any, what: str = "the result",
                 mistakes: Mapping[str, Any] | None = None) -> None:
    """Fail unless ``got == expected`` exactly (ints, strings, sets, tuples)."""
    __tracebackhide__ = True
    if _same_value(expected, got):
        return
    hint = None
    for description, value in (mistakes or {}).items():
        if not _same_value(expected, value) and _same_value(value, got):
            hint = f"your result is exactly what you get with {description}."
            break
    fail(f"{what} should be {expected!r}, but got {got!r}.", hint=hint)


def expect_raises(exc_type: type[BaseException] | tuple, fn: Callable, *args: Any,
                  what: str = "", **kwargs: Any) -> BaseException:
    """Fail unless ``fn(*args, **kwargs)`` raises ``exc_type`` (``what`` names the input)."""
    __tracebackhide__ = True
    names = " or ".join(t.__name__ for t in (exc_type if isinstance(exc_type, tuple) else (exc_type,)))
    on = f" on {what}" if what else ""
    try:
        result = fn(*args, **kwargs)
    except exc_type as e:
        return e
    except NotImplementedError as e:
        raise NotAttempted(f"not attempted yet: {getattr(fn, '__name__', 'your function')} "
                           f"still raises NotImplementedError ({e}).") from None
    except Exception as e:
        fail(f"your function should raise {names}{on}, but it raised "
             f"{type(e).__name__}: {e}.")
    fail(f"your function should raise {names}{on}, but it returned {describe(result)}.")
    raise AssertionError  # unreachable
