"""Feature descriptions: ours <-> torch-rechub 0.9.0's. torch-rechub is imported when a
function runs, so importing this module does not need it."""
from __future__ import annotations

from typing import Sequence

from ..features import DenseFeature, Feature, SequenceFeature, SparseFeature


def rechub_features_module():
    try:
        from torch_rechub.basic import features as rf
    except ImportError as err:  # pragma: no cover - exercised only without the extra
        raise ImportError("torch-rechub is needed for this comparison: "
                          "pip install torch-rechub==0.9.0") from err
    return rf


def to_rechub_features(features: Sequence[Feature], padding_idx: int | None = 0) -> list:
    """Our feature descriptions -> torch-rechub's DenseFeature/SparseFeature/SequenceFeature.

    ``padding_idx=0`` makes torch-rechub ignore code 0 when it pools a sequence, as ours
    does; ``None`` reproduces torch-rechub's default, which counts padded positions.
    """
    rf = rechub_features_module()
    out = []
    for f in features:
        if isinstance(f, DenseFeature):
            out.append(rf.DenseFeature(f.name))
        elif isinstance(f, SparseFeature):
            out.append(rf.SparseFeature(f.name, vocab_size=f.vocab_size, embed_dim=f.embed_dim,
                                        shared_with=f.shared_with))
        elif isinstance(f, SequenceFeature):
            out.append(rf.SequenceFeature(f.name, vocab_size=f.vocab_size, embed_dim=f.embed_dim,
                                          pooling=f.pooling, shared_with=f.shared_with,
                                          padding_idx=padding_idx))
        else:
            raise TypeError(f"not a feature description: {f!r}")
    return out


def from_rechub_features(rechub_features: Sequence, max_len: int = 50) -> list[Feature]:
    """torch-rechub feature objects -> ours (the inverse of :func:`to_rechub_features`)."""
    rf = rechub_features_module()
    out: list[Feature] = []
    for f in rechub_features:
        if isinstance(f, rf.SequenceFeature):
            out.append(SequenceFeature(f.name, f.vocab_size, f.embed_dim, max_len=max_len,
                                       pooling=f.pooling, shared_with=f.shared_with))
        elif isinstance(f, rf.SparseFeature):
            out.append(SparseFeature(f.name, f.vocab_size, f.embed_dim, shared_with=f.shared_with))
        elif isinstance(f, rf.DenseFeature):
            out.append(DenseFeature(f.name))
        else:
            raise TypeError(f"not a torch-rechub feature: {f!r}")
    return out
