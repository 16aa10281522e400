"""A model's own eval preprocessing: how an image becomes its input (resize, crop, normalisation).

invmeter measures a model as its users run it. timm models use timm's eval transform
(``timm.data.create_transform(**resolve_model_data_config(model))``: resize the shorter side to
``floor(size / crop_pct)``, centre crop, normalise); torchvision weights use ``weights.transforms()`` (resize,
centre crop, normalise). A controlled pair's transform acts on the resized and cropped image in [0, 1] pixels, and
normalisation comes last. :meth:`Preprocessing.prepare` runs the resize and crop with the very same operations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor

from invmeter._utils.images import to_unit_float

__all__ = ["Preprocessing", "normalize", "timm_preprocessing", "torchvision_preprocessing", "plain_preprocessing"]


def normalize(images: Tensor, mean: Sequence[float] | None, std: Sequence[float] | None, *,
              out: Tensor | None = None) -> Tensor:
    """``(images - mean) / std`` per channel (after transforms); identity when ``mean`` is None. ``out``: a tensor
    of the images' shape to write into, in its own memory format (e.g. channels-last), the same values."""
    if mean is None or std is None:
        return images if out is None else out.copy_(images)
    m = torch.tensor(mean, dtype=images.dtype, device=images.device).reshape(1, -1, 1, 1)
    s = torch.tensor(std, dtype=images.dtype, device=images.device).reshape(1, -1, 1, 1)
    return (images - m) / s if out is None else torch.sub(images, m, out=out).div_(s)


@dataclass(frozen=True)
class Preprocessing:
    """The resize, crop and normalisation a model expects.

    Attributes:
        input_size: ``(H, W)`` of the model's input in pixels.
        mean: Per-channel normalisation mean, applied after the transform (``None`` = no normalisation).
        std: Per-channel normalisation std.
        resize: Shorter side (pixels) images are resized to before the centre crop; ``None``: resized so that the
            shorter side equals the crop.
        interpolation: Resampling of the resize (``bilinear``, ``bicubic``, ...), antialiased.
        source: Where these settings come from (``timm data config``, ``torchvision weights.transforms()``, ...).
        overridden: Settings the user changed (e.g. ``("input_size",)`` for ``image_size=``).
        ops: The model library's own resize/crop operations, run as they are (``None``: built from the fields).
    """

    input_size: tuple[int, int]
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    resize: int | None = None
    interpolation: str = "bilinear"
    source: str = "default"
    overridden: tuple[str, ...] = ()
    ops: tuple[Callable[[Any], Any], ...] | None = field(default=None, compare=False, repr=False)

    @property
    def crop_pct(self) -> float | None:
        return None if self.resize is None else min(self.input_size) / self.resize

    def prepare(self, image: Any) -> Tensor:
        """A PIL image, or a ``(3, H, W)`` tensor in [0, 1] (or uint8), resized and centre-cropped to
        ``input_size``: float32 ``(3, H, W)`` in [0, 1], not normalised."""
        from torchvision.transforms.functional import pil_to_tensor
        from torchvision.transforms.v2 import functional as TF

        if isinstance(image, Tensor):
            image = to_unit_float(image)
        if self.ops is not None:
            for op in self.ops:
                image = op(image)
        else:
            interpolation = TF.InterpolationMode(self.interpolation)
            size = self.resize if self.resize is not None else min(self.input_size)
            image = TF.center_crop(TF.resize(image, [size], interpolation=interpolation, antialias=True),
                                   list(self.input_size))
        if not isinstance(image, Tensor):  # levels / 255 as timm's ToTensor and torchvision's presets divide (not
            image = to_unit_float(pil_to_tensor(image))  # times 1/255, which differs in the last bit)
        return image.float().clamp(0.0, 1.0)  # a copy: the image may be a view of the caller's tensor

    def normalize(self, images: Tensor, *, out: Tensor | None = None) -> Tensor:
        """``(images - mean) / std`` per channel; identity when ``mean`` is None (``out``: see :func:`normalize`)."""
        return normalize(images, self.mean, self.std, out=out)

    def with_size(self, size: int) -> Preprocessing:
        """The same preprocessing at a square input ``size`` (the resize keeps its crop fraction)."""
        if (size, size) == self.input_size:
            return self
        resize = None if self.resize is None else int(size / (min(self.input_size) / self.resize))
        return replace(self, input_size=(size, size), resize=resize, ops=None,
                       overridden=tuple(dict.fromkeys([*self.overridden, "input_size"])))

    def with_stats(self, mean: Sequence[float], std: Sequence[float]) -> Preprocessing:
        """The same resize and crop with the caller's normalisation."""
        return replace(self, mean=tuple(mean), std=tuple(std),
                       overridden=tuple(dict.fromkeys([*self.overridden, "mean", "std"])))

    def describe(self, rendered: bool = False) -> dict[str, Any]:
        """What was applied to the images, in order, and nothing that did not run.

        ``rendered``: the images were rendered at ``input_size`` (Transforms-2D scenes): no resize, crop or
        interpolation ran, and the model's own (for photos) are listed under ``not_run``. Without a mean/std the
        record says no normalisation ran."""
        h, w = self.input_size
        steps = [] if rendered else ["resize and crop"]
        steps += ["the transform in [0, 1] pixels"] + (["normalise"] if self.mean is not None else [])
        out: dict[str, Any] = {"source": self.source, "input_size": [h, w]}
        geometry = {
            "resize_shorter_side": self.resize if self.resize is not None else min(self.input_size),
            "crop": "centre",
            "crop_pct": round(self.crop_pct, 4) if self.crop_pct is not None else 1.0,
            "interpolation": self.interpolation,
            "antialias": True,
        }
        if rendered:
            out["rendered"] = f"scenes rendered at {h}x{w} px: no resize, crop or interpolation ran"
        else:
            out.update(geometry)
        out["mean"] = list(self.mean) if self.mean is not None else None
        out["std"] = list(self.std) if self.std is not None else None
        if self.mean is None:
            out["normalisation"] = "none (pixels in [0, 1] reach the model)"
        out["order"] = ", then ".join(steps)
        if rendered:
            out["not_run"] = {**{k: geometry[k] for k in ("resize_shorter_side", "crop_pct", "interpolation")},
                              "why": "the model's resize and crop for photos; scenes are rendered at its input size"}
        if self.overridden:
            out["overridden_by_user"] = list(self.overridden)
        return out


