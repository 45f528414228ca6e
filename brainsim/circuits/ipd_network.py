"""Brian2 realisations of trained IPD networks (a :class:`~brainsim.netspec.IPDNetworkSpec`, e.g. a
torch model of :mod:`brainsim.snn` or a model directory): ``cuba`` and ``coba``.

The networks are those of the Cosyne 2022 sound-localisation tutorial (D. Goodman; seeds 000/002),
trained with surrogate gradients (Zenke & Ganguli 2018; Neftci, Mostafa & Zenke 2019): 200 Poisson
auditory-nerve fibres -> a hidden layer of LIF neurons -> 12 output neurons read out by ``oc``
(mean membrane), ``max``, ``fr`` (spiking outputs) or ``pop``.

Batch layout: all stimuli are simulated side by side in ONE network (one compilation, one run).
Fibre ``s * n_in + f`` of sample ``s`` projects only to the hidden neurons ``s * n_hidden + h`` of
that sample, which project only to its outputs ``s * n_out + o``. Synapses are created from
generator expressions and their weights looked up in small tables (TimedArrays indexed by the
presynaptic feature), so no per-synapse array of the size of the batch is written to disk.

``cuba`` (current based, dimensionless, dt = the model's dt, 1 ms)
    The discrete-time equations of :mod:`brainsim.snn.core`, in the same update order. Each time step
    ``t`` runs, in Brian2's schedule: thresholds (a hidden neuron emits ``s_t``, the spike computed
    at the previous step), synapses (``I += w`` for every input spike ``x_t`` and hidden spike
    ``s_t``: the currents ``I_t = x_t W1``, ``s_t W2``), then the update below (``after_synapses``)::

        hidden (LIF):  s_next = int(v > theta); v = (alpha*v + I)*(1 - s); s = s_next; I = 0
        output (leaky, oc/max): v_sum += v; v_max = max(v_max, v); v = alpha*v + I; I = 0
        output (spiking, fr/pop): n_spikes += s, then as the hidden layer

    with the spec's decay factors ``alpha = exp(-dt/tau)``, float32 as torch used them. After T steps the recorded
    values are v_0..v_{T-1} and s_0..s_{T-1}, exactly what torch records.

``coba`` (conductance based, mV and ms, dt 0.1 ms)
    Integrate-and-fire neurons with excitatory and inhibitory conductances (in units of the leak
    conductance) and reversal potentials::

        dv/dt = (E_L - v + g_e (E_e - v) + g_i (E_i - v)) / tau_m      (clamped while refractory)
        dg_e/dt = -g_e / tau_s,   dg_i/dt = -g_i / tau_s                (tau_s = the torch neuron's tau)
        v > V_th  ->  spike, v = V_reset, g_i = max(g_i, g_e (E_e - V_th) / (V_th - E_i))
        one torch step later, if drive > V_th - E_L  ->  the pair's second spike

    Weight -> conductance mapping ("threshold matching"). The torch neuron's state v is a linear
    filter (time constant tau) of its input; here the two conductances are that filter, and the
    membrane is fast (tau_m = min(1 ms, tau/4), shorter still in the high-conductance state), so
    v follows v_inf = (E_L + g_e E_e + g_i E_i) / (1 + g_e + g_i). The neuron fires when
    v_inf > V_th, i.e. when ``g_e (E_e - V_th) - g_i (V_th - E_i) > V_th - E_L``: linear in the
    conductances. A torch weight ``w`` therefore becomes::

        dg_e = w U / (E_e - V_th)    (w > 0)      dg_i = |w| U / (V_th - E_i)    (w < 0)

    with ``U = (V_th - E_L) / theta`` mV per torch unit, and the spike condition is the torch one
    (sum of filtered weights above theta) exactly at steady state. Torch's reset (v -> 0) is a
    spike-triggered inhibitory conductance that cancels the net drive (the ``g_i`` line of the
    reset; it shares g_i's reversal potential and decay, like an after-hyperpolarisation). The
    membrane is held at V_reset for ``t_ref`` = 3 ms after a crossing and input spikes arriving
    meanwhile are lost (torch's multiplicative reset discards the input of the steps after a
    crossing). Firing rates: a torch threshold crossing usually yields a pair of spikes (the spike
    follows the crossing by one step; a second one follows if v is still above threshold one step
    later, before the reset; ~1.9 spikes per crossing on the seed model, and the pairs carry
    information). The coba neuron fires that second spike too, as a real spike: one torch step after
    the crossing if its ``drive`` (the net drive at the crossing plus all input since, decaying with
    tau_s: the torch membrane without the reset) is still above threshold then. Its synapses act on
    both spikes, and the hidden spike counts match torch's (within 4 % on the shipped models).
    Refractoriness is therefore written out (``t_cross``, ``free``) instead of Brian2's
    ``refractory``, under which no spike can occur while refractory.

    Passive outputs (``oc``/``max``) use the same neuron without threshold; their conductances are
    matched at rest (``dg = |w| U_out / |E_syn - E_L|``) with a small ``U_out`` (0.1 mV per torch
    unit) so that v - E_L stays in the near-linear range; the score is the mean (or maximum) of
    (v - E_L) / U_out over the run.

    Matching PSP amplitudes at rest with the torch tau as the membrane time constant was tried
    first and fails (about 52 % instead of 61 % on the seed model): trained networks drive
    their hidden membranes tens of threshold units below rest, far beyond any inhibitory reversal
    potential, and a conductance neuron cannot follow. See docs/bridge.md.

Circuit builders never set the device or run: see :mod:`brainsim.devices`. This module never
imports torch; Brian2 is imported when a network is built.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import UserError
from ..netspec.ipd import IPDNetworkSpec
from ..params import check_fields, param

if TYPE_CHECKING:  # annotations only
    import brian2

NEURONS = ("cuba", "coba")

# --- cuba: the discrete-time torch model ------------------------------------------------------------
CUBA_EQUATIONS = """
v : 1          # membrane value v_t
s : 1          # spike s_t emitted at this step (computed at the previous one)
I : 1          # input current I_t of this step (sum of the weights of this step's spikes)
alpha : 1 (constant)
"""
CUBA_OUTPUT_EQUATIONS = CUBA_EQUATIONS + """
v_sum : 1      # sum of the recorded values v_0 .. v_{t-1} (leaky outputs) or spikes (spiking outputs)
v_max : 1      # maximum of v_0 .. v_{t-1}
"""
CUBA_LIF_UPDATE = """
s_next = int(v > threshold)
v = (alpha*v + I)*(1 - s)
s = s_next
I = 0
"""
CUBA_SPIKING_OUTPUT_UPDATE = "v_sum += s\n" + CUBA_LIF_UPDATE
CUBA_LEAKY_UPDATE = """
v_sum += v
v_max = clip(v, v_max, inf)
v = alpha*v + I
I = 0
"""
CUBA_THRESHOLD = "s > 0.5"
CUBA_ON_PRE = "I_post += w"

# --- coba: conductance-based neurons in physical units ----------------------------------------------
COBA_EQUATIONS = """
dv/dt = (E_L - v + g_e*(E_e - v) + g_i*(E_i - v)) / tau_m : volt
dg_e/dt = -g_e / tau_s : 1
dg_i/dt = -g_i / tau_s : 1
tau_m : second (constant)
tau_s : second (constant)
ddrive/dt = -drive / tau_s : volt   # net drive g_e (E_e - V_th) - g_i (V_th - E_i) at the last crossing plus all input since
t_cross : second   # time of the last threshold crossing (its first spike)
free : 1           # 1 unless within t_ref of the last crossing (membrane clamped, input lost)
v_sum : 1          # spiking: spike count; passive: sum over steps of (v - E_L) / U_out
v_max : 1          # passive: maximum of (v - E_L) / U_out
"""
# Refractoriness is written out (not Brian2's ``refractory``, which forbids any spike while refractory)
# because torch's second spike of a pair falls inside it: one torch step after the crossing, if the
# drive (torch's membrane without the reset) is still above threshold then.
COBA_SECOND_SPIKE_DUE = "abs(t - t_cross - T_step) < 0.5*dt"
COBA_THRESHOLD = f"(v > V_th and free > 0.5) or ({COBA_SECOND_SPIKE_DUE} and drive > V_th - E_L)"
COBA_THRESHOLD_ONE_SPIKE = "v > V_th and free > 0.5"
COBA_RESET = f"""
crossing = 1 - int({COBA_SECOND_SPIKE_DUE})
drive = crossing*(g_e*(E_e - V_th) - g_i*(V_th - E_i)) + (1 - crossing)*drive
g_i = crossing*clip(g_e*(E_e - V_th)/(V_th - E_i), g_i, inf) + (1 - crossing)*g_i
t_cross = crossing*t + (1 - crossing)*t_cross
free = 0
v = V_reset
v_sum += 1
"""
# after the state update: the clamp of the refractory period
COBA_REFRACTORY = """
free = int(t - t_cross > t_ref - 0.5*dt)
v = free*v + (1 - free)*V_reset
"""
COBA_DRIVE = {"e": "drive_post += w * (E_e - V_th)", "i": "drive_post -= w * (V_th - E_i)"}


def coba_on_pre(kind: str, spiking_target: bool) -> str:
    """Synaptic event code: conductance increment (lost while a spiking target is refractory; its
    ``drive`` sees every input)."""
    if not spiking_target:
        return f"g_{kind}_post += w"
    return f"g_{kind}_post += w * free_post\n" + COBA_DRIVE[kind]

COBA_PASSIVE_RECORD = """
v_sum += (v - E_L) / U_out
v_max = clip((v - E_L) / U_out, v_max, inf)
"""


@dataclass(frozen=True)
class CobaParams:
    """Physical parameters of the conductance-based realisation (units in the names). Raises
    UserError on invalid values."""

    dt_ms: float = param(0.1, "time step of the conductance-based network", unit="ms", gt=0)
    e_l_mv: float = param(-70.0, "leak reversal potential E_L", unit="mV")
    v_th_mv: float = param(-50.0, "firing threshold V_th", unit="mV")
    v_reset_mv: float = param(-70.0, "reset potential", unit="mV")
    e_e_mv: float = param(0.0, "excitatory reversal potential E_e", unit="mV")
    e_i_mv: float = param(-90.0, "inhibitory reversal potential E_i", unit="mV")
    membrane_tau_ms: float = param(1.0, "membrane time constant, at most (capped at a quarter of the synaptic, "
                                   "torch, tau)", unit="ms", gt=0)
    refractory_ms: float = param(3.0, "refractory period (torch drops the input of ~3 steps after a crossing: "
                                 "pair + reset)", unit="ms", ge=0)
    out_mv_per_unit: float = param(0.1, "U_out of passive outputs: small to stay near-linear", unit="mV", gt=0)
    second_spike: bool = param(True, "fire torch's second spike of a pair (false: one spike per crossing, whose "
                               "output synapses count twice)")

    def __post_init__(self):
        check_fields(self)
        if not self.v_th_mv > self.e_l_mv:
            raise UserError("v_th_mv must be above e_l_mv")
        if not (self.e_e_mv > self.v_th_mv and self.e_i_mv < self.e_l_mv):
            raise UserError("need E_i < E_L < V_th < E_e")

    def conductance(self, w, mv_per_unit: float, reference_mv: float) -> tuple[np.ndarray, np.ndarray]:
        """(dg_e, dg_i) for torch weights ``w``: |w| U / |E_syn - reference| on the matching sign."""
        w = np.asarray(w, dtype=float)
        dg_e = np.where(w > 0, w, 0.0) * mv_per_unit / (self.e_e_mv - reference_mv)
        dg_i = np.where(w < 0, -w, 0.0) * mv_per_unit / (reference_mv - self.e_i_mv)
        return dg_e, dg_i

    def membrane_tau(self, synaptic_tau_ms) -> np.ndarray:
        """Membrane time constants (ms) for synaptic (torch) time constants (ms)."""
        return np.minimum(self.membrane_tau_ms, np.asarray(synaptic_tau_ms, dtype=float) / 4.0)


@dataclass(frozen=True, eq=False)
class IPDNetworkHandles:
    """What :func:`build` returns: the network to run for ``n_steps`` stimulus steps and its parts."""

    network: brian2.Network
    output: brian2.NeuronGroup                 # n_samples * n_out neurons, with v_sum / v_max
    hidden: brian2.NeuronGroup | None          # n_samples * n_hidden neurons (None: membrane-only model)
    hidden_spikes: brian2.SpikeMonitor | None  # hidden spikes (None: not recorded)
    n_samples: int
    n_steps: int                               # stimulus steps (of the spec's dt)
    neuron: str                                # cuba or coba
    dt_ms: float                               # simulation time step (ms)


@dataclass(frozen=True, eq=False)
class IPDNetworkOutputs:
    """What :func:`read_results` reads after the run: class scores (samples, classes), predicted
    classes (samples,), for spiking outputs (fr / pop) the output spike counts (samples, n_out; coba:
    with the counted second spikes) and, when the hidden spikes were recorded, the hidden spikes as a
    dense boolean array (samples, T, n_hidden) on the stimulus time grid and their counts (samples,
    n_hidden)."""

    scores: np.ndarray
    prediction: np.ndarray
    hidden_spikes: np.ndarray | None = None
    hidden_counts: np.ndarray | None = None
    output_counts: np.ndarray | None = None


def _table(values: np.ndarray, name: str):
    """Weight table as a 2-D TimedArray: row = presynaptic feature (called with feature * second)."""
    import brian2 as b2

    return b2.TimedArray(np.ascontiguousarray(values, dtype=float), dt=1 * b2.second, name=name)


DELAY_TABLE = "delay_steps_table"


def _delay_namespace(spec: IPDNetworkSpec) -> dict:
    """The table of the learned input-to-hidden delays (steps) for the input synapses' namespace."""
    return {} if spec.delay_steps is None else {DELAY_TABLE: _table(spec.delay_steps, DELAY_TABLE)}


