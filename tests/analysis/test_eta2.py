import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans

import mixdiag.analysis.clusters as clusters_module
import mixdiag.analysis.eta2 as engine
from mixdiag.analysis import ClusterStats, compute_eta2, partition_eta2, summarize
from mixdiag.errors import MixdiagError

COLUMNS = ["block", "module", "dim", "n", "k", "eta2", "eta2_std", "ssi", "sst", "fit_candidates", "fit_ssi_spread", "eta2_null", "eta2_null_sd"]
# Tests of exactness and bookkeeping need any k-means, not the best one: keep them quick.
QUICK = {"niter": 10, "nredo": 2}


def two_pass(x, labels):
    """(SSI, SST) by the textbook two-pass float64 formulas."""
    x = np.asarray(x, dtype=np.float64)
    sst = ((x - x.mean(axis=0)) ** 2).sum()
    ssi = sum(((x[labels == c] - x[labels == c].mean(axis=0)) ** 2).sum() for c in np.unique(labels))
    return ssi, sst


def test_table_matches_a_two_pass_computation_on_the_assignments(net, digits):
    x, _, transform = digits
    table, assignments = compute_eta2(net, x, transform, k=10, return_assignments=True, **QUICK)
    assert list(table.columns) == COLUMNS
    assert list(table["module"]) == ["layers.0", "layers.1", "layers.2", "layers.3", "output"]
    assert list(table["block"]) == [0, 1, 2, 3, 4]
    assert list(table["dim"]) == [64, 128, 128, 128, 10]
    assert (table["n"] == len(x)).all() and (table["k"] == 10).all() and table["eta2_std"].isna().all()
    ref = net.reference(transform(x))
    for row in table.itertuples():
        labels = assignments[row.module]
        assert labels.dtype == np.int32 and labels.shape == (len(x),)
        # The captured float32 features, counted in float64; layers.2 carries an offset of 1e4.
        ssi, sst = two_pass(ref[row.module].astype(np.float32), labels)
        assert row.ssi == pytest.approx(ssi, rel=1e-9) and row.sst == pytest.approx(sst, rel=1e-9)
        assert row.eta2 == pytest.approx(1 - ssi / sst, rel=1e-9)
        assert 0.0 < row.eta2 < 1.0


def test_names_subset_keeps_model_indices(net, digits):
    x, _, transform = digits
    table = compute_eta2(net, x[:300], transform, names=["output", "layers.1"], pooled=True, **QUICK)
    assert list(table["module"]) == ["layers.1", "output"] and list(table["block"]) == [1, 4]
    assert list(table["dim"]) == [2, 10]


