"""A validation split held out from the training data of datasets that ship none.

``best.pt`` is the epoch with the best validation metric; choosing it on the test split
would make every number measured on it test-optimistic. Datasets without a validation
split of their own (digits, mnist, fashion-mnist, cifar10, synthetic-multilabel) therefore
give up a seeded share of their training data to one, and training never sees it.

The split is stratified. Single-label data: every class gives the same share (rounded per
class). Multi-label data: each sample is filed under its rarest positive label (the label
with the fewest positives in the training data; samples without a positive label form one
more group), and every group gives the same share. The rare labels, whose validation AUC is
the noisiest, so keep their share of positives, and a common label keeps about its share
too, since most of its positives are filed under it or spread evenly over the rarer ones.
Full iterative stratification (Sechidis et al. 2011) balances every label at once; for the
few labels mixdiag's multi-label sets have, the rarest-label rule is close to it and simple
to check.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import torch

from ..errors import DataError
from ._base import Dataset

__all__ = ["hold_out_validation", "stratified_split", "strata"]


def stratified_split(labels: np.ndarray, test_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Split sample indices so every class keeps its share in both parts.

    Args:
        labels: ``(N,)`` integer class (or stratum) of each sample.
        test_fraction: share of each class sent to the second part (rounded per class).
        rng: generator choosing which samples of a class go to the second part.

    Returns:
        ``(kept, taken)``: sorted index arrays that together cover ``0..N-1`` once.
    """
    taken = [np.zeros(0, dtype=np.int64)]
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        taken.append(rng.choice(members, size=round(test_fraction * len(members)), replace=False))
    is_taken = np.zeros(len(labels), dtype=bool)
    is_taken[np.concatenate(taken)] = True
    return np.flatnonzero(~is_taken), np.flatnonzero(is_taken)


def strata(y: torch.Tensor, multilabel: bool) -> np.ndarray:
    """The group each sample is stratified in: its class, or its rarest positive label (-1: none)."""
    y = y.numpy()
    if not multilabel:
        return y.astype(np.int64)
    positives = y > 0.5
    # Rarest first; a stable sort breaks ties by label index, so the rule is deterministic.
    by_rarity = np.argsort(positives.sum(0), kind="stable")
    ranked = positives[:, by_rarity]
    rarest = by_rarity[ranked.argmax(1)]
    return np.where(ranked.any(1), rarest, -1).astype(np.int64)


def hold_out_validation(ds: Dataset, fraction: float, seed: int) -> Dataset:
    """``ds`` with a stratified ``fraction`` of its training data moved to a validation split.

    Args:
        ds: a dataset without a validation split.
        fraction: share of the training data to hold out, in ``(0, 1)``.
        seed: seeds the choice of samples; the same dataset, fraction and seed give the same split.

    Returns:
        A new :class:`Dataset`; its ``info["validation"]`` records the fraction, seed,
        stratification rule, sizes and a digest of the held-out indices, and
        ``info["sizes"]`` the new split sizes.
    """
    if ds.x_val is not None:
        raise DataError(f"{ds.name} already has a validation split; it needs none held out")
    train, val = stratified_split(strata(ds.y_train, ds.multilabel), fraction, np.random.default_rng(seed))
    n = len(ds.y_train)
    if len(val) == 0 or len(train) < 2:
        raise DataError(
            f"--val-fraction {fraction} leaves {len(val)} validation and {len(train)} training samples of {ds.name}'s {n}; "
            "choose a fraction that leaves both, or 0 for no validation split"
        )
    record = {
        "held_out_from": "train",
        "fraction": fraction,
        "seed": seed,
        "stratified_on": "rarest positive label" if ds.multilabel else "class",
        "sizes": {"train": len(train), "val": len(val)},
        "indices_sha256": hashlib.sha256(val.astype("<i8").tobytes()).hexdigest(),
    }
    sizes = {"train": len(train), "val": len(val), "test": len(ds.y_test)}
    keep, take = torch.from_numpy(train), torch.from_numpy(val)
    return dataclasses.replace(
        ds,
        x_train=ds.x_train[keep],
        y_train=ds.y_train[keep],
        x_val=ds.x_train[take],
        y_val=ds.y_train[take],
        corrupted=None if ds.corrupted is None else ds.corrupted[keep],
        info={**ds.info, "sizes": sizes, "validation": record},
    ).validate()
