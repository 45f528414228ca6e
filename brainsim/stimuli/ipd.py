"""Interaural-phase-difference (IPD) stimulus: Poisson auditory-nerve fibres driven by a pure tone.

One implementation, shared by the torch side (dense arrays) and the Brian2 side (spike indices and
times). It follows the stimulus of the Cosyne 2022 sound-localisation tutorial (D. Goodman) as
annotated in seeds 000/002:

    theta_{e,j}(t) = 2 pi f t + phi_0 + e * ipd + j * max_phase_delay / (N_a - 1)
    rate_{e,j}(t)  = rate_max * (0.5 * (1 + sin theta_{e,j}(t))) ** envelope_power

for ear e in {0, 1} (the IPD is added to ear 1, so positive IPDs mean ear 1 leads), fibre
j in 0..N_a-1 and a start phase phi_0 drawn uniformly in [0, 2 pi) for every stimulus. In each
time bin of width dt a fibre spikes with probability rate * dt (Bernoulli approximation of a
Poisson process, exactly as the tutorial does). ``phase_delays=False`` gives "plain ears" (all
fibres of an ear in phase), the input of delay-line circuits such as the Jeffress model.

Fibre layout: index ``e * N_a + j``. Brian2 layout for a batch: index
``sample * 2 * N_a + e * N_a + j``, spike time ``step * dt``.

Class conventions (seeds 000/002): IPDs in (-pi/2, pi/2) fall into ``n_classes`` bins of equal width;
a class is represented by its bin midpoint.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from ..errors import UserError
from ..params import check_fields, param

# Samples generated per vectorised chunk: small enough for the float64 work arrays of a chunk
# (32 x 100 x 200 x 8 bytes = 5 MB) to stay in cache, which makes generation ~30 % faster than 256.
_CHUNK_SAMPLES = 32


@dataclass(frozen=True)
class IPDStimulusParams:
    """Parameters of the IPD stimulus; defaults are the tutorial's. Raises UserError on invalid values."""

    fibres_per_ear: int = param(100, "auditory-nerve fibres per ear", ge=1, cli="--fibres")
    rate_max_hz: float = param(600.0, "peak fibre rate", unit="Hz", ge=0, cli="--rate-max")
    envelope_power: float = param(2.0, "rate = rate_max (0.5 (1 + sin theta))^k: k", ge=0, metavar="K")
    freq_hz: float = param(20.0, "tone frequency", unit="Hz", gt=0, cli="--freq")
    duration_ms: float = param(100.0, "stimulus duration", unit="ms", gt=0, cli="--duration")
    dt_ms: float = param(1.0, "time bin of the stimulus (and of the IPD networks)", unit="ms", gt=0)
    phase_delays: bool = param(True, "fibres carry the tutorial's phase delays 0..max_phase_delay_rad per ear "
                               "(false: plain ears, all fibres of an ear in phase)")
    max_phase_delay_rad: float = param(np.pi / 2, "largest fibre phase delay", unit="rad", ge=0, cli="")
    random_start_phase: bool = param(True, "a random start phase per stimulus (false: phase 0)", cli="")

    def __post_init__(self):
        check_fields(self)
        if self.n_steps < 1:
            raise UserError("duration_ms must cover at least one time step")
        if self.rate_max_hz * self.dt_ms * 1e-3 > 1.0:
            raise UserError("rate_max_hz * dt must be <= 1 (at most one spike per time bin)")

    @property
    def n_steps(self) -> int:
        return int(round(self.duration_ms / self.dt_ms))

    @property
    def n_fibres(self) -> int:
        return 2 * self.fibres_per_ear

    @property
    def fibre_phase_delays(self) -> np.ndarray:
        """Phase delay (rad) of each of the 2 * N_a fibres, ear 0 first."""
        if self.phase_delays:
            per_ear = np.linspace(0.0, self.max_phase_delay_rad, self.fibres_per_ear)
        else:
            per_ear = np.zeros(self.fibres_per_ear)
        return np.concatenate([per_ear, per_ear])

    @property
    def fibre_ear(self) -> np.ndarray:
        """Ear (0 or 1) of each fibre."""
        return np.repeat(np.array([0, 1]), self.fibres_per_ear)

    def with_(self, **changes) -> "IPDStimulusParams":
        return replace(self, **changes)


TUTORIAL = IPDStimulusParams()
PLAIN_EARS = IPDStimulusParams(phase_delays=False)

