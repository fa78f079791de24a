"""Benchmark: the course's trainer and models against torch-rechub's, side by side.

Appendix (notebooks/06_benchmark.ipynb) shows a reduced run; the full one is

    python -m recsys_course.bench --out bench/results          # or: recsys-course bench
    python -m recsys_course.bench --preset quick --out /tmp/b  # the book's reduced run

For every case (a data set and a model) the same torch-rechub 0.9.0 model, with the same
initial weights, is trained two ways on identical tensors, batch size and row order:

* ``rechub``: torch-rechub's ``DataGenerator`` (its ``TorchDataset``, a ``DataLoader``
  collating one row at a time) and ``CTRTrainer.train_one_epoch``, as its examples do;
* ``ours``: the from-scratch model built with ``Model.from_rechub`` (same sizes, same
  weights) and :func:`recsys_course.train.fit` over pre-built tensors, with
  ``compile=True`` when a C++ compiler exists (``--no-compile``: eager), and the
  optimizer of ``make_adam`` (:class:`recsys_course.train.FlatAdam`).
  :func:`ingredients` measures what each of these buys.

The two runs of a case take turns, phase by phase (set-up, matmul calibration, warm-up,
each epoch, test), the first to go alternating: a change in the machine's load (other
processes share the cores) then hits both pipelines alike instead of the one that
happened to run at that moment. Epoch ``e`` visits the rows in the order
``fit(..., seed=seed + e)`` gives, in both pipelines.

Each (case, trainer) runs in a fresh Python process, so its peak resident memory is its
own: the kernel's peak-RSS mark is reset once the data and the model are loaded, and read
after the timed epochs (``peak_rss_mb``: interpreter, data and model, plus what training
adds) and again after the test predictions (``eval_peak_rss_mb``; the two pipelines
predict in batches of different sizes).

Also per run: samples per second of training (median over the timed epochs, after a
short warm-up pass that is reported but not counted; validation is not timed), the test
AUC after the same number of epochs, and the fraction of an arithmetic bound reached:
the matrix-product FLOPs of one training step, counted from the model's layer sizes,
against the speed this machine multiplies matrices of exactly those shapes, measured by
each run in its own process before training (both runs of a case then use the faster of
the two measurements: the same machine, less disturbed).

Targets (the issue that asked for this module): ours at least 3x torch-rechub's training
throughput, test AUC within 0.005 of torch-rechub's.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import functools
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

TARGET_RATIO = 3.0
TARGET_AUC_DIFF = 0.005
TRAINERS = ("rechub", "ours")


# ----------------------------------------------------------------------------------------
# What to run
# ----------------------------------------------------------------------------------------
@dataclass
class Case:
    """One benchmark case: a data set, a model and how long to train."""

    name: str
    data: str                   # "movielens" or "criteo_like"
    model: str                  # "deepfm" or "din"
    rows: int | None = None     # criteo_like: training rows; movielens: max ratings (None: all)
    test_rows: int = 100_000    # criteo_like only
    epochs: int = 3             # timed epochs
    warmup_batches: int = 30    # a short untimed pass first (reported)
    batch_size: int = 1024
    embed_dim: int = 16
    mlp_dims: tuple = (256, 128)
    attention_dims: tuple = (36,)
    dropout: float = 0.0
    lr: float = 1e-3
    weight_decay: float = 0.0


PRESETS = {
    # The benchmark the issue asks for (about 5-8 minutes on 2 free cores).
    "full": [Case("movielens-deepfm", "movielens", "deepfm", epochs=3),
             Case("movielens-din", "movielens", "din", epochs=2, mlp_dims=(200, 80)),
             Case("criteo_like-1m-deepfm", "criteo_like", "deepfm", rows=1_000_000, epochs=2)],
    # The book's appendix (about 2 minutes on 2 free cores).
    "quick": [Case("movielens-deepfm", "movielens", "deepfm", epochs=2),
              Case("movielens-30k-din", "movielens", "din", rows=30_000, epochs=2,
                   mlp_dims=(200, 80)),
              Case("criteo_like-200k-deepfm", "criteo_like", "deepfm", rows=200_000,
                   test_rows=50_000, epochs=2)],
    # The tests and the notebook's smoke mode (seconds; the numbers mean nothing).
    "smoke": [Case("movielens-deepfm", "movielens", "deepfm", rows=10_000, epochs=1,
                   warmup_batches=2, batch_size=512),
              Case("movielens-din", "movielens", "din", rows=10_000, epochs=1,
                   warmup_batches=2, batch_size=512, mlp_dims=(200, 80)),
              Case("criteo_like-10k-deepfm", "criteo_like", "deepfm", rows=10_000,
                   test_rows=2_000, epochs=1, warmup_batches=2, batch_size=512)],
}


# ----------------------------------------------------------------------------------------
# Data and models (built once per case, in the parent process)
# ----------------------------------------------------------------------------------------
HISTORY = ["hist_item_id", "hist_genre"]
TARGETS = ["item_id", "genre"]


def build_case(case: Case, seed: int = 0, data_dir=None, task=None) -> dict:
    """Tensors and the initial torch-rechub model of one case.

    Returns {"train": (x, y), "test": (x, y), "rechub_model": model, "info": {...}}.
    ``task`` may pass a ready MovieLens task built with ``history=True`` (saves time).
    """
    from torch_rechub.basic import features as rf
    from torch_rechub.models import ranking

    from .reference import to_rechub_features
    from .train import set_seed

    if case.data == "movielens":
        if task is None:
            from .tasks import movielens_ctr
            task = movielens_ctr(history=True, embed_dim=case.embed_dim, data_dir=data_dir,
                                 max_rows=case.rows)
        keep = ([f.name for f in task.features] if case.model == "din"
                else [f.name for f in task.features if f.name not in HISTORY])
        train = ({k: task.train[0][k] for k in keep}, task.train[1])
        test = ({k: task.test[0][k] for k in keep}, task.test[1])
        features = [f for f in task.features if f.name in keep]
    elif case.data == "criteo_like":
        from .synthetic import criteo_like_spec, criteo_like_tensors, criteo_like
        spec = criteo_like_spec(seed)
        df = criteo_like(case.rows + case.test_rows, seed=seed)
        x, y, features = criteo_like_tensors(df, spec, embed_dim=case.embed_dim)
        del df
        n = case.rows
        train = ({k: v[:n] for k, v in x.items()}, y[:n])
        test = ({k: v[n:].clone() for k, v in x.items()}, y[n:].clone())
        train = ({k: v.clone() for k, v in train[0].items()}, train[1].clone())
        del x, y
    else:
        raise ValueError(f"unknown data {case.data!r}")

    # BatchNorm cannot train on a batch of one row: drop such a tail row.
    n_train = len(train[1])
    if n_train % case.batch_size == 1:
        train = ({k: v[:-1] for k, v in train[0].items()}, train[1][:-1])

    theirs_feats = {f.name: f for f in to_rechub_features(features)}
    mlp = {"dims": list(case.mlp_dims), "dropout": case.dropout, "activation": "relu"}
    set_seed(seed)
    if case.model == "deepfm":
        deep = list(theirs_feats.values())
        fm = [f for f in deep if isinstance(f, rf.SparseFeature)]
        model = ranking.DeepFM(deep_features=deep, fm_features=fm, mlp_params=mlp)
    elif case.model == "din":
        # torch-rechub's DIN reads each history unpooled: pooling="concat".
        hist = [rf.SequenceFeature(n, theirs_feats[n].vocab_size, theirs_feats[n].embed_dim,
                                   pooling="concat", shared_with=theirs_feats[n].shared_with)
                for n in HISTORY]
        other = [f for n, f in theirs_feats.items() if n not in HISTORY + TARGETS]
        mlp = {"dims": list(case.mlp_dims), "dropout": case.dropout}   # Dice, hard-wired
        model = ranking.DIN(other, hist, [theirs_feats[n] for n in TARGETS], mlp_params=mlp,
                            attention_mlp_params={"dims": list(case.attention_dims),
                                                  "activation": "dice", "use_softmax": False})
    else:
        raise ValueError(f"unknown model {case.model!r}")
    n_dense = sum(v.dim() == 1 and v.is_floating_point() for v in train[0].values())
    n_seq = sum(v.dim() == 2 for v in train[0].values())
    info = {"train_rows": len(train[1]), "test_rows": len(test[1]),
            "sparse_fields": len(train[0]) - n_dense - n_seq, "dense_fields": n_dense,
            "sequence_fields": n_seq,
            "parameters": sum(p.numel() for p in model.parameters())}
    return {"train": train, "test": test, "rechub_model": model, "info": info}


def ours_from_rechub(model: nn.Module) -> nn.Module:
    """The from-scratch counterpart of a torch-rechub DeepFM or DIN (weights copied),
    with the fast formulations of its layers (``perf.fast_layers.speed_up``)."""
    from .perf.fast_layers import speed_up
    from .reference import from_rechub
    return speed_up(from_rechub(model))


# ----------------------------------------------------------------------------------------
# FLOPs and the arithmetic bound
# ----------------------------------------------------------------------------------------
def linear_shapes(model: nn.Module, x: dict) -> list[tuple[int, int, int]]:
    """(rows, in, out) of every ``nn.Linear`` call in one forward pass over batch ``x``."""
    shapes, hooks = [], []

    def hook(mod, inputs, _out):
        rows = inputs[0].numel() // mod.in_features
        shapes.append((rows, mod.in_features, mod.out_features))

    for m in model.modules():
        if isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return shapes


def train_step_flops(shapes) -> int:
    """Matrix-product FLOPs of one training step from the layer sizes: forward
    2 r i o, and backward twice that (gradient of the input and of the weight)."""
    return sum(6 * r * i * o for r, i, o in shapes)


def counted_train_step_flops(model: nn.Module, x: dict) -> int:
    """The same quantity counted by ``torch.utils.flop_counter`` on a real step (a check)."""
    from torch.utils.flop_counter import FlopCounterMode
    model.train()
    with FlopCounterMode(display=False) as counter:
        out = model(x)
        out.float().sum().backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def matmul_gflops(shapes, min_seconds: float = 0.4) -> float:
    """GFLOP/s of this machine on the three products of each (rows, in, out) shape
    (forward, input gradient, weight gradient), timed as ``torch.mm`` calls."""
    gen = torch.Generator().manual_seed(0)
    mats = []
    for r, i, o in shapes:
        a, w, g = (torch.randn(r, i, generator=gen), torch.randn(i, o, generator=gen),
                   torch.randn(r, o, generator=gen))
        mats += [(a, w), (g, w.t()), (a.t(), g)]
    flops = sum(2 * a.shape[0] * a.shape[1] * b.shape[1] for a, b in mats)
    for a, b in mats:                                            # warm-up
        torch.mm(a, b)
    reps, t0 = 0, time.perf_counter()
    while True:
        for a, b in mats:
            torch.mm(a, b)
        reps += 1
        dt = time.perf_counter() - t0
        if dt >= min_seconds:
            return flops * reps / dt / 1e9


# ----------------------------------------------------------------------------------------
# Memory
# ----------------------------------------------------------------------------------------


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux: clear_refs 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def rss_mb() -> float:
    """Resident set size in MB now (the scaling chapter's :func:`scale.memory_now`)."""
    from .scale import memory_now
    return memory_now() / 2**20


def peak_rss_mb() -> float:
    """Peak resident set size in MB since the last reset (or since the start)."""
    from .scale import memory_peak
    return memory_peak() / 2**20


# ----------------------------------------------------------------------------------------
# The two trainers
# ----------------------------------------------------------------------------------------
class FitOrder(torch.utils.data.Sampler):
    """The row order of :func:`recsys_course.train.fit`: one generator seeded with
    ``seed``, a fresh ``randperm`` each epoch. A ``DataLoader`` with this sampler visits
    the rows in the same order as ``fit`` (a ``RandomSampler`` costs the same)."""

    def __init__(self, n: int, seed: int):
        self.n = n
        self.gen = torch.Generator().manual_seed(seed)

    def __iter__(self):
        return iter(torch.randperm(self.n, generator=self.gen).tolist())

    def __len__(self) -> int:
        return self.n


def _head(data, rows: int):
    x, y = data
    return {k: v[:rows] for k, v in x.items()}, y[:rows]


def rechub_phases(model, train, test, case: Case, seed: int, workdir: str, out: dict):
    """torch-rechub's pipeline, one phase per ``next()``: a warm-up pass, then each timed
    epoch of ``CTRTrainer.train_one_epoch``, then the test AUC from ``CTRTrainer.evaluate``.
    Epoch ``e`` visits the rows in the order of ``fit(..., seed=seed + e)``. tqdm bars go
    to a discarded stream. Results are written into ``out``."""
    from torch.utils.data import DataLoader
    from torch_rechub.trainers import CTRTrainer
    from torch_rechub.utils.data import DataGenerator

    def numpy(data):
        return {k: v.numpy() for k, v in data[0].items()}, data[1].numpy()

    quiet = contextlib.redirect_stderr(io.StringIO())
    xtr, ytr = numpy(train)
    xte, yte = numpy(test)
    gen = DataGenerator(xtr, ytr)
    _, _, test_loader = gen.generate_dataloader(xte, yte, xte, yte, batch_size=case.batch_size)
    trainer = CTRTrainer(model, optimizer_params={"lr": case.lr, "weight_decay": case.weight_decay},
                         n_epoch=case.epochs, model_path=workdir)
    warm = min(case.warmup_batches * case.batch_size, len(ytr))
    if warm:
        warm_gen = DataGenerator(*numpy(_head(train, warm)))
        loader = DataLoader(warm_gen.dataset, batch_size=case.batch_size,
                            sampler=FitOrder(warm, seed - 1))
        with quiet:
            t0 = time.perf_counter()
            trainer.train_one_epoch(loader)
            out["warmup_seconds"] = time.perf_counter() - t0
    yield "warm-up"
    out["epoch_seconds"] = []
    for e in range(case.epochs):
        loader = DataLoader(gen.dataset, batch_size=case.batch_size,
                            sampler=FitOrder(len(ytr), seed + e))
        with quiet:
            t0 = time.perf_counter()
            trainer.train_one_epoch(loader)
            out["epoch_seconds"].append(time.perf_counter() - t0)
        yield f"epoch {e + 1}"
    out["train_peak_rss_mb"] = peak_rss_mb()
    with quiet:
        out["auc"] = float(trainer.evaluate(trainer.model, test_loader))
    yield "test"


def ours_phases(model, train, test, case: Case, seed: int, out: dict, compile: bool = False):
    """The course's pipeline, phase by phase like :func:`rechub_phases`: each epoch is a
    call of :func:`recsys_course.train.fit` (one epoch, ``seed + e``) with one optimizer
    kept across calls, as torch-rechub's trainer keeps its own."""
    from . import metrics
    from .train import fit, make_adam, predict

    opt = make_adam(model.parameters(), lr=case.lr, weight_decay=case.weight_decay)
    kw = dict(batch_size=case.batch_size, progress=False, optimizer=opt, compile=compile)
    warm = min(case.warmup_batches * case.batch_size, len(train[1]))
    if warm:
        out["warmup_seconds"] = fit(model, _head(train, warm), epochs=1, seed=seed - 1,
                                    **kw).seconds[0]
    yield "warm-up"
    out["epoch_seconds"] = []
    for e in range(case.epochs):
        out["epoch_seconds"].append(fit(model, train, epochs=1, seed=seed + e, **kw).seconds[0])
        yield f"epoch {e + 1}"
    out["train_peak_rss_mb"] = peak_rss_mb()
    out["auc"] = float(metrics.auc(test[1].numpy(), predict(model, test[0])))
    yield "test"


def run_rechub(model, train, test, case: Case, seed: int, workdir: str) -> dict:
    """All phases of :func:`rechub_phases` in a row."""
    out = {}
    for _ in rechub_phases(model, train, test, case, seed, workdir, out):
        pass
    return out


def run_ours(model, train, test, case: Case, seed: int, compile: bool = False) -> dict:
    """All phases of :func:`ours_phases` in a row."""
    out = {}
    for _ in ours_phases(model, train, test, case, seed, out, compile=compile):
        pass
    return out


def run_phases(job: dict, trainer: str, out: dict):
    """One (case, trainer) run as a generator, one phase per ``next()``: set-up, the
    matmul calibration, the warm-up, each timed epoch, the test. The driver alternates
    the two pipelines phase by phase, so a change in the machine's load hits both.
    The measurements end up in ``out``."""
    case, seed, threads = Case(**job["case"]), job["seed"], job["threads"]
    torch.set_num_threads(threads)
    train, test = job["train"], job["test"]
    theirs = job["rechub_model"]
    model = theirs if trainer == "rechub" else ours_from_rechub(theirs)
    batch = _head(train, case.batch_size)[0]
    # FLOPs of the reference network (both pipelines train the same function).
    shapes = linear_shapes(theirs.eval(), batch)
    flops = train_step_flops(shapes) / case.batch_size
    theirs.train()
    yield "set-up"
    gflops = matmul_gflops(shapes)
    yield "calibration"
    base = rss_mb()
    isolated_peak = reset_peak_rss()
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as workdir:
        if trainer == "rechub":
            phases = rechub_phases(model, train, test, case, seed, workdir, out)
        elif trainer == "ours":
            phases = ours_phases(model, train, test, case, seed, out,
                                 compile=job.get("compile", False))
        else:
            raise ValueError(f"unknown trainer {trainer!r}")
        yield from phases
    n = len(train[1])
    rates = [n / s for s in out["epoch_seconds"]]
    sps = statistics.median(rates)
    bound = gflops * 1e9 / flops
    out.update(case=case.name, trainer=trainer, samples_per_second=sps,
               epoch_samples_per_second=rates, flops_per_sample=flops, matmul_gflops=gflops,
               bound_samples_per_second=bound, fraction_of_bound=sps / bound,
               base_rss_mb=base, peak_rss_mb=out.pop("train_peak_rss_mb"),
               eval_peak_rss_mb=peak_rss_mb(),
               peak_since="start of training" if isolated_peak else "process start",
               threads=threads, compiled=trainer == "ours" and bool(job.get("compile")),
               omp_wait_policy=os.environ.get("OMP_WAIT_POLICY", "default").lower())


def run_one(job: dict, trainer: str) -> dict:
    """One (case, trainer) run, all phases in a row; returns the measurements."""
    out = {}
    for _ in run_phases(job, trainer, out):
        pass
    return out


def run_pair_in_process(job: dict) -> dict:
    """Both pipelines in this process, alternating phase by phase (memory not isolated)."""
    import copy
    outs = {t: {} for t in TRAINERS}
    gens = {t: run_phases(dict(job, rechub_model=copy.deepcopy(job["rechub_model"])), t, outs[t])
            for t in TRAINERS}
    _alternate({t: (lambda g=g: next(g, None) is not None) for t, g in gens.items()})
    return outs


def _alternate(steps: dict) -> None:
    """Call ``steps[t]()`` for each pipeline in turn until all return False; who goes
    first alternates from round to round."""
    active, k = list(steps), 0
    while active:
        for t in (active if k % 2 == 0 else active[::-1]):
            if not steps[t]():
                active.remove(t)
        k += 1


# ----------------------------------------------------------------------------------------
# Profiles (where the time goes)
# ----------------------------------------------------------------------------------------
def profile_run(job: dict, trainer: str, steps: int = 10, top: int = 12) -> str:
    """cProfile (Python functions) and torch.profiler (tensor operations) of ``steps``
    training steps of one trainer; returns the two top-``top`` tables as text."""
    import cProfile
    import pstats

    from torch.profiler import profile

    case, seed = Case(**job["case"]), job["seed"]
    torch.set_num_threads(job["threads"])
    theirs = job["rechub_model"]
    model = theirs if trainer == "rechub" else ours_from_rechub(theirs)
    part = _head(job["train"], steps * case.batch_size)
    small = Case(**{**asdict(case), "epochs": 1, "warmup_batches": 0})
    test = _head(job["test"], case.batch_size)

    def runner(rows=part):
        if trainer == "rechub":
            return run_rechub(model, rows, test, small, seed, tmp)
        return run_ours(model, rows, test, small, seed, compile=job.get("compile", False))

    with tempfile.TemporaryDirectory() as tmp:
        runner(_head(part, 2 * case.batch_size))                # warm-up: two steps
        prof = cProfile.Profile()
        prof.enable()
        runner()
        prof.disable()
        with _quiet_stderr_fd(), profile() as tprof:    # kineto logs to fd 2
            runner()
    text = io.StringIO()
    stats = pstats.Stats(prof, stream=text)
    text.write(f"--- {case.name} / {trainer}: cProfile of {steps} steps (+ one test "
               f"batch), top {top} by own time ---\n")
    stats.sort_stats("tottime").print_stats(top)
    text.write(f"--- {case.name} / {trainer}: torch.profiler, top {top} operations by self CPU ---\n")
    text.write(tprof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top))
    return _trim_profile(text.getvalue())


