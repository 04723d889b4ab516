"""The counting of streamed rows (clusters.Counter): float32 products, float64 labels and sums."""

import numpy as np
import pytest
import torch

from mixdiag.analysis import clusters as clusters_module
from mixdiag.analysis.clusters import BlockClusters, Counter
from mixdiag.analysis.stats import ClusterStats
from mixdiag.errors import MixdiagError


def near_ties(n=600, dim=6000, offset=0.0, seed=0):
    """Rows on both sides of the bisector of two centroids, closer to it than float32's
    rounding of the scores, plus a common ``offset``: ``(float32 rows, BlockClusters)``. Under
    a large offset the rows' own float32 rounding moves them off the bisector."""
    rng = np.random.default_rng(seed)
    centroids = rng.standard_normal((4, dim)) * 0.5
    centroids[2:] *= 20  # far away: the ties are between 0 and 1
    direction = (centroids[1] - centroids[0]) / np.linalg.norm(centroids[1] - centroids[0])
    noise = rng.standard_normal((n, dim))
    noise -= np.outer(noise @ direction, direction)  # orthogonal to the bisector's normal
    middle = (centroids[0] + centroids[1]) / 2
    shifted = middle + noise + np.outer(rng.uniform(-2e-6, 2e-6, n), direction)
    shift = np.full(dim, offset) + rng.standard_normal(dim)
    rows = (shifted + shift).astype(np.float32)
    return rows, BlockClusters("h", shift, centroids[None])


def float64_labels(rows, clusters):
    shifted = rows.astype(np.float64) - clusters.shift
    d2 = ((shifted[:, None, :] - clusters.centroids[0][None]) ** 2).sum(axis=2)
    return d2.argmin(axis=1)


def counted(rows, clusters, sizes, lanes, monkeypatch):
    monkeypatch.setattr(clusters_module, "LANES", lanes)
    labels = {}
    counter = Counter({"h": clusters}, labels_out=labels)
    start = 0
    for size in sizes:
        counter.add("h", torch.from_numpy(rows[start : start + size]))
        start += size
    assert start == len(rows)
    return np.concatenate(labels["h"]), counter.result()["h"][0]


@pytest.mark.parametrize("offset", [0.0, 1e4])
def test_labels_are_float64_labels_where_float32_would_err(monkeypatch, offset):
    rows, clusters = near_ties(offset=offset)
    reference = float64_labels(rows, clusters)
    assert set(reference) == {0, 1}
    if offset == 0:
        # The counter's own float32 scores get many of these rows wrong: the case the second
        # look in float64 is for.
        plan = clusters_module._Plan(clusters, torch.device("cpu"))
        shifted = torch.from_numpy(rows).double() - plan.shift
        scores = torch.addmm(plan.single_norms, plan.single, shifted.float().T, alpha=-2)
        wrong = (scores.argmin(dim=0).numpy() != reference).sum()
        assert wrong > 10, wrong
    for sizes, lanes in [([600], 1), ([600], 2), ([1, 250, 349], 2), ([7] * 85 + [5], 1)]:
        labels, stats = counted(rows, clusters, sizes, lanes, monkeypatch)
        np.testing.assert_array_equal(labels, reference)
        expected = ClusterStats(4, clusters.shift)
        expected.update(rows, reference)
        np.testing.assert_array_equal(stats.counts, expected.counts)
        np.testing.assert_allclose(stats.sums, expected.sums, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(stats.sqnorms, expected.sqnorms, rtol=1e-12)


def test_second_look_is_rare_where_clusters_are_apart(monkeypatch):
    rng = np.random.default_rng(1)
    centers = rng.standard_normal((5, 3000)) * 3
    truth = rng.integers(5, size=2000)
    rows = (centers[truth] + rng.standard_normal((2000, 3000))).astype(np.float32)
    shift = rows.mean(axis=0, dtype=np.float64)
    looked = []
    real = clusters_module.nearest
    monkeypatch.setattr(clusters_module, "nearest", lambda x, *a: looked.append(len(x)) or real(x, *a))
    labels, _ = counted(rows, BlockClusters("h", shift, (centers - shift)[None]), [2000], 1, monkeypatch)
    np.testing.assert_array_equal(labels, truth)
    assert sum(looked) == 0


def test_non_finite_rows_are_named(monkeypatch):
    rows, clusters = near_ties(n=20, dim=50)
    rows[3, 7] = np.nan
    with pytest.raises(MixdiagError, match="'h'"):
        counted(rows, clusters, [20], 2, monkeypatch)


def test_rows_of_the_wrong_width_are_refused():
    _, clusters = near_ties(n=4, dim=30)
    with pytest.raises(ValueError, match=r"expected features \(B, 30\) of 'h'"):
        Counter({"h": clusters}).add("h", torch.zeros(3, 31))


def test_chunk_buffers_hold_no_more_than_the_plan_counts(monkeypatch):
    # eta2._plan_bytes counts 12 bytes per feature and batch row for each counting thread.
    from mixdiag.analysis import eta2 as engine

    rows, clusters = near_ties(n=600, dim=128)
    monkeypatch.setattr(clusters_module, "LANES", 2)
    for batch in (7, 600):
        counter = Counter({"h": clusters})
        for start in range(0, 600, batch):
            counter.add("h", torch.from_numpy(rows[start : start + batch]))
        held = sum(lane._double.numel() * 8 + lane._single.numel() * 4 for lane in counter._lanes)
        assert 0 < held <= engine._SHIFTED_BYTES * batch * 128, (batch, held)
        counter.result()


def test_lanes_and_chunks_get_even_shares(monkeypatch):
    # The lanes wait for the slowest: a 256-row call of a 6000-feature state (87 rows to a
    # chunk) goes to two lanes as 128 + 128 rows, each counted in two chunks of 64, not as
    # 174 + 82 rows of whole and short chunks. Calls too small for two lanes stay whole.
    rows, clusters = near_ties(n=256 + 50 + 7, dim=6000)
    monkeypatch.setattr(clusters_module, "LANES", 2)
    shares, chunks = [], []
    real_add, real_nearest = clusters_module._Lane.add, clusters_module._Plan.nearest
    monkeypatch.setattr(clusters_module._Lane, "add", lambda lane, name, part: shares.append(len(part)) or real_add(lane, name, part))
    monkeypatch.setattr(clusters_module._Plan, "nearest", lambda plan, single, *a: chunks.append(len(single)) or real_nearest(plan, single, *a))
    labels = {}
    counter = Counter({"h": clusters}, labels_out=labels)
    assert counter._lanes[0].steps["h"] == 87
    for start, size in [(0, 256), (256, 50), (306, 7)]:
        counter.add("h", torch.from_numpy(rows[start : start + size]))
    stats = counter.result()["h"][0]
    assert sorted(shares[:2]) == [128, 128] and shares[2:] == [50, 7]
    assert chunks == [64] * 4 + [50, 7]
    np.testing.assert_array_equal(np.concatenate(labels["h"]), float64_labels(rows, clusters))
    assert stats.n == len(rows)


@pytest.mark.parametrize("parts, least, n", [(2, 20, 256), (2, 20, 39), (2, 20, 40), (4, 1, 10), (3, 1, 0), (2, 5, 3)])
def test_even_parts_cover_the_rows_in_order(parts, least, n):
    rows = torch.arange(n)
    cut = clusters_module._even_parts(rows, parts, least)
    sizes = [len(c) for c in cut]
    assert torch.equal(torch.cat(cut), rows)
    assert 1 <= len(cut) <= parts and max(sizes) - min(sizes) <= 1
    assert len(cut) == 1 or min(sizes) >= least
