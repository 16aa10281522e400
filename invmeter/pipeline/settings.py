"""How to measure, built and validated once: the one place settings strings and values become checked objects.

``score``, ``sweep``, the zoo and the command line all build a :class:`ScoreSettings` (the CLI from option
strings, the API from keyword arguments) before any model is loaded or image read; every field's constraint is
checked here, with the message form "parameter, constraint, got, fix".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from invmeter._utils.device import check_device
from invmeter._utils.validation import (
    check_choice,
    check_image_size,
    check_int,
    check_seed,
    check_seeds,
    did_you_mean,
    parse_number_list,
)
from invmeter.errors import InvalidParameterError
from invmeter.metrics.probe import PROBE_SOLVERS
from invmeter.metrics.registry import resolve_metrics

__all__ = ["ScoreSettings", "DEFAULT_IMAGES_PER_CLASS"]

DEFAULT_IMAGES_PER_CLASS = 32
MAX_BOOTSTRAP = 100_000
MAX_BATCH = 65_536


def _numbers(name: str, value: Any, kind: type) -> tuple | None:
    """A comma-separated string or a sequence as a tuple of ``kind`` (``None`` stays ``None``)."""
    if value is None:
        return None
    if isinstance(value, str):
        return tuple(parse_number_list(name, value, kind))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (kind(value),)
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return tuple(value)
    raise InvalidParameterError(f"The {name!r} parameter must be a list of numbers, e.g. 0,1,2. Got {value!r}.")


def _names(value: Any) -> str | tuple[str, ...] | None:
    """``"blocks"`` stays a keyword; ``"a,b"`` or a sequence becomes a tuple of names."""
    if value is None or (isinstance(value, str) and value.strip() == "blocks"):
        return None if value is None else "blocks"
    names = [v.strip() for v in value.split(",")] if isinstance(value, str) else [str(v) for v in value]
    if not names or not all(names):
        raise InvalidParameterError(f"The 'layers' parameter must be 'blocks' or module names, e.g. layer1,layer2. "
                                    f"Got {value!r}.")
    return tuple(names)


@dataclass(frozen=True)
class ScoreSettings:
    """Everything about a measurement except the model, the transform and the data.

    Attributes:
        n_images: Controlled pairs (default: 32 per class on Transforms-2D, every image of the user's data).
        n_classes: Classes (objects) of the built-in Transforms-2D data (default: 10 procedural objects, or every
            object of an object folder).
        seed: Seeds data, transform draws, splits, probes and bootstrap: same seed, same numbers.
        seeds: Repeat the whole measurement for these seeds (``seed`` is then their first).
        layer: Read the representation from this module's output instead of the model's default readout.
        layers: ``"blocks"`` or module names: a per-layer profile captured in the same forward passes.
        labels: ``"data"`` (accuracy metrics from linear probes) or ``"model"`` (from the model's own classifier).
        metrics: Metric names, or ``None`` for the defaults (label-free ones only on unlabelled data).
        all_metrics: ``metrics="all"``: every registered metric that applies to this measurement (the others are
            listed in the report's ``skipped_metrics`` with their reason).
        probe: Probe solver: ``auto``, ``ridge``, ``lbfgs`` or ``adam``.
        batch_size: Pairs per forward pass (the model sees ``2 x batch_size`` images per call).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` (checked here; what ``auto`` means on this machine, and
            whether the device exists, is resolved once per measurement in its plan).
        n_boot: Bootstrap resamples for the 95% intervals (0 = none).
        progress: A progress bar on stderr.
        image_size: The model's input size instead of its own (square, pixels).
        mean: Normalisation mean for a bare module (per RGB channel), or to override the model's.
        std: Normalisation std, likewise.
        weights: ``auto``, ``pretrained``, ``random``, a file, or a torchvision weights name/enum.
        baseline: ``"random-init"`` also scores a randomly initialised copy of the architecture.
    """

    n_images: int | None = None
    n_classes: int | None = None
    seed: int = 0
    seeds: tuple[int, ...] | None = None
    layer: str | None = None
    layers: str | tuple[str, ...] | None = None
    labels: str = "data"
    metrics: tuple[str, ...] | None = None
    all_metrics: bool = False
    probe: str = "auto"
    batch_size: int = 32
    device: str = "auto"
    n_boot: int = 1000
    progress: bool = False
    image_size: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    weights: Any = "auto"
    baseline: str | None = None

    @classmethod
    def create(cls, **options: Any) -> ScoreSettings:
        """Settings from keyword arguments or command-line strings (``seeds="0,1,2"``, ``metrics="a,b"``,
        ``mean="0.5,0.5,0.5"``); unknown keywords are refused with the valid ones."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            close = [c for name in unknown for c in did_you_mean(name, sorted(known), n=1)]
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise InvalidParameterError(f"Unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}.{hint} "
                                        f"Valid settings: {', '.join(sorted(known))}.")
        given = {k: v for k, v in options.items() if v is not None or k in ("layer", "layers", "baseline")}
        if "seeds" in given:
            given["seeds"] = _numbers("seeds", given["seeds"], int)
        for name in ("mean", "std"):
            if name in given:
                given[name] = _numbers(name, given[name], float)
        if "layers" in given:
            given["layers"] = _names(given["layers"])
        if isinstance(given.get("metrics"), str) and given["metrics"].strip() == "all":
            given["metrics"], given["all_metrics"] = None, True
        if given.get("metrics") is not None:
            given["metrics"] = resolve_metrics(given["metrics"])
        return cls(**given)

    def __post_init__(self) -> None:
        if self.n_images is not None:
            check_int("n_images", self.n_images, 4, 10_000_000, fix="Use at least 4 images (2 per class per split).")
        if self.n_classes is not None:
            check_int("n_classes", self.n_classes, 2, 100_000)
        check_seed("seed", self.seed)
        if self.seeds is not None:
            object.__setattr__(self, "seeds", check_seeds(self.seeds))
            object.__setattr__(self, "seed", self.seeds[0])
        if self.layer is not None and (not isinstance(self.layer, str) or not self.layer.strip()):
            raise InvalidParameterError(f"The 'layer' parameter must be a module name. Got {self.layer!r}.")
        check_choice("labels", self.labels, ("data", "model"))
        check_choice("probe", self.probe, PROBE_SOLVERS)
        check_int("batch_size", self.batch_size, 1, MAX_BATCH)
        check_int("n_boot", self.n_boot, 0, MAX_BOOTSTRAP, fix="Use 0 for no intervals, 1000 for 95% intervals.")
        if not isinstance(self.device, str):
            object.__setattr__(self, "device", str(self.device))
        check_device(self.device)
        if self.image_size is not None:
            check_image_size(self.image_size)
        for name in ("mean", "std"):
            values = getattr(self, name)
            if values is not None and (len(values) not in (1, 3) or not all(isinstance(v, (int, float)) for v in values)):
                raise InvalidParameterError(f"The {name!r} parameter must be 1 or 3 numbers (per RGB channel). "
                                            f"Got {values!r}.")
            if values is not None and not all(math.isfinite(v) for v in values):
                raise InvalidParameterError(f"The {name!r} parameter must be finite numbers (per RGB channel). Got "
                                            f"{', '.join(str(v) for v in values)}.")
            if values is not None and len(values) == 1:
                object.__setattr__(self, name, tuple(values) * 3)
        if (self.mean is None) != (self.std is None):
            raise InvalidParameterError("Give both 'mean' and 'std' (per RGB channel), or neither.")
        if self.std is not None and any(v <= 0 for v in self.std):
            raise InvalidParameterError(f"The 'std' parameter must be > 0 per channel. Got {self.std!r}.")
        check_choice("baseline", self.baseline, (None, "random-init"))

    @property
    def run_seeds(self) -> tuple[int, ...]:
        return self.seeds or (self.seed,)

    def n_pairs(self, n_classes: int) -> int | None:
        """Pairs on Transforms-2D with ``n_classes`` classes (``None`` elsewhere means every image)."""
        return self.n_images if self.n_images is not None else DEFAULT_IMAGES_PER_CLASS * n_classes

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["weights"] = str(self.weights)
        return out
