"""Models that declare their residual blocks and mixing points."""

from . import preact_resnet  # noqa: F401  (registers the models)
from ._base import MixableNet
from ._registry import create_model, list_models, register_model
from .preact_resnet import PreActBlock, PreActResNet

__all__ = ["MixableNet", "PreActBlock", "PreActResNet", "create_model", "list_models", "register_model", "default_model"]


def default_model(ndim: int) -> str:
    """The model ``--model auto`` picks: the paper's PreAct-ResNet-32 for images, its 1-D twin for signals."""
    return "preact-resnet32" if ndim == 2 else "preact-resnet1d32"
