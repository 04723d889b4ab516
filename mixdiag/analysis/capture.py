"""Capture the hidden states of any network by forward hooks, batch by batch.

A network's hidden states are its residual blocks and its output (pseudo-name
``"output"``), as its :class:`~mixdiag.models.taps.Taps` names them: a mixdiag model's
declared ``block_names``, blocks the caller names, or those
:func:`~mixdiag.models.find_blocks.find_blocks` finds. :class:`FeatureCapture` runs the
model over inputs from any :mod:`~mixdiag.analysis.sources` source and yields, per batch,
``{name: (B, D) float32 features}``; the hooks are those of one
:class:`~mixdiag.models.hooks.TapRunner`, for MixableNets and other modules alike.

The hooks copy (or pool) a block's output at once (:func:`~mixdiag.models.hooks.features`),
so an in-place operation that runs after the block (``out.relu_()``) cannot change what was
captured.
"""

from __future__ import annotations

import itertools
from typing import Callable, Iterator, Optional, Sequence

import numpy as np
import torch
from torch import nn

from .._device import resolve_device
from ..errors import MixdiagError
from ..models.hooks import TapRunner, features, model_output
from ..models.taps import OUTPUT, Taps, describe
from .sources import as_source, first_input

__all__ = ["OUTPUT", "FeatureCapture", "hidden_states", "taps_for"]


def taps_for(model: nn.Module, data=None, transform: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
             blocks: Optional[Sequence[str]] = None) -> Taps:
    """The taps of ``model``: the ``blocks`` named, else its declaration, else the blocks a probe pass finds.

    Args:
        model: a MixableNet or any module.
        data: inputs (anything :func:`~mixdiag.analysis.sources.as_source` reads); the probe
            pass runs on their first sample. Without them the probe input is what the model
            declares (see :func:`~mixdiag.models.find_blocks.default_example`).
        transform: batch → model input, applied to the probe sample.
        blocks: names or shell-style patterns (see :mod:`~mixdiag.models.taps`).
    """
    declared = getattr(model, "block_names", None) is not None
    if data is None or (declared and blocks is None):
        return describe(model, blocks)
    example = first_input(as_source(data))
    first = next(itertools.chain(model.parameters(), model.buffers()), None)
    example = example.to(first.device) if first is not None else example
    return describe(model, blocks, example=transform(example) if transform is not None else example)


def hidden_states(model: nn.Module, names: Optional[Sequence[str]] = None, taps: Optional[Taps] = None) -> tuple[str, ...]:
    """The hidden states of ``model`` in network order: its blocks then the output.

    Args:
        model: a MixableNet or any module (its blocks found when ``taps`` is not given).
        names: a subset to keep (any order); default all.
        taps: the model's taps, when already described.

    Returns:
        The selected names, in network order.
    """
    return (taps or describe(model)).select(names)


