"""Train/validation/test splits of a user's files: given by the layout, or drawn with a seed.

A layout may fix some splits (``test/`` and ``val/`` folders, a split column); the ones it
leaves out are drawn from the training files: stratified like :mod:`mixdiag.data.validation`
(by class, or by each sample's rarest positive label), or, when patients are known, by
patient so that no patient's images sit on both sides (patients are drawn at random, not
stratified: a patient's images carry several labels at once).
"""

from __future__ import annotations

import hashlib
from typing import Optional

import numpy as np

from ..errors import DataError
from ._cache import take_limit
from .validation import stratified_split

__all__ = ["SPLITS", "plan_splits"]

SPLITS = ("train", "val", "test")


def plan_splits(
    assigned: np.ndarray,
    strata: np.ndarray,
    groups: Optional[np.ndarray],
    *,
    stratified_on: str,
    test_fraction: float,
    val_fraction: float,
    seed: int,
    limit: Optional[int],
    dataset: str,
    given_by: str,
) -> tuple[dict[str, np.ndarray], dict]:
    """Complete the splits a layout gives with seeded draws from its training files.

    Args:
        assigned: ``(N,)`` strings ``"train"``, ``"val"`` or ``"test"``: the split the layout
            puts each file in (all ``"train"`` when it gives none).
        strata: ``(N,)`` integer stratum of each file (its class, or rarest positive label).
        groups: ``(N,)`` patient of each file, or None; when given, draws are by patient.
        stratified_on: what ``strata`` are (``"class"``), for the record.
        test_fraction: share of the training files drawn as the test split when none is given.
        val_fraction: share of the (remaining) training files drawn as the validation split
            when none is given; 0 for none.
        seed: seeds both draws and the ``limit`` subsets.
        limit: at most this many files per split, drawn at random after splitting; None for all.
        dataset: registry name, for messages.
        given_by: what fixes the given splits (``"test/ and val/ folders"``), for the record.

    Returns:
        ``(splits, record)``: sorted file indices per split name (``"val"`` may be empty), and
        ``{"split": ..., "validation": ...}`` to merge into ``Dataset.info``. ``split`` records
        how each split was made, with its sizes and a digest of the test indices;
        ``validation`` has the fields :func:`mixdiag.training.checkpoint.check_validation`
        compares and ``split`` inside it (so a run records and checks the whole split), or is
        None without a validation split.
    """
    _check_fraction(dataset, "test_fraction", test_fraction, allow_zero=False)
    _check_fraction(dataset, "val_fraction", val_fraction, allow_zero=True)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DataError(f"{dataset}: split_seed must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(seed)
    splits = {name: np.flatnonzero(assigned == name) for name in SPLITS}
    rule = f"patient ({len(np.unique(groups))} patients)" if groups is not None else stratified_on
    drawn = {}
    for name, fraction in (("test", test_fraction), ("val", val_fraction)):
        if len(splits[name]) == 0 and fraction:
            splits["train"], splits[name] = _draw(splits["train"], fraction, strata, groups, rng)
            drawn[name] = fraction
            if len(splits[name]) == 0 or len(splits["train"]) == 0:
                raise DataError(
                    f"{dataset}: {name}_fraction {fraction} of {len(splits['train']) + len(splits[name])} training files leaves "
                    f"{len(splits[name])} {name} and {len(splits['train'])} training files; add files or change {name}_fraction"
                )
    if len(splits["train"]) == 0:
        raise DataError(f"{dataset}: no training files: {given_by} put every file in val or test; add training files")
    # Its own stream, so that a limit never shifts the split itself.
    limit_rng = np.random.default_rng([seed, 1])
    splits = {name: take_limit(idx, limit, limit_rng) for name, idx in splits.items()}
    record = {
        "given_by": given_by,
        "drawn": drawn,
        "drawn_by": rule,
        "seed": seed,
        "limit": limit,
        "sizes": {name: len(idx) for name, idx in splits.items()},
        "test_sha256": _digest(splits["test"]),
    }
    validation = None
    if len(splits["val"]):
        validation = {
            "held_out_from": "train" if "val" in drawn else given_by,
            "fraction": drawn.get("val"),
            "seed": seed,
            "stratified_on": rule if "val" in drawn else None,
            "sizes": {"train": len(splits["train"]), "val": len(splits["val"])},
            "indices_sha256": _digest(splits["val"]),
            # The run stores this record in config.json and every checkpoint, and a rebuild must
            # match it: so the whole split, the test part included, is recorded and checked.
            "split": record,
        }
    return splits, {"split": record, "validation": validation}


def _draw(
    pool: np.ndarray, fraction: float, strata: np.ndarray, groups: Optional[np.ndarray], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split the sorted indices ``pool`` into ``(kept, taken)``, taking ``fraction`` by stratum or by group."""
    if groups is None:
        kept, taken = stratified_split(strata[pool], fraction, rng)
        return pool[kept], pool[taken]
    patients = np.unique(groups[pool])
    chosen = rng.choice(patients, size=round(fraction * len(patients)), replace=False)
    is_taken = np.isin(groups[pool], chosen)
    return pool[~is_taken], pool[is_taken]


def _digest(indices: np.ndarray) -> str:
    return hashlib.sha256(indices.astype("<i8").tobytes()).hexdigest()


def _check_fraction(dataset: str, name: str, value: float, allow_zero: bool) -> None:
    low_ok = value >= 0 if allow_zero else value > 0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (low_ok and value < 1):
        bounds = "[0, 1)" if allow_zero else "(0, 1)"
        raise DataError(f"{dataset}: {name} must lie in {bounds}, got {value!r}")
