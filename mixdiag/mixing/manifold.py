"""Manifold Mixup (Verma et al., 2019): mix at ONE randomly chosen mixing point per iteration."""

from __future__ import annotations

from typing import Optional, Sequence

import torch

from ._base import MixingMethod, MixParams, resolve_points
from ._registry import register_method


# input, layer1, layer2: the reference implementation's eligible set.
REFERENCE_POINTS = 3


@register_method
class ManifoldMixup(MixingMethod):
    """Pick point k uniformly from the eligible set, then mix ``h_k`` and the targets.

    ``h̃_k = λh_k + (1−λ)h_k[π]``, ``loss = L(f_{>k}(h̃_k), ỹ)``.

    Args:
        points: eligible mixing points (names or indices). Default: the input and the
            outputs of the first two stages, {input, layer1, layer2}, as in the authors'
            reference code (vikasverma1077/manifold_mixup: ``layer_mix = randint(0, 2)`` for
            its 4-stage PreAct-ResNet-18 and its 3-stage Wide-ResNets alike). For the 3-stage
            PreAct-ResNets that is every stage output but the last, as before; for the
            4-stage PreAct-ResNet-18 it leaves out layer3. Models with fewer stages use all
            their points but the last (mixing after the last stage would mix only the
            pooled features).
    """

    name = "manifold"

    def __init__(self, alpha: float = 2.0, per_sample: bool = False, points: Optional[Sequence[str | int]] = None):
        super().__init__(alpha, per_sample)
        self.points = None if points is None else list(points)

    def eligible(self, model) -> list[int]:
        return resolve_points(model, self.points, range(min(REFERENCE_POINTS, len(model.mixing_points) - 1)))

    def sample(self, batch_size, model, rnd) -> MixParams:
        params = super().sample(batch_size, model, rnd)
        eligible = self.eligible(model)
        params.point = eligible[int(torch.randint(len(eligible), (1,), generator=rnd.torch))]
        return params

    def loss_with(self, model, x, targets, criterion, params) -> torch.Tensor:
        return criterion(model.forward_mixed(x, params.point, params.mix), params.mix(targets))

    def config(self) -> dict:
        return {**super().config(), "points": self.points}