@contextlib.contextmanager
def _quiet_stderr_fd():
    """Send file descriptor 2 to /dev/null for a while (C++ log lines)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    sys.stderr.flush()
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _trim_profile(text: str) -> str:
    keep = []
    for line in text.splitlines():
        if line.strip().startswith(("Ordered by", "List reduced")) or not line.strip():
            continue
        keep.append(line[:150])
    return "\n".join(keep) + "\n"


# ----------------------------------------------------------------------------------------
# What each ingredient of the course's trainer buys
# ----------------------------------------------------------------------------------------
# Added one at a time, in this order; each row keeps the ingredients of the rows above.
INGREDIENTS = [
    ("pre-built tensors, Adam per tensor", dict(compile=False, flat=False, deterministic=False)),
    ("+ Adam over one flat vector (FlatAdam)", dict(compile=False, flat=True, deterministic=False)),
    ("+ torch.compile (model and loss)", dict(compile=True, flat=True, deterministic=False)),
    ("+ deterministic kernels (fit's default when compiling)",
     dict(compile=True, flat=True, deterministic=True)),
]


def ingredients(case: Case, *, batches: int = 40, epochs: int = 3, seed: int = 0,
                threads: int = 2, compile: bool | None = None, data_dir=None,
                isolate: bool = True) -> list[dict]:
    """Throughput of the course's trainer as its ingredients (:data:`INGREDIENTS`) are
    added one at a time, on ``batches`` batches of ``case`` (median of ``epochs``
    epochs after an untimed one that also compiles). Same model, same initial weights,
    same rows for every row of the table. ``compile=False`` (or no C++ compiler) keeps
    the rows that do not compile. ``isolate=True`` measures in a fresh process with the
    benchmark's environment (:func:`_worker_env`: the OpenMP library's own wait policy
    and the allocator settings of :data:`MALLOC_ENV`)."""
    if compile is None:
        compile = can_compile()
    kw = dict(case=asdict(case), batches=batches, epochs=epochs, seed=seed, threads=threads,
              compile=compile, data_dir=None if data_dir is None else str(data_dir))
    if not isolate:
        return _ingredients_worker(**kw)["rows"]
    from .scale import run_in_fresh_process
    from .utils import replaced_environ
    with replaced_environ(_worker_env(threads)):
        return run_in_fresh_process(_ingredients_worker, **kw)["rows"]


def _ingredients_worker(case: dict, batches: int, epochs: int, seed: int, threads: int,
                        compile: bool, data_dir) -> dict:
    from .train import fit, make_adam
    torch.set_num_threads(threads)
    case = Case(**case)
    built = build_case(case, seed=seed, data_dir=data_dir)
    rows = min(batches * case.batch_size, len(built["train"][1]))
    part = _head(built["train"], rows)
    out = []
    for name, opts in INGREDIENTS:
        if opts["compile"] and not compile:
            continue
        model = ours_from_rechub(built["rechub_model"])      # the same initial weights
        opt = make_adam(model.parameters(), lr=case.lr, weight_decay=case.weight_decay,
                        flat=opts["flat"])
        kw = dict(batch_size=case.batch_size, optimizer=opt, progress=False,
                  compile=opts["compile"], deterministic=opts["deterministic"])
        fit(model, part, epochs=1, seed=seed - 1, **kw)            # warm-up (compiles)
        rates = [rows / fit(model, part, epochs=1, seed=seed + e, **kw).seconds[0]
                 for e in range(epochs)]
        out.append({"case": case.name, "trainer": name, "rows": rows,
                    "samples_per_second": statistics.median(rates),
                    "epoch_samples_per_second": rates, **opts})
    base = out[0]["samples_per_second"]
    for r in out:
        r["speed_up"] = r["samples_per_second"] / base
    return {"rows": out}


# ----------------------------------------------------------------------------------------
# Orchestration
# ----------------------------------------------------------------------------------------
@dataclass
class Result:
    rows: list = field(default_factory=list)        # one dict per (case, trainer)
    summary: list = field(default_factory=list)     # one dict per case
    profiles: dict = field(default_factory=dict)    # case -> text
    meta: dict = field(default_factory=dict)

    def frame(self):
        import pandas as pd
        return pd.DataFrame(self.rows)

    def summary_frame(self):
        import pandas as pd
        return pd.DataFrame(self.summary)


OMP_WAIT_POLICIES = ("default", "passive", "active")

# glibc's malloc hands blocks of a few MB (DIN's (B L, H) activations are 7 MB) straight
# back to the kernel when they are freed, so the next step's block of the same size is
# fresh memory: every page of it faults on first touch. Measured here: 250,000 page faults
# a second, and epochs of the course's DIN up to 30% slower, depending on the allocator's
# state in that process. These two settings keep freed blocks in the process for reuse
# (as PyTorch's CPU tuning guides get with jemalloc or tcmalloc). Both trainers' processes
# get them; a value already in the environment is kept.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(32 * 2**20), "MALLOC_TRIM_THRESHOLD_": str(2**30)}


def _worker_env(threads: int, omp_wait_policy: str = "default") -> dict:
    """The environment of a worker process: ``threads`` OpenMP threads and the OpenMP
    wait policy, the same for both trainers whatever the caller's environment says.

    ``"default"`` leaves the policy to the OpenMP library (libgomp: a thread that runs
    out of work spins for a while, then sleeps). ``"passive"`` makes it sleep at once:
    every parallel operation then waits for the other thread to wake up, which halved
    the course's throughput with 2 threads here (small batches run hundreds of short
    parallel operations a step) but protects against a machine whose cores are busy
    with other processes, where spinning threads steal them. ``"active"`` spins for good.
    """
    if omp_wait_policy not in OMP_WAIT_POLICIES:
        raise ValueError(f"omp_wait_policy must be one of {OMP_WAIT_POLICIES}, "
                         f"got {omp_wait_policy!r}")
    from .utils import without_passive_openmp
    env = without_passive_openmp()
    if omp_wait_policy != "default":
        env["OMP_WAIT_POLICY"] = omp_wait_policy.upper()
    env.update({k: v for k, v in MALLOC_ENV.items() if k not in env})
    env.setdefault("TQDM_DISABLE", "1")
    env["OMP_NUM_THREADS"] = str(threads)
    return env


def _run_pair_isolated(job_path: Path, env: dict, timeout: float) -> dict:
    """Both pipelines, each in its own process, taking turns phase by phase: a worker
    runs its next phase when it reads a line from its stdin and answers on stdout."""
    procs, results, logs = {}, {}, {}
    deadline = time.monotonic() + timeout
    try:
        for t in TRAINERS:
            res_path = job_path.with_suffix(f".{t}.json")
            logs[t] = tempfile.TemporaryFile(mode="w+")
            procs[t] = subprocess.Popen(
                [sys.executable, "-m", "recsys_course.bench", "--worker", str(job_path),
                 "--trainer", t, "--result", str(res_path), "--turns"],
                env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=logs[t], text=True, bufsize=1)
            results[t] = res_path

        def step(t):
            proc = procs[t]
            proc.stdin.write("go\n")
            proc.stdin.flush()
            while True:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"benchmark worker ({t}) exceeded {timeout:.0f} s")
                line = proc.stdout.readline()
                if not line:
                    logs[t].seek(0)
                    raise RuntimeError(f"benchmark worker ({t}) failed:\n{logs[t].read()[-3000:]}")
                if line.startswith("@@done"):
                    return True
                if line.startswith("@@finished"):
                    return False

        _alternate({t: (lambda t=t: step(t)) for t in TRAINERS})
        for t, proc in procs.items():
            proc.stdin.close()
            if proc.wait(timeout=60) != 0:
                logs[t].seek(0)
                raise RuntimeError(f"benchmark worker ({t}) failed:\n{logs[t].read()[-3000:]}")
        return {t: json.loads(results[t].read_text()) for t in TRAINERS}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for fh in logs.values():
            fh.close()


def _run_isolated(job_path: Path, trainer: str, env: dict, timeout: float,
                  profile: bool = False) -> dict | str:
    res_path = job_path.with_suffix(f".{trainer}{'.profile' if profile else ''}.json")
    cmd = [sys.executable, "-m", "recsys_course.bench", "--worker", str(job_path),
           "--trainer", trainer, "--result", str(res_path)] + (["--profile-worker"] if profile else [])
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark worker ({trainer}) failed:\n{proc.stderr[-3000:]}")
    return json.loads(res_path.read_text())


def run(cases: list[Case] | str = "full", *, seed: int = 0, threads: int = 2,
        isolate: bool = True, profile: str = "auto", data_dir=None, verbose: bool = True,
        timeout: float = 1800, compile: bool | None = None,
        omp_wait_policy: str = "default") -> Result:
    """Run every case with both trainers; see the module docstring.

    ``isolate=False`` runs in this process (faster to start; the memory columns then
    include whatever this process held before). ``profile``: ``"auto"`` profiles the
    cases that miss a target, ``"always"`` or ``"never"``. ``compile``: train the course's
    model through ``torch.compile`` (``fit(..., compile=True)``); None (default) compiles
    when a C++ compiler is found. ``omp_wait_policy``: see :func:`_worker_env`.
    """
    if compile is None:
        compile = can_compile()
    if isinstance(cases, str):
        cases = PRESETS[cases]
    say = print if verbose else (lambda *a, **k: None)
    res = Result(meta=_machine(threads))
    res.meta["compile"] = compile
    # the workers' environment (in-process runs: this process's own)
    env = _worker_env(threads, omp_wait_policy) if isolate else dict(os.environ)
    res.meta["omp_wait_policy"] = env.get("OMP_WAIT_POLICY", "default").lower()
    res.meta["malloc_env"] = {k: env.get(k) for k in MALLOC_ENV}
    say(f"benchmark: {len(cases)} case(s), {threads} thread(s), course model "
        f"{'compiled' if compile else 'eager (not compiled)'}, OpenMP wait policy "
        f"{res.meta['omp_wait_policy']}, "
        f"load average {res.meta['load_before']} on {res.meta['cpus']} CPU(s)")
    task_cache = {}
    with tempfile.TemporaryDirectory(prefix="recsys-bench-") as tmp:
        for case in cases:
            t0 = time.perf_counter()
            task = None
            if case.data == "movielens":
                key = (case.rows, case.embed_dim)
                if key not in task_cache:
                    from .tasks import movielens_ctr
                    task_cache[key] = movielens_ctr(history=True, embed_dim=case.embed_dim,
                                                    data_dir=data_dir, max_rows=case.rows)
                task = task_cache[key]
            built = build_case(case, seed=seed, data_dir=data_dir, task=task)
            job = {"case": asdict(case), "seed": seed, "threads": threads, "compile": compile,
                   **built}
            say(f"[{case.name}] {built['info']['train_rows']:,} training rows, "
                f"{built['info']['test_rows']:,} test rows, {built['info']['parameters']:,} "
                f"parameters; data ready in {time.perf_counter() - t0:.0f} s")
            job_path = Path(tmp) / f"{case.name}.pt"
            if isolate:
                torch.save(job, job_path)
            t1 = time.perf_counter()
            outs = (_run_pair_isolated(job_path, env, timeout) if isolate
                    else run_pair_in_process(job))
            share_calibration(outs)
            for trainer in TRAINERS:
                out = outs[trainer]
                out.update(built["info"], data=case.data, model=case.model,
                           batch_size=case.batch_size, epochs=case.epochs, isolated=isolate,
                           wall_seconds=time.perf_counter() - t1)
                res.rows.append(out)
                say(f"[{case.name}] {trainer:>6}: {out['samples_per_second']:>9,.0f} samples/s "
                    f"(epochs: {', '.join(f'{r:,.0f}' for r in out['epoch_samples_per_second'])}), "
                    f"AUC {out['auc']:.4f}, peak RSS {out['peak_rss_mb']:,.0f} MB, "
                    f"{out['fraction_of_bound']:.1%} of the matmul bound")
            summary = summarize_case(res.rows[-2], res.rows[-1])
            res.summary.append(summary)
            say(f"[{case.name}] ratio ours/rechub = {summary['ratio']:.2f}x "
                f"(target >= {TARGET_RATIO:g}x: {summary['ratio_verdict']}); "
                f"AUC ours - rechub = {summary['auc_diff']:+.4f} "
                f"(target |d| <= {TARGET_AUC_DIFF}: {summary['auc_verdict']})")
            if profile == "always" or (profile == "auto" and not summary["met"]):
                texts = []
                for trainer in TRAINERS:
                    if isolate:
                        texts.append(_run_isolated(job_path, trainer, env, timeout,
                                                   profile=True)["profile"])
                    else:
                        local = dict(job, rechub_model=_clone(job["rechub_model"]))
                        texts.append(profile_run(local, trainer))
                res.profiles[case.name] = "\n".join(texts)
            if job_path.exists():
                job_path.unlink()
    res.meta["load_after"] = _loadavg()
    return res


@functools.lru_cache(maxsize=None)
def can_compile() -> bool:
    """Whether ``torch.compile`` can build CPU kernels here: a C++ compiler, and a tiny
    function that compiles and runs (a compiler without OpenMP, say, fails there)."""
    import shutil
    if not any(shutil.which(c) for c in ("g++", "c++", "clang++")):
        return False
    try:
        out = torch.compile(lambda t: t * 2 + 1, dynamic=False)(torch.ones(8))
        return bool((out == 3).all())
    except Exception:  # noqa: BLE001 - any failure means: train eagerly
        return False


def _clone(model):
    import copy
    return copy.deepcopy(model)


def share_calibration(outs: dict) -> None:
    """Give both runs of a case the faster of their two matmul calibrations (the less
    disturbed measurement of the same machine, hence the tighter bound) and recompute
    their bounds; each run's own measurement stays in ``matmul_gflops_own``."""
    best = max(o["matmul_gflops"] for o in outs.values())
    for o in outs.values():
        o.setdefault("matmul_gflops_own", o["matmul_gflops"])
        o["matmul_gflops"] = best
        o["bound_samples_per_second"] = best * 1e9 / o["flops_per_sample"]
        o["fraction_of_bound"] = o["samples_per_second"] / o["bound_samples_per_second"]


