"""The fast path (appendix, notebooks/06_benchmark.ipynb): the same training and the same
models as the teaching code, computed faster. Each piece has a test that it equals the
teaching version (tests/test_perf.py). Nothing in the teaching code imports this package.

* ``fast_layers``: faster formulations of DIN's attention unit and of Dice, swapped into
  a model in place by ``speed_up(model)``;
* ``train``: ``fit_fast``, the teaching ``fit`` with ``FlatAdam`` (one Adam update over a
  flat vector), a compiled loss and deterministic kernels;
* ``bench``: the benchmark against torch-rechub (``python -m recsys_course.perf.bench``).
"""
