"""The torch side: functional core (``core``), fast native spiking layer (``native``), thin modules
(``models``), training loop (``training``), running trained networks (``inference``), metrics
(``metrics``) and differentiable delays (``delays``). Trained networks are stored as the numpy
specs of :mod:`brainsim.netspec`. Importing this package imports torch."""
from ..netspec.ipd import NetConfig
from .core import (LeakyParams, LIFParams, LIFState, leaky_layer, leaky_step, lif_layer, lif_step, readout_loss,
                   readout_scores)
from .inference import LoadedModel, load_model, run_model
from .metrics import classification_metrics, predicted_classes
from .models import IPDNet, TimeConstants
from .training import OptimConfig, predict, train_epochs

__all__ = ["IPDNet", "LIFParams", "LIFState", "LeakyParams", "LoadedModel", "NetConfig", "OptimConfig",
           "TimeConstants", "classification_metrics", "leaky_layer", "leaky_step", "lif_layer", "lif_step",
           "load_model", "predict", "predicted_classes", "readout_loss", "readout_scores", "run_model",
           "train_epochs"]
