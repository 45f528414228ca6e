"""Every source of a trained IPD network the bridge reads, as one :class:`~brainsim.netspec.IPDNetworkSpec`:

* a model directory (``manifest.json`` + ``weights.npz``, :mod:`brainsim.netspec.modeldir`);
* the ``weights.npz`` of one (its ``manifest.json`` beside it says how to run the weights);
* a NIR graph written by :func:`brainsim.bridge.nir_export.export_nir` (``GRAPH.nir`` with its side
  file ``GRAPH.nir.brainsim.json``).

Anything else (another format, missing files, arrays of the wrong shape) raises
:class:`~brainsim.errors.UserError`. Never imports torch.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from ..netspec.ipd import IPDNetworkSpec
from ..netspec.modeldir import not_a_model, read_model


def load_network(path) -> IPDNetworkSpec:
    """Load a trained IPD network from a model directory, its weights.npz, or a brainsim NIR export."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} does not exist")
    if path.suffix == ".nir" and path.is_file():
        from .nir_import import spec_from_nir

        return spec_from_nir(path)
    if path.is_file() and path.suffix != ".npz":
        raise UserError(not_a_model(path, "a model directory, its weights.npz or a .nir file"))
    return read_model(path).spec
