"""Scaling up: hashed ids, data streamed from disk, data-parallel training. Chapter 05.

Chapter: notebooks/05_scaling_up.ipynb. Three tools, each small enough to read:

* **Memory arithmetic and the hashing trick** (Weinberger et al. 2009): an embedding table
  costs ``rows * D * 4`` bytes (three times that while training with Adam); hashing every
  raw value into a fixed number of buckets, ``code = h(field, value) mod B``, caps the
  rows at ``B`` per field and needs no vocabulary pass over the data.
  :func:`hash_bucket` is a deterministic 64-bit mix (splitmix64's finaliser), so every
  process, and every restart, puts a value in the same bucket; Python's own ``hash()``
  of a string is salted per process and would not.
* **Streaming from disk**: a Criteo-shaped SYNTHETIC log is written chunk by chunk into a
  flat binary file of fixed-size records (:data:`RECORD`); :func:`read_chunks` reads it
  back a chunk at a time with ``np.fromfile`` (no memory map, so read pages never count
  against the process), and :func:`train_on_chunks` trains on each chunk as it arrives.
  Memory then depends on the model and the chunk size, not on the file size.
  :func:`run_in_fresh_process` runs an experiment in a new interpreter and reports its
  peak resident memory, so two runs can be compared without the notebook's own history.
* **Data parallelism** (PyTorch DistributedDataParallel, Li et al. 2020):
  :func:`ddp_train` spawns ``world_size`` CPU processes (gloo backend, loopback only);
  each reads its own share of every chunk, computes gradients on half the global batch,
  and DDP averages the gradients, so every replica takes the same step.
* **Measurements that say what they measured**: :func:`memory_growth_verdict` reads the
  slope of peak memory against rows, :func:`speed_ratio` and :func:`speed_verdict` the
  paired throughput ratio of two setups, each as a sentence that is right whichever way
  the numbers fall; :func:`cpu_description` names the CPU a timing ran on.

The worker functions live here, in an importable module, because
``torch.multiprocessing.spawn`` starts fresh interpreters that must import the function
they run (a function defined in a notebook cannot be imported).
"""
from __future__ import annotations

import json
import math
import os
import socket
import sys
import tempfile
import time
import traceback
import zlib
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from . import metrics
from .features import DenseFeature, SparseFeature
from .synthetic import DENSE, SPARSE, CriteoLikeSpec, criteo_like_chunk
from .train import make_adam

# ----------------------------------------------------------------------------------------
# Criteo-scale vocabularies (published facts, not synthetic)
# ----------------------------------------------------------------------------------------
CRITEO_KAGGLE_ROWS = 45_840_617
"""Rows of the Kaggle Display Advertising Challenge training set (7 days of Criteo traffic)."""

CRITEO_KAGGLE_CARDINALITIES = (
    1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194, 27,
    14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142572)
"""Distinct values of C1..C26 in the Kaggle training set, as used to size the embedding
tables by the DLRM reference implementation (facebookresearch/dlrm) and TorchRec's DLRM
example (``KAGGLE_NUM_EMBEDDINGS_PER_FEATURE``)."""

CRITEO_1TB_CARDINALITIES = (
    45833188, 36746, 17245, 7413, 20243, 3, 7114, 1441, 62, 29275261, 1572176, 345138, 10,
    2209, 11267, 128, 4, 974, 14, 48937457, 11316796, 40094537, 452104, 12606, 104, 35)
"""Distinct values of C1..C26 in the Criteo 1TB click logs (24 days of traffic, a
terabyte of text), the default table sizes of TorchRec's DLRM example."""


def embedding_bytes(vocab_sizes: Sequence[int], dim: int, buckets: int | None = None,
                    bytes_per_value: int = 4) -> int:
    """Bytes of one embedding table per field: ``sum_f rows_f * dim * bytes_per_value``.

    With ``buckets``, a field keeps ``min(vocab, buckets)`` rows: hashing caps the large
    tables and leaves a small field (fewer values than buckets) as it is. Weights only:
    training with Adam keeps two more numbers per weight (``3x``).
    """
    rows = [min(int(v), buckets) if buckets is not None else int(v) for v in vocab_sizes]
    return int(sum(rows)) * int(dim) * int(bytes_per_value)


