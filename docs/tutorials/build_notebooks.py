"""Write the tutorial notebooks (docs/tutorials/NN_*.ipynb, without outputs) from the cells below.

    python docs/tutorials/build_notebooks.py          # rewrite every notebook
    python docs/tutorials/build_notebooks.py --check  # exit 1 if a committed notebook differs

The notebooks are committed; this script is how they are edited (tests/test_tutorials.py checks that
they agree with it). Cells are Markdown (``md``) or code (``code``); each notebook tells one story with
the public API of brainsim and ends with exercises.
"""
from __future__ import annotations

import sys
from pathlib import Path
from textwrap import dedent

import nbformat

HERE = Path(__file__).resolve().parent


def md(text):
    return nbformat.v4.new_markdown_cell(dedent(text).strip())


def code(text):
    return nbformat.v4.new_code_cell(dedent(text).strip())


def setup(default_note: str, full_note: str):
    """The first code cell of every notebook: inline figures, the FULL switch, imports."""
    return [
        md(f"""
        ### Small or full

        By default this notebook runs a small version ({default_note}) in a few minutes on a laptop CPU.
        Set `FULL = True` in the next cell (or start Jupyter with the environment variable
        `BRAINSIM_TUTORIAL_FULL=1`) for the full protocol: {full_note}.
        """),
        code("""
        %matplotlib inline
        import os
        from pathlib import Path

        import matplotlib.pyplot as plt
        import numpy as np

        FULL = os.environ.get("BRAINSIM_TUTORIAL_FULL", "0") == "1"   # set True for the full protocol
        WORK = Path("runs") / "tutorials"        # outputs of this notebook (relative to where it runs)
        WORK.mkdir(parents=True, exist_ok=True)
        print("full protocol" if FULL else "small version", "| outputs in", WORK.resolve())
        """),
    ]


NOTEBOOKS = {}

