"""Sweep specs: parsing, validation against the experiments' declared parameters, expansion, run ids."""
from __future__ import annotations

import itertools

import pytest

from brainsim.errors import UserError
from brainsim import sweeps as sw

JEFFRESS = """
experiment = "jeffress"
repeats = 3
first_seed = 5
[grid]
ipd_deg = [-45.0, 0, 45]
n_detectors = [12, 24]
[fixed]
n_trials = 2
duration_ms = 50
"""


def test_parse_coerces_types_and_keeps_order():
    spec = sw.parse_spec(JEFFRESS)
    assert spec.experiment == "jeffress"
    assert spec.seeds == (5, 6, 7)
    assert spec.grid == {"ipd_deg": (-45.0, 0.0, 45.0), "n_detectors": (12, 24)}
    assert all(isinstance(v, float) for v in spec.grid["ipd_deg"])
    assert spec.fixed == {"n_trials": 2, "duration_ms": 50.0}
    assert spec.param_names == ["ipd_deg", "n_detectors", "n_trials", "duration_ms"]


def test_expansion_is_the_cartesian_product_times_seeds():
    spec = sw.parse_spec(JEFFRESS)
    runs = sw.expand(spec)
    assert spec.n_runs == len(runs) == 3 * 2 * 3
    expected = [(ipd, nd, seed) for ipd, nd in itertools.product((-45.0, 0.0, 45.0), (12, 24)) for seed in (5, 6, 7)]
    assert [(r.params["ipd_deg"], r.params["n_detectors"], r.seed) for r in runs] == expected
    assert all(r.params["n_trials"] == 2 and r.params["duration_ms"] == 50.0 for r in runs)
    assert len({r.run_id for r in runs}) == len(runs)
    assert runs[0].setting == "ipd_deg=-45, n_detectors=12"


def test_run_ids_are_stable_and_depend_on_values_not_spelling():
    a = sw.expand(sw.parse_spec(JEFFRESS))
    b = sw.expand(sw.parse_spec(JEFFRESS.replace("[-45.0, 0, 45]", "[-45, 0.0, 45.0]")))
    assert [r.run_id for r in a] == [r.run_id for r in b]
    # a hash of experiment, values and seed: known value, so ids do not drift between versions
    assert sw.run_id("jeffress", {"ipd_deg": 0.0}, 0) == sw.run_id("jeffress", {"ipd_deg": 0.0}, 0)
    assert sw.run_id("jeffress", {"ipd_deg": 0.0}, 0) != sw.run_id("jeffress", {"ipd_deg": 0.0}, 1)
    assert sw.run_id("jeffress", {"ipd_deg": 0.0}, 0) != sw.run_id("jeffress", {"ipd_deg": 1.0}, 0)
    # adding a grid value keeps the ids of the runs that were already there
    more = sw.expand(sw.parse_spec(JEFFRESS.replace("[-45.0, 0, 45]", "[-45.0, 0, 45, 90]")))
    assert {r.run_id for r in a} <= {r.run_id for r in more}


def test_explicit_seeds_and_default_single_seed():
    spec = sw.parse_spec('experiment = "jeffress"\nseeds = [3, 11]\n[grid]\nn_trials = [1]\n')
    assert spec.seeds == (3, 11)
    spec = sw.parse_spec('experiment = "jeffress"\n[grid]\nn_trials = [1]\n')
    assert spec.seeds == (0,)


@pytest.mark.parametrize("text, fragment", [
    ('experiment = "jeffress"\n[grid\nipd_deg = [1]', "not valid toml"),
    ('experiment = "nope"\n[grid]\nx = [1]', "unknown experiment 'nope'"),
    ('[grid]\nipd_deg = [1.0]', "missing 'experiment"),
    ('experiment = "jeffress"\n[grid]\nipd_dge = [1.0]', "unknown parameter 'ipd_dge'"),
    ('experiment = "jeffress"\n[grid]\n[fixed]\nn_trials = 2', "[grid] is empty"),
    ('experiment = "jeffress"', "[grid] is empty"),
    ('experiment = "jeffress"\n[grid]\nipd_deg = []', "empty list"),
    ('experiment = "jeffress"\n[grid]\nipd_deg = 45.0', "must be a list"),
    ('experiment = "jeffress"\n[grid]\nipd_deg = [1.0, 1]', "twice"),
    ('experiment = "jeffress"\n[grid]\nn_detectors = [12.5]', "must be an integer"),
    ('experiment = "jeffress"\n[grid]\nipd_deg = ["left"]', "must be a number"),
    ('experiment = "jeffress"\n[grid]\nphase_delays = [1]', "true or false"),
    ('experiment = "jeffress"\n[grid]\ndevice = ["gpu"]', "invalid choice"),
    ('experiment = "jeffress"\n[grid]\nn_detectors = [2]', "n_detectors must be >= 3"),
    ('experiment = "jeffress"\n[grid]\nipd_deg = [500.0]', "between -180 and 180"),
    ('experiment = "jeffress"\nrepeats = 0\n[grid]\nn_trials = [1]', "repeats must be an integer >= 1"),
    ('experiment = "jeffress"\nseeds = [1]\nrepeats = 2\n[grid]\nn_trials = [1]', "not both"),
    ('experiment = "jeffress"\n[grid]\nseed = [1, 2]', "'seed' is not a parameter"),
    ('experiment = "jeffress"\n[grid]\nn_trials = [1]\n[fixed]\nn_trials = 2', "both in [grid] and in [fixed]"),
    ('experiment = "jeffress"\nrepeat = 2\n[grid]\nn_trials = [1]', "unknown key 'repeat'"),
    ('experiment = "ipd"\n[grid]\nreadout = ["xyz"]', "invalid choice"),
    ('experiment = "ipd"\n[grid]\nhidden = [0]', "positive integer"),
    ('experiment = "ipd"\n[grid]\nbatch_size = [8192]', "larger than the training set"),
    ('experiment = "ipd-evaluate"\n[grid]\nn_test = [10]', "needs a value for model"),
    ('experiment = "compare"\n[grid]\nneuron = ["lif"]\n[fixed]\nmodel = "m"', "invalid choice"),
    ('experiment = "compare"\n[grid]\nn_test = [8]', "needs a value for model"),
    ('experiment = "compare"\n[grid]\ncoba_e_i_mv = [-50.0]\n[fixed]\nmodel = "m"', "need E_i < E_L"),
    ('experiment = "no_such_module:X"\n[grid]\nx = [1]', "cannot import experiment"),
])
def test_bad_specs_are_one_line_user_errors(text, fragment):
    with pytest.raises(UserError) as info:
        sw.parse_spec(text, source="spec.toml")
    message = str(info.value)
    assert fragment.lower() in message.lower()
    assert "\n" not in message