def test_independent_of_batch_size_and_memory_budget(net, digits):
    x, _, transform = digits
    x = x[:700]
    runs = {}
    # 2 GiB holds every hidden state at once; 2.4 MB (batch 64) makes two groups, 2.05 MB four
    # (the small logits join the last block) and 1.98 MB (batch 7) five (see eta2._plan_bytes).
    cases = [(64, 2 * 1024**3, 1), (7, 2 * 1024**3, 1), (1000, 2 * 1024**3, 1), (64, 2_400_000, 2), (64, 2_050_000, 4), (7, 1_980_000, 5)]
    for batch, budget, groups in cases:
        calls = net.forward_calls
        table, assign = compute_eta2(
            net, x, transform, k=8, sample_size=500, batch_size=batch, max_memory=budget, return_assignments=True, **QUICK
        )
        # Per group the model runs once over the 500 fit rows and once over the other 200,
        # plus the one-sample probe of the feature sizes.
        assert net.forward_calls - calls == 1 + groups * (-(-500 // batch) + -(-200 // batch)), (batch, budget)
        runs[(batch, budget)] = (table, assign)
    base, base_assign = runs[(64, 2 * 1024**3)]
    for table, assign in runs.values():
        np.testing.assert_allclose(table["eta2"], base["eta2"], rtol=1e-12)
        np.testing.assert_allclose(table["ssi"], base["ssi"], rtol=1e-12)
        for name in assign:
            np.testing.assert_array_equal(assign[name], base_assign[name])


def test_ssi_within_one_percent_of_sklearn(make_net, blocks, digits):
    x, _, transform = digits
    g = torch.Generator().manual_seed(0)
    w = torch.randn(64, 256, generator=g) / 8
    model = make_net(blocks["Fn"](lambda h: h), blocks["Fn"](lambda h: torch.relu(h.flatten(1) @ w)))
    table = compute_eta2(model, x, transform, k=10, names=["layers.0", "layers.1"])
    ref = model.reference(transform(x))
    for row in table.itertuples():
        features = ref[row.module].astype(np.float32)
        best = KMeans(n_clusters=10, n_init=10, random_state=0).fit(features)
        sklearn_ssi, _ = two_pass(features, best.labels_)
        assert row.ssi <= 1.01 * sklearn_ssi, (row.module, row.ssi / sklearn_ssi)


def test_restarts_report_the_mean_and_spread_of_each_clustering(net, digits, monkeypatch):
    x, _, transform = digits
    recorded = []
    real_nearest = clusters_module._Plan.nearest
    monkeypatch.setattr(clusters_module._Plan, "nearest", lambda *a, **kw: recorded.append(real_nearest(*a, **kw)) or recorded[-1])
    table = compute_eta2(net, x, transform, k=10, restarts=3, names=["layers.1"], sample_size=len(x), batch_size=len(x), **QUICK)
    assert len(recorded) == 1  # one batch of one hidden state: all restarts assigned at once
    labels = recorded[0].numpy()
    assert labels.shape == (len(x), 3)
    features = net.reference(transform(x))["layers.1"].astype(np.float32)
    per_restart = [1 - np.divide(*two_pass(features, labels[:, r])) for r in range(3)]
    assert len({round(v, 12) for v in per_restart}) > 1  # the seeds differ
    assert table["eta2"][0] == pytest.approx(np.mean(per_restart), rel=1e-9)
    assert table["eta2_std"][0] == pytest.approx(np.std(per_restart), rel=1e-6)
    assert table["eta2_std"][0] >= 0
    # Restart 0 does not depend on how many restarts follow it.
    single = compute_eta2(net, x, transform, k=10, restarts=1, names=["layers.1"], sample_size=len(x), **QUICK)
    assert single["eta2"][0] == pytest.approx(per_restart[0], rel=1e-9) and np.isnan(single["eta2_std"][0])


def test_summarize_averages_restarts():
    x = np.random.default_rng(0).standard_normal((200, 3))
    partitions = [np.random.default_rng(s).integers(0, 4, 200) for s in range(3)]
    stats = []
    for labels in partitions:
        s = ClusterStats(4, shift=x.mean(axis=0))
        s.update(x, labels)
        stats.append(s)
    values = [partition_eta2(x, labels) for labels in partitions]
    row = summarize(stats)
    assert row["eta2"] == pytest.approx(np.mean(values), rel=1e-12)
    assert row["eta2_std"] == pytest.approx(np.std(values, ddof=0), rel=1e-9)
    assert (row["n"], row["k"], row["dim"]) == (200, 4, 3)


def test_k_is_validated(net, digits):
    x, _, transform = digits
    with pytest.raises(MixdiagError, match="at least 2 clusters"):
        compute_eta2(net, x, transform, k=1, **QUICK)
    with pytest.raises(MixdiagError, match="k <= 5"):
        compute_eta2(net, x[:5], transform, k=6, **QUICK)


def test_constant_hidden_state_raises_naming_it(make_net, blocks, digits):
    x, _, transform = digits
    model = make_net(blocks["Affine"]((1, 1, 8, 8), 0), blocks["Fn"](lambda h: h * 0 + 0.3))
    with pytest.raises(MixdiagError, match="'layers.1'.*constant"):
        compute_eta2(model, x, transform, names=["layers.0", "layers.1"], **QUICK)


@pytest.mark.parametrize("sample_size", ["all", 10])
def test_non_finite_hidden_state_raises_naming_it(make_net, blocks, digits, sample_size):
    x, _, transform = digits
    target = transform(x[1234]).flatten()

    def poison(h):  # NaN in sample 1234: in the fit sample ("all") or only met when counting (10)
        h = h.clone()
        h[(h.flatten(1) == target).all(dim=1), 0, 0, 0] = float("nan")
        return h

    model = make_net(blocks["Fn"](lambda h: h), blocks["Fn"](poison))
    with pytest.raises(MixdiagError, match="'layers.1'.*NaN"):
        compute_eta2(model, x, transform, k=2, sample_size=sample_size, names=["layers.1"], **QUICK)


def test_memory_budget_cuts_the_sample_or_refuses(net, digits):
    x, _, transform = digits
    # layers.1 has 128 features: k-means on all 1797 rows with k=2 and batches of 64 plans
    # 6.3 MB, on the least allowed 512 rows (256 per centroid) 1.9 MB (engine._plan_bytes).
    with pytest.raises(MixdiagError, match="sample_size='all'.*max_memory"):
        compute_eta2(net, x, transform, sample_size="all", batch_size=64, max_memory=4_000_000, names=["layers.1"], **QUICK)
    with pytest.warns(UserWarning, match="'layers.1'.*cut from 1797 to 1107 rows"):
        table = compute_eta2(net, x, transform, k=2, sample_size=5000, batch_size=64, max_memory=4_000_000, names=["layers.1"], **QUICK)
    assert engine._plan_bytes([128], 1107, 2, 1, 64) <= 4_000_000 < engine._plan_bytes([128], 1108, 2, 1, 64)
    assert table["n"][0] == len(x)
    with pytest.raises(MixdiagError, match="'layers.1'.*raise max_memory"):
        compute_eta2(net, x, transform, k=2, batch_size=64, max_memory=1_000_000, names=["layers.1"], **QUICK)
    for bad in [{"sample_size": "most"}, {"sample_size": 3}, {"restarts": 0}, {"max_memory": 0}]:
        with pytest.raises(MixdiagError):
            compute_eta2(net, x, transform, **bad, **QUICK)


def test_fits_side_by_side_give_the_same_centroids_and_restore_threads(net, digits):
    x, _, transform = digits
    features = net.reference(transform(x[:600]))
    samples = {name: features[name].astype(np.float32) for name in ["layers.0", "layers.1", "output"]}
    threads = torch.get_num_threads()
    one = engine.fit_blocks(samples, 5, seeds=[3, 4], workers=1, **QUICK)
    two = engine.fit_blocks(samples, 5, seeds=[3, 4], workers=2, **QUICK)
    assert torch.get_num_threads() == threads
    assert list(two) == list(samples)
    for name in samples:
        assert two[name].centroids.shape == (2, 5, samples[name].shape[1])
        np.testing.assert_array_equal(one[name].centroids, two[name].centroids)
        np.testing.assert_array_equal(one[name].shift, two[name].shift)
    # The restarts differ: each seed's fit lands in its own slot.
    assert not np.array_equal(two["layers.1"].centroids[0], two["layers.1"].centroids[1])


def test_fit_workers_follow_threads_and_memory(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    dims, m = [128, 128, 10], 500
    roomy = engine._plan_bytes(dims, m, 8, 1, 64) + max(engine.fit_bytes(m, d, 8) for d in dims)
    assert engine._fit_workers(dims, m, 8, 1, 64, 2 * 1024**3) == 2
    assert engine._fit_workers(dims, m, 8, 1, 64, roomy) == 2
    assert engine._fit_workers(dims, m, 8, 1, 64, roomy - 1) == 1
    assert engine._fit_workers([128], m, 8, 1, 64, 2 * 1024**3) == 1  # one fit to run