# ---------------------------------------------------------------------------------------------------
NOTEBOOKS["01_jeffress"] = [
    md("""
    # 1. The Jeffress model: localising a tone with delay lines

    Jeffress (1948) proposed that the brain localises a low-frequency sound by comparing *when* it
    reaches the two ears. Axons from each ear form **delay lines** onto an array of **coincidence
    detectors**: detector *k* receives ear 1's input a little later than ear 0's, so it fires most when
    the sound's interaural phase difference (IPD) cancels its extra delay. Which detector fires most
    tells where the sound is: a *place code*.

    In this notebook you build the circuit in Brian2 with `brainsim`, play it a tone at a chosen IPD,
    read the detector array, decode the IPD, measure tuning curves and see what the delay lines do.
    """),
    *setup("a few hundred milliseconds of simulated sound, 12 IPDs for the tuning curves",
           "36 IPDs and 5 repeats each for the tuning curves and the decoding error"),
    md("""
    ## The stimulus: two ears of phase-locked fibres

    Each ear has `fibres_per_ear` auditory-nerve fibres that fire as Poisson processes locked to the
    tone: rate `rate_max * (0.5 (1 + sin(2 pi f t + phase)))^k`. Ear 1 lags by the IPD. `PLAIN_EARS`
    is the tutorial's stimulus with all fibres of an ear in phase (the training task of notebook 2 adds
    per-fibre phase delays). Parameters are frozen dataclasses; `with_` (or `dataclasses.replace`)
    changes fields, and a bad value raises a one-line `UserError`.
    """),
    code("""
    from brainsim.stimuli import PLAIN_EARS, generate

    stimulus = PLAIN_EARS.with_(freq_hz=30.0)
    print(stimulus)
    stim = generate(stimulus, ipd=np.deg2rad([60.0]), rng=0)     # one 100 ms stimulus at IPD 60 deg
    print("spikes:", stim.spikes.shape, "(stimuli, time steps, fibres)")

    t_ms = np.arange(stimulus.n_steps) * stimulus.dt_ms
    n = stimulus.fibres_per_ear
    fig, ax = plt.subplots(figsize=(8, 3))
    for ear, colour in [(0, "tab:blue"), (1, "tab:red")]:
        ax.plot(t_ms, stim.spikes[0][:, ear * n:(ear + 1) * n].sum(axis=1), color=colour, label=f"ear {ear}")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel(f"spikes per {stimulus.dt_ms:g} ms bin\\n(all {n} fibres)")
    ax.set_title(f"{stimulus.freq_hz:g} Hz tone, IPD 60°: ear 1 lags ear 0 by 60/360 of a period")
    ax.legend()
    plt.show()
    """),
    md("""
    ## Build, run, decode

    `simulate_jeffress` builds the circuit (`brainsim.circuits.build_jeffress`), runs it on the Brian2
    device of the configuration (`runtime` by default; `DeviceConfig("cpp_standalone")` compiles it)
    and decodes. Any number of IPDs run side by side in one network. The estimate is the
    **population vector**: the angle of `sum_k rate_k exp(i phi_k)`, with `phi_k` the best IPD of
    detector *k*; it interpolates between detectors.
    """),
    code("""
    from brainsim.experiments import JeffressConfig, jeffress_summary, simulate_jeffress

    config = JeffressConfig(stimulus=stimulus, seed=1)      # 36 detectors
    run = simulate_jeffress([60.0, -45.0], config)
    for trial in range(2):
        s = jeffress_summary(run, trial)
        print(f"true IPD {s['ipd_deg']:6.1f}°  estimate {s['estimate_deg']:6.1f}°  "
              f"(most active detector: {s['peak_detector_ipd_deg']:6.1f}°, {s['detector_spikes']} detector spikes)")
    print("counts:", run.counts.shape, "(trials, detectors)")
    """),
    md("""
    `brainsim.plotting.jeffress.trial_figure` draws one trial: the input spikes of both ears, the
    detector spikes (each detector at its best IPD) and the rate of every detector with the cosine
    that the population vector reads out.
    """),
    code("""
    from brainsim.plotting.jeffress import trial_figure

    fig = trial_figure(run, trial=0)
    plt.show()
    """),
    md("""
    ## Tuning curves

    Play many IPDs and record each detector's rate: a detector's **tuning curve** peaks at its best
    IPD. Its width is set by the coincidence window (the detector's `tau_ms`) relative to the tone's
    period. All IPDs run in one network.
    """),
    code("""
    n_ipd, repeats = (36, 5) if FULL else (12, 2)
    ipds_deg = np.repeat(np.linspace(-180, 180, n_ipd, endpoint=False), repeats)
    sweep = simulate_jeffress(ipds_deg, JeffressConfig(stimulus=stimulus, seed=2))
    rates = sweep.rates_hz.reshape(n_ipd, repeats, -1).mean(axis=1)      # (IPD, detector)
    tested = ipds_deg[::repeats]
    best_deg = np.degrees(sweep.best_ipd)

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for k in [0, 9, 18, 27]:
        ax1.plot(tested, rates[:, k], "o-", label=f"detector best IPD {best_deg[k]:.0f}°")
    ax1.set_xlabel("stimulus IPD (°)")
    ax1.set_ylabel("detector rate (Hz)")
    ax1.set_title(f"tuning curves of 4 of the {best_deg.size} detectors ({repeats} repeats each)")
    ax1.legend(fontsize=8)
    image = ax2.imshow(rates.T, aspect="auto", origin="lower", cmap="viridis",
                       extent=[tested[0], tested[-1] + 360 / n_ipd, best_deg[0], best_deg[-1] + 360 / best_deg.size])
    ax2.set_xlabel("stimulus IPD (°)")
    ax2.set_ylabel("detector best IPD (°)")
    ax2.set_title("all detectors: the ridge is the place code")
    fig.colorbar(image, ax=ax2, label="rate (Hz)")
    plt.show()
    """),
    md("""
    ## Decoding accuracy

    `accuracy_metrics` summarises a batch: the mean absolute (circular) error of the population vector
    and of the most-active-detector readout. The population vector does better than the 10° spacing of
    the detectors.
    """),
    code("""
    from brainsim.experiments import accuracy_metrics

    metrics = accuracy_metrics(sweep)
    print({k: round(v, 2) if isinstance(v, float) else v for k, v in metrics.items()})

    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot(ipds_deg, np.degrees(sweep.estimate), "o", label="population vector", alpha=0.7)
    ax.plot(ipds_deg, np.degrees(sweep.peak_ipd), "x", label="most active detector", alpha=0.7)
    ax.plot([-180, 180], [-180, 180], "k:", lw=1, label="truth")
    ax.set_xlabel("true IPD (°)")
    ax.set_ylabel("decoded IPD (°)")
    ax.set_title(f"n = {ipds_deg.size} trials, MAE {metrics['mae_deg']:.1f}°")
    ax.legend(fontsize=8)
    plt.show()
    """),
    md("""
    ## What the delay lines do

    Detector *k* gets ear 0 after `d0_k` and ear 1 after `d1_k`, with `d1_k - d0_k = phi_k / (2 pi f)`:
    the extra delay is the interaural *time* difference that the best IPD `phi_k` corresponds to at the
    frequency `f` the lines are laid out for (left panel).

    Delay lines can also *align* inputs. In the training task of notebook 2 (`TUTORIAL`), the fibres of
    each ear carry phase delays of 0 to 90 degrees. By default the circuit adds a compensating delay
    `pd_j / (2 pi f)` to each fibre (`compensate_phase_delays=True`). Switch it off and each ear's
    volley is smeared over a quarter period: fewer coincidences, a flatter array and larger errors
    (right panel).
    """),
    code("""
    from brainsim.circuits import JeffressParams
    from brainsim.stimuli import TUTORIAL

    circuit = JeffressParams()
    d0, d1 = circuit.ear_delays_ms(stimulus.freq_hz)
    phased = TUTORIAL.with_(freq_hz=stimulus.freq_hz)
    aligned = simulate_jeffress(ipds_deg, JeffressConfig(stimulus=phased, seed=2))
    smeared = simulate_jeffress(ipds_deg, JeffressConfig(stimulus=phased, seed=2,
                                                         circuit=circuit.with_(compensate_phase_delays=False)))

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    ax1.plot(np.degrees(circuit.best_ipd_rad), d0, "o-", color="tab:blue", label="ear 0 -> detector")
    ax1.plot(np.degrees(circuit.best_ipd_rad), d1, "o-", color="tab:red", label="ear 1 -> detector")
    ax1.set_xlabel("detector best IPD (°)")
    ax1.set_ylabel("axonal delay (ms)")
    ax1.set_title(f"delay lines laid out for {stimulus.freq_hz:g} Hz")
    ax1.legend()
    for run_, label, marker in [(aligned, "phase delays compensated", "o"), (smeared, "not compensated", "s")]:
        m = accuracy_metrics(run_)
        ax2.plot(ipds_deg, np.degrees(run_.estimate), marker, alpha=0.7,
                 label=f"{label}: MAE {m['mae_deg']:.1f}°, {m['mean_detector_spikes_per_trial']:.0f} spikes/trial")
    ax2.plot([-180, 180], [-180, 180], "k:", lw=1, label="truth")
    ax2.set_xlabel("true IPD (°)")
    ax2.set_ylabel("decoded IPD (°)")
    ax2.set_title("fibres with phase delays 0-90° (TUTORIAL stimulus)")
    ax2.legend(fontsize=8)
    plt.show()
    """),
    md("""
    ## Going further

    The same run from the command line: `brainsim jeffress --ipd 60 --freq 30 --plot jeffress.png`.
    Parameter sweeps over any field (with seeds and plots): `brainsim sweep --list jeffress` and
    `docs/sweeps.md`. Lower level: `brainsim.circuits.build_jeffress(params, stimulus)` returns the
    Brian2 `Network` and its groups and monitors, to run inside a `brainsim.devices.BrianSession`.

    ## Exercises

    (From the project ideas of the Cosyne tutorial's course version.)

    1. **Number of fibres.** Repeat the decoding-accuracy cell with
       `stimulus.with_(fibres_per_ear=n)` for n = 5, 20, 100. How does the error fall with n? Compare
       with 1/sqrt(n).
    2. **Envelope power.** `envelope_power` (k) sharpens each fibre's phase locking. Measure the MAE
       for k = 0.5, 1, 2, 4, 8. Why does k = 0 fail completely?
    3. **Coincidence window.** Change the detectors' `tau_ms` (`JeffressParams(tau_ms=...)`): 0.3, 1,
       3, 10 ms. What happens to the width of the tuning curves and to the error? Relate it to the
       tone's period.
    4. **Frequency.** Keep the lines laid out for the tone (the default) and play 10, 30, 100 Hz. Which
       frequencies are localised best, and why does the 1 ms stimulus bin matter at high frequencies?
    """),
]

# ---------------------------------------------------------------------------------------------------
NOTEBOOKS["02_ipd_training"] = []   # filled below
NOTEBOOKS["03_diehl_cook"] = []
NOTEBOOKS["04_delay_learning"] = []
NOTEBOOKS["05_torch_to_brian2"] = []


def build(name: str):
    nb = nbformat.v4.new_notebook()
    nb.cells = NOTEBOOKS[name]
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                   "language_info": {"name": "python"}}
    # stable cell ids, so that rebuilding an unchanged notebook gives the same file
    for k, cell in enumerate(nb.cells):
        cell["id"] = f"{name}-{k:02d}"
    return nb


def main(argv=None) -> int:
    check = "--check" in (argv if argv is not None else sys.argv[1:])
    stale = []
    for name, cells in NOTEBOOKS.items():
        if not cells:
            continue
        path = HERE / f"{name}.ipynb"
        text = nbformat.writes(build(name)) + "\n"
        if check:
            if not path.is_file() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
    if stale:
        print(f"build_notebooks.py: {', '.join(stale)} differ from build_notebooks.py: run it", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
