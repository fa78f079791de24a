"""Shared plots (recsys_course.plots)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from recsys_course import plots  # noqa: E402


# --- DIN ---
def test_attention_heatmap_draws_weights_with_labels():
    w = torch.tensor([[0.5, -0.2, 0.0], [1.0, 0.3, -1.5]])
    ax = plots.attention_heatmap(w, ["a", "b", "c"], ["cand 1", "cand 2"], title="t")
    image = ax.images[0]
    assert np.allclose(image.get_array(), w.numpy())
    assert image.norm.vmin == -1.5 and image.norm.vmax == 1.0          # the weights' range
    centred = plots.attention_heatmap(w, ["a", "b", "c"], ["x", "y"], centred=True).images[0]
    assert centred.norm.vmin == -1.5 and centred.norm.vmax == 1.5      # symmetric around 0
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cand 1", "cand 2"]
    assert len(ax.texts) == 6 and ax.get_title() == "t"
    plt.close("all")


def test_attention_heatmap_rejects_mismatched_labels():
    with pytest.raises(ValueError, match="labels"):
        plots.attention_heatmap(np.zeros((2, 3)), ["a", "b"], ["x", "y"])
    with pytest.raises(ValueError, match="shape"):
        plots.attention_heatmap(np.zeros(3), ["a", "b", "c"], ["x"])


def test_weights_by_match_marks_each_groups_mean():
    _, ax = plt.subplots()
    a, b = np.array([1.0, 2.0, 3.0]), np.array([-1.0, 0.0])
    plots.weights_by_match({"same": a, "other": b}, ax=ax)
    means = sorted(line.get_xdata()[0] for line in ax.lines)
    assert means == [-0.5, 2.0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["same", "other"]
    with pytest.raises(ValueError):
        plots.weights_by_match({"empty": np.array([])})
    plt.close("all")


# --- lineage ---
def test_loglog_slope_and_scaling_plot():
    n = np.array([4, 8, 16, 32, 64])
    quad, lin = 1e-6 * n ** 2.0, 1e-5 * n
    assert plots.loglog_slope(n, quad) == pytest.approx(2.0)
    flat_then_linear = np.where(n < 16, 1.6e-4, 1e-5 * n)
    assert plots.loglog_slope(n, flat_then_linear, fit_from=16) == pytest.approx(1.0)
    ax = plots.scaling_plot(n, {"lin": lin, "quad": quad}, fit_from=8, title="t")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["lin (slope 1.00 for n >= 8)", "quad (slope 2.00 for n >= 8)"]
    assert ax.get_xscale() == ax.get_yscale() == "log" and ax.get_title() == "t"
    plt.close("all")


def test_runs_plot_bars_dots_and_baselines():
    import pandas as pd
    runs = pd.DataFrame({"model": ["A"] * 3 + ["B"] * 3 + ["C"],
                         "auc": [0.70, 0.71, 0.72, 0.74, 0.75, 0.76, 0.73]})
    ax = plots.runs_plot(runs, "auc", baselines={"near": 0.69, "far": 0.2})
    assert [t.get_text() for t in ax.get_yticklabels()] == ["A", "B", "C"]
    assert len(ax.containers) == 2                      # error bars for A and B, none for C
    xerr_a = ax.containers[0].lines[2][0].get_segments()[0]  # (data, caps, bars)
    lo, hi = sorted(p[0] for p in xerr_a)
    from recsys_course.metrics import mean_ci
    assert (lo, hi) == pytest.approx(mean_ci([0.70, 0.71, 0.72])[1:])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["near"]   # drawn
    assert "far: 0.2000 (off the scale, to the left)" in ax.get_xlabel()     # written
    plt.close("all")


def test_pair_recovery_plot_colours_planted_pairs():
    import pandas as pd
    rec = pd.DataFrame({"planted": [True, True, False], "true": [1.0, -2.0, 0.0],
                        "learned": [0.9, -1.8, 0.1]})
    ax = plots.pair_recovery_plot(rec)
    sizes = [len(c.get_offsets()) for c in ax.collections]
    assert sizes == [1, 2]                            # unplanted first (grey), then planted
    assert ax.get_xlim() == pytest.approx((-2.1, 2.1))
    plt.close("all")
