"""Lie derivative / local equivariance error (LEE) of a representation, per image and per layer.

For a continuous generator X (see :mod:`invmeter.transforms.generators`) the Lie derivative of a representation
f at an image x is ``L_X f(x) = d/dt f(path(x, t))`` at ``t = 0``. It is computed with **one forward-mode JVP per
batch**: the images become dual tensors whose tangent is the path's closed-form tangent
(:func:`~invmeter.transforms.generators.path_tangent`), and the model runs once on them.

Per image, ``LEE_i = ‖L_X f(x_i)‖² / D`` (the mean over the D components of the squared derivative), the
per-image term of Gruver et al. (ICLR 2023, Eq. 4 and Fig. 3: ``.pow(2).mean()``), in (representation units)²
per (generator unit)²: per pixel², per radian², per log-factor². The metric value is the mean over images.

Per-layer values come out of the same JVP: forward hooks read each layer's output tangent **when the layer
runs** and keep only its per-image mean square, so a later in-place operation (timm's ``ReLU(inplace=True)``
after a BatchNorm) cannot alias it, and no feature map is kept (memory O(N) per layer).

Speed: PyTorch's generic forward-AD formulas for convolution and linear layers also apply the layer to the
weights' (zero) tangent, and its batch-norm formula takes several passes; :class:`_LinearTangents` computes those
layers' tangents with one operation each (weights are constants; a linear layer's two inputs share one matrix
product). A JVP of timm's ResNet-18 then costs 2.4 forward passes instead of 3.8 (benchmarks/RESULTS.md).
Attention runs PyTorch's math kernel under forward AD (the fused CPU kernel has no forward-AD formula).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext

import numpy as np
import torch
import torch.autograd.forward_ad as fwAD
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from invmeter.errors import DataError, InvalidParameterError
from invmeter.transforms.generators import path_tangent

try:  # torch >= 2.3
    from torch.nn.attention import SDPBackend, sdpa_kernel
except ImportError:  # pragma: no cover - older torch has no fused attention without a forward-AD formula either
    sdpa_kernel = None

__all__ = ["lie_derivative", "lee_value", "OUTPUT"]

OUTPUT = "output"  # key of the representation's own LEE in the result


def _arg(args: tuple, kwargs: dict, index: int, name: str, default: object = None) -> object:
    return kwargs[name] if name in kwargs else (args[index] if len(args) > index else default)


class _LinearTangents(TorchFunctionMode):
    """Tangents of conv2d, linear and eval-mode batch_norm with constant weights: one operation each."""

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        kwargs = kwargs or {}
        if func in (F.conv2d, F.linear):
            primal, tangent = fwAD.unpack_dual(args[0])
            weight = _arg(args, kwargs, 1, "weight")
            bias = _arg(args, kwargs, 2, "bias")
            if tangent is not None and _constant(weight) and _constant(bias):
                if func is F.linear:  # one matrix product for both (measured faster; slower for convolutions)
                    out, out_tangent = F.linear(torch.cat([primal, tangent]), weight).chunk(2)
                    return fwAD.make_dual(out.add_(bias) if bias is not None else out, out_tangent)
                rest = {k: v for k, v in kwargs.items() if k not in ("input", "weight", "bias")}
                out = func(primal, weight, bias, *args[3:], **rest)
                return fwAD.make_dual(out, func(tangent, weight, None, *args[3:], **rest))
        elif func is F.batch_norm and not _arg(args, kwargs, 5, "training", False):
            primal, tangent = fwAD.unpack_dual(args[0])
            names = ("running_mean", "running_var", "weight", "bias")
            mean, var, weight, bias = stats = [_arg(args, kwargs, i, name) for i, name in enumerate(names, start=1)]
            if tangent is not None and mean is not None and var is not None and all(_constant(s) for s in stats):
                scale = torch.rsqrt(var + _arg(args, kwargs, 7, "eps", 1e-5))
                scale = scale * weight if weight is not None else scale
                shift = -mean * scale + (bias if bias is not None else 0.0)
                shape = (1, -1) + (1,) * (primal.dim() - 2)
                scale, shift = scale.reshape(shape), shift.reshape(shape)
                return fwAD.make_dual(torch.addcmul(shift, primal, scale), tangent * scale)
        return func(*args, **kwargs)


def _constant(x: object) -> bool:
    return x is None or (isinstance(x, Tensor) and fwAD.unpack_dual(x).tangent is None)


def _mean_square(tangent: Tensor | None, primal: Tensor) -> Tensor:
    """Per-image ``‖tangent_i‖² / D`` in float64; a layer whose output does not depend on the input gives 0."""
    if tangent is None:
        return torch.zeros(primal.shape[0], dtype=torch.float64)
    dims = tuple(range(1, tangent.dim()))
    per_image = torch.linalg.vector_norm(tangent, 2, dim=dims).double() ** 2 if dims else tangent.double() ** 2
    return per_image.cpu() / max(1, tangent[0].numel())


@contextmanager
def _layer_tangents(layers: Mapping[str, nn.Module]) -> Iterator[dict[str, Tensor]]:
    """Forward hooks that keep each layer's per-image mean squared output tangent; removed on exit."""
    store: dict[str, Tensor] = {}

    def hook(name: str) -> Callable[[nn.Module, object, object], None]:
        def record(_module: nn.Module, _inputs: object, output: object) -> None:
            if name in store:
                raise InvalidParameterError(
                    f"Layer {name!r} ran more than once in one forward pass; choose a module that runs once."
                )
            out = _first_tensor(output)
            store[name] = _mean_square(fwAD.unpack_dual(out).tangent, out)
        return record

    handles = [module.register_forward_hook(hook(name)) for name, module in layers.items()]
    try:
        yield store
    finally:
        for handle in handles:
            handle.remove()


