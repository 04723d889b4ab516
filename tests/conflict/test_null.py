"""The permutation null of the label η², against a brute-force permutation computed here."""

import itertools

import numpy as np
import pytest
from sklearn.metrics import calinski_harabasz_score

import mixdiag
from mixdiag.analysis import conflict as conflict_module
from mixdiag.analysis.conflict import LabelPair, compute_conflict
from mixdiag.data import load_dataset

from .conftest import DATA, TINY
from .test_conflict import features_by_hand


def label_eta2(features, groups):
    """η² of a two-group partition through the Calinski-Harabasz score: CH / (CH + n − 2)."""
    ch = calinski_harabasz_score(features, groups)
    return ch / (ch + len(groups) - 2)


def clean_split(erm_run, split):
    x, _ = erm_run.dataset.split(split)
    y = load_dataset("synthetic-multilabel", seed=TINY["seed"], **DATA).split(split)[1].numpy()
    return x, y, features_by_hand(erm_run.model, erm_run.dataset.normalize(x))


def test_null_mean_sd_excess_and_p_value_match_a_brute_force_permutation(erm_run):
    R, seed = 60, 5
    df = mixdiag.conflict(erm_run, pairs=[(0, 1), (2, 3)], split="test", min_group=2, null=R, seed=seed, batch_size=7)
    _, y, feats = clean_split(erm_run, "test")
    names = erm_run.dataset.class_names
    for index, ((a_name, b_name), rows) in enumerate(df.groupby(["label_a", "label_b"], sort=False)):
        a, b = names.index(a_name), names.index(b_name)
        only_a, only_b = (y[:, a] == 1) & (y[:, b] == 0), (y[:, a] == 0) & (y[:, b] == 1)
        keep = only_a | only_b
        groups = only_b[keep].astype(int)  # the pair's samples in row order
        rng = np.random.default_rng([seed, index])  # the documented recipe of the shuffles
        shuffles = [rng.permutation(groups) for _ in range(R)]
        for row in rows.itertuples():
            f = feats[row.module][keep]
            observed = label_eta2(f, groups)
            null = np.array([label_eta2(f, g) for g in shuffles])
            assert row.eta2_null == pytest.approx(null.mean(), rel=1e-6)
            assert row.eta2_null_sd == pytest.approx(null.std(ddof=1), rel=1e-5)
            assert row.eta2_excess == pytest.approx(observed - null.mean(), abs=1e-7)
            assert row.p_null == pytest.approx((1 + (null >= observed - 1e-9).sum()) / (R + 1), abs=1e-12)


def test_the_null_sits_at_one_over_n_minus_one_as_full_enumeration_says(erm_run):
    """Small groups: the null's mean is 1/(n−1), far from 0; many shuffles reach the exact enumeration."""
    x, y, feats = clean_split(erm_run, "test")
    pair = LabelPair(2, 3, 0.0, 0, 0)
    only_a, only_b = (y[:, 2] == 1) & (y[:, 3] == 0), (y[:, 2] == 0) & (y[:, 3] == 1)
    keep = np.flatnonzero(only_a | only_b)
    n, n_b = len(keep), int(only_b.sum())
    assert n <= 14  # small enough to enumerate every relabelling (at most 3,432)
    df = compute_conflict(erm_run.model, x, y, [pair], erm_run.dataset.normalize, null=3000, seed=1, batch_size=5)
    for row in df.itertuples():
        f = feats[row.module][keep]
        exact = []
        for chosen in itertools.combinations(range(n), n_b):
            g = np.zeros(n, int)
            g[list(chosen)] = 1
            exact.append(label_eta2(f, g))
        exact = np.array(exact)
        assert exact.mean() == pytest.approx(1 / (n - 1), rel=1e-6)
        assert row.eta2_null == pytest.approx(exact.mean(), abs=4 * exact.std() / np.sqrt(3000))
        assert row.eta2_null_sd == pytest.approx(exact.std(), rel=0.1)


def test_no_null_leaves_nan_and_a_null_beyond_the_memory_bound_is_left_out_with_a_warning(erm_run, monkeypatch):
    df = mixdiag.conflict(erm_run, pairs=1, null=0, min_group=2)
    assert df[["eta2_null", "eta2_null_sd", "eta2_excess", "p_null"]].isna().all().all()
    # Room for the shuffled sums of the narrowest hidden states only: the logits and the three layer3 blocks.
    dim = df.set_index("module")["dim"]
    monkeypatch.setattr(conflict_module, "NULL_MEMORY", 8 * 200 * (dim["output"] + 3 * dim["layer3.0"]))
    wide = "layer1.0, layer1.1, layer1.2, layer2.0, layer2.1, layer2.2"
    with pytest.warns(UserWarning, match=rf"no permutation null for hidden states {wide}: .*use --pooled"):
        df = mixdiag.conflict(erm_run, pairs=1, min_group=2)
    has_null = df.set_index("module")["eta2_null"].notna()
    assert has_null.to_dict() == {m: m.startswith("layer3") or m == "output" for m in df["module"]}
