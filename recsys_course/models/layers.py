"""Shared building blocks of the course's models.

Chapter 02 (feature interactions) explains field embeddings and the MLP block; the
pieces specific to one family (FM interaction, cross layer, product layer) live next to
them here, and so does Dice (chapter 04), since any MLP can use it. DIN's local
activation unit is in ``din.py``.

Shape alphabet: B batch, F fields, L history length, D embedding size, H hidden size.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

import torch
from torch import nn

from ..features import DenseFeature, Feature, SequenceFeature, SparseFeature


class FeatureEmbedding(nn.Module):
    """One embedding table per categorical feature; looks a batch up field by field.

    * A ``SparseFeature`` gives one vector per row.
    * A ``SequenceFeature`` gives ``L`` vectors per row, pooled to one (``"mean"`` over
      the real positions, or ``"sum"``) by :meth:`forward`; :meth:`sequence` returns the
      unpooled (B, L, D) vectors and the (B, L) mask for attention models.
    * ``shared_with`` reuses the table of another feature (history items share the
      target item's table).
    * Dense features are passed through as a (B, n_dense) block.

    ``mask_padding=True`` (the default) ignores code 0 when pooling. With ``False``, mean
    pooling divides by ``L`` and counts padded positions. ``padding_codes`` overrides this
    per sequence feature: ``{name: code}`` ignores ``code`` when pooling that feature,
    ``{name: None}`` ignores nothing (the reference bridge uses it).

    ``forward`` and ``flat`` take an optional list of feature ``names`` to read a subset
    of the fields, in that order (models with a wide and a deep part use this).
    """

    def __init__(self, features: Sequence[Feature], init_std: float = 1e-2,
                 mask_padding: bool = True, padding_codes: dict[str, int | None] | None = None):
        super().__init__()
        self.features = list(features)
        self.mask_padding = mask_padding
        self.padding_codes = dict(padding_codes or {})
        self.tables = nn.ModuleDict()
        for f in self.features:
            if isinstance(f, (SparseFeature, SequenceFeature)) and f.shared_with is None:
                table = nn.Embedding(f.vocab_size, f.embed_dim)
                nn.init.normal_(table.weight, 0.0, init_std)
                self.tables[f.name] = table
        self.sparse = [f for f in self.features if isinstance(f, (SparseFeature, SequenceFeature))]
        self.dense = [f for f in self.features if isinstance(f, DenseFeature)]
        for f in self.sparse:
            if f.shared_with is None:
                continue
            if f.shared_with not in self.tables:
                raise ValueError(f"feature {f.name!r} shares the table of {f.shared_with!r}, "
                                 "which is not among the features")
            owner = self.tables[f.shared_with]
            if f.embed_dim != owner.embedding_dim or f.vocab_size > owner.num_embeddings:
                raise ValueError(
                    f"feature {f.name!r} shares the table of {f.shared_with!r} "
                    f"({owner.num_embeddings} x {owner.embedding_dim}) but declares "
                    f"vocab_size={f.vocab_size}, embed_dim={f.embed_dim}: make them agree")

    @property
    def n_fields(self) -> int:
        """F: the number of categorical fields (sparse and pooled sequence)."""
        return len(self.sparse)

    @property
    def n_dense(self) -> int:
        return len(self.dense)

    def table(self, f: SparseFeature | SequenceFeature) -> nn.Embedding:
        return self.tables[f.shared_with or f.name]

    def sequence(self, x: dict, f: SequenceFeature) -> tuple[torch.Tensor, torch.Tensor]:
        """Unpooled history: vectors (B, L, D) and mask (B, L), True at real positions."""
        ids = x[f.name].long()                                   # (B, L)
        return self.table(f)(ids), ids != 0

    def pool(self, emb: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
        """(B, L, D), (B, L) -> (B, D)."""
        if not self.mask_padding:
            mask = torch.ones_like(mask)
        return masked_pool(emb, mask, how)

    def pooled(self, x: dict, f: SequenceFeature) -> torch.Tensor:
        """One sequence feature pooled to (B, D), honouring ``padding_codes``."""
        emb, mask = self.sequence(x, f)                          # (B, L, D), (B, L)
        if f.name not in self.padding_codes:
            return self.pool(emb, mask, f.pooling)
        code = self.padding_codes[f.name]
        ids = x[f.name].long()                                   # (B, L)
        mask = torch.ones_like(mask) if code is None else ids != code
        return masked_pool(emb, mask, f.pooling)

    def select(self, names: Sequence[str] | None) -> list[Feature]:
        """The feature descriptions called ``names`` (all features if None), in order."""
        if names is None:
            return self.features
        by_name = {f.name: f for f in self.features}
        return [by_name[n] for n in names]

    def flat_dim(self, names: Sequence[str] | None = None) -> int:
        """The width of :meth:`flat`: sum of the fields' D plus the number of dense."""
        return sum(1 if isinstance(f, DenseFeature) else self.table(f).embedding_dim
                   for f in (self.sparse + self.dense if names is None else self.select(names)))

    def forward(self, x: dict, names: Sequence[str] | None = None
                ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Returns (field vectors (B, F, D) or None, dense values (B, n_dense) or None).

        All categorical fields must share one D to be stacked; models that need mixed
        sizes call :meth:`flat` instead.
        """
        vecs = self.field_vectors(x, names)
        emb = torch.stack(vecs, dim=1) if vecs else None         # (B, F, D)
        dense = self.dense_values(x, names)
        return emb, dense

    def flat(self, x: dict, names: Sequence[str] | None = None) -> torch.Tensor:
        """Every field vector, then every dense value, side by side: (B, sum of D + n_dense)."""
        parts = self.field_vectors(x, names)
        dense = self.dense_values(x, names)
        if dense is not None:
            parts.append(dense)
        if not parts:
            raise ValueError("the model has no input features")
        return torch.cat(parts, dim=1)

    def field_vectors(self, x: dict, names: Sequence[str] | None = None) -> list[torch.Tensor]:
        """One (B, D) vector per categorical field (sequences pooled), in order."""
        vecs = []
        for f in self.sparse if names is None else self.select(names):
            if isinstance(f, SequenceFeature):
                vecs.append(self.pooled(x, f))                   # (B, D)
            elif isinstance(f, SparseFeature):
                vecs.append(self.table(f)(x[f.name].long()))     # (B, D)
        return vecs

    def dense_values(self, x: dict, names: Sequence[str] | None = None) -> torch.Tensor | None:
        dense = self.dense if names is None else [
            f for f in self.select(names) if isinstance(f, DenseFeature)]
        if not dense:
            return None
        cols = [x[f.name].float().reshape(-1, 1) for f in dense]
        return torch.cat(cols, dim=1)                            # (B, n_dense)


def masked_pool(emb: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    """Pool (B, L, D) over the positions where mask (B, L) is True -> (B, D).
    ``"mean"`` of a row with no real position is the zero vector."""
    m = mask.unsqueeze(-1).to(emb.dtype)                         # (B, L, 1)
    total = (emb * m).sum(dim=1)                                 # (B, D)
    if how == "sum":
        return total
    if how == "mean":
        return total / m.sum(dim=1).clamp_min(1.0)
    raise ValueError(f"pooling must be 'mean' or 'sum', got {how!r}")


class MLP(nn.Module):
    """Hidden blocks of Linear -> [BatchNorm1d] -> activation -> Dropout, then an
    optional Linear to one output. ``activation`` is a name for :func:`make_activation`
    or a function ``width -> module``."""

    def __init__(self, input_dim: int, hidden: Sequence[int] = (), dropout: float = 0.0,
                 activation: str | Callable[[int], nn.Module] = "relu", batch_norm: bool = True,
                 output_layer: bool = True):
        super().__init__()
        layers: list[nn.Module] = []
        for h in hidden:
            layers.append(nn.Linear(input_dim, h))
            if batch_norm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(make_activation(activation, h))
            layers.append(nn.Dropout(dropout))
            input_dim = h
        if output_layer:
            layers.append(nn.Linear(input_dim, 1))
            input_dim = 1
        self.net = nn.Sequential(*layers)
        self.output_dim = input_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)                                       # (B, H) or (B, 1)


def make_activation(name: str | Callable[[int], nn.Module], dim: int | None = None) -> nn.Module:
    """'relu', 'sigmoid', 'tanh', 'prelu', 'leakyrelu', 'softmax' (over the layer's units)
    or 'dice' (:class:`Dice`, chapter 04). A callable is called with the layer width."""
    if callable(name):
        return name(dim)
    name = name.lower()
    if name == "relu":
        return nn.ReLU()
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "tanh":
        return nn.Tanh()
    if name == "prelu":
        return nn.PReLU()
    if name == "leakyrelu":
        return nn.LeakyReLU()
    if name == "softmax":
        return nn.Softmax(dim=1)
    if name == "dice":
        if dim is None:
            raise ValueError("Dice needs the layer width")
        return Dice(dim)
    raise ValueError(f"unknown activation {name!r}")


class Dice(nn.Module):
    """Dice, the data-adaptive activation of DIN (Zhou et al. 2018, Eq. 9-10; chapter 04):

        f(s) = p(s) * s + (1 - p(s)) * alpha * s,
        p(s) = sigmoid((s - E[s]) / sqrt(Var[s] + eps))

    a PReLU whose rectifier point moves with the data. E[s] and Var[s] are taken per
    neuron over the mini-batch in training and are moving averages at test time, as a
    BatchNorm without affine parameters does (biased batch variance in training; running
    mean and unbiased running variance updated with ``momentum``). eps = 1e-8 as in the
    paper; one ``alpha`` per neuron, starting at 0 as in the authors' released code.
    Input (N, H) (or (..., H), flattened to rows); output of the same shape.
    """

    def __init__(self, dim: int, eps: float = 1e-8, momentum: float = 0.1):
        super().__init__()
        self.dim, self.eps, self.momentum = dim, eps, momentum
        self.alpha = nn.Parameter(torch.zeros(dim))                          # (H,)
        self.register_buffer("running_mean", torch.zeros(dim))               # (H,)
        self.register_buffer("running_var", torch.ones(dim))                 # (H,)

    def statistics(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """E[s] and Var[s] per neuron, (H,) each: the batch's in training (and the running
        averages move towards them), the running averages at test time."""
        if not self.training:
            return self.running_mean, self.running_var
        mean = s.mean(dim=0)                                                 # E[s]   (H,)
        var = s.var(dim=0, unbiased=False)                                   # Var[s] (H,)
        with torch.no_grad():
            n = s.shape[0]
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var * n / max(n - 1, 1), self.momentum)
        return mean, var

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        shape = s.shape
        s = s.reshape(-1, self.dim)                                          # (N, H)
        mean, var = self.statistics(s)                                       # (H,) each
        p = torch.sigmoid((s - mean) / torch.sqrt(var + self.eps))          # (N, H)
        return (p * s + (1 - p) * self.alpha * s).reshape(shape)

    def extra_repr(self) -> str:
        return f"{self.dim}, eps={self.eps}"


# ----------------------------------------------------------------------------------------
# FM/DNN lineage pieces (chapter 02, notebooks/02_feature_interactions.ipynb)
# ----------------------------------------------------------------------------------------
def with_shared_tables(features: Sequence[Feature], names: Sequence[str]) -> list[Feature]:
    """The features called ``names`` plus those whose tables they share (``shared_with``),
    in the order of ``features``: what a module reading ``names`` must build tables for."""
    wanted = set(names)
    wanted |= {f.shared_with for f in features if f.name in wanted
               and not isinstance(f, DenseFeature) and f.shared_with is not None}
    return [f for f in features if f.name in wanted]


class FeatureLinear(nn.Module):
    """The first-order term: one scalar weight per categorical code and per dense feature.

        linear(x) = b + sum_f w_f[code_f] + sum_j w_j * x_j

    This is logistic regression on one-hot codes (LR), the ``<w, x>`` of an FM (Rendle
    2010) and the wide part of Wide & Deep (Cheng et al. 2016). A sequence feature's
    weight is pooled like its embedding (mean or sum over the real positions); a
    ``shared_with`` feature reuses the other feature's weights. ``names`` restricts the
    terms to those features (tables are built for all ``features``, so a named feature
    may share the weights of one that is not named). Weights start at zero.
    """

    def __init__(self, features: Sequence[Feature], names: Sequence[str] | None = None,
                 bias: bool = True, mask_padding: bool = True,
                 padding_codes: dict[str, int | None] | None = None):
        super().__init__()
        # A per-code weight is an embedding of size 1.
        scalar = [f if isinstance(f, DenseFeature) else replace(f, embed_dim=1) for f in features]
        self.weights = FeatureEmbedding(scalar, init_std=0.0, mask_padding=mask_padding,
                                        padding_codes=padding_codes)
        self.names = list(names) if names is not None else [f.name for f in features]
        n_dense = sum(isinstance(f, DenseFeature) for f in self.weights.select(self.names))
        self.dense_weight = nn.Parameter(torch.zeros(n_dense))               # (n_dense,)
        self.bias = nn.Parameter(torch.zeros(())) if bias else None

    def terms(self, x: dict) -> torch.Tensor:
        """Each field's first-order term: (B, F + n_dense), categorical fields first."""
        w, dense = self.weights(x, self.names)           # (B, F, 1) or None, (B, n_dense) or None
        parts = []
        if w is not None:
            parts.append(w.squeeze(-1))                                      # (B, F)
        if dense is not None:
            parts.append(dense * self.dense_weight)                          # (B, n_dense)
        return torch.cat(parts, dim=1)

    def forward(self, x: dict) -> torch.Tensor:
        out = self.terms(x).sum(dim=1)                                       # (B,)
        return out + self.bias if self.bias is not None else out


class FieldEmbedding(nn.Module):
    """Every input as a field with one D-vector: (B, F + n_dense, D).

    Categorical features are looked up as in :class:`FeatureEmbedding` (sequences pooled);
    a dense feature ``j`` becomes the field ``x_j * v_j`` with a learned vector ``v_j``,
    as real-valued variables enter an FM (Rendle 2010) and continuous fields enter DeepFM
    (Guo et al. 2017). Categorical fields must share one D; ``embed_dim`` sets D when
    there are only dense features. ``dense_fields=False`` builds no dense vectors (then
    :meth:`forward` refuses dense features; :attr:`embedding` ``.flat`` still has them).
    """

    def __init__(self, features: Sequence[Feature], embed_dim: int | None = None,
                 init_std: float = 1e-2, mask_padding: bool = True,
                 padding_codes: dict[str, int | None] | None = None, dense_fields: bool = True):
        super().__init__()
        self.embedding = FeatureEmbedding(features, init_std=init_std,
                                          mask_padding=mask_padding, padding_codes=padding_codes)
        dims = {f.embed_dim for f in self.embedding.sparse}
        self.dim = embed_dim if embed_dim is not None else (dims.pop() if len(dims) == 1 else 16)
        self.dense_index = {f.name: i for i, f in enumerate(self.embedding.dense)}
        self.vectors = None
        if dense_fields and self.dense_index:
            if len(dims) > 1 and embed_dim is None:
                raise ValueError("dense fields need one D: give embed_dim, or one embedding "
                                 "size to all categorical features")
            self.vectors = nn.Parameter(init_std * torch.randn(len(self.dense_index), self.dim))

    @property
    def n_fields(self) -> int:
        """F of :meth:`forward` over all features: categorical fields plus dense ones."""
        return self.embedding.n_fields + self.embedding.n_dense

    def width(self, names: Sequence[str] | None = None) -> int:
        """The width of ``forward(x, names).flatten(1)``: the sum of the fields' D."""
        feats = self.embedding.select(names)
        n_dense = sum(isinstance(f, DenseFeature) for f in feats)
        return self.embedding.flat_dim(names) + n_dense * (self.dim - 1)

    def forward(self, x: dict, names: Sequence[str] | None = None) -> torch.Tensor:
        emb, dense = self.embedding(x, names)   # (B, F, D) or None, (B, n_dense) or None
        parts = [] if emb is None else [emb]
        if dense is not None:
            if self.vectors is None:
                raise ValueError("this FieldEmbedding was built with dense_fields=False")
            selected = [f.name for f in self.embedding.select(names) if isinstance(f, DenseFeature)]
            v = self.vectors[[self.dense_index[n] for n in selected]]       # (n_dense, D)
            parts.append(dense.unsqueeze(-1) * v)                            # (B, n_dense, D)
        if not parts:
            raise ValueError("the model has no input features")
        return torch.cat(parts, dim=1)                                       # (B, F + n_dense, D)


class FMInteraction(nn.Module):
    """The FM second-order term sum_{i<j} <v_i, v_j> in O(F D) (Rendle 2010, Lemma 3.1):

        sum_{i<j} <v_i, v_j> = 1/2 * sum_d [ (sum_i v_id)^2 - sum_i v_id^2 ]

    (B, F, D) -> (B,). ``fm.pairwise_interactions`` is the O(F^2 D) loop it replaces.
    """

    def forward(self, fields: torch.Tensor) -> torch.Tensor:
        square_of_sum = fields.sum(dim=1) ** 2                               # (B, D)
        sum_of_squares = (fields ** 2).sum(dim=1)                            # (B, D)
        return 0.5 * (square_of_sum - sum_of_squares).sum(dim=1)             # (B,)


class InnerProduct(nn.Module):
    """PNN's inner-product layer (Qu et al. 2016): <v_i, v_j> for every pair i < j.

    (B, F, D) -> (B, F (F - 1) / 2), pairs in the order (0,1), (0,2), ..., (1,2), ...
    """

    def __init__(self, n_fields: int):
        super().__init__()
        rows, cols = torch.triu_indices(n_fields, n_fields, offset=1)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)

    def forward(self, fields: torch.Tensor) -> torch.Tensor:
        gram = fields @ fields.transpose(1, 2)                               # (B, F, F)
        return gram[:, self.rows, self.cols]                                 # (B, P)


class CrossNetwork(nn.Module):
    """DCN's cross network (Wang et al. 2017, eq. 3), on the stacked input x_0 (B, d):

        x_{l+1} = x_0 * (x_l . w_l) + b_l + x_l

    Each layer adds one degree of feature crossing with only 2 d parameters.
    """

    def __init__(self, input_dim: int, n_layers: int):
        super().__init__()
        bound = input_dim ** -0.5
        self.w = nn.Parameter(torch.empty(n_layers, input_dim).uniform_(-bound, bound))  # (n, d)
        self.b = nn.Parameter(torch.zeros(n_layers, input_dim))                          # (n, d)

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        x = x0                                                               # (B, d)
        for w, b in zip(self.w, self.b):
            x = x0 * (x @ w).unsqueeze(-1) + b + x                           # (B, d)
        return x