def _first_tensor(out: object) -> Tensor:
    if isinstance(out, Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], Tensor):
        return out[0]
    raise InvalidParameterError(f"Expected a tensor (or a tuple starting with one); got {type(out).__name__}.")


def lie_derivative(
    forward: Callable[[Tensor], Tensor | tuple],
    images: Tensor,
    generator: str,
    *,
    layers: Mapping[str, nn.Module] | None = None,
    padding: str = "reflection",
) -> dict[str, Tensor]:
    """Per-image LEE ``‖L_X f(x_i)‖² / D`` of ``forward``'s output and of each hooked layer, from one JVP.

    Args:
        forward: ``x -> representation`` (or a tuple whose first item is it) for images in [0, 1]: it applies the
            model's normalisation itself. Runs once, on dual tensors; must not use ``torch.inference_mode``.
        images: ``(N, C, H, W)`` float images in [0, 1].
        generator: A name from :data:`~invmeter.transforms.generators.GENERATORS` (its unit is the LEE's unit).
        layers: ``{name: module}`` whose outputs get their own LEE (the modules must run inside ``forward``).
        padding: Border rule of geometric generators (``reflection``, ``zeros``, ``circular``).

    Returns:
        ``{"output": (N,), name: (N,), ...}`` float64 CPU tensors.
    """
    if torch.is_inference_mode_enabled():
        raise InvalidParameterError("lie_derivative needs forward-mode autodiff; call it outside torch.inference_mode.")
    tangent = path_tangent(generator, images, padding=padding)
    attention = sdpa_kernel(SDPBackend.MATH) if sdpa_kernel is not None else nullcontext()
    with torch.no_grad(), fwAD.dual_level(), attention, _LinearTangents(), _layer_tangents(layers or {}) as store:
        out = _first_tensor(forward(fwAD.make_dual(images, tangent)))
        primal, out_tangent = fwAD.unpack_dual(out)
        if out_tangent is None:
            raise DataError("The representation carries no derivative with respect to the input image (it does not "
                            "depend on the image, or only through non-differentiable steps such as rounding or integer "
                            "casts); its Lie derivative is undefined. Use another metric or a differentiable model.")
        result = {OUTPUT: _mean_square(out_tangent, primal), **store}
    for name, values in result.items():
        if not torch.isfinite(values).all():
            raise DataError(f"The Lie derivative of {name!r} is not finite (NaN or Inf in the model's output).")
    return result


def lee_value(per_image: Tensor | np.ndarray, weights: np.ndarray | None = None) -> float | np.ndarray:
    """The metric value: the mean of per-image LEEs; with ``(B, N)`` bootstrap resample counts, B values.

    For a family with several generators (``translation``: x and y) pass the per-image mean over them: the
    expected LEE along a uniformly random unit direction of the family's generator plane.
    """
    x = np.asarray(per_image, dtype=np.float64)
    if weights is None:
        return float(x.mean())
    return (weights @ x) / x.shape[0]
