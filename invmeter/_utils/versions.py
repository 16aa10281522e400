"""Versions of invmeter and of the libraries that determine its numbers (recorded in every result)."""

from __future__ import annotations

import platform
from importlib import metadata

__all__ = ["versions"]


def _installed(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def versions() -> dict[str, str]:
    """Versions of invmeter and the libraries that determine its numbers.

    torch reports its own ``__version__`` (it carries the build, e.g. ``+cu130``); the others (torchvision, timm,
    numpy, scipy, scikit-learn, Pillow, huggingface_hub) are read from the installed packages' metadata, because importing torchvision, timm or scikit-learn only to read a version would
    cost a ``score`` call seconds.
    """
    import torch

    from invmeter._version import __version__

    return {
        "invmeter": __version__,
        "python": platform.python_version(),
        "torch": str(torch.__version__),  # a str subclass that torch.load(weights_only=True) refuses
        **{name: _installed(name) for name in ("torchvision", "timm", "numpy", "scipy", "scikit-learn", "Pillow",
                                               "huggingface_hub")},
    }
