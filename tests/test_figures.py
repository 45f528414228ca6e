"""What the figures show (#14 item 5), read back from the matplotlib objects: axis labels, legends
where there is more than one series, titles that state n, panel ranges, orientation of confusion
matrices, readable labels, the number of runs behind each point of a sweep plot."""
from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from conftest import ROOT  # noqa: E402


def data_axes(fig):
    """The axes of ``fig`` that show data (not colorbars, not switched off)."""
    return [ax for ax in fig.axes if ax.get_visible() and ax.axison and ax.get_label() != "<colorbar>"]


def check_figure(fig, n_text: str | None = None) -> None:
    """Every data axes has both axis labels and, with more than one labelled series, a legend; with
    ``n_text`` the figure's titles state it (e.g. "n = 48")."""
    assert data_axes(fig), "no data axes"
    for ax in data_axes(fig):
        assert ax.get_xlabel().strip(), f"axes {ax.get_title()!r} has no x label"
        assert ax.get_ylabel().strip(), f"axes {ax.get_title()!r} has no y label"
        _, labels = ax.get_legend_handles_labels()
        if len(labels) > 1:
            assert ax.get_legend() is not None or fig.legends, f"axes {ax.get_title()!r}: {labels} without legend"
    if n_text is not None:
        titles = [ax.get_title() for ax in fig.axes] + [fig._suptitle.get_text() if fig._suptitle else ""]
        assert any(n_text in t for t in titles), (n_text, titles)


def legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


# --- delays ----------------------------------------------------------------------------------------

def _vlines_x(ax, color: str) -> list[float]:
    """x of the full-height vertical lines of ``color`` drawn by axvline (one per SG1 spike)."""
    from matplotlib.colors import to_rgba

    out = []
    for line in ax.get_lines():
        x = np.asarray(line.get_xdata(), dtype=float)
        if len(x) == 2 and x[0] == x[1] and to_rgba(line.get_color()) == to_rgba(color) \
                and list(line.get_ydata()) == [0, 1]:
            out.append(float(x[0]))
    return sorted(out)


def test_lagging_after_panel_shows_the_same_period_phase_as_before():
    """The after panel starts a whole number of pattern periods after the before panel, so it shows
    the same SG1 spikes (it started 20 ms off when the run's end cut its last period)."""
    from brainsim.experiments.delays import LaggingRunParams, PatternParams, run_lagging
    from brainsim.plotting.delays import run_figure

    pattern = PatternParams()
    run = run_lagging(7.0, 1, LaggingRunParams(duration_s=0.5), pattern)
    period = pattern.period_ms
    assert (run.after.window_ms[0] - run.before.window_ms[0]) % period == 0
    assert run.after.window_ms == (320.0, 420.0)         # the last whole period of 20 + 4 x 100 ms
    fig = run_figure(run)
    check_figure(fig, "1 run, seed 1")
    trajectory, before, after = data_axes(fig)
    for panel in (before, after):
        assert panel.get_xlim() == (0.0, period)
        assert set(legend_texts(panel)) == {"delay-line output x_K", "SG2 spikes (learnable, early)",
                                            "SG1 spikes (reference)"}
    spikes_before, spikes_after = _vlines_x(before, "C3"), _vlines_x(after, "C3")
    assert len(spikes_before) == 4 and np.allclose(spikes_before, spikes_after, atol=1e-9)
    assert "320-420 ms, 4 SG1 spikes" in after.get_title()
    plt.close(fig)


def test_period_windows():
    from brainsim.experiments.delays import period_windows

    assert period_windows(20.0, 100.0, 1500.0) == ((20.0, 120.0), (1320.0, 1420.0))
    assert period_windows(20.0, 100.0, 1520.0) == ((20.0, 120.0), (1420.0, 1520.0))
    assert period_windows(20.0, 100.0, 90.0) == ((20.0, 120.0), (20.0, 120.0))


def test_torch_delay_and_toy_figures():
    from brainsim.experiments.delays import ToyParams, TorchRunParams, run_torch, toy_problem
    from brainsim.plotting.delays import run_figure, toy_figure

    run = run_torch(7.0, 1, TorchRunParams(epochs=10))
    fig = run_figure(run)
    check_figure(fig, "10 epochs")
    plt.close(fig)
    toy = toy_problem(0, ToyParams(epochs=20))
    fig = toy_figure(toy)
    check_figure(fig, f"n = {np.asarray(toy.planted).size} planted shifts")
    plt.close(fig)