def _set_input_delays(syn, spec: IPDNetworkSpec) -> None:
    """Learned delays as Brian2 synaptic delays: ``delay_steps`` x the network's dt (exact multiples of
    dt, so a spike of step t arrives at step t + d, as torch's I_j(t) = sum_i W1_ij x_i(t - d_ij))."""
    if spec.delay_steps is None:
        return
    syn.delay = (f"{DELAY_TABLE}((i % {spec.n_inputs}) * second, j % {spec.n_hidden}) * {spec.net.dt_ms!r} * ms")


def _connect_per_sample(syn, n_pre: int, n_post: int, condition: str = "") -> None:
    """Connect feature f of sample s (index s*n_pre + f) to every neuron of sample s."""
    cond = f" if {condition}" if condition else ""
    syn.connect(j=f"k for k in range((i // {n_pre}) * {n_post}, (i // {n_pre} + 1) * {n_post}){cond}")


def _input_group(indices, times_ms, n_samples: int, n_inputs: int, dt):
    import brian2 as b2

    return b2.SpikeGeneratorGroup(n_samples * n_inputs, np.asarray(indices, dtype=np.int64),
                                  np.asarray(times_ms, dtype=float) * b2.ms, dt=dt, name="fibres")


def build_cuba(spec: IPDNetworkSpec, indices, times_ms, n_samples: int, n_steps: int,
               record_hidden: bool = True) -> IPDNetworkHandles:
    """The discrete-time torch model as a Brian2 network, time step the spec's ``net.dt_ms``.

    ``indices`` / ``times_ms``: input spikes of all samples (fibre ``s * n_inputs + f`` of sample
    ``s``, times in ms, on the time grid), ``n_steps`` time steps per sample."""
    import brian2 as b2

    dt_ms = spec.net.dt_ms
    dt = dt_ms * b2.ms
    ns = {"threshold": float(spec.net.threshold)}
    fibres = _input_group(indices, times_ms, n_samples, spec.n_inputs, dt)
    objects = [fibres]
    hidden = hidden_spikes = None
    spiking = spec.net.spiking_output
    output = b2.NeuronGroup(n_samples * spec.n_out, CUBA_OUTPUT_EQUATIONS,
                            threshold=CUBA_THRESHOLD if spiking else None, reset="" if spiking else None,
                            dt=dt, namespace=ns, name="output")
    output.alpha = np.tile(spec.alpha_out.astype(float), n_samples)
    output.run_regularly(CUBA_SPIKING_OUTPUT_UPDATE if spiking else CUBA_LEAKY_UPDATE,
                         when="after_synapses", name="output_update")
    objects.append(output)
    if spec.has_hidden:
        hidden = b2.NeuronGroup(n_samples * spec.n_hidden, CUBA_EQUATIONS, threshold=CUBA_THRESHOLD, reset="", dt=dt,
                                namespace=ns, name="hidden")
        hidden.alpha = np.tile(spec.alpha_hidden.astype(float), n_samples)
        hidden.run_regularly(CUBA_LIF_UPDATE, when="after_synapses", name="hidden_update")
        W1_table = _table(spec.W1, "W1_table")
        in_syn = b2.Synapses(fibres, hidden, "w : 1 (constant)", on_pre=CUBA_ON_PRE, dt=dt,
                             namespace={"W1_table": W1_table, **_delay_namespace(spec)}, name="input_synapses")
        _connect_per_sample(in_syn, spec.n_inputs, spec.n_hidden)
        in_syn.w = f"W1_table((i % {spec.n_inputs}) * second, j % {spec.n_hidden})"
        _set_input_delays(in_syn, spec)
        W2_table = _table(spec.W2, "W2_table")
        out_syn = b2.Synapses(hidden, output, "w : 1 (constant)", on_pre=CUBA_ON_PRE, dt=dt,
                              namespace={"W2_table": W2_table}, name="output_synapses")
        _connect_per_sample(out_syn, spec.n_hidden, spec.n_out)
        out_syn.w = f"W2_table((i % {spec.n_hidden}) * second, j % {spec.n_out})"
        objects += [hidden, in_syn, out_syn]
        if record_hidden:
            hidden_spikes = b2.SpikeMonitor(hidden, record=True, name="hidden_spikes")
            objects.append(hidden_spikes)
    else:
        W2_table = _table(spec.W2, "W2_table")
        out_syn = b2.Synapses(fibres, output, "w : 1 (constant)", on_pre=CUBA_ON_PRE, dt=dt,
                              namespace={"W2_table": W2_table}, name="output_synapses")
        _connect_per_sample(out_syn, spec.n_inputs, spec.n_out)
        out_syn.w = f"W2_table((i % {spec.n_inputs}) * second, j % {spec.n_out})"
        objects.append(out_syn)
    return IPDNetworkHandles(b2.Network(*objects), output, hidden, hidden_spikes, n_samples, n_steps, "cuba", dt_ms)


