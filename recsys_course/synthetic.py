"""Synthetic data with planted truth. Everything generated here is labelled SYNTHETIC.

Real data tells you which model scored higher, never why. Here the generating process is
known, so a lab can check that a model recovers what was planted. Sections:

* Criteo-shaped click logs (chapters 03, 05 and the benchmark): 13 dense counts and 26
  categorical fields, clicks driven by per-value effects plus a few planted pairwise
  interactions, generated in reproducible chunks of any size.
* Behaviour logs with planted interests (chapter 04, DIN): users with 2-3 interest
  categories, histories drawn from them, clicks driven by whether the candidate's
  category is one of them (:func:`planted_interests`).
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


# --- planted interests (DIN, chapter 04) -------------------------------------------------
@dataclass
class PlantedInterests:
    """A SYNTHETIC behaviour log whose users have planted interests (chapter 04's lab).

    ``task`` is a :class:`recsys_course.tasks.CTRTask` (tensors per split, feature
    descriptions, ``frame`` with one row per impression); ``history_features`` and
    ``target_features`` say which inputs DIN attends over and with. The planted truth:
    ``item_category`` (n_items,), each user's ``interests`` (n_users, max interests; -1
    pads), and in ``task.frame`` the column ``in_interest`` (the candidate's category is
    one of the user's interests) and ``p_click`` (the true click probability).
    """

    task: object
    history_features: list
    target_features: list
    item_category: np.ndarray
    interests: np.ndarray
    p_interest: float
    p_other: float


def planted_interests(n_users: int = 4000, n_items: int = 1000, n_categories: int = 10,
                      interests=(2, 3), candidates_per_user: int = 8, max_len: int = 20,
                      min_len: int = 3, noise: float = 0.3, p_interest: float = 0.7,
                      p_other: float = 0.15, fractions=(0.8, 0.1, 0.1), embed_dim: int = 8,
                      seed: int = 0) -> PlantedInterests:
    """Users with 2-3 latent interest categories; clicks driven by them. SYNTHETIC.

    The generating process (chapter 04, "a lab with planted interests"):

    * item ``i`` belongs to one of ``n_categories`` categories, each with the same number
      of items (``n_items`` must be a multiple of ``n_categories``);
    * each user draws ``k`` interest categories (``k`` uniform in ``interests``) and a
      history of ``h`` items (``h`` uniform in ``[min_len, max_len]``, so short histories
      are padded): each history item comes, with probability ``1 - noise``, from one of
      the user's interests (chosen uniformly), otherwise from any category;
    * each user is shown ``candidates_per_user`` candidates, half drawn from their
      interests, half from any category; a candidate is clicked with probability
      ``p_interest`` if its category is one of the user's interests, else ``p_other``.

    So the click depends on whether the candidate's category is among the categories of
    the user's history, and nothing else: a model must read the history to predict it.
    Users are split ``fractions`` (train/valid/test) at random: test users are new, with
    no id to memorise, and the only input besides the candidate is the history.

    Codes follow the package convention (0 padding, 1 unseen, real ids from 2): item
    ``i`` has code ``i + 2``, category ``c`` code ``c + 2``. Features: ``item_id`` and
    ``category`` (the candidate), ``hist_item_id`` and ``hist_category`` (sharing their
    tables), all of size ``embed_dim``.
    """
    from .features import SequenceFeature
    from .tasks import CTRTask

    if n_items % n_categories:
        raise ValueError(f"n_items ({n_items}) must be a multiple of n_categories ({n_categories})")
    k_lo, k_hi = interests
    if not 1 <= k_lo <= k_hi <= n_categories:
        raise ValueError(f"interests must be (low, high) with 1 <= low <= high <= n_categories, got {interests}")
    if not 1 <= min_len <= max_len:
        raise ValueError(f"need 1 <= min_len <= max_len, got {min_len}, {max_len}")
    if not 0 <= noise <= 1 or not 0 <= p_other <= 1 or not 0 <= p_interest <= 1:
        raise ValueError("noise, p_interest and p_other must be probabilities")
    rng = np.random.default_rng([seed, 4004])
    per_cat = n_items // n_categories
    cat_items = rng.permutation(n_items).reshape(per_cat, n_categories).T   # (C, items per C)
    item_category = np.empty(n_items, dtype=np.int64)
    item_category[cat_items] = np.arange(n_categories)[:, None]

    # each user's interests: k distinct categories, padded with -1
    U, L, M = n_users, max_len, candidates_per_user
    k = rng.integers(k_lo, k_hi + 1, size=U)                                 # (U,)
    ranked = np.argsort(rng.random((U, n_categories)), axis=1)[:, :k_hi]     # distinct
    user_interests = np.where(np.arange(k_hi)[None, :] < k[:, None], ranked, -1)

    def draw(shape, from_interest):
        """Categories and items: from a random one of the user's interests, or from any."""
        pick = (rng.random(shape) * k[:, None]).astype(np.int64)            # index < k
        own = np.take_along_axis(user_interests, pick, axis=1)
        cats = np.where(from_interest, own, rng.integers(0, n_categories, shape))
        return cats, cat_items[cats, rng.integers(0, per_cat, shape)]

    h = rng.integers(min_len, max_len + 1, size=U)                           # history lengths
    real = np.arange(L)[None, :] < h[:, None]                                # (U, L)
    hist_cat, hist_item = draw((U, L), rng.random((U, L)) >= noise)
    hist_cat, hist_item = np.where(real, hist_cat, -1), np.where(real, hist_item, -1)
    half = np.arange(M)[None, :] < (M + 1) // 2
    cand_cat, cand_item = draw((U, M), np.broadcast_to(half, (U, M)))
    in_interest = (cand_cat[:, :, None] == user_interests[:, None, :]).any(-1)   # (U, M)
    p_click = np.where(in_interest, p_interest, p_other)
    label = (rng.random((U, M)) < p_click).astype(np.float32)

    f = np.asarray(fractions, dtype=float)
    if f.shape != (3,) or (f < 0).any() or abs(f.sum() - 1) > 1e-9:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    cut = np.round(np.cumsum(f)[:2] * U).astype(int)
    user_split = np.empty(U, dtype=object)
    user_split[rng.permutation(U)] = np.repeat(["train", "valid", "test"],
                                               np.diff(np.r_[0, cut, U]))

    rows_user = np.repeat(np.arange(U), M)                                  # (U*M,)
    frame = pd.DataFrame({
        "user_id": rows_user, "item_id": cand_item.ravel(), "category": cand_cat.ravel(),
        "label": label.ravel(), "in_interest": in_interest.ravel(),
        "p_click": p_click.ravel(), "hist_len": h[rows_user],
        "split": user_split[rows_user]})
    # codes: real ids + 2, padding (-1 above) -> 0; a user's history repeats on each row
    codes = {"item_id": cand_item.ravel() + 2, "category": cand_cat.ravel() + 2,
             "hist_item_id": np.where(real, hist_item + 2, 0)[rows_user],
             "hist_category": np.where(real, hist_cat + 2, 0)[rows_user]}
    targets = [SparseFeature("item_id", n_items + 2, embed_dim),
               SparseFeature("category", n_categories + 2, embed_dim)]
    history = [SequenceFeature("hist_item_id", n_items + 2, embed_dim, max_len=L,
                               shared_with="item_id"),
               SequenceFeature("hist_category", n_categories + 2, embed_dim, max_len=L,
                               shared_with="category")]
    parts = {}
    for s in ("train", "valid", "test"):
        idx = np.flatnonzero(frame["split"].to_numpy() == s)
        x = {name: torch.from_numpy(np.ascontiguousarray(v[idx]).astype(np.int64))
             for name, v in codes.items()}
        parts[s] = (x, torch.from_numpy(frame["label"].to_numpy(np.float32)[idx]))
    task = CTRTask(frame, targets + history, None, parts["train"], parts["valid"], parts["test"])
    return PlantedInterests(task, history, targets, item_category, user_interests,
                            p_interest, p_other)


# --- planted pairwise interactions (chapter 02) ---
@dataclass(frozen=True)
class PlantedPairsSpec:
    """The planted truth of chapter 02's lab: clicks driven by pairs of fields only.

    ``n_fields`` categorical fields ``f0, f1, ...``, each value drawn uniformly from
    ``vocab_size`` values. The field pairs ``(a, b)`` in ``pairs`` interact:

        logit = sum over planted pairs (a, b) of  W_ab[id_a, id_b],   W_ab = U_a U_b^T

    with ``U_f = factors[f]`` of shape (vocab_size, rank), so ``W_ab`` has rank ``rank``
    (a field in two pairs uses its one ``U_f`` in both). Value ``i + vocab_size / 2`` has
    the vector ``-U_f[i]`` (a mirror of value ``i``), so every row and every column of
    ``W_ab`` is symmetric around 0. When the pairs form a bipartite graph of fields (no
    triangle or other odd cycle; checked), mirroring the values of one side of the
    graph flips the sign of every term, so the logit seen from any single value is
    symmetric too: **each value on its own is clicked exactly half the time**. A model
    without interaction terms (LR) has nothing to learn; an FM with ``D >= rank`` times
    the number of pairs a field is in can represent the truth exactly. SYNTHETIC.
    """

    seed: int
    n_fields: int
    vocab_size: int
    rank: int
    pairs: tuple                # ((a, b), ...): disjoint field pairs
    factors: np.ndarray         # (n_fields, vocab_size, rank); zeros for unpaired fields

    @property
    def names(self) -> list[str]:
        return [f"f{i}" for i in range(self.n_fields)]

    def pair_weights(self, a: int, b: int) -> np.ndarray:
        """The planted (vocab_size, vocab_size) table W_ab; zeros for an unplanted pair."""
        if (a, b) in self.pairs or (b, a) in self.pairs:
            return self.factors[a] @ self.factors[b].T
        return np.zeros((self.vocab_size, self.vocab_size))


def planted_pairs_spec(seed: int = 0, n_fields: int = 6, vocab_size: int = 20,
                       pairs=((0, 1), (2, 3)), rank: int = 2,
                       scale: float = 1.5) -> PlantedPairsSpec:
    """Draw the planted truth (chapter 02). ``scale`` is about the standard deviation of
    a planted pair weight: each factor entry is N(0, scale / sqrt(rank))."""
    pairs = tuple((int(a), int(b)) for a, b in pairs)
    used = sorted({f for p in pairs for f in p})
    if any(a == b for a, b in pairs) or len({frozenset(p) for p in pairs}) != len(pairs):
        raise ValueError(f"pairs must be distinct pairs of two different fields, got {pairs}")
    if min(used, default=0) < 0 or max(used, default=0) >= n_fields:
        raise ValueError(f"pairs {pairs} name fields outside 0..{n_fields - 1}")
    if not _bipartite(pairs):
        raise ValueError(f"pairs {pairs} form an odd cycle (e.g. a triangle): single values "
                         "would then carry signal; use a bipartite set of pairs")
    if vocab_size < 2 or vocab_size % 2:
        raise ValueError("vocab_size must be even (values come in mirrored pairs)")
    rng = np.random.default_rng(seed)
    half = rng.normal(0.0, np.sqrt(scale / np.sqrt(rank)), (n_fields, vocab_size // 2, rank))
    factors = np.concatenate([half, -half], axis=1)              # value i + V/2 mirrors i
    factors[[f for f in range(n_fields) if f not in used]] = 0.0
    return PlantedPairsSpec(seed, n_fields, vocab_size, rank, pairs, factors)


def _bipartite(pairs) -> bool:
    """True if the graph whose edges are ``pairs`` can be 2-coloured (no odd cycle)."""
    colour: dict = {}
    adjacent: dict = {}
    for a, b in pairs:
        adjacent.setdefault(a, []).append(b)
        adjacent.setdefault(b, []).append(a)
    for start in adjacent:
        if start in colour:
            continue
        colour[start], stack = 0, [start]
        while stack:
            node = stack.pop()
            for other in adjacent[node]:
                if other not in colour:
                    colour[other] = 1 - colour[node]
                    stack.append(other)
                elif colour[other] == colour[node]:
                    return False
    return True


def planted_pairs_logits(spec: PlantedPairsSpec, ids: np.ndarray) -> np.ndarray:
    """The true logit of rows of raw ids (n, n_fields): the best any model can do."""
    ids = np.asarray(ids)
    logit = np.zeros(len(ids))
    for a, b in spec.pairs:
        logit += np.einsum("nk,nk->n", spec.factors[a][ids[:, a]], spec.factors[b][ids[:, b]])
    return logit


def planted_pairs_data(spec: PlantedPairsSpec, n_rows: int, part: int = 0):
    """``n_rows`` SYNTHETIC rows as (x, y, true_logits): x maps ``f0..`` to int64 codes
    (raw id + 2, the package convention: 0 padding, 1 unseen), y float32 clicks.
    The same (spec, n_rows, part) gives the same rows; use parts 0, 1, 2 for
    train, valid and test."""
    rng = np.random.default_rng([spec.seed, part, 2010])
    ids = rng.integers(0, spec.vocab_size, (n_rows, spec.n_fields))
    logit = planted_pairs_logits(spec, ids)
    y = (rng.random(n_rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.float32)
    x = {name: torch.from_numpy(ids[:, f] + 2) for f, name in enumerate(spec.names)}
    return x, torch.from_numpy(y), logit


def planted_pairs_features(spec: PlantedPairsSpec, embed_dim: int = 8) -> list[SparseFeature]:
    """Feature descriptions of :func:`planted_pairs_data` (vocabulary + padding + unseen)."""
    return [SparseFeature(name, spec.vocab_size + 2, embed_dim) for name in spec.names]


def pair_recovery(spec: PlantedPairsSpec, tables) -> pd.DataFrame:
    """Planted against learned pair weights, one row per (field pair, value i, value j).

    ``tables`` maps each field name to its learned embedding table (vocab_size + 2, D),
    e.g. ``{n: t.weight for n, t in fm.fields.embedding.tables.items()}``; the learned
    weight of a pair of values is the inner product of their vectors. Columns: ``a``,
    ``b`` (fields), ``planted`` (bool), ``i``, ``j``, ``true``, ``learned``. Chapter 02.
    """
    vecs = {}
    for name in spec.names:
        t = tables[name]
        t = t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)
        vecs[name] = t[2:2 + spec.vocab_size].astype(np.float64)   # skip padding, unseen
    i, j = np.meshgrid(np.arange(spec.vocab_size), np.arange(spec.vocab_size), indexing="ij")
    rows = []
    for a in range(spec.n_fields):
        for b in range(a + 1, spec.n_fields):
            learned = vecs[spec.names[a]] @ vecs[spec.names[b]].T
            rows.append(pd.DataFrame({
                "a": a, "b": b, "planted": (a, b) in spec.pairs, "i": i.ravel(), "j": j.ravel(),
                "true": spec.pair_weights(a, b).ravel(), "learned": learned.ravel()}))
    return pd.concat(rows, ignore_index=True)
