"""Flow-Mixup with a consistency penalty, this project's second reading of the paper.

One forward pass of the mixed input; at every mixing point k its hidden state h̃_k is
pulled towards the mix of the clean hidden states:

    loss = L(f(λx + (1−λ)x[π]), λy + (1−λ)y[π]) + γ · mean_k MSE(h̃_k, λh_k + (1−λ)h_k[π])

The clean states h_k are computed without gradient: they are the target the mixed pass
must follow, not something the penalty may move (otherwise shrinking all features would
lower it). The input point is left out by default because its penalty is identically 0.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from ..errors import MixdiagError
from ._base import MixingMethod, resolve_points
from ._registry import register_method


@register_method
class FlowConsistency(MixingMethod):
    """Mixed-target loss plus a hidden-state consistency penalty at every mixing point.

    Args:
        points: mixing points to constrain. Default: every stage output.
        gamma: weight of the consistency penalty.
    """

    name = "flow-consistency"

    def __init__(self, alpha: float = 1.0, per_sample: bool = False, points: Optional[Sequence[str | int]] = None, gamma: float = 1.0):
        super().__init__(alpha, per_sample)
        if gamma < 0:
            raise MixdiagError(f"--gamma must be non-negative, got {gamma}")
        self.points = None if points is None else list(points)
        self.gamma = float(gamma)

    def loss_with(self, model, x, targets, criterion, params) -> torch.Tensor:
        points = resolve_points(model, self.points, range(1, len(model.mixing_points)))
        with torch.no_grad():
            clean, _ = model.forward_points(x, points, with_logits=False)
        mixed, logits = model.forward_points(params.mix(x), points, with_logits=True)
        penalty = sum(F.mse_loss(mixed[k].float(), params.mix(clean[k]).float()) for k in points) / len(points)
        return criterion(logits, params.mix(targets)) + self.gamma * penalty

    def config(self) -> dict:
        return {**super().config(), "points": self.points, "gamma": self.gamma}
