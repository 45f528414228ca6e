"""Figures of delay learning: trajectories, alignment before/after, lag-chain impulse responses."""
from __future__ import annotations

import numpy as np

from ..io import save_figure
from . import pyplot

plt = pyplot()


def _alignment_panel(ax, panel, title: str, delayed_label: str) -> None:
    """One pattern period: the delayed SG2 signal and the spikes of SG1 and SG2, in time since the
    window's start (the same phase of the pattern in the before and after panels)."""
    lo = panel.window_ms[0]
    ax.plot(np.asarray(panel.delayed_t_ms) - lo, panel.delayed, color="C0", lw=1.2, label=delayed_label)
    for k, t in enumerate(panel.learnable_ms):
        ax.axvline(t - lo, ymin=0.0, ymax=0.25, color="C2", lw=2, label="SG2 spikes (learnable, early)" if k == 0 else None)
    for k, t in enumerate(panel.reference_ms):
        ax.axvline(t - lo, ymin=0.75, ymax=1.0, color="C3", lw=2, label="SG1 spikes (reference)" if k == 0 else None)
        ax.axvline(t - lo, color="C3", lw=0.6, ls=":")
    ax.set_xlim(0, panel.window_ms[1] - lo)
    ax.set_ylim(-0.05, 1.15)
    ax.set_title(f"{title}\n{panel.window_ms[0]:g}-{panel.window_ms[1]:g} ms, {len(panel.reference_ms)} SG1 spikes",
                 fontsize=10)
    ax.set_xlabel("time in pattern period (ms)")
    ax.set_ylabel("delayed SG2 (normalised)")
    ax.legend(loc="upper right", fontsize=7)


def run_figure(run):
    """The figure of a :class:`brainsim.experiments.delays.DelayRun`: the delay trajectory over the
    run, and input/output alignment in its first and last whole pattern period."""
    result = run.summary
    fig = plt.figure(figsize=(10, 7), constrained_layout=True)
    grid = fig.add_gridspec(2, 2)
    ax = fig.add_subplot(grid[0, :])
    if result["method"] == "lagging":
        ax.plot(np.asarray(run.step) / 1e3, run.delay_ms, color="C0", label="learned delay")
        ax.set_xlabel("simulated time (s)")
        delayed_label = "delay-line output x_K"
        span = f"{result['simulated_s']:g} s simulated"
    else:
        ax.plot(run.step, run.delay_ms, color="C0", label="learned delay")
        ax.set_xlabel("epoch")
        delayed_label = "delayed SG2 (interpolated shift)"
        span = f"{result['epochs']} epochs"
    offset = result["offset_ms"]
    ax.axhline(offset, color="C3", ls="--", label=f"offset {offset:g} ms")
    ax.axhspan(offset - 0.5, offset + 0.5, color="C3", alpha=0.1, label="+-0.5 ms")
    ax.set_ylabel("delay (ms)")
    ax.set_title(f"{result['method']}: learned {result['learned_delay_ms']:.3f} ms for offset {offset:g} ms "
                 f"(error {result['error_ms']:.3f} ms); 1 run, seed {result['seed']}, {span}", fontsize=11)
    ax.legend(loc="best", fontsize=8)
    if run.before is not None:
        _alignment_panel(fig.add_subplot(grid[1, 0]), run.before,
                         f"before: delay {result['initial_delay_ms']:g} ms (first period)", delayed_label)
        _alignment_panel(fig.add_subplot(grid[1, 1]), run.after,
                         f"after: delay {result['learned_delay_ms']:.2f} ms (last whole period)", delayed_label)
    return fig


def plot_run(run, path) -> None:
    """Write :func:`run_figure` to ``path``."""
    _save(run_figure(run), path)