def _coba_synapses(pre, post, dg_e, dg_i, n_pre: int, n_post: int, name: str, dt, spiking_target: bool,
                   ns: dict, delays: IPDNetworkSpec | None = None) -> list:
    """Excitatory and inhibitory synapses of one projection (only the pairs with an increment);
    ``delays``: the spec whose learned input-to-hidden delays the synapses get (else none)."""
    import brian2 as b2

    objects = []
    for kind, dg in (("e", dg_e), ("i", dg_i)):
        if not np.any(dg > 0):
            continue
        table = _table(dg, f"{name}_{kind}_table")
        syn = b2.Synapses(pre, post, "w : 1 (constant)", on_pre=coba_on_pre(kind, spiking_target), dt=dt,
                          namespace={table.name: table, **ns, **(_delay_namespace(delays) if delays is not None else {})}, name=f"{name}_{kind}")
        lookup = f"{table.name}((i % {n_pre}) * second, j % {n_post})"
        _connect_per_sample(syn, n_pre, n_post, condition=f"{lookup} > 0")
        syn.w = lookup
        if delays is not None:
            _set_input_delays(syn, delays)
        objects.append(syn)
    return objects


def _coba_group(n: int, tau_torch_ms: np.ndarray, n_samples: int, spiking: bool, params: CobaParams, ns: dict,
                name: str, dt):
    import brian2 as b2

    if spiking:
        threshold = COBA_THRESHOLD if params.second_spike else COBA_THRESHOLD_ONE_SPIKE
        group = b2.NeuronGroup(n * n_samples, COBA_EQUATIONS, threshold=threshold, reset=COBA_RESET,
                               method="exponential_euler", dt=dt, namespace=ns, name=name)
        group.run_regularly(COBA_REFRACTORY, when="groups", order=1, name=f"{name}_refractory")
        group.t_cross = -1 * b2.second   # no crossing yet
        group.free = 1
    else:
        group = b2.NeuronGroup(n * n_samples, COBA_EQUATIONS, method="exponential_euler", dt=dt, namespace=ns,
                               name=name)
        group.run_regularly(COBA_PASSIVE_RECORD, when="end", name=f"{name}_record")
    group.v = params.e_l_mv * b2.mV
    group.tau_s = np.tile(np.asarray(tau_torch_ms, dtype=float), n_samples) * b2.ms
    group.tau_m = np.tile(params.membrane_tau(tau_torch_ms), n_samples) * b2.ms
    return group


