"""The checks of chapter 05's exercises: the references pass, typical mistakes get
specific, different messages."""
from __future__ import annotations

import hashlib
import zlib

import numpy as np
import pytest

from recsys_course import scale
from recsys_course.exercises.ch05 import (_reference_embedding_memory, _reference_hash_bucket,
                                          check_embedding_memory, check_hash_bucket)
from check_helpers import failure


# ----------------------------------------------------------------------------------------
# embedding_memory
# ----------------------------------------------------------------------------------------
def test_embedding_memory_references_pass(capsys):
    assert check_embedding_memory(_reference_embedding_memory) is True
    # the package's own function is a valid solution too
    assert check_embedding_memory(lambda v, d, b: scale.embedding_bytes(v, d, b)) is True
    assert "✓ check_embedding_memory: 5 hidden cases passed" in capsys.readouterr().out


def test_embedding_memory_shape_error_and_numerical_errors_differ():
    per_field = failure(check_embedding_memory, lambda v, d, b: [
        (x if b is None else min(x, b)) * d * 4 for x in v])
    no_min = failure(check_embedding_memory, lambda v, d, b: (
        sum(v) if b is None else len(v) * b) * d * 4)
    weights = failure(check_embedding_memory, lambda v, d, b: (
        sum(v) if b is None else sum(min(x, b) for x in v)) * d)
    adam = failure(check_embedding_memory, lambda v, d, b: 3 * _reference_embedding_memory(v, d, b))
    assert "should be a single number" in per_field and "list of 26 items" in per_field
    assert "hidden case 2" in no_min and "min(v, buckets)" in no_min
    assert "a float32 takes 4 bytes" in weights and "hidden case 1" in weights
    assert "Adam" in adam
    assert len({per_field, no_min, weights, adam}) == 4


# ----------------------------------------------------------------------------------------
# hash_bucket
# ----------------------------------------------------------------------------------------
def _md5_solution(values, field, buckets):
    return np.array([int(hashlib.md5(f"{field}|{v}".encode()).hexdigest(), 16) % buckets
                     for v in values])


def _crc_solution(values, field, buckets):
    return np.array([zlib.crc32(f"{field}|{v}".encode()) % buckets for v in values])


def test_hash_bucket_references_pass(capsys):
    assert check_hash_bucket(_reference_hash_bucket) is True
    assert check_hash_bucket(_md5_solution) is True
    assert check_hash_bucket(_crc_solution) is True
    assert check_hash_bucket(lambda v, f, b: scale.hash_bucket(v, f, b)) is True
    assert "✓ check_hash_bucket: 4 hidden cases passed" in capsys.readouterr().out


def test_hash_bucket_shape_error():
    msg = failure(check_hash_bucket, lambda v, f, b: _md5_solution(v, f, b).reshape(-1, 1))
    assert "has shape (200, 1) but should have shape (200,)" in msg
    assert "squeeze" in msg


def test_hash_bucket_off_by_one_range():
    msg = failure(check_hash_bucket, lambda v, f, b: _md5_solution(v, f, b) + 1)
    # 200 values rarely reach bucket 4095; the 500 of case 2 reach 1024
    assert "they must lie in 0 .. 1023" in msg and "off-by-one" in msg


def test_hash_bucket_modulo_of_raw_ids_is_caught():
    msg = failure(check_hash_bucket, lambda v, f, b: np.asarray(v).astype(np.int64) % b)
    assert "hidden case 1" in msg and "share a bucket" in msg and "not a hash" in msg


def test_hash_bucket_ignoring_the_field_is_caught():
    msg = failure(check_hash_bucket, lambda v, f, b: _md5_solution(v, "same", b))
    assert "hidden case 2" in msg and "field C1 and in field C2" in msg


def test_hash_bucket_salted_builtin_hash_is_caught():
    msg = failure(check_hash_bucket, lambda v, f, b: np.array([hash((f, x)) % b for x in v]))
    assert "built-in hash()" in msg and "salted" in msg and "PYTHONHASHSEED" in msg


def test_hash_bucket_messages_all_differ():
    wrong = [lambda v, f, b: _md5_solution(v, f, b).reshape(-1, 1),
             lambda v, f, b: _md5_solution(v, f, b) + 1,
             lambda v, f, b: np.asarray(v).astype(np.int64) % b,
             lambda v, f, b: np.array([hash((f, x)) % b for x in v])]
    assert len({failure(check_hash_bucket, fn) for fn in wrong}) == len(wrong)


def test_hash_spy_restores_builtin_hash():
    import builtins
    real = builtins.hash
    failure(check_hash_bucket, lambda v, f, b: np.array([hash((f, x)) % b for x in v]))
    assert builtins.hash is real
