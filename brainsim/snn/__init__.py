"""The torch side: functional core (``core``), fast native spiking layer (``native``), thin modules
(``models``), training loop (``training``), metrics (``metrics``) and the model directory format
(``modeldir``). Importing this package imports torch."""
