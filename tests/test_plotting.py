"""Tests of utils.plotting, headless (Agg).  The numbers behind each plot are checked, not the pixels."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from utils import plotting  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _heatmap_axes(fig):
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>" and ax.collections]


def _colorbars(fig):
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


def _labels(ticklabels):
    return [t.get_text() for t in ticklabels]


# --------------------------------------------------------------------------- plot_history
LOGS = {"loss": [1.0, 0.5, 0.25], "masked_accuracy": [0.3, 0.6, 0.9],
        "val_loss": [1.1, 0.6, 0.3], "val_masked_accuracy": [0.25, 0.55, 0.85]}


class FakeHistory:
    """What keras.Model.fit returns, as far as plot_history cares."""

    def __init__(self, history):
        self.history = history


@pytest.mark.parametrize("history", [LOGS, FakeHistory(LOGS)], ids=["dict", "History"])
def test_plot_history(history):
    fig = plotting.plot_history(history, title="a run")
    assert isinstance(fig, Figure)
    axes = fig.axes
    assert [ax.get_ylabel() for ax in axes] == ["loss", "masked accuracy"]
    for ax, metric in zip(axes, ["loss", "masked_accuracy"]):
        train, validation = ax.get_lines()
        assert train.get_xdata().tolist() == [1, 2, 3]
        assert train.get_ydata().tolist() == LOGS[metric]
        assert validation.get_ydata().tolist() == LOGS[f"val_{metric}"]
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "validation"]
    assert axes[0].get_yscale() == "log"
    assert fig._suptitle.get_text() == "a run"


def test_plot_history_without_validation():
    fig = plotting.plot_history({"loss": [0.9, 0.4]})
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    assert len(fig.axes[0].get_lines()) == 1


# --------------------------------------------------------------------------- plot_attention
def test_plot_attention_single_example():
    weights = np.array([[0.1, 0.2, 0.7],
                        [0.3, 0.6, 0.1],
                        [0.8, 0.1, 0.1],
                        [0.4, 0.3, 0.3]], dtype=np.float32)  # (out_len 4, src_len 3)
    fig = plotting.plot_attention(weights, ["a", "b", "c"], ["c", "b", "a", "<eos>"], titles="one")
    assert isinstance(fig, Figure)
    (ax,) = _heatmap_axes(fig)
    mesh = ax.collections[0]
    assert mesh.get_clim() == (0.0, 1.0)
    assert np.allclose(np.asarray(mesh.get_array()).reshape(4, 3), weights)
    assert _labels(ax.get_xticklabels()) == ["a", "b", "c"]
    assert _labels(ax.get_yticklabels()) == ["c", "b", "a", "<eos>"]
    assert ax.get_title() == "one"
    assert len(_colorbars(fig)) == 1


def test_plot_attention_grid_shares_one_colour_scale():
    rng = np.random.default_rng(0)
    weights = rng.random((4, 6, 5)).astype(np.float32) * 0.5  # max below 1: autoscaling would differ
    weights[1] *= 0.2
    sources = [list("abcde"), list("abc"), list("abcd"), list("ab")]       # shorter rows are cropped
    outputs = [list("edcba") + ["<eos>"], list("cba") + ["<eos>"], list("dcba"), list("ba")]
    fig = plotting.plot_attention(weights, sources, outputs, titles=[f"ex {i}" for i in range(4)], ncols=3)
    assert isinstance(fig, Figure)
    heatmaps = _heatmap_axes(fig)
    assert len(heatmaps) == 4
    assert sum(not ax.axison for ax in fig.axes) == 2  # a 2 x 3 grid, two cells left empty
    for i, ax in enumerate(heatmaps):
        mesh = ax.collections[0]
        assert mesh.get_clim() == (0.0, 1.0), i  # shared scale 0..1
        rows, cols = len(outputs[i]), len(sources[i])
        assert np.allclose(np.asarray(mesh.get_array()).reshape(rows, cols), weights[i, :rows, :cols])
        assert _labels(ax.get_xticklabels()) == sources[i]
        assert _labels(ax.get_yticklabels()) == outputs[i]
        assert ax.get_title() == f"ex {i}"
    (colorbar,) = _colorbars(fig)  # one colour bar for the whole grid
    assert colorbar.get_ylabel() == "attention weight"
    assert colorbar.get_ylim() == (0.0, 1.0)


def test_plot_attention_grid_in_one_row():
    weights = np.full((2, 3, 3), 1 / 3)
    fig = plotting.plot_attention(weights, [list("abc")] * 2, [list("cba")] * 2)
    assert len(_heatmap_axes(fig)) == 2 and len(fig.axes) == 3  # two heatmaps and a colour bar


# --------------------------------------------------------------------------- plot_length_curve
def test_plot_length_curve_with_plain_accuracies():
    results = {"gru": {3: 1.0, 1: 1.0, 2: 0.5}, "attention": {1: 1.0, 2: 1.0, 3: 0.75}}
    fig = plotting.plot_length_curve(results, train_max_len=2, title="curves")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    gru, attention = ax.get_lines()
    assert gru.get_xdata().tolist() == [1, 2, 3] and gru.get_ydata().tolist() == [1.0, 0.5, 1.0]
    assert attention.get_ydata().tolist() == [1.0, 1.0, 0.75]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["gru", "attention", "longer than training"]
    assert ax.get_ylabel() == "sequence accuracy" and ax.get_title() == "curves"


def test_plot_length_curve_with_accuracy_by_length_output():
    results = {"lstm": {1: {"token": 0.9, "sequence": 0.8, "count": 100},
                        2: {"token": 0.7, "sequence": 0.4, "count": 100}}}
    fig = plotting.plot_length_curve(results)
    assert fig.axes[0].get_lines()[0].get_ydata().tolist() == [0.8, 0.4]
    fig = plotting.plot_length_curve(results, metric="token", ylabel="token accuracy")
    ax = fig.axes[0]
    assert ax.get_lines()[0].get_ydata().tolist() == [0.9, 0.7]
    assert ax.get_ylabel() == "token accuracy"


# --------------------------------------------------------------------------- save_figure
def test_save_figure_writes_a_reproducible_png(tmp_path, monkeypatch):
    monkeypatch.setattr(plotting, "FIGURES_DIR", tmp_path / "figures")
    fig = plotting.plot_length_curve({"gru": {1: 1.0, 2: 0.5}})
    path = plotting.save_figure(fig, "length_curve")
    assert path == tmp_path / "figures" / "length_curve.png"
    first = path.read_bytes()
    assert first.startswith(b"\x89PNG")
    plotting.save_figure(fig, "length_curve")
    assert path.read_bytes() == first  # no timestamp or version stamped in: same figure, same bytes
