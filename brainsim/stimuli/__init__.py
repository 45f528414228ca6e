"""Stimuli and datasets shared by the Brian2 and the torch code."""
