"""Running a model over several seeds and saying only what the spread supports.

Chapter 02 introduces these helpers (the FM/DNN lineage table); later chapters reuse them.

    runs = run_seeds(lambda seed: DeepFM(task.features), task, seeds=[0, 1, 2], epochs=8)
    runs = pd.concat([run_seeds(...).assign(model="DeepFM"), run_seeds(...).assign(model="FM")])
    compare_paired(runs, "model", "auc")       # paired per-seed differences, with verdicts

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


def difference_verdict(a: str, b: str, diff: tuple[float, float, float], what: str,
                       higher_is_better: bool | None = True, how: str = "95% interval") -> str:
    """One sentence on ``diff = (mean, low, high)`` of ``a - b``, right whichever way it falls.

    It names a winner only when the interval excludes 0, and then the winner is read off
    the sign (``higher_is_better`` says which sign favours ``a``) and printed first, with
    ``winner - loser``; otherwise it says the runs do not separate the two. A NaN
    interval (one run) gives no verdict. ``higher_is_better=None`` is for a quantity
    that is neither good nor bad (a gate's spread, say): the sentence then says which is
    larger, never "beats".
    """
    m, lo, hi = (float(v) for v in diff)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{a} vs {b} on {what}: a single run, no interval, no verdict ({a} - {b} = {m:+.4f})."
    if lo > 0 or hi < 0:
        if (lo > 0) != (higher_is_better is not False):  # b wins: print winner - loser
            a, b, (m, lo, hi) = b, a, (-m, -hi, -lo)
        if higher_is_better is None:
            return (f"{a} is larger than {b} on {what}: "
                    f"{a} - {b} = {m:+.4f}, {how} [{lo:+.4f}, {hi:+.4f}].")
        better = "higher" if higher_is_better else "lower"
        return (f"{a} beats {b} on {what} ({better} is better): "
                f"{a} - {b} = {m:+.4f}, {how} [{lo:+.4f}, {hi:+.4f}].")
    return (f"{a} and {b} are not separated on {what} (the interval contains 0): "
            f"{a} - {b} = {m:+.4f}, {how} [{lo:+.4f}, {hi:+.4f}].")


def compare_paired(runs: pd.DataFrame, by: str, metric: str, higher_is_better: bool = True,
                   fixed: dict[str, float] | None = None, seed_col: str = "seed",
                   alpha: float = 0.05) -> pd.DataFrame:
    """The book's standard comparison: for every pair of configurations, the paired
    per-seed difference of ``metric`` with its t interval. Chapter 02.

    ``runs`` has one row per (configuration, seed), e.g. the concatenated outputs of
    :func:`run_seeds` with a ``by`` column naming the model. Two configurations are
    compared on the seeds they share: seed ``s`` of A minus seed ``s`` of B. Pairing
    removes what the two runs of one seed have in common (the test set, and with equal
    seeds the row order), so it separates models that overlapping per-model intervals
    would not (comparing two intervals for overlap is conservative; keep it as a
    picture). ``fixed`` adds deterministic baselines (e.g. ``{"popularity": 0.72}``):
    every seed of A is paired with the one value.

    Returns one row per pair: ``a``, ``b``, ``n_seeds``, ``diff_mean``, ``diff_low``,
    ``diff_high`` (of ``a - b``) and a ``verdict`` sentence from
    :func:`difference_verdict`.
    """
    missing = [c for c in (by, metric, seed_col) if c not in runs.columns]
    if missing:
        raise ValueError(f"columns not in the runs: {missing}")
    wide = runs.pivot_table(index=seed_col, columns=by, values=metric, aggfunc="first")
    for name, value in (fixed or {}).items():
        wide[name] = float(value)
    out = []
    for a, b in itertools.combinations([str(c) for c in wide.columns], 2):
        d = (wide[a] - wide[b]).dropna().to_numpy()
        if len(d) == 0:
            raise ValueError(f"{a} and {b} share no {seed_col}: nothing to pair")
        m, lo, hi = metrics.mean_ci(d, alpha=alpha)
        how = f"{100 * (1 - alpha):.0f}% t interval over {len(d)} paired seeds"
        out.append({"a": a, "b": b, "n_seeds": len(d), "diff_mean": m, "diff_low": lo,
                    "diff_high": hi,
                    "verdict": difference_verdict(a, b, (m, lo, hi), metric, higher_is_better, how)})
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


__all__ = ["count_params", "run_seeds", "difference_verdict", "compare_paired", "time_call"]
