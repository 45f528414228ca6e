"""Figures (matplotlib), written atomically.

Off-screen on the Agg backend, unless the caller chose a backend before the first figure: a notebook
(``%matplotlib inline``) or an interactive session that has imported ``matplotlib.pyplot`` keeps its
own, so the figure builders' figures show there (the docs/tutorials notebooks rely on it)."""
import sys


def pyplot():
    """``matplotlib.pyplot``, on the Agg backend if no one has imported pyplot yet."""
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
