"""The paper's transfer protocol: freeze a trained model and re-fit its final linear layer on a target dataset.

Features (the input of the final layer) are extracted once per image and cached, and the new layer is a
:class:`~invmeter.LinearProbe` with ``solver="adam"`` (Adam, 25 epochs by default): the backbone runs once per
image, not once per epoch. ``invmeter.score(probe="adam")`` uses the same probe.

The paper's probe sees freshly rendered images every epoch (paper.md §2.3). With a
:class:`~invmeter.data.redraw.RedrawnSplit` and ``draws = D``, the layer is fit on the features of D draws of the
target's training scenes (epochs 1..D of the split, the same scenes with their transform parameters drawn again),
stacked: the paper's protocol when D equals its number of epochs, at D forward passes per scene.
"""

from __future__ import annotations

import math
from copy import deepcopy
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from invmeter._utils.device import resolve_device
from invmeter._utils.validation import check_positive_int
from invmeter.data.build import BuiltSplit
from invmeter.data.redraw import RedrawnSplit
from invmeter.errors import DataError, InvalidParameterError
from invmeter.metrics.probe import LinearProbe
from invmeter.models.handle import ModelHandle
from invmeter.models.readout import Readout
from invmeter.models.representation import extract_images

__all__ = ["FT_BATCH", "PAPER_FT_STEPS", "FineTuneResult", "finetune_last_layer"]

FT_BATCH = 512  # the paper's last-layer batch size
PAPER_FT_STEPS = 25 * math.ceil(50_000 / FT_BATCH)  # the paper's last-layer fit: 25 epochs of 50k images = 2,450 steps


@dataclass(frozen=True)
class FineTuneResult:
    """A model whose final linear layer was re-fit on a target dataset, backbone frozen.

    Attributes:
        handle: A copy of the model with the fitted final layer (the original is untouched); score or save it.
        probe: The fitted :class:`~invmeter.LinearProbe` (``solver="adam"``) on the cached features.
        train_accuracy: Accuracy on the fine-tuning images (fraction).
        test_accuracy: Accuracy on the test images (fraction), or ``None`` when none were given.
        images_seen: Images the backbone ran on: one forward pass per image (and per draw), whatever the number of
            epochs.
    """

    handle: ModelHandle
    probe: LinearProbe
    train_accuracy: float
    test_accuracy: float | None
    images_seen: int


def finetune_last_layer(
    handle: ModelHandle,
    data: BuiltSplit | RedrawnSplit,
    test: BuiltSplit | None = None,
    *,
    epochs: int = 25,
    draws: int = 1,
    lr: float = 1e-3,
    batch_size: int = 512,
    seed: int = 0,
    device: str | torch.device = "auto",
) -> FineTuneResult:
    """Freeze the backbone and fit a fresh final linear layer on ``data`` (the paper's transfer protocol).

    Representations (the input of the final layer) are extracted once per image and cached; the new layer is a
    :class:`~invmeter.LinearProbe` with ``solver="adam"`` (Adam at ``lr``, ``epochs`` passes over the cached
    features in mini-batches of ``batch_size``, seeded by ``seed``), the same protocol as ``score(probe="adam")``.
    With ``draws`` > 1 it is fit on the features of ``draws`` draws of ``data`` stacked (a fixed split's draws are
    all the same images: its features are repeated). Labels must be ``0..K-1`` with every class present.
    """
    check_positive_int("draws", draws)
    if next(handle.model.parameters(), None) is None:
        raise InvalidParameterError(f"The model {handle.name!r} has no parameters: there is no trained backbone to "
                                    "freeze and no device to put a new last layer on; fine-tune a model with weights "
                                    "(a checkpoint of invmeter train, a timm or torchvision model).")
    device = resolve_device(device)
    if isinstance(data, RedrawnSplit):
        feats = torch.cat([extract_images(handle, data.images(d), device=device) for d in range(1, draws + 1)])
        seen = draws * len(data)
    else:
        feats = extract_images(handle, data.images, device=device).repeat(draws, 1)
        seen = len(data)
    y = torch.from_numpy(np.array(data.labels)).long().repeat(draws)
    n_classes = int(y.max()) + 1 if len(y) else 0
    if n_classes < 2 or len(torch.unique(y)) != n_classes:
        raise DataError(f"Fine-tuning needs labels 0..K-1 with every class present (K >= 2); got classes "
                        f"{sorted(torch.unique(y).tolist())[:10]}.")
    probe = LinearProbe(solver="adam", epochs=epochs, lr=lr, batch_size=batch_size, random_state=seed).fit(feats, y)
    test_accuracy = None
    if test is not None:
        test_accuracy = probe.score(extract_images(handle, test.images, device=device), np.array(test.labels))
    return FineTuneResult(
        handle=_with_head(handle, probe, len(y)),
        probe=probe,
        train_accuracy=probe.score(feats, y),
        test_accuracy=test_accuracy,
        images_seen=seen + (len(test.labels) if test is not None else 0),
    )


def _with_head(handle: ModelHandle, probe: LinearProbe, n_images: int) -> ModelHandle:
    """A copy of the handle's model whose final linear layer computes the probe (features -> K classes)."""
    head = nn.Linear(probe.coef_.shape[1], probe.coef_.shape[0])
    with torch.no_grad():
        head.weight.copy_(probe.coef_)
        head.bias.copy_(probe.intercept_)
    model = deepcopy(handle.model)
    head = head.to(next(model.parameters()).device)
    readout = handle.readout
    if readout.kind == "pre_logits":
        model.reset_classifier(head.out_features)
        old = model.get_classifier()
        if not isinstance(old, nn.Linear) or old.in_features != head.in_features:
            raise InvalidParameterError(f"{handle.name}'s classifier is not a linear layer on its features; "
                                        "fine-tune a model with a linear head.")
        with torch.no_grad():
            old.weight.copy_(head.weight)
            old.bias.copy_(head.bias)
    elif readout.kind == "head_input":
        model.set_submodule(readout.module, head)
    else:  # the model outputs its representation: append the layer
        model, readout = nn.Sequential(model, head), Readout("head_input", "1")
    return replace(handle, model=model.eval(), readout=readout, num_classes=head.out_features, label_names=(),
                   weights=f"{handle.weights} + last layer fit on {n_images} images")