def build_coba(spec: IPDNetworkSpec, indices, times_ms, n_samples: int, n_steps: int,
               params: CobaParams = CobaParams(), record_hidden: bool = True) -> IPDNetworkHandles:
    """Conductance-based realisation in physical units (see the module docstring), time step
    ``params.dt_ms``; inputs as :func:`build_cuba` (``n_steps`` steps of the spec's dt)."""
    import brian2 as b2

    if params.second_spike and not params.refractory_ms > spec.net.dt_ms:
        raise UserError(f"coba refractory_ms ({params.refractory_ms:g}) must exceed the model's time step "
                        f"({spec.net.dt_ms:g} ms), where the second spike of a pair falls")
    dt = params.dt_ms * b2.ms
    U = (params.v_th_mv - params.e_l_mv) / spec.net.threshold
    ns = {"E_L": params.e_l_mv * b2.mV, "E_e": params.e_e_mv * b2.mV, "E_i": params.e_i_mv * b2.mV,
          "V_th": params.v_th_mv * b2.mV, "V_reset": params.v_reset_mv * b2.mV,
          "U_out": params.out_mv_per_unit * b2.mV, "t_ref": params.refractory_ms * b2.ms,
          "T_step": spec.net.dt_ms * b2.ms}
    fibres = _input_group(indices, times_ms, n_samples, spec.n_inputs, dt)
    spiking = spec.net.spiking_output
    output = _coba_group(spec.n_out, spec.tau_out_ms, n_samples, spiking, params, ns, "output", dt)
    # spiking outputs: threshold matching; passive outputs: matched at rest with the small U_out
    out_unit, out_reference = (U, params.v_th_mv) if spiking else (params.out_mv_per_unit, params.e_l_mv)
    objects = [fibres, output]
    hidden = hidden_spikes = None
    if spec.has_hidden:
        hidden = _coba_group(spec.n_hidden, spec.tau_hidden_ms, n_samples, True, params, ns, "hidden", dt)
        objects.append(hidden)
        objects += _coba_synapses(fibres, hidden, *params.conductance(spec.W1, U, params.v_th_mv),
                                  spec.n_inputs, spec.n_hidden, "input", dt, True, ns,
                                  delays=spec if spec.delay_steps is not None else None)
        w2 = spec.W2.astype(float) * (1.0 if params.second_spike else 2.0)   # one spike per crossing: counts twice
        objects += _coba_synapses(hidden, output, *params.conductance(w2, out_unit, out_reference),
                                  spec.n_hidden, spec.n_out, "output", dt, spiking, ns)
        if record_hidden:
            hidden_spikes = b2.SpikeMonitor(hidden, record=True, name="hidden_spikes")
            objects.append(hidden_spikes)
    else:
        objects += _coba_synapses(fibres, output, *params.conductance(spec.W2, out_unit, out_reference),
                                  spec.n_inputs, spec.n_out, "output", dt, spiking, ns)
    return IPDNetworkHandles(b2.Network(*objects), output, hidden, hidden_spikes, n_samples, n_steps, "coba",
                             params.dt_ms)


