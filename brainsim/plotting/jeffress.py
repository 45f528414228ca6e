"""Figures of the Jeffress experiment."""
from __future__ import annotations

import numpy as np

from ..io import save_figure
from . import pyplot


def _pyplot():
    return pyplot()


def trial_figure(run, trial: int = 0):
    """Tuning curve (detector rates vs best IPD, estimate and truth marked) plus rasters of one trial."""
    plt = _pyplot()
    best_deg = np.degrees(run.best_ipd)
    n_det = run.best_ipd.size
    stim = run.config.stimulus
    fig = plt.figure(figsize=(11, 6.5), constrained_layout=True)
    grid = fig.add_gridspec(2, 2, width_ratios=[1.3, 1])

    ax_in = fig.add_subplot(grid[0, 0])
    steps, fibres = np.nonzero(run.input_spikes[trial])
    left = fibres < stim.fibres_per_ear
    ax_in.scatter(steps[left] * stim.dt_ms, fibres[left], s=0.3, c="tab:blue", label="ear 0")
    ax_in.scatter(steps[~left] * stim.dt_ms, fibres[~left], s=0.3, c="tab:red", label="ear 1")
    ax_in.axhline(stim.fibres_per_ear - 0.5, color="k", lw=0.5)
    ax_in.set_xlabel("time (ms)")
    ax_in.set_ylabel("fibre (ear 0 | ear 1)")
    ax_in.legend(loc="upper right", fontsize=8, markerscale=12)
    ax_in.set_title(f"input: {stim.fibres_per_ear} fibres per ear, {steps.size} spikes, {stim.freq_hz:g} Hz, "
                    f"IPD {np.degrees(run.ipd[trial]):.1f}°", fontsize=10)

    ax_det = fig.add_subplot(grid[1, 0], sharex=ax_in)
    mine = run.detector_spike_i // n_det == trial
    k = run.detector_spike_i[mine] % n_det
    ax_det.scatter(run.detector_spike_t_ms[mine], best_deg[k], s=6, c="k")
    ax_det.set_xlabel("time (ms)")
    ax_det.set_ylabel("detector best IPD (°)")
    ax_det.set_ylim(-185, 185)
    ax_det.set_title(f"coincidence-detector spikes: {int(mine.sum())} from {n_det} detectors", fontsize=10)

    ax_tc = fig.add_subplot(grid[:, 1])
    rates = run.rates_hz[trial]
    ax_tc.bar(best_deg, rates, width=0.8 * 360 / n_det, color="0.6", label="detector rate")
    if rates.sum() > 0:
        # the first Fourier component that the population vector reads out
        phi = np.linspace(-np.pi, np.pi, 361)
        a0 = rates.mean()
        c1 = 2 * np.mean(rates * np.exp(1j * run.best_ipd))
        ax_tc.plot(np.degrees(phi), a0 + np.abs(c1) * np.cos(phi - np.angle(c1)), "k-", lw=1,
                   label="cosine fit")
    ax_tc.axvline(np.degrees(run.ipd[trial]), color="tab:green", lw=2, label="true IPD")
    if not np.isnan(run.estimate[trial]):
        ax_tc.axvline(np.degrees(run.estimate[trial]), color="tab:orange", ls="--", lw=2,
                      label=f"estimate {np.degrees(run.estimate[trial]):.1f}°")
    ax_tc.set_xlim(-180, 180)
    ax_tc.set_xticks(np.arange(-180, 181, 60))
    ax_tc.set_xlabel("detector best IPD (°)")
    ax_tc.set_ylabel("rate (Hz)")
    ax_tc.set_title(f"tuning across the n = {n_det} detectors", fontsize=10)
    ax_tc.legend(loc="upper right", fontsize=8)
    return fig


def plot_jeffress_trial(run, path, trial: int = 0) -> None:
    """Write :func:`trial_figure` to ``path``."""
    fig = trial_figure(run, trial)
    save_figure(fig, path, dpi=120)
    _pyplot().close(fig)