# ----------------------------------------------------------------------------------------
# The hashing trick
# ----------------------------------------------------------------------------------------
_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_M1, _M2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def _mix_int(x: int) -> int:
    """splitmix64's finaliser on one Python int (the scalar twin of :func:`_mix64`)."""
    z = (x + _GOLDEN) & _MASK
    z = ((z ^ (z >> 30)) * _M1) & _MASK
    z = ((z ^ (z >> 27)) * _M2) & _MASK
    return z ^ (z >> 31)


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on a uint64 array: every input bit flips about half the
    output bits. numpy's uint64 arithmetic wraps modulo 2**64, as the algorithm wants."""
    z = x + np.uint64(_GOLDEN)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_M1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_M2)
    return z ^ (z >> np.uint64(31))


def field_salt(field: str, seed: int = 0) -> int:
    """A 64-bit number per (field name, seed): CRC-32 of the name, mixed with the seed.
    Deterministic in every process (unlike ``hash(field)``, which is salted)."""
    return _mix_int((zlib.crc32(str(field).encode("utf-8")) | (int(seed) << 32)) & _MASK)


def _as_uint64(values) -> np.ndarray:
    v = np.asarray(values)
    if v.dtype.kind in "OUS":  # strings, e.g. Criteo's hexadecimal category ids
        flat = [zlib.crc32(str(s).encode("utf-8")) | (zlib.adler32(str(s).encode("utf-8")) << 32)
                for s in v.ravel()]
        return np.asarray(flat, dtype=np.uint64).reshape(v.shape)
    if v.dtype.kind not in "iub":
        raise TypeError(f"hash_bucket takes integer or string values, got dtype {v.dtype}")
    return v.astype(np.int64).view(np.uint64) if v.dtype.kind == "i" else v.astype(np.uint64)


def hash_bucket(values, field: str, buckets: int, seed: int = 0) -> np.ndarray:
    """``h(field, value) mod buckets`` for every value: int64 array of the input's shape.

    Integer values are mixed directly; strings are first turned into 64 bits with CRC-32
    and Adler-32 (both fixed functions of the bytes). The field's salt makes the same raw
    value land in unrelated buckets in different fields. Chapter 05.
    """
    if int(buckets) < 1:
        raise ValueError(f"buckets must be at least 1, got {buckets}")
    with np.errstate(over="ignore"):
        h = _mix64(_as_uint64(values) ^ np.uint64(field_salt(field, seed)))
    return (h % np.uint64(buckets)).astype(np.int64)


def expected_collision_rate(n_values, buckets):
    """Share of ``n_values`` distinct values that share their bucket with at least one
    other, if a hash spreads them uniformly: ``1 - (1 - 1/B) ** (n - 1)``."""
    n = np.asarray(n_values, dtype=np.float64)
    b = np.asarray(buckets, dtype=np.float64)
    with np.errstate(divide="ignore"):                   # B = 1: log(0), rate 1
        out = -np.expm1((n - 1) * np.log1p(-1.0 / b))   # accurate for large B
    return float(out) if out.ndim == 0 else out


def measured_collision_rate(values, field: str, buckets: int, seed: int = 0) -> float:
    """The same share, measured: hash the distinct ``values`` and count the values whose
    bucket holds another one."""
    distinct = np.unique(np.asarray(values))
    b = hash_bucket(distinct, field, buckets, seed)
    counts = np.bincount(b, minlength=int(buckets))
    return float((counts[b] > 1).mean())


# ----------------------------------------------------------------------------------------
# A Criteo-shaped file on disk, written and read chunk by chunk
# ----------------------------------------------------------------------------------------
RECORD = np.dtype([("label", "<f4"), ("dense", "<f4", (len(DENSE),)),
                   ("ids", "<i4", (len(SPARSE),))])
"""One row of the binary log: the label, 13 raw counts (NaN = missing) and 26 raw 32-bit
category ids (Criteo's categories are 32-bit hashes too). 160 bytes, fixed size, so row
``i`` starts at byte ``i * RECORD.itemsize`` and any range can be read on its own."""


