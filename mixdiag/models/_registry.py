"""Find and build models by name: ``register_model``, ``list_models``, ``create_model``."""

from __future__ import annotations

import fnmatch
import warnings
from typing import Callable

from torch import nn

from ..errors import MixdiagError

__all__ = ["register_model", "list_models", "create_model"]

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str):
    """Register ``fn(*, in_channels, num_classes, input_size, **kwargs) -> MixableNet``."""

    def decorator(fn):
        if name in _MODELS:
            warnings.warn(f"model {name!r} registered twice; the later one wins", stacklevel=2)
        _MODELS[name] = fn
        return fn

    return decorator


def list_models(pattern: str = "*") -> list[str]:
    """Names of the registered models matching a shell-style ``pattern``.

    >>> list_models("preact-resnet3*")
    ['preact-resnet32']
    """
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def create_model(name: str, **kwargs) -> nn.Module:
    """Build the model ``name``.

    Args:
        name: a name from :func:`list_models`.
        **kwargs: ``in_channels``, ``num_classes``, ``input_size`` (spatial size of a
            sample: ``(H, W)`` or ``(L,)``) and model-specific options.

    >>> m = create_model("preact-resnet20", in_channels=1, num_classes=10, input_size=(8, 8))
    >>> m.block_names[:2]
    ('layer1.0', 'layer1.1')
    """
    if name not in _MODELS:
        raise MixdiagError(f"unknown model {name!r}; choose one of: {', '.join(list_models())}")
    return _MODELS[name](**kwargs)
