import numpy as np
import torch

from mixdiag.training.metrics import multilabel_metrics


def auc_by_pairs(y, s):
    """AUC as the fraction of (positive, negative) pairs ranked correctly, ties counting half."""
    pos, neg = s[y == 1], s[y == 0]
    diff = pos[:, None] - neg[None, :]
    return ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size


def ap_by_definition(y, s):
    """Average precision: mean over positives of the precision at their rank."""
    order = np.argsort(-s, kind="stable")
    hits = y[order]
    precision = np.cumsum(hits) / np.arange(1, len(y) + 1)
    return precision[hits == 1].mean()


def test_multilabel_metrics_against_definitions():
    rng = np.random.default_rng(0)
    y = (rng.random((200, 4)) < 0.3).astype(np.float32)
    y[:, 3] = 0  # a label with no positives has no AUC
    logits = rng.normal(size=(200, 4)) + 2 * y
    m = multilabel_metrics(torch.tensor(logits), torch.tensor(y))
    s = 1 / (1 + np.exp(-logits))
    per = [auc_by_pairs(y[:, j], s[:, j]) for j in range(3)]
    np.testing.assert_allclose(m["per_label_auc"][:3], per, rtol=1e-12)
    assert np.isnan(m["per_label_auc"][3])
    np.testing.assert_allclose(m["macro_auc"], np.mean(per), rtol=1e-12)
    np.testing.assert_allclose(m["micro_auc"], auc_by_pairs(y.ravel(), s.ravel()), rtol=1e-12)
    np.testing.assert_allclose(m["map"], np.mean([ap_by_definition(y[:, j], s[:, j]) for j in range(3)]), rtol=1e-12)
    pred = s >= 0.5
    tp, fp, fn = (pred & (y == 1)).sum(), (pred & (y == 0)).sum(), (~pred & (y == 1)).sum()
    np.testing.assert_allclose(m["micro_f1"], 2 * tp / (2 * tp + fp + fn), rtol=1e-12)