def _save(fig, path) -> None:
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def impulse_figure(responses: list):
    """Simulated impulse responses of x_K (:class:`brainsim.experiments.delays.ImpulseResponse`)
    against the Erlang closed form, K varying, and their means and spreads."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for k, r in enumerate(responses):
        color = f"C{k % 10}"
        ax.plot(r.t_ms, r.density, color=color, lw=2, alpha=0.6,
                label=f"K={r.stages}: mean {r.mean_ms:.2f}, sd {r.sd_ms:.2f} ms")
        ax.plot(r.t_ms, r.closed_form, color="k", lw=0.8, ls="--")
    ax.plot([], [], color="k", lw=0.8, ls="--", label="Erlang(K, tau_d) closed form")
    ax.set_xlabel("time after the spike (ms)")
    ax.set_ylabel("x_K / tau_d (1/ms)")
    delay = responses[0].expected_mean_ms
    ax.set_title(f"K-stage lagging variable, K * tau_d = {delay:g} ms: one impulse, n = {len(responses)} values of K",
                 fontsize=10)
    ax.set_xlim(0, 3 * delay)
    ax.legend(fontsize=8)
    stages = np.array([r.stages for r in responses])
    ax2.plot(stages, [r.sd_ms for r in responses], "o", label="simulated sd")
    ax2.plot(stages, [r.expected_sd_ms for r in responses], "k--", label="sqrt(K) * tau_d = D / sqrt(K)")
    ax2.plot(stages, [r.mean_ms for r in responses], "s", color="C1", label="simulated mean")
    ax2.plot(stages, [r.expected_mean_ms for r in responses], ":", color="C1", label="K * tau_d")
    ax2.set_xscale("log", base=2)
    ax2.set_xlabel("stages K")
    ax2.set_ylabel("delay: mean and sd (ms)")
    ax2.set_title(f"mean and spread of the delay, n = {len(responses)} values of K", fontsize=10)
    ax2.legend(fontsize=8)
    return fig


def plot_impulse_responses(responses: list, path) -> None:
    """Write :func:`impulse_figure` to ``path``."""
    _save(impulse_figure(responses), path)


def toy_figure(result):
    """Seed 001's toy problem (a :class:`brainsim.experiments.delays.ToyResult`): planted shifts
    against learned delays, and the loss."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4.2), constrained_layout=True)
    planted = np.asarray(result.planted).ravel()
    ax.plot(planted, np.asarray(result.initial).ravel(), "x", color="0.6", label="initial")
    ax.plot(planted, np.asarray(result.learned).ravel(), "o", color="C0", label="learned")
    top = max(planted.max(), 1)
    ax.plot([0, top], [0, top], "k--", lw=0.8, label="learned = planted")
    ax.set_xlabel("planted shift (steps)")
    ax.set_ylabel("delay (steps)")
    ax.set_title(f"n = {planted.size} planted shifts: recovered {100 * result.summary['recovered_fraction']:.0f}% "
                 f"within 0.5 step (mean |error| {result.summary['mean_abs_error']:.3f})", fontsize=10)
    ax.legend(fontsize=8)
    ax2.plot(np.arange(1, len(result.loss) + 1), result.loss)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("loss (-log normalised coincidence)")
    ax2.set_title(f"training loss, {len(result.loss)} epochs, seed {result.summary['seed']}", fontsize=10)
    return fig


def plot_toy(result, path) -> None:
    """Write :func:`toy_figure` to ``path``."""
    _save(toy_figure(result), path)


def ipd_figure(out):
    """IPD task (a :class:`brainsim.experiments.delays.IPDDelayResult`): test accuracy per condition,
    and the learned input delays of the delay network."""
    results = out.summary["results"]
    n_test = out.summary["protocol"]["n_test"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    names = list(results)
    ax.bar(names, [100 * results[n]["test_accuracy"] for n in names], color=[f"C{k}" for k in range(len(names))])
    for k, n in enumerate(names):
        ax.text(k, 100 * results[n]["test_accuracy"] + 1, f"{100 * results[n]['test_accuracy']:.1f}%", ha="center")
    ax.set_xlabel("network (condition)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"IPD task, seed {out.summary['seed']}: n = {n_test} test stimuli per network", fontsize=10)
    if out.delays_ms is not None:
        d = np.asarray(out.delays_ms)
        ax2.hist(d.ravel(), bins=50, color="C0")
        ax2.set_xlabel("learned input delay (ms)")
        ax2.set_ylabel("synapses")
        ax2.set_title(f"delays of the plain-ears network, n = {d.size} synapses", fontsize=10)
    else:
        ax2.axis("off")
    return fig


def plot_ipd(out, path) -> None:
    """Write :func:`ipd_figure` to ``path``."""
    _save(ipd_figure(out), path)
