"""recsys_course.scale (chapter 05): hashing, the streaming reader, memory, DDP."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from recsys_course import scale
from recsys_course.synthetic import SPARSE, criteo_like_chunk, criteo_like_spec


@pytest.fixture(scope="module")
def spec():
    return criteo_like_spec(0)


# ----------------------------------------------------------------------------------------
# Memory arithmetic
# ----------------------------------------------------------------------------------------
def test_criteo_cardinalities_and_memory():
    assert len(scale.CRITEO_KAGGLE_CARDINALITIES) == len(scale.CRITEO_1TB_CARDINALITIES) == 26
    assert sum(scale.CRITEO_KAGGLE_CARDINALITIES) == 33_762_577
    assert sum(scale.CRITEO_1TB_CARDINALITIES) == 177_944_275
    assert scale.embedding_bytes([10, 1000, 5], 4) == 1015 * 16
    assert scale.embedding_bytes([10, 1000, 5], 4, buckets=100) == 115 * 16
    assert scale.embedding_bytes(scale.CRITEO_KAGGLE_CARDINALITIES, 16) == 33_762_577 * 64


# ----------------------------------------------------------------------------------------
# Hashing
# ----------------------------------------------------------------------------------------
def test_hash_golden_values():
    """Pinned outputs: changing the hash would silently scramble every trained model."""
    ints = scale.hash_bucket(np.array([0, 1, 2, 12345, 2 ** 31 - 1, -1]), "C1", 1000)
    assert ints.tolist() == [150, 371, 845, 154, 795, 713] and ints.dtype == np.int64
    assert scale.hash_bucket(["68fd1e64", "05db9164", ""], "C2", 1000).tolist() == [52, 485, 687]
    assert scale.hash_bucket(np.arange(3), "C1", 2 ** 20, seed=3).tolist() == [790964, 918663, 483508]


_CHILD = """
import numpy as np
from recsys_course.scale import hash_bucket
print(hash_bucket(np.arange(50), 'C5', 97).tolist())
print(hash_bucket([f'{v:08x}' for v in range(50)], 'C6', 97).tolist())
print(hash('68fd1e64') % 97)
"""


def test_hash_is_the_same_in_other_processes():
    """Unlike Python's salted hash() of a string, the buckets do not depend on the process."""
    here = [scale.hash_bucket(np.arange(50), "C5", 97).tolist(),
            scale.hash_bucket([f"{v:08x}" for v in range(50)], "C6", 97).tolist()]
    builtin = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True,
                             text=True, check=True).stdout.split("\n")
        assert [eval(out[0]), eval(out[1])] == here
        builtin.add(int(out[2]))
    assert len(builtin) > 1          # the built-in hash does change with the process's seed


def test_hash_range_types_and_field_salt():
    b = scale.hash_bucket(np.arange(10_000), "C1", 37)
    assert b.shape == (10_000,) and b.min() >= 0 and b.max() < 37
    assert scale.hash_bucket(np.arange(6, dtype=np.uint32).reshape(2, 3), "C1", 5).shape == (2, 3)
    same = (scale.hash_bucket(np.arange(5000), "C1", 1024)
            == scale.hash_bucket(np.arange(5000), "C2", 1024)).mean()
    assert same < 0.01                                 # about 1 / 1024 by chance
    assert not np.array_equal(scale.hash_bucket(np.arange(100), "C1", 1000),
                              scale.hash_bucket(np.arange(100), "C1", 1000, seed=1))
    with pytest.raises(TypeError):
        scale.hash_bucket(np.array([0.5]), "C1", 10)
    with pytest.raises(ValueError):
        scale.hash_bucket(np.arange(3), "C1", 0)


@pytest.mark.parametrize("buckets", [2 ** 10, 2 ** 12, 2 ** 14, 2 ** 16])
def test_measured_collisions_match_the_formula(buckets):
    rng = np.random.default_rng(buckets)
    values = rng.choice(2 ** 32, size=5000, replace=False)
    expected = scale.expected_collision_rate(5000, buckets)
    measured = scale.measured_collision_rate(values, "C9", buckets)
    sd = np.sqrt(expected * (1 - expected) / 5000) * 3 + 0.005   # generous: values are dependent
    assert abs(measured - expected) < 3 * sd
    # structured ids (multiples of the bucket count) spread like random ones
    structured = np.arange(1, 5001, dtype=np.int64) * buckets
    assert abs(scale.measured_collision_rate(structured, "C9", buckets) - expected) < 3 * sd


