"""Ground truth for the estimators: fine-tune each candidate's last layer on the target's training split, score it
on the held-out test split, and rank-correlate every estimator with that accuracy.

The fine-tuning is invmeter's transfer protocol (:func:`invmeter.finetune_last_layer`: backbone frozen, features
extracted once, a fresh linear layer fit with Adam) for the paper's 2,450 Adam steps
(:data:`~invmeter.training.finetune.PAPER_FT_STEPS`) in batches of 512 (:data:`~invmeter.training.finetune.FT_BATCH`),
as many epochs as that takes. The correlations are Kendall's τ-b and the weighted τ of LogME's paper (scipy's
hyperbolic, additive τ_h, averaged over both lexicographic rankings).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from invmeter.data import BuiltSplit
from invmeter.models import ModelHandle
from invmeter.training.finetune import FT_BATCH, PAPER_FT_STEPS, finetune_last_layer

__all__ = ["finetune_accuracy", "rank_correlation", "rank_correlations"]


def _prepared(handle: ModelHandle, source: Any) -> BuiltSplit:
    """The source's images at the model's input size (its own resize and crop), stored as 8-bit RGB like the
    built splits the paper's protocol trains on, with their labels."""
    images = torch.stack([handle.preprocessing.prepare(source.load(i)) for i in range(len(source))])
    as_bytes = images.mul(255.0).round_().clamp_(0.0, 255.0).to(torch.uint8).numpy()
    return BuiltSplit(images=as_bytes, labels=source.labels.numpy(), spec={"source": source.describe(),
                                                                           "prepared_for": handle.name})


def finetune_accuracy(handle: ModelHandle, train: Any, test: Any, *, seed: int, device: torch.device
                      ) -> dict[str, Any]:
    """Fit ``handle``'s last layer on the ``train`` images and score it on the ``test`` images (image sources with
    labels) on the plan's ``device``; the original model is untouched."""
    train_split, test_split = _prepared(handle, train), _prepared(handle, test)
    epochs = math.ceil(PAPER_FT_STEPS / math.ceil(len(train_split) / FT_BATCH))
    result = finetune_last_layer(handle, train_split, test_split, epochs=epochs, batch_size=FT_BATCH, seed=seed,
                                 device=device)
    return {"test_accuracy": result.test_accuracy, "train_accuracy": result.train_accuracy, "epochs": epochs,
            "n_train": len(train_split), "n_test": len(test_split)}


def rank_correlation(scores: Sequence[float | None], truth: Sequence[float | None]) -> dict[str, Any]:
    """``{"kendall", "weighted", "n"}`` between an estimator's scores and the measured accuracies of the same models,
    over the models that have both; ``None`` with a ``reason`` when there is no order to compare (fewer than 2 such
    models, or every model has the same value)."""
    pairs = [(float(s), float(t)) for s, t in zip(scores, truth) if s is not None and t is not None]
    out: dict[str, Any] = {"kendall": None, "weighted": None, "n": len(pairs)}
    if len(pairs) < 2:
        return {**out, "reason": f"{len(pairs)} model(s) with both values; a rank correlation needs 2"}
    x, y = np.array(pairs).T
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        which = "estimator" if np.ptp(x) == 0 else "measured accuracy"
        return {**out, "reason": f"every model has the same {which}: no order to compare"}
    from scipy.stats import kendalltau, weightedtau

    return {**out, "kendall": float(kendalltau(x, y).statistic), "weighted": float(weightedtau(x, y).statistic)}


def rank_correlations(scores: dict[str, Sequence[float | None]], truth: Sequence[float | None]
                      ) -> dict[str, dict[str, Any]]:
    """:func:`rank_correlation` of every named estimator (``{name: scores in the models' order}``)."""
    return {name: rank_correlation(values, truth) for name, values in scores.items()}
