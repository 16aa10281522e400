"""Per-layer invariance profile: the invariance terms of each layer, reduced batch by batch during extraction."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from invmeter.metrics.context import metric_rng, reduce_terms
from invmeter.metrics.invariance import derangement, paired_distances
from invmeter.types import MetricValue

__all__ = ["InvarianceProfile"]


class InvarianceProfile:
    """Per image of each layer: ``d = ||a - b||`` and ``r = ||a - a_ref||``, the reference being the pair source's
    batch-local twin, else a seeded random other image of the same batch (NaN for a batch of one image).
    ``result()`` gives each layer's invariance with its bootstrap interval (``n_boot`` resamples): the metric's own
    resamples for every layer, so layers are compared on the same draws and the representation's row has the
    interval of the ``invariance`` metric."""

    name = "invariance"

    def __init__(self, seed: int = 0, n_boot: int = 1000, n_images: int = 0) -> None:
        self.seed, self.n_boot = seed, n_boot
        self._rng = metric_rng(seed, "profile")
        self._terms: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}

    def update(self, layer: str, clean: Tensor, transformed: Tensor, reference: Tensor | None) -> None:
        clean, transformed = clean.cpu().flatten(1), transformed.cpu().flatten(1)
        d = paired_distances(clean, transformed)
        if reference is None and len(clean) < 2:
            r = np.full(len(clean), np.nan)
        else:
            ref = reference if reference is not None else torch.from_numpy(derangement(len(clean), self._rng))
            r = paired_distances(clean, clean[ref])
        terms = self._terms.setdefault(layer, ([], []))
        terms[0].append(d)
        terms[1].append(r)

    def result(self) -> dict[str, dict[str, MetricValue]]:
        out: dict[str, dict[str, MetricValue]] = {}
        for layer, (ds, rs) in self._terms.items():
            d, r = np.concatenate(ds), np.concatenate(rs)
            ok = np.isfinite(r)
            d, r = d[ok], r[ok]
            if not len(r):
                out[layer] = {"invariance": MetricValue.undefined("no image has a reference in its batch")}
                continue
            out[layer] = {"invariance": reduce_terms("invariance", {"d": d, "r": r}, n_boot=self.n_boot,
                                                     rng=metric_rng(self.seed, self.name))}
        return out
