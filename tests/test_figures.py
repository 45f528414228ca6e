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

from conftest import ROOT, assert_one_line_error  # noqa: E402


def data_axes(fig):
    """The axes of ``fig`` that show data (not colorbars, not switched off)."""
    return [ax for ax in fig.axes if ax.get_visible() and ax.axison and ax.get_label() != "<colorbar>"]


def check_figure(fig, n_text: str | None = None) -> None:
    """Every data axes has both axis labels (an x axis shared by stacked panels: on one of them) and,
    with more than one labelled series, a legend; with
    ``n_text`` the figure's titles state it (e.g. "n = 48")."""
    assert data_axes(fig), "no data axes"
    for ax in data_axes(fig):
        # stacked panels sharing one x axis may label it once, below the last
        shared = ax.get_shared_x_axes().get_siblings(ax)
        assert any(a.get_xlabel().strip() for a in shared), f"axes {ax.get_title()!r} has no x label"
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


# --- ipd analyse and compare -----------------------------------------------------------------------

SEED_MODEL = ROOT / "models" / "ipd_seed"


@pytest.fixture(scope="module")
def seed_model_outputs():
    from brainsim.snn.inference import load_model, run_model
    from brainsim.snn.metrics import classification_metrics, predicted_classes
    from brainsim.stimuli.ipd import test_stimuli

    loaded = load_model(SEED_MODEL)
    test = test_stimuli(loaded.stimulus, 3, 96)
    out = run_model(loaded, test.spikes)
    predicted = predicted_classes(out["scores"])
    metrics = classification_metrics(test.ipd, predicted, loaded.classes)
    return loaded, test, out, predicted, metrics


def test_confusion_rows_are_the_true_class_in_analyse_and_compare():
    """One asymmetric matrix, drawn by both: row (y) = true class, column (x) = predicted class."""
    from brainsim.plotting import ipd as plots
    from brainsim.plotting.compare import comparison_plot
    from brainsim.stimuli.ipd import IPDClasses

    confusion = np.zeros((12, 12), dtype=int)
    confusion[np.arange(12), np.arange(12)] = 1
    confusion[2, 9] = 5                       # true class 2 mostly predicted as class 9
    fig = plots.confusion_figure(confusion, IPDClasses())
    check_figure(fig, f"n = {confusion.sum()} test stimuli")
    (ax,) = data_axes(fig)
    image = ax.get_images()[0].get_array()
    assert image[2, 9] == pytest.approx(5 / 6) and image[9, 2] == 0 and image.shape == (12, 12)
    assert ax.get_ylabel() == "True IPD (deg)" and ax.get_xlabel() == "Predicted IPD (deg)"
    assert ax.get_images()[0].origin == "lower"
    plt.close(fig)

    result = {"neuron": "coba", "device": "runtime", "n_test": int(confusion.sum()), "seed": 0,
              "torch_confusion": confusion.tolist(), "brian2_confusion": confusion.T.tolist(),
              "torch_accuracy": 0.7, "brian2_accuracy": 0.7, "identical_predictions": 0.5}
    fig = comparison_plot(result)
    check_figure(fig, f"n = {confusion.sum()}")
    torch_ax, brian_ax = data_axes(fig)[:2]
    for ax, expected in ((torch_ax, confusion), (brian_ax, confusion.T)):
        image = ax.get_images()[0].get_array()
        row = expected.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(image, expected / row)
        assert ax.get_ylabel() == "True class" and ax.get_xlabel() == "Predicted class"
        assert ax.get_images()[0].origin == "lower"
    plt.close(fig)


