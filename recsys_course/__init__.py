"""recsys_course: small, readable from-scratch implementations for the course book
"Ranking for recommender systems, from scratch".

Three rooms, data flowing one way (data -> features -> models -> train -> metrics):

The teaching room (what the chapters print):
    ``data``         loaders: MovieLens 100K and torch-rechub's sample files
    ``features``     feature descriptions, encoders fitted on train, splits, sequences
    ``tasks``        the MovieLens click-through task every model chapter trains on
    ``criteo``       the Criteo format, from raw rows to tensors (chapter 03)
    ``synthetic``    generators with planted truth (always labelled SYNTHETIC)
    ``models``       one model per file, read as its paper (``models.layers``: shared pieces)
    ``train``        ``fit``: a short loop with ``torch.optim.Adam``; ``predict``
    ``metrics``      AUC, GAUC, log loss, t intervals, ranking and business metrics
    ``experiments``  several seeds, paired comparisons, verdicts from the numbers
    ``funnel``       recall channels, pre-ranking, re-ranking (chapter 01)
    ``scale``        hashing, streaming, data-parallel training (chapter 05)
    ``plots``        the few plots chapters share
    ``utils``        smoke mode, versions, environment helpers
    ``exercises``    learners' self-checks per chapter; student copies and grading

The reference bridge: ``reference`` (torch-rechub's models as ours, ``from_rechub``,
its trainer). The fast path: ``perf`` (fast layer formulations, ``fit_fast``, the
benchmark of the appendix). Neither is imported by the teaching room.

``cli``: the instructors' ``recsys-course`` command.
"""
__version__ = "0.1.0"
