"""The Jeffress detector array (:mod:`brainsim.circuits.jeffress`) as a NIR graph.

Graph (node names fixed)::

    input (Input, n_fibres) -> fanout (Linear) -> delay_lines (Delay) -> synapses (Linear, w) -> detectors (LIF) -> out (Output)

One feature per (fibre, detector) delay line: ``fanout`` copies fibre ``f`` to feature
``f * n_detectors + k``, ``delay_lines`` delays it by the circuit's delay from ``f`` to detector ``k``
(rounded to the time step, as Brian2 does), and ``synapses`` adds the input weight ``w`` to
detector ``k``. One input bin is one simulation step of the circuit (``dt_s`` in the metadata).

The detectors are written so that NIR's LIF, stepped as brainsim and the PyTorch frameworks step it
(forward Euler, threshold after the step's input, reset to ``v_reset`` before the next step's
integration), follows the Brian2 detector (exact decay ``v <- v exp(-dt/tau)``, then threshold,
then the step's input, then reset):

* ``tau = dt / (1 - exp(-dt/tau_detector))`` and ``r = tau / dt``: the Euler step is the exact decay
  and an input spike adds ``w``;
* ``v_threshold = exp(dt/tau_detector)``: Brian2 tests ``v`` after the next step's decay, so its
  threshold 1 is reached exactly when the NIR membrane exceeds ``1 / exp(-dt/tau)``; the NIR detector
  then spikes one step (``dt``) earlier than the Brian2 one.

What NIR cannot say, and so differs: the Brian2 detector drops the input that arrives in its spike's
own step (it resets after the synapses act), and it is refractory for ``refractory_ms`` (inputs
still add to v meanwhile). With ``refractory_ms = 0`` the only difference is the first; the
differences are measured in docs/nir.md ("The Jeffress detector array") and by the tests.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..circuits.jeffress import JeffressParams, fibre_delays_ms, input_weight
from ..errors import UserError
from ..io import atomic_path, check_writable
from ..stimuli.ipd import IPDStimulusParams
from .nir_export import delayed_projection_nodes


def jeffress_delay_steps(params: JeffressParams, stimulus: IPDStimulusParams) -> np.ndarray:
    """Delay of every line (n_fibres, n_detectors) in whole simulation steps, rounded like Brian2's."""
    return np.rint(fibre_delays_ms(params, stimulus) / params.dt_ms).astype(np.int64)


def jeffress_to_graph(params: JeffressParams, stimulus: IPDStimulusParams):
    """The NIR graph of the detector array of ``params`` for ``stimulus`` (see the module docstring)."""
    import nir

    n_fibres, n_det = stimulus.n_fibres, params.n_detectors
    dt_s = params.dt_ms * 1e-3
    decay = np.exp(-params.dt_ms / params.tau_ms)
    tau = dt_s / (1.0 - decay)
    weight = np.full((n_fibres, n_det), input_weight(params, stimulus))
    nodes = {"input": nir.Input(input_type={"input": np.array([n_fibres])})}
    nodes.update(delayed_projection_nodes(weight, jeffress_delay_steps(params, stimulus) * dt_s,
                                          names=("fanout", "delay_lines", "synapses")))
    nodes["detectors"] = nir.LIF(tau=np.full(n_det, tau), r=np.full(n_det, tau / dt_s), v_leak=np.zeros(n_det),
                                 v_threshold=np.full(n_det, 1.0 / decay), v_reset=np.zeros(n_det))
    nodes["out"] = nir.Output(output_type={"output": np.array([n_det])})
    edges = [("input", "fanout"), ("fanout", "delay_lines"), ("delay_lines", "synapses"), ("synapses", "detectors"),
             ("detectors", "out")]
    metadata = {"source": "brainsim jeffress", "dt_s": dt_s, "reset_method": "zero",
                "best_ipd_deg": np.degrees(params.best_ipd_rad), "refractory_s_not_represented": params.refractory_ms * 1e-3}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def export_jeffress_nir(params: JeffressParams, stimulus: IPDStimulusParams, path) -> Path:
    """Write the detector array's NIR graph to ``path`` (HDF5, atomically)."""
    import nir

    path = Path(path)
    if path.suffix != ".nir":
        raise UserError(f"{path}: NIR files must end in .nir")
    check_writable(path)
    with atomic_path(path, suffix=".nir") as tmp:
        nir.write(str(tmp), jeffress_to_graph(params, stimulus))
    return path
