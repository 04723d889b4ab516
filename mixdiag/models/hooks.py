"""Run a model and act at its taps: :class:`TapRunner`, and :func:`features` to read a hidden state.

One runner serves every network: a forward hook on each tapped module hands the module's
output to a callback, which may record it (capture) or return a replacement that the
forward pass continues with (mixing at a hidden state). What a tap's output *is* follows
one rule (:func:`tap_tensor`): a tensor; the first tensor of a tuple or list; the first
tensor value of a dict. The model output follows the same rule, except that a dict (or an
object such as a Hugging Face ``ModelOutput``) with ``logits`` gives its logits.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch
from torch import nn

from ..errors import MixdiagError

__all__ = ["TapRunner", "features", "first_tensor", "model_output", "tap_tensor"]

OnTap = Callable[[str, torch.Tensor], Optional[torch.Tensor]]


class _StopForward(Exception):
    """Raised after the last tap a caller needs, so the layers after it are not computed."""


def _first_index(value):
    """Where the first tensor of a tuple, list or dict sits (index or key); None when there is none."""
    if isinstance(value, dict):
        return next((key for key, v in value.items() if isinstance(v, torch.Tensor)), None)
    if isinstance(value, (tuple, list)):
        return next((i for i, v in enumerate(value) if isinstance(v, torch.Tensor)), None)
    return None


def first_tensor(value) -> Optional[torch.Tensor]:
    """``value`` itself when a tensor, else the first tensor of a tuple, list or dict; None when there is none."""
    if isinstance(value, torch.Tensor):
        return value
    where = _first_index(value)
    return None if where is None else value[where]


def tap_tensor(value, name: str) -> torch.Tensor:
    """The tensor a tap stands for (:func:`first_tensor`).

    Raises:
        MixdiagError: when ``value`` holds no tensor.
    """
    found = first_tensor(value)
    if found is None:
        raise MixdiagError(f"{name!r} returns {type(value).__name__} with no tensor in it; tap a module that returns a tensor")
    return found


def _with_first(value, replacement: torch.Tensor):
    """``value`` with its first tensor (as :func:`tap_tensor` finds it) replaced."""
    if isinstance(value, torch.Tensor):
        return replacement
    where = _first_index(value)
    if isinstance(value, dict):
        return {**value, where: replacement}
    items = list(value)
    items[where] = replacement
    if isinstance(value, list) or type(value) is tuple:
        return type(value)(items)
    return type(value)(*items)  # a named tuple takes its fields one by one


def model_output(value) -> torch.Tensor:
    """The tensor the pseudo-name ``"output"`` stands for: ``logits`` of a dict or output object, else :func:`tap_tensor`."""
    if isinstance(value, dict) and isinstance(value.get("logits"), torch.Tensor):
        return value["logits"]
    if not isinstance(value, (torch.Tensor, dict, tuple, list)) and isinstance(getattr(value, "logits", None), torch.Tensor):
        return value.logits
    return tap_tensor(value, "the model output")


def features(t: torch.Tensor, pooled: bool = False, channels_last: bool = False, copy: bool = True) -> torch.Tensor:
    """A hidden state as a float32 ``(B, D)`` tensor, detached from the block output.

    Args:
        t: a block output ``(B, ...)`` of any rank.
        pooled: average over positions instead of flattening. ``(B, C, H, W)`` and
            ``(B, C, L)`` average over every axis after the channels (2 and on); with
            ``channels_last``, ``(B, T, C)`` tokens and ``(B, H, W, C)`` average over every
            axis between the batch and the channels (1 up to the last), giving ``(B, C)``.
        channels_last: the channels are on the last axis (see :class:`~mixdiag.models.taps.Taps`).
        copy: always a new tensor, so an in-place operation after the block cannot change it;
            False returns a view of ``t`` where one exists, for a caller that reads it at once.

    Returns:
        float32 ``(B, D)``.
    """
    if pooled and t.dim() > 2:
        axes = tuple(range(1, t.dim() - 1)) if channels_last else tuple(range(2, t.dim()))
        return t.detach().mean(dim=axes, dtype=torch.float32)
    return t.detach().reshape(len(t), -1).to(torch.float32, copy=copy)


class TapRunner:
    """Context manager: hooks ``taps`` of ``model``; :meth:`run` runs ``model(x)`` calling ``on_tap`` at each.

    ``on_tap(name, tensor)`` gets the tap's tensor (:func:`tap_tensor`) as the forward pass
    produces it; returning a tensor replaces it for the rest of the pass, None leaves it.
    Each tap must run once per pass. Hooks fire only inside :meth:`run`, so the caller's own
    forward passes are untouched, and are removed on exit, also after an error.

    Args:
        model: any ``nn.Module``.
        taps: qualified module names.
        on_tap: the callback.
        stop_after_last: end the pass after the last tap has run (:meth:`run` returns None),
            so layers after it are not computed.

    >>> with TapRunner(model, ["layer1.0"], lambda name, t: print(name, t.shape)) as runner:  # doctest: +SKIP
    ...     logits = runner.run(x)
    """

    def __init__(self, model: nn.Module, taps: Sequence[str], on_tap: OnTap, *, stop_after_last: bool = False):
        self.model = model
        self.taps = tuple(taps)
        self.on_tap = on_tap
        self.stop_after_last = stop_after_last
        self._handles: list = []
        self._seen: Optional[set] = None

    def __enter__(self) -> "TapRunner":
        try:
            for name in self.taps:
                self._handles.append(self.model.get_submodule(name).register_forward_hook(self._hook(name)))
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Remove the hooks."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, name: str):
        def hook(module, inputs, output):
            if self._seen is None:  # a forward pass of the caller's own, not ours
                return None
            if name in self._seen:
                raise MixdiagError(f"block {name!r} ran twice in one forward pass; tap modules that run once (name them with blocks=)")
            self._seen.add(name)
            replacement = self.on_tap(name, tap_tensor(output, name))
            if self.stop_after_last and len(self._seen) == len(self.taps):
                raise _StopForward
            return None if replacement is None else _with_first(output, replacement)

        return hook

    def run(self, x: torch.Tensor):
        """``model(x)`` with the taps active; None when stopped after the last tap.

        Raises:
            MixdiagError: when a tap did not run in the pass.
        """
        self._seen = set()
        try:
            out = self.model(x)
        except _StopForward:
            out = None
        finally:
            seen, self._seen = self._seen, None
        missing = [n for n in self.taps if n not in seen]
        if missing:
            raise MixdiagError(f"block {missing[0]!r} did not run in the forward pass; check the names of the blocks")
        return out
