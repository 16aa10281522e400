"""invmeter's own trainer: the loop (:mod:`~invmeter.training.loop`), its defaults, resumable state, invariance
tracked while it trains, and last-layer fine-tuning. ``invmeter.train(config, out=...)`` is the entry point.

Submodules are imported on demand, so the command line reads :mod:`~invmeter.training.defaults` without PyTorch."""
