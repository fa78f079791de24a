"""The hidden tests of the course's otter assignments: the grader's own check, run on the
student's function in a fresh Python process, on cases learners have not seen.

This file is not part of the installed package. ``recsys-course assign`` copies it into
every autograder (with ``recsys_secret.json``, the assignment's secret seed salt, and a
copy of the ``recsys_course`` package as it was when the assignment was built), and each
question's hidden test calls :func:`check_hidden`:

1. In the student's kernel, it reads the source of the student's function
   (``inspect.getsource``) and of what that source uses: other functions and classes the
   student defined, the modules it refers to (as ``import ... as ...`` lines), and plain
   constants. Only source travels; no object of the kernel does.
2. It starts a fresh interpreter (``python -I``: no ``PYTHON*`` variables, no user
   site-packages) that imports the grader's copy of the package, never the kernel's
   modules, so a check function or a library function redefined or monkeypatched in the
   notebook does not exist there.
3. That process salts every seeded random generator (numpy, torch, pandas, random) with
   the secret salt before the chapter's check builds its cases, so the random cases differ
   from the ones learners can run, while the check still computes its expectations from
   its private reference on whatever inputs it drew.
4. It executes the student's source, then runs the chapter's own ``check_*`` on the
   student's function. Around every call of the student's code (``Run.call``) it
   snapshots and restores the functions of numpy, torch, pandas, the standard modules the
   checks use and the course package, so a function that patches ``torch.allclose`` or
   ``np.isclose`` while it runs does not change how its result is compared.
5. Only a verdict line that starts with a random nonce, written to a private copy of the
   process's stdout (the student's prints go to stderr), counts; a process that exits
   early (``sys.exit``, ``os._exit``), crashes or runs past the time limit fails.

What this does not stop is written in book/instructors.md ("What the grader trusts").
"""
from __future__ import annotations

import ast
import json
import os
import secrets
import subprocess
import sys
import tempfile
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
SECRET_FILE = "recsys_secret.json"
PACKAGE_DIR = "recsys_grader_pkg"     # the grader's copy of recsys_course, next to this file
DEFAULT_TIMEOUT = 120.0               # seconds for one hidden check (the process included)


