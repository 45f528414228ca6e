"""Parameter sweeps: TOML specs, cartesian expansion x seeds, local or Dask execution, one tidy table.

    from brainsim.sweeps import SweepOptions, parse_spec, run_sweep
    spec = parse_spec('experiment = "jeffress"\\nrepeats = 2\\n[grid]\\nipd_deg = [-45.0, 0.0, 45.0]')
    result = run_sweep(spec, "runs/jeffress_ipd", SweepOptions(workers=2))   # -> runs/jeffress_ipd/results.csv

Modules: :mod:`.spec` (reading and checking specs), :mod:`.expansion` (settings x seeds, run ids),
:mod:`.executor` (local worker processes or a Dask cluster), :mod:`.table` (``results.csv`` and
``sweep.json``), :mod:`.engine` (:func:`run_sweep`: resumable), :mod:`.experiment` (what a sweep can
run, the registry) and :mod:`.adapters` (the built-in experiments, parameters derived from the
experiments' configuration dataclasses). See docs/sweeps.md.
"""
from .engine import SweepOptions, SweepResult, default_workers, run_sweep
from .executor import execute_run, parse_scheduler_address
from .expansion import Run, expand, run_id, settings
from .experiment import REQUIRED, Experiment, Param, available, config_from, config_params, get, names, register
from .spec import SweepSpec, load_spec, parse_spec, spec_from_dict
from .table import RESERVED, SWEEP_JSON, TABLE, read_table, split_columns

__all__ = ["RESERVED", "REQUIRED", "SWEEP_JSON", "TABLE", "Experiment", "Param", "Run", "SweepOptions", "SweepResult",
           "SweepSpec", "available", "config_from", "config_params", "default_workers", "execute_run", "expand", "get",
           "load_spec", "names", "parse_scheduler_address", "parse_spec", "read_table", "register", "run_id", "run_sweep", "settings",
           "spec_from_dict", "split_columns"]
