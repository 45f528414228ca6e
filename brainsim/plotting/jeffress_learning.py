"""Figures of the self-wiring Jeffress circuit (``brainsim jeffress-learn``)."""
from __future__ import annotations

import numpy as np

from ..io import save_figure
from . import pyplot


def _wrap_deg(x):
    return (np.asarray(x, dtype=float) + 180.0) % 360.0 - 180.0


def learning_figure(result, hand_wired_best_rad):
    """Four panels: the detectors' learned delay differences over training (as IPDs), the final
    best-IPD tiling against the hand-wired array's, the tuning curves, and the localisation error
    against the true IPD. ``result``: a ``JeffressLearnResult``."""
    plt = pyplot()
    cfg = result.config
    freq = cfg.stimulus.freq_hz
    n_det = result.delta_ms.size
    fig, axes = plt.subplots(2, 2, figsize=(12, 9), constrained_layout=True)

    ax = axes[0, 0]
    history_deg = _wrap_deg(result.delta_history_ms * 1e-3 * freq * 360.0)
    for k in range(n_det):
        ax.plot(result.history_presentation, history_deg[:, k], ".", ms=1.5, color=plt.cm.twilight(k / n_det))
    ax.set_xlabel("tones presented")
    ax.set_ylabel("delay difference as IPD, 360° f Δ (°)")
    ax.set_ylim(-185, 185)
    ax.set_title(f"learned delay differences of {n_det} detectors (init {cfg.circuit.init})", fontsize=10)

    ax = axes[0, 1]
    learned = np.sort(np.degrees(result.best_ipd))
    hand = np.sort(np.degrees(np.asarray(hand_wired_best_rad)))
    ax.plot(np.arange(learned.size), learned, "o-", ms=4, label="learned (tuning-curve centre)")
    ax.plot(np.arange(hand.size), hand, "s--", ms=3, color="0.5", label="hand-wired")
    ax.axhspan(-90, 90, color="tab:green", alpha=0.08, label="(-90, 90)° test range")
    ax.set_xlabel("detector (sorted by best IPD)")
    ax.set_ylabel("best IPD (°)")
    ax.set_ylim(-185, 185)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("best-IPD tiling", fontsize=10)

    ax = axes[1, 0]
    grid_deg = np.degrees(result.tuning_ipd)
    order = np.argsort(result.best_ipd)
    for rank, k in enumerate(order):
        ax.plot(grid_deg, result.tuning_rates_hz[:, k], lw=0.8, color=plt.cm.twilight(rank / n_det))
    ax.set_xlabel("stimulus IPD (°)")
    ax.set_ylabel("detector rate (Hz)")
    ax.set_xlim(-180, 180)
    ax.set_title(f"tuning curves of the frozen circuit ({cfg.evaluation.tuning_repeats} tones per IPD)",
                 fontsize=10)

    ax = axes[1, 1]
    err = np.degrees(result.error)
    ax.plot(np.degrees(result.test_ipd), err, ".", ms=4, color="k")
    ax.axhline(0, color="0.5", lw=0.5)
    mae = float(np.nanmean(np.abs(err))) if np.isfinite(err).any() else float("nan")
    ax.set_xlabel("true IPD (°)")
    ax.set_ylabel("estimate - true IPD (°)")
    ax.set_title(f"localisation error, population vector: MAE {mae:.2f}° (n = {err.size})", fontsize=10)
    fig.suptitle(f"self-wiring Jeffress circuit: {cfg.training.n_presentations} training tones, seed "
                 f"{cfg.circuit.seed}", fontsize=11)
    return fig


def plot_learning(result, hand_wired_best_rad, path) -> None:
    """Write :func:`learning_figure` to ``path`` (atomically)."""
    fig = learning_figure(result, hand_wired_best_rad)
    save_figure(fig, path)
    pyplot().close(fig)
