"""Model specs from patterns: specs, globs over the model-source catalogs (the matcher of ``invmeter models``) and
globs of checkpoint files, each spec kept once in the given order. The zoo and ``select`` expand their model arguments
here."""

from __future__ import annotations

import glob
from collections.abc import Sequence

from invmeter.errors import InvalidParameterError

__all__ = ["expand_patterns"]


def _is_glob(pattern: str) -> bool:
    """``*`` or ``[`` make a glob; a ``?`` too, unless it starts a spec's options (``cifar:vgg11?width=0.25``)."""
    return any(c in pattern for c in "*[") or ("?" in pattern and "=" not in pattern)


def expand_patterns(patterns: Sequence[str]) -> list[str]:
    """Model specs from specs and globs: ``'timm:resnet18*'`` over timm names and pretrained tags,
    ``'torchvision:resnet*'``, ``'cifar:*'`` (the matcher of ``invmeter models``), checkpoint paths and globs of
    files (``'runs/*/model.safetensors'``). A pattern that matches nothing is an error naming it; each spec is kept
    once, in the given order."""
    from invmeter.models import model_catalog

    if isinstance(patterns, str) or not patterns:
        raise InvalidParameterError("Give at least one model pattern, e.g. 'timm:resnet18*' cifar:vgg11.")
    specs: list[str] = []
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern.strip():
            raise InvalidParameterError(f"A model pattern must be a non-empty string, e.g. 'timm:resnet18*'. Got "
                                        f"{pattern!r}.")
        if not _is_glob(pattern):
            specs.append(pattern.strip())
            continue
        found = sorted(glob.glob(pattern)) or [spec for spec, _ in model_catalog(pattern)]
        if not found:
            raise InvalidParameterError(f"The model pattern {pattern!r} matches no model or file; list models with "
                                        f"`invmeter models {pattern!r}`.")
        specs += found
    return list(dict.fromkeys(specs))
