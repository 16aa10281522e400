"""Models: the model-source registry (timm, torchvision, the paper's CIFAR architectures, checkpoints, factories,
any nn.Module), their own preprocessing, and where their representation is read."""

from invmeter.models.checkpoint import load_checkpoint as load_checkpoint, save_checkpoint as save_checkpoint
from invmeter.models.cifar import CIFAR_ARCHS as CIFAR_ARCHS, create_cifar_model as create_cifar_model
from invmeter.models.handle import ModelHandle as ModelHandle
from invmeter.models.modules import wrap_module as wrap_module
from invmeter.models.preprocessing import Preprocessing as Preprocessing
from invmeter.models.readout import Readout as Readout
from invmeter.models.sources import (
    MODEL_SOURCES as MODEL_SOURCES,
    WEIGHT_CHOICES as WEIGHT_CHOICES,
    list_models as list_models,
    load_model as load_model,
    model_catalog as model_catalog,
    random_init_copy as random_init_copy,
)

__all__ = [
    "CIFAR_ARCHS",
    "MODEL_SOURCES",
    "ModelHandle",
    "Preprocessing",
    "Readout",
    "WEIGHT_CHOICES",
    "create_cifar_model",
    "list_models",
    "load_checkpoint",
    "load_model",
    "model_catalog",
    "random_init_copy",
    "save_checkpoint",
    "wrap_module",
]
