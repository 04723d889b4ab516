import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits as sklearn_digits

import mixdiag.data as data
from mixdiag.data.digits import SPLIT_SEED, stratified_split
from mixdiag.errors import DataError


def test_package_registers_generic_datasets_and_exports_api():
    assert {"digits", "mnist", "fashion-mnist", "cifar10", "synthetic-multilabel"} <= set(data.list_datasets())
    for name in ("Dataset", "register_dataset", "list_datasets", "load_dataset", "apply_corruption", "corrupt_labels",
                 "corrupt_multilabel", "augment_batch"):
        assert callable(getattr(data, name))


def test_digits_split_is_fixed_stratified_and_covers_every_image():
    ds = data.load_dataset("digits")
    assert ds.x_train.dtype == torch.uint8 and ds.x_train.shape[1:] == (1, 8, 8)
    assert ds.num_classes == 10 and ds.augment == "crop" and ds.scale == pytest.approx(1 / 16)
    bunch = sklearn_digits()
    assert len(ds.y_train) + len(ds.y_test) == len(bunch.target) == 1797
    # every image appears exactly once across the two splits, with its own label
    ref = {(bytes(img.astype(np.uint8).ravel()), int(t)) for img, t in zip(bunch.images, bunch.target)}
    got = [(bytes(x.numpy().ravel()), int(y)) for x, y in zip(torch.cat([ds.x_train, ds.x_test]), torch.cat([ds.y_train, ds.y_test]))]
    assert len(ref) == len(set(got)) and ref == set(got)
    test_share = np.bincount(ds.y_test.numpy(), minlength=10) / np.bincount(bunch.target, minlength=10)
    np.testing.assert_allclose(test_share, 0.2, atol=0.01)
    # the split does not depend on the run seed
    other = data.load_dataset("digits", seed=123)
    assert torch.equal(other.x_test, ds.x_test) and torch.equal(other.y_test, ds.y_test)


def test_digits_statistics_are_those_of_the_scaled_training_split():
    ds = data.load_dataset("digits")
    pixels = ds.x_train.double() / 16
    assert ds.mean == pytest.approx((pixels.mean().item(),)) and ds.std == pytest.approx((pixels.std(unbiased=False).item(),))
    normed = ds.normalize(ds.x_train)
    assert normed.mean().item() == pytest.approx(0, abs=1e-5) and normed.std(unbiased=False).item() == pytest.approx(1, abs=1e-4)


def test_digits_rejects_a_data_dir(tmp_path):
    with pytest.raises(DataError, match="embedded.*drop --data-dir"):
        data.load_dataset("digits", tmp_path)


def test_stratified_split_rounds_per_class():
    labels = np.repeat([0, 1, 2], [10, 20, 5])
    train, test = stratified_split(labels, 0.2, np.random.default_rng(SPLIT_SEED))
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(len(labels)))
    assert np.bincount(labels[test]).tolist() == [2, 4, 1]
