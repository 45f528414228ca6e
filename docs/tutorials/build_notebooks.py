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
NOTEBOOKS["02_ipd_training"] = [
    md("""
    # 2. Surrogate-gradient training on the IPD task

    The Cosyne 2022 sound-localisation tutorial trains a small spiking network in torch to report the
    interaural phase difference (IPD) of a tone from 2 x 100 auditory-nerve fibres, in 12 classes of
    15 degrees over (-90, 90). Spikes are not differentiable; **surrogate gradients** replace the
    derivative of the threshold by a smooth bump in the backward pass.

    This notebook: the stimulus, the membrane-only baseline and the spiking network, the four
    readouts (`oc`, `max`, `fr`, `pop`), hidden/output time constants of 20 vs 2 ms, and seed 000's
    readout comparison at small size, with the caveats of `docs/ipd_training.md`.
    """),
    *setup("two seeds per condition, 10 epochs of 2048 stimuli, 1024 test stimuli",
           "the tutorial's protocol (10 epochs of 4096, 2048 test stimuli) with seeds 0-9 per condition, "
           "as in seed 000 and docs/ipd_training.md (about 15 minutes)"),
    md("""
    ## The stimulus

    Each fibre fires with a rate locked to the tone, shifted by the fibre's phase delay (0-90 degrees
    within an ear) and, in ear 1, by the IPD. Every stimulus has its own random start phase. The
    seeded streams `training_stimuli` / `test_stimuli` are the ones the trainer uses.
    """),
    code("""
    from brainsim.stimuli import DEFAULT_CLASSES, TUTORIAL, test_stimuli

    examples = test_stimuli(TUTORIAL, seed=0, n=3)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5), sharey=True, constrained_layout=True)
    for ax, spikes, ipd in zip(axes, examples.spikes, examples.ipd):
        steps, fibres = np.nonzero(spikes)
        ax.scatter(steps * TUTORIAL.dt_ms, fibres, s=0.5, c=np.where(fibres < 100, "tab:blue", "tab:red"))
        ax.set_title(f"IPD {np.degrees(ipd):.0f}°, class {DEFAULT_CLASSES.to_class(ipd)}")
        ax.set_xlabel("time (ms)")
    axes[0].set_ylabel("fibre (ear 0: 0-99, ear 1: 100-199)")
    plt.show()
    """),
    md("""
    ## Training one network

    A protocol is a frozen dataclass; `protocol_from("seed", ...)` is the tutorial's protocol with
    fields replaced by their flat names (the CLI options of `brainsim ipd train`). `train_ipd`
    returns the trained model, the training curve and the scores (accuracies as fractions) on fresh
    test stimuli. Without `out_dir` nothing is written; with it you get a model directory.
    """),
    code("""
    from brainsim.experiments import protocol_from, train_ipd

    SIZE = (dict(epochs=10, n_train=4096, n_test=2048) if FULL else dict(epochs=10, n_train=2048, n_test=1024))
    SEEDS = range(10) if FULL else range(2)

    def train(**fields):
        return train_ipd(protocol_from("seed", **SIZE, **fields), progress=False)

    snn = train(readout="oc", tau_hidden_ms=2.0, tau_out_ms=2.0, seed=0)
    membrane = train(model="membrane", readout="oc", tau_out_ms=20.0, seed=0)
    for name, result in [("spiking network (30 hidden LIF)", snn), ("membrane only (no hidden layer)", membrane)]:
        print(f"{name:35s} test accuracy {100 * result.scores['test_accuracy']:.1f} %, "
              f"error {result.scores['test_mae_deg']:.1f}°  ({result.train_cpu_seconds:.1f} s CPU)")
    """),
    code("""
    from brainsim.plotting.ipd import confusion_figure, loss_curve_figure, weights_sorted_figure

    loss_curve_figure(snn.history)
    confusion_figure(snn.test_metrics["confusion"], DEFAULT_CLASSES)
    spec = snn.model.to_spec(TUTORIAL, DEFAULT_CLASSES)
    weights_sorted_figure(spec.W1, spec.W2)
    plt.show()
    """),
    md("""
    The membrane-only network is at chance: its score (the mean output membrane) is a linear function
    of the fibres' spike counts, and with a random start phase per stimulus those carry no IPD; only
    the *timing* does, and reading timing needs nonlinear coincidence detectors (the hidden layer). The spiking network's confusion matrix is (nearly) tridiagonal: errors are between neighbouring classes. The sorted
    weights show hidden neurons that prefer particular fibres of each ear, i.e. particular delays: the
    network learns a Jeffress-like code (notebook 1).

    ## The readouts and the time constant

    * `oc`: output neurons are leaky integrators, score = mean membrane over time;
    * `max`: the same, score = maximum over time;
    * `fr`: spiking outputs, score = firing rate;
    * `pop`: 10 spiking outputs per class, spike-count loss (seed 004).

    Seed 000 compared oc, max and fr with tau = 20 ms and 2 ms in both layers, 10 seeds each.
    """),
    code("""
    import time

    results = {}
    t0 = time.process_time()
    for tau in (20.0, 2.0):
        for readout in ("oc", "max", "fr"):
            results[readout, tau] = [train(readout=readout, tau_ms=tau, seed=s) for s in SEEDS]
    results["pop", 2.0] = [train(readout="pop", tau_ms=2.0, seed=s) for s in SEEDS]
    print(f"{len(results) * len(SEEDS)} networks trained in {time.process_time() - t0:.0f} s of CPU")

    labels = [f"{r} {t:g} ms" for r, t in results]
    test = [[100 * x.scores["test_accuracy"] for x in runs] for runs in results.values()]
    train_acc = [[100 * x.scores["train_accuracy"] for x in runs] for runs in results.values()]
    fig, ax = plt.subplots(figsize=(9, 4))
    pos = np.arange(len(labels))
    ax.bar(pos - 0.2, [np.median(v) for v in train_acc], 0.4, label="train (median)", color="0.7")
    ax.bar(pos + 0.2, [np.median(v) for v in test], 0.4, label="test (median)", color="tab:blue")
    for k, values in enumerate(test):
        ax.plot(np.full(len(values), k + 0.2), values, "k.", ms=4, label="test, one run" if k == 0 else None)
    ax.axhline(100 / 12, color="k", ls=":", lw=1, label="chance (12 classes)")
    ax.set_xticks(pos, labels)
    ax.set_xlabel("readout, time constant of both layers")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"readout x tau, {len(SEEDS)} seed(s) each, {SIZE['n_test']} test stimuli per run")
    ax.legend(fontsize=8)
    plt.show()
    for label, values in zip(labels, test):
        print(f"{label:10s} median test accuracy {np.median(values):5.1f} %")
    """),
    md("""
    ## Seed 000's findings, and the caveats

    The full comparison (FULL = True, or `brainsim ipd train --repeats 10 --readout oc max fr
    --tau-ms 20 2`) is in `docs/ipd_training.md`. There, over 10 seeds of the tutorial's protocol
    (medians): oc 20 ms 59.7 %, max 20 ms 54.7 %, fr 20 ms 48.2 %, oc 2 ms 84.2 %, max 2 ms 60.4 %,
    fr 2 ms 59.6 %; and seed 000's three findings fare as follows.

    * **"At 2 ms oc is best": holds**, by a wide margin (84 % vs about 60 %), as in seed 000.
    * **"At 20 ms fr is best": does not hold in the full protocol.** fr has the smallest spread, but oc
      is better. The seeds drew *one* start phase for a whole data set, so a 20 ms network could
      overfit the training phase and fail on the test phase; our stimuli draw a phase per stimulus
      (compare the train and test bars above: no such gap).
    * **"max is worst": only with the seeds' decoder.** Decoded by its own readout, max beats fr at
      20 ms; decoded like the seeds (time-summed membrane, `scores["test_accuracy_seed_decoder"]`) it
      falls to the bottom (next cell).
    * **One run says little.** At 20 ms, seeds 0-9 of one condition range over 45-76 %, and even the
      CPU's vector instructions change the result of one seed (docs/ipd_training.md,
      "Reproducibility"). The small default run has two seeds and half the training data: the 20 ms
      networks are still far from trained, and its ranking at 20 ms can differ from the full one. The
      next cell checks the three findings on *this* run; read the small run as a demonstration.
    """),
    code("""
    median = {key: np.median([x.scores["test_accuracy"] for x in runs]) for key, runs in results.items()}
    def best(tau):
        return max(("oc", "max", "fr"), key=lambda r: median[r, tau])
    print(f"at 2 ms the best readout is {best(2.0)} (seed 000: oc); at 20 ms {best(20.0)} (seed 000: fr)")
    print()
    for (readout, tau), runs in results.items():
        own = np.median([x.scores["test_accuracy"] for x in runs])
        seed_decoder = [x.scores["test_accuracy_seed_decoder"] for x in runs]
        if seed_decoder[0] is not None:
            print(f"{readout:4s} {tau:4g} ms: own readout {100 * own:5.1f} %, seeds' decoder "
                  f"{100 * np.median(seed_decoder):5.1f} %")
    seeds_decoder = {key: np.median([x.scores["test_accuracy_seed_decoder"] for x in runs])
                     for key, runs in results.items() if key[0] != "pop"}
    for tau in (20.0, 2.0):
        worst_own = min(("oc", "max", "fr"), key=lambda r: median[r, tau])
        worst_seed = min(("oc", "max", "fr"), key=lambda r: seeds_decoder[r, tau])
        print(f"worst at {tau:g} ms: {worst_own} with its own readout, {worst_seed} with the seeds' decoder "
              f"(seed 000: max)")
    """),
    md("""
    ## Going further

    The recipe that reaches 90 % (`brainsim ipd train --preset best`, `PRESETS["best"]`) and the
    figures of a saved model (`brainsim.experiments.analyse_model`) are in `docs/ipd_training.md`.

    ## Exercises

    (The project ideas of the tutorial's course version; every one is a field of `protocol_from`.)

    1. **Heterogeneous time constants**: `tau_hetero=True` (gamma-distributed per neuron), with and
       without `learn_tau=True`. Do they help at 20 ms? At 2 ms?
    2. **Number of hidden units**: `hidden=` 5, 10, 30, 100. Where does accuracy saturate?
    3. **Only positive weights**: `positive_weights=True`. What is lost without inhibition?
    4. **Envelope power**: train with `train_ipd(..., stimulus=TUTORIAL.with_(envelope_power=k))` for
       k = 0.5 ... 8, several seeds each, and plot mean and standard deviation against k.
    5. **Ablation**: copy `spec` with one hidden neuron's column of `W1` set to zero
       (`dataclasses.replace(spec, W1=...)`), rebuild it with `brainsim.snn.IPDNet.from_spec`, and score
       it on `test_stimuli(TUTORIAL, 0, 1024)` with `brainsim.snn.predict` and
       `brainsim.snn.classification_metrics`. Which hidden neurons matter?
    """),
]

