"""Networks trained elsewhere: build one from a spec, load its weights.

A spec names where the network comes from:

* ``torchvision:<name>``: ``torchvision.models.get_model(name, weights=None, num_classes=C)``
  (needs ``pip install -e ".[vision]"``);
* ``timm:<name>``: ``timm.create_model(name, pretrained=False, num_classes=C, in_chans=I)``
  (needs ``pip install -e ".[timm]"``);
* ``module:function``: a factory of the user's returning an ``nn.Module``, from an importable
  module (``mypkg.nets:build``) or a Python file (``path/to/nets.py:build``). It is called
  with those of the keywords ``num_classes`` and ``in_channels`` that it accepts (all of
  them when it takes ``**kwargs``).

``C`` is the dataset's number of classes (or labels) and ``I`` its number of input channels.
Nothing is downloaded: pretrained weights come only from a state dict (:func:`load_weights`).

Channels: timm builds its own input layer for ``in_chans``. A torchvision model is built for
3 channels; for data with another channel count the first ``nn.Conv2d`` in registration order
(``named_modules()``: ``conv1`` of a ResNet, ``features.0.0`` of MobileNet and ConvNeXt,
``conv_proj`` of ViT) is replaced by a new randomly initialised ``nn.Conv2d`` with ``I`` input
channels and every other setting of the old one (out channels, kernel, stride, padding,
dilation, groups, bias). A state dict for such a model must hold that layer's weight with
shape ``(out, I, kh, kw)``, as a model built the same way and trained elsewhere saves it.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from ..errors import MixdiagError

__all__ = ["build_model", "is_spec", "load_init", "load_weights", "parse_spec"]

_EXTRAS = {"torchvision": "vision", "timm": "timm"}


def is_spec(name: str) -> bool:
    """True for a spec of this module (``source:name``), False for a mixdiag registry name (``preact-resnet32``)."""
    return ":" in name


def parse_spec(spec: str) -> tuple[str, str]:
    """``"torchvision:resnet50"`` → ``("torchvision", "resnet50")``; any other prefix is a module or file with a function."""
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name:
        raise MixdiagError(f"model spec {spec!r} is not torchvision:<name>, timm:<name> or module:function (or path/to/file.py:function)")
    return where, name


def _require(package: str, spec: str):
    try:
        return importlib.import_module(package)
    except ImportError:
        raise MixdiagError(f"{spec} needs {package}, which is not installed: pip install -e \".[{_EXTRAS[package]}]\"") from None


def _torchvision(name: str, spec: str, num_classes: int, in_channels: int) -> nn.Module:
    _require("torchvision", spec)
    from torchvision import models

    if name not in models.list_models():
        raise MixdiagError(f"torchvision has no model {name!r}; see torchvision.models.list_models()")
    model = models.get_model(name, weights=None, num_classes=num_classes)
    if in_channels != 3:
        _replace_first_conv(model, in_channels, spec)
    return model


def _replace_first_conv(model: nn.Module, in_channels: int, spec: str) -> None:
    found = next(((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)), None)
    if found is None:
        raise MixdiagError(f"{spec} has no nn.Conv2d to take {in_channels} input channels; use data with 3 channels")
    name, old = found
    new = nn.Conv2d(in_channels, old.out_channels, old.kernel_size, old.stride, old.padding, old.dilation, old.groups,
                    bias=old.bias is not None, padding_mode=old.padding_mode)
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, new)


def _timm(name: str, spec: str, num_classes: int, in_channels: int) -> nn.Module:
    timm = _require("timm", spec)
    if not timm.is_model(name):
        raise MixdiagError(f"timm has no model {name!r}; see timm.list_models()")
    return timm.create_model(name, pretrained=False, num_classes=num_classes, in_chans=in_channels)


def _factory(where: str, name: str, spec: str):
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise MixdiagError(f"model spec {spec!r}: no file {path}; give path/to/file.py:function")
        module_spec = importlib.util.spec_from_file_location(f"mixdiag_user_model_{path.stem}", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as exc:
            raise MixdiagError(f"model spec {spec!r}: cannot import {where} ({exc}); give an importable module or a .py file") from None
    fn = getattr(module, name, None)
    if not callable(fn):
        raise MixdiagError(f"model spec {spec!r}: {where} has no function {name!r}")
    return fn


def _call_factory(fn, spec: str, num_classes: int, in_channels: int) -> nn.Module:
    offered = {"num_classes": num_classes, "in_channels": in_channels}
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        model = fn(**offered)
    else:
        model = fn(**{key: value for key, value in offered.items() if key in params})
    if not isinstance(model, nn.Module):
        raise MixdiagError(f"model spec {spec!r} returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def build_model(spec: str, *, num_classes: int, in_channels: int = 3) -> nn.Module:
    """Build the network ``spec`` names, randomly initialised, for ``num_classes`` outputs and ``in_channels`` inputs.

    Args:
        spec: ``torchvision:<name>``, ``timm:<name>``, ``module:function`` or
            ``path/to/file.py:function`` (module docstring: exactly how each is built).
        num_classes: outputs of the classifier.
        in_channels: channels of the input.

    Returns:
        The model, in train mode, on the CPU.

    >>> build_model("torchvision:resnet18", num_classes=10, in_channels=1).conv1  # doctest: +SKIP
    Conv2d(1, 64, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3), bias=False)
    """
    where, name = parse_spec(spec)
    if where == "torchvision":
        return _torchvision(name, spec, num_classes, in_channels)
    if where == "timm":
        return _timm(name, spec, num_classes, in_channels)
    return _call_factory(_factory(where, name, spec), spec, num_classes, in_channels)


def _keys(keys, most: int = 5) -> str:
    keys = list(keys)
    return ", ".join(keys[:most]) + (f" (+{len(keys) - most} more)" if len(keys) > most else "")


def _state_dict(path: Path) -> dict:
    if not path.is_file():
        raise MixdiagError(f"weights file {path} does not exist; pass a state dict saved with torch.save(model.state_dict(), PATH)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise MixdiagError(f"{path} cannot be read as a state dict with weights_only=True ({type(exc).__name__}); "
                           "save it with torch.save(model.state_dict(), PATH)") from None
    # A training script's checkpoint often keeps the state dict under one of these keys.
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise MixdiagError(f"{path} holds a {type(state).__name__}, not a state dict of tensors; save model.state_dict()")
    return state


def _load(model: nn.Module, path: Path, strict: bool) -> list[str]:
    """Load what matches; return the mismatches (``"missing keys: ..."``, ...), refusing any when ``strict``."""
    state = _state_dict(path)
    own = model.state_dict()
    shapes = [k for k in state if k in own and own[k].shape != state[k].shape]
    missing, unexpected = [k for k in own if k not in state], [k for k in state if k not in own]
    parts = [f"{label}: {_keys(keys)}" for label, keys in
             (("missing keys", missing), ("unexpected keys", unexpected), ("keys of another shape", shapes)) if keys]
    if strict and parts:
        raise MixdiagError(f"the weights in {path} do not match the model ({'; '.join(parts)}); build the model as it was trained "
                           "(same spec, classes and channels) or pass --no-strict (strict=False) to load what matches")
    model.load_state_dict({k: v for k, v in state.items() if k in own and k not in shapes}, strict=False)
    return parts


def load_weights(model: nn.Module, path: str | Path, strict: bool = True) -> nn.Module:
    """Load a state dict saved with ``torch.save(model.state_dict(), path)`` into ``model``.

    Read with ``torch.load(weights_only=True)``, so a file cannot run code. A file holding
    ``{"state_dict": ...}`` or ``{"model": ...}`` gives that entry.

    Args:
        model: the network, built as the weights were trained (see :func:`build_model`).
        path: the file.
        strict: every key must match (names and shapes); False loads the keys whose names
            and shapes match and leaves the others as built.

    Returns:
        ``model``.

    Raises:
        MixdiagError: one line listing the missing, unexpected and mis-shaped keys.
    """
    _load(model, Path(path), strict)
    return model


def load_init(model: nn.Module, path: str | Path, strict: bool = True) -> Optional[str]:
    """:func:`load_weights` for ``mixdiag train --init``: the keys that did not match as one warning line.

    Args:
        model: the network as training builds it.
        path: the state dict file.
        strict: as for :func:`load_weights`; the mismatches are an error then.

    Returns:
        ``"warning: ..."`` naming the missing, unexpected and mis-shaped keys, or None when all matched.
    """
    parts = _load(model, Path(path), strict)
    return f"warning: --init {path} loaded the keys that match the model and left the others as initialised ({'; '.join(parts)})" \
        if parts else None