def file_rows(path) -> int:
    """Number of records in a log file."""
    size = os.path.getsize(path)
    if size % RECORD.itemsize:
        raise ValueError(f"{path} has {size} bytes, not a whole number of "
                         f"{RECORD.itemsize}-byte records")
    return size // RECORD.itemsize


def write_criteo_like_file(path, spec: CriteoLikeSpec, n_rows: int, chunk_rows: int = 100_000,
                           first_chunk: int = 0, append: bool = False) -> int:
    """Write (or append) ``n_rows`` SYNTHETIC Criteo-shaped rows, one generated chunk at a
    time, so memory holds one chunk whatever ``n_rows`` is. Chunk ``first_chunk + i`` of
    :func:`recsys_course.synthetic.criteo_like_chunk` gives rows ``i * chunk_rows ...``;
    appending with the next ``first_chunk`` grows a file exactly as writing it whole
    would. Returns the number of rows now in the file."""
    with open(path, "ab" if append else "wb") as fh:
        for i, start in enumerate(range(0, n_rows, chunk_rows)):
            df = criteo_like_chunk(spec, min(chunk_rows, n_rows - start), first_chunk + i)
            rec = np.empty(len(df), dtype=RECORD)
            rec["label"] = df["label"].to_numpy(np.float32)
            rec["dense"] = df[DENSE].to_numpy(np.float32)
            rec["ids"] = df[SPARSE].to_numpy(np.int32)
            rec.tofile(fh)
    return file_rows(path)


def read_chunks(path, chunk_rows: int, rank: int = 0, world_size: int = 1,
                max_rows: int | None = None) -> Iterator[np.ndarray]:
    """Yield the file's records chunk by chunk (structured arrays of dtype :data:`RECORD`).

    With ``world_size`` > 1, process ``rank`` reads only its share of every chunk: rows
    ``rank * s ... (rank + 1) * s`` of it, ``s = rows_in_chunk // world_size`` (at most
    ``world_size - 1`` tail rows of a chunk are left out). So all processes get the same
    number of rows, step after step, and together they cover the chunk. Each chunk is a
    fresh read (``np.fromfile`` at an offset): nothing of the file stays mapped.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
    n = file_rows(path) if max_rows is None else min(file_rows(path), int(max_rows))
    for start in range(0, n, chunk_rows):
        share = min(chunk_rows, n - start) // world_size
        if share == 0:
            break
        yield np.fromfile(path, dtype=RECORD, count=share,
                          offset=(start + rank * share) * RECORD.itemsize)


def hashed_features(buckets: int, embed_dim: int = 8) -> list:
    """Feature descriptions of the hashed log: C1..C26 with ``buckets + 2`` codes each (0
    padding and 1 unseen stay reserved, as everywhere in the book), then I1..I13."""
    return ([SparseFeature(name, buckets + 2, embed_dim) for name in SPARSE]
            + [DenseFeature(name) for name in DENSE])


def records_to_tensors(rec: np.ndarray, buckets: int, seed: int = 0) -> tuple[dict, torch.Tensor]:
    """A chunk of records -> (x, y) in the book's batch format, with no vocabulary:
    ``code = 2 + h(field, id) mod buckets``; counts -> ``log1p(count) / 10`` (missing -> 0),
    the same fixed transform as ``criteo_like_tensors``."""
    x = {}
    for f, name in enumerate(SPARSE):
        x[name] = torch.from_numpy(2 + hash_bucket(rec["ids"][:, f], name, buckets, seed))
    dense = np.nan_to_num(np.log1p(rec["dense"].astype(np.float64)) / 10.0, nan=0.0)
    for j, name in enumerate(DENSE):
        x[name] = torch.from_numpy(np.ascontiguousarray(dense[:, j], dtype=np.float32))
    return x, torch.from_numpy(np.ascontiguousarray(rec["label"], dtype=np.float32))


def make_deepfm(buckets: int, embed_dim: int = 8, mlp_dims: Sequence[int] = (64, 32),
                dropout: float = 0.0, seed: int = 0) -> nn.Module:
    """The book's DeepFM (chapter 02) over the hashed Criteo-shaped fields."""
    from .models import DeepFM
    from .train import set_seed
    set_seed(seed)
    return DeepFM(hashed_features(buckets, embed_dim), mlp_dims=tuple(mlp_dims), dropout=dropout)


