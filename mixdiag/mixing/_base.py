"""The interface every mixing method implements, and what they share.

A method turns a batch into a training loss. Its randomness (the mixing coefficient λ,
the pairing permutation, the mixing point) is drawn by :meth:`MixingMethod.sample` from
an explicit :class:`MixRandom`, and :meth:`MixingMethod.loss_with` computes the loss for
given parameters. Splitting the two is what lets tests hold λ and the pairing fixed and
compare methods exactly.

Methods run the model only through the mixable interface of :mod:`mixdiag.models.mixable`
(``forward_points``, ``forward_mixed``, ``forward_each_mixed``, ``mixing_points``): a
MixableNet's split forwards, or any network's forward hooks.

Targets are always a float matrix ``(B, C)``: one-hot rows for single-label data, 0/1
rows for multi-label data. Mixing them is then the same operation as mixing inputs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import MixdiagError

Criterion = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against a probability vector per sample (no label smoothing)."""
    return -(targets * F.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()


def multilabel_bce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy per label against (possibly mixed) targets in [0, 1]."""
    return F.binary_cross_entropy_with_logits(logits.float(), targets)


def criterion_for(multilabel: bool) -> Criterion:
    return multilabel_bce if multilabel else soft_cross_entropy


def as_targets(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Class indices → one-hot float rows; multi-label 0/1 rows pass through as float."""
    if y.dim() == 1:
        return F.one_hot(y, num_classes).float()
    return y.float()


class MixRandom:
    """The explicit random sources of mixing: numpy for Beta draws, torch for permutations.

    torch has no generator-aware Beta sampler, so λ comes from a seeded
    ``numpy.random.Generator``; permutations come from a CPU ``torch.Generator``.
    """

    def __init__(self, seed: int):
        self.numpy = np.random.default_rng(seed)
        self.torch = torch.Generator().manual_seed(int(seed))

    def state_dict(self) -> dict:
        return {"numpy": self.numpy.bit_generator.state, "torch": self.torch.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.numpy.bit_generator.state = state["numpy"]
        self.torch.set_state(state["torch"])


@dataclass
class MixParams:
    """One iteration's mixing: λ (scalar or per sample), the pairing, and the point (manifold)."""

    lam: torch.Tensor
    perm: torch.Tensor
    point: Optional[int] = None

    def mix(self, a: torch.Tensor) -> torch.Tensor:
        """``λ·a + (1−λ)·a[perm]``, with λ broadcast over all but the batch dimension."""
        lam = self.lam.to(device=a.device, dtype=a.dtype)
        if lam.dim() == 1:
            lam = lam.view((-1,) + (1,) * (a.dim() - 1))
        perm = self.perm.to(a.device)
        return lam * a + (1 - lam) * a[perm]


class MixingMethod(ABC):
    """Base class. Subclasses implement :meth:`loss_with`; most reuse :meth:`sample`.

    Args:
        alpha: λ ~ Beta(α, α). Must be positive.
        per_sample: one λ per sample instead of one per batch.
    """

    name = "base"
    mixes = True

    def __init__(self, alpha: float = 1.0, per_sample: bool = False):
        if not alpha > 0:
            raise MixdiagError(f"--alpha must be positive, got {alpha}")
        self.alpha = float(alpha)
        self.per_sample = bool(per_sample)

    def sample(self, batch_size: int, model: nn.Module, rnd: MixRandom) -> MixParams:
        size = batch_size if self.per_sample else None
        lam = torch.as_tensor(rnd.numpy.beta(self.alpha, self.alpha, size=size), dtype=torch.float32)
        perm = torch.randperm(batch_size, generator=rnd.torch)
        return MixParams(lam=lam, perm=perm)

    def loss(self, model: nn.Module, x: torch.Tensor, targets: torch.Tensor, criterion: Criterion, rnd: MixRandom):
        """Draw this iteration's parameters and return ``loss_with`` for them."""
        return self.loss_with(model, x, targets, criterion, self.sample(x.shape[0], model, rnd))

    @abstractmethod
    def loss_with(self, model, x, targets, criterion, params: MixParams) -> torch.Tensor:
        """The training loss of batch ``x`` with target rows ``targets`` for ``params``."""

    def config(self) -> dict:
        """Plain-data settings, recorded in the run's config."""
        return {"alpha": self.alpha, "per_sample": self.per_sample}


def resolve_points(model: nn.Module, points: Optional[Sequence[str | int]], default: Sequence[int]) -> list[int]:
    """Mixing point indices of ``model`` from names/indices, or ``default`` when None."""
    if points is None:
        return list(default)
    idx = sorted({model.point_index(p) for p in points})
    if not idx:
        raise MixdiagError("the list of mixing points is empty; name at least one of the model's points")
    return idx
