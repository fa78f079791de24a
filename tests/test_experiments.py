"""recsys_course.experiments: seeds, interval verdicts, timing (chapter 02)."""
import numpy as np
import pandas as pd
import pytest
import torch

from recsys_course import metrics
from recsys_course.experiments import compare_intervals, count_params, run_seeds, time_call
from recsys_course.features import SparseFeature
from recsys_course.models import FM, LR
from recsys_course.tasks import CTRTask


def tiny_task(n=600, seed=0) -> CTRTask:
    g = torch.Generator().manual_seed(seed)
    feats = [SparseFeature("user_id", 12, 4), SparseFeature("item", 9, 4)]

    def part(m):
        u, i = torch.randint(2, 12, (m,), generator=g), torch.randint(2, 9, (m,), generator=g)
        y = torch.bernoulli(torch.where(u % 2 == 0, 0.8, 0.2), generator=g)
        return {"user_id": u, "item": i}, y

    parts = {s: part(m) for s, m in (("train", n), ("valid", 200), ("test", 300))}
    frame = pd.concat([pd.DataFrame({"user_id": parts[s][0]["user_id"].numpy(), "split": s})
                       for s in parts], ignore_index=True)
    return CTRTask(frame, feats, None, parts["train"], parts["valid"], parts["test"])


def test_run_seeds_rows_reproducibility_and_models():
    task = tiny_task()
    kept = {}
    kw = dict(epochs=2, batch_size=128, lr=0.05)
    a = run_seeds(lambda s: FM(task.features), task, [0, 1], models=kept, **kw)
    b = run_seeds(lambda s: FM(task.features), task, [0, 1], **kw)
    assert list(a.columns) == ["seed", "auc", "logloss", "gauc", "seconds", "epochs",
                               "best_epoch", "n_params"]
    assert a.seed.tolist() == [0, 1] and set(kept) == {0, 1}
    pd.testing.assert_frame_equal(a.drop(columns="seconds"), b.drop(columns="seconds"))
    assert a.auc.iloc[0] != a.auc.iloc[1]                       # the seed matters
    assert (a.n_params == count_params(kept[0])).all()
    assert a.auc.between(0.6, 1.0).all() and (a.best_epoch >= 1).all()
    # the row's AUC is the kept model's test AUC
    from recsys_course.train import predict
    p = predict(kept[1], task.test[0])
    assert a.auc.iloc[1] == pytest.approx(metrics.auc(task.test[1].numpy(), p))


def test_count_params_counts_shared_tables_once():
    feats = [SparseFeature("a", 10, 3), SparseFeature("b", 10, 3, shared_with="a")]
    assert count_params(LR(feats)) == 10 + 1


def summary_of(values: dict) -> pd.DataFrame:
    runs = pd.DataFrame([(k, v) for k, vs in values.items() for v in vs], columns=["model", "auc"])
    return metrics.summarize_runs(runs, "model", "auc")


def test_compare_intervals_verdicts():
    s = summary_of({"A": [0.80, 0.801, 0.802], "B": [0.70, 0.701, 0.702],
                    "C": [0.79, 0.80, 0.81], "D": [0.5]})
    v = compare_intervals(s, "auc", fixed={"pop": 0.6}).set_index(["a", "b"])
    assert v.loc[("A", "B"), "verdict"] == \
        "A beats B (higher auc; the intervals do not overlap)"
    assert v.loc[("A", "C"), "overlap"] == True  # noqa: E712
    assert "do not separate" in v.loc[("A", "C"), "verdict"]
    assert np.isnan(v.loc[("A", "D"), "overlap"]) and "no verdict" in v.loc[("A", "D"), "verdict"]
    assert v.loc[("B", "pop"), "verdict"].startswith("B beats pop")
    assert len(v) == 10                                          # 5 items, all pairs
    # lower is better: the ranking flips
    lower = compare_intervals(s, "auc", higher_is_better=False).set_index(["a", "b"])
    assert lower.loc[("A", "B"), "verdict"].startswith("B beats A (lower auc")


def test_time_call_returns_a_positive_minimum():
    calls = []
    t = time_call(lambda: calls.append(1), repeat=3, number=2)
    assert t >= 0 and len(calls) == 1 + 3 * 2
