"""Flow-Mixup, this project's reading (Chen et al., BIBM 2020; no official code exists).

The paper constrains ALL hidden states in every iteration, so that no hidden state's
training condition changes from one iteration to the next (Manifold Mixup's
"distribution shift"). Our reading, per iteration with one λ and one pairing π:

    h_k = f_{≤k}(x)                       for every mixing point k (one clean pass)
    L_k = L(f_{>k}(λh_k + (1−λ)h_k[π]), λy + (1−λ)y[π])
    loss = Σ_k w_k L_k / Σ_k w_k  +  β · L(f(x), y)

Equal weights and β = 0 by default. The clean pass keeps its graph, so gradients of
every L_k reach the layers before point k through h_k. On a network mixdiag did not write
(hooks, :mod:`mixdiag.models.mixable`) the prefix cannot be shared: each L_k costs a full
forward pass, with the same loss and gradients.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch

from ..errors import MixdiagError
from ._base import MixingMethod, resolve_points
from ._registry import register_method


@register_method
class FlowMixup(MixingMethod):
    """Mix at every mixing point in every iteration; average the mixed-target losses.

    Args:
        points: mixing points to constrain (names or indices). Default: all of them,
            the input and every stage output.
        weights: one non-negative weight per point (same order as the model's points);
            equal by default.
        beta: weight of the clean (unmixed) loss added to the mixed losses.
    """

    name = "flow"

    def __init__(
        self,
        alpha: float = 1.0,
        per_sample: bool = False,
        points: Optional[Sequence[str | int]] = None,
        weights: Optional[Sequence[float]] = None,
        beta: float = 0.0,
    ):
        super().__init__(alpha, per_sample)
        if beta < 0:
            raise MixdiagError(f"--beta must be non-negative, got {beta}")
        if weights is not None and (any(w < 0 for w in weights) or sum(weights) <= 0):
            raise MixdiagError("--weights must be non-negative with a positive sum")
        self.points = None if points is None else list(points)
        self.weights = None if weights is None else [float(w) for w in weights]
        self.beta = float(beta)

    def point_weights(self, model) -> tuple[list[int], list[float]]:
        points = resolve_points(model, self.points, range(len(model.mixing_points)))
        if self.weights is None:
            return points, [1.0] * len(points)
        if len(self.weights) != len(points):
            raise MixdiagError(f"{len(self.weights)} weights given for {len(points)} mixing points; give one per point")
        return points, self.weights

    def loss_with(self, model, x, targets, criterion, params) -> torch.Tensor:
        points, weights = self.point_weights(model)
        mixed_logits, clean_logits = model.forward_each_mixed(x, points, params.mix, with_clean=self.beta > 0)
        mixed_targets = params.mix(targets)
        total = sum(w * criterion(logits, mixed_targets) for logits, w in zip(mixed_logits, weights))
        loss = total / sum(weights)
        if self.beta > 0:
            loss = loss + self.beta * criterion(clean_logits, targets)
        return loss

    def config(self) -> dict:
        return {**super().config(), "points": self.points, "weights": self.weights, "beta": self.beta}
