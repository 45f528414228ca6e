"""Brian2 circuit builders: frozen parameter dataclass (and time step) in, network and typed handles
out; Brian2 is imported when a circuit is built, torch never::

    from brainsim.circuits import JeffressParams, build_jeffress
    from brainsim.circuits import build_ipd_network, read_ipd_results, CobaParams
"""
from .diehl_cook import DiehlCookHandles, DiehlCookParams, build_diehl_cook
from .ipd_network import CobaParams, IPDNetworkHandles, IPDNetworkOutputs, build_coba, build_cuba
from .ipd_network import build as build_ipd_network
from .ipd_network import read_results as read_ipd_results
from .jeffress import JeffressCircuit, JeffressParams, build_jeffress, detector_counts
from .lagging import (DelayLearnerHandles, DelayLearnerParams, LagLineHandles, LagLineParams, build_delay_learner,
                      build_lag_line)

__all__ = ["CobaParams", "DelayLearnerHandles", "DelayLearnerParams", "DiehlCookHandles", "DiehlCookParams",
           "IPDNetworkHandles", "IPDNetworkOutputs", "JeffressCircuit", "JeffressParams", "LagLineHandles",
           "LagLineParams", "build_coba", "build_cuba", "build_delay_learner", "build_diehl_cook", "build_ipd_network",
           "build_jeffress", "build_lag_line", "detector_counts", "read_ipd_results"]