def test_expected_collision_rate_limits():
    assert scale.expected_collision_rate(1, 10) == 0.0
    assert scale.expected_collision_rate(2, 1) == 1.0
    assert np.isclose(scale.expected_collision_rate(1000, 10 ** 9), 999 / 10 ** 9, rtol=1e-3)
    out = scale.expected_collision_rate(100, np.array([10, 100, 1000]))
    assert out.shape == (3,) and np.all(np.diff(out) < 0)


# ----------------------------------------------------------------------------------------
# The file and the reader
# ----------------------------------------------------------------------------------------
def test_write_append_read_roundtrip(tmp_path, spec):
    whole, grown = tmp_path / "whole.bin", tmp_path / "grown.bin"
    assert scale.write_criteo_like_file(whole, spec, 2500, chunk_rows=1000) == 2500
    assert scale.write_criteo_like_file(grown, spec, 1000, chunk_rows=1000) == 1000
    assert scale.write_criteo_like_file(grown, spec, 1500, chunk_rows=1000, first_chunk=1,
                                        append=True) == 2500
    assert whole.read_bytes() == grown.read_bytes()
    rec = np.fromfile(whole, dtype=scale.RECORD)   # (NaN counts: compare bytes, not values)
    df = criteo_like_chunk(spec, 1000, 1)
    assert np.array_equal(rec["ids"][1000:2000], df[SPARSE].to_numpy())
    assert np.array_equal(rec["label"][1000:2000], df["label"].to_numpy(np.float32))
    chunks = list(scale.read_chunks(whole, 700))
    assert [len(c) for c in chunks] == [700, 700, 700, 400]
    assert np.concatenate(chunks).tobytes() == rec.tobytes()
    assert sum(len(c) for c in scale.read_chunks(whole, 700, max_rows=1000)) == 1000


def test_shards_are_disjoint_equal_and_cover_the_chunk(tmp_path, spec):
    path = tmp_path / "log.bin"
    scale.write_criteo_like_file(path, spec, 1001, chunk_rows=1001)
    rec = np.fromfile(path, dtype=scale.RECORD)
    parts = [list(scale.read_chunks(path, 400, rank=r, world_size=2)) for r in range(2)]
    assert [len(c) for c in parts[0]] == [len(c) for c in parts[1]] == [200, 200, 100]
    both = np.concatenate([np.concatenate([a, b]) for a, b in zip(*parts)])
    assert both.tobytes() == rec[:1000].tobytes()      # the one odd tail row is left out
    with pytest.raises(ValueError):
        next(scale.read_chunks(path, 400, rank=2, world_size=2))


def test_records_to_tensors_follow_the_book_conventions(tmp_path, spec):
    path = tmp_path / "log.bin"
    scale.write_criteo_like_file(path, spec, 300)
    x, y = scale.records_to_tensors(np.fromfile(path, dtype=scale.RECORD), buckets=50)
    feats = scale.hashed_features(50, 8)
    assert set(x) == {f.name for f in feats} and y.shape == (300,)
    for f in feats:
        if hasattr(f, "vocab_size"):
            assert f.vocab_size == 52 and x[f.name].dtype == torch.int64
            assert 2 <= int(x[f.name].min()) and int(x[f.name].max()) < 52
        else:
            assert x[f.name].dtype == torch.float32 and not torch.isnan(x[f.name]).any()
    model = scale.make_deepfm(50, 8, (16,))
    assert model(x).shape == (300,)


# ----------------------------------------------------------------------------------------
# Memory stays flat while the file grows
# ----------------------------------------------------------------------------------------
SMALL, LARGE, CHUNK = 40_000, 200_000, 20_000


def _peak(path, load_all: bool, rows: int) -> float:
    out = scale.run_in_fresh_process(
        scale.streaming_experiment, path=str(path), buckets=1024, embed_dim=4, mlp_dims=(16,),
        chunk_rows=CHUNK, batch_size=4096, threads=1, max_rows=rows, load_all=load_all)
    assert out["rows"] == rows
    return out["peak_rss"]


