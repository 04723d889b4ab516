"""Batched data augmentation on the training device: one gather per batch, no per-sample loop.

Augmentation runs after :meth:`Dataset.normalize`, so the zeros that pad a crop are the
per-channel mean, not black. Kinds:

- ``"crop"``: pad every side by ``pad`` zeros, then cut a window of the original size at a
  random offset per sample (a shift by up to ``pad`` pixels in each direction).
- ``"crop-flip"``: the same, and mirror each sample left-right with probability 1/2.
- ``"shift"``: signals ``(N, C, L)``: rotate each sample circularly along ``L`` by a random
  ``-pad..pad`` steps, so no sample point is lost or replaced by padding.
- ``"none"``: the batch unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import MixdiagError

__all__ = ["KINDS", "default_pad", "augment_batch"]

KINDS = ("crop", "crop-flip", "shift", "none")


def default_pad(length: int) -> int:
    """The padding (crop) or largest shift for a side of ``length``: 4 for 32 pixels, at least 1."""
    return max(1, length // 8)


def augment_batch(x: torch.Tensor, kind: str, generator: torch.Generator, pad: int | None = None) -> torch.Tensor:
    """Augment a batch with an independent random draw per sample.

    Args:
        x: normalised batch, ``(N, C, H, W)`` for ``"crop"``/``"crop-flip"``, ``(N, C, L)``
            for ``"shift"``; any device.
        kind: one of :data:`KINDS`.
        generator: source of the random draws; may live on another device than ``x``
            (draws are made on its device and moved).
        pad: crop padding or largest shift; None for :func:`default_pad` of the shorter side.

    Returns:
        A new contiguous tensor shaped like ``x`` (``x`` itself for ``"none"``); ``x`` is not modified.
    """
    if kind == "none":
        return x
    if kind not in KINDS:
        raise MixdiagError(f"unknown augmentation {kind!r}; choose one of: {', '.join(KINDS)}")
    spatial = 1 if kind == "shift" else 2
    if x.dim() != 2 + spatial:
        expected = "(N, C, L) signals" if kind == "shift" else "(N, C, H, W) images"
        raise MixdiagError(f"augmentation {kind!r} works on {expected}, got a batch of shape {tuple(x.shape)}")
    if pad is None:
        pad = default_pad(min(x.shape[2:]))
    if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
        raise MixdiagError(f"augmentation padding must be a non-negative number of steps, got {pad!r}")
    if kind == "shift":
        return _shift(x, pad, generator)
    return _crop(x, pad, kind == "crop-flip", generator)


def _draw(high: int, n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """``n`` integers uniform in ``0..high-1``, drawn on the generator's device, returned on ``device``."""
    return torch.randint(0, high, (n,), generator=generator, device=generator.device).to(device)


def _crop(x: torch.Tensor, pad: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """Random crops of the zero-padded batch, mirrored left-right at random when ``flip``."""
    n, _, height, width = x.shape
    top = _draw(2 * pad + 1, n, generator, x.device)
    left = _draw(2 * pad + 1, n, generator, x.device)
    rows = top[:, None] + torch.arange(height, device=x.device)
    cols = torch.arange(width, device=x.device).expand(n, width)
    if flip:
        # Mirroring the window is reading its columns backwards, so the flip costs no extra pass.
        mirrored = _draw(2, n, generator, x.device).bool()
        cols = torch.where(mirrored[:, None], cols.flip(1), cols)
    cols = left[:, None] + cols
    padded = F.pad(x, (pad, pad, pad, pad))
    sample = torch.arange(n, device=x.device)
    # Advanced indices split by the channel slice go first: the result is (N, H, W, C).
    out = padded[sample[:, None, None], :, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()


def _shift(x: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Rotate each signal along its length by a random ``-pad..pad`` steps."""
    n, _, length = x.shape
    steps = _draw(2 * pad + 1, n, generator, x.device) - pad
    source = (torch.arange(length, device=x.device) - steps[:, None]) % length
    out = x[torch.arange(n, device=x.device)[:, None], :, source]  # (N, L, C)
    return out.permute(0, 2, 1).contiguous()