def test_analyse_figures_have_labels_legends_and_n(seed_model_outputs):
    from brainsim.plotting import ipd as plots

    loaded, test, out, predicted, metrics = seed_model_outputs
    spec = loaded.spec
    fig = plots.ipd_histograms_figure(test.ipd, loaded.classes.to_ipd(predicted), loaded.classes)
    check_figure(fig, "n = 96 test stimuli")
    (ax,) = data_axes(fig)
    assert legend_texts(ax) == ["true IPD", "estimated IPD (predicted class centre)"]
    assert ax.get_ylabel() == "test stimuli per class bin" and len(ax.get_yticks()) > 1
    heights = [p.get_height() for p in ax.patches]
    assert sum(heights) == 2 * 96                      # both histograms count every stimulus
    plt.close(fig)

    fig = plots.w1_ear_profiles_figure(spec.W1, loaded.stimulus)
    check_figure(fig, f"of {spec.n_hidden} hidden neurons")
    shown = data_axes(fig)
    assert shown and all(ax.get_ylabel() == "$W_1$ weight" and ax.get_xlabel() == "fibre phase delay (deg)"
                         for ax in shown)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["ear 0 (fibres 0..N-1)", "ear 1 (fibres N..2N-1)"]
    plt.close(fig)

    for fig, n_text in ((plots.loss_curve_figure(loaded.manifest["training_curve"]),
                         f"{len(loaded.manifest['training_curve'])} epochs"),
                        (plots.confusion_figure(metrics["confusion"], loaded.classes), "n = 96 test stimuli"),
                        (plots.output_traces_figure(out["output"], test.ipd, predicted, spec.net, loaded.classes),
                         "n = 4 test stimuli"),
                        (plots.weight_matrices_figure(spec.W1, spec.W2), f"{spec.n_hidden} hidden"),
                        (plots.weights_sorted_figure(spec.W1, spec.W2), f"{spec.n_hidden} hidden")):
        check_figure(fig, n_text)
        plt.close(fig)


def test_compare_figure_shows_spike_totals_and_their_ratio():
    from brainsim.plotting.compare import comparison_plot

    counts_t = np.array([[4, 2], [6, 0]])
    counts_b = np.array([[2, 1], [3, 0]])
    result = {"neuron": "coba", "device": "runtime", "n_test": 2, "seed": 0, "torch_confusion": [[1, 0], [0, 1]],
              "brian2_confusion": [[1, 0], [0, 1]], "torch_accuracy": 1.0, "brian2_accuracy": 1.0,
              "identical_predictions": 1.0, "torch_hidden_spikes": 12, "brian2_hidden_spikes": 6,
              "hidden_spike_ratio": 0.5, "hidden_count_correlation_mean": 1.0}
    fig = comparison_plot(result, counts_t, counts_b)
    check_figure(fig, "n = 2 test stimuli")
    scatter = data_axes(fig)[2]
    assert "torch 12, Brian2 6" in scatter.get_title()
    assert "Brian2 = 0.50 x torch (the totals' ratio)" in legend_texts(scatter)
    plt.close(fig)


# --- sweep plots: n per point, points with missing runs marked -------------------------------------

