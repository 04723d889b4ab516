import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

import mixdiag.data as data
from mixdiag.data.synthetic import sample_labels
from mixdiag.errors import DataError


def phi(a: np.ndarray, b: np.ndarray) -> float:
    """Phi coefficient from the 2x2 contingency table."""
    n11, n10, n01, n00 = (np.sum((a == i) & (b == j)) for i, j in ((1, 1), (1, 0), (0, 1), (0, 0)))
    return float((n11 * n00 - n10 * n01) / np.sqrt(float((n11 + n10) * (n01 + n00) * (n11 + n01) * (n10 + n00))))


@pytest.mark.parametrize("rho", [0.0, 0.3, 0.8])
def test_paired_labels_have_phi_rho_and_others_are_independent(rho):
    y = sample_labels(40000, 5, rho, 0.3, np.random.default_rng(1))
    # phi has standard error ~1/sqrt(N) = 0.005
    for k in (0, 2):
        assert phi(y[:, k], y[:, k + 1]) == pytest.approx(rho, abs=0.025)
    for a, b in ((0, 2), (1, 3), (3, 4), (0, 4)):
        assert abs(phi(y[:, a], y[:, b])) < 0.025
    np.testing.assert_allclose(y.mean(axis=0), 0.3, atol=0.015)


def test_dataset_shapes_types_and_determinism():
    options = dict(n_train=300, n_test=100, num_labels=4, rho=0.7, image_size=12)
    ds = data.load_dataset("synthetic-multilabel", seed=5, **options)
    assert ds.multilabel and ds.num_classes == 4 and len(ds.class_names) == 4
    assert ds.x_train.shape == (300, 1, 12, 12) and ds.x_test.shape == (100, 1, 12, 12) and ds.x_train.dtype == torch.float32
    assert ds.y_train.dtype == torch.float32 and set(ds.y_train.unique().tolist()) <= {0.0, 1.0}
    assert ds.augment == "crop" and ds.info["pairs"] == [[0, 1], [2, 3]]
    assert ds.mean == pytest.approx((ds.x_train.double().mean().item(),))
    assert ds.std == pytest.approx((ds.x_train.double().std(unbiased=False).item(),))
    same = data.load_dataset("synthetic-multilabel", seed=5, **options)
    assert torch.equal(same.x_train, ds.x_train) and torch.equal(same.y_test, ds.y_test)
    other = data.load_dataset("synthetic-multilabel", seed=6, **options)
    assert not torch.equal(other.x_train, ds.x_train)


def test_measured_phi_of_generated_training_labels():
    ds = data.load_dataset("synthetic-multilabel", n_train=20000, n_test=10, rho=0.6, image_size=4)
    y = ds.y_train.numpy()
    for k in (0, 2, 4):
        assert phi(y[:, k], y[:, k + 1]) == pytest.approx(0.6, abs=0.035)


def test_without_noise_an_image_is_the_sum_of_its_unit_gratings():
    ds = data.load_dataset("synthetic-multilabel", n_train=200, n_test=10, noise=0.0)
    x, y = ds.x_train[:, 0], ds.y_train
    assert torch.all(x[y.sum(1) == 0] == 0)
    single = x[y.sum(1) == 1]
    assert single.abs().max() <= 1 + 1e-5 and single.abs().amax(dim=(1, 2)).min() > 0.7


def test_labels_are_learnable_from_the_power_spectrum():
    ds = data.load_dataset("synthetic-multilabel", n_train=1500, n_test=500, seed=2)
    # The phase is random, so the evidence is in the amplitude spectrum, not in pixel positions.
    def features(x):
        return np.abs(np.fft.rfft2(x[:, 0].numpy())).reshape(len(x), -1)
    f_train, f_test = features(ds.x_train), features(ds.x_test)
    for k in range(ds.num_classes):
        clf = LogisticRegression(max_iter=2000).fit(f_train, ds.y_train[:, k].numpy())
        assert roc_auc_score(ds.y_test[:, k].numpy(), clf.predict_proba(f_test)[:, 1]) > 0.95, ds.class_names[k]


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(rho=1.0), "rho must be in"),
        (dict(rho=-0.1), "rho must be in"),
        (dict(prevalence=0.0), "prevalence must be in"),
        (dict(noise=-1), "noise must be non-negative"),
        (dict(num_labels=0), "num_labels must be an integer"),
        (dict(n_train=2.5), "n_train must be an integer"),
        (dict(image_size=2), "image_size must be an integer of at least 4"),
        (dict(rho="high"), "rho must be a number"),
    ],
)
def test_bad_options_raise(options, message):
    with pytest.raises(DataError, match=message):
        data.load_dataset("synthetic-multilabel", **options)


def test_rejects_a_data_dir(tmp_path):
    with pytest.raises(DataError, match="generated.*drop --data-dir"):
        data.load_dataset("synthetic-multilabel", tmp_path)
