"""The trainer benchmark (recsys_course.perf.bench, appendix notebooks/06_benchmark.ipynb)."""
from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
import pytest
import torch

pytest.importorskip("torch_rechub")

from recsys_course.perf import bench  # noqa: E402
from recsys_course.train import fit, take  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_thread")

TINY = bench.Case("tiny-criteo", "criteo_like", "deepfm", rows=3_000, test_rows=1_000,
                  epochs=2, warmup_batches=1, batch_size=256, mlp_dims=(32, 16))


@pytest.fixture(scope="module")
def criteo_job():
    built = bench.build_case(TINY, seed=0)
    return {"case": bench.asdict(TINY), "seed": 0, "threads": 1, **built}


def _din_job(n=600, L=7, seed=0):
    """A small DIN job without MovieLens: random codes and histories."""
    from torch_rechub.basic import features as rf
    from torch_rechub.models import ranking
    g = torch.Generator().manual_seed(seed)
    x = {"user_id": torch.randint(2, 30, (n,), generator=g),
         "item_id": torch.randint(2, 40, (n,), generator=g),
         "genre": torch.randint(2, 8, (n,), generator=g),
         "hist_item_id": torch.randint(0, 40, (n, L), generator=g),
         "hist_genre": torch.randint(0, 8, (n, L), generator=g)}
    y = (torch.rand(n, generator=g) < 0.5).float()
    torch.manual_seed(seed)
    model = ranking.DIN([rf.SparseFeature("user_id", 30, 8)],
                        [rf.SequenceFeature("hist_item_id", 40, 8, pooling="concat",
                                            shared_with="item_id"),
                         rf.SequenceFeature("hist_genre", 8, 8, pooling="concat",
                                            shared_with="genre")],
                        [rf.SparseFeature("item_id", 40, 8), rf.SparseFeature("genre", 8, 8)],
                        mlp_params={"dims": [16, 8]},
                        attention_mlp_params={"dims": [12], "activation": "dice"})
    case = bench.Case("tiny-din", "movielens", "din", epochs=1, warmup_batches=1, batch_size=128)
    return {"case": bench.asdict(case), "seed": 0, "threads": 1, "rechub_model": model,
            "train": (take(x, torch.arange(n - 200)), y[:n - 200]),
            "test": (take(x, torch.arange(n - 200, n)), y[n - 200:])}


def test_criteo_case_has_the_asked_shape(criteo_job):
    info = criteo_job["info"]
    assert (info["sparse_fields"], info["dense_fields"]) == (26, 13)
    assert info["train_rows"] == 3_000 and info["test_rows"] == 1_000
    full = {c.name: c for c in bench.PRESETS["full"]}["criteo_like-1m-deepfm"]
    assert full.rows >= 1_000_000


@pytest.mark.parametrize("fast", [False, True])
@pytest.mark.parametrize("which", ["deepfm", "din"])
def test_ours_starts_from_the_same_function(criteo_job, which, fast):
    job = criteo_job if which == "deepfm" else _din_job()
    theirs = job["rechub_model"].eval()
    ours = bench.ours_from_rechub(theirs, fast=fast).eval()
    x = take(job["train"][0], torch.arange(64))
    with torch.no_grad():
        assert torch.allclose(torch.sigmoid(ours(x)), theirs(x), atol=1e-6)
    assert (sum(p.numel() for p in ours.parameters())
            == sum(p.numel() for p in theirs.parameters()))


@pytest.mark.parametrize("which", ["deepfm", "din"])
def test_flops_from_layer_sizes_match_torch_flop_counter(criteo_job, which):
    job = criteo_job if which == "deepfm" else _din_job()
    model = job["rechub_model"]
    x = take(job["train"][0], torch.arange(128))
    from_sizes = bench.train_step_flops(bench.linear_shapes(model.eval(), x))
    counted = bench.counted_train_step_flops(model.train(), x)
    assert from_sizes == pytest.approx(counted, rel=1e-6)
    if which == "deepfm":   # 429 inputs -> 32 -> 16 -> 1, plus the first-order Linear(416, 1)
        assert from_sizes == 6 * 128 * (429 * 32 + 32 * 16 + 16 + 416)
    else:                   # the attention MLP runs on every history position (L = 7)
        rows = {r for r, _, _ in bench.linear_shapes(model.eval(), x)}
        assert 128 * 7 in rows


def test_matmul_speed_is_measured():
    assert bench.matmul_gflops([(64, 32, 16)], min_seconds=0.05) > 0


