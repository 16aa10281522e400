"""The zoo's models: spec strings and globs, ``nn.Module`` objects, :class:`ModelHandle` objects and models files,
each becoming one named :class:`ZooModel`, one per distinct model.

A spec is canonical once routed (``resnet18`` and ``timm:resnet18`` are one model, shown as ``timm:resnet18``); a
module or handle is identified by a fingerprint of its class, weights and preprocessing. Two entries of one model
(with the same weights and preprocessing) are scored once; two different models under one name are an error.
"""

from __future__ import annotations

import hashlib
import math
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from torch import nn

from invmeter.errors import InvalidParameterError
from invmeter.models import ModelHandle
from invmeter.pipeline.patterns import expand_patterns

__all__ = ["ZooModel", "live_object", "read_models_file", "zoo_models"]

_FILE_KEYS = {"name", "spec", "arch", "weights", "image_size", "mean", "std"}
_LIVE: dict[str, nn.Module | ModelHandle] = {}  # in-memory models of this process, by fingerprint


@dataclass(frozen=True)
class ZooModel:
    """One model of a zoo.

    Attributes:
        name: What the leaderboard shows (default: the canonical spec, or the module's class name).
        model: A spec string (``timm:NAME[.TAG]``, ``torchvision:NAME``, ``cifar:ARCH``, a checkpoint path,
            ``package.module:factory``), an ``nn.Module`` or a :class:`ModelHandle`.
        weights: This model's weights (``auto``, ``pretrained``, ``random``, a state-dict file, a torchvision
            weights name) instead of the zoo's: ``timm:resnet18`` with ``weights="mine.safetensors"`` is "timm
            architecture + my weights". ``random`` for a checkpoint, a factory or a model object: its architecture
            at random initialisation (init seed = the zoo's seed), the baseline of the trained model.
        image_size: Its input size (pixels), instead of its own.
        mean, std: Its normalisation (per RGB channel), instead of its own.
    """

    name: str
    model: str | nn.Module | ModelHandle = field(repr=False)
    weights: str | None = None
    image_size: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def overrides(self) -> dict[str, Any]:
        """The settings this model sets for itself (the zoo's apply otherwise); ``weights="random"`` of a model that
        brings its own weights is :attr:`reinitialised` instead."""
        out = {"weights": None if self.reinitialised else self.weights, "image_size": self.image_size,
               "mean": self.mean, "std": self.std}
        return {k: v for k, v in out.items() if v is not None}

    @property
    def reinitialised(self) -> bool:
        """``weights="random"`` for a model that brings its own weights (a checkpoint, a factory, an object): it is
        built, then re-initialised as the random-init baseline does it."""
        if self.weights != "random":
            return False
        if not isinstance(self.model, str):
            return True
        from invmeter.models.sources import check_model_spec

        return check_model_spec(self.model)[0].prefix in ("checkpoint", "factory")


def live_object(ref: Mapping[str, str]) -> nn.Module | ModelHandle:
    """The in-memory model a cell config names (one given to :func:`invmeter.zoo` in this process)."""
    try:
        return _LIVE[ref["object"]]
    except KeyError:
        raise InvalidParameterError("An in-memory model of the zoo is not in this process (models given as objects "
                                    "are scored in the process that called zoo()).") from None


def _fingerprint(obj: nn.Module | ModelHandle) -> str:
    """A model object's class, every tensor of its state (names, shapes, values) and, for a handle, its name, weights
    and preprocessing; it is remembered for the cells of this process."""
    module = obj.model if isinstance(obj, ModelHandle) else obj
    digest = hashlib.sha256(f"{type(module).__module__}.{type(module).__qualname__}".encode())
    if isinstance(obj, ModelHandle):
        digest.update(repr((obj.name, obj.weights, obj.preprocessing.describe(), obj.readout)).encode())
    for key, tensor in module.state_dict().items():
        digest.update(f"{key}{tuple(tensor.shape)}{tensor.dtype}".encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes() if tensor.numel() else b"")
    key = digest.hexdigest()[:20]
    _LIVE[key] = obj
    return key


def _canonical(spec: str) -> str:
    """The one name of a model spec: ``timm:resnet18`` for ``resnet18``; a checkpoint as given; others unchanged."""
    from invmeter.models.sources import check_model_spec

    source, name = check_model_spec(spec)
    return f"{source.prefix}:{name}" if source.prefix in ("timm", "torchvision", "cifar") else spec


def _named(name: Any, obj: Any) -> ZooModel:
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterError(f"A zoo model's name must be a non-empty string. Got {name!r}.")
    if isinstance(obj, ZooModel):
        return replace(obj, name=name)
    if not isinstance(obj, (str, nn.Module, ModelHandle)):
        raise InvalidParameterError(f"The zoo model {name!r} must be a spec string, an nn.Module or a ModelHandle. "
                                    f"Got {type(obj).__name__}.")
    return ZooModel(name.strip(), obj)