NOTEBOOKS["03_diehl_cook"] = [
    md("""
    # 3. Diehl & Cook (2015): unsupervised STDP on digits

    Diehl and Cook showed that a network of conductance-based excitatory neurons with adaptive
    thresholds, lateral inhibition and spike-timing-dependent plasticity (STDP) learns digit
    prototypes *without labels*. Afterwards each neuron is labelled with the class it responds to most,
    and a test digit is classified by which labelled group responds most.

    Three stages, each a function of `brainsim.experiments.mnist`: `train` (STDP), `observe` (label the
    neurons, learning off), `test` (classify digits never trained on). Data: 5,000 real MNIST digits
    embedded in the package (`load_embedded`); full MNIST with `load_mnist`.
    """),
    *setup("25 neurons, 2,000 training digits, 500 to label, 500 to test",
           "100 neurons trained on all 4,000 embedded training digits, labelled on 1,000, tested on the "
           "1,000 embedded test digits (about 10 minutes; the paper's 400 neurons on full MNIST: "
           "`brainsim mnist`, docs/mnist.md)"),
    code("""
    from brainsim.circuits import DiehlCookParams
    from brainsim.devices import DeviceConfig
    from brainsim.experiments import StageOptions, mnist
    from brainsim.stimuli import load_embedded

    data = load_embedded()
    print(data.describe())
    N_NEURONS, N_TRAIN, N_OBSERVE, N_TEST = (100, 4000, 1000, 1000) if FULL else (25, 2000, 500, 500)

    fig, axes = plt.subplots(1, 8, figsize=(10, 1.6))
    for ax, image, label in zip(axes, data.train_images, data.train_labels):
        ax.imshow(np.asarray(image).reshape(28, 28), cmap="gray_r")
        ax.set_title(f"label {label}", fontsize=9)
        ax.axis("off")
    plt.show()
    """),
    md("""
    ## Train

    Each digit is shown for 350 ms as Poisson spike trains (rate proportional to pixel intensity), then
    the network rests 150 ms. The stage compiles one C++ project (`cpp_standalone`) and runs the digits
    in chunks, with a checkpoint after each chunk and weight snapshots along the way.
    """),
    code("""
    opts = StageOptions(data_dir=str(WORK / "diehl_cook"), device=DeviceConfig("cpp_standalone"),
                        progress=False, n_snapshots=4, chunk_samples=max(N_TRAIN // 4, 1))
    params = DiehlCookParams(n_neurons=N_NEURONS)
    summary = mnist.train(params, data, N_TRAIN, opts)
    print({k: summary[k] for k in ("n", "seconds_per_sample") if k in summary})
    """),
    md("""
    ## Receptive fields forming over training

    The input weights of each neuron, drawn as 28 x 28 images, at the snapshots the training stage
    saved (`snapshots/weights_<sample>.npy` in the data directory) and at the end.
    """),
    code("""
    from brainsim.plotting.mnist import receptive_fields_figure

    snapshots = sorted((Path(opts.data_dir) / "snapshots").glob("weights_*.npy"))
    for path in snapshots[:-1]:
        fig = receptive_fields_figure(np.load(path), N_NEURONS)
        fig.suptitle(f"after {int(path.stem.split('_')[1])} training digits")
        plt.show()
    """),
    md("""
    ## Label and test
    """),
    code("""
    observed = mnist.observe(data, N_OBSERVE, opts)
    results = mnist.test(data, N_TEST, opts)
    print("neurons per class:", list(map(int, observed["neurons_per_class"])), "| silent:", observed["silent_neurons"])
    print(f"test accuracy {100 * results['accuracy']:.1f} % on {results['n_test']} digits never trained on "
          f"(chance 10 %)")

    weights = np.load(Path(opts.data_dir) / "weights.npy")
    assign = np.load(Path(opts.data_dir) / "assign.npy")
    fig = receptive_fields_figure(weights, N_NEURONS, assign=assign)
    fig.suptitle(f"final receptive fields with their labels, after {N_TRAIN} digits")
    plt.show()
    """),
    code("""
    from brainsim.plotting.mnist import confusion_figure as digit_confusion

    digit_confusion(np.asarray(results["confusion"]))
    plt.show()
    """),
    md("""
    With 25 neurons there are only two or three prototypes per digit, and some digits may get none; the paper
    reports 82.9 % with 100 neurons and 95 % with 6,400 on full MNIST. `docs/mnist.md` has the numbers
    measured with brainsim and the commands (`brainsim mnist train | observe | test`).

    ## Exercises

    1. **Size**: 25, 50, 100 neurons with the same digits. How does accuracy grow, and how many neurons
       end up per class?
    2. **Training length**: snapshots at more points (`n_snapshots`), and accuracy after 100, 300, 1000
       digits.
    3. **Adaptive thresholds**: set `theta_plus_mv=0.0` in `DiehlCookParams` (no adaptation). What
       happens to the receptive fields, and why do a few neurons take over?
    4. **Time step**: `mnist.test(..., evaluation=brainsim.experiments.EvaluationParams(dt_ms=0.1))` tests the trained
       network with a finer step. Does the accuracy change?
    """),
]

