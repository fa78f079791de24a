"""``from_rechub(theirs)``: which converter builds our counterpart of a torch-rechub model.

The converters live beside the behaviour they select: ranking models in ``convert``,
multi-task models in ``multitask``; this module only dispatches on the model's class.
"""
from __future__ import annotations

from torch import nn

from .convert import dcn_from_rechub, deepfm_from_rechub, din_from_rechub, widedeep_from_rechub
from .multitask import esmm_from_rechub, mmoe_from_rechub, shared_bottom_from_rechub


def from_rechub(theirs: nn.Module) -> nn.Module:
    """Our counterpart of a torch-rechub model (ranking: ``DIN``, ``DeepFM``, ``WideDeep``,
    ``DCN``; multi-task: ``ESMM``, ``MMOE``, ``SharedBottom``), its behaviour selected and
    its weights copied; in the same train/eval mode. Ours returns logits: for the ranking
    models ``torch.sigmoid(ours(x))`` equals ``theirs(x)``; for the multi-task ones see
    :mod:`recsys_course.reference.multitask` (``rechub_outputs``, ``rechub_esmm_outputs``)."""
    from torch_rechub.models import multi_task, ranking

    converters = [(ranking.DIN, din_from_rechub), (ranking.DeepFM, deepfm_from_rechub),
                  (ranking.WideDeep, widedeep_from_rechub), (ranking.DCN, dcn_from_rechub),
                  (multi_task.ESMM, esmm_from_rechub), (multi_task.MMOE, mmoe_from_rechub),
                  (multi_task.SharedBottom, shared_bottom_from_rechub)]
    for their_class, convert in converters:
        if isinstance(theirs, their_class):
            return convert(theirs)
    raise TypeError(f"no counterpart for {type(theirs).__name__}; "
                    f"supported: {', '.join(c.__name__ for c, _ in converters)}")
