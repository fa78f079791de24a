"""Synthetic data with planted truth. Everything generated here is labelled SYNTHETIC.

Real data tells you which model scored higher, never why. Here the generating process is
known, so a lab can check that a model recovers what was planted. Sections:

* Criteo-shaped click logs (chapters 03, 05 and the benchmark): 13 dense counts and 26
  categorical fields, clicks driven by per-value effects plus a few planted pairwise
  interactions, generated in reproducible chunks of any size.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch

from .features import DenseFeature, SparseFeature

# --- Criteo-shaped -----------------------------------------------------------------------
DENSE = [f"I{i}" for i in range(1, 14)]
SPARSE = [f"C{i}" for i in range(1, 27)]


@dataclass(frozen=True)
class CriteoLikeSpec:
    """The planted truth of a Criteo-shaped synthetic log (fixed by ``seed``).

    logit = bias + sum_f w_f[id_f] + sum_d u_d * log1p(I_d) + sum_(a,b) <v_a[id_a], v_b[id_b]>
    over the planted field pairs (a, b). Ids follow a power law over each field's
    vocabulary, like real categorical logs; dense counts are log-normal with missing values.
    """

    seed: int
    vocab_sizes: tuple
    pairs: tuple                # planted interacting field pairs (indices into SPARSE)
    bias: float
    first_order: tuple          # per field: array (vocab,) of weights
    dense_weights: np.ndarray   # (13,)
    factors: tuple              # per field in a pair: array (vocab, k)
    zipf: float
    missing_rate: float


def criteo_like_spec(seed: int = 0, vocab_sizes=None, n_pairs: int = 4, k: int = 4,
                     first_order_scale: float = 0.3, interaction_scale: float = 0.8,
                     zipf: float = 1.1, missing_rate: float = 0.1,
                     click_rate: float = 0.25) -> CriteoLikeSpec:
    """Draw the planted truth. Default vocabularies range from 4 to 20,000 values."""
    rng = np.random.default_rng(seed)
    if vocab_sizes is None:
        vocab_sizes = tuple(int(v) for v in np.geomspace(4, 20_000, len(SPARSE)).round())
    if len(vocab_sizes) != len(SPARSE):
        raise ValueError(f"need {len(SPARSE)} vocabulary sizes, got {len(vocab_sizes)}")
    fields = rng.permutation(len(SPARSE))[: 2 * n_pairs]
    pairs = tuple((int(a), int(b)) for a, b in fields.reshape(-1, 2))
    first = tuple(rng.normal(0, first_order_scale, v) for v in vocab_sizes)
    factors = tuple(rng.normal(0, np.sqrt(interaction_scale / k), (v, k)) if i in fields
                    else np.zeros((0, k)) for i, v in enumerate(vocab_sizes))
    spec = CriteoLikeSpec(seed, tuple(vocab_sizes), pairs, 0.0, first,
                          rng.normal(0, 0.15, len(DENSE)), factors, zipf, missing_rate)
    # Choose the bias so that about ``click_rate`` of rows are clicks (Criteo: ~25%).
    logits = bayes_logits(criteo_like_chunk(spec, 20_000, chunk=-1), spec)
    lo, hi = -20.0, 20.0
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if np.mean(1 / (1 + np.exp(-(logits + mid)))) < click_rate else (lo, mid)
    return replace(spec, bias=(lo + hi) / 2)


def _power_law_ids(rng, vocab: int, n: int, a: float) -> np.ndarray:
    p = 1.0 / np.arange(1, vocab + 1) ** a
    return rng.choice(vocab, size=n, p=p / p.sum())


def criteo_like_chunk(spec: CriteoLikeSpec, n_rows: int, chunk: int = 0) -> pd.DataFrame:
    """Rows of chunk number ``chunk``: the same (spec, chunk, n_rows) always gives the same
    rows, so a file of any size can be generated, or streamed, piece by piece.

    Columns: label, I1..I13 (float, NaN where missing), C1..C26 (int ids; raw, not yet
    encoded: code 0/1 are ordinary ids here). SYNTHETIC.
    """
    rng = np.random.default_rng([spec.seed, chunk + 1, 7919])  # chunk -1: calibration
    ids = np.stack([_power_law_ids(rng, v, n_rows, spec.zipf) for v in spec.vocab_sizes], 1)
    dense = np.floor(rng.lognormal(1.0, 1.5, (n_rows, len(DENSE))))
    dense[rng.random(dense.shape) < spec.missing_rate] = np.nan   # a missing count adds nothing
    df = pd.DataFrame(dense, columns=DENSE)
    for f, name in enumerate(SPARSE):
        df[name] = ids[:, f]
    logit = bayes_logits(df, spec)
    df.insert(0, "label", (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(np.int8))
    return df


def criteo_like(n_rows: int, seed: int = 0, chunk_rows: int = 200_000, **spec_kw) -> pd.DataFrame:
    """A Criteo-shaped SYNTHETIC log of ``n_rows`` rows (concatenated chunks)."""
    spec = criteo_like_spec(seed, **spec_kw)
    parts = [criteo_like_chunk(spec, min(chunk_rows, n_rows - s), i)
             for i, s in enumerate(range(0, n_rows, chunk_rows))]
    return pd.concat(parts, ignore_index=True)


def criteo_like_tensors(df: pd.DataFrame, spec: CriteoLikeSpec, embed_dim: int = 16):
    """Encode a synthetic log straight to tensors, without fitting encoders.

    The vocabulary is known from the spec, so code = id + 2 (0 padding, 1 unseen kept
    free); dense values get log1p then a fixed scale to about [0, 1]; missing -> 0.
    Returns (x, y, features). Fast enough for millions of rows.
    """
    x = {}
    for name, v in zip(SPARSE, spec.vocab_sizes):
        x[name] = torch.from_numpy(df[name].to_numpy(np.int64) + 2)
    for name in DENSE:
        vals = np.log1p(df[name].to_numpy(np.float64)) / 10.0
        x[name] = torch.from_numpy(np.nan_to_num(vals, nan=0.0).astype(np.float32))
    y = torch.from_numpy(df["label"].to_numpy(np.float32))
    features = ([SparseFeature(n, v + 2, embed_dim) for n, v in zip(SPARSE, spec.vocab_sizes)]
                + [DenseFeature(n) for n in DENSE])
    return x, y, features


def bayes_logits(df: pd.DataFrame, spec: CriteoLikeSpec) -> np.ndarray:
    """The true logit of every row (before the coin flip): the best any model can do."""
    ids = df[SPARSE].to_numpy()
    counts = np.nan_to_num(df[DENSE].to_numpy(np.float64), nan=0.0)
    logit = spec.bias + sum(spec.first_order[f][ids[:, f]] for f in range(len(SPARSE)))
    logit = logit + np.log1p(counts) @ spec.dense_weights
    for a, b in spec.pairs:
        logit = logit + np.einsum("nk,nk->n", spec.factors[a][ids[:, a]], spec.factors[b][ids[:, b]])
    return logit
