"""Running a model over several seeds and saying only what the spread supports.

Chapter 02 introduces these helpers (the FM/DNN lineage table); later chapters reuse them.

    runs = run_seeds(lambda seed: DeepFM(task.features), task, seeds=[0, 1, 2], epochs=8)
    summary = metrics.summarize_runs(runs.assign(model="DeepFM"), "model", ["auc", "logloss"])
    compare_intervals(summary, "auc")          # which pairs of models the seeds separate

A seed changes the initial weights and the order of the training rows, nothing else: the
t interval over seeds measures *training* randomness on one fixed test set. It says
nothing about how the numbers would move on other test users (chapter 00 bootstraps
users for that, and gets wider intervals).
"""
from __future__ import annotations

import itertools
import time
from typing import Callable, Iterable

import numpy as np
import pandas as pd
from torch import nn

from . import metrics
from .train import fit, predict, set_seed


def count_params(model: nn.Module) -> int:
    """Number of trainable scalars of ``model`` (tables shared by two features count once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def run_seeds(make_model: Callable[[int], nn.Module], task, seeds: Iterable[int], *,
              models: dict | None = None, **fit_kw) -> pd.DataFrame:
    """Train one fresh model per seed on ``task`` and score it on the test split.

    ``make_model(seed)`` builds the model; it is called after ``set_seed(seed)``, so its
    initial weights depend on the seed. ``task`` is a :class:`recsys_course.tasks.CTRTask`
    (``.train``, ``.valid``, ``.test``, ``.users``). ``fit_kw`` go to
    :func:`recsys_course.train.fit` (``epochs``, ``batch_size``, ``lr``, ``patience``...);
    the seed also fixes the order of the training rows. Pass a dict as ``models`` to keep
    the trained models by seed (e.g. to start FNN from each seed's FM).

    Returns one row per seed: ``seed``, test ``auc``, ``logloss``, ``gauc`` (per user,
    impression-weighted), ``seconds`` (wall time of ``fit``), ``epochs`` run,
    ``best_epoch`` (1-based, the weights kept), ``n_params``.
    """
    y = task.test[1].numpy()
    users = task.users("test")
    fit_kw.setdefault("progress", False)
    rows = []
    for seed in seeds:
        set_seed(seed)
        model = make_model(seed)
        t0 = time.perf_counter()
        hist = fit(model, task.train, task.valid, seed=seed, **fit_kw)
        seconds = time.perf_counter() - t0
        p = predict(model, task.test[0])
        rows.append({"seed": seed, "auc": metrics.auc(y, p), "logloss": metrics.logloss(y, p),
                     "gauc": metrics.gauc(users, y, p), "seconds": seconds,
                     "epochs": len(hist.train_loss), "best_epoch": hist.best_epoch + 1,
                     "n_params": count_params(model)})
        if models is not None:
            models[seed] = model
    return pd.DataFrame(rows)


def compare_intervals(summary: pd.DataFrame, metric: str, higher_is_better: bool = True,
                      fixed: dict[str, float] | None = None) -> pd.DataFrame:
    """For every pair of configurations, do their t intervals of ``metric`` overlap?

    ``summary`` is the output of :func:`recsys_course.metrics.summarize_runs` (indexed by
    configuration, with ``{metric}_mean``, ``_ci_low``, ``_ci_high``, ``n_runs``).
    ``fixed`` adds deterministic baselines (e.g. ``{"popularity": 0.72}``) whose interval
    is the single value. Returns one row per pair: ``a``, ``b``, both intervals,
    ``overlap`` (bool, NaN without an interval) and a ``verdict`` sentence that never
    ranks two configurations whose intervals overlap.

    Non-overlapping 95% intervals are a conservative test (overlapping ones can still
    differ); with 2-3 seeds the t quantile (12.7 or 4.3) makes intervals wide, so "the
    seeds do not separate them" is the common, honest answer.
    """
    better = "higher" if higher_is_better else "lower"
    items = []
    for name, row in summary.iterrows():
        lo, hi = row[f"{metric}_ci_low"], row[f"{metric}_ci_high"]
        ok = row["n_runs"] > 1 and np.isfinite(lo) and np.isfinite(hi)
        items.append((str(name), row[f"{metric}_mean"], lo if ok else np.nan, hi if ok else np.nan))
    items += [(str(k), float(v), float(v), float(v)) for k, v in (fixed or {}).items()]
    out = []
    for (a, ma, la, ha), (b, mb, lb, hb) in itertools.combinations(items, 2):
        if not np.isfinite([la, ha, lb, hb]).all():
            overlap, verdict = np.nan, f"{a} vs {b}: a single run, no interval, no verdict"
        elif la <= hb and lb <= ha:
            overlap = True
            verdict = f"{a} vs {b}: the intervals overlap, these seeds do not separate them"
        else:
            overlap = False
            first_wins = (ma > mb) == higher_is_better
            win, lose = (a, b) if first_wins else (b, a)
            verdict = f"{win} beats {lose} ({better} {metric}; the intervals do not overlap)"
        out.append({"a": a, "b": b, "a_low": la, "a_high": ha, "b_low": lb, "b_high": hb,
                    "overlap": overlap, "verdict": verdict})
    return pd.DataFrame(out)


def time_call(fn: Callable, *args, repeat: int = 5, number: int = 1) -> float:
    """Seconds per call of ``fn(*args)``: the minimum over ``repeat`` timings of ``number``
    calls (the minimum is the least disturbed by other work on a shared machine)."""
    fn(*args)                                                    # warm-up
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn(*args)
        best = min(best, (time.perf_counter() - t0) / number)
    return float(best)


__all__ = ["count_params", "run_seeds", "compare_intervals", "time_call"]
