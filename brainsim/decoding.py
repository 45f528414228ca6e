"""Read-outs of population activity.

Population-vector decoding of a periodic variable: detectors with preferred angles ``phi_k`` that
tile the circle uniformly and respond with rates ``r_k``. The estimate is the angle of
``sum_k r_k exp(i phi_k)``, i.e. the phase of the first Fourier component of the tuning profile: the
least-squares fit of ``a + b cos(phi - phi_hat)`` to the rates. For any tuning curve that is
symmetric about the true angle it is unbiased, and unlike the index of the most active detector it
resolves angles between the detectors' preferred values.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class PopulationEstimate(NamedTuple):
    angle: np.ndarray        # radians in [-pi, pi); NaN where the population was silent
    resultant: np.ndarray    # |sum r_k e^{i phi_k}| / sum r_k in [0, 1]: how peaked the profile is


def population_vector(rates, preferred_rad) -> PopulationEstimate:
    """Decode angles from rates of shape (..., n_detectors) and preferred angles (n_detectors,)."""
    rates = np.asarray(rates, dtype=float)
    preferred = np.asarray(preferred_rad, dtype=float)
    if rates.shape[-1] != preferred.shape[0]:
        raise ValueError(f"{rates.shape[-1]} rates for {preferred.shape[0]} preferred angles")
    vector = rates @ np.exp(1j * preferred)
    total = rates.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        angle = np.where(total > 0, np.angle(vector), np.nan)
        resultant = np.where(total > 0, np.abs(vector) / total, 0.0)
    angle = np.where(np.isnan(angle), np.nan, (angle + np.pi) % (2 * np.pi) - np.pi)
    return PopulationEstimate(angle=angle, resultant=resultant)


def peak_index(rates) -> np.ndarray:
    """Index of the most active detector (the classic place code), for comparison."""
    return np.argmax(np.asarray(rates), axis=-1)