class FeatureCapture:
    """Context manager that runs ``model`` over ``x`` and yields its hidden states per batch.

    On entry the model is moved to ``device`` (if it lives elsewhere), switched to eval mode
    and hooked; on exit, also after an error, hooks are removed and every submodule's
    train/eval mode and the model's device are restored. When ``"output"`` is not
    requested, the forward pass stops after the last requested block.

    Args:
        model: a MixableNet or any module; ``model(x)`` returns logits (or a tuple or dict
            holding them, see :func:`~mixdiag.models.hooks.model_output`).
        x: inputs ``(N, ...)``: a tensor, numpy array, Dataset or DataLoader (see
            :mod:`~mixdiag.analysis.sources`), in any dtype; read batch by batch in order.
        transform: maps a batch (already on ``device``) to model input, e.g.
            ``Dataset.normalize``; default identity.
        names: hidden states to capture; default every block and ``"output"``.
        batch_size: samples per forward pass (a DataLoader keeps its own).
        device: where the model runs (``"auto"``, ``"cpu"``, ``"cuda"``, a torch.device).
        pooled: average over positions instead of flattening (``(B, C, ...) → (B, C)``,
            tokens ``(B, T, C) → (B, C)``; see :func:`~mixdiag.models.hooks.features`).
        indices: run over the rows ``x[indices]`` only, in that order, without copying
            ``x``; default every row.
        taps: the model's :class:`~mixdiag.models.taps.Taps`; default :func:`taps_for`.
        consume: when given, ``consume(name, features)`` receives each hidden state's
            ``(B, D)`` float32 features as soon as the forward pass produces them, as a view
            of the block output where one exists: valid only during the call (read them,
            do not keep them). Nothing is copied, and the block output is read while it is
            still in cache.

    Yields:
        per batch, ``{name: float32 tensor (B, D) on device}`` in network order; with
        ``consume``, the batch's number of rows instead.

    >>> with FeatureCapture(model, x, ds.normalize, names=["layer1.0"]) as batches:  # doctest: +SKIP
    ...     for feats in batches:
    ...         feats["layer1.0"].shape
    """

    def __init__(
        self,
        model: nn.Module,
        x,
        transform: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
        *,
        names: Optional[Sequence[str]] = None,
        batch_size: int = 256,
        device: str | torch.device = "cpu",
        pooled: bool = False,
        indices: Optional[np.ndarray] = None,
        taps: Optional[Taps] = None,
        consume: Optional[Callable[[str, torch.Tensor], None]] = None,
    ):
        if batch_size < 1:
            raise MixdiagError(f"batch_size must be at least 1, got {batch_size}")
        self.model = model
        self.source = as_source(x)
        self.transform = transform
        self.taps = taps if taps is not None else taps_for(model, self.source, transform)
        self.names = self.taps.select(names)
        self.batch_size = batch_size
        self.device = resolve_device(device)
        self.pooled = pooled
        self.indices = None if indices is None else np.asarray(indices, dtype=np.int64)
        self.consume = consume
        self._blocks = [n for n in self.names if n != self.taps.output]
        self._runner: Optional[TapRunner] = None
        self._batch: dict = {}

    def __enter__(self) -> "FeatureCapture":
        self._modes = [(m, m.training) for m in self.model.modules()]
        first = next(itertools.chain(self.model.parameters(), self.model.buffers()), None)
        self._home = None if first is None or first.device == self.device else first.device
        try:
            if self._home is not None:
                self.model.to(self.device)
            self.model.eval()
            stop = self.taps.output not in self.names
            self._runner = TapRunner(self.model, self._blocks, self._record, stop_after_last=stop).__enter__()
        except BaseException:
            self._restore()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._restore()

    def _restore(self) -> None:
        if self._runner is not None:
            self._runner.close()
            self._runner = None
        for module, training in self._modes:
            module.training = training
        if self._home is not None:
            self.model.to(self._home)

    def _record(self, name: str, output: torch.Tensor) -> None:
        self._keep(name, output, self.pooled, name in self.taps.channels_last)

    def _keep(self, name: str, output: torch.Tensor, pooled: bool, channels_last: bool) -> None:
        if self.consume is not None:
            self.consume(name, features(output, pooled, channels_last, copy=False))
        else:
            self._batch[name] = features(output, pooled, channels_last)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        if self._runner is None:
            raise RuntimeError("iterate over a FeatureCapture inside its `with` block")
        for xb in self.source.batches(self.batch_size, self.indices):
            xb = xb.to(self.device, non_blocking=True)
            self._batch = {}
            # Yield outside inference mode: the caller's code between batches must not run in it.
            with torch.inference_mode():
                out = self._runner.run(self.transform(xb) if self.transform is not None else xb)
                if self.taps.output in self.names:
                    self._keep(self.taps.output, model_output(out), False, False)
            batch, self._batch = self._batch, {}
            yield len(xb) if self.consume is not None else {n: batch[n] for n in self.names}
