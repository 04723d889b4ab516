"""Label corruption of the training split: symmetric flips, or per-direction multi-label flips.

Only training labels are corrupted; the clean ones are kept nowhere but the mask, which
:func:`apply_corruption` records in ``Dataset.corrupted`` so analyses can tell corrupted
samples apart. The same seed always corrupts the same labels the same way.
"""

from __future__ import annotations

import dataclasses
from numbers import Real

import torch

from ..errors import MixdiagError
from ._base import Dataset

__all__ = ["corrupt_labels", "corrupt_multilabel", "apply_corruption"]


def corrupt_labels(y: torch.Tensor, rate: float, num_classes: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip each class index with probability ``rate`` to a different class, uniformly.

    Args:
        y: ``int64 (N,)`` class indices in ``0..num_classes-1``.
        rate: flip probability, in ``[0, 1)``.
        num_classes: number of classes (at least 2).
        generator: source of the random draws; may live on another device than ``y``.

    Returns:
        ``(y_new, mask)``: the corrupted labels and the ``bool (N,)`` mask of flipped ones,
        on ``y``'s device; ``y`` itself is left unchanged.
    """
    _check_rate("rate", rate)
    if num_classes < 2:
        raise MixdiagError(f"label corruption needs at least 2 classes, got {num_classes}")
    if y.dim() != 1 or y.dtype != torch.int64:
        raise MixdiagError(f"corrupt_labels takes int64 class indices of shape (N,), got {y.dtype} {tuple(y.shape)}")
    n = y.shape[0]
    mask = torch.rand(n, generator=generator, device=generator.device) < rate
    # Adding 1..K-1 modulo K reaches each of the other K-1 classes exactly once.
    offset = torch.randint(1, num_classes, (n,), generator=generator, device=generator.device)
    mask, offset = mask.to(y.device), offset.to(y.device)
    return torch.where(mask, (y + offset) % num_classes, y), mask


def corrupt_multilabel(
    y: torch.Tensor, pos_to_neg: float, neg_to_pos: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip each positive label to 0 with probability ``pos_to_neg`` and each negative to 1 with ``neg_to_pos``.

    Args:
        y: ``(N, L)`` 0/1 labels.
        pos_to_neg: probability that a 1 becomes 0, in ``[0, 1)``.
        neg_to_pos: probability that a 0 becomes 1, in ``[0, 1)``.
        generator: source of the random draws; may live on another device than ``y``.

    Returns:
        ``(y_new, mask)``: the corrupted labels (``y``'s dtype) and the ``bool (N, L)`` mask
        of flipped entries, on ``y``'s device; ``y`` itself is left unchanged.
    """
    _check_rate("pos_to_neg", pos_to_neg)
    _check_rate("neg_to_pos", neg_to_pos)
    if y.dim() != 2:
        raise MixdiagError(f"corrupt_multilabel takes (N, L) 0/1 labels, got shape {tuple(y.shape)}")
    draw = torch.rand(tuple(y.shape), generator=generator, device=generator.device).to(y.device)
    positive = y > 0.5
    mask = torch.where(positive, draw < pos_to_neg, draw < neg_to_pos)
    return torch.where(mask, 1 - y, y), mask


def apply_corruption(
    ds: Dataset, rate: float | None = None, pos_to_neg: float | None = None, neg_to_pos: float | None = None, *, seed: int
) -> Dataset:
    """A copy of ``ds`` whose training labels are corrupted; validation and test labels stay clean.

    Args:
        ds: a dataset without corruption.
        rate: symmetric flip rate, for single-label datasets only.
        pos_to_neg, neg_to_pos: flip rates of positive and negative labels, for
            multi-label datasets only; a missing one is 0.
        seed: seeds the generator, so the same seed corrupts the same labels.

    Returns:
        A new :class:`Dataset` with the corrupted ``y_train``, the mask of flipped labels
        in ``corrupted`` and ``info["corruption"]`` holding the rates, the seed and the
        number of flipped labels.
    """
    if ds.corrupted is not None:
        raise MixdiagError(f"{ds.name}: the training labels are already corrupted; corrupt the clean dataset once")
    generator = torch.Generator().manual_seed(seed)
    if ds.multilabel:
        if rate is not None:
            raise MixdiagError(f"{ds.name} is multi-label: give pos_to_neg and neg_to_pos instead of a single flip rate")
        rates = {"pos_to_neg": pos_to_neg or 0.0, "neg_to_pos": neg_to_pos or 0.0}
        y_new, mask = corrupt_multilabel(ds.y_train, rates["pos_to_neg"], rates["neg_to_pos"], generator)
    else:
        if pos_to_neg is not None or neg_to_pos is not None:
            raise MixdiagError(f"{ds.name} is single-label: give one symmetric flip rate instead of pos_to_neg/neg_to_pos")
        rates = {"rate": rate or 0.0}
        y_new, mask = corrupt_labels(ds.y_train, rates["rate"], ds.num_classes, generator)
    info = {**ds.info, "corruption": {**rates, "seed": seed, "flipped": int(mask.sum())}}
    return dataclasses.replace(ds, y_train=y_new, corrupted=mask, info=info)


def _check_rate(name: str, rate: float) -> None:
    """Raise unless ``rate`` is a probability below 1 (at 1 every label flips: nothing true is left)."""
    if isinstance(rate, bool) or not isinstance(rate, Real) or not 0 <= rate < 1:
        raise MixdiagError(f"corruption {name} must be in [0, 1), got {rate!r}")