def test_stdp_settings_are_checked_by_its_parameter_class():
    if "stdp" not in sw.available():
        pytest.skip("the Diehl & Cook experiment is not in this checkout")
    with pytest.raises(UserError, match="n_neurons must be a positive integer"):
        sw.parse_spec('experiment = "stdp"\n[grid]\nn_neurons = [0]')
    with pytest.raises(UserError, match="dt .* must divide"):
        sw.parse_spec('experiment = "stdp"\n[grid]\ndt_ms = [0.3]')
    spec = sw.parse_spec('experiment = "stdp"\nrepeats = 2\n[grid]\nn_neurons = [25, 50]\nintensity = [1.0, 2.0]')
    assert spec.n_runs == 8


def test_every_adapter_declares_unique_parameters_and_metrics():
    assert {"jeffress", "ipd", "ipd-evaluate", "compare"} <= set(sw.available())
    for name in sw.available():
        exp = sw.get(name)
        names = exp.param_names
        assert len(names) == len(set(names)), name
        assert "seed" not in names
        assert not set(names) & sw.RESERVED, name
        assert not set(exp.metrics) & (sw.RESERVED | set(names)), name
        for p in exp.params:  # defaults are valid values of the declared type
            if p.default is not sw.REQUIRED:
                assert p.coerce(p.default) == p.default, (name, p.name)


def test_adapter_defaults_match_the_experiments_parameter_classes():
    from brainsim.circuits.jeffress import JeffressParams
    from brainsim.stimuli.ipd import IPDStimulusParams

    jeff = sw.get("jeffress")
    assert jeff.param("n_detectors").default == JeffressParams().n_detectors
    assert jeff.param("stimulus_dt_ms").default == IPDStimulusParams().dt_ms
    assert jeff.param("phase_delays").default is False  # plain ears, as brainsim jeffress
    if "stdp" in sw.available():
        from brainsim.circuits.diehl_cook import DiehlCookParams

        stdp = sw.get("stdp")
        assert stdp.param("intensity").default == DiehlCookParams().intensity
    ipd = sw.get("ipd")
    assert ipd.param("envelope_power").default == IPDStimulusParams().envelope_power


def test_ipd_tau_shortcut_sets_both_layers_unless_one_is_given():
    from brainsim.experiments.ipd import protocol_from

    both = protocol_from("seed", tau_ms=2.0)
    assert (both.net.tau_hidden_ms, both.net.tau_out_ms) == (2.0, 2.0)
    specific = protocol_from("seed", tau_ms=2.0, tau_out_ms=5.0)
    assert (specific.net.tau_hidden_ms, specific.net.tau_out_ms) == (2.0, 5.0)
    assert protocol_from("best").net.tau_out_ms == 2.0   # the preset's, untouched


def test_plugin_experiment_by_import_path():
    spec = sw.parse_spec('experiment = "sweep_plugin:PROBE"\nrepeats = 2\n[grid]\nx = [1, 2]\nlabel = ["a", "b"]')
    assert spec.n_runs == 8
    assert spec.grid["x"] == (1.0, 2.0)


def test_scheduler_addresses():
    assert sw.parse_scheduler_address("tcp://10.0.0.5:8786") == ("tcp", "10.0.0.5", 8786)
    assert sw.parse_scheduler_address("localhost:8786") == ("tcp", "localhost", 8786)
    for bad in ("tcp://host", "http://host:1", "tcp://:80", "tcp://host:99999"):
        with pytest.raises(UserError):
            sw.parse_scheduler_address(bad)


def test_every_example_spec_in_the_docs_parses():
    from conftest import ROOT

    specs = sorted((ROOT / "docs" / "sweeps").glob("*.toml"))
    assert any(p.name == "jeffress_learn.toml" for p in specs)
    for path in specs:
        spec = sw.load_spec(path)
        assert sw.expand(spec), path
