import numpy as np
import pytest
import torch

from mixdiag.data._base import Dataset
from mixdiag.training.metrics import best_threshold, evaluate_epoch, micro_f1, multilabel_metrics


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


def f1_by_counts(y, pred):
    tp, fp, fn = (pred & (y == 1)).sum(), (pred & (y == 0)).sum(), (~pred & (y == 1)).sum()
    return 2 * tp / (2 * tp + fp + fn)


def test_best_threshold_maximises_pooled_f1_over_every_candidate():
    rng = np.random.default_rng(1)
    y = (rng.random((150, 5)) < 0.2).astype(np.float32)
    logits = rng.normal(size=(150, 5)) + 1.5 * y - 1
    s = 1 / (1 + np.exp(-logits))
    scores = {t: f1_by_counts(y, s >= t) for t in np.unique(s)}
    best = max(scores.values())
    t = best_threshold(torch.tensor(logits), torch.tensor(y))
    assert scores[min(c for c, f in scores.items() if f == best)] == pytest.approx(f1_by_counts(y, s >= t), rel=1e-12)
    assert t == pytest.approx(min(c for c, f in scores.items() if f == best), rel=1e-6)
    assert f1_by_counts(y, s >= t) > f1_by_counts(y, s >= 0.5)
    assert np.isnan(best_threshold(torch.tensor(logits), torch.zeros(150, 5)))
    assert np.isnan(micro_f1(torch.tensor(logits), y, float("nan")))


def test_evaluate_epoch_applies_the_validation_threshold_to_test():
    rng = np.random.default_rng(2)
    names = ["a", "b", "c"]

    def split(n):
        y = (rng.random((n, 3)) < 0.3).astype(np.float32)
        y[:, 2] = 0  # no positives: no AUC for c
        return torch.tensor(rng.normal(size=(n, 4)), dtype=torch.float32), torch.tensor(y)

    (xt, yt), (xv, yv), (xs, ys) = split(64), split(40), split(50)
    ds = Dataset("toy", xt[:, :, None], yt, xs[:, :, None], ys, 3, names, (0.0,) * 4, (1.0,) * 4, multilabel=True,
                 x_val=xv[:, :, None], y_val=yv)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    record = evaluate_epoch(model, ds, torch.device("cpu"))
    with torch.no_grad():
        zv, zs = model(xv).double().numpy(), model(xs).double().numpy()
    sv, ss = 1 / (1 + np.exp(-zv)), 1 / (1 + np.exp(-zs))
    candidates = np.unique(sv)
    f1v = [f1_by_counts(yv.numpy(), sv >= t) for t in candidates]
    t = candidates[int(np.argmax(f1v))]
    assert record["val_threshold"] == pytest.approx(t, rel=1e-6)
    assert record["test_micro_f1_at_val_threshold"] == pytest.approx(f1_by_counts(ys.numpy(), ss >= t), rel=1e-12)
    assert record["test_micro_f1"] == pytest.approx(f1_by_counts(ys.numpy(), ss >= 0.5), rel=1e-12)
    y = ys.numpy()
    expected = {name: pytest.approx(auc_by_pairs(y[:, j], ss[:, j]), rel=1e-9) for j, name in enumerate(names[:2])}
    assert record["test_per_label_auc"] == {**expected, "c": None}
    assert set(record["val_per_label_auc"]) == set(names)
    without_val = evaluate_epoch(model, Dataset("toy", xt[:, :, None], yt, xs[:, :, None], ys, 3, names, (0.0,) * 4, (1.0,) * 4,
                                                multilabel=True), torch.device("cpu"))
    assert "val_threshold" not in without_val and "test_micro_f1_at_val_threshold" not in without_val
    assert without_val == {k: v for k, v in record.items() if k.startswith("test_") and "val_threshold" not in k}