def train_on_chunks(model: nn.Module, chunks: Iterable[np.ndarray], *, buckets: int,
                    batch_size: int, optimizer: torch.optim.Optimizer, seed: int = 0,
                    rank: int = 0, hash_seed: int = 0,
                    on_chunk: Callable[[int, dict], None] | None = None) -> dict:
    """One pass over a stream of chunks: shuffle each chunk (seeded by seed, chunk, rank),
    train on it in mini-batches of ``batch_size`` rows, drop it, read the next.

    ``model`` may be wrapped in DistributedDataParallel: the loop is the same, DDP
    averages the gradients inside ``backward``. Returns the rows seen, the mean training
    loss of every chunk and the seconds spent; ``on_chunk(i, stats)`` is called after each
    chunk (the memory probes use it).
    """
    loss_fn = nn.BCEWithLogitsLoss()
    model.train()
    rows, losses, t0 = 0, [], time.perf_counter()
    for i, rec in enumerate(chunks):
        x, y = records_to_tensors(rec, buckets, hash_seed)
        n = len(y)
        gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + i * 101 + int(rank))
        order = torch.randperm(n, generator=gen)
        total = 0.0
        for s in range(0, n, batch_size):
            idx = order[s:s + batch_size]
            loss = loss_fn(model({k: v.index_select(0, idx) for k, v in x.items()}),
                           y.index_select(0, idx))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        rows += n
        losses.append(total / max(n, 1))
        del x, y, rec
        if on_chunk is not None:
            on_chunk(i, {"rows": rows, "loss": losses[-1]})
    return {"rows": rows, "chunk_loss": losses, "seconds": time.perf_counter() - t0}


