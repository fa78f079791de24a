"""The fast path (appendix, notebooks/06_benchmark.ipynb): the same training and the same
models as the teaching code, computed faster. Each piece has a test that it equals the
teaching version. Nothing in the teaching code imports this package.
"""
