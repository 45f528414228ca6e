"""brainsim: biophysical spiking-network simulation on Brian2, with a thin PyTorch side.

Layout (one home for each idea):
  brainsim.stimuli      stimuli and datasets (IPD tones, MNIST)
  brainsim.netspec      trained networks as numpy arrays and the model directory (no torch, no Brian2)
  brainsim.circuits     Brian2 circuit builders (frozen parameter dataclass in, network + handles out)
  brainsim.snn          the torch side (surrogate-gradient IPD networks, differentiable delays)
  brainsim.bridge       translations: every trained-model source as a spec, NIR export / import
  brainsim.devices      how Brian2 runs: runtime (numpy/Cython), cpp_standalone, cuda_standalone
  brainsim.decoding     read-outs of population activity
  brainsim.experiments  end-to-end experiments built from the pieces above
  brainsim.plotting     figures
  brainsim.cli          thin command line: parse arguments, call library functions
"""
__version__ = "0.1.0"