def test_fit_order_sampler_reproduces_fit():
    """A DataLoader with FitOrder visits the rows in fit's order, epoch after epoch."""
    n, bs = 50, 16
    x = {"id": torch.arange(n)}
    seen = []

    class Recorder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, batch):
            seen.append(batch["id"].clone())
            return self.w.expand(len(batch["id"]))

    fit(Recorder(), (x, torch.zeros(n)), epochs=2, batch_size=bs, seed=5, progress=False)
    loader = torch.utils.data.DataLoader(list(range(n)), batch_size=bs,
                                         sampler=bench.FitOrder(n, 5))
    theirs = [b for _ in range(2) for b in loader]
    assert len(theirs) == len(seen)
    assert all(torch.equal(a, b) for a, b in zip(seen, theirs))


def test_all_trainers_run_and_agree_in_process(criteo_job, tmp_path):
    rows = []
    for trainer in bench.TRAINERS:
        job = dict(criteo_job, rechub_model=bench._clone(criteo_job["rechub_model"]))
        out = bench.run_one(job, trainer)
        out.update(criteo_job["info"], data="criteo_like", model="deepfm", batch_size=256,
                   epochs=2, isolated=False, wall_seconds=0.0)
        rows.append(out)
    rechub, plain, ours = rows
    assert [r["trainer"] for r in rows] == ["rechub", "plain", "ours"]
    for r in rows:
        assert len(r["epoch_seconds"]) == 2 and r["warmup_seconds"] > 0
        assert r["samples_per_second"] > 0 and 0 < r["fraction_of_bound"] < 1.5
        assert r["peak_rss_mb"] > 0 and r["flops_per_sample"] > 0
    # same weights, rows and order: the AUCs differ by float rounding only, which over
    # 2 epochs of 12 steps moves a 1,000-row AUC by far less than 0.01
    assert abs(ours["auc"] - rechub["auc"]) < 0.01
    assert abs(plain["auc"] - rechub["auc"]) < 0.01
    summary = bench.summarize_case(rechub, ours, plain)
    assert summary["plain_ratio"] == pytest.approx(plain["samples_per_second"]
                                                   / rechub["samples_per_second"])
    res = bench.Result(rows=rows, summary=[summary],
                       meta={"load_before": "0", "load_after": "0", "cpus": 1})
    paths = bench.write_results(res, tmp_path)
    for key in ("results", "summary", "plot", "meta"):
        assert paths[key].exists() and paths[key].stat().st_size > 0
    text = bench.table(res)
    assert "rechub" in text and "plain" in text and "ours" in text and "x" in text
    said = bench.verdicts(res)
    assert "teaching path vs torch-rechub" in said and "fast path vs teaching path" in said


def test_an_isolated_run_reports_its_own_peak_memory(tmp_path):
    job = _din_job()
    path = tmp_path / "job.pt"
    torch.save(job, path)
    out = bench._run_isolated(path, "ours", bench._worker_env(1), timeout=300)
    assert out["trainer"] == "ours" and out["peak_since"] == "start of training"
    assert out["peak_rss_mb"] >= out["base_rss_mb"] > 50
    assert 0 <= out["auc"] <= 1


def test_din_profile_names_operations():
    text = bench.profile_run(_din_job(), "rechub", steps=2, top=5)
    assert "cProfile" in text and "torch.profiler" in text and "aten::" in text


def test_verdicts_read_the_direction_from_the_numbers():
    r = {"case": "c", "train_rows": 1, "fraction_of_bound": 0.1, "peak_rss_mb": 1.0}
    s = bench.summarize_case(dict(r, samples_per_second=100.0, auc=0.7),
                             dict(r, samples_per_second=95.0, auc=0.7),
                             dict(r, samples_per_second=120.0, auc=0.7))
    text = bench.verdicts(bench.Result(summary=[s]))
    assert "teaching path vs torch-rechub 1.20x, faster" in text
    assert "fast path vs teaching path 0.79x, slower" in text
    assert "fast path vs torch-rechub 0.95x, slower" in text


def test_ingredient_verdicts_report_a_cost_as_a_cost():
    def row(name, sps, rates):
        return {"case": "c", "trainer": name, "samples_per_second": sps,
                "epoch_samples_per_second": rates,
                "spread": (max(rates) - min(rates)) / sps}
    rows = [row("base", 100.0, [99, 100, 101]), row("+ a", 95.0, [94, 95, 96]),
            row("+ b", 96.0, [80, 96, 110]), row("+ c", 130.0, [129, 130, 131])]
    for before, r in zip([None] + rows[:-1], rows):
        r["speed_up"] = r["samples_per_second"] / 100.0
        r["step_change"] = 1.0 if before is None else r["samples_per_second"] / before["samples_per_second"]
    text = bench.ingredient_verdicts(rows).splitlines()
    assert "0.95x, slower" in text[0]
    assert "no change we can tell" in text[1]
    assert "1.35x, faster" in text[2]
    assert "1.30x the teaching path, faster" in text[3]
    other = [dict(r, case="d") for r in rows[:2]]
    other[1]["epoch_samples_per_second"] = [95.0]
    text = bench.ingredient_verdicts(rows + other).splitlines()
    assert len(text) == 3 + 1 + 2                   # no comparison across cases
    assert "one timed epoch" in text[3]
    assert text[-1].startswith("d: all ingredients together: 0.95x")