@torch.no_grad()
def predict_file(model: nn.Module, path, buckets: int, chunk_rows: int = 100_000,
                 max_rows: int | None = None, hash_seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels and click probabilities over a whole file, streamed chunk by chunk."""
    from .train import predict
    ys, ps = [], []
    for rec in read_chunks(path, chunk_rows, max_rows=max_rows):
        x, y = records_to_tensors(rec, buckets, hash_seed)
        ps.append(predict(model, x))
        ys.append(y.numpy().astype(np.float64))
    return np.concatenate(ys), np.concatenate(ps)


def bayes_auc_of_file(path, spec: CriteoLikeSpec, chunk_rows: int = 100_000) -> float:
    """AUC of the planted true logits on a log file: the ceiling any model can reach."""
    from .synthetic import bayes_logits
    import pandas as pd
    ys, ls = [], []
    for rec in read_chunks(path, chunk_rows):
        df = pd.DataFrame(rec["dense"].astype(np.float64), columns=DENSE)
        ids = pd.DataFrame(rec["ids"].astype(np.int64), columns=SPARSE)
        ls.append(bayes_logits(pd.concat([df, ids], axis=1), spec))
        ys.append(rec["label"].astype(np.float64))
    return metrics.auc(np.concatenate(ys), np.concatenate(ls))


# ----------------------------------------------------------------------------------------
# Measuring memory
# ----------------------------------------------------------------------------------------
def _proc_status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def memory_now() -> int:
    """Resident memory of this process now, in bytes (Linux /proc, else psutil if present)."""
    kb = _proc_status_kb("VmRSS")
    if kb is not None:
        return kb * 1024
    try:
        import psutil  # not a dependency: only where /proc is missing (macOS)
        return int(psutil.Process().memory_info().rss)
    except ImportError:
        return memory_peak()


def memory_peak() -> int:
    """Peak resident memory of this process so far, in bytes (VmHWM; else ru_maxrss)."""
    kb = _proc_status_kb("VmHWM")
    if kb is not None:
        return kb * 1024
    import resource
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def _fresh_entry(conn, fn, kwargs) -> None:
    try:
        out = fn(**kwargs)
        out = dict(out or {})
        out["peak_rss"] = memory_peak()
        conn.send(("ok", out))
    except BaseException:  # report any failure to the parent, then exit
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def run_in_fresh_process(fn: Callable[..., dict], /, **kwargs) -> dict:
    """Run ``fn(**kwargs)`` (a function of an importable module) in a new interpreter and
    return its result dict plus ``peak_rss``, the child's peak resident memory in bytes.

    A fresh process starts from the same baseline every time (Python, torch, the
    package), so two peaks differ only by what ``fn`` itself held in memory.
    """
    import multiprocessing as mp
    ctx = mp.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_fresh_entry, args=(send, fn, kwargs))
    proc.start()
    send.close()
    try:
        status, payload = recv.recv()
    except EOFError:
        proc.join()
        raise RuntimeError(f"the child process died (exit code {proc.exitcode})") from None
    proc.join()
    if status != "ok":
        raise RuntimeError("the child process failed:\n" + payload)
    return payload


def memory_growth_verdict(rows: Sequence[int], peaks: Sequence[float], held_per_row: float,
                          flat_share: float = 0.25, noise: float = 0.0) -> tuple[float, str]:
    """How the peak resident memory of runs over ``rows`` rows moved with the row count,
    in one sentence that is right whichever way it went.

    ``peaks`` are the runs' peak resident memory in bytes (one fresh process each);
    ``held_per_row`` is what holding one row in memory would cost (the record plus its
    tensors). The slope is the least-squares line through the points, in bytes per row,
    set against ``held_per_row``: a reader that holds the rows grows by at least that
    much, one that streams them by the noise of the measurement. Within ``flat_share``
    of it either way the sentence says the peak stayed far below what holding the rows
    would add; above, that it grew with the rows; below, that it fell (the noise then
    exceeds what the rows cost). ``noise`` (bytes) is how much resident memory wanders
    without any change of rows (e.g. its range within one run): when holding the extra
    rows would add less than twice that, the sentence says the runs cannot tell, whatever
    the slope. Returns ``(slope, sentence)``.
    """
    r = np.asarray(rows, dtype=np.float64)
    m = np.asarray(peaks, dtype=np.float64)
    if len(r) < 2 or len(r) != len(m) or np.ptp(r) == 0:
        raise ValueError("need peaks at two or more different row counts")
    slope = float(np.polyfit(r, m, 1)[0])
    share = slope / float(held_per_row)
    per_m, held_m = slope, float(held_per_row)   # bytes per row = MB per million rows
    spread = (f"from {int(r.min()):,} to {int(r.max()):,} rows the peak moved by "
              f"{(m[np.argmax(r)] - m[np.argmin(r)]) / 1e6:+.1f} MB "
              f"(range over the {len(r)} runs {np.ptp(m) / 1e6:.1f} MB)")
    rate = (f"{per_m:+.1f} MB per million rows, {share:+.1%} of the {held_m:.0f} MB per million "
            f"rows that holding the rows would add")
    extra = held_per_row * float(np.ptp(r))
    if extra < 2 * noise:
        verdict = (f"too few rows to tell: holding the extra {int(np.ptp(r)):,} rows would add "
                   f"only {extra / 1e6:.1f} MB, less than twice the {noise / 1e6:.1f} MB that "
                   f"resident memory wanders without them; {spread}.")
    elif abs(share) < flat_share:
        verdict = (f"the peak stayed far below what holding the rows would add (under "
                   f"{flat_share:.0%} of it either way): {rate}; {spread}.")
    elif share > 0:
        verdict = (f"the peak grew with the row count (by {flat_share:.0%} or more of what "
                   f"holding the rows would add): {rate}; {spread}.")
    else:
        verdict = (f"the peak fell as the row count grew, by more than {flat_share:.0%} of what "
                   f"holding the rows would add, so the noise of the measurement exceeds what "
                   f"the rows cost: {rate}; {spread}.")
    return slope, verdict


def streaming_experiment(path, test_path=None, *, buckets: int = 4096, embed_dim: int = 8,
                         mlp_dims: Sequence[int] = (64, 32), chunk_rows: int = 50_000,
                         batch_size: int = 2048, lr: float = 2e-3, seed: int = 0,
                         threads: int = 2, max_rows: int | None = None,
                         load_all: bool = False) -> dict:
    """Train a hashed DeepFM on a log file in one pass; meant for :func:`run_in_fresh_process`.

    ``load_all=False`` streams the file chunk by chunk. ``load_all=True`` is the variant
    a streaming test must catch: it first reads the whole file into tensors, then trains
    on the same chunks from memory. Returns rows, seconds, samples/s, the resident memory
    after every chunk (``rss_trace``), and the test AUC / logloss when ``test_path`` is
    given.
    """
    torch.set_num_threads(int(threads))
    model = make_deepfm(buckets, embed_dim, mlp_dims, seed=seed)
    opt = make_adam(model.parameters(), lr=lr)
    trace = [memory_now()]

    def probe(i, stats):
        trace.append(memory_now())

    if load_all:
        everything = np.fromfile(path, dtype=RECORD,
                                 count=-1 if max_rows is None else int(max_rows))
        held = records_to_tensors(everything, buckets)          # the whole file as tensors
        chunks = (everything[s:s + chunk_rows] for s in range(0, len(everything), chunk_rows))
    else:
        chunks = read_chunks(path, chunk_rows, max_rows=max_rows)
    stats = train_on_chunks(model, chunks, buckets=buckets, batch_size=batch_size,
                            optimizer=opt, seed=seed, on_chunk=probe)
    out = {"rows": stats["rows"], "seconds": stats["seconds"],
           "samples_per_second": stats["rows"] / stats["seconds"],
           "chunk_loss": stats["chunk_loss"], "rss_trace": trace,
           "file_bytes": os.path.getsize(path)}
    if load_all:
        out["held_rows"] = len(held[1])
    if test_path is not None:
        y, p = predict_file(model, test_path, buckets)
        out["auc"], out["logloss"] = metrics.auc(y, p), metrics.logloss(y, p)
    return out


# ----------------------------------------------------------------------------------------
# Data-parallel training: torch.distributed + DistributedDataParallel on CPU (gloo)
# ----------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _use_loopback() -> None:
    """Keep gloo's connections on the loopback interface (one machine)."""
    if "GLOO_SOCKET_IFNAME" in os.environ:
        return
    try:
        names = {name for _, name in socket.if_nameindex()}
    except OSError:
        return
    for name in ("lo", "lo0"):
        if name in names:
            os.environ["GLOO_SOCKET_IFNAME"] = name
            return


def _ddp_worker(rank: int, world_size: int, cfg: dict, path: str, test_path: str | None,
                out_dir: str, port: int) -> None:
    """One process of :func:`ddp_train` (``torch.multiprocessing.spawn`` passes ``rank``).

    Joins the process group, then trains one model per seed in ``cfg["seeds"]``, so the
    start-up cost (a new interpreter, importing torch, the rendezvous) is paid once.
    """
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    threads_before = torch.get_num_threads()
    torch.set_num_threads(int(cfg["threads"]))
    _use_loopback()
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world_size)
    try:
        reports = []
        for seed in cfg["seeds"]:
            # The same seed everywhere gives the same initial weights; DDP also broadcasts
            # rank 0's weights when it wraps the model, so replicas start identical anyway.
            model = make_deepfm(cfg["buckets"], cfg["embed_dim"], cfg["mlp_dims"],
                                cfg["dropout"], seed=seed)
            ddp = DistributedDataParallel(model)
            opt = make_adam(ddp.parameters(), lr=cfg["lr"])
            local_batch = cfg["global_batch"] // world_size
            chunks = read_chunks(path, cfg["chunk_rows"], rank=rank, world_size=world_size,
                                 max_rows=cfg["max_rows"])
            dist.barrier()
            t0 = time.perf_counter()
            stats = train_on_chunks(ddp, chunks, buckets=cfg["buckets"], batch_size=local_batch,
                                    optimizer=opt, seed=seed, rank=rank)
            dist.barrier()
            seconds = time.perf_counter() - t0
            rows = torch.tensor([float(stats["rows"])])
            dist.all_reduce(rows)                       # rows seen by all processes together
            losses = torch.tensor(stats["chunk_loss"], dtype=torch.float64)
            dist.all_reduce(losses)
            losses /= world_size
            if cfg["save_states"]:
                torch.save(model.state_dict(), os.path.join(out_dir, f"seed{seed}_rank{rank}.pt"))
            if rank == 0:
                out = {"world_size": world_size, "threads": cfg["threads"], "seed": seed,
                       "rows": int(rows.item()), "seconds": seconds,
                       "samples_per_second": rows.item() / seconds,
                       "chunk_loss": losses.tolist(),
                       "grad_values_per_step": sum(p.numel() for p in model.parameters())}
                if test_path is not None:
                    y, p = predict_file(model, test_path, cfg["buckets"])
                    out["auc"], out["logloss"] = metrics.auc(y, p), metrics.logloss(y, p)
                reports.append(out)
            dist.barrier()                              # rank 0 evaluates; the others wait
        if rank == 0:
            with open(os.path.join(out_dir, "result.json"), "w") as fh:
                json.dump(reports, fh)
    finally:
        dist.destroy_process_group()
        torch.set_num_threads(threads_before)


