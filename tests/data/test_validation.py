import numpy as np
import pytest
import torch

from mixdiag.data import Dataset, hold_out_validation, load_dataset
from mixdiag.data.validation import strata
from mixdiag.errors import DataError


def split_positions(ds, held):
    """Positions in ``ds``'s training data of the rows ``held`` kept as train and as val (rows are unique)."""
    rows = {tuple(x.flatten().tolist()): i for i, x in enumerate(ds.x_train)}
    train = sorted(rows[tuple(x.flatten().tolist())] for x in held.x_train)
    val = sorted(rows[tuple(x.flatten().tolist())] for x in held.x_val)
    return np.array(train), np.array(val)


def test_single_label_split_is_stratified_disjoint_and_seeded():
    ds = load_dataset("digits")
    held = hold_out_validation(ds, 0.1, seed=7)
    train, val = split_positions(ds, held)
    assert len(set(train) | set(val)) == len(ds.x_train) and not set(train) & set(val)
    y = ds.y_train.numpy()
    for cls in range(10):
        assert (y[val] == cls).sum() == round(0.1 * (y == cls).sum())
    assert torch.equal(held.y_val, ds.y_train[val]) and torch.equal(held.y_train, ds.y_train[train])
    again, other = hold_out_validation(ds, 0.1, seed=7), hold_out_validation(ds, 0.1, seed=8)
    assert torch.equal(again.x_val, held.x_val) and not torch.equal(other.x_val, held.x_val)
    record = held.info["validation"]
    assert record["sizes"] == {"train": len(train), "val": len(val)} and record["stratified_on"] == "class"
    assert held.info["sizes"] == {"train": len(train), "val": len(val), "test": len(ds.x_test)}
    assert record["indices_sha256"] != other.info["validation"]["indices_sha256"]


def multilabel_dataset(n=3000, seed=0):
    """Labels of very different prevalence (2% .. 45%), some samples without any positive."""
    rng = np.random.default_rng(seed)
    prevalence = np.array([0.45, 0.02, 0.2, 0.06, 0.3])
    y = (rng.random((n, 5)) < prevalence).astype(np.float32)
    x = torch.from_numpy(rng.standard_normal((n, 1, 2, 2)).astype(np.float32))
    return Dataset("ml", x, torch.from_numpy(y), x[:10], torch.from_numpy(y[:10]), 5, list("abcde"), (0.0,), (1.0,), multilabel=True)


def test_multilabel_split_stratifies_on_the_rarest_positive_label():
    ds = multilabel_dataset()
    y = ds.y_train.numpy()
    counts = y.sum(0)
    # The rule, sample by sample: the positive label with the fewest positives; -1 without one.
    expected = np.array([min(np.flatnonzero(row), key=lambda j: (counts[j], j)) if row.any() else -1 for row in y])
    assert np.array_equal(strata(ds.y_train, True), expected)
    held = hold_out_validation(ds, 0.2, seed=1)
    _, val = split_positions(ds, held)
    for group in np.unique(expected):
        assert (expected[val] == group).sum() == round(0.2 * (expected == group).sum())
    # Every positive of the rarest label is filed under it, so it keeps its share exactly.
    assert y[val, 1].sum() == round(0.2 * counts[1])
    # The other labels keep about their share (a random split of this size is off by up to ~±15% on the 6% label).
    assert np.allclose(y[val].sum(0) / counts, 0.2, atol=0.03)
    assert held.info["validation"]["stratified_on"] == "rarest positive label"


def test_a_fraction_that_leaves_a_split_empty_is_refused_with_the_fix():
    ds = load_dataset("digits")
    with pytest.raises(DataError, match=r"--val-fraction 0.001 leaves 0 validation .* or 0 for no validation split"):
        hold_out_validation(ds, 0.001, seed=0)
    with pytest.raises(DataError, match="already has a validation split"):
        hold_out_validation(hold_out_validation(ds, 0.1, seed=0), 0.1, seed=0)