def summarize_case(rechub: dict, ours: dict) -> dict:
    """Ratio, AUC difference and verdicts for one case."""
    ratio = ours["samples_per_second"] / rechub["samples_per_second"]
    diff = ours["auc"] - rechub["auc"]
    ratio_ok, auc_ok = ratio >= TARGET_RATIO, abs(diff) <= TARGET_AUC_DIFF
    return {"case": ours["case"], "train_rows": ours["train_rows"],
            "rechub_samples_per_second": rechub["samples_per_second"],
            "ours_samples_per_second": ours["samples_per_second"], "ratio": ratio,
            "rechub_auc": rechub["auc"], "ours_auc": ours["auc"], "auc_diff": diff,
            "rechub_fraction_of_bound": rechub["fraction_of_bound"],
            "ours_fraction_of_bound": ours["fraction_of_bound"],
            "rechub_peak_rss_mb": rechub["peak_rss_mb"], "ours_peak_rss_mb": ours["peak_rss_mb"],
            "ratio_verdict": "met" if ratio_ok else
            f"MISSED by {TARGET_RATIO - ratio:.2f}x ({ratio / TARGET_RATIO:.0%} of target)",
            "auc_verdict": "met" if auc_ok else f"MISSED by {abs(diff) - TARGET_AUC_DIFF:.4f}",
            "met": ratio_ok and auc_ok}


