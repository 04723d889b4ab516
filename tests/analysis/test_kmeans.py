import numpy as np
import pytest
from sklearn.datasets import load_digits

from mixdiag.analysis.kmeans import FitSample, assign, check_k, fit_kmeans, sample_order
from mixdiag.errors import MixdiagError


def test_sample_order_is_a_seeded_uniform_subset():
    order = sample_order(1000, 300, seed=5)
    assert len(order) == 300 and len(set(order.tolist())) == 300 and order.min() >= 0 and order.max() < 1000
    np.testing.assert_array_equal(order, sample_order(1000, 300, seed=5))
    assert not np.array_equal(order, sample_order(1000, 300, seed=6))
    assert sorted(sample_order(10, 50, seed=0).tolist()) == list(range(10))


@pytest.mark.parametrize("batch", [1, 7, 64, 1000])
def test_fit_sample_keeps_exactly_the_chosen_rows(batch):
    x = load_digits().data.astype(np.float32)
    indices = sample_order(len(x), 200, seed=1)
    sample = FitSample(indices, x.shape[1])
    for i in range(0, len(x), batch):
        sample.add(i, x[i : i + batch])
    np.testing.assert_array_equal(sample.rows, x[np.sort(indices)])


def blobs(n_per, centers, seed):
    rng = np.random.default_rng(seed)
    return np.concatenate([c + rng.standard_normal((n_per, len(c))) for c in centers]).astype(np.float32)


def test_fit_uses_the_whole_sample_and_is_reproducible():
    centers = np.array([[-20.0] * 8, [0.0] * 8, [20.0] * 8])
    x = blobs(4000, centers, seed=0)
    c = fit_kmeans(x, 3, seed=3, niter=10, nredo=2)
    c = c[np.argsort(c[:, 0])]
    # With FAISS's default subsampling (256 rows per centroid) each centroid would be off by
    # about 1/sqrt(256) = 0.06 per coordinate; the mean of all 4000 rows is what Lloyd gives.
    exact = x.reshape(3, 4000, 8).mean(axis=1)
    np.testing.assert_allclose(c, exact, atol=1e-4)
    np.testing.assert_array_equal(fit_kmeans(x, 3, seed=7, nredo=2), fit_kmeans(x, 3, seed=7, nredo=2))


def test_assign_is_the_nearest_centroid():
    x = load_digits().data.astype(np.float64)
    x -= x.mean(axis=0)
    centroids = x[np.random.default_rng(0).choice(len(x), 10, replace=False)] + 0.5
    d2 = ((x[:, None, :] - centroids[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(assign(x, centroids), d2.argmin(axis=1))
    assert assign(x[:3], centroids).dtype == np.int64


def test_k_is_validated():
    with pytest.raises(MixdiagError, match="at least 2 clusters"):
        check_k(1, 100)
    with pytest.raises(MixdiagError, match="k <= 5"):
        check_k(6, 5)
    check_k(5, 5)
    with pytest.raises(MixdiagError, match="'layer1.2'.*k <= 4"):
        fit_kmeans(np.zeros((4, 3), np.float32), 5, name="layer1.2")


def test_non_finite_sample_raises_naming_the_block():
    x = blobs(50, np.zeros((2, 3)), seed=0)
    x[3, 1] = np.nan
    with pytest.raises(MixdiagError, match="'layer1.1'.*NaN"):
        fit_kmeans(x, 2, name="layer1.1")
