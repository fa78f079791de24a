"""A tiny click model and its data, shared by the training tests (test_train, test_perf)."""
import torch
from torch import nn


class TinyLR(nn.Module):
    def __init__(self, n_ids=20):
        super().__init__()
        self.w = nn.Embedding(n_ids, 1)
        self.bn = nn.BatchNorm1d(1)          # BatchNorm makes one-row batches fail

    def forward(self, x):
        return self.bn(self.w(x["id"])).squeeze(-1)


def _data(n=2000, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 20, (n,), generator=g)
    p = torch.sigmoid((ids.float() - 10) / 3)
    y = torch.bernoulli(p, generator=g)
    return {"id": ids}, y