@pytest.fixture(scope="module")
def probe_sweep(tmp_path_factory):
    """A real sweep of the test plug-in, 3 seeds per x: x = 0 complete; x = 1 with one run whose value
    is blank (as a Jeffress run whose trials were all silent); x = 2 failing twice and one run not done."""
    import csv

    from brainsim import sweeps as sw

    out = tmp_path_factory.mktemp("probe")
    spec = sw.parse_spec('experiment = "sweep_plugin:PROBE"\nrepeats = 3\n[grid]\nx = [0.0, 1.0, 2.0]\n'
                         '[fixed]\nfail_above = 1.5\n')
    sw.run_sweep(spec, out, sw.SweepOptions(workers=1, max_runs=8), progress=False)
    with open(out / sw.TABLE, newline="") as fh:
        rows = list(csv.DictReader(fh))
    blanked = next(r for r in rows if float(r["x"]) == 1.0 and r["seed"] == "2")
    blanked["y"] = ""
    with open(out / sw.TABLE, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out


def _annotations(ax) -> list[tuple[str, str]]:
    from matplotlib.colors import to_hex

    return [(t.get_text(), to_hex(t.get_color())) for t in ax.texts]


def test_sweep_errorbars_state_n_and_mark_points_with_missing_runs(probe_sweep):
    from matplotlib.colors import to_hex

    from brainsim.plotting.sweep import MISSING_COLOR, MISSING_LABEL, errorbar_figure, prepare, summary_table

    frame, x, series = prepare(probe_sweep, "x", ["y"])
    summary = summary_table(frame, x, ["y"], series)
    assert [(r["x"], r["n"], r["runs"], r["missing"]) for r in summary.to_dict(orient="records")] == \
        [(0.0, 3, 3, 0), (1.0, 2, 3, 1), (2.0, 0, 3, 3)]
    fig = errorbar_figure(frame, x, ["y"], series, title="probe")
    check_figure(fig, "n = 2-3 runs per point; 2 points with fewer runs than the spec's seeds")
    (ax,) = data_axes(fig)
    red = to_hex(MISSING_COLOR)
    texts = _annotations(ax)
    assert ("n=3", to_hex("C0")) in texts and ("n=2/3", red) in texts and ("n=0/3", red) in texts
    assert MISSING_LABEL in legend_texts(ax)
    hollow = [line for line in ax.get_lines() if line.get_markerfacecolor() == "none" and len(line.get_xdata())]
    assert [float(line.get_xdata()[0]) for line in hollow] == [1.0]        # the point standing on 2 of 3 runs
    plt.close(fig)


def test_sweep_errorbars_draw_reference_points_beside_ours(probe_sweep):
    """--reference (e.g. a paper's figures): its points at their x, the x axis widened to hold them."""
    from brainsim.plotting.sweep import errorbar_figure, prepare

    frame, x, series = prepare(probe_sweep, "x", ["y"])
    fig = errorbar_figure(frame, x, ["y"], series, reference=[(4.0, 0.95), (0.0, 0.5)], reference_label="paper")
    (ax,) = data_axes(fig)
    assert "paper" in legend_texts(ax)
    (ref,) = [line for line in ax.get_lines() if line.get_label() == "paper"]
    assert list(ref.get_xdata()) == [0.0, 4.0] and list(ref.get_ydata()) == [0.5, 0.95]   # sorted by x
    assert ax.get_xlim()[1] > 4.0
    plt.close(fig)


def test_sweep_plot_reference_needs_numbers_and_error_bars(run_cli, probe_sweep):
    assert_one_line_error(run_cli("sweep-plot", probe_sweep, "--y", "y", "--x", "x", "--reference", "4"),
                          "--reference '4': give X=Y")
    assert_one_line_error(run_cli("sweep-plot", probe_sweep, "--y", "y", "--x", "x", "--kind", "box",
                                  "--reference", "4=1"), "--reference needs the error-bar plot")


def test_sweep_boxes_state_n_and_mark_boxes_with_missing_runs(probe_sweep):
    from matplotlib.colors import to_hex

    from brainsim.plotting.sweep import MISSING_COLOR, box_figure, prepare

    frame, x, series = prepare(probe_sweep, None, ["y"])
    fig = box_figure(frame, x, ["y"], series)
    check_figure(fig, "n = 2-3 runs per box; 2 with fewer than the spec's")
    (ax,) = data_axes(fig)
    red = to_hex(MISSING_COLOR)
    assert [t for t, _ in _annotations(ax)] == ["n=3", "n=2/3", "n=0/3"]
    assert [c for _, c in _annotations(ax)][1:] == [red, red]
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["x=0", "x=1", "x=2"]
    plt.close(fig)


def test_sweep_plot_cli_prints_the_missing_runs(run_cli, probe_sweep, tmp_path):
    result = run_cli("sweep-plot", probe_sweep, "--x", "x", "--y", "y", "--out", tmp_path / "p.png")
    assert result.returncode == 0, result
    assert "n=2 of 3 runs (1 failed, without a value or not run)" in result.stdout
    assert "n=0 of 3 runs (3 failed, without a value or not run)  no value" in result.stdout


# --- MNIST ---------------------------------------------------------------------------------------

def test_receptive_field_labels_are_readable_and_mark_silent_neurons():
    from brainsim.plotting.mnist import SIDE, SILENT_MARK, receptive_fields_figure

    rng = np.random.default_rng(0)
    n = 100
    assign = rng.integers(0, 10, n)
    silent = np.zeros(n, bool)
    silent[[3, 50]] = True
    fig = receptive_fields_figure(rng.random(784 * n), n, assign, silent)
    (ax,) = [a for a in fig.axes if a.get_label() != "<colorbar>"]
    assert f"n = {n} excitatory neurons" in ax.get_title() and "2 neurons" in ax.get_title()
    labels = ax.texts
    assert [t.get_text() for t in labels] == [SILENT_MARK if silent[j] else str(assign[j]) for j in range(n)]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    x0, _ = ax.transData.transform((0, 0))
    x1, _ = ax.transData.transform((SIDE + 1, 0))
    tile_px = abs(x1 - x0)
    dpi_scale = fig.dpi / 72
    for t in labels:
        assert t.get_fontsize() >= 7 and t.get_color() == "white" and t.get_fontweight() == "bold"
        box = t.get_bbox_patch()
        assert box is not None and sum(box.get_facecolor()[:3]) < 1.0          # a dark box behind white text
        height = t.get_window_extent(renderer).height
        assert 0.15 * tile_px <= height <= 0.6 * tile_px                        # large for the tile, inside it
        assert t.get_fontsize() * dpi_scale >= 9                                  # at least 9 pixels high
    plt.close(fig)


def test_mnist_figures_have_labels_and_n():
    from brainsim.plotting.mnist import confusion_figure, theta_figure, training_figure

    confusion = np.diag(np.full(10, 3))
    confusion[1, 7] = 2
    fig = confusion_figure(confusion)
    check_figure(fig, "n = 32 test images")
    assert fig.axes[0].get_ylabel() == "true digit" and fig.axes[0].get_images()[0].get_array()[1, 7] == pytest.approx(40)
    plt.close(fig)
    stats = {"spikes": np.arange(120) % 9 + 5, "presentations": np.ones(120), "intensity": np.full(120, 2.0)}
    fig = training_figure(stats)
    check_figure(fig, "n = 120 training samples")
    plt.close(fig)
    fig = theta_figure(np.full(25, 0.02))
    check_figure(fig, "n = 25 neurons")
    plt.close(fig)


# --- Jeffress ------------------------------------------------------------------------------------

def test_jeffress_trial_figure():
    from brainsim.devices import DeviceConfig
    from brainsim.experiments.jeffress import JeffressConfig, simulate_jeffress
    from brainsim.plotting.jeffress import trial_figure
    from brainsim.stimuli.ipd import PLAIN_EARS

    config = JeffressConfig(stimulus=PLAIN_EARS.with_(fibres_per_ear=20, duration_ms=40.0), device=DeviceConfig())
    run = simulate_jeffress([30.0], config)
    fig = trial_figure(run)
    check_figure(fig, "n = 36 detectors")
    raster = data_axes(fig)[0]
    assert legend_texts(raster) == ["ear 0", "ear 1"]
    plt.close(fig)


def test_sweep_points_with_equal_complete_n_are_stated_once_in_the_title(probe_sweep):
    from brainsim.plotting.sweep import box_figure, errorbar_figure, prepare

    frame, x, series = prepare(probe_sweep, "x", ["y"], where=["x=0"])
    fig = errorbar_figure(frame, x, ["y"], series)
    check_figure(fig, "mean +/- std over n = 3 runs per point")
    assert not data_axes(fig)[0].texts and "fewer" not in data_axes(fig)[0].get_title()
    plt.close(fig)
    frame, x, series = prepare(probe_sweep, None, ["y"], where=["x=0"])
    fig = box_figure(frame, x, ["y"], series)
    check_figure(fig, "n = 3 runs per box")
    assert not data_axes(fig)[0].texts
    plt.close(fig)


def test_sweep_summary_of_a_metric_without_any_value(probe_sweep):
    from brainsim.plotting.sweep import prepare, summary_table

    frame, x, series = prepare(probe_sweep, "x", ["y", "build_root"])      # build_root is text: no numbers
    summary = summary_table(frame, x, ["y", "build_root"], series)
    rows = summary[summary["metric"] == "build_root"]
    assert len(rows) == 3 and (rows["n"] == 0).all() and (rows["missing"] == rows["runs"]).all()
