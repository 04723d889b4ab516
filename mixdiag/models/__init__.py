"""Models that declare their residual blocks and mixing points, and how any other network is read.

``taps`` (the one description of a network's hidden states), ``find_blocks`` (finding them in
any module) and ``hooks`` (running a model and acting at them) import on their own:
``from mixdiag.models.taps import describe``.
"""

from . import preact_resnet  # noqa: F401  (registers the models)
from ._base import MixableNet
from ._registry import create_model, list_models, register_model
from .preact_resnet import PreActBlock, PreActResNet

__all__ = ["MixableNet", "PreActBlock", "PreActResNet", "create_model", "list_models", "register_model", "default_model"]


def default_model(ndim: int) -> str:
    """The model ``--model auto`` picks: the paper's PreAct-ResNet-32 for images, its 1-D twin for signals."""
    return "preact-resnet32" if ndim == 2 else "preact-resnet1d32"
