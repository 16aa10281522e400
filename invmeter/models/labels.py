"""Map the data's class names onto a model's own label set (e.g. ImageNet), for ``--labels model``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from invmeter._utils.validation import did_you_mean
from invmeter.errors import DataError

__all__ = ["map_class_names"]


def _canonical(name: str) -> str:
    return " ".join(name.replace("_", " ").replace("-", " ").lower().split())


def map_class_names(data_names: Sequence[str], model_names: Sequence[str]) -> np.ndarray:
    """Index into ``model_names`` for each data class name.

    A data class matches a model label when it equals the label or one of its comma-separated synonyms, ignoring
    case, underscores and hyphens (``tabby_cat`` matches ImageNet's ``tabby, tabby cat``).
    """
    if not model_names:
        raise DataError("This model has no known label names; '--labels model' needs a classifier with named classes.")
    lookup: dict[str, int] = {}
    for index, label in enumerate(model_names):
        for synonym in [label, *label.split(",")]:
            lookup.setdefault(_canonical(synonym), index)
    mapped, missing = [], []
    for name in data_names:
        index = lookup.get(_canonical(name))
        if index is None:
            missing.append(name)
        mapped.append(-1 if index is None else index)
    if missing:
        close = did_you_mean(_canonical(missing[0]), list(lookup))
        hint = f" (closest model labels to {missing[0]!r}: {', '.join(close)})" if close else ""
        raise DataError(
            f"Data classes {', '.join(repr(m) for m in missing[:5])} are not in the model's label set{hint}; "
            "rename the class folders to the model's label names or use '--labels data'."
        )
    return np.asarray(mapped, dtype=np.int64)