def ddp_train(path, test_path=None, *, world_size: int = 2, threads: int = 1,
              seeds: Sequence[int] = (0,), buckets: int = 4096, embed_dim: int = 8,
              mlp_dims: Sequence[int] = (64, 32), dropout: float = 0.0,
              global_batch: int = 4096, chunk_rows: int = 50_000, lr: float = 2e-3,
              max_rows: int | None = None, save_states: bool = False,
              in_process: bool = False) -> list[dict]:
    """Train the hashed DeepFM for one pass with ``world_size`` data-parallel processes,
    once per seed.

    Every process holds a full replica of the model, reads its share of each chunk
    (:func:`read_chunks`) and trains on ``global_batch // world_size`` rows per step; DDP
    all-reduces (averages) the gradients during ``backward``, so all replicas apply the
    same update. Processes are started with ``torch.multiprocessing.spawn``, with the
    OpenMP library's own wait policy (``OMP_WAIT_POLICY`` removed from their environment:
    the Makefile's ``PASSIVE``, meant for one-thread chapters, would make every parallel
    operation wait for a sleeping thread);
    ``in_process=True`` (only with ``world_size=1``) runs the single worker in this
    process instead, the same code without the start-up cost.

    Returns one report per seed (from rank 0): rows (all processes), training seconds
    between two barriers (start-up and evaluation excluded), samples/s, the mean training
    loss of every chunk, the test AUC / logloss (``test_path``), and with ``save_states``
    the final ``state_dict`` of every process under ``"states"``.
    """
    if global_batch % world_size:
        raise ValueError(f"global_batch {global_batch} is not divisible by {world_size}")
    if in_process and world_size != 1:
        raise ValueError("in_process=True runs a single process: use world_size=1")
    cfg = {"buckets": int(buckets), "embed_dim": int(embed_dim), "mlp_dims": list(mlp_dims),
           "dropout": float(dropout), "global_batch": int(global_batch),
           "chunk_rows": int(chunk_rows), "lr": float(lr), "seeds": [int(s) for s in seeds],
           "threads": int(threads), "max_rows": max_rows, "save_states": bool(save_states)}
    args = (world_size, cfg, str(path), None if test_path is None else str(test_path))
    with tempfile.TemporaryDirectory(prefix="ddp_") as out_dir:
        if in_process:
            _ddp_worker(0, *args, out_dir, _free_port())
        else:
            import torch.multiprocessing as tmp

            from .utils import replaced_environ
            own_policy = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
            with replaced_environ(own_policy):
                tmp.spawn(_ddp_worker, args=(*args, out_dir, _free_port()),
                          nprocs=world_size, join=True)
        with open(os.path.join(out_dir, "result.json")) as fh:
            reports = json.load(fh)
        if save_states:
            for rep in reports:
                rep["states"] = [torch.load(os.path.join(out_dir, f"seed{rep['seed']}_rank{r}.pt"))
                                 for r in range(world_size)]
    return reports