def _loadavg() -> str:
    try:
        return " ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def _machine(threads: int) -> dict:
    import torch_rechub  # noqa: F401
    from importlib.metadata import version
    return {"cpus": os.cpu_count(), "threads": threads, "load_before": _loadavg(),
            "python": platform.python_version(), "torch": torch.__version__,
            "torch_rechub": version("torch-rechub"), "platform": platform.platform()}


# ----------------------------------------------------------------------------------------
# Reporting
# ----------------------------------------------------------------------------------------
ROW_COLUMNS = ["case", "trainer", "data", "model", "train_rows", "test_rows", "sparse_fields",
               "dense_fields", "sequence_fields", "parameters", "batch_size", "epochs",
               "threads", "samples_per_second", "epoch_samples_per_second", "warmup_seconds",
               "auc", "base_rss_mb", "peak_rss_mb", "eval_peak_rss_mb", "peak_since", "flops_per_sample",
               "matmul_gflops", "matmul_gflops_own", "bound_samples_per_second", "fraction_of_bound",
               "isolated",
               "compiled", "omp_wait_policy", "wall_seconds"]


def table(res: Result) -> str:
    """The results as a fixed-width text table (one line per case and trainer)."""
    head = (f"{'case':<24} {'trainer':<7} {'rows':>9} {'samples/s':>10} {'ratio':>6} "
            f"{'AUC':>7} {'peak MB':>8} {'MFLOP/smp':>9} {'mm GF/s':>8} {'bound/s':>9} "
            f"{'of bound':>8}")
    lines = [head, "-" * len(head)]
    ratios = {s["case"]: s["ratio"] for s in res.summary}
    for r in res.rows:
        ratio = f"{ratios[r['case']]:.2f}x" if r["trainer"] == "ours" else ""
        lines.append(f"{r['case']:<24} {r['trainer']:<7} {r['train_rows']:>9,} "
                     f"{r['samples_per_second']:>10,.0f} {ratio:>6} {r['auc']:>7.4f} "
                     f"{r['peak_rss_mb']:>8,.0f} {r['flops_per_sample'] / 1e6:>9.2f} "
                     f"{r['matmul_gflops']:>8.1f} {r['bound_samples_per_second']:>9,.0f} "
                     f"{r['fraction_of_bound']:>8.1%}")
    return "\n".join(lines)


