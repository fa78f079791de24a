"""The few plots chapters share. matplotlib only; every function draws on ``ax`` (a new
figure when None) and returns the axes, so a notebook can place, title and show it.

Sections by chapter; each section's functions name their chapter.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def _axes(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _as_array(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


# --- DIN ---
def attention_heatmap(weights, history_labels: Sequence[str], row_labels: Sequence[str],
                      ax=None, title: str | None = None, annotate: bool = True,
                      centred: bool = False):
    """DIN's attention weights over one user's history, one row per candidate. Chapter 04.

    ``weights`` (R, L): row r holds the weights the attention unit gave the L history
    positions when scoring candidate r (padding positions can be left out beforehand).
    ``history_labels`` (L,) name the history items (most recent first), ``row_labels``
    (R,) the candidates. Without a softmax (the paper's default) DIN's weights can be
    negative and do not sum to one; by default the colours span the weights' own range
    (what differs between positions shows), with ``centred=True`` a diverging scale
    symmetric around 0 (what is positive or negative shows).
    """
    w = _as_array(weights)
    if w.ndim != 2:
        raise ValueError(f"weights must be (candidates, history length), got shape {w.shape}")
    if len(history_labels) != w.shape[1] or len(row_labels) != w.shape[0]:
        raise ValueError(f"{len(row_labels)} row labels and {len(history_labels)} history "
                         f"labels for weights of shape {w.shape}")
    ax = _axes(ax, (max(6.0, 0.45 * w.shape[1] + 2), 1.0 + 0.6 * w.shape[0]))
    if centred:
        bound = float(np.abs(w).max()) or 1.0
        lo, hi, cmap = -bound, bound, "RdBu_r"
    else:
        lo, hi, cmap = float(w.min()), float(w.max()), "viridis"
        if hi == lo:
            lo, hi = lo - 0.5, hi + 0.5
    im = ax.imshow(w, cmap=cmap, vmin=lo, vmax=hi, aspect="auto")
    ax.set_xticks(range(w.shape[1]), history_labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(w.shape[0]), row_labels, fontsize=9)
    ax.set_xlabel("history, most recent first")
    if annotate:
        mid = (lo + hi) / 2
        for r in range(w.shape[0]):
            for c in range(w.shape[1]):
                dark = abs(w[r, c]) > 0.6 * hi if centred else w[r, c] < mid
                ax.text(c, r, f"{w[r, c]:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if dark else "black")
    ax.figure.colorbar(im, ax=ax, fraction=0.03, pad=0.01, label="attention weight")
    if title:
        ax.set_title(title)
    return ax


def weights_by_match(groups: dict, ax=None, title: str | None = None, bins: int = 40):
    """Histograms of attention weights for several groups of history positions, e.g.
    ``{"same category as the candidate": w1, "other categories": w2}``. Chapter 04.

    Each value is a 1-D array of weights (real positions only). The groups share bins;
    densities, so groups of different sizes compare. Each group's mean is marked.
    """
    if not groups:
        raise ValueError("groups is empty")
    arrays = {k: _as_array(v).ravel() for k, v in groups.items()}
    if any(len(v) == 0 for v in arrays.values()):
        raise ValueError("every group needs at least one weight")
    ax = _axes(ax, (6.5, 3.0))
    lo = min(v.min() for v in arrays.values())
    hi = max(v.max() for v in arrays.values())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    colours = ["#c44e52", "#4c72b0", "#55a868", "#8172b2"]
    for (name, v), colour in zip(arrays.items(), colours * len(arrays)):
        ax.hist(v, bins=edges, density=True, alpha=0.55, color=colour, label=name)
        ax.axvline(v.mean(), color=colour, ls="--", lw=1.5)
    ax.set(xlabel="attention weight (dashed: mean)", ylabel="density")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax


# --- lineage ---
def loglog_slope(sizes, seconds, fit_from: float | None = None) -> float:
    """Slope of log(seconds) against log(sizes), over sizes >= ``fit_from`` (all if None):
    the exponent of the growth (1 linear, 2 quadratic). Chapter 02."""
    n, t = _as_array(sizes), _as_array(seconds)
    keep = n >= (fit_from if fit_from is not None else -np.inf)
    return float(np.polyfit(np.log(n[keep]), np.log(t[keep]), 1)[0])


def scaling_plot(sizes, seconds: dict, ax=None, xlabel: str = "number of fields n",
                 title: str | None = None, fit_from: float | None = None):
    """Time per call against problem size on log-log axes, one line per method, with the
    slope (:func:`loglog_slope` over sizes >= ``fit_from``) in the legend. Chapter 02
    (the FM identity). ``sizes`` (N,); ``seconds`` maps a label to N timings.
    """
    n = _as_array(sizes)
    ax = _axes(ax, (6.0, 3.6))
    where = "" if fit_from is None else f" for n >= {fit_from:g}"
    for (label, t), marker in zip(seconds.items(), "osD^v" * len(seconds)):
        t = _as_array(t)
        slope = loglog_slope(n, t, fit_from)
        ax.loglog(n, t, marker=marker, label=f"{label} (slope {slope:.2f}{where})")
    ax.set(xlabel=xlabel, ylabel="seconds per call")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def runs_plot(runs, metric: str, by: str = "model", order: Sequence[str] | None = None,
              baselines: dict | None = None, ax=None, title: str | None = None,
              alpha: float = 0.05):
    """Each configuration's runs (dots), mean and t interval (bar). Chapter 02.

    ``runs`` is a DataFrame with one row per run (columns ``by`` and ``metric``);
    ``baselines`` maps a name to a single value drawn as a vertical line (e.g. the
    popularity score). A baseline far from the runs (more than ``3 x`` their range
    away) would squeeze them into a few pixels: it is written in a corner instead. A
    configuration with one run gets its dot and no bar.
    """
    from .metrics import mean_ci

    names = list(order) if order is not None else list(dict.fromkeys(runs[by]))
    ax = _axes(ax, (6.0, 0.45 * len(names) + 1.2))
    for k, name in enumerate(names):
        v = _as_array(runs.loc[runs[by] == name, metric])
        mean, lo, hi = mean_ci(v, alpha=alpha)
        ax.plot(v, np.full(len(v), k), "o", color="#999999", ms=4, zorder=2)
        if np.isfinite(lo):
            ax.errorbar(mean, k, xerr=[[mean - lo], [hi - mean]], fmt="s", color="#4c72b0",
                        capsize=4, zorder=3)
        else:
            ax.plot(mean, k, "s", color="#4c72b0", zorder=3)
    values = _as_array(runs.loc[runs[by].isin(names), metric])
    lo_v, hi_v = float(values.min()), float(values.max())
    span = max(hi_v - lo_v, 1e-12)
    off_scale, drawn = [], False
    for (label, value), colour in zip((baselines or {}).items(), ["#c44e52", "#55a868", "#8172b2"]):
        if lo_v - 3 * span <= value <= hi_v + 3 * span:
            ax.axvline(value, color=colour, ls="--", lw=1.2, label=label)
            drawn = True
        else:
            side = "left" if value < lo_v else "right"
            off_scale.append(f"{label}: {value:.4f} (off the scale, to the {side})")
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel("\n".join([f"test {metric} (dots: seeds; bar: mean and "
                             f"{int(100 * (1 - alpha))}% t interval)"] + off_scale))
    if drawn:
        ax.legend(fontsize=8, loc="best")
    ax.grid(True, axis="x", alpha=0.3)
    if title:
        ax.set_title(title)
    return ax


def pair_recovery_plot(recovery, ax=None, title: str | None = None, max_points: int = 4000):
    """Learned against planted pair weights (``synthetic.pair_recovery``), planted field
    pairs in colour, unplanted ones (true weight 0) in grey, and the diagonal. Chapter 02."""
    ax = _axes(ax, (4.2, 4.0))
    rng = np.random.default_rng(0)
    for planted, colour, label in ((False, "#bbbbbb", "unplanted pairs (true 0)"),
                                   (True, "#4c72b0", "planted pairs")):
        part = recovery[recovery["planted"] == planted]
        if len(part) > max_points:
            part = part.iloc[rng.choice(len(part), max_points, replace=False)]
        ax.scatter(part["true"], part["learned"], s=5, alpha=0.5, color=colour, label=label)
    lim = float(np.abs(recovery[["true", "learned"]].to_numpy()).max()) * 1.05
    ax.plot([-lim, lim], [-lim, lim], "k--", lw=1)
    ax.set(xlabel="planted weight $W_{ab}[i, j]$", ylabel=r"learned $\langle v_i, v_j \rangle$",
           xlim=(-lim, lim), ylim=(-lim, lim))
    ax.legend(fontsize=8, loc="upper left", markerscale=3)
    if title:
        ax.set_title(title)
    return ax


# --- DeepFM ---
def training_curves(histories: dict, ax=None, what: str = "loss", title: str | None = None):
    """Per-epoch curves of one or more runs, ``{label: History}`` (``train.History``).
    Chapter 03.

    ``what="loss"``: training loss (dashed) and validation loss (solid) per epoch, one
    colour per run; ``what="auc"``: validation AUC. Each run's ``best_epoch`` (the weights
    kept) is marked with a dotted vertical line and a dot on the validation curve.
    Epochs are numbered from 1.
    """
    if not histories:
        raise ValueError("histories is empty")
    if what not in ("loss", "auc"):
        raise ValueError(f"what must be 'loss' or 'auc', got {what!r}")
    ax = _axes(ax, (6.5, 3.4))
    colours = ["#4c72b0", "#c44e52", "#55a868", "#8172b2", "#ccb974"]
    for (label, h), colour in zip(histories.items(), colours * len(histories)):
        valid = h.valid_loss if what == "loss" else h.valid_auc
        if what == "loss":
            ax.plot(np.arange(1, len(h.train_loss) + 1), h.train_loss, ls="--", color=colour,
                    label=f"{label}: train")
        if valid:
            epochs = np.arange(1, len(valid) + 1)
            ax.plot(epochs, valid, ls="-", marker=".", color=colour,
                    label=f"{label}: validation")
            if 0 <= h.best_epoch < len(valid):
                ax.axvline(h.best_epoch + 1, color=colour, ls=":", lw=1)
                ax.plot([h.best_epoch + 1], [valid[h.best_epoch]], "o", color=colour, ms=8,
                        mfc="none")
    ax.set(xlabel="epoch", ylabel="log loss" if what == "loss" else "validation AUC")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def auc_spread(runs, by: str = "model", value: str = "auc", reported: dict | None = None,
               ax=None, title: str | None = None, seed: int = 0):
    """One dot per run (e.g. per split seed) for each group, with a box of the quartiles;
    ``reported`` ({group: (low, high)}) shades a range someone else reported, next to
    each group's dots. ``runs`` is a DataFrame with columns ``by`` and ``value``.
    Chapter 03.
    """
    groups = list(dict.fromkeys(runs[by]))
    if not groups:
        raise ValueError("runs is empty")
    ax = _axes(ax, (6.5, 3.4))
    rng = np.random.default_rng(seed)
    values = [runs.loc[runs[by] == g, value].to_numpy(dtype=float) for g in groups]
    ax.boxplot(values, positions=np.arange(len(groups)), widths=0.45, showfliers=False,
               medianprops={"color": "k"})
    labelled = False
    for i, v in enumerate(values):
        ax.plot(i + rng.uniform(-0.12, 0.12, len(v)), v, "o", ms=4, alpha=0.7, color="#4c72b0")
        if reported and groups[i] in reported:
            lo, hi = reported[groups[i]]
            ax.fill_between([i + 0.3, i + 0.42], lo, hi, color="#c44e52", alpha=0.35,
                            label=None if labelled else "reported range")
            labelled = True
    ax.set_xticks(np.arange(len(groups)), groups)
    ax.set(ylabel=value)
    if reported:
        ax.legend(fontsize=8, loc="lower right")
    if title:
        ax.set_title(title)
    return ax


# --- funnel ---
def funnel_plot(stages: dict, ax=None, title: str | None = None, notes: dict | None = None):
    """Items per user left after each stage of the funnel, widest stage on top, on a log
    scale. Chapter 01.

    ``stages`` maps a stage name to its size (e.g. ``{"catalogue": 1682, "recall": 200,
    ...}``), in funnel order; ``notes`` optionally maps a stage name to a short text
    written after its size (e.g. the measured time per user).
    """
    if not stages:
        raise ValueError("stages is empty")
    names = list(stages)
    sizes = _as_array([stages[n] for n in names])
    if (sizes <= 0).any():
        raise ValueError("stage sizes must be positive (the axis is logarithmic)")
    ax = _axes(ax, (7.0, 0.55 * len(names) + 1.0))
    colours = ["#4c72b0", "#55a868", "#c44e52", "#8172b2", "#ccb974", "#64b5cd"]
    ax.barh(np.arange(len(names)), sizes, color=(colours * len(names))[:len(names)])
    for k, (name, size) in enumerate(zip(names, sizes)):
        text = f" {size:,.0f}"
        if notes and name in notes:
            text += f"  ({notes[name]})"
        ax.text(size, k, text, va="center", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(1, float(sizes.max()) * 12)
    ax.set_yticks(np.arange(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel("items per user (log scale)")
    if title:
        ax.set_title(title)
    return ax


def recall_curves(table, ax=None, title: str | None = None, ylabel: str = "recall@K"):
    """Recall@K against K, one line per recommender. Chapter 01.

    ``table`` is a DataFrame with one row per recommender (index: its name) and one
    column per K (the column labels are the K values).
    """
    ks = _as_array(list(table.columns))
    ax = _axes(ax, (6.0, 3.6))
    styles = ["o-", "s-", "^-", "D--", "v--", "x:"]
    for (name, row), style in zip(table.iterrows(), styles * len(table)):
        ax.plot(ks, _as_array(row.to_numpy()), style, label=str(name), ms=4)
    ax.set(xlabel="K (candidates per user)", ylabel=ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def tradeoff_plot(sweep, ax=None, title: str | None = None, x: str = "diversity",
                  y: str = "ndcg", by: str = "lam"):
    """Accuracy against diversity over a sweep of a re-ranking parameter (MMR's lambda).
    Chapter 01.

    ``sweep`` is a DataFrame with one row per value of ``by`` and columns ``x`` and
    ``y``; optional ``{y}_lo`` / ``{y}_hi`` columns (a bootstrap interval) are drawn as
    error bars. Each point is labelled with its ``by`` value.
    """
    xs, ys = _as_array(sweep[x]), _as_array(sweep[y])
    ax = _axes(ax, (6.0, 3.8))
    if f"{y}_lo" in sweep and f"{y}_hi" in sweep:
        err = [ys - _as_array(sweep[f"{y}_lo"]), _as_array(sweep[f"{y}_hi"]) - ys]
        ax.errorbar(xs, ys, yerr=err, fmt="o-", color="#4c72b0", ms=4, capsize=3)
    else:
        ax.plot(xs, ys, "o-", color="#4c72b0", ms=4)
    for xv, yv, v in zip(xs, ys, sweep[by]):
        ax.annotate(f"{v:g}", (xv, yv), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set(xlabel=x, ylabel=y)
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)
    return ax