def allreduce_megabytes_per_step(model: nn.Module) -> float:
    """What DDP sends through all-reduce every step: every gradient, embedding tables
    included (their gradients are dense), as float32 megabytes (1e6 bytes)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad) * 4 / 1e6


def touched_rows_share(rec: np.ndarray, buckets: int, batch_size: int) -> float:
    """Share of the hashed tables' rows that one mini-batch of ``batch_size`` records
    actually reads (mean over the batches of ``rec``): the part of the all-reduced
    embedding gradient that is not zero."""
    shares = []
    for s in range(0, len(rec) - batch_size + 1, batch_size):
        part = rec[s:s + batch_size]
        used = sum(len(np.unique(hash_bucket(part["ids"][:, f], name, buckets)))
                   for f, name in enumerate(SPARSE))
        shares.append(used / (len(SPARSE) * buckets))
    return float(np.mean(shares)) if shares else math.nan


# ----------------------------------------------------------------------------------------
# What a timing ran on, and what it says
# ----------------------------------------------------------------------------------------
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        import subprocess
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    import platform
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_description() -> dict:
    """The machine a timing ran on: ``cpu_model`` (``/proc/cpuinfo``, else ``lscpu``, else
    :func:`platform.processor`), ``logical_cpus`` (:func:`os.cpu_count`), ``usable_cpus``
    (this process's affinity mask: a container or ``taskset`` may allow fewer) and
    ``load_1min`` (the one-minute load average: how many runnable processes compete for
    them; NaN where the system does not report it)."""
    usable = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
              else os.cpu_count())
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = math.nan
    return {"cpu_model": _cpu_model(), "logical_cpus": os.cpu_count(), "usable_cpus": usable,
            "load_1min": float(load)}


def describe_cpu(info: dict | None = None) -> str:
    """:func:`cpu_description` as one line to print next to a timing."""
    d = cpu_description() if info is None else info
    return (f"{d['cpu_model']}: {d['logical_cpus']} logical CPUs, {d['usable_cpus']} usable "
            f"by this process, load average {d['load_1min']:.2f} over the last minute")


def speed_ratio(a, b, alpha: float = 0.05) -> tuple[float, float, float]:
    """Throughput of ``a`` over ``b``, paired run by run (``a[i] / b[i]``, e.g. seed ``i``
    of two setups): the geometric mean of the ratios and its Student t interval, computed
    on the log scale. With one pair the bounds are NaN."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(f"need two equally long lists of throughputs, got {a.shape} and {b.shape}")
    if (a <= 0).any() or (b <= 0).any():
        raise ValueError("throughputs must be positive")
    m, lo, hi = metrics.mean_ci(np.log(a) - np.log(b), alpha=alpha)
    return math.exp(m), math.exp(lo), math.exp(hi)


def speed_verdict(a: str, b: str, ratio: tuple[float, float, float], n_pairs: int,
                  alpha: float = 0.05) -> str:
    """One sentence on ``ratio = (geometric mean, low, high)`` of throughput ``a / b`` from
    :func:`speed_ratio`, right whichever way it falls: "faster" or "slower" only when the
    interval excludes 1, read off its side; otherwise not separated. One pair (NaN
    bounds): the ratio, and no verdict."""
    m, lo, hi = (float(v) for v in ratio)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return (f"{a} vs {b}: {m:.2f}x the throughput in a single run each; no interval, "
                f"no verdict.")
    how = f"{100 * (1 - alpha):.0f}% t interval over {n_pairs} paired runs [{lo:.2f}x, {hi:.2f}x]"
    if lo > 1:
        return f"{a} was faster than {b}: {m:.2f}x its throughput ({how})."
    if hi < 1:
        return f"{a} was slower than {b}: {m:.2f}x its throughput ({how})."
    return (f"{a} and {b} are not separated: {m:.2f}x the throughput ({how} contains 1).")