def timm_preprocessing(model: Any, image_size: int | None = None) -> Preprocessing:
    """timm's eval preprocessing for ``model`` (its ``pretrained_cfg``), at ``image_size`` if given."""
    from timm.data import create_transform, resolve_data_config, resolve_model_data_config
    from torchvision import transforms as T

    cfg = (resolve_model_data_config(model) if image_size is None
           else resolve_data_config({"input_size": (3, image_size, image_size)}, model=model))
    pipeline = create_transform(**cfg, is_training=False)
    ops = tuple(op for op in pipeline.transforms if not isinstance(op, T.Normalize) and type(op).__name__ not in
                ("MaybeToTensor", "ToTensor"))
    resize = next((op.size for op in ops if isinstance(op, T.Resize)), None)
    if isinstance(resize, Sequence):
        resize = min(resize)
    return Preprocessing(
        input_size=(int(cfg["input_size"][1]), int(cfg["input_size"][2])), mean=tuple(cfg["mean"]),
        std=tuple(cfg["std"]), resize=resize, interpolation=str(cfg["interpolation"]),
        source="timm data config (resolve_model_data_config + create_transform)",
        overridden=("input_size",) if image_size is not None else (), ops=ops,
    )


def torchvision_preprocessing(weights: Any, image_size: int | None = None) -> Preprocessing:
    """``weights.transforms()``'s resize, crop, interpolation and mean/std, at ``image_size`` if given."""
    preset = weights.transforms()
    crop = int(preset.crop_size[0])
    base = Preprocessing(
        input_size=(crop, crop), mean=tuple(preset.mean), std=tuple(preset.std), resize=int(preset.resize_size[0]),
        interpolation=preset.interpolation.value, source=f"torchvision {weights}.transforms()",
    )
    return base.with_size(image_size) if image_size is not None else base


def plain_preprocessing(size: int | tuple[int, int], mean: Sequence[float] | None = None,
                        std: Sequence[float] | None = None, *, source: str) -> Preprocessing:
    """Resize the shorter side to the input size and centre-crop (bilinear), with optional normalisation."""
    hw = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    return Preprocessing(input_size=hw, mean=tuple(mean) if mean is not None else None,
                         std=tuple(std) if std is not None else None, source=source)
