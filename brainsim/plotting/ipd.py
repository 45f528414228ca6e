"""Figures of the IPD experiments (seeds 000/002): loss curve, true/estimated IPD histograms,
confusion matrix, weight matrices (raw, sorted by weighted mean, W1W2), per-ear W1 profiles of
hidden neurons, output traces. Each ``X_figure`` function builds the matplotlib Figure (tests read it
back); ``X`` writes it. Confusion matrices are drawn by :func:`draw_confusion` only (rows: true class).
Agg backend unless the caller chose one (brainsim.plotting.pyplot), atomic writes."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import save_figure
from . import pyplot

plt = pyplot()


def _save(fig, path) -> Path:
    path = Path(path)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
    plt.close(fig)
    return path


def loss_curve_figure(history: list[dict]):
    fig, ax = plt.subplots(figsize=(5, 3.5))
    if history:
        epochs = [h["epoch"] for h in history]
        ax.plot(epochs, [h["loss"] for h in history], marker="o")
    ax.set_xlabel("Epoch")
    ax.set_ylabel("Training loss")
    ax.set_title(f"Loss curve, {len(history)} epochs")
    return fig


def loss_curve(history: list[dict], path) -> Path:
    return _save(loss_curve_figure(history), path)


def ipd_histograms_figure(ipd_true_rad, ipd_est_rad, classes):
    """Histograms of the true and the estimated IPD (the predicted class's centre) of the test stimuli,
    on the class bins."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    bins = np.degrees(np.linspace(classes.low, classes.high, classes.n_classes + 1))
    ax.hist(np.degrees(ipd_true_rad), bins=bins, label="true IPD", alpha=0.7)
    ax.hist(np.degrees(ipd_est_rad), bins=bins, label="estimated IPD (predicted class centre)", alpha=0.7)
    ax.set_xlabel("IPD (deg)")
    ax.set_ylabel("test stimuli per class bin")
    ax.legend(loc="lower center", fontsize=8)
    ax.set_title(f"True and estimated IPD, n = {len(ipd_true_rad)} test stimuli")
    return fig


def ipd_histograms(ipd_true_rad, ipd_est_rad, classes, path) -> Path:
    return _save(ipd_histograms_figure(ipd_true_rad, ipd_est_rad, classes), path)


def draw_confusion(ax, confusion, classes=None):
    """A confusion matrix on ``ax``: rows (y) the true class, columns (x) the predicted class, each row
    normalised to the fraction of its true class; with ``classes`` (IPDClasses) the axes are in IPD
    degrees, else class indices. Returns the image (for a colorbar). The one drawing of IPD confusion
    matrices: ``ipd analyse`` and ``compare`` use it."""
    c = np.asarray(confusion, dtype=float)            # [true, predicted]
    row = c.sum(axis=1, keepdims=True)
    c = np.divide(c, row, out=np.zeros_like(c), where=row > 0)
    if classes is not None:
        lo, hi = np.degrees(classes.low), np.degrees(classes.high)
        im = ax.imshow(c, interpolation="nearest", aspect="auto", origin="lower", extent=(lo, hi, lo, hi),
                       vmin=0, vmax=1)
        ax.set_xlabel("Predicted IPD (deg)")
        ax.set_ylabel("True IPD (deg)")
    else:
        im = ax.imshow(c, interpolation="nearest", aspect="auto", origin="lower", vmin=0, vmax=1)
        ax.set_xlabel("Predicted class")
        ax.set_ylabel("True class")
    return im


def confusion_figure(confusion, classes):
    """Rows: true class, columns: predicted class, normalised per true class."""
    fig, ax = plt.subplots(figsize=(4.8, 4))
    im = draw_confusion(ax, confusion, classes)
    fig.colorbar(im, ax=ax, label="Fraction of true class")
    ax.set_title(f"Confusion matrix, n = {int(np.sum(confusion))} test stimuli", fontsize=10)
    return fig


def confusion_matrix(confusion, classes, path) -> Path:
    return _save(confusion_figure(confusion, classes), path)


def _imshow(ax, fig, w, title, xlabel, ylabel):
    im = ax.imshow(w, interpolation="nearest", aspect="auto", origin="lower")
    fig.colorbar(im, ax=ax)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


def weight_matrices_figure(w1, w2):
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    _imshow(axes[0], fig, w1, f"$W_1$ ({w1.shape[0]} inputs x {w1.shape[1]} hidden)", "Hidden neuron index",
            "Input neuron index")
    _imshow(axes[1], fig, w2, f"$W_2$ ({w2.shape[0]} hidden x {w2.shape[1]} outputs)", "Output neuron index",
            "Hidden neuron index")
    fig.tight_layout()
    return fig


def weight_matrices(w1, w2, path) -> Path:
    return _save(weight_matrices_figure(w1, w2), path)


def single_weight_matrix_figure(w):
    fig, ax = plt.subplots(figsize=(5, 4))
    _imshow(ax, fig, w, f"$W$ (membrane-only: {w.shape[0]} inputs x {w.shape[1]} outputs)", "Output neuron index",
            "Input neuron index")
    return fig


def single_weight_matrix(w, path) -> Path:
    return _save(single_weight_matrix_figure(w), path)


def sort_by_weighted_mean(w1, min_peak: float = 0.5) -> np.ndarray:
    """Order of hidden neurons by the weighted mean input index of their W1 column (the seeds'
    ordering); neurons whose largest |weight| is below ``min_peak`` go last."""
    index = np.arange(w1.shape[0])[:, None]
    weighted_mean = np.mean(index * w1, axis=0)
    weighted_mean = np.where(np.max(np.abs(w1), axis=0) < min_peak, np.inf, weighted_mean)
    return np.argsort(weighted_mean, kind="stable")


def weights_sorted_figure(w1, w2):
    order = sort_by_weighted_mean(w1)
    w1s, w2s = w1[:, order], w2[order, :]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    _imshow(axes[0], fig, w1s, f"$W_1$ sorted by weighted mean ({w1.shape[1]} hidden)", "Hidden neuron (sorted)",
            "Input neuron index")
    _imshow(axes[1], fig, w2s, "$W_2$ (same order)", "Output neuron index", "Hidden neuron (sorted)")
    _imshow(axes[2], fig, w1s @ w2s, "$W_1 W_2$", "Output neuron index", "Input neuron index")
    fig.tight_layout()  # the colour bars' labels clear the next panel, shown or saved
    return fig


def weights_sorted(w1, w2, path) -> Path:
    return _save(weights_sorted_figure(w1, w2), path)


def w1_ear_profiles_figure(w1, stimulus, max_neurons: int = 15):
    """W1 weights of individual hidden neurons against the fibres' phase delays, one curve per ear."""
    n_a = stimulus.fibres_per_ear
    peak = np.max(np.abs(w1), axis=0)
    chosen = [j for j in sort_by_weighted_mean(w1) if peak[j] >= 0.5][:max_neurons]
    strongest = not chosen
    if strongest:  # weak weights: show the strongest neurons instead
        chosen = list(np.argsort(-peak)[:max_neurons])
    delays_deg = np.degrees(stimulus.fibre_phase_delays[:n_a])
    cols = 5
    rows = max(1, int(np.ceil(len(chosen) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(12, 2.5 * rows + 0.8), squeeze=False)
    for ax in axes.ravel():
        ax.set_visible(False)
    for ax, j in zip(axes.ravel(), chosen):
        ax.set_visible(True)
        ax.plot(delays_deg, w1[:n_a, j], label="ear 0 (fibres 0..N-1)")
        ax.plot(delays_deg, w1[n_a:2 * n_a, j], label="ear 1 (fibres N..2N-1)")
        ax.axhline(0, color="0.7", lw=0.6)
        ax.set_title(f"hidden {j}", fontsize=9)
        ax.set_xlabel("fibre phase delay (deg)", fontsize=8)
        ax.set_ylabel("$W_1$ weight", fontsize=8)
        ax.tick_params(labelsize=7)
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", ncol=2, fontsize=8)
    which = ("the strongest" if strongest else "with a peak |weight| >= 0.5, sorted by weighted mean")
    fig.suptitle(f"$W_1$ weights per ear: {len(chosen)} of {w1.shape[1]} hidden neurons ({which}), "
                 f"{n_a} fibres per ear", fontsize=10, x=0.02, ha="left")
    return fig


def w1_ear_profiles(w1, stimulus, path, max_neurons: int = 15) -> Path:
    return _save(w1_ear_profiles_figure(w1, stimulus, max_neurons), path)


def output_traces_figure(output, ipd_true_rad, predicted, config, classes, n_samples: int = 4):
    """Output layer record (membrane potentials, or spike rasters for fr/pop) of a few test stimuli."""
    n_samples = min(n_samples, output.shape[0])
    fig, axes = plt.subplots(1, n_samples, figsize=(3.6 * n_samples, 3.4), squeeze=False)
    true_class = classes.to_class(ipd_true_rad)
    cmap = plt.get_cmap("viridis")
    for k, ax in enumerate(axes.ravel()):
        rec = output[k]
        if config.spiking_output:
            t, n = np.nonzero(rec)
            ax.scatter(t, n, s=4, c="k", label="output spikes")
            ax.set_ylabel("Output neuron")
        else:
            first_other = 1 if true_class[k] == 0 else 0
            for c in range(rec.shape[1]):
                mine = c == true_class[k]
                label = "true class's output" if mine else ("other outputs (colour: class)" if c == first_other else None)
                ax.plot(rec[:, c], color=cmap(c / max(rec.shape[1] - 1, 1)), lw=2.5 if mine else 0.8, label=label)
            ax.set_ylabel("Output membrane v")
            ax.legend(loc="upper left", fontsize=7)
        ax.set_xlabel("Time step")
        ax.set_title(f"true {np.degrees(ipd_true_rad[k]):.0f} deg (class {true_class[k]}), "
                     f"pred {predicted[k]}", fontsize=8)
    fig.suptitle(f"Output layer ({config.readout} readout) of n = {n_samples} test stimuli", fontsize=10)
    return fig


def output_traces(output, ipd_true_rad, predicted, config, classes, path, n_samples: int = 4) -> Path:
    return _save(output_traces_figure(output, ipd_true_rad, predicted, config, classes, n_samples), path)


def learned_delays_figure(delay_ms, fibre_ear, delay_map: dict):
    """Learned input-to-hidden delays: their distribution per ear (all synapses, and the
    excitatory-weighted mean per hidden neuron), and each hidden neuron's best ITD against its
    ear 1 - ear 0 effective delay difference (the Jeffress prediction: equal, the identity line)."""
    fig, (ax_hist, ax_map) = plt.subplots(1, 2, figsize=(11, 4.2))
    top = float(delay_ms.max()) if delay_ms.size else 1.0
    bins = np.arange(-0.5, top + 1.5, 1.0)
    for ear in (0, 1):
        ax_hist.hist(delay_ms[fibre_ear == ear].ravel(), bins=bins, alpha=0.55, label=f"ear {ear}, all synapses")
    ax_hist.set_xlabel("learned delay (ms)")
    ax_hist.set_ylabel("synapses")
    ax_hist.set_title(f"Learned delays of {delay_ms.size} synapses")
    ax_hist.legend(fontsize=8)
    diff, best = np.asarray(delay_map["delay_difference_ms"]), np.asarray(delay_map["best_itd_ms"])
    ax_map.scatter(diff, best, s=14, label="hidden neurons")
    lim = max(1.0, float(np.nanmax(np.abs(np.concatenate([diff, best])))) if diff.size else 1.0)
    ax_map.plot([-lim, lim], [-lim, lim], color="0.5", lw=0.8, ls="--", label="Jeffress: best ITD = delay difference")
    ax_map.set_xlabel("effective delay, ear 1 - ear 0 (ms)")
    ax_map.set_ylabel("best ITD (ms)")
    r = delay_map["correlation"]
    ax_map.set_title(f"Jeffress prediction, n = {len(diff)} tuned neurons, r = {r:.2f}" if r == r
                     else f"Jeffress prediction, n = {len(diff)} tuned neurons")
    ax_map.legend(fontsize=8)
    return fig


def learned_delays(delay_ms, fibre_ear, delay_map: dict, path) -> Path:
    return _save(learned_delays_figure(delay_ms, fibre_ear, delay_map), path)
