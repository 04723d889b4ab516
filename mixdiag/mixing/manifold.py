"""Manifold Mixup (Verma et al., 2019): mix at ONE randomly chosen mixing point per iteration."""

from __future__ import annotations

from typing import Optional, Sequence

import torch

from ._base import MixingMethod, MixParams, resolve_points
from ._registry import register_method


@register_method
class ManifoldMixup(MixingMethod):
    """Pick point k uniformly from the eligible set, then mix ``h_k`` and the targets.

    ``h̃_k = λh_k + (1−λ)h_k[π]``, ``loss = L(f_{>k}(h̃_k), ỹ)``.

    Args:
        points: eligible mixing points (names or indices). Default: the input and every
            stage output but the last, which for the 3-stage PreAct-ResNets is
            {input, layer1, layer2}, the set of the authors' reference code.
    """

    name = "manifold"

    def __init__(self, alpha: float = 2.0, per_sample: bool = False, points: Optional[Sequence[str | int]] = None):
        super().__init__(alpha, per_sample)
        self.points = None if points is None else list(points)

    def eligible(self, model) -> list[int]:
        return resolve_points(model, self.points, range(len(model.mixing_points) - 1))

    def sample(self, batch_size, model, rnd) -> MixParams:
        params = super().sample(batch_size, model, rnd)
        eligible = self.eligible(model)
        params.point = eligible[int(torch.randint(len(eligible), (1,), generator=rnd.torch))]
        return params

    def loss_with(self, model, x, targets, criterion, params) -> torch.Tensor:
        h = model.forward_to(params.point, x)
        return criterion(model.forward_from(params.point, params.mix(h)), params.mix(targets))

    def config(self) -> dict:
        return {**super().config(), "points": self.points}
