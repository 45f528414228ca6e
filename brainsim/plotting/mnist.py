"""Figures of a Diehl & Cook MNIST run (PNG, Agg backend, written atomically)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserError
from ..io import save_figure
from . import pyplot

SIDE = 28


def _pyplot():
    return pyplot()


def _load(path: Path):
    try:
        return np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"cannot read {path}: {exc}") from None


def _save(fig, path: Path) -> Path:
    save_figure(fig, path, dpi=120, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def confusion_figure(confusion: np.ndarray):
    """Confusion matrix (rows: true digit, columns: predicted) with row percentages in each cell."""
    plt = _pyplot()
    confusion = np.asarray(confusion, dtype=float)
    row = confusion.sum(axis=1, keepdims=True)
    percent = 100 * confusion / np.maximum(row, 1)
    n = int(confusion.sum())
    accuracy = np.trace(confusion) / max(n, 1)
    fig, ax = plt.subplots(figsize=(7, 6))
    im = ax.imshow(percent, cmap="Blues", vmin=0, vmax=100)
    for i in range(confusion.shape[0]):
        for j in range(confusion.shape[1]):
            ax.text(j, i, f"{percent[i, j]:.0f}", ha="center", va="center", fontsize=8,
                    color="white" if percent[i, j] > 50 else "black")
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title(f"confusion matrix (% of each true digit), n = {n} test images, accuracy {accuracy:.1%}")
    fig.colorbar(im, ax=ax, label="%")
    return fig


def plot_confusion(confusion: np.ndarray, path: Path) -> Path:
    return _save(confusion_figure(confusion), path)


SILENT_MARK = "-"          # the label shown for a neuron that never spiked during observe


def receptive_fields_figure(weights: np.ndarray, n_neurons: int, assign=None, silent=None):
    """Input weights of every excitatory neuron as a grid of 28x28 tiles, each labelled (when
    ``assign`` is given) with the digit observe assigned it: white bold text on a dark box in the
    tile's corner, sized with the tile, :data:`SILENT_MARK` for neurons that never spiked
    (``silent``: boolean mask, from observe_rates.npy)."""
    plt = _pyplot()
    w = np.asarray(weights, dtype=float).reshape(SIDE * SIDE, n_neurons)
    cols = int(np.ceil(np.sqrt(n_neurons)))
    rows = int(np.ceil(n_neurons / cols))
    mosaic = np.full((rows * (SIDE + 1), cols * (SIDE + 1)), np.nan)
    for j in range(n_neurons):
        r, c = divmod(j, cols)
        mosaic[r * (SIDE + 1):r * (SIDE + 1) + SIDE, c * (SIDE + 1):c * (SIDE + 1) + SIDE] = w[:, j].reshape(SIDE, SIDE)
    tile_in = 0.7 if cols <= 12 else 0.55                    # inches per tile: room for a readable label
    width = min(20.0, cols * tile_in)
    fig, ax = plt.subplots(figsize=(width + 1.2, width * rows / cols + 0.8))
    im = ax.imshow(mosaic, cmap="hot_r", interpolation="nearest")
    ax.set_axis_off()
    title = f"receptive fields of n = {n_neurons} excitatory neurons (input weights)"
    points_per_tile = 72 * width / cols
    if assign is not None and len(assign) == n_neurons and points_per_tile < 16:
        title += "; too many neurons to label the tiles (assign.npy holds the digits)"
    elif assign is not None and len(assign) == n_neurons:
        size = max(7.0, min(12.0, 0.3 * points_per_tile))
        silent = np.zeros(n_neurons, bool) if silent is None else np.asarray(silent, bool)
        for j, label in enumerate(assign):
            r, c = divmod(j, cols)
            ax.text(c * (SIDE + 1) + 0.5, r * (SIDE + 1) + 0.5, SILENT_MARK if silent[j] else str(int(label)),
                    color="white", fontsize=size, fontweight="bold", ha="left", va="top",
                    bbox={"boxstyle": "square,pad=0.15", "facecolor": "#1f3d7a", "edgecolor": "none", "alpha": 0.85})
        title += f"; corner: digit assigned by observe ({SILENT_MARK}: silent, {int(silent.sum())} neurons)"
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.03, label="weight")
    return fig


def plot_receptive_fields(weights: np.ndarray, n_neurons: int, path: Path, assign=None, silent=None) -> Path:
    return _save(receptive_fields_figure(weights, n_neurons, assign, silent), path)


def training_figure(stats: dict):
    """Spikes per sample, presentations per sample (boost rule) and final intensity over training."""
    plt = _pyplot()
    spikes = np.asarray(stats["spikes"])
    pres = np.asarray(stats["presentations"])
    x = np.arange(1, len(spikes) + 1)
    window = max(1, len(spikes) // 50)
    kernel = np.ones(window) / window
    fig, axes = plt.subplots(3, 1, figsize=(8, 7), sharex=True)
    for ax, values, label in ((axes[0], spikes, "excitatory spikes\nper sample"),
                              (axes[1], pres, "presentations\nper sample"),
                              (axes[2], np.asarray(stats["intensity"]), "intensity of the\ncounted presentation")):
        ax.plot(x, values, ".", ms=2, alpha=0.4, color="0.5", label="one sample")
        if len(values) >= window:
            ax.plot(x[window - 1:], np.convolve(values, kernel, mode="valid"), color="tab:red",
                    label=f"running mean ({window})")
        ax.legend(loc="upper right", fontsize=8)
        ax.set_ylabel(label)
    axes[-1].set_xlabel("training sample")
    axes[0].set_title(f"training statistics, n = {len(spikes)} training samples")
    return fig


def plot_training(stats: dict, path: Path) -> Path:
    return _save(training_figure(stats), path)


def theta_figure(theta_volt: np.ndarray):
    plt = _pyplot()
    theta_mv = np.asarray(theta_volt) * 1e3
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(theta_mv, bins=min(50, max(5, len(theta_mv) // 4)), color="tab:purple")
    ax.set_xlabel("adaptive threshold theta (mV)")
    ax.set_ylabel("excitatory neurons")
    ax.set_title(f"theta after training, n = {len(theta_mv)} neurons: mean {theta_mv.mean():.2f} mV, "
                 f"max {theta_mv.max():.2f} mV", fontsize=10)
    return fig


def plot_theta(theta_volt: np.ndarray, path: Path) -> Path:
    return _save(theta_figure(theta_volt), path)


def plot_run(data_dir) -> list[Path]:
    """Every figure the outputs in ``data_dir`` allow; at least training must have run."""
    data_dir = Path(data_dir)
    weights_path = data_dir / "weights.npy"
    if not weights_path.is_file():
        raise UserError(f"{weights_path} not found: run 'train' first with the same --data-dir")
    weights = _load(weights_path)
    theta = _load(data_dir / "theta.npy") if (data_dir / "theta.npy").is_file() else None
    if weights.ndim != 1 or weights.size % (SIDE * SIDE):
        raise UserError(f"{weights_path} has shape {weights.shape}, not 784 x N weights")
    n_neurons = weights.size // (SIDE * SIDE)
    assign = _load(data_dir / "assign.npy") if (data_dir / "assign.npy").is_file() else None
    rates = _load(data_dir / "observe_rates.npy") if (data_dir / "observe_rates.npy").is_file() else None
    silent = rates.sum(axis=0) == 0 if rates is not None and rates.shape == (10, n_neurons) else None
    written = [plot_receptive_fields(weights, n_neurons, data_dir / "receptive_fields.png", assign, silent)]
    if theta is not None:
        written.append(plot_theta(theta, data_dir / "theta.png"))
    if (data_dir / "train_stats.npz").is_file():
        with np.load(data_dir / "train_stats.npz") as z:
            written.append(plot_training({k: z[k] for k in z.files}, data_dir / "training.png"))
    if (data_dir / "confusion.npy").is_file():
        written.append(plot_confusion(_load(data_dir / "confusion.npy"), data_dir / "confusion.png"))
    return written
