"""Checks for the exercises of chapter 05 (scaling up).

Learners call, in the chapter's notebook::

    from recsys_course.exercises import ch05
    ch05.check_embedding_memory(embedding_memory)
    ch05.check_hash_bucket(my_hash_bucket)

The exercises, as the notebook states them
------------------------------------------
``embedding_memory(vocab_sizes, dim, buckets) -> number``
    The bytes taken by the weights of one float32 embedding table per field: a field
    with ``v`` distinct values has ``v`` rows of ``dim`` numbers of 4 bytes. With
    ``buckets`` (an int, or None for no hashing), a field keeps ``min(v, buckets)`` rows.
    One number: the total over all fields.

``hash_bucket(values, field, buckets) -> array``
    The bucket (an integer in ``0 .. buckets - 1``) of every value of one field, as an
    array with one entry per value. Values may be integers or strings (Criteo's raw
    categories are hexadecimal strings). The bucket must depend on the field and the
    value, look random (structured ids must not pile up in a few buckets), and be the
    same in every Python process: so not Python's built-in ``hash()`` of a string,
    which is salted per process.

The hidden cases are built here; the reference solutions are private (``_reference_*``).
"""
from __future__ import annotations

import builtins
import hashlib
import os
import sys

import numpy as np

from .core import describe, exercise, expect_close, expect_scalar, expect_shape, fail

_KAGGLE = (1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194,
           27, 14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142572)
_TERABYTE = (45833188, 36746, 17245, 7413, 20243, 3, 7114, 1441, 62, 29275261, 1572176,
             345138, 10, 2209, 11267, 128, 4, 974, 14, 48937457, 11316796, 40094537, 452104,
             12606, 104, 35)


# ----------------------------------------------------------------------------------------
# Reference solutions (private)
# ----------------------------------------------------------------------------------------
def _reference_embedding_memory(vocab_sizes, dim, buckets=None) -> int:
    rows = [int(v) if buckets is None else min(int(v), int(buckets)) for v in vocab_sizes]
    return sum(rows) * int(dim) * 4


def _reference_hash_bucket(values, field, buckets) -> np.ndarray:
    out = [int.from_bytes(hashlib.blake2b(f"{field}\x1f{v}".encode(), digest_size=8).digest(),
                          "little") % int(buckets) for v in values]
    return np.asarray(out, dtype=np.int64)


# ----------------------------------------------------------------------------------------
# embedding_memory
# ----------------------------------------------------------------------------------------
def _memory_cases():
    yield "Criteo Kaggle, dim 16, no hashing", list(_KAGGLE), 16, None
    yield "Criteo Kaggle, dim 16, 2**20 buckets", list(_KAGGLE), 16, 2 ** 20
    yield "three small fields, dim 4, 100 buckets", [10, 1000, 5], 4, 100
    yield "Criteo 1TB, dim 128, 2**22 buckets", list(_TERABYTE), 128, 2 ** 22
    yield "more buckets than any field has values", [7, 300, 12], 32, 10_000


@exercise("ch05", "embedding_memory", title="bytes of the embedding tables, with hashing")
def check_embedding_memory(fn, run):
    """Check ``fn(vocab_sizes, dim, buckets) -> bytes`` (float32 weights, one table per field)."""
    for name, vocab, dim, buckets in _memory_cases():
        with run.case(name):
            got = run.call(fn, vocab, dim, buckets)
            value = expect_scalar(got, "the number of bytes")
            ref = _reference_embedding_memory(vocab, dim, buckets)
            rows = sum(vocab) if buckets is None else sum(min(v, buckets) for v in vocab)
            mistakes = {
                "the number of weights, not bytes (a float32 takes 4 bytes)": rows * dim,
                "bits instead of bytes (4 bytes = 32 bits per weight)": rows * dim * 32,
                "the weights plus Adam's two moments (3x): count the weights only": 3 * ref,
                "8 bytes per weight (float64): the tables are float32": 2 * ref,
                "the rows only, without the embedding dimension": rows * 4,
            }
            if buckets is not None:
                mistakes["`buckets` rows for every field: a field with fewer values than "
                         "buckets keeps its own size, min(v, buckets)"] = \
                    len(vocab) * buckets * dim * 4
                mistakes["no cap at all: hashing limits every field to `buckets` rows"] = \
                    sum(vocab) * dim * 4
            expect_close(value, ref, what="the number of bytes", atol=0.5, rtol=1e-9,
                         mistakes=mistakes)


# ----------------------------------------------------------------------------------------
# hash_bucket
# ----------------------------------------------------------------------------------------
def _is_text(obj) -> bool:
    if isinstance(obj, (str, bytes)):
        return True
    if isinstance(obj, (tuple, frozenset)):
        return any(_is_text(o) for o in obj)
    return False


class _HashSpy:
    """Replaces ``builtins.hash`` during the learner's call and records calls on strings
    made from the learner's own code (library internals are not counted)."""

    def __init__(self):
        self.calls = 0
        self._real = builtins.hash
        self._ours = os.path.dirname(os.path.abspath(__file__))
        self._stdlib = os.path.dirname(os.__file__)

    def __call__(self, obj):
        if _is_text(obj):
            caller = sys._getframe(1).f_code.co_filename
            if ("site-packages" not in caller and "dist-packages" not in caller
                    and not caller.startswith(self._stdlib) and not caller.startswith(self._ours)):
                self.calls += 1
        return self._real(obj)

    def __enter__(self):
        builtins.hash = self
        return self

    def __exit__(self, *exc):
        builtins.hash = self._real
        return False