def verdicts(res: Result) -> str:
    out = []
    for s in res.summary:
        out.append(f"{s['case']}: throughput {s['ratio']:.2f}x (target >= {TARGET_RATIO:g}x: "
                   f"{s['ratio_verdict']}); AUC {s['ours_auc']:.4f} vs {s['rechub_auc']:.4f}, "
                   f"difference {s['auc_diff']:+.4f} (target within {TARGET_AUC_DIFF}: "
                   f"{s['auc_verdict']})")
    return "\n".join(out)


def write_results(res: Result, out_dir) -> dict:
    """results.csv (per run), summary.csv (per case), bench.png, profiles.txt, meta.json."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"results": out / "results.csv", "summary": out / "summary.csv",
             "plot": out / "bench.png", "meta": out / "meta.json"}
    with open(paths["results"], "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=ROW_COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in res.rows:
            row = dict(r)
            row["epoch_samples_per_second"] = ";".join(f"{v:.0f}" for v in r["epoch_samples_per_second"])
            w.writerow(row)
    with open(paths["summary"], "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(res.summary[0]))
        w.writeheader()
        w.writerows(res.summary)
    paths["meta"].write_text(json.dumps(res.meta, indent=2))
    if res.profiles:
        paths["profiles"] = out / "profiles.txt"
        paths["profiles"].write_text("\n".join(res.profiles.values()))
    fig = plot(res)
    fig.savefig(paths["plot"], dpi=120, bbox_inches="tight")
    import matplotlib.pyplot as plt
    plt.close(fig)
    return paths


def plot(res: Result):
    """Bars of training throughput per case (log scale) with the arithmetic bound, and
    the fraction of the bound each trainer reaches."""
    import matplotlib.pyplot as plt

    cases = [s["case"] for s in res.summary]
    by = {(r["case"], r["trainer"]): r for r in res.rows}
    xs = np.arange(len(cases))
    width = 0.38
    colors = {"rechub": "#8c8c8c", "ours": "#4c72b0"}
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [3, 2]})
    ax = axes[0]
    for k, trainer in enumerate(TRAINERS):
        vals = [by[c, trainer]["samples_per_second"] for c in cases]
        bars = ax.bar(xs + (k - 0.5) * width, vals, width, color=colors[trainer],
                      label="torch-rechub CTRTrainer" if trainer == "rechub" else "course: train.fit")
        if trainer == "ours":
            for b, s in zip(bars, res.summary):
                ax.annotate(f"{s['ratio']:.1f}x", (b.get_x() + b.get_width() / 2, b.get_height()),
                            ha="center", va="bottom", fontsize=9)
    bound = [by[c, "ours"]["bound_samples_per_second"] for c in cases]
    ax.scatter(xs, bound, marker="_", s=900, color="#c44e52", label="matmul bound", zorder=3)
    ax.set_yscale("log")
    ax.set_xticks(xs, [c.replace("-", "\n", 1) for c in cases], fontsize=8)
    ax.set(ylabel="training samples / s (log)", title="Training throughput, same model and data")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3)
    ax = axes[1]
    for k, trainer in enumerate(TRAINERS):
        vals = [100 * by[c, trainer]["fraction_of_bound"] for c in cases]
        ax.bar(xs + (k - 0.5) * width, vals, width, color=colors[trainer])
    ax.set_xticks(xs, [c.replace("-", "\n", 1) for c in cases], fontsize=8)
    ax.set(ylabel="% of the matmul bound", title="Share of the arithmetic bound reached")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m recsys_course.bench",
        description="Time DeepFM and DIN training two ways (torch-rechub's DataGenerator + "
                    "CTRTrainer vs the course's models + train.fit) on identical data, "
                    "model sizes, initial weights, batch sizes and row order. Prints samples/s, "
                    "their ratio, test AUCs, peak memory and the fraction of the matmul bound; "
                    "writes results.csv, summary.csv and bench.png.")
    p.add_argument("--preset", choices=sorted(PRESETS), default="full",
                   help="full: MovieLens-100K DeepFM and DIN + 1M-row Criteo-shaped DeepFM "
                        "(default); quick: the book's reduced run; smoke: seconds")
    p.add_argument("--cases", default=None,
                   help="comma-separated case names of the preset to run (default: all)")
    p.add_argument("--out", default="bench/results", help="folder for the CSVs and the plot "
                   "(default: bench/results, git-ignored)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="train the course's model through torch.compile, fit(compile=True) "
                        "(default: when a C++ compiler is found; --no-compile: eager)")
    p.add_argument("--omp-wait-policy", choices=OMP_WAIT_POLICIES, default="default",
                   help="OpenMP wait policy of both trainers' processes (default: the "
                        "library's own; passive helps only on a machine busy with other work)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rows", type=int, default=None,
                   help="override the training rows of the Criteo-shaped case")
    p.add_argument("--epochs", type=int, default=None, help="override the timed epochs")
    p.add_argument("--profile", choices=["auto", "always", "never"], default="auto",
                   help="profile a case's trainers when it misses a target (auto)")
    p.add_argument("--in-process", action="store_true",
                   help="do not start a process per run (memory columns then not isolated)")
    p.add_argument("--data-dir", default=None, help="folder with ml-100k (default: "
                   "$RECSYS_COURSE_DATA or the repository's data/)")
    # internal: one run in a fresh process
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--trainer", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    p.add_argument("--profile-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--turns", action="store_true", help=argparse.SUPPRESS)
    return p


def select_cases(preset: str, names: str | None = None, rows: int | None = None,
                 epochs: int | None = None) -> list[Case]:
    from dataclasses import replace
    cases = list(PRESETS[preset])
    if names:
        wanted = [n.strip() for n in names.split(",") if n.strip()]
        unknown = set(wanted) - {c.name for c in cases}
        if unknown:
            raise SystemExit(f"unknown case(s) {sorted(unknown)}; the preset has "
                             f"{[c.name for c in cases]}")
        cases = [c for c in cases if c.name in wanted]
    if rows is not None:
        cases = [replace(c, rows=rows) if c.data == "criteo_like" else c for c in cases]
    if epochs is not None:
        cases = [replace(c, epochs=epochs) for c in cases]
    return cases


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.worker:
        job = torch.load(args.worker, weights_only=False)
        if args.profile_worker:
            out = {"profile": profile_run(job, args.trainer)}
        elif args.turns:                  # one phase per line read from stdin
            out = {}
            phases = run_phases(job, args.trainer, out)
            for _ in sys.stdin:
                if next(phases, None) is None:
                    Path(args.result).write_text(json.dumps(out))
                    print("@@finished", flush=True)
                    break
                print("@@done", flush=True)
            return 0
        else:
            out = run_one(job, args.trainer)
        Path(args.result).write_text(json.dumps(out))
        return 0
    t0 = time.perf_counter()
    cases = select_cases(args.preset, args.cases, args.rows, args.epochs)
    res = run(cases, seed=args.seed, threads=args.threads, isolate=not args.in_process,
              profile=args.profile, data_dir=args.data_dir, compile=args.compile,
              omp_wait_policy=args.omp_wait_policy)
    print()
    print(table(res))
    print()
    print(verdicts(res))
    for text in res.profiles.values():
        print()
        print(text)
    paths = write_results(res, args.out)
    print(f"\nload average before {res.meta['load_before']}, after {res.meta['load_after']} "
          f"({res.meta['cpus']} CPUs; other processes on the machine slow both trainers)")
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    print(f"benchmark finished in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