NOTEBOOKS["04_delay_learning"] = [
    md("""
    # 4. Learning synaptic delays: lagging variables in Brian2, a differentiable delay in torch

    One task, two learners. Spike source SG1 emits a random pattern, repeated; SG2 emits the same
    pattern `offset` ms *earlier*. Learn a delay on SG2 such that its spikes arrive together with SG1's.

    * **Lagging variables** (Brian2, `brainsim.circuits.lagging`): a chain of K first-order stages
      `dx_k/dt = (x_{k-1} - x_k) / tau_d` delays a spike by K tau_d on average. tau_d is a state
      variable, so a local, biologically plausible rule can change the delay *during* the run.
    * **A differentiable delay layer** (torch, `brainsim.snn.delays`): the delay is a real number,
      spikes are shifted by interpolation, and gradient ascent maximises the coincidence of the two
      filtered trains.
    """),
    *setup("offsets of 3 and 7 ms, 1.5 s of simulated time, 150 gradient steps",
           "offsets 1-12 ms, 3 s of simulated time and 300 gradient steps"),
    md("""
    ## The lag chain's impulse response

    After one input spike the last stage follows an Erlang density of shape K: mean K tau_d, spread
    sqrt(K) tau_d. More stages give a sharper delay.
    """),
    code("""
    from brainsim.experiments import ImpulseParams, impulse_responses
    from brainsim.plotting.delays import impulse_figure

    responses = impulse_responses(ImpulseParams())
    impulse_figure(responses)
    plt.show()
    """),
    md("""
    ## Learning one offset with each method

    `run_lagging` runs the Brian2 learner (any device; the rule is generated code), `run_torch` the
    torch one. Both return a `DelayRun`: a summary and the delay trajectory, and `run_figure` draws it
    with the alignment of both inputs in the first and the last pattern period.
    """),
    code("""
    from brainsim.experiments import LaggingRunParams, TorchRunParams, run_lagging, run_torch
    from brainsim.plotting.delays import run_figure

    DURATION_S, EPOCHS = (3.0, 300) if FULL else (1.5, 150)
    lagging = run_lagging(7.0, seed=1, params=LaggingRunParams(duration_s=DURATION_S))
    learned = run_torch(7.0, seed=1, params=TorchRunParams(epochs=EPOCHS))
    for run in (lagging, learned):
        s = run.summary
        print(f"{s['method']:8s} offset {s['offset_ms']:.1f} ms -> learned {s['learned_delay_ms']:.2f} ms "
              f"(error {s['error_ms']:.2f} ms, converged: {s['converged']})")
    run_figure(lagging)
    run_figure(learned)
    plt.show()
    """),
    md("""
    ## Several offsets

    `run_lagging_many` learns several offsets at once, one learner each, in one Brian2 run.
    """),
    code("""
    from brainsim.experiments import run_lagging_many

    offsets = np.arange(1.0, 13.0, 1.0) if FULL else np.array([3.0, 7.0])
    lag_runs = run_lagging_many(offsets, seed=1, params=LaggingRunParams(duration_s=DURATION_S))
    torch_runs = [run_torch(o, seed=1, params=TorchRunParams(epochs=EPOCHS)) for o in offsets]

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for run in lag_runs:
        ax1.plot(run.step / 1e3, run.delay_ms)
    ax1.set_xlabel("simulated time (s)")
    ax1.set_ylabel("delay (ms)")
    ax1.set_title("lagging variables (Brian2): delay during the run")
    for offset, run in zip(offsets, torch_runs):
        ax2.plot(run.step, run.delay_ms, label=f"offset {offset:g} ms")
        ax1.axhline(offset, color="k", ls=":", lw=0.8)
        ax2.axhline(offset, color="k", ls=":", lw=0.8)
    ax2.set_xlabel("gradient step")
    ax2.set_ylabel("delay (ms)")
    ax2.set_title("differentiable delay (torch): delay per step")
    ax2.legend(fontsize=8)
    plt.show()
    for o, a, b in zip(offsets, lag_runs, torch_runs):
        print(f"offset {o:4.1f} ms: lagging {a.summary['learned_delay_ms']:6.2f} ms, torch {b.summary['learned_delay_ms']:6.2f} ms")
    """),
    md("""
    The two learn the same thing by different means: the lagging rule uses only quantities local to
    the synapse and works online in simulated time; the torch layer needs the whole pattern, the
    gradient, and epochs. `docs/delays.md` has the measurements and the IPD task with learned delays
    (`run_ipd_delays`, `brainsim delays --task ipd`).

    ## Exercises

    1. **Number of stages**: `LaggingRunParams(circuit=DelayLearnerParams(stages=K))`
       (`brainsim.circuits.DelayLearnerParams`) for K = 2, 4, 8,
       16. Which K learns fastest, which most precisely? Relate it to the impulse responses.
    2. **Surrogates**: `TorchRunParams(surrogate="straight_through")` vs `"interpolate"`.
    3. **Pattern**: `brainsim.experiments.PatternParams(n_spikes=..., period_ms=...)`, passed as
       `pattern=` to both runs, sets the spikes per period and the period; how sparse can the
       pattern be before either learner fails?
    """),
]

