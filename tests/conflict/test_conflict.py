"""Correlation conflict: phi, pair selection, label η² and decoupling AUC against independent computations."""

import numpy as np
import pytest
import torch
from sklearn.metrics import calinski_harabasz_score

import mixdiag
from mixdiag.analysis.conflict import COLUMNS, LabelPair, compute_conflict, phi_matrix, select_pairs
from mixdiag.data import load_dataset
from mixdiag.errors import MixdiagError

from .conftest import DATA, TINY


def features_by_hand(model, x):
    """Every hidden state of ``x`` without hooks or FeatureCapture: stem, block by block, head."""
    out = {}
    with torch.no_grad():
        h = model.stem(x)
        for stage in model.stage_names:
            for j, block in enumerate(getattr(model, stage)):
                h = block(h)
                out[f"{stage}.{j}"] = h.flatten(1).double().numpy()
        out["output"] = model.head(h).double().numpy()
    return out


def auc_by_pairs(pos, neg):
    """Fraction of (positive, negative) pairs ranked correctly, ties counting half."""
    diff = pos[:, None] - neg[None, :]
    return ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size


def test_phi_is_the_pearson_correlation_of_the_label_columns():
    rng = np.random.default_rng(0)
    y = (rng.random((300, 5)) < [0.1, 0.3, 0.5, 0.7, 0.0]).astype(np.int64)
    y[:, 1] = np.where(rng.random(300) < 0.6, y[:, 0], y[:, 1])
    phi = phi_matrix(y)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.corrcoef(y.T.astype(np.float64))
    np.testing.assert_allclose(phi[:4, :4], expected[:4, :4], rtol=1e-12)
    assert np.isnan(phi[4]).all() and np.isnan(phi[:, 4]).all()
    n = {(a, b): ((y[:, 0] == a) & (y[:, 1] == b)).sum() for a in (0, 1) for b in (0, 1)}
    by_counts = (n[1, 1] * n[0, 0] - n[1, 0] * n[0, 1]) / np.sqrt(
        (n[1, 0] + n[1, 1]) * (n[0, 0] + n[0, 1]) * (n[0, 1] + n[1, 1]) * (n[0, 0] + n[1, 0])
    )
    assert phi[0, 1] == pytest.approx(by_counts, rel=1e-12)


def test_select_pairs_by_phi_skipping_small_groups_and_constant_labels():
    # Labels 0,1: identical (phi 1, no "a only"); 2,3: phi high with 3 samples per group; 4,5: independent; 6 constant.
    rng = np.random.default_rng(1)
    n = 400
    y = np.zeros((n, 7), dtype=np.int64)
    y[:, 0] = y[:, 1] = rng.random(n) < 0.4
    y[:, 2] = rng.random(n) < 0.4
    y[:, 3] = y[:, 2]
    y[:3, 2:4], y[3:6, 2:4] = [1, 0], [0, 1]
    y[:, 4], y[:, 5] = rng.random(n) < 0.5, rng.random(n) < 0.5
    phi = np.corrcoef(y[:, :6].T.astype(np.float64))
    pairs = select_pairs(y, y, m=3, min_group=2)
    assert (pairs[0].a, pairs[0].b) == (2, 3)  # (0, 1) has the higher phi but empty groups
    assert pairs[0].phi == pytest.approx(phi[2, 3], rel=1e-12)
    only_a = ((y[:, 2] == 1) & (y[:, 3] == 0)).sum()
    only_b = ((y[:, 2] == 0) & (y[:, 3] == 1)).sum()
    assert (pairs[0].n_a_only, pairs[0].n_b_only) == (only_a, only_b) and only_a >= 2 and only_b >= 2
    assert [p.phi for p in pairs] == sorted((p.phi for p in pairs), reverse=True)
    assert all(6 not in (p.a, p.b) for p in pairs) and len(pairs) == 3
    assert select_pairs(y, y, m=3, min_group=4)[0].a != 2  # 3 or fewer in a group: skipped
    with pytest.raises(MixdiagError, match="pairs must be at least 1"):
        select_pairs(y, y, m=0)


def test_clean_labels_pick_pairs_and_groups(erm_run):
    """The run trained on corrupted labels; the analysis must read the labels before corruption."""
    assert erm_run.dataset.corrupted is not None and erm_run.dataset.corrupted.any()
    clean = load_dataset("synthetic-multilabel", seed=TINY["seed"], **DATA).y_train.numpy().astype(np.int64)
    corrupted = erm_run.dataset.y_train.numpy().astype(np.int64)
    assert (clean != corrupted).any()
    # The tiny data set's designed pairs have fewer than the default 10 samples per group.
    df = mixdiag.conflict(erm_run, pairs=3, min_group=2)
    got = df.drop_duplicates("pair")
    expected = select_pairs(clean, clean, 3, min_group=2)
    assert sorted((p.a, p.b) for p in expected) == [(0, 1), (2, 3), (4, 5)]  # the dataset's designed pairs
    names = erm_run.dataset.class_names
    assert list(got["label_a"]) == [names[p.a] for p in expected] and list(got["label_b"]) == [names[p.b] for p in expected]
    np.testing.assert_allclose(got["phi"], [np.corrcoef(clean[:, p.a], clean[:, p.b])[0, 1] for p in expected], rtol=1e-12)
    assert list(got["n_a_only"]) == [p.n_a_only for p in expected] and list(got["n_b_only"]) == [p.n_b_only for p in expected]
    noisy = [(p.n_a_only, p.n_b_only) for p in select_pairs(corrupted, corrupted, 3, min_group=2)]
    assert noisy != list(zip(got["n_a_only"], got["n_b_only"]))