def read_results(handles: IPDNetworkHandles, spec: IPDNetworkSpec) -> IPDNetworkOutputs:
    """After the run: scores, predictions and (if recorded) the hidden spikes, binned on the stimulus
    time grid (spike time // the spec's dt)."""
    n, T = handles.n_samples, handles.n_steps
    dt_ms = spec.net.dt_ms
    out_sum = np.asarray(handles.output.v_sum[:]).reshape(n, spec.n_out)
    out_max = np.asarray(handles.output.v_max[:]).reshape(n, spec.n_out)
    steps = T if handles.neuron == "cuba" else int(round(T * dt_ms / handles.dt_ms))
    scores = spec.scores(out_sum, out_max, steps)
    output_counts = np.rint(out_sum).astype(np.int64) if spec.net.spiking_output else None   # v_sum counts spikes
    if handles.hidden_spikes is None:
        return IPDNetworkOutputs(scores, np.argmax(scores, axis=1), output_counts=output_counts)
    idx = np.asarray(handles.hidden_spikes.i[:], dtype=np.int64)
    t_ms = np.asarray(handles.hidden_spikes.t[:] / 1e-3, dtype=float)
    step = np.clip(np.floor(t_ms / dt_ms + 1e-6).astype(np.int64), 0, T - 1)
    dense = np.zeros((n, T, spec.n_hidden), dtype=bool)
    dense[idx // spec.n_hidden, step, idx % spec.n_hidden] = True
    counts = np.bincount(idx, minlength=n * spec.n_hidden).reshape(n, spec.n_hidden)
    return IPDNetworkOutputs(scores, np.argmax(scores, axis=1), dense, counts, output_counts)


def build(spec: IPDNetworkSpec, neuron: str, indices, times_ms, n_samples: int, n_steps: int,
          coba: CobaParams = CobaParams(), record_hidden: bool = True) -> IPDNetworkHandles:
    """The Brian2 realisation ``neuron`` (cuba: the torch equations exactly, time step the spec's dt;
    coba: conductance-based neurons in mV and ms, time step ``coba.dt_ms``) of a trained network,
    all ``n_samples`` stimuli side by side; inputs as :func:`build_cuba`. Run the network for
    ``n_steps`` steps of the spec's dt, then :func:`read_results`."""
    if neuron == "cuba":
        return build_cuba(spec, indices, times_ms, n_samples, n_steps, record_hidden)
    if neuron == "coba":
        return build_coba(spec, indices, times_ms, n_samples, n_steps, coba, record_hidden)
    raise UserError(f"unknown neuron model {neuron!r} (cuba or coba)")
