"""The bridge to torch-rechub 0.9.0, the reference library (chapters 02, 03, 04 and 07).

* ``features``: our feature descriptions <-> torch-rechub's;
* ``models``: torch-rechub's departures from the papers (its DeepFM first-order term, raw
  dense values in the MLP, its WideDeep wide part, its per-feature DIN attention and its
  Dice) as models built from the course's layers;
* ``convert``: our ranking models from theirs with the weights copied, and ``dispatch``:
  :func:`from_rechub`, which picks the converter for any supported model;
* ``trainer``: training and scoring their models with their ``CTRTrainer``;
* ``multitask``: ESMM, MMoE and shared-bottom from theirs (chapter 07), torch-rechub's
  MMoE gate (``RechubGate``) and their output conventions.

This package imports the teaching models; they never import it. torch-rechub itself is
imported only when a function that needs it runs.
"""
from .dispatch import from_rechub  # noqa: F401
from .features import from_rechub_features, to_rechub_features  # noqa: F401
from .models import (RechubAttentionUnit, RechubDeepFM, RechubDice, RechubDIN,  # noqa: F401
                     RechubWideDeep)
from .trainer import predict_rechub, rechub_ranking_model, train_rechub_ctr  # noqa: F401
from .multitask import (RechubGate, esmm_from_rechub, mmoe_from_rechub,  # noqa: F401
                        rechub_esmm_outputs, rechub_outputs, shared_bottom_from_rechub)