@pytest.mark.parametrize("split", ["train", "test"])
def test_label_eta2_and_decoupling_auc_match_independent_computations(erm_run, split):
    df = mixdiag.conflict(erm_run, pairs=3, split=split, batch_size=7)  # many batches: the streaming path
    assert list(df.columns) == COLUMNS
    model, ds = erm_run.model, erm_run.dataset
    x, y = ds.split(split)
    y = load_dataset("synthetic-multilabel", seed=TINY["seed"], **DATA).split(split)[1].numpy()  # clean labels
    feats = features_by_hand(model, ds.normalize(x))
    assert list(df["module"].unique()) == list(model.block_names) + ["output"]
    for (a_name, b_name), rows in df.groupby(["label_a", "label_b"], sort=False):
        a, b = ds.class_names.index(a_name), ds.class_names.index(b_name)
        only_a, only_b = (y[:, a] == 1) & (y[:, b] == 0), (y[:, a] == 0) & (y[:, b] == 1)
        keep = only_a | only_b
        groups = only_b[keep].astype(int)
        n, k = int(keep.sum()), 2
        for row in rows.itertuples():
            f = feats[row.module][keep]
            ch = calinski_harabasz_score(f, groups)
            assert row.eta2 == pytest.approx(ch * (k - 1) / (ch * (k - 1) + n - k), rel=1e-5, abs=1e-9)
            assert row.dim == f.shape[1]
        prob = 1 / (1 + np.exp(-feats["output"]))
        score = prob[:, a] - prob[:, b]
        assert rows["decoupling_auc"].nunique() == 1
        assert rows["decoupling_auc"].iloc[0] == pytest.approx(auc_by_pairs(score[only_a], score[only_b]), abs=1e-12)


def test_one_pass_over_the_pair_members_only(erm_run):
    """The model sees each sample in some pair's groups once, and no other sample."""
    x, _ = erm_run.dataset.split("train")
    y = load_dataset("synthetic-multilabel", seed=TINY["seed"], **DATA).y_train.numpy()
    pairs = select_pairs(y, y, 3)
    seen = []
    handle = erm_run.model.register_forward_pre_hook(lambda m, args: seen.append(len(args[0])))
    try:
        compute_conflict(erm_run.model, x, y, pairs, erm_run.dataset.normalize, batch_size=16)
    finally:
        handle.remove()
    members = np.zeros(len(y), bool)
    for p in pairs:
        members |= (y[:, p.a] != y[:, p.b])
    assert sum(seen) == members.sum() < len(y)
    assert max(seen) == 16


def test_explicit_pairs_by_name_or_index(erm_run):
    names = erm_run.dataset.class_names
    df = mixdiag.conflict(erm_run, pairs=[(names[3], names[0]), ("4", 5)], min_group=2)
    got = list(df.drop_duplicates("pair")[["label_a", "label_b"]].itertuples(index=False, name=None))
    assert got == [(names[3], names[0]), (names[4], names[5])]
    with pytest.raises(MixdiagError, match="unknown label 'nope'"):
        mixdiag.conflict(erm_run, pairs=[("nope", names[0])])
    with pytest.raises(MixdiagError, match="fewer than min_group=100000"):
        mixdiag.conflict(erm_run, pairs=[(0, 1)], min_group=100000)
    with pytest.raises(MixdiagError, match="no label pair .* has at least 100000"):
        mixdiag.conflict(erm_run, pairs=2, min_group=100000)


def test_single_label_checkpoint_is_refused_in_one_line(tiny_runs):
    with pytest.raises(MixdiagError, match="conflict analysis needs multi-label data") as err:
        mixdiag.conflict(tiny_runs["erm"] / "checkpoints" / "last.pt", device="cpu")
    assert "\n" not in str(err.value)


def test_compute_conflict_refuses_an_empty_group():
    y = np.array([[1, 1], [0, 1], [0, 1]])
    model = mixdiag.create_model("preact-resnet20", in_channels=1, num_classes=2, input_size=(8, 8))
    with pytest.raises(MixdiagError, match="empty 'a only'"):
        compute_conflict(model, torch.zeros(3, 1, 8, 8), y, [LabelPair(0, 1, 0.0, 0, 2)])
