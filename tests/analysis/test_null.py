"""η² against the structureless null, and what the table says about the fit itself."""

import numpy as np
import pytest
import torch
from sklearn.metrics import calinski_harabasz_score

from mixdiag.analysis import compute_eta2
from mixdiag.analysis.kmeans import assign, fit_partition
from mixdiag.analysis.null import null_eta2
from mixdiag.errors import MixdiagError

QUICK = {"niter": 10, "nredo": 4}


def identity_net(make_net, blocks):
    return make_net(blocks["Fn"](lambda x: x.clone()))


def eta2_from_ch(features: np.ndarray, labels: np.ndarray) -> float:
    """η² from scikit-learn's Calinski-Harabasz score: CH = (B/(k−1)) / (W/(N−k)) and
    η² = B/(B+W), so η² = CH(k−1) / (CH(k−1) + N − k)."""
    ch = calinski_harabasz_score(features, labels)
    k, n = len(np.unique(labels)), len(features)
    return ch * (k - 1) / (ch * (k - 1) + n - k)


def test_a_null_draw_is_a_fit_on_independently_permuted_columns_counted_exactly():
    rng = np.random.default_rng(0)
    sample = (rng.standard_normal((400, 30)) + rng.integers(3, size=(400, 1)) * 2).astype(np.float32)
    shift = sample.mean(axis=0, dtype=np.float64)
    seed = np.random.SeedSequence(7)
    got = null_eta2(sample, 5, draws=3, seed=seed, shift=shift, **QUICK)
    # By hand: the same permutations and fit seeds, counted by scikit-learn.
    for value, child in zip(got, np.random.SeedSequence(7).spawn(3)):
        r = np.random.default_rng(child)
        permuted = r.permuted(sample, axis=0)
        for j in range(sample.shape[1]):  # every column keeps its values: marginals kept
            np.testing.assert_array_equal(np.sort(permuted[:, j]), np.sort(sample[:, j]))
        fit = fit_partition(permuted, 5, shift=shift, seed=int(r.integers(2**31)), **QUICK)
        labels = assign(permuted, fit.centroids, shift=shift)
        assert value == pytest.approx(eta2_from_ch(permuted.astype(np.float64), labels), rel=1e-9)
    assert len(set(got.tolist())) == 3  # three different draws


def test_planted_clusters_stand_far_above_the_null(make_net, blocks):
    rng = np.random.default_rng(1)
    centers = rng.standard_normal((10, 64)) * 2
    x = torch.from_numpy((centers[rng.integers(10, size=3000)] + rng.standard_normal((3000, 64))).astype(np.float32)).view(-1, 1, 8, 8)
    table = compute_eta2(identity_net(make_net, blocks), x, names=["layers.0"], null=5, **QUICK)
    row = table.iloc[0]
    assert row.eta2 > 0.6 and row.eta2 > row.eta2_null + 20 * row.eta2_null_sd


def test_structureless_gaussian_data_agree_with_the_null_within_its_spread(make_net, blocks):
    # Every row is a fit row (N = 1500 < 2000), so η² and the null are both in-sample and
    # measure the same thing: an arbitrary 10-way cut of a Gaussian cloud.
    rng = np.random.default_rng(2)
    x = torch.from_numpy(rng.standard_normal((1500, 1, 8, 8)).astype(np.float32))
    table = compute_eta2(identity_net(make_net, blocks), x, names=["layers.0"], null=8, **QUICK)
    row = table.iloc[0]
    assert 0.05 < row.eta2_null < 0.5
    assert abs(row.eta2 - row.eta2_null) < 4 * row.eta2_null_sd + 0.005, (row.eta2, row.eta2_null, row.eta2_null_sd)


def test_null_does_not_depend_on_grouping_and_is_absent_by_default(net, digits):
    x, _, transform = digits
    x = x[:700]
    options = dict(k=8, sample_size=500, batch_size=64, null=2, **QUICK)
    one = compute_eta2(net, x, transform, **options)
    grouped = compute_eta2(net, x, transform, max_memory=2_300_000, **options)  # four groups
    np.testing.assert_array_equal(one["eta2_null"], grouped["eta2_null"])
    assert one["eta2_null"].notna().all() and one["eta2_null_sd"].notna().all()
    plain = compute_eta2(net, x, transform, k=8, sample_size=500, **QUICK)
    assert plain["eta2_null"].isna().all() and plain["eta2_null_sd"].isna().all()
    # The null leaves the measurement itself unchanged.
    np.testing.assert_array_equal(plain["eta2"], one["eta2"])
    with pytest.raises(MixdiagError, match="null must be 0"):
        compute_eta2(net, x, transform, null=-1, **QUICK)


def test_eta2_std_is_a_number_only_with_several_restarts(net, digits):
    x, _, transform = digits
    one = compute_eta2(net, x[:600], transform, k=5, restarts=1, **QUICK)
    two = compute_eta2(net, x[:600], transform, k=5, restarts=3, **QUICK)
    assert one["eta2_std"].isna().all()
    assert two["eta2_std"].notna().all() and (two["eta2_std"] >= 0).all()


def test_fit_quality_reports_the_compared_partitions(net, digits):
    x, _, transform = digits
    table = compute_eta2(net, x[:800], transform, k=6, restarts=2, niter=10, nredo=8)
    assert (table["fit_candidates"] >= 1).all() and (table["fit_candidates"] <= 5).all()
    assert (table["fit_ssi_spread"] >= 0).all()
    # The SSIs a fit reports are those of its candidate partitions on the fit sample, by hand.
    rng = np.random.default_rng(3)
    sample = (rng.standard_normal((600, 100)) + rng.integers(4, size=(600, 1))).astype(np.float32)
    shift = sample.mean(axis=0, dtype=np.float64)
    fit = fit_partition(sample, 6, shift=shift, seed=0, nredo=10)
    labels = assign(sample, fit.centroids, shift=shift)
    within = sum(((sample[labels == c] - sample[labels == c].mean(axis=0)) ** 2).sum(dtype=np.float64) for c in np.unique(labels))
    # The chosen partition's SSI; assigning to its means is one Lloyd step, which can only lower it.
    assert within <= fit.candidate_ssi[0] * (1 + 1e-6)
    assert np.all(np.diff(fit.candidate_ssi) >= 0) and fit.ssi_spread == pytest.approx(
        (fit.candidate_ssi[-1] - fit.candidate_ssi[0]) / fit.candidate_ssi[0]
    )