@pytest.fixture(scope="module")
def log_file(tmp_path_factory, spec):
    path = tmp_path_factory.mktemp("stream") / "log.bin"
    scale.write_criteo_like_file(path, spec, LARGE, chunk_rows=50_000)
    return path


def _held_bytes_per_row(path) -> float:
    """What holding one row costs: its record plus its tensors (as the notebook computes)."""
    rec = np.fromfile(path, dtype=scale.RECORD, count=1000)
    x, y = scale.records_to_tensors(rec, 1024)
    return (rec.nbytes + sum(t.nbytes for t in x.values()) + y.nbytes) / len(rec)


def test_streaming_peak_memory_does_not_follow_the_rows_and_loading_it_all_does(log_file):
    held = _held_bytes_per_row(log_file)
    rows = [SMALL, LARGE]
    stream, s_text = scale.memory_growth_verdict(
        rows, [_peak(log_file, False, r) for r in rows], held_per_row=held)
    loaded, l_text = scale.memory_growth_verdict(
        rows, [_peak(log_file, True, r) for r in rows], held_per_row=held)
    print(f"streaming: {s_text}\nloading it all: {l_text}")
    # The line between the two behaviours sits halfway between 0 and the bytes of a held
    # row (424 here). Streaming peaks seen so far moved by 3% to 16% of it (the allocator
    # keeps some freed chunks; 27.5 MB over 800,000 rows in a failed book build, 10.9 MB
    # over these 160,000 rows on a loaded 2-core machine); loading everything, by 106%.
    assert stream < 0.5 * held
    # The same measurement catches a reader that loads everything: it holds every row.
    assert loaded > 0.5 * held


def test_memory_growth_verdict_reads_the_slope_whichever_way_it_goes():
    rows = [100_000, 200_000, 300_000]
    flat, text = scale.memory_growth_verdict(rows, [400e6, 401e6, 400.5e6], held_per_row=400)
    assert abs(flat - 2.5) < 1e-6 and "far below" in text and "grew" not in text
    grew, text = scale.memory_growth_verdict(rows, [400e6, 440e6, 480e6], held_per_row=400)
    assert abs(grew - 400) < 1e-6 and "grew with the row count" in text and "+100.0%" in text
    fell, text = scale.memory_growth_verdict(rows, [480e6, 440e6, 400e6], held_per_row=400)
    assert fell < 0 and "fell" in text and "-100.0%" in text
    small, text = scale.memory_growth_verdict([10_000, 20_000], [400e6, 405e6], held_per_row=400,
                                              noise=3e6)      # 4 MB of rows, 3 MB of noise
    assert np.isclose(small, 500) and text.startswith("too few rows to tell")
    with pytest.raises(ValueError):
        scale.memory_growth_verdict([100, 100], [1.0, 2.0], held_per_row=1)


def test_memory_probes_report_bytes():
    now, peak = scale.memory_now(), scale.memory_peak()
    assert 10e6 < now <= peak < 100e9


# ----------------------------------------------------------------------------------------
# Data-parallel training
# ----------------------------------------------------------------------------------------
def test_two_process_ddp_ends_with_identical_weights_and_lower_loss(tmp_path, spec):
    path = tmp_path / "train.bin"
    scale.write_criteo_like_file(path, spec, 800)
    kw = dict(buckets=64, embed_dim=4, mlp_dims=(8,), seeds=[3])
    (rep,) = scale.ddp_train(path, world_size=2, threads=1, global_batch=64, chunk_rows=200,
                             lr=0.02, save_states=True, **kw)
    assert rep["world_size"] == 2 and rep["rows"] == 800 and len(rep["chunk_loss"]) == 4
    a, b = rep["states"]
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)           # replicas never drift apart
    start = scale.make_deepfm(64, 4, (8,), seed=3)
    trained = scale.make_deepfm(64, 4, (8,), seed=3)
    assert not all(torch.equal(start.state_dict()[k], a[k]) for k in a)
    trained.load_state_dict(a)
    x, y = scale.records_to_tensors(np.fromfile(path, dtype=scale.RECORD), 64)
    loss = torch.nn.BCEWithLogitsLoss()
    with torch.no_grad():
        before, after = loss(start(x), y).item(), loss(trained.eval()(x), y).item()
    assert after < before - 0.01


