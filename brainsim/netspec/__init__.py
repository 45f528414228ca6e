"""Trained networks as plain numpy, below both the torch side (:mod:`brainsim.snn`) and the Brian2
circuits (:mod:`brainsim.circuits`): the IPD network's configuration and trained spec
(:mod:`.ipd`) and the model directory that stores them (:mod:`.modeldir`). Imports neither torch
nor Brian2."""
from .ipd import (DISCRETISATION, MIN_TAU_MS, MODELS, READOUT_DEFINITIONS, READOUTS, SPIKING_READOUTS,
                  IPDNetworkSpec, NetConfig, decay_factor)
from .modeldir import FORMAT, FORMAT_VERSION, SavedModel, read_manifest, read_model, write_model

__all__ = ["DISCRETISATION", "FORMAT", "FORMAT_VERSION", "MIN_TAU_MS", "MODELS", "READOUTS", "READOUT_DEFINITIONS",
           "SPIKING_READOUTS", "IPDNetworkSpec", "NetConfig", "SavedModel", "decay_factor", "read_manifest",
           "read_model", "write_model"]
