import numpy as np
import pytest
import torch

import mixdiag.data as data
from mixdiag.data import apply_corruption, corrupt_labels, corrupt_multilabel
from mixdiag.errors import MixdiagError


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def within_binomial(count: int, n: int, p: float, sigmas: float = 5) -> bool:
    return abs(count - n * p) <= sigmas * np.sqrt(n * p * (1 - p)) + 1


def test_symmetric_flips_rate_targets_and_mask():
    n, k, rate = 50000, 10, 0.3
    y = torch.randint(0, k, (n,), generator=gen(1))
    y_new, mask = corrupt_labels(y, rate, k, gen(2))
    assert mask.dtype == torch.bool and torch.equal(mask, y_new != y)  # never flipped to itself
    assert within_binomial(int(mask.sum()), n, rate)
    assert y_new.dtype == torch.int64 and int(y_new.min()) >= 0 and int(y_new.max()) < k
    # targets are uniform over the other classes: offsets (y_new - y) mod k equally likely in 1..k-1
    offsets = ((y_new - y) % k)[mask]
    counts = torch.bincount(offsets, minlength=k).numpy()
    assert counts[0] == 0
    for c in counts[1:]:
        assert within_binomial(int(c), int(mask.sum()), 1 / (k - 1))
    assert torch.equal(y, torch.randint(0, k, (n,), generator=gen(1)))  # input untouched


def test_same_seed_same_corruption_and_zero_rate_is_identity():
    y = torch.randint(0, 5, (1000,), generator=gen(0))
    a, b = corrupt_labels(y, 0.4, 5, gen(7)), corrupt_labels(y, 0.4, 5, gen(7))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], corrupt_labels(y, 0.4, 5, gen(8))[0])
    y0, m0 = corrupt_labels(y, 0.0, 5, gen(7))
    assert torch.equal(y0, y) and not m0.any()


def test_two_classes_always_swap():
    y = torch.randint(0, 2, (2000,), generator=gen(0))
    y_new, mask = corrupt_labels(y, 0.5, 2, gen(1))
    assert torch.equal(y_new[mask], 1 - y[mask])


def test_multilabel_rates_per_direction():
    n, labels = 20000, 5
    y = (torch.rand(n, labels, generator=gen(3)) < 0.3).float()
    y_new, mask = corrupt_multilabel(y, 0.2, 0.05, gen(4))
    assert torch.equal(mask, y_new != y) and y_new.dtype == torch.float32
    pos = y == 1
    assert within_binomial(int(mask[pos].sum()), int(pos.sum()), 0.2)
    assert within_binomial(int(mask[~pos].sum()), int((~pos).sum()), 0.05)
    assert set(y_new.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("rate", [1.0, -0.1, 1.5, "0.2"])
def test_bad_rates_raise(rate):
    y = torch.zeros(10, dtype=torch.int64)
    with pytest.raises(MixdiagError, match=r"must be in \[0, 1\)"):
        corrupt_labels(y, rate, 3, gen())
    with pytest.raises(MixdiagError, match=r"must be in \[0, 1\)"):
        corrupt_multilabel(torch.zeros(10, 2), 0.1, rate, gen())


def test_apply_corruption_touches_only_training_labels():
    ds = data.load_dataset("digits")
    out = apply_corruption(ds, rate=0.25, seed=11)
    assert torch.equal(out.y_test, ds.y_test) and torch.equal(out.x_train, ds.x_train)
    assert torch.equal(out.corrupted, out.y_train != ds.y_train) and ds.corrupted is None
    assert out.info["corruption"] == {"rate": 0.25, "seed": 11, "flipped": int((out.y_train != ds.y_train).sum())}
    assert "corruption" not in ds.info
    again = apply_corruption(ds, rate=0.25, seed=11)
    assert torch.equal(again.y_train, out.y_train)
    out.validate()
    with pytest.raises(MixdiagError, match="already corrupted"):
        apply_corruption(out, rate=0.1, seed=1)


def test_apply_corruption_multilabel_and_wrong_kind_of_rate():
    ds = data.load_dataset("synthetic-multilabel", n_train=500, n_test=50)
    out = apply_corruption(ds, pos_to_neg=0.3, seed=2)
    assert out.corrupted.shape == (500, 6) and torch.equal(out.corrupted, out.y_train != ds.y_train)
    assert not (out.y_train > ds.y_train).any()  # neg_to_pos defaults to 0
    assert out.info["corruption"]["pos_to_neg"] == 0.3 and out.info["corruption"]["neg_to_pos"] == 0.0
    assert torch.equal(out.y_test, ds.y_test)
    with pytest.raises(MixdiagError, match="multi-label"):
        apply_corruption(ds, rate=0.1, seed=0)
    with pytest.raises(MixdiagError, match="single-label"):
        apply_corruption(data.load_dataset("digits"), pos_to_neg=0.1, seed=0)
