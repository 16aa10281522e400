"""Versions of invmeter and of the libraries that determine its numbers (recorded in every result)."""

from __future__ import annotations

import platform

__all__ = ["versions"]


def versions() -> dict[str, str]:
    """Versions of invmeter and the libraries that determine its numbers."""
    import numpy
    import sklearn
    import timm
    import torch
    import torchvision

    from invmeter import __version__

    return {
        "invmeter": __version__,
        "python": platform.python_version(),
        "torch": str(torch.__version__),  # a str subclass that torch.load(weights_only=True) refuses
        "torchvision": torchvision.__version__,
        "timm": timm.__version__,
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
    }
