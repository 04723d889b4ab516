"""What every mixdiag model declares: its residual blocks and its mixing points.

A :class:`MixableNet` is a stem, a list of stages (each an ``nn.Sequential`` of residual
blocks) and a head. That one structure is the declaration both training-time mixing and
feature capture read:

* ``mixing_points``: ``("input", "layer1", ..., "layerS")``; point ``i > 0`` is the output
  of stage ``i``. Mixing at a point means: run the network up to it, mix, run the rest.
* ``block_names``: qualified module names (as ``named_modules()`` gives them) of every
  residual block, in network order. Capture hooks exactly these.

Its split forwards are the fast path of the mixable interface every mixing method uses
(:mod:`mixdiag.models.mixable`; any other network goes through hooks there).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import torch
from torch import nn

from ..errors import MixdiagError


class MixableNet(nn.Module):
    """Base class: subclasses build ``stem``, ``stages`` and ``head`` then call ``_declare``."""

    stem: nn.Module
    head: nn.Module
    stage_names: tuple[str, ...]
    mixing_points: tuple[str, ...]
    block_names: tuple[str, ...]

    def _declare(self, stages: Sequence[nn.Sequential]) -> None:
        names = []
        for i, stage in enumerate(stages, start=1):
            setattr(self, f"layer{i}", stage)
            names.append(f"layer{i}")
        self.stage_names = tuple(names)
        self.mixing_points = ("input",) + self.stage_names
        self.block_names = tuple(f"{s}.{j}" for s in self.stage_names for j in range(len(getattr(self, s))))

    def point_index(self, point: str | int) -> int:
        """Index of a mixing point given by name or index."""
        if isinstance(point, int):
            if not 0 <= point < len(self.mixing_points):
                raise MixdiagError(f"mixing point {point} out of range 0..{len(self.mixing_points) - 1}")
            return point
        if point not in self.mixing_points:
            raise MixdiagError(f"unknown mixing point {point!r}; this model has {', '.join(self.mixing_points)}")
        return self.mixing_points.index(point)

    def _stage(self, i: int) -> nn.Module:
        return getattr(self, self.stage_names[i])

    def forward_to(self, point: str | int, x: torch.Tensor) -> torch.Tensor:
        """The hidden state at ``point`` for input ``x`` (the input itself for point 0)."""
        k = self.point_index(point)
        if k == 0:
            return x
        h = self.stem(x)
        for i in range(k):
            h = self._stage(i)(h)
        return h

    def forward_from(self, point: str | int, h: torch.Tensor) -> torch.Tensor:
        """Logits when the hidden state at ``point`` is ``h``."""
        k = self.point_index(point)
        if k == 0:
            h = self.stem(h)
        for i in range(k, len(self.stage_names)):
            h = self._stage(i)(h)
        return self.head(h)

    def forward_points(self, x: torch.Tensor, points: Iterable[str | int], with_logits: bool = True):
        """One pass that returns ``({point index: hidden state}, logits or None)``.

        Stops after the last requested point when ``with_logits`` is False, so a caller
        that only needs hidden states does not pay for the rest of the network.
        """
        wanted = sorted({self.point_index(p) for p in points})
        states = {0: x} if 0 in wanted else {}
        last = len(self.stage_names) if with_logits else (wanted[-1] if wanted else 0)
        h = x
        if last > 0:
            h = self.stem(x)
        for i in range(last):
            h = self._stage(i)(h)
            if i + 1 in wanted:
                states[i + 1] = h
        logits = self.head(h) if with_logits else None
        return states, logits

    def forward_mixed(self, x: torch.Tensor, point: str | int, mix) -> torch.Tensor:
        """Logits when the hidden state ``h`` at ``point`` is replaced by ``mix(h)``."""
        return self.forward_from(point, mix(self.forward_to(point, x)))

    def forward_each_mixed(self, x: torch.Tensor, points: Iterable[str | int], mix, with_clean: bool = False):
        """``([logits mixed at each of points], clean logits or None)``: one clean pass to the
        last point, shared by all, then the rest of the network once per point."""
        points = list(points)
        states, clean = self.forward_points(x, points, with_logits=with_clean)
        return [self.forward_from(k, mix(states[self.point_index(k)])) for k in points], clean

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_from(0, x)
