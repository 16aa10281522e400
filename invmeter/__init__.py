"""invmeter: measure how invariant image models' representations are to controlled transformations."""

__version__ = "0.1.0"

from invmeter.api import score as score, sweep as sweep  # noqa: E402
from invmeter.data import FolderPairs as FolderPairs, Transforms2D as Transforms2D  # noqa: E402
from invmeter.errors import (  # noqa: E402
    DataError as DataError,
    InvalidParameterError as InvalidParameterError,
    InvmeterError as InvmeterError,
    InvmeterWarning as InvmeterWarning,
    UnknownNameError as UnknownNameError,
)
from invmeter.features import extract as extract  # noqa: E402
from invmeter.types import Representations as Representations  # noqa: E402
from invmeter.metrics import METRICS as METRICS, LinearProbe as LinearProbe, compute_metrics as compute_metrics  # noqa: E402
from invmeter.models import ModelHandle as ModelHandle, list_models as list_models, load_model as load_model  # noqa: E402
from invmeter.report import Report as Report  # noqa: E402
from invmeter.train import (  # noqa: E402
    TrainConfig as TrainConfig,
    TrainResult as TrainResult,
    finetune_last_layer as finetune_last_layer,
    train as train,
)
from invmeter.transforms import (  # noqa: E402
    TransformSpec as TransformSpec,
    apply_transforms as apply_transforms,
    list_transforms as list_transforms,
    parse_transform as parse_transform,
)

__all__ = [
    "DataError",
    "FolderPairs",
    "InvalidParameterError",
    "InvmeterError",
    "InvmeterWarning",
    "LinearProbe",
    "METRICS",
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