NOTEBOOKS["05_torch_to_brian2"] = [
    md("""
    # 5. From torch to Brian2: NIR, current- and conductance-based neurons, two devices

    A network trained in torch (notebook 2) is only a model of a brain if it still works as a
    simulation of neurons. Here: train it, export it to **NIR** (the Neuromorphic Intermediate
    Representation), read it back, and run it in Brian2 as

    * `cuba`: the torch equations exactly (current-based, dt 1 ms): spike for spike identical;
    * `coba`: conductance-based neurons in mV and ms with dt 0.1 ms: close, not identical.

    and compare Brian2's `runtime` device with `cpp_standalone` (one compiled C++ program).
    """),
    *setup("a 5-epoch network, 64 test stimuli per comparison",
           "a 10-epoch network on 4096 stimuli and 1024 test stimuli per comparison"),
    code("""
    from brainsim.experiments import protocol_from, train_ipd

    size = dict(epochs=10, n_train=4096, n_test=2048) if FULL else dict(epochs=5, n_train=1024, n_test=512)
    N_TEST = 1024 if FULL else 64
    model_dir = WORK / "ipd_tau2"
    result = train_ipd(protocol_from("seed", tau_ms=2.0, seed=0, **size), model_dir, progress=False)
    print(f"torch test accuracy {100 * result.scores['test_accuracy']:.1f} %; model directory {model_dir}")
    """),
    md("""
    ## Export to NIR and read it back

    `export_nir` writes the NIR graph and a small side file (stimulus, classes, readout) next to it;
    `read_graph` / `spec_from_nir` read it back. Any tool that speaks NIR (snnTorch, Norse, Lava, ...)
    can load the graph.
    """),
    code("""
    from brainsim.bridge import export_nir, load_network, read_graph, spec_from_nir

    graph_path, side_path = export_nir(load_network(model_dir), WORK / "ipd_tau2.nir")
    graph = read_graph(graph_path)
    print("NIR nodes:", {name: type(node).__name__ for name, node in graph.nodes.items()})
    back = spec_from_nir(graph_path)
    print("round trip: W1 identical", np.array_equal(back.W1, load_network(model_dir).W1))
    """),
    md("""
    ## torch vs Brian2, cuba and coba

    `run_comparison` runs torch and Brian2 on the same test stimuli and compares predictions, accuracy
    and hidden spikes; the model can be the model directory or the NIR file.
    """),
    code("""
    from brainsim.devices import DeviceConfig
    from brainsim.experiments import CompareParams, run_comparison
    from brainsim.plotting.compare import comparison_plot

    comparisons = {}
    for neuron in ("cuba", "coba"):
        c = run_comparison(graph_path, CompareParams(neuron=neuron, n_test=N_TEST, device=DeviceConfig("runtime")))
        comparisons[neuron] = c
        s = c.summary
        print(f"{neuron}: torch {100 * s['torch_accuracy']:.1f} %, Brian2 {100 * s['brian2_accuracy']:.1f} %, "
              f"identical predictions {100 * s['identical_predictions']:.0f} %, "
              f"hidden spikes Brian2/torch {s['hidden_spike_ratio']:.3f}, "
              f"identical spike trains: {s.get('hidden_spike_trains_identical', 'n/a (coba)')}")
        comparison_plot(s, c.arrays.torch_counts, c.arrays.brian2_counts)
        plt.show()
    """),
    md("""
    cuba realises exactly the discrete-time equations torch trained (docs/ipd_training.md), with the
    decay factors torch computed, so every hidden spike is in the same bin. coba fires about half as
    many hidden spikes: torch's discrete-time neuron is reset one step late and so often spikes twice
    per threshold crossing (docs/ipd_training.md), the conductance-based neuron once. coba is a different model
    (conductances, continuous time at 0.1 ms): the spike counts scatter around the diagonal, and the
    accuracy is close but not equal (docs/bridge.md has the tolerances measured on the shipped models).

    ## runtime vs cpp_standalone

    `runtime` interprets the network from Python (numpy or Cython code per object); `cpp_standalone`
    generates and compiles one C++ project. Compilation costs time once; the run is faster.
    """),
    code("""
    timing = {}
    for device in ("runtime", "cpp_standalone"):
        s = run_comparison(model_dir, CompareParams(neuron="cuba", n_test=N_TEST, device=DeviceConfig(device))).summary
        timing[device] = s
        print(f"{device:15s} build {s['brian2_build_seconds']:6.1f} s, run {s['brian2_run_seconds']:6.2f} s, "
              f"accuracy {100 * s['brian2_accuracy']:.1f} %")
    same = timing["runtime"]["brian2_confusion"] == timing["cpp_standalone"]["brian2_confusion"]
    print("same confusion matrix on both devices:", same)

    fig, ax = plt.subplots(figsize=(5, 3.5))
    names = list(timing)
    ax.bar(names, [timing[d]["brian2_build_seconds"] for d in names], label="build (code generation, compilation)")
    ax.bar(names, [timing[d]["brian2_run_seconds"] for d in names],
           bottom=[timing[d]["brian2_build_seconds"] for d in names], label="run")
    ax.set_ylabel("wall time (s)")
    ax.set_title(f"Brian2 cuba, {N_TEST} test stimuli")
    ax.legend(fontsize=8)
    plt.show()
    """),
    md("""
    With more stimuli (FULL = True) the run dominates and cpp_standalone wins; with a GPU,
    `DeviceConfig("cuda_standalone")` runs the same network with brian2cuda. From the command line:
    `brainsim compare --model models/ipd_best --neuron coba --device cpp_standalone --plot compare.png`.

    ## Exercises

    1. **coba parameters**: `CompareParams(coba=CobaParams(...))` (`brainsim.circuits.CobaParams`):
       which parameters move the coba accuracy furthest from torch's?
    2. **Time constants**: train with tau 20 ms instead of 2 ms. Does coba agree better or worse?
       Why might short time constants be harder for the 0.1 ms conductance model?
    3. **Heterogeneous taus**: train with `tau_hetero=True, learn_tau=True` and compare with coba: the
       learned taus can fall below the 1 ms step (docs/ipd_training.md explains what that does).
    4. **Another simulator**: load `ipd_tau2.nir` with snnTorch (`snntorch.import_from_nir`) and
       compare its spikes with Brian2's.
    """),
]


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
