"""The teaching room: one model per file, each read top to bottom as its paper.

Models take tensors and feature descriptions and return logits (B,); they import neither
data loading, training, the torch-rechub bridge (``recsys_course.reference``) nor the
fast path (``recsys_course.perf``).
"""
from .base_seq import BaseSeqModel  # noqa: F401  chapter 04
from .din import DIN, AttentionUnit  # noqa: F401  chapter 04
from .layers import Dice  # noqa: F401  chapter 04
from .lr import LR  # noqa: F401  chapter 02
from .fm import FM, pairwise_interactions  # noqa: F401  chapter 02
from .embedding_mlp import EmbeddingMLP  # noqa: F401  chapter 02
from .fnn import FNN  # noqa: F401  chapter 02
from .pnn import PNN  # noqa: F401  chapter 02
from .wide_deep import WideDeep  # noqa: F401  chapter 02
from .deepfm import DeepFM  # noqa: F401  chapters 02, 03
from .dcn import DCN  # noqa: F401  chapter 02
from .shared_bottom import SharedBottom  # noqa: F401  chapter 07
from .mmoe import MMoE  # noqa: F401  chapter 07
from .esmm import ESMM  # noqa: F401  chapter 07
