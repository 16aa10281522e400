"""invmeter: measure how invariant image models' representations are to controlled transformations.

The package is lazy (PEP 562): ``import invmeter`` loads nothing heavy, and each public name imports its module on
first use, so ``import invmeter.transforms`` does not import the API, the trainer or the command line.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from invmeter._version import __version__ as __version__

# public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "score": "invmeter.api",
    "sweep": "invmeter.api",
    "zoo": "invmeter.api",
    "select": "invmeter.api",
    "Selection": "invmeter.api",
    "ScoreSettings": "invmeter.pipeline.settings",
    "Transforms2D": "invmeter.data",
    "DataError": "invmeter.errors",
    "InvalidParameterError": "invmeter.errors",
    "InvmeterError": "invmeter.errors",
    "InvmeterWarning": "invmeter.errors",
    "UndefinedMetricWarning": "invmeter.errors",
    "UnknownNameError": "invmeter.errors",
    "extract": "invmeter.pipeline.extract",
    "finetune_last_layer": "invmeter.training.finetune",
    "METRICS": "invmeter.metrics",
    "LinearProbe": "invmeter.metrics",
    "compute_metrics": "invmeter.metrics",
    "list_metrics": "invmeter.metrics",
    "ModelHandle": "invmeter.models",
    "list_models": "invmeter.models",
    "load_model": "invmeter.models",
    "Report": "invmeter.report.report",
    "TrainConfig": "invmeter.training.loop",
    "TrainResult": "invmeter.training.loop",
    "train": "invmeter.training.loop",
    "TransformSpec": "invmeter.transforms",
    "apply_transforms": "invmeter.transforms",
    "list_transforms": "invmeter.transforms",
    "parse_transform": "invmeter.transforms",
    "MetricValue": "invmeter.types",
    "Representations": "invmeter.types",
    "InvarianceMetric": "invmeter.streaming.metric",
    "ZooTable": "invmeter.api",
}
_SUBMODULES = ("functional",)  # public modules: invmeter.metrics.functional.invariance(z, z_t), ...

__all__ = sorted([*_EXPORTS, *_SUBMODULES, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"invmeter.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'invmeter' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # cache: the next access is a plain attribute lookup
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS, *_SUBMODULES})


if TYPE_CHECKING:  # static type checkers and IDEs see the eager imports
    from invmeter import functional as functional
    from invmeter.api import (
        Selection as Selection,
        ZooTable as ZooTable,
        score as score,
        select as select,
        sweep as sweep,
        zoo as zoo,
    )
    from invmeter.data import Transforms2D as Transforms2D
    from invmeter.errors import (
        DataError as DataError,
        InvalidParameterError as InvalidParameterError,
        InvmeterError as InvmeterError,
        InvmeterWarning as InvmeterWarning,
        UndefinedMetricWarning as UndefinedMetricWarning,
        UnknownNameError as UnknownNameError,
    )
    from invmeter.metrics import (
        METRICS as METRICS,
        LinearProbe as LinearProbe,
        compute_metrics as compute_metrics,
        list_metrics as list_metrics,
    )
    from invmeter.models import ModelHandle as ModelHandle, list_models as list_models, load_model as load_model
    from invmeter.pipeline.extract import extract as extract
    from invmeter.pipeline.settings import ScoreSettings as ScoreSettings
    from invmeter.report.report import Report as Report
    from invmeter.streaming.metric import InvarianceMetric as InvarianceMetric
    from invmeter.training.finetune import finetune_last_layer as finetune_last_layer
    from invmeter.training.loop import TrainConfig as TrainConfig, TrainResult as TrainResult, train as train
    from invmeter.transforms import (
        TransformSpec as TransformSpec,
        apply_transforms as apply_transforms,
        list_transforms as list_transforms,
        parse_transform as parse_transform,
    )
    from invmeter.types import MetricValue as MetricValue, Representations as Representations
