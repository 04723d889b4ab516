"""Capture the hidden states of a model's declared residual blocks by forward hooks.

A mixdiag model lists its residual blocks in ``model.block_names``; together with the
model output (key ``"output"``, the logits) they are the *hidden states* the analysis
measures. :class:`FeatureCapture` runs the model over stored inputs batch by batch and
yields, per batch, ``{name: (B, D) float32 features}``.

The hooks copy (or pool) a block's output at once, so an in-place operation that runs
after the block (``out.relu_()``) cannot change what was captured.
"""

from __future__ import annotations

import itertools
from typing import Callable, Iterator, Optional, Sequence

import numpy as np
import torch
from torch import nn

from .._device import resolve_device
from ..errors import MixdiagError

__all__ = ["OUTPUT", "FeatureCapture", "hidden_states"]

OUTPUT = "output"


class _StopForward(Exception):
    """Raised by the last hook needed, so layers after it are not computed."""


def hidden_states(model: nn.Module, names: Optional[Sequence[str]] = None) -> tuple[str, ...]:
    """The hidden states of ``model`` in network order: its ``block_names`` then ``"output"``.

    Args:
        model: a module with a ``block_names`` attribute.
        names: a subset to keep (any order); default all.

    Returns:
        The selected names, in network order.
    """
    blocks = getattr(model, "block_names", None)
    if blocks is None:
        raise MixdiagError(f"{type(model).__name__} declares no block_names; build the model with mixdiag.create_model")
    known = tuple(blocks) + (OUTPUT,)
    if names is None:
        return known
    if len(names) == 0:
        raise MixdiagError(f"no hidden states selected; pick some of {', '.join(known)}")
    unknown = [n for n in names if n not in known]
    if unknown:
        raise MixdiagError(f"unknown hidden state {unknown[0]!r}; this model has {', '.join(known)}")
    return tuple(n for n in known if n in set(names))


def _flatten(t: torch.Tensor, pooled: bool) -> torch.Tensor:
    # Always a new float32 tensor: later in-place ops on the block output must not reach it.
    if pooled and t.dim() > 2:
        return t.detach().mean(dim=tuple(range(2, t.dim())), dtype=torch.float32)
    return t.detach().reshape(len(t), -1).to(torch.float32, copy=True)


class FeatureCapture:
    """Context manager that runs ``model`` over ``x`` and yields its hidden states per batch.

    On entry the model is moved to ``device`` (if it lives elsewhere), switched to eval mode
    and hooked; on exit, also after an error, hooks are removed and every submodule's
    train/eval mode and the model's device are restored. When ``"output"`` is not
    requested, the forward pass stops after the last requested block.

    Args:
        model: a module with ``block_names``; ``model(x)`` returns logits.
        x: stored inputs ``(N, ...)`` in any dtype; sliced into batches in order.
        transform: maps a stored batch (already on ``device``) to model input, e.g.
            ``Dataset.normalize``; default identity.
        names: hidden states to capture; default every block and ``"output"``.
        batch_size: samples per forward pass.
        device: where the model runs (``"auto"``, ``"cpu"``, ``"cuda"``, a torch.device).
        pooled: average over spatial dimensions, ``(B, C, ...) → (B, C)``, instead of
            flattening to ``(B, C·H·W)``.
        indices: run over the rows ``x[indices]`` only, in that order, without copying
            ``x``; default every row.

    Yields:
        per batch, ``{name: float32 tensor (B, D) on device}`` in network order.

    >>> with FeatureCapture(model, x, ds.normalize, names=["layer1.0"]) as batches:  # doctest: +SKIP
    ...     for feats in batches:
    ...         feats["layer1.0"].shape
    """

    def __init__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        transform: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
        *,
        names: Optional[Sequence[str]] = None,
        batch_size: int = 256,
        device: str | torch.device = "cpu",
        pooled: bool = False,
        indices: Optional[np.ndarray] = None,
    ):
        if batch_size < 1:
            raise MixdiagError(f"batch_size must be at least 1, got {batch_size}")
        self.model = model
        self.x = x
        self.transform = transform
        self.names = hidden_states(model, names)
        self.batch_size = batch_size
        self.device = resolve_device(device)
        self.pooled = pooled
        self.indices = None if indices is None else torch.as_tensor(np.asarray(indices, dtype=np.int64))
        self._blocks = [n for n in self.names if n != OUTPUT]
        self._handles: list = []
        self._batch: Optional[dict] = None
        self._active = False

    def __enter__(self) -> "FeatureCapture":
        self._modes = [(m, m.training) for m in self.model.modules()]
        first = next(itertools.chain(self.model.parameters(), self.model.buffers()), None)
        self._home = None if first is None or first.device == self.device else first.device
        try:
            if self._home is not None:
                self.model.to(self.device)
            self.model.eval()
            for name in self._blocks:
                self._handles.append(self.model.get_submodule(name).register_forward_hook(self._hook(name)))
        except BaseException:
            self._restore()
            raise
        self._active = True
        return self

    def __exit__(self, *exc) -> None:
        self._restore()

    def _restore(self) -> None:
        self._active = False
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        for module, training in self._modes:
            module.training = training
        if self._home is not None:
            self.model.to(self._home)

    def _hook(self, name: str):
        def hook(module, inputs, output):
            if self._batch is None:  # a forward pass of the caller's own, not ours
                return
            if not isinstance(output, torch.Tensor):
                raise MixdiagError(f"block {name!r} returns {type(output).__name__}, not a tensor; capture needs tensor outputs")
            if name in self._batch:
                raise MixdiagError(f"block {name!r} ran twice in one forward pass; capture needs each block to run once")
            self._batch[name] = _flatten(output, self.pooled)
            if OUTPUT not in self.names and len(self._batch) == len(self._blocks):
                raise _StopForward

        return hook

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        if not self._active:
            raise RuntimeError("iterate over a FeatureCapture inside its `with` block")
        n = len(self.x) if self.indices is None else len(self.indices)
        for start in range(0, n, self.batch_size):
            if self.indices is None:
                xb = self.x[start : start + self.batch_size]
            else:
                xb = self.x[self.indices[start : start + self.batch_size]]
            xb = xb.to(self.device, non_blocking=True)
            self._batch = {}
            try:
                # Yield outside inference mode: the caller's code between batches must not run in it.
                with torch.inference_mode():
                    logits = self.model(self.transform(xb) if self.transform is not None else xb)
                    if OUTPUT in self.names:
                        self._batch[OUTPUT] = _flatten(logits, pooled=False)
            except _StopForward:
                pass
            finally:
                batch, self._batch = self._batch, None
            missing = [n for n in self.names if n not in batch]
            if missing:
                raise MixdiagError(f"block {missing[0]!r} did not run in the forward pass; check the model's block_names")
            yield {n: batch[n] for n in self.names}
