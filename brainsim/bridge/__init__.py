"""Translations of trained networks between torch, Brian2 and NIR: every source of a trained IPD
network as a spec (:mod:`.sources`), NIR export of the project's models (:mod:`.nir_export`), NIR
import (:mod:`.nir_import`, its linear nodes as sparse matrices in :mod:`.nir_maps`), NIR graphs
simulated in Brian2 (:mod:`.nir_brian2`) and the ``nir-run`` job (:mod:`.nir_run`). The networks themselves are :mod:`brainsim.netspec` specs. Nothing here
imports torch."""
from .nir_export import export_nir
from .nir_import import NIRImportOptions, plan_graph, read_graph, spec_from_nir
from .nir_run import NIRRunParams, NIRRunResult, run_graph
from .sources import load_network

__all__ = ["NIRImportOptions", "NIRRunParams", "NIRRunResult", "export_nir", "load_network", "plan_graph", "read_graph", "run_graph", "spec_from_nir"]
