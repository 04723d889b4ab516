"""Hidden states too wide to hold their fit sample: sketched candidates, exact choice and counts."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans

import mixdiag.analysis.eta2 as engine
import mixdiag.analysis.passes as passes
from mixdiag.analysis import compute_eta2
from mixdiag.analysis.sketch import SKETCH_DIM, CountSketch
from weak_clusters import eta2_of, weak_clusters


def test_count_sketch_is_linear_and_keeps_squared_norms_in_expectation():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((3, 2000)).astype(np.float64))
    sketch = CountSketch(2000, 256, seed=1)
    torch.testing.assert_close(sketch(x[:1] + 2 * x[1:2]), sketch(x[:1]) + 2 * sketch(x[1:2]))
    # Balanced: every bucket takes 2000 // 256 or one more feature.
    sizes = np.bincount(sketch.bucket.numpy(), minlength=256)
    assert sizes.min() == 2000 // 256 and sizes.max() == 2000 // 256 + 1
    ratios = [float((CountSketch(2000, 256, seed=s)(x[:1]) ** 2).sum() / (x[0] ** 2).sum()) for s in range(300)]
    assert np.mean(ratios) == pytest.approx(1.0, abs=0.02)
    assert np.std(ratios) == pytest.approx(np.sqrt(2 / 256), rel=0.25)  # the error the module docstring states


@pytest.fixture
def narrow_sketch(monkeypatch):
    """A sketch of 256 buckets for 512 features, so a test-sized hidden state is sketched."""
    monkeypatch.setattr(engine, "SKETCH_DIM", 256)
    monkeypatch.setattr(passes, "SKETCH_DIM", 256)


def identity(make_net, blocks):
    return make_net(blocks["Fn"](lambda x: x.clone()))


@pytest.mark.parametrize("sep", [2.5, 1.9])
def test_sketched_fit_matches_the_held_fit_and_sklearn_on_all_rows(narrow_sketch, make_net, blocks, sep):
    # 10,000 rows of 512 features, five times the fit sample; at sep 1.9 the clusters are
    # weak under a slowly decaying spectrum (η² ≈ 0.07). A 13 MB budget cannot hold the
    # 2,000-row fit sample (14 MiB planned) but holds its sketch.
    x, _ = weak_clusters(sep=sep)
    reference = eta2_of(x, KMeans(n_clusters=10, n_init=10, random_state=0).fit(x).labels_)
    net = identity(make_net, blocks)
    images = torch.from_numpy(x).view(-1, 1, 16, 32)
    held = compute_eta2(net, images, names=["layers.0"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sketched, not cut
        sketched, labels = compute_eta2(net, images, names=["layers.0"], max_memory=13_000_000, return_assignments=True)
    assert engine._plan_bytes([512], 2000, 10, 1, 256) > 13_000_000 >= engine._sketch_bytes([512], 2000, 10, 1, 256)
    assert sketched["eta2"][0] >= 0.98 * reference and sketched["eta2"][0] >= 0.98 * held["eta2"][0]
    # The counts are exact in the full dimension over all N rows, whatever found the partition.
    assert sketched["n"][0] == len(x)
    assert sketched["eta2"][0] == pytest.approx(eta2_of(x, labels["layers.0"]), rel=1e-9)
    assert sketched["fit_candidates"][0] >= 1 and sketched["fit_ssi_spread"][0] >= 0


def test_a_narrower_sketch_shows_its_cost_where_clusters_are_weak(monkeypatch, make_net, blocks):
    # The error of a sketch depends on its width, not on the width of what it sketches:
    # 128 buckets (about 12% distance error) lose part of the weak clusters that 256 keep.
    monkeypatch.setattr(engine, "SKETCH_DIM", 128)
    monkeypatch.setattr(passes, "SKETCH_DIM", 128)
    x, _ = weak_clusters(sep=1.9)
    table = compute_eta2(identity(make_net, blocks), torch.from_numpy(x).view(-1, 1, 16, 32), names=["layers.0"], max_memory=9_000_000)
    assert table["eta2"][0] < 0.95 * eta2_of(x, KMeans(n_clusters=10, n_init=10, random_state=0).fit(x).labels_)


def test_resnet50_sized_hidden_states_are_planned_within_two_gib_without_cutting_the_sample():
    # torchvision ResNet-50 at 224×224: 256×56×56 … 2048×7×7 features per block.
    widths = [256 * 56 * 56] * 3 + [512 * 28 * 28] * 4 + [1024 * 14 * 14] * 6 + [2048 * 7 * 7] * 3 + [1000]
    dims = {f"b{i}": d for i, d in enumerate(widths)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rows, groups, sketched = engine._plan(dims, 2000, 2000, 10, 1, 16, 2 * 1024**3)
    assert set(rows.values()) == {2000}
    # Sketched exactly where the held fit sample does not fit: the first two stages.
    too_wide = {name for name, d in dims.items() if engine._plan_bytes([d], 2000, 10, 1, 16) > 2 * 1024**3}
    assert sketched == too_wide == {f"b{i}" for i in range(7)}
    for group in groups:
        plan = engine._sketch_bytes if group[0] in sketched else engine._plan_bytes
        assert plan([dims[g] for g in group], 2000, 10, 1, 16) <= 2 * 1024**3
    assert SKETCH_DIM < min(widths[:13])


def test_sketched_and_held_hidden_states_in_one_call_keep_network_order(narrow_sketch, make_net, blocks, digits, monkeypatch):
    x, _, transform = digits
    groups = []
    real = engine.sketched_group
    monkeypatch.setattr(engine, "sketched_group", lambda run, group, *a: groups.append(list(group)) or real(run, group, *a))
    net = make_net(blocks["Fn"](lambda t: t.repeat(1, 8, 1, 1)), blocks["Fn"](lambda t: t[:, :1]))  # 512 then 64 features
    table = compute_eta2(net, x, transform, max_memory=11_000_000, k=5)  # layers.0 sketched (13.1 MB held, 9.0 sketched)
    assert list(table["module"]) == ["layers.0", "layers.1", "output"] and list(table["dim"]) == [512, 64, 10]
    assert (table["n"] == len(x)).all() and table["eta2"].between(0, 1).all()
    assert groups == [["layers.0"]]
