"""Plots of the series: training curves, attention heatmaps, accuracy against length.

Each function returns the ``matplotlib.figure.Figure`` and works headless.
Taught in ``notebooks/03_lstm_gru_seq2seq.ipynb`` (curves, length curve) and
``notebooks/05_bahdanau_attention.ipynb`` (heatmaps).
"""
from __future__ import annotations

import numbers
import pathlib

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns


def plot_history(history, *, title=None):
    """Loss and accuracy per epoch, train (solid) vs validation (dashed).

    ``history``: a ``keras.callbacks.History`` or its ``.history`` dict.
    """
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict) or "loss" not in logs:
        raise TypeError("history must be a keras History or a dict with a 'loss' list, "
                        f"got {type(history).__name__}")
    metrics = [k for k in logs if not k.startswith("val_")]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        epochs = np.arange(1, len(logs[metric]) + 1)
        ax.plot(epochs, logs[metric], marker="o", label="train")
        if f"val_{metric}" in logs:
            ax.plot(epochs, logs[f"val_{metric}"], marker="o", linestyle="--", label="validation")
        ax.set(xlabel="epoch", ylabel=metric.replace("_", " "))
        if metric == "loss":
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_attention(weights, source_tokens, output_tokens, *, titles=None, ncols=3, cmap="viridis"):
    """Attention heatmap(s): output steps down the rows, source tokens along the columns.

    One example: ``weights`` (out_len, src_len) with two lists of labels.  Several:
    ``weights`` (k, out_len, src_len) with ``source_tokens``/``output_tokens`` lists of
    k label lists; drawn as a grid sharing one colour scale (0 to 1).  A row shorter
    than the array (padding) is cropped to its labels.
    """
    weights = np.asarray(weights)
    if weights.dtype.kind != "f":
        raise TypeError(f"weights must hold floats, got dtype {weights.dtype}")
    if weights.ndim == 2:
        weights, source_tokens, output_tokens = weights[None], [source_tokens], [output_tokens]
        titles = None if titles is None else [titles] if isinstance(titles, str) else titles
    elif weights.ndim != 3:
        raise ValueError(f"weights must have rank 2 (out_len, src_len) or 3 (k, out_len, src_len), "
                         f"got shape {weights.shape}")
    k = weights.shape[0]
    for name, labels in (("source_tokens", source_tokens), ("output_tokens", output_tokens)):
        if len(labels) != k:
            raise ValueError(f"{name} must hold {k} label lists, one per heatmap, got {len(labels)}")
    if titles is not None and len(titles) != k:
        raise ValueError(f"titles must hold {k} titles, got {len(titles)}")
    for i in range(k):
        for name, labels, size in (("source_tokens", source_tokens[i], weights.shape[2]),
                                   ("output_tokens", output_tokens[i], weights.shape[1])):
            if len(labels) > size:
                raise ValueError(f"{name} of heatmap {i} has {len(labels)} labels, more than the "
                                 f"{size} that weights of shape {weights.shape} allow")
    if isinstance(ncols, bool) or not isinstance(ncols, numbers.Integral) or ncols < 1:
        raise ValueError(f"ncols must be an int >= 1, got {ncols!r}")

    ncols = min(ncols, k)
    nrows = -(-k // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols + 0.8, 3.3 * nrows), squeeze=False,
                             layout="constrained")  # keeps the axis labels of neighbours apart
    for i, ax in enumerate(axes.flat):
        if i >= k:
            ax.axis("off")
            continue
        rows, cols = len(output_tokens[i]), len(source_tokens[i])
        sns.heatmap(weights[i, :rows, :cols], ax=ax, vmin=0.0, vmax=1.0, cmap=cmap, cbar=False,
                    xticklabels=source_tokens[i], yticklabels=output_tokens[i], square=True)
        ax.set_xlabel("source")
        ax.set_ylabel("output")
        ax.tick_params(labelsize=7)
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    fig.colorbar(plt.cm.ScalarMappable(norm=plt.Normalize(0, 1), cmap=cmap), ax=axes, shrink=0.8,
                 label="attention weight")
    return fig


def plot_length_curve(results, *, metric="sequence", ylabel=None, train_max_len=None, title=None):
    """Accuracy against sequence length, one line per model.

    ``results``: ``{model_name: {length: accuracy}}`` or ``{model_name: {length: {metric: ...}}}``
    (the output of ``utils.metrics.accuracy_by_length``).  ``train_max_len`` shades the
    lengths beyond training.
    """
    if not isinstance(results, dict) or not results:
        raise TypeError("results must be a non-empty dict {model_name: {length: accuracy}}")
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for name, curve in results.items():
        if not isinstance(curve, dict) or not curve:
            raise TypeError(f"results[{name!r}] must be a non-empty dict {{length: accuracy}}")
        lengths = sorted(curve)
        if any(isinstance(curve[n], dict) and metric not in curve[n] for n in lengths):
            raise ValueError(f"metric must be a key of every entry of results[{name!r}], got {metric!r}")
        values = [curve[n][metric] if isinstance(curve[n], dict) else curve[n] for n in lengths]
        ax.plot(lengths, values, marker=".", label=name)
    if train_max_len is not None:
        ax.axvspan(train_max_len + 0.5, ax.get_xlim()[1], color="grey", alpha=0.15, label="longer than training")
    ax.set(xlabel="sequence length", ylabel=ylabel or f"{metric} accuracy", ylim=(-0.02, 1.02))
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


FIGURES_DIR = pathlib.Path(__file__).resolve().parent.parent / "docs" / "figures"


def save_figure(fig, name):
    """Save ``fig`` as ``docs/figures/<name>.png`` (the figures the README shows); returns the path."""
    if not isinstance(name, str) or not name or "/" in name or name.endswith(".png"):
        raise ValueError(f"name must be a bare file name without .png, got {name!r}")
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    path = FIGURES_DIR / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    return path
