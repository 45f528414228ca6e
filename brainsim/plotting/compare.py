"""Figure of ``brainsim compare``: torch and Brian2 confusion matrices, hidden spike counts of both,
and the accuracies. Agg backend, atomic write."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import save_figure
from . import pyplot

plt = pyplot()


def comparison_plot(result: dict, torch_counts: np.ndarray | None = None, brian2_counts: np.ndarray | None = None):
    """The Figure of :func:`comparison_figure`."""
    from .ipd import draw_confusion

    n = result["n_test"]
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.3))
    for ax, key, title in ((axes[0], "torch_confusion", "torch"),
                           (axes[1], "brian2_confusion", f"Brian2 {result['neuron']} ({result['device']})")):
        im = draw_confusion(ax, result[key])
        ax.set_title(f"{title}: accuracy {100 * result[key.replace('confusion', 'accuracy')]:.1f} %, n = {n}",
                     fontsize=10)
    fig.colorbar(im, ax=axes[1], fraction=0.046, label="Fraction of true class")
    ax = axes[2]
    if torch_counts is not None and brian2_counts is not None:
        a, b = np.ravel(torch_counts), np.ravel(brian2_counts)
        ax.scatter(a, b, s=4, alpha=0.3, label="one hidden neuron on one stimulus")
        top = max(1, a.max(), b.max())
        ax.plot([0, top], [0, top], "k--", lw=0.8, label="Brian2 = torch")
        ratio = result.get("hidden_spike_ratio")
        if ratio:
            ax.plot([0, top], [0, ratio * top], color="C3", lw=0.8,
                    label=f"Brian2 = {ratio:.2f} x torch (the totals' ratio)")
        mean_r = result.get("hidden_count_correlation_mean")
        ax.set_title(f"Hidden spikes: torch {result['torch_hidden_spikes']:,}, Brian2 {result['brian2_hidden_spikes']:,}"
                     + (f"\nper-neuron count correlation {mean_r:.3f}" if mean_r is not None else ""), fontsize=10)
        ax.set_xlabel("torch spikes (per stimulus and hidden neuron)")
        ax.set_ylabel("Brian2 spikes")
        ax.legend(loc="upper left", fontsize=7)
    else:
        ax.set_axis_off()
    ax = axes[3]
    values = [100 * result["torch_accuracy"], 100 * result["brian2_accuracy"], 100 * result["identical_predictions"]]
    ax.bar(["torch\naccuracy", "Brian2\naccuracy", "identical\npredictions"], values,
           color=["C0", "C1", "C2"])
    for x, v in enumerate(values):
        ax.text(x, v + 1, f"{v:.1f}", ha="center")
    ax.set_ylim(0, 105)
    ax.set_xlabel("measure")
    ax.set_ylabel("% of the test stimuli")
    ax.set_title(f"n = {n} test stimuli, seed {result['seed']}", fontsize=10)
    fig.tight_layout()
    return fig


def comparison_figure(result: dict, path, torch_counts: np.ndarray | None = None,
                      brian2_counts: np.ndarray | None = None) -> Path:
    """Confusion matrices (torch, Brian2; rows: true class, columns: predicted, as ``ipd analyse``
    draws them), hidden spike counts per stimulus and neuron (torch vs Brian2, with the totals and
    their ratio; arrays (n, n_hidden), left out when None) and accuracies. ``result``: the JSON summary
    of ``brainsim compare``."""
    fig = comparison_plot(result, torch_counts, brian2_counts)
    path = Path(path)
    save_figure(fig, path, dpi=100)
    plt.close(fig)
    return path
