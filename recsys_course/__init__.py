"""recsys_course: small, readable from-scratch implementations for the course book
"Ranking for recommender systems, from scratch".

Modules: ``data`` (loaders), ``features`` (encoders, splits, sequences), ``models``
(one model per file), ``train`` (the training loop), ``metrics``, ``exercises``.
"""
__version__ = "0.1.0"