def test_half_batch_gradients_average_to_the_full_batch_gradient(tmp_path, spec):
    """What DDP relies on: with equal halves, the mean of the two half-batch mean
    gradients is the full-batch mean gradient (no batch norm, no dropout)."""
    path = tmp_path / "train.bin"
    scale.write_criteo_like_file(path, spec, 512)
    x, y = scale.records_to_tensors(np.fromfile(path, dtype=scale.RECORD), 64)
    model = scale.make_deepfm(64, 4, (8,), dropout=0.0, seed=0)
    loss = torch.nn.BCEWithLogitsLoss()

    def grads(idx):
        model.zero_grad()
        loss(model({k: v[idx] for k, v in x.items()}), y[idx]).backward()
        return [p.grad.clone() for p in model.parameters()]

    full = grads(torch.arange(512))
    halves = [grads(torch.arange(0, 256)), grads(torch.arange(256, 512))]
    for g, g0, g1 in zip(full, *halves):
        torch.testing.assert_close(g, (g0 + g1) / 2, atol=1e-7, rtol=1e-5)


def test_single_process_in_process_run_reports(tmp_path, spec):
    path, test = tmp_path / "train.bin", tmp_path / "test.bin"
    scale.write_criteo_like_file(path, spec, 600)
    scale.write_criteo_like_file(test, spec, 400, first_chunk=50)
    threads = torch.get_num_threads()
    reps = scale.ddp_train(path, test, world_size=1, seeds=[0, 1], buckets=64, embed_dim=4,
                           mlp_dims=(8,), global_batch=100, chunk_rows=300, in_process=True)
    assert [r["seed"] for r in reps] == [0, 1] and all(0 < r["auc"] < 1 for r in reps)
    assert torch.get_num_threads() == threads               # the caller's setting is restored
    with pytest.raises(ValueError):
        scale.ddp_train(path, world_size=2, in_process=True)
    with pytest.raises(ValueError):
        scale.ddp_train(path, world_size=2, global_batch=101)


# ----------------------------------------------------------------------------------------
# What a timing ran on, and what it says
# ----------------------------------------------------------------------------------------
def test_cpu_description_names_the_cpu_and_counts_the_usable_cores():
    d = scale.cpu_description()
    assert isinstance(d["cpu_model"], str) and d["cpu_model"].strip()
    assert 1 <= d["usable_cpus"] <= d["logical_cpus"]
    if hasattr(os, "sched_getaffinity"):
        assert d["usable_cpus"] == len(os.sched_getaffinity(0))
    line = scale.describe_cpu(d)
    assert d["cpu_model"] in line and f"{d['usable_cpus']} usable" in line


def test_speed_ratio_is_the_geometric_mean_of_paired_ratios():
    m, lo, hi = scale.speed_ratio([2.0, 8.0, 4.0], [1.0, 2.0, 4.0])   # ratios 2, 4, 1
    assert np.isclose(m, 2.0) and lo < m < hi
    m, lo, hi = scale.speed_ratio([3.0], [2.0])
    assert np.isclose(m, 1.5) and np.isnan(lo) and np.isnan(hi)
    with pytest.raises(ValueError):
        scale.speed_ratio([1.0, 2.0], [1.0])
    with pytest.raises(ValueError):
        scale.speed_ratio([0.0], [1.0])


def test_speed_verdict_names_a_direction_only_when_the_interval_excludes_one():
    faster = scale.speed_verdict("A", "B", scale.speed_ratio([2.1, 1.9, 2.0], [1.0, 1.0, 1.0]), 3)
    slower = scale.speed_verdict("A", "B", scale.speed_ratio([0.5, 0.55, 0.45], [1.0, 1.0, 1.0]), 3)
    unclear = scale.speed_verdict("A", "B", scale.speed_ratio([1.3, 0.8, 1.0], [1.0, 1.0, 1.0]), 3)
    single = scale.speed_verdict("A", "B", scale.speed_ratio([0.5], [1.0]), 1)
    assert faster.startswith("A was faster than B") and "slower" not in faster
    assert slower.startswith("A was slower than B") and "faster" not in slower
    assert "not separated" in unclear and "faster" not in unclear and "slower" not in unclear
    assert "no verdict" in single and "0.50x" in single
