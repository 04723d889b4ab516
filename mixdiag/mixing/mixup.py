"""Mixup (Zhang et al., 2018): mix inputs and targets with the same λ and pairing."""

import torch

from ._base import MixingMethod
from ._registry import register_method


@register_method
class Mixup(MixingMethod):
    """``x̃ = λx + (1−λ)x[π]``, ``ỹ = λy + (1−λ)y[π]``, ``loss = L(f(x̃), ỹ)``."""

    name = "mixup"

    def loss_with(self, model, x, targets, criterion, params) -> torch.Tensor:
        return criterion(model(params.mix(x)), params.mix(targets))
