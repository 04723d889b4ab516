"""Empirical risk minimisation: the unmixed baseline."""

import torch

from ._base import MixingMethod, MixParams
from ._registry import register_method


@register_method
class ERM(MixingMethod):
    """Plain training: ``loss = L(f(x), y)``. Draws no random numbers."""

    name = "erm"
    mixes = False

    def __init__(self):
        super().__init__()

    def sample(self, batch_size, model, rnd) -> MixParams:
        return MixParams(lam=torch.tensor(1.0), perm=torch.arange(batch_size))

    def loss_with(self, model, x, targets, criterion, params) -> torch.Tensor:
        return criterion(model(x), targets)

    def config(self) -> dict:
        return {}
