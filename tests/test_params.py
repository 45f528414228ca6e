"""One parameter surface: the fields of a configuration are its validation, its CLI options and its
sweep parameters (brainsim.params, brainsim.cli.options, brainsim.sweeps.experiment)."""
from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import pytest

from brainsim.circuits.jeffress import JeffressParams, fibre_delays_ms
from brainsim.cli.args import OneLineErrorParser
from brainsim.cli.options import add_options
from brainsim.errors import UserError
from brainsim.experiments.jeffress import JeffressConfig
from brainsim.params import build, flat_params, to_flat
from brainsim.stimuli.ipd import PLAIN_EARS
from brainsim.sweeps import config_from, config_params


def test_flat_names_of_a_nested_configuration():
    names = [p.name for p in flat_params(JeffressConfig)]
    assert len(names) == len(set(names))
    paths = {p.name: p.path for p in flat_params(JeffressConfig)}
    assert paths["freq_hz"] == ("stimulus", "freq_hz")              # the tone: the stimulus's field
    assert paths["stimulus_dt_ms"] == ("stimulus", "dt_ms")         # renamed: the circuit has a dt too
    assert paths["dt_ms"] == ("circuit", "dt_ms")
    assert paths["circuit_freq_hz"] == ("circuit", "layout_freq_hz")
    assert paths["device"] == ("device", "name")
    # the defaults are the group defaults (plain ears for the Jeffress circuit)
    defaults = {p.name: p.default for p in flat_params(JeffressConfig)}
    assert defaults["phase_delays"] is False and defaults["n_detectors"] == 36


def test_build_replaces_leaves_and_keeps_everything_else():
    config = build(JeffressConfig, {"freq_hz": 30.0, "n_detectors": 48, "device": "cpp_standalone"})
    assert config.stimulus == dataclasses.replace(PLAIN_EARS, freq_hz=30.0)
    assert config.circuit == JeffressParams(n_detectors=48)
    assert config.device.name == "cpp_standalone" and config.seed == 0
    assert build(JeffressConfig, to_flat(config)) == config          # round trip through flat names
    with pytest.raises(UserError, match="no parameter 'frequency'"):
        build(JeffressConfig, {"frequency": 30.0})


def test_dataclasses_raise_one_line_user_errors_naming_the_field():
    with pytest.raises(UserError, match=r"^JeffressParams: n_detectors must be >= 3, got 2$"):
        JeffressParams(n_detectors=2)
    with pytest.raises(UserError, match="IPDStimulusParams: freq_hz must be > 0 Hz"):
        build(JeffressConfig, {"freq_hz": -1.0})
    with pytest.raises(UserError, match="fibres_per_ear must be a positive integer"):
        build(JeffressConfig, {"fibres_per_ear": 0})
    with pytest.raises(UserError, match="unknown device 'gpu'"):
        build(JeffressConfig, {"device": "gpu"})


def _parser():
    parser = OneLineErrorParser(prog="t")
    return parser, add_options(parser, JeffressConfig)


def test_cli_options_are_the_fields_with_units_and_defaults():
    parser, options = _parser()
    flags = {a.dest: a.option_strings for a in parser._actions if a.dest != "help"}
    assert flags["freq_hz"] == ["--freq"] and flags["n_detectors"] == ["--detectors"]
    assert flags["fibres_per_ear"] == ["--fibres"] and flags["duration_ms"] == ["--duration"]
    assert "random_start_phase" not in flags             # cli="": not an option
    text = parser.format_help()
    assert "tone frequency (Hz); default: 20" in text and "coincidence detectors" in text
    config = options.build(parser.parse_args(["--freq", "30", "--detectors", "48", "--phase-delays"]))
    assert config == build(JeffressConfig, {"freq_hz": 30.0, "n_detectors": 48, "phase_delays": True})
    assert options.build(parser.parse_args([])) == JeffressConfig()      # nothing given: the defaults


def test_bad_option_values_are_one_line_argparse_errors(capsys):
    parser, _ = _parser()
    for argv, fragment in ((["--freq", "-1"], "argument --freq: must be > 0 Hz"),
                           (["--detectors", "x"], "argument --detectors: not an integer"),
                           (["--device", "gpu"], "argument --device: invalid choice")):
        with pytest.raises(SystemExit) as info:
            parser.parse_args(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert info.value.code == 2 and len(err) == 1 and fragment in err[0], err


def test_sweep_parameters_are_the_same_fields():
    params = {p.name: p for p in config_params(JeffressConfig)}
    sweepable = [p for p in flat_params(JeffressConfig) if p.info.sweep is not False]
    assert list(params) == [p.name for p in sweepable]     # seed, build_dir, ... are not sweep parameters
    assert "seed" not in params and "build_dir" not in params
    assert params["freq_hz"].default == 20.0 and params["phase_delays"].default is False
    with pytest.raises(UserError, match="grid.freq_hz must be > 0"):
        params["freq_hz"].coerce(0.0, "grid.freq_hz")
    values = {name: p.default for name, p in params.items()} | {"freq_hz": 30.0, "circuit_freq_hz": 25.0}
    config = config_from(JeffressConfig, values)
    assert (config.stimulus.freq_hz, config.circuit.layout_freq_hz) == (30.0, 25.0)


def test_the_delay_lines_follow_the_stimulus_frequency():
    """The walk of freq_hz: one field, read by the stimulus and by the builder's delay layout."""
    config = build(JeffressConfig, {"freq_hz": 30.0, "fibres_per_ear": 1, "n_detectors": 12})
    delays = fibre_delays_ms(config.circuit, config.stimulus)      # (2 fibres, 12 detectors)
    period_ms = 1e3 / 30.0
    assert np.allclose(delays[1] - delays[0], config.circuit.best_ipd_rad / (2 * np.pi) * period_ms)
    assert np.allclose(delays[0] + delays[1], period_ms / 2)
    # a circuit laid out for another frequency than the tone (the sweep's circuit_freq_hz)
    other = dataclasses.replace(config.circuit, layout_freq_hz=20.0)
    assert np.allclose(fibre_delays_ms(other, config.stimulus).sum(axis=0), 25.0)


def test_option_sets_can_share_an_option_between_configurations():
    from brainsim.experiments.delays import LaggingRunParams, TorchRunParams

    parser = argparse.ArgumentParser()
    shared = ("initial_delay_ms", "max_delay_ms")
    add_options(parser, LaggingRunParams, only=shared)
    lagging = add_options(parser, LaggingRunParams, exclude=shared, shared=shared)
    torch_options = add_options(parser, TorchRunParams, exclude=shared + ("tolerance_ms",), shared=shared)
    args = parser.parse_args(["--max-delay-ms", "12", "--stages", "4"])
    assert lagging.build(args).circuit.max_delay_ms == 12.0 and lagging.build(args).circuit.stages == 4
    assert torch_options.build(args).max_delay_ms == 12.0                 # one option, both methods
    assert torch_options.build(args).initial_delay_ms == TorchRunParams().initial_delay_ms