def test_verdicts_say_by_how_much_a_target_is_missed():
    r = {"case": "c", "train_rows": 1, "fraction_of_bound": 0.1, "peak_rss_mb": 1.0}
    s = bench.summarize_case(dict(r, samples_per_second=100.0, auc=0.700),
                             dict(r, samples_per_second=250.0, auc=0.708))
    assert s["ratio"] == pytest.approx(2.5)
    assert s["ratio_verdict"].startswith("MISSED by 0.50x")
    assert s["auc_verdict"].startswith("MISSED by 0.0030") and not s["met"]
    s = bench.summarize_case(dict(r, samples_per_second=100.0, auc=0.700),
                             dict(r, samples_per_second=320.0, auc=0.702))
    assert s["met"] and s["ratio_verdict"] == "met"


def test_case_selection_and_overrides():
    cases = bench.select_cases("full", "criteo_like-1m-deepfm", rows=2_000, epochs=1)
    assert [(c.name, c.rows, c.epochs) for c in cases] == [("criteo_like-1m-deepfm", 2_000, 1)]
    with pytest.raises(SystemExit):
        bench.select_cases("full", "nope")


def test_command_line_runs_a_case_in_process(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(bench.PRESETS, "smoke", [replace(TINY, epochs=1)])
    assert bench.main(["--preset", "smoke", "--in-process", "--threads", "1",
                       "--profile", "never", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "samples/s" in out and "ratio fast/rechub" in out and "plain/rechub" in out
    assert "AUC" in out
    assert (tmp_path / "results.csv").exists() and (tmp_path / "bench.png").exists()


def test_the_cli_knows_the_bench_command():
    from recsys_course import cli
    helptext = cli._parser().format_help()
    assert "bench" in helptext


def test_worker_environment_is_the_same_for_both_trainers(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")            # e.g. from the Makefile
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "12345")       # the caller's choice stays
    env = bench._worker_env(2)
    assert "OMP_WAIT_POLICY" not in env                         # the library's default
    assert env["OMP_NUM_THREADS"] == "2"
    assert env["MALLOC_MMAP_THRESHOLD_"] == "12345"
    assert env["MALLOC_TRIM_THRESHOLD_"] == bench.MALLOC_ENV["MALLOC_TRIM_THRESHOLD_"]
    assert bench._worker_env(1, "passive")["OMP_WAIT_POLICY"] == "PASSIVE"
    with pytest.raises(ValueError, match="omp_wait_policy"):
        bench._worker_env(1, "sometimes")


def test_compile_flag_reaches_the_course_trainer(criteo_job):
    """--compile (the default when a compiler exists) trains ours through torch.compile."""
    if not bench.can_compile():
        pytest.skip("no C++ compiler")
    job = dict(criteo_job, compile=True, rechub_model=bench._clone(criteo_job["rechub_model"]))
    out = bench.run_one(job, "ours")
    assert out["compiled"] is True and out["auc"] > 0.5
    assert bench.run_one(dict(job, compile=False), "rechub")["compiled"] is False


def test_ingredients_add_one_at_a_time_from_the_same_weights():
    rows = bench.ingredients(TINY, batches=3, epochs=1, threads=1, compile=False,
                             isolate=False)
    names = [name for name, _ in bench.INGREDIENTS]
    # no compiling: the eager rows; DeepFM has no layer with a fast formulation, so the
    # fast-layers row (which would time the same model twice) is left out
    assert [r["trainer"] for r in rows] == [names[0], names[2]]
    assert rows[0]["trainer"].startswith("teaching path")
    assert [r["flat"] for r in rows] == [False, True]
    assert rows[0]["speed_up"] == 1.0 and rows[0]["step_change"] == 1.0
    assert rows[1]["step_change"] == pytest.approx(rows[1]["samples_per_second"]
                                                   / rows[0]["samples_per_second"])
    assert all(r["rows"] == 3 * TINY.batch_size and r["samples_per_second"] > 0 for r in rows)
    # each ingredient adds to the ones before it
    for (_, before), (_, after) in zip(bench.INGREDIENTS, bench.INGREDIENTS[1:]):
        assert sum(after.values()) == sum(before.values()) + 1
