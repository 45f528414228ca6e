"""Stimuli and datasets shared by the Brian2 and the torch code (numpy only)::

    from brainsim.stimuli import PLAIN_EARS, generate, test_stimuli
    stim = generate(PLAIN_EARS.with_(freq_hz=30.0), ipd=[0.5], rng=0)      # IPDs in radians
"""
from .ipd import (DEFAULT_CLASSES, PLAIN_EARS, TUTORIAL, IPDClasses, IPDStimulus, IPDStimulusParams, firing_rates,
                  from_spike_times, generate, ipd_to_itd, itd_to_ipd, random_ipds, random_stimuli, test_stimuli,
                  to_spike_times, training_stimuli, wrap_angle, wrap_deg)
from .mnist import MnistData, export_idx, load_embedded, load_mnist, read_mnist_dir

__all__ = ["DEFAULT_CLASSES", "PLAIN_EARS", "TUTORIAL", "IPDClasses", "IPDStimulus", "IPDStimulusParams", "MnistData",
           "export_idx", "firing_rates", "from_spike_times", "generate", "ipd_to_itd", "itd_to_ipd", "load_embedded",
           "load_mnist", "random_ipds", "random_stimuli", "read_mnist_dir", "test_stimuli", "to_spike_times",
           "training_stimuli", "wrap_angle", "wrap_deg"]
