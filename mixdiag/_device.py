"""The one place that decides where tensors live."""

from __future__ import annotations

import torch

from .errors import MixdiagError


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/None picks CUDA when available, else CPU; anything else is parsed by torch."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise MixdiagError(f"unknown device {device!r}; use auto, cpu or cuda[:N]") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise MixdiagError(f"device {device!r} requested but CUDA is not available; use --device cpu or auto")
    return dev
