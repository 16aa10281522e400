"""Models: spec resolution (timm, torchvision, CIFAR architectures, checkpoints, any nn.Module)."""

from invmeter.models.checkpoint import load_checkpoint as load_checkpoint, save_checkpoint as save_checkpoint
from invmeter.models.cifar import CIFAR_ARCHS as CIFAR_ARCHS, create_cifar_model as create_cifar_model
from invmeter.models.handle import ModelHandle as ModelHandle
from invmeter.models.registry import (
    WEIGHT_CHOICES as WEIGHT_CHOICES,
    list_models as list_models,
    load_model as load_model,
    wrap_module as wrap_module,
)

__all__ = [
    "CIFAR_ARCHS",
    "ModelHandle",
    "WEIGHT_CHOICES",
    "create_cifar_model",
    "list_models",
    "load_checkpoint",
    "load_model",
    "save_checkpoint",
    "wrap_module",
]
