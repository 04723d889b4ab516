import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.metrics import calinski_harabasz_score

from mixdiag.analysis.stats import ClusterStats, partition_eta2, squared_norms
from mixdiag.errors import MixdiagError


def two_pass_eta2(x, labels):
    """Textbook two-pass float64 η²: SST around the grand mean, SSI around each group mean."""
    x = np.asarray(x, dtype=np.float64)
    sst = ((x - x.mean(axis=0)) ** 2).sum()
    ssi = sum(((x[labels == c] - x[labels == c].mean(axis=0)) ** 2).sum() for c in np.unique(labels))
    return 1.0 - ssi / sst


def eta2_from_ch(x, labels):
    n, k = len(x), len(np.unique(labels))
    ch = calinski_harabasz_score(x, labels)
    return ch * (k - 1) / (ch * (k - 1) + n - k)


@pytest.fixture(scope="module")
def real():
    d = load_digits()
    random = np.random.default_rng(0).integers(0, 7, size=len(d.target))
    return d.data.astype(np.float64), {"classes": d.target, "random": random}


@pytest.mark.parametrize("offset", [0.0, 1e4])
@pytest.mark.parametrize("partition", ["classes", "random"])
def test_fixed_partition_matches_calinski_harabasz_and_two_pass(real, offset, partition):
    x, partitions = real
    labels = partitions[partition]
    x = x + offset
    expected = two_pass_eta2(x - offset, labels)  # the offset changes nothing, exactly
    assert eta2_from_ch(x, labels) == pytest.approx(expected, rel=1e-9)
    assert partition_eta2(x, labels) == pytest.approx(expected, rel=1e-9)
    # Streaming with a shift that is only near the data (first batch's mean), in batches.
    stats = ClusterStats(labels.max() + 1, shift=x[:50].mean(axis=0), name="layer1.0")
    for i in range(0, len(x), 100):
        stats.update(x[i : i + 100], labels[i : i + 100])
    assert stats.eta2() == pytest.approx(expected, rel=1e-9)
    assert stats.n == len(x) and stats.dim == x.shape[1]


def test_streaming_is_independent_of_batch_size_and_merges(real):
    x, partitions = real
    labels = partitions["classes"]
    shift = x[:10].mean(axis=0)

    def streamed(batch):
        s = ClusterStats(10, shift)
        for i in range(0, len(x), batch):
            s.update(x[i : i + batch], labels[i : i + batch])
        return s

    results = [streamed(b) for b in (7, 64, 1000)]
    for s in results[1:]:
        assert s.ssi() == pytest.approx(results[0].ssi(), rel=1e-12)
        assert s.sst() == pytest.approx(results[0].sst(), rel=1e-12)
        assert s.eta2() == pytest.approx(results[0].eta2(), rel=1e-12)
    a, b = ClusterStats(10, shift), ClusterStats(10, shift)
    a.update(x[:700], labels[:700])
    b.update(x[700:], labels[700:])
    merged = a.merge(b)
    np.testing.assert_array_equal(merged.counts, results[0].counts)
    assert merged.eta2() == pytest.approx(results[0].eta2(), rel=1e-12)
    with pytest.raises(ValueError, match="same shift"):
        a.merge(ClusterStats(10, shift + 1))


@pytest.mark.parametrize("value,dtype", [(0.0, np.float32), (3.7, np.float32), (0.1, np.float64), (1e4 + 0.3, np.float64)])
def test_constant_features_raise_naming_the_block(value, dtype):
    x = np.full((300, 5), value, dtype=dtype)
    labels = np.arange(300) % 3
    with pytest.raises(MixdiagError, match="'layer2.1'.*constant"):
        partition_eta2(x, labels, name="layer2.1")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_features_raise_naming_the_block(bad):
    x = np.random.default_rng(0).standard_normal((50, 4))
    x[17, 2] = bad
    stats = ClusterStats(2, shift=np.zeros(4), name="layer3.0")
    with pytest.raises(MixdiagError, match="'layer3.0'.*NaN or infinite"):
        stats.update(x, np.arange(50) % 2)


def test_ssi_of_identical_rows_is_clamped_at_zero():
    # Each cluster holds copies of one row: SSI is 0, but Q − ||S||²/n rounds either way.
    rows = np.array([[0.1, 0.7, 1e-3], [0.3, 0.2, 0.9], [2.2, 0.1, 0.7]])
    labels = np.repeat(np.arange(3), [7, 11, 13])
    stats = ClusterStats(3, shift=np.zeros(3))
    stats.update(rows[labels], labels)
    assert 0.0 <= stats.ssi() < 1e-12 * stats.sst()
    assert stats.eta2() == pytest.approx(1.0, abs=1e-12) and stats.eta2() <= 1.0


def test_empty_cluster_is_ignored():
    x = np.array([[0.0], [2.0], [10.0], [12.0]])
    stats = ClusterStats(3, shift=np.zeros(1))
    stats.update(x, np.array([0, 0, 2, 2]))
    assert stats.eta2() == pytest.approx(two_pass_eta2(x, np.array([0, 0, 2, 2])), rel=1e-12)


def test_squared_norms_match_a_float64_dot_and_flag_non_finite_rows():
    rng = np.random.default_rng(3)
    rows = rng.standard_normal((50, 12544)) * rng.uniform(1e-3, 1e3, (50, 1)) + 1e4
    expected = np.einsum("ij,ij->i", rows, rows)
    np.testing.assert_allclose(squared_norms(torch.from_numpy(rows)).numpy(), expected, rtol=1e-13)
    rows[3, 5], rows[7, 0] = np.nan, np.inf
    got = squared_norms(torch.from_numpy(rows)).numpy()
    assert not np.isfinite(got[[3, 7]]).any() and np.isfinite(np.delete(got, [3, 7])).all()
