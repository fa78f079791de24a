"""recsys_course.experiments: seeds, interval verdicts, timing (chapter 02)."""
import numpy as np
import pandas as pd
import pytest
import torch

from recsys_course import metrics
from recsys_course.experiments import (compare_paired, count_params, difference_verdict, run_seeds,
                                       time_call)
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


def runs_of(values: dict) -> pd.DataFrame:
    return pd.DataFrame([(k, seed, v) for k, vs in values.items() for seed, v in enumerate(vs)],
                        columns=["model", "seed", "auc"])


def test_paired_comparison_separates_runs_that_overlapping_intervals_would_not():
    # B trails A by 0.001 on every seed while both move a lot with the seed: the
    # per-model intervals overlap widely, the paired differences are all -0.001.
    a = [0.70, 0.75, 0.80]
    runs = runs_of({"A": a, "B": [v - 0.001 for v in a]})
    summary = metrics.summarize_runs(runs, "model", "auc")
    assert summary.loc["B", "auc_ci_high"] > summary.loc["A", "auc_ci_low"]   # overlap
    v = compare_paired(runs, "model", "auc").iloc[0]
    assert (v.a, v.b, v.n_seeds) == ("A", "B", 3)
    assert v.diff_mean == pytest.approx(0.001) and v.diff_low > 0
    assert v.verdict.startswith("A beats B on auc (higher is better)")


def test_paired_comparison_says_not_separated_when_the_interval_holds_zero():
    runs = runs_of({"A": [0.80, 0.79, 0.81], "B": [0.79, 0.80, 0.805]})
    v = compare_paired(runs, "model", "auc").iloc[0]
    assert v.diff_low < 0 < v.diff_high
    assert "not separated" in v.verdict and "beats" not in v.verdict


def test_paired_comparison_reads_the_winner_off_the_sign_and_direction():
    runs = runs_of({"A": [0.50, 0.60, 0.70], "B": [0.52, 0.621, 0.719]})
    higher = compare_paired(runs, "model", "auc").iloc[0]
    assert higher.diff_high < 0 and higher.verdict.startswith("B beats A")
    lower = compare_paired(runs, "model", "auc", higher_is_better=False).iloc[0]
    assert lower.verdict.startswith("A beats B on auc (lower is better)")
    # the winner comes first, with winner - loser: a positive difference next to "beats"
    assert higher.diff_mean < 0 and f"B - A = {-higher.diff_mean:+.4f}" in higher.verdict


def test_paired_comparison_pairs_by_seed_and_with_fixed_baselines():
    runs = runs_of({"A": [0.80, 0.81, 0.82], "B": [0.70, 0.71], "C": [0.9]})
    v = compare_paired(runs, "model", "auc", fixed={"pop": 0.6}).set_index(["a", "b"])
    assert len(v) == 6                                           # 4 items, all pairs
    assert v.loc[("A", "B"), "n_seeds"] == 2                     # seeds 0 and 1 only
    assert v.loc[("A", "pop"), "n_seeds"] == 3 and v.loc[("A", "pop"), "diff_low"] > 0
    assert "no verdict" in v.loc[("A", "C"), "verdict"]          # one shared seed
    with pytest.raises(ValueError, match="columns not in the runs"):
        compare_paired(runs, "config", "auc")


def test_difference_verdict_never_names_a_winner_against_the_sign():
    for m, lo, hi in [(-0.0064, -0.0127, -0.0001), (0.003, 0.001, 0.005), (0.0, -0.1, 0.1)]:
        s = difference_verdict("p_watch", "product", (m, lo, hi), "NDCG@10")
        if hi < 0:
            assert s.startswith("product beats p_watch")
        elif lo > 0:
            assert s.startswith("p_watch beats product")
        else:
            assert "beats" not in s


def test_time_call_returns_a_positive_minimum():
    calls = []
    t = time_call(lambda: calls.append(1), repeat=3, number=2)
    assert t >= 0 and len(calls) == 1 + 3 * 2


def test_difference_verdict_of_a_neutral_quantity_says_larger_never_beats():
    s = difference_verdict("rho=0", "rho=1", (-0.2, -0.3, -0.1), "gate spread", higher_is_better=None)
    assert s.startswith("rho=1 is larger than rho=0 on gate spread: rho=1 - rho=0 = +0.2000")
    assert "beats" not in s and "better" not in s
    s = difference_verdict("a", "b", (0.0, -0.1, 0.1), "gate spread", higher_is_better=None)
    assert "not separated" in s