def _hex_ids(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [f"{v:08x}" for v in rng.choice(2 ** 32, size=n, replace=False)]


def _buckets_of(got, n: int, buckets: int, what: str) -> np.ndarray:
    """Validate the shape, integer type and range of a result; return it as int64."""
    expect_shape(got, (n,), what)
    arr = np.asarray(got)
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            fail(f"{what} should hold integer bucket numbers, but got {describe(np.asarray(got))}.",
                 hint="end with np.asarray(buckets_list, dtype=np.int64).")
    arr = arr.astype(np.int64)
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi >= buckets:
        fail(f"{what} has buckets from {lo} to {hi}, but with {buckets} buckets they must lie "
             f"in 0 .. {buckets - 1}.",
             hint=("an off-by-one? `h % buckets` already gives 0 .. buckets - 1; adding 1 "
                   "shifts the last bucket out of range." if hi == buckets else
                   "take the hash modulo `buckets` (and make it non-negative)."))
    return arr


def _colliding_share(b: np.ndarray, buckets: int) -> float:
    counts = np.bincount(b, minlength=buckets)
    return float((counts[b] > 1).mean())


@exercise("ch05", "hash_bucket", title="a stable hash of (field, value) into buckets")
def check_hash_bucket(fn, run):
    """Check ``fn(values, field, buckets)``: integer buckets in range, depending on the
    field, spread like a random function, and not Python's salted ``hash()``."""
    # 1. Structured integer ids: multiples of the bucket count.
    n, buckets = 200, 4096
    values = np.arange(1, n + 1, dtype=np.int64) * buckets
    with run.case(f"{n} integer ids that are multiples of {buckets}, {buckets} buckets"):
        with _HashSpy() as spy:
            got = run.call(fn, values, "C7", buckets)
        b = _buckets_of(got, n, buckets, "the buckets")
        _no_salted_hash(spy)
        share = _colliding_share(b, buckets)
        expected = 1 - (1 - 1 / buckets) ** (n - 1)
        if share > expected + 0.15:
            fail(f"{share:.0%} of these {n} distinct ids share a bucket with another id; a "
                 f"random-looking hash would give about {expected:.0%}.",
                 hint="`value % buckets` is not a hash: ids with a common structure (here "
                      "multiples of the bucket count) all land together. Mix the bits first "
                      "(hashlib, or zlib.crc32 of the text), then take the modulo.")
    # 2. The field matters.
    n, buckets = 500, 1024
    values = np.arange(10_000, 10_000 + n, dtype=np.int64) * 7
    with run.case(f"the same {n} ids in fields C1 and C2, {buckets} buckets"):
        with _HashSpy() as spy:
            b1 = _buckets_of(run.call(fn, values, "C1", buckets), n, buckets, "the buckets of C1")
            b2 = _buckets_of(run.call(fn, values, "C2", buckets), n, buckets, "the buckets of C2")
        _no_salted_hash(spy)
        same = float((b1 == b2).mean())
        if same > 0.05:
            fail(f"{same:.0%} of the ids get the same bucket in field C1 and in field C2; with "
                 f"a hash of (field, value) that happens for about 1 in {buckets}.",
                 hint="put the field name into what you hash, e.g. f\"{field}|{value}\".")
    # 3. Criteo-like hexadecimal strings: range, determinism, salted hash.
    n, buckets = 1000, 64
    values = _hex_ids(n, 5)
    with run.case(f"{n} hexadecimal string ids (as in Criteo), {buckets} buckets"):
        with _HashSpy() as spy:
            first = run.call(fn, list(values), "C3", buckets)
            second = run.call(fn, list(values), "C3", buckets)
        b = _buckets_of(first, n, buckets, "the buckets")
        _no_salted_hash(spy)
        if not np.array_equal(b, np.asarray(second).astype(np.int64)):
            fail("two calls with the same input gave different buckets: the hash must be a "
                 "fixed function of (field, value), with no randomness.")
        counts = np.bincount(b, minlength=buckets)
        if counts.max() > 4 * n / buckets:
            fail(f"one bucket holds {counts.max()} of {n} values (a random spread puts about "
                 f"{n // buckets} in each): the buckets are not spread evenly.",
                 hint="hash the whole value, not only its first characters.")
    # 4. One value.
    with run.case("a single value"):
        with _HashSpy() as spy:
            got = run.call(fn, ["68fd1e64"], "C1", 10)
        _buckets_of(got, 1, 10, "the buckets")
        _no_salted_hash(spy)


def _no_salted_hash(spy: _HashSpy) -> None:
    if spy.calls:
        fail("your function calls Python's built-in hash() on a string (or a tuple holding "
             "one). That hash is salted: each Python process picks a random key at start "
             "(PYTHONHASHSEED), so two data-parallel workers, or a restarted job, would put "
             "the same id in different buckets.",
             hint="use a fixed hash function: hashlib (md5, blake2b) or zlib.crc32 of "
                  "f\"{field}|{value}\".encode().")
