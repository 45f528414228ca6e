"""Figure of ``brainsim compare``: torch and Brian2 confusion matrices, hidden spike counts of both,
and the accuracies. Agg backend, atomic write."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..io import save_figure  # noqa: E402


def comparison_figure(result: dict, path, torch_counts: np.ndarray | None = None,
                      brian2_counts: np.ndarray | None = None) -> Path:
    """Confusion matrices (torch, Brian2), hidden spike counts per stimulus and neuron (torch vs
    Brian2; arrays (n, n_hidden), left out when None) and accuracies. ``result``: the JSON summary
    of ``brainsim compare``."""
    fig, axes = plt.subplots(1, 4, figsize=(17, 4))
    for ax, key, title in ((axes[0], "torch_confusion", "torch"),
                           (axes[1], "brian2_confusion", f"Brian2 {result['neuron']} ({result['device']})")):
        conf = np.asarray(result[key], dtype=float)
        conf = conf / np.maximum(conf.sum(axis=1, keepdims=True), 1)
        im = ax.imshow(conf, origin="lower", cmap="viridis", vmin=0, vmax=1)
        ax.set_xlabel("Predicted class")
        ax.set_ylabel("True class")
        ax.set_title(f"{title}: accuracy {100 * result[key.replace('confusion', 'accuracy')]:.1f} %")
    fig.colorbar(im, ax=axes[1], fraction=0.046, label="Fraction of true class")
    ax = axes[2]
    if torch_counts is not None and brian2_counts is not None:
        a, b = np.ravel(torch_counts), np.ravel(brian2_counts)
        ax.scatter(a, b, s=4, alpha=0.3)
        top = max(1, a.max(), b.max())
        ax.plot([0, top], [0, top], "k--", lw=0.8)
        mean_r = result.get("hidden_count_correlation_mean")
        ax.set_title("Hidden spike counts per stimulus" + (f" (mean r = {mean_r:.3f})" if mean_r is not None else ""))
        ax.set_xlabel("torch spikes")
        ax.set_ylabel("Brian2 spikes")
    else:
        ax.set_axis_off()
    ax = axes[3]
    values = [100 * result["torch_accuracy"], 100 * result["brian2_accuracy"], 100 * result["identical_predictions"]]
    ax.bar(["torch\naccuracy", "Brian2\naccuracy", "identical\npredictions"], values,
           color=["C0", "C1", "C2"])
    for x, v in enumerate(values):
        ax.text(x, v + 1, f"{v:.1f}", ha="center")
    ax.set_ylim(0, 105)
    ax.set_ylabel("%")
    ax.set_title(f"{result['n_test']} test stimuli, seed {result['seed']}")
    fig.tight_layout()
    path = Path(path)
    save_figure(fig, path, dpi=100)
    plt.close(fig)
    return path
