"""Brian2 circuit builders: frozen parameter dataclass in, network and handles out.

Trained IPD networks (:mod:`.ipd_network`)::

    from brainsim.circuits import build_ipd_network, read_ipd_results, CobaParams
"""
from .ipd_network import CobaParams, IPDNetworkHandles, IPDNetworkOutputs, build_coba, build_cuba
from .ipd_network import build as build_ipd_network
from .ipd_network import read_results as read_ipd_results

__all__ = ["CobaParams", "IPDNetworkHandles", "IPDNetworkOutputs", "build_coba", "build_cuba", "build_ipd_network",
           "read_ipd_results"]