#: Flat names of the stimulus fields where a configuration nests the stimulus next to a circuit or a
#: network with a time step of its own (``param_group(IPDStimulusParams, rename=STIMULUS_NAMES)``).
STIMULUS_NAMES = {"dt_ms": "stimulus_dt_ms"}


class IPDStimulus(NamedTuple):
    """A batch of stimuli. ``spikes`` is boolean with shape (samples, time steps, fibres)."""

    ipd: np.ndarray          # (samples,) radians
    start_phase: np.ndarray  # (samples,) radians
    spikes: np.ndarray       # (samples, n_steps, n_fibres) bool
    params: IPDStimulusParams


def _phase_parts(params: IPDStimulusParams, ipd: np.ndarray, start_phase: np.ndarray):
    """The phase theta of the module docstring as a + b: a (samples, steps) = 2 pi f t + phi_0 and
    b (samples, fibres) = fibre phase delay + ear * ipd."""
    t = np.arange(params.n_steps) * params.dt_ms * 1e-3
    a = 2 * np.pi * params.freq_hz * t[None, :] + start_phase[:, None]
    b = params.fibre_phase_delays[None, :] + params.fibre_ear[None, :] * ipd[:, None]
    return a, b


def _rates_into(params: IPDStimulusParams, ipd: np.ndarray, start_phase: np.ndarray, out: np.ndarray,
                scale: float) -> np.ndarray:
    """``scale`` x the rates (Hz) written into ``out`` (samples, n_steps, n_fibres), float64.

    No sine per element: sin(a + b) = sin a cos b + cos a sin b needs only the small tables of
    :func:`_phase_parts`, which is what makes fresh training data every epoch cheap.
    """
    a, b = _phase_parts(params, ipd, start_phase)
    np.multiply(np.sin(a)[:, :, None], np.cos(b)[:, None, :], out=out)
    out += np.cos(a)[:, :, None] * np.sin(b)[:, None, :]
    # rate_max * (0.5 (1 + sin theta))^k, in place
    out += 1.0
    if params.envelope_power == 2.0:
        np.square(out, out=out)
    else:
        np.power(out, params.envelope_power, out=out)
    out *= params.rate_max_hz * 0.5**params.envelope_power * scale
    return out


def firing_rates(params: IPDStimulusParams, ipd, start_phase) -> np.ndarray:
    """Instantaneous rates in Hz, shape (samples, n_steps, n_fibres)."""
    ipd = np.atleast_1d(np.asarray(ipd, dtype=float))
    start_phase = np.broadcast_to(np.asarray(start_phase, dtype=float), ipd.shape)
    out = np.empty((ipd.shape[0], params.n_steps, params.n_fibres))
    return _rates_into(params, ipd, start_phase, out, 1.0)


def generate(params: IPDStimulusParams, ipd, rng: np.random.Generator | int | None = None) -> IPDStimulus:
    """Draw Poisson spikes for the given IPDs (radians). ``rng`` is a Generator or a seed."""
    rng = np.random.default_rng(rng)
    ipd = np.atleast_1d(np.asarray(ipd, dtype=float))
    if not np.all(np.isfinite(ipd)):
        raise UserError("IPDs must be finite")
    n = ipd.shape[0]
    if params.random_start_phase:
        start_phase = rng.uniform(0.0, 2 * np.pi, size=n)
    else:
        start_phase = np.zeros(n)
    spikes = np.empty((n, params.n_steps, params.n_fibres), dtype=bool)
    chunk = min(n, _CHUNK_SAMPLES)
    p = np.empty((chunk, params.n_steps, params.n_fibres))
    r = np.empty_like(p)
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        _rates_into(params, ipd[lo:hi], start_phase[lo:hi], p[:hi - lo], params.dt_ms * 1e-3)
        rng.random(out=r[:hi - lo])
        np.less(r[:hi - lo], p[:hi - lo], out=spikes[lo:hi])
    return IPDStimulus(ipd=ipd, start_phase=start_phase, spikes=spikes, params=params)


def random_ipds(n: int, rng: np.random.Generator | int | None = None,
                low: float = -np.pi / 2, high: float = np.pi / 2) -> np.ndarray:
    """IPDs uniform in [low, high) radians (the seeds' (-pi/2, pi/2) by default)."""
    return np.random.default_rng(rng).uniform(low, high, size=n)


def random_stimuli(params: IPDStimulusParams, n: int, rng: np.random.Generator | int | None = None) -> IPDStimulus:
    """``n`` stimuli with IPDs uniform in (-pi/2, pi/2), drawn from one generator."""
    rng = np.random.default_rng(rng)
    return generate(params, random_ipds(n, rng), rng)


