"""FNN: an MLP over field vectors initialised from a trained FM.

Chapter: notebooks/02_feature_interactions.ipynb. Paper: Zhang, Du and Wang,
"Deep Learning over Multi-field Categorical Data", ECIR 2016.

Each field i is represented by z_i = (w_i, v_i): its FM first-order weight and latent
vector, so the input to the MLP is (B, F (1 + D)). The paper pre-trains an FM, copies
its w and v into these vectors (:meth:`FNN.from_fm`) and fine-tunes an MLP with tanh
units on top. (The paper also feeds the FM's global bias w_0, a constant for every row;
it only shifts the first layer's bias and is left out here.)
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..features import Feature
from .layers import MLP, FeatureLinear, FieldEmbedding


class FNN(nn.Module):
    """logit = MLP([z_1, ..., z_F]) with z_i = (w_i, v_i) (Zhang et al. 2016), logits (B,).

    ``features``: categorical features share one ``embed_dim`` D (dense features are
    fields x_j (w_j, v_j), as in :class:`~recsys_course.models.fm.FM`). ``mlp_dims``,
    ``dropout``, ``activation`` (the paper: tanh), ``batch_norm`` configure the MLP.
    """

    def __init__(self, features: Sequence[Feature], mlp_dims: Sequence[int] = (128, 64),
                 dropout: float = 0.2, activation: str = "tanh", batch_norm: bool = False,
                 embed_dim: int | None = None, init_std: float = 1e-2, mask_padding: bool = True):
        super().__init__()
        self.features = list(features)
        self.first_order = FeatureLinear(self.features, bias=False, mask_padding=mask_padding)
        self.fields = FieldEmbedding(self.features, embed_dim=embed_dim, init_std=init_std,
                                     mask_padding=mask_padding)
        self.mlp = MLP(self.fields.n_fields * (1 + self.fields.dim), mlp_dims, dropout,
                       activation, batch_norm)

    @classmethod
    def from_fm(cls, fm: nn.Module, **kwargs) -> "FNN":
        """An FNN over ``fm.features`` whose field vectors are a copy of the FM's w and v.

        ``kwargs`` go to the constructor (mlp_dims, dropout, activation, batch_norm).
        """
        model = cls(fm.features, embed_dim=fm.fields.dim, mask_padding=fm.mask_padding, **kwargs)
        model.fields.load_state_dict(fm.fields.state_dict())
        weights = {k: v for k, v in fm.first_order.state_dict().items() if k != "bias"}
        model.first_order.load_state_dict(weights)
        return model

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        w = self.first_order.terms(x).unsqueeze(-1)                          # (B, F, 1)
        v = self.fields(x)                                                   # (B, F, D)
        z = torch.cat([w, v], dim=-1).flatten(1)                            # (B, F (1 + D))
        return self.mlp(z).squeeze(-1)                                       # (B,)