# ----------------------------------------------------------------------------------------
# In the student's kernel
# ----------------------------------------------------------------------------------------
def _names_used(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in names:
            names.append(node.id)
    return names


_PLAIN = (bool, int, float, complex, str, bytes, type(None))


def _is_plain(value) -> bool:
    """A constant whose ``repr`` rebuilds it (exact built-in types only: ``repr`` of a
    numpy scalar, for example, names numpy)."""
    if type(value) in _PLAIN:
        return True
    if type(value) in (tuple, frozenset):
        return all(_is_plain(v) for v in value)
    return False


def _global_names(obj) -> list[str]:
    """The global names a function (or the methods of a class) refers to."""
    import types

    codes = []
    if isinstance(obj, types.FunctionType):
        codes.append(obj.__code__)
    elif isinstance(obj, type):
        for value in vars(obj).values():
            value = getattr(value, "__func__", value)
            if isinstance(value, types.FunctionType):
                codes.append(value.__code__)
    names: list[str] = []
    while codes:
        code = codes.pop()
        names += [n for n in code.co_names if n not in names]
        codes += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    return names


def source_of(env: dict, name: str) -> str:
    """Python source that defines ``name`` as it is defined in ``env`` (a notebook's globals):
    its own source and, before it, the imports, plain constants and other functions and
    classes of the notebook it refers to.

    Raises ``AssertionError`` with a message for the student when it cannot be read.
    """
    import inspect
    import types

    imports: list[str] = []
    constants: list[str] = []
    definitions: list[str] = []
    done: set[str] = set()

    def visit(var: str, obj) -> None:
        done.add(var)
        try:
            src = textwrap.dedent(inspect.getsource(obj))
        except (OSError, TypeError) as e:
            raise AssertionError(
                f"the grader could not read the source of {var} ({type(e).__name__}); define "
                f"it with `def {var}(...)` in a code cell") from None
        # the body's global names, and every name of the source (annotations, defaults,
        # decorators and base classes are evaluated when the definition runs)
        names = _global_names(obj)
        names += [n for n in _names_used(src) if n not in names]
        for used in names:
            if used in done or used not in env:
                continue
            value = env[used]
            if isinstance(value, types.ModuleType):
                done.add(used)
                imports.append(f"import {value.__name__} as {used}")
            elif getattr(value, "__module__", None) == "__main__" and \
                    isinstance(value, (types.FunctionType, type)) and \
                    getattr(value, "__name__", "") != "<lambda>":
                visit(used, value)
            elif _is_plain(value):
                done.add(used)
                constants.append(f"{used} = {value!r}")
            elif callable(value) and getattr(value, "__module__", None) and \
                    "." not in getattr(value, "__qualname__", ".") and \
                    "<" not in getattr(value, "__qualname__", "<"):
                done.add(used)
                imports.append(f"from {value.__module__} import {value.__qualname__} as {used}")
        if isinstance(obj, (types.FunctionType, type)) and \
                obj.__name__ not in (var, "<lambda>"):
            src += f"\n{var} = {obj.__name__}\n"
        definitions.append(src)

    if name not in env:
        raise AssertionError(f"{name} is not defined: run the cell that defines it")
    visit(name, env[name])
    return "\n".join(imports + constants + definitions) + "\n"


def _read_secret() -> dict:
    with open(os.path.join(HERE, SECRET_FILE), encoding="utf-8") as f:
        return json.load(f)


def run_isolated(chapter: str, check: str, fn_name: str, source: str, *,
                 salt: int | None = None, timeout: float | None = None,
                 package_dir: str | None = None) -> dict:
    """Run ``check`` of ``recsys_course.exercises.<chapter>`` on ``fn_name`` defined by
    ``source`` in a fresh process; return ``{"passed": bool, "message": str, "varied":
    bool}`` (``varied``: the check drew at least one salted random case)."""
    secret = _read_secret() if salt is None else {"salt": salt}
    timeout = float(timeout or secret.get("timeout", DEFAULT_TIMEOUT))
    nonce = secrets.token_hex(16)
    payload = json.dumps({"chapter": chapter, "check": check, "fn_name": fn_name,
                          "source": source, "salt": int(secret["salt"]), "nonce": nonce,
                          "package_dir": package_dir or os.path.join(HERE, PACKAGE_DIR)})
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PYTHON") and not k.startswith("RECSYS_GRADER")}
    env.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="recsys-hidden-") as workdir:
        try:
            proc = subprocess.run(
                [sys.executable, "-I", "-u", os.path.abspath(__file__), "--child"],
                input=payload, capture_output=True, text=True, timeout=timeout, cwd=workdir,
                env=env)
        except subprocess.TimeoutExpired:
            return {"passed": False, "varied": False,
                    "message": f"your function did not finish within {timeout:g} s on the "
                               "hidden cases (an endless loop?)"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(nonce):
            return json.loads(line[len(nonce):])
    tail = proc.stderr.strip().splitlines()[-3:]
    return {"passed": False, "varied": False,
            "message": f"the hidden check ended without a verdict (exit code {proc.returncode}"
                       f"; did your code call sys.exit or os._exit?) {' | '.join(tail)}"}


def check_hidden(env: dict, chapter: str, check: str, fn_name: str) -> None:
    """The body of every hidden test: raise ``AssertionError`` unless the student's
    ``fn_name`` passes the grader's own ``check`` on the salted hidden cases."""
    verdict = run_isolated(chapter, check, fn_name, source_of(env, fn_name))
    if not verdict.get("passed"):
        raise AssertionError(verdict.get("message", "failed"))


# ----------------------------------------------------------------------------------------
# In the grader's fresh process
# ----------------------------------------------------------------------------------------
class _Salt:
    """Every seeded random generator gets ``mix(salt, seed)`` instead of ``seed``."""

    def __init__(self, salt: int):
        self.salt = salt
        self.draws = 0

    def __call__(self, seed):
        if isinstance(seed, bool) or not isinstance(seed, int):
            return seed
        self.draws += 1
        import hashlib
        digest = hashlib.sha256(f"{self.salt}:{seed}".encode()).digest()
        return int.from_bytes(digest[:4], "little")

    def install(self) -> None:
        import random

        import numpy as np
        salted = self

        original_default_rng = np.random.default_rng

        def default_rng(seed=None):
            return original_default_rng(salted(seed))

        class RandomState(np.random.RandomState):
            def __init__(self, seed=None):
                super().__init__(salted(seed))

            def seed(self, seed=None):
                return super().seed(salted(seed))

        original_np_seed = np.random.seed
        np.random.default_rng = default_rng
        np.random.RandomState = RandomState
        np.random.seed = lambda seed=None: original_np_seed(salted(seed))

        class Random(random.Random):
            def seed(self, a=None, version=2):
                return super().seed(salted(a), version)

        random.Random = Random
        original_random_seed = random.seed
        random.seed = lambda a=None, version=2: original_random_seed(salted(a), version)

        torch = sys.modules.get("torch")
        if torch is None:  # the chapter's checks do not use torch
            return

        class Generator(torch.Generator):
            def manual_seed(self, seed):
                return super().manual_seed(salted(seed))

        original_manual_seed = torch.manual_seed
        torch.Generator = Generator
        torch.manual_seed = lambda seed: original_manual_seed(salted(seed))


_GUARDED_PREFIXES = ("numpy", "pandas", "recsys_course")
_GUARDED_MODULES = ("builtins", "math", "operator", "functools", "copy", "numbers", "random",
                    "torch", "torch.nn", "torch.nn.functional", "torch.linalg", "torch.testing",
                    "torch.functional", "torch._tensor", "torch.nn.modules.module")


class _Guard:
    """Snapshot of the functions the checks rely on; ``restore()`` undoes any change."""

    def __init__(self):
        targets = []
        for name, module in list(sys.modules.items()):
            if module is None:
                continue
            if name in _GUARDED_MODULES or name.split(".")[0] in _GUARDED_PREFIXES:
                targets.append(module)
        classes = []
        for module in targets:
            for value in list(vars(module).values()):
                if isinstance(value, type) and getattr(value, "__module__", "").split(".")[0] \
                        in ("recsys_course", "pandas", "torch"):
                    classes.append(value)
        self._snap = []
        for obj in {id(o): o for o in targets + classes}.values():
            try:
                self._snap.append((obj, dict(vars(obj))))
            except TypeError:
                continue

    def restore(self) -> None:
        for obj, saved in self._snap:
            current = vars(obj)
            for key, value in saved.items():
                if current.get(key, _MISSING) is not value:
                    try:
                        setattr(obj, key, value)
                    except (AttributeError, TypeError):
                        pass


_MISSING = object()


def _evaluate(job: dict) -> dict:
    import builtins
    import importlib

    sys.dont_write_bytecode = True   # leave the autograder's copy of the package as it is
    sys.path.insert(0, job["package_dir"])
    import numpy  # noqa: F401  (imported before the student's code runs)
    import pandas  # noqa: F401

    module = importlib.import_module(f"recsys_course.exercises.{job['chapter']}")
    from recsys_course.exercises import core

    check = getattr(module, job["check"])
    salt = _Salt(job["salt"])
    salt.install()
    guard = _Guard()

    original_call = core.Run.call

    def guarded_call(self, fn, *args, **kwargs):
        __tracebackhide__ = True
        try:
            return original_call(self, fn, *args, **kwargs)
        finally:
            guard.restore()

    core.Run.call = guarded_call
    guard = _Guard()  # again, so that restore() keeps the guarded call in place

    namespace = {"__name__": "__main__", "__builtins__": builtins}
    try:
        exec(compile(job["source"], "<your code>", "exec"), namespace)
    except Exception as e:
        guard.restore()
        return {"passed": False, "varied": False,
                "message": f"your code raised {type(e).__name__} when the grader ran it on "
                           f"its own: {e}"}
    guard.restore()
    fn = namespace.get(job["fn_name"])
    try:
        check(fn)
    except core.CheckFailed as e:
        guard.restore()
        return {"passed": False, "varied": salt.draws > 0, "message": str(e)}
    guard.restore()
    return {"passed": True, "varied": salt.draws > 0,
            "message": f"{job['check']} passed on the hidden cases"}


def _child() -> None:
    job = json.loads(sys.stdin.read())
    nonce = job.pop("nonce")
    verdict_out = os.fdopen(os.dup(1), "w")   # the student's prints go to stderr instead
    os.dup2(2, 1)
    try:
        verdict = _evaluate(job)
    except BaseException as e:  # SystemExit, KeyboardInterrupt, a broken check
        verdict = {"passed": False, "varied": False,
                   "message": f"the hidden check stopped: {type(e).__name__}: {e}"}
    verdict_out.write(nonce + json.dumps(verdict) + "\n")
    verdict_out.flush()
    os._exit(0)


if __name__ == "__main__" and sys.argv[1:] == ["--child"]:
    _child()
