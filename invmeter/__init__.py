"""invmeter: measure how invariant image models' representations are to controlled transformations."""

__version__ = "0.1.0"

from invmeter.api import score as score, sweep as sweep
from invmeter.data import FolderPairs as FolderPairs, Transforms2D as Transforms2D
from invmeter.errors import (
    DataError as DataError,
    InvalidParameterError as InvalidParameterError,
    InvmeterError as InvmeterError,
    InvmeterWarning as InvmeterWarning,
    UnknownNameError as UnknownNameError,
)
from invmeter.features import extract as extract
from invmeter.finetune import finetune_last_layer as finetune_last_layer
from invmeter.metrics import METRICS as METRICS, LinearProbe as LinearProbe, compute_metrics as compute_metrics
from invmeter.models import ModelHandle as ModelHandle, list_models as list_models, load_model as load_model
from invmeter.report import Report as Report
from invmeter.train import TrainConfig as TrainConfig, TrainResult as TrainResult, train as train
from invmeter.transforms import (
    TransformSpec as TransformSpec,
    apply_transforms as apply_transforms,
    list_transforms as list_transforms,
    parse_transform as parse_transform,
)
from invmeter.types import Representations as Representations

__all__ = [
    "METRICS",
    "DataError",
    "FolderPairs",
    "InvalidParameterError",
    "InvmeterError",
    "InvmeterWarning",
    "LinearProbe",
    "ModelHandle",
    "Report",
    "Representations",
    "TrainConfig",
    "TrainResult",
    "TransformSpec",
    "Transforms2D",
    "UnknownNameError",
    "__version__",
    "apply_transforms",
    "compute_metrics",
    "extract",
    "finetune_last_layer",
    "list_models",
    "list_transforms",
    "load_model",
    "parse_transform",
    "score",
    "sweep",
    "train",
]
