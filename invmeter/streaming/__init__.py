"""The in-loop metric: invariance accumulated over a stream of batches in bounded memory (a seeded reservoir), with
a state that merges across processes."""

from invmeter.streaming.metric import SUM_KEYS as SUM_KEYS, InvarianceMetric as InvarianceMetric

__all__ = ["InvarianceMetric", "SUM_KEYS"]