# --- the seeded streams of the IPD task ------------------------------------------------------------
# Every stream is drawn from numpy.random.default_rng(key), its key derived from the run's seed S:
#     training stimuli   [S, 0]  (a fixed set), or [S, 0, epoch] (fresh stimuli every epoch)
#     test stimuli       [S, 1]  (``brainsim ipd evaluate --seed S`` and ``brainsim compare --seed S``)

def training_stimuli(params: IPDStimulusParams, seed: int, n: int, epoch: int | None = None) -> IPDStimulus:
    """The ``n`` training stimuli of seed ``seed``: stream ``[seed, 0]``, or ``[seed, 0, epoch]`` when
    every epoch gets fresh stimuli (``epoch`` given)."""
    key = [int(seed), 0] if epoch is None else [int(seed), 0, int(epoch)]
    return random_stimuli(params, n, np.random.default_rng(key))


def test_stimuli(params: IPDStimulusParams, seed: int, n: int) -> IPDStimulus:
    """The ``n`` test stimuli of seed ``seed``: stream ``[seed, 1]``, never used in training."""
    return random_stimuli(params, n, np.random.default_rng([int(seed), 1]))


test_stimuli.__test__ = False  # not a pytest test, wherever it is imported


def to_spike_times(spikes: np.ndarray, dt_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """Dense (samples, steps, fibres) -> Brian2 (indices, times in ms) sorted by time.

    Index of fibre f of sample s is ``s * n_fibres + f``; its time is ``step * dt_ms``.
    """
    spikes = np.asarray(spikes)
    if spikes.ndim == 2:
        spikes = spikes[None]
    n_samples, _, n_fibres = spikes.shape
    sample, step, fibre = np.nonzero(spikes)
    order = np.lexsort((sample * n_fibres + fibre, step))
    indices = (sample * n_fibres + fibre)[order]
    times_ms = step[order] * dt_ms
    return indices.astype(np.int64), times_ms.astype(float)


def from_spike_times(indices, times_ms, n_samples: int, n_steps: int, n_fibres: int, dt_ms: float) -> np.ndarray:
    """Inverse of :func:`to_spike_times`: back to a dense boolean array."""
    indices = np.asarray(indices, dtype=np.int64)
    steps = np.rint(np.asarray(times_ms, dtype=float) / dt_ms).astype(np.int64)
    dense = np.zeros((n_samples, n_steps, n_fibres), dtype=bool)
    dense[indices // n_fibres, steps, indices % n_fibres] = True
    return dense


# --- conversions ---------------------------------------------------------------------------------

def wrap_angle(x):
    """Wrap radians to [-pi, pi)."""
    return (np.asarray(x, dtype=float) + np.pi) % (2 * np.pi) - np.pi


def wrap_deg(x):
    """Wrap degrees to [-180, 180)."""
    return (np.asarray(x, dtype=float) + 180.0) % 360.0 - 180.0


def ipd_to_itd(ipd_rad, freq_hz: float):
    """Interaural time difference (s) of a tone of ``freq_hz`` for an IPD in radians."""
    return np.asarray(ipd_rad, dtype=float) / (2 * np.pi * freq_hz)


def itd_to_ipd(itd_s, freq_hz: float):
    """IPD (radians) for an interaural time difference in seconds."""
    return 2 * np.pi * freq_hz * np.asarray(itd_s, dtype=float)


@dataclass(frozen=True)
class IPDClasses:
    """Equal-width IPD classes over (low, high) radians; defaults: 12 classes of 15 deg over (-90, 90)."""

    n_classes: int = 12
    low: float = -np.pi / 2
    high: float = np.pi / 2

    @property
    def width(self) -> float:
        return (self.high - self.low) / self.n_classes

    def to_class(self, ipd_rad):
        """Class index of each IPD (values on the edges are clipped into the first/last class)."""
        k = np.floor((np.asarray(ipd_rad, dtype=float) - self.low) / self.width).astype(np.int64)
        return np.clip(k, 0, self.n_classes - 1)

    def to_ipd(self, k):
        """Bin midpoint (radians) of class ``k``."""
        return self.low + (np.asarray(k, dtype=float) + 0.5) * self.width

    @property
    def midpoints(self) -> np.ndarray:
        return self.to_ipd(np.arange(self.n_classes))


DEFAULT_CLASSES = IPDClasses()