def _entries(models: Any) -> list[ZooModel]:
    """Every item as a :class:`ZooModel` (globs expanded), in order."""
    if isinstance(models, Mapping):
        return [_named(k, v) for k, v in models.items()]
    if isinstance(models, (str, nn.Module, ModelHandle, ZooModel)):
        raise InvalidParameterError("Give the zoo's models as a list of at least one model pattern or model (or a "
                                    "{name: model} dict), e.g. ['timm:resnet18*', 'cifar:vgg11'].")
    if not isinstance(models, Iterable) or not (items := list(models)):
        raise InvalidParameterError("Give at least one model pattern, e.g. 'timm:resnet18*' cifar:vgg11.")
    out: list[ZooModel] = []
    for item in items:
        if isinstance(item, str):
            out += [ZooModel(spec, spec) for spec in expand_patterns([item])]
        elif isinstance(item, ZooModel):
            out.append(item)
        elif isinstance(item, ModelHandle):
            out.append(ZooModel(item.name, item))
        elif isinstance(item, nn.Module):
            out.append(ZooModel(type(item).__name__, item))
        elif isinstance(item, tuple) and len(item) == 2:
            out.append(_named(*item))
        else:
            raise InvalidParameterError(f"A zoo model must be a spec or glob, an nn.Module, a ModelHandle, a (name, "
                                        f"model) pair or a ZooModel. Got {type(item).__name__}.")
    return out


def zoo_models(models: Any) -> list[tuple[ZooModel, str | dict[str, str]]]:
    """The distinct models of ``models`` (see :func:`invmeter.zoo`), in order, each with what a zoo cell's config
    names (its canonical spec, or the fingerprint of an in-memory model, see :func:`live_object`): each spec
    canonical (its name too, unless one was given), one entry per model, weights and preprocessing; two different
    models under one name are an error naming it."""
    out: dict[tuple[Any, ...], tuple[ZooModel, str | dict[str, str]]] = {}
    names: dict[str, tuple[Any, ...]] = {}
    for entry in _entries(models):
        if isinstance(entry.model, str):
            canonical = _canonical(entry.model)
            entry = replace(entry, name=canonical if entry.name == entry.model else entry.name, model=canonical)
        ref: str | dict[str, str] = entry.model if isinstance(entry.model, str) else {"object": _fingerprint(entry.model)}
        key = (str(ref), entry.reinitialised, tuple(sorted(entry.overrides().items())))
        if names.setdefault(entry.name, key) != key:
            raise InvalidParameterError(f"Two different zoo models are named {entry.name!r}; give each its own name.")
        out.setdefault(key, (entry, ref))
    return list(out.values())


def _number_list(path: Path, index: int, key: str, value: Any) -> tuple[float, ...]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                            for v in items):
        raise InvalidParameterError(f"{path}: model {index + 1}: {key!r} must be 1 or 3 finite numbers. Got {value!r}.")
    return tuple(float(v) for v in items)


def read_models_file(path: str | Path) -> list[ZooModel]:
    """The models of a TOML file: one ``[[model]]`` table each, with ``name``, ``spec`` (any model spec) or ``arch``
    (an architecture, with ``weights`` a state-dict file), and optional ``weights``, ``image_size``, ``mean`` and
    ``std``. Relative file paths are relative to the file's folder. Every mistake is a one-line error naming the file
    and the model."""
    p = Path(path)
    if not p.is_file():
        raise InvalidParameterError(f"The models file {str(p)!r} does not exist.")
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidParameterError(f"{p}: not valid TOML ({exc}).") from None
    tables = data.get("model")
    if set(data) != {"model"} or not isinstance(tables, list) or not tables:
        raise InvalidParameterError(f"{p}: expected one [[model]] table per model (with name and spec or arch); got "
                                    f"{', '.join(sorted(data)) or 'nothing'}.")
    return [_file_entry(p, i, t) for i, t in enumerate(tables)]


def _file_entry(path: Path, index: int, table: Mapping[str, Any]) -> ZooModel:
    where = f"{path}: model {index + 1}"
    unknown = sorted(set(table) - _FILE_KEYS)
    if unknown:
        raise InvalidParameterError(f"{where}: unknown key {unknown[0]!r}; the keys are {', '.join(sorted(_FILE_KEYS))}.")
    if ("spec" in table) == ("arch" in table):
        raise InvalidParameterError(f"{where}: give exactly one of 'spec' (a model spec) or 'arch' (an architecture "
                                    "with weights = 'FILE').")
    spec = table.get("spec", table.get("arch"))
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidParameterError(f"{where}: 'spec'/'arch' must be a non-empty string. Got {spec!r}.")
    weights = table.get("weights")
    if weights is not None and not isinstance(weights, str):
        raise InvalidParameterError(f"{where}: 'weights' must be a string. Got {weights!r}.")
    if "arch" in table and weights is None:
        raise InvalidParameterError(f"{where}: an 'arch' needs weights = 'FILE' (a state dict), or use 'spec'.")
    here = path.parent
    if weights is not None and weights not in ("auto", "pretrained", "random") and (here / weights).is_file():
        weights = str(here / weights)
    if (here / spec).exists() and not Path(spec).is_absolute():
        spec = str(here / spec)  # a checkpoint beside the file
    size = table.get("image_size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int)):
        raise InvalidParameterError(f"{where}: 'image_size' must be an integer (pixels). Got {size!r}.")
    mean, std = (_number_list(path, index, k, table[k]) if k in table else None for k in ("mean", "std"))
    name = table.get("name", spec)
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterError(f"{where}: 'name' must be a non-empty string. Got {name!r}.")
    return ZooModel(name.strip(), spec, weights, size, mean, std)
