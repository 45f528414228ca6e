"""Figures of the IPD experiments (seeds 000/002): loss curve, true/estimated IPD histograms,
confusion matrix, weight matrices (raw, sorted by weighted mean, W1W2), per-ear W1 profiles of
hidden neurons, output traces, and box plots of repeated runs. Agg backend, atomic writes."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..io import save_figure  # noqa: E402


def _save(fig, path) -> Path:
    path = Path(path)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
    plt.close(fig)
    return path


def loss_curve(history: list[dict], path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    if history:
        epochs = [h["epoch"] for h in history]
        ax.plot(epochs, [h["loss"] for h in history], marker="o")
    ax.set_xlabel("Epoch")
    ax.set_ylabel("Training loss")
    ax.set_title("Loss curve")
    return _save(fig, path)


def ipd_histograms(ipd_true_rad, ipd_est_rad, classes, path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    bins = np.degrees(np.linspace(classes.low, classes.high, classes.n_classes + 1))
    ax.hist(np.degrees(ipd_true_rad), bins=bins, label="True", alpha=0.7)
    ax.hist(np.degrees(ipd_est_rad), bins=bins, label="Estimated", alpha=0.7)
    ax.set_xlabel("IPD (deg)")
    ax.set_yticks([])
    ax.legend(loc="best")
    ax.set_title("True and estimated IPD (test)")
    return _save(fig, path)


def confusion_matrix(confusion, classes, path) -> Path:
    """Estimated vs true class (columns normalised per true class, as in the seeds)."""
    c = np.asarray(confusion, dtype=float).T  # rows: estimated, columns: true
    col = c.sum(axis=0, keepdims=True)
    c = np.divide(c, col, out=np.zeros_like(c), where=col > 0)
    lo, hi = np.degrees(classes.low), np.degrees(classes.high)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    im = ax.imshow(c, interpolation="nearest", aspect="auto", origin="lower", extent=(lo, hi, lo, hi))
    fig.colorbar(im, ax=ax, label="Fraction of true class")
    ax.set_xlabel("True IPD (deg)")
    ax.set_ylabel("Estimated IPD (deg)")
    ax.set_title("Confusion matrix")
    return _save(fig, path)


def _imshow(ax, fig, w, title, xlabel, ylabel):
    im = ax.imshow(w, interpolation="nearest", aspect="auto", origin="lower")
    fig.colorbar(im, ax=ax)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


def weight_matrices(w1, w2, path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    _imshow(axes[0], fig, w1, "$W_1$", "Hidden neuron index", "Input neuron index")
    _imshow(axes[1], fig, w2, "$W_2$", "Output neuron index", "Hidden neuron index")
    return _save(fig, path)


def single_weight_matrix(w, path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 4))
    _imshow(ax, fig, w, "$W$ (membrane-only)", "Output neuron index", "Input neuron index")
    return _save(fig, path)


def sort_by_weighted_mean(w1, min_peak: float = 0.5) -> np.ndarray:
    """Order of hidden neurons by the weighted mean input index of their W1 column (the seeds'
    ordering); neurons whose largest |weight| is below ``min_peak`` go last."""
    index = np.arange(w1.shape[0])[:, None]
    weighted_mean = np.mean(index * w1, axis=0)
    weighted_mean = np.where(np.max(np.abs(w1), axis=0) < min_peak, np.inf, weighted_mean)
    return np.argsort(weighted_mean, kind="stable")


def weights_sorted(w1, w2, path) -> Path:
    order = sort_by_weighted_mean(w1)
    w1s, w2s = w1[:, order], w2[order, :]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    _imshow(axes[0], fig, w1s, "$W_1$ (sorted by weighted mean)", "Hidden neuron (sorted)", "Input neuron index")
    _imshow(axes[1], fig, w2s, "$W_2$ (same order)", "Output neuron index", "Hidden neuron (sorted)")
    _imshow(axes[2], fig, w1s @ w2s, "$W_1 W_2$", "Output neuron index", "Input neuron index")
    return _save(fig, path)


def w1_ear_profiles(w1, stimulus, path, max_neurons: int = 15) -> Path:
    """W1 weights of individual hidden neurons against the fibres' phase delays, one curve per ear."""
    n_a = stimulus.fibres_per_ear
    peak = np.max(np.abs(w1), axis=0)
    chosen = [j for j in sort_by_weighted_mean(w1) if peak[j] >= 0.5][:max_neurons]
    if not chosen:  # weak weights: show the strongest neurons instead
        chosen = list(np.argsort(-peak)[:max_neurons])
    delays_deg = np.degrees(stimulus.fibre_phase_delays[:n_a])
    cols = 5
    rows = max(1, int(np.ceil(len(chosen) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(12, 2.4 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.set_visible(False)
    for ax, j in zip(axes.ravel(), chosen):
        ax.set_visible(True)
        ax.plot(delays_deg, w1[:n_a, j], label="Ear 0")
        ax.plot(delays_deg, w1[n_a:2 * n_a, j], label="Ear 1")
        ax.set_title(f"hidden {j}", fontsize=9)
        ax.set_xlabel("Phase delay (deg)", fontsize=8)
    axes.ravel()[0].legend(loc="best", fontsize=7)
    fig.suptitle("Individual $W_1$ weights per ear")
    return _save(fig, path)


def output_traces(output, ipd_true_rad, predicted, config, classes, path, n_samples: int = 4) -> Path:
    """Output layer record (membrane potentials, or spike rasters for fr/pop) of a few test stimuli."""
    n_samples = min(n_samples, output.shape[0])
    fig, axes = plt.subplots(1, n_samples, figsize=(3.6 * n_samples, 3.2), squeeze=False)
    true_class = classes.to_class(ipd_true_rad)
    cmap = plt.get_cmap("viridis")
    for k, ax in enumerate(axes.ravel()):
        rec = output[k]
        if config.spiking_output:
            t, n = np.nonzero(rec)
            ax.scatter(t, n, s=4, c="k")
            ax.set_ylabel("Output neuron")
        else:
            for c in range(rec.shape[1]):
                ax.plot(rec[:, c], color=cmap(c / max(rec.shape[1] - 1, 1)),
                        lw=2.5 if c == true_class[k] else 0.8)
            ax.set_ylabel("Output membrane v")
        ax.set_xlabel("Time step")
        ax.set_title(f"true {np.degrees(ipd_true_rad[k]):.0f} deg (class {true_class[k]}), "
                     f"pred {predicted[k]}", fontsize=8)
    return _save(fig, path)
