"""Transforms-2D splits whose transform parameters are drawn again every epoch: the paper's on-the-fly generation
(paper.md §1.4), made reproducible.

The paper's code renders every training image when it is read, drawing its transform parameters from a generator
whose state advances with each access, so with shuffling each epoch sees new parameters while the class, object and
background of each index stay fixed. A :class:`RedrawnSplit` does the same from seeds: its scenes (class, object,
background of each index) are those of ``build_split(dataset, split, n, seed)``; the transform parameters of epoch 1
are that split's own (so epoch 1's images are the fixed split's, byte for byte), and those of epoch e ≥ 2 are drawn
from :func:`epoch_seed` ``(split seed, e)``. The images of any epoch are therefore a function of (seed, epoch, index)
and the split's size: a run is reproducible and can resume mid-training without replaying earlier epochs.

(The paper's generator is copied into every DataLoader worker and the workers are recreated each epoch, so its draws
repeat across workers and epochs and depend on the worker count, paper.md §7; this module draws every (epoch, index)
independently instead.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from invmeter._utils.validation import check_positive_int
from invmeter.data.build import CHUNK, split_spec
from invmeter.data.transforms2d import Scenes, Transforms2D
from invmeter.errors import InvalidParameterError

__all__ = ["DRAWN_EVERY_EPOCH", "RedrawnSplit", "epoch_seed", "redraws"]

DRAWN_EVERY_EPOCH = "every epoch: epoch 1 as the fixed split, epoch e >= 2 from (split seed, e)"
GPU_CHUNK = 8192  # images rendered at once on a GPU (the CPU renders in build_split's chunks, for identical bytes)


def epoch_seed(split_seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch``'s transform parameters (a 63-bit hash of both numbers)."""
    state = np.random.SeedSequence([int(split_seed), int(epoch)]).generate_state(1, np.uint64)[0]
    return int(state) & (2**63 - 1)


def redraws(dataset: Any) -> bool:
    """Whether ``dataset`` has transform parameters to draw again (a Transforms-2D dataset with transforms)."""
    if not isinstance(dataset, Transforms2D):
        return False
    return dataset.transforms is not None or any(t is not None for t in dataset.class_transforms or ())


class RedrawnSplit:
    """Split ``split`` of ``dataset`` (``n`` scenes, seeded as ``build_split`` seeds it) with its transform parameters
    drawn again for every epoch.

    Attributes:
        labels: ``(n,)`` int64 class indices, the same in every epoch (and as ``build_split``'s).
        spec: The split's spec (``build_split``'s, plus ``transforms_drawn``), for provenance.

    Example:
        >>> from invmeter.transforms import parse_transform
        >>> ds = Transforms2D(objects=(0, 1), transforms=parse_transform("rotation"), image_size=16)
        >>> split = RedrawnSplit(ds, "train", 8, seed=0)
        >>> bool((split.images(1) == split.images(1)).all()), bool((split.images(1) == split.images(2)).all())
        (True, False)
    """

    def __init__(self, dataset: Transforms2D, split: str, n: int, seed: int, *,
                 device: str | torch.device = "cpu") -> None:
        if not redraws(dataset):
            raise InvalidParameterError("Only a Transforms-2D dataset with transforms can be drawn again every epoch; "
                                        "train on its fixed split instead.")
        self.spec = {**split_spec(dataset, split, n, seed), "transforms_drawn": DRAWN_EVERY_EPOCH}
        self.dataset, self.device = dataset, torch.device(device)
        self._first = dataset.sample_scenes(n, torch.Generator().manual_seed(self.spec["split_seed"]), balanced=True)
        self.labels = self._first.labels
        bank_ids, self._position = torch.unique(self._first.backgrounds, return_inverse=True)
        self._bank = dataset.background_source.render(bank_ids, dataset.image_size).to(self.device)
        self._prototypes = dataset.prototypes().to(self.device)

    def __len__(self) -> int:
        return len(self.labels)

    def scenes(self, epoch: int) -> Scenes:
        """The scenes of epoch ``epoch`` (1, 2, ...): fixed classes and backgrounds, that epoch's transforms."""
        check_positive_int("epoch", epoch)
        if epoch == 1:
            return self._first
        generator = torch.Generator().manual_seed(epoch_seed(self.spec["split_seed"], epoch))
        return self.dataset.redraw(self._first, generator)

    @torch.no_grad()
    def images(self, epoch: int) -> Tensor:
        """Epoch ``epoch``'s images, uint8 ``(n, 3, S, S)`` on the split's device (rendered there), rounded as
        ``build_split`` stores them."""
        scenes = self.scenes(epoch)
        n, size = len(self), self.dataset.image_size
        out = torch.empty((n, 3, size, size), dtype=torch.uint8, device=self.device)
        chunk = CHUNK if self.device.type == "cpu" else GPU_CHUNK
        for start in range(0, n, chunk):
            part = slice(start, min(start + chunk, n))
            rgb = self.dataset.render(scenes[part], self._prototypes, backgrounds=self._bank[self._position[part]])
            out[part] = rgb.mul_(255.0).round_().clamp_(0.0, 255.0).to(torch.uint8)
        return out
