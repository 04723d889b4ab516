"""Test-time metrics, always on clean labels.

Single-label: loss and accuracy. Multi-label: loss, macro and micro ROC AUC, mAP (macro
average precision) and micro-F1 at a 0.5 probability threshold, plus per-label AUC. A
label whose evaluation split holds only one class has no AUC; it is left out of the macro
averages and reported as NaN per label.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from ..mixing import as_targets, criterion_for


@torch.no_grad()
def predict(model, x: torch.Tensor, transform, device: torch.device, batch_size: int = 512) -> torch.Tensor:
    """Logits of ``model`` for stored inputs ``x`` (eval mode restored to the caller's mode)."""
    was_training = model.training
    model.eval()
    try:
        out = [model(transform(x[i : i + batch_size].to(device))).float().cpu() for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out)


def multilabel_metrics(logits: torch.Tensor, y: torch.Tensor, threshold: float = 0.5) -> dict:
    """Macro/micro AUC, mAP, micro-F1 at ``threshold`` and per-label AUC for 0/1 labels ``y``."""
    prob = torch.sigmoid(logits).numpy().astype(np.float64)
    y = y.numpy().astype(np.int64)
    valid = [j for j in range(y.shape[1]) if 0 < y[:, j].sum() < len(y)]
    per_label = [float(roc_auc_score(y[:, j], prob[:, j])) if j in valid else float("nan") for j in range(y.shape[1])]
    has_both = 0 < y.sum() < y.size
    return {
        "macro_auc": float(np.mean([per_label[j] for j in valid])) if valid else float("nan"),
        "micro_auc": float(roc_auc_score(y.ravel(), prob.ravel())) if has_both else float("nan"),
        "map": float(np.mean([average_precision_score(y[:, j], prob[:, j]) for j in valid])) if valid else float("nan"),
        "micro_f1": float(f1_score(y.ravel(), (prob >= threshold).ravel().astype(np.int64), zero_division=0)),
        "per_label_auc": per_label,
    }


def evaluate(model, ds, split: str, device: torch.device, batch_size: int = 512) -> dict:
    """Loss and the split's headline metrics, prefixed with the split name (``test_loss``, ...)."""
    x, y = ds.split(split)
    logits = predict(model, x, ds.normalize, device, batch_size)
    loss = float(criterion_for(ds.multilabel)(logits, as_targets(y, ds.num_classes)))
    if ds.multilabel:
        metrics = multilabel_metrics(logits, y)
    else:
        metrics = {"accuracy": float((logits.argmax(1) == y).double().mean())}
    return {f"{split}_{k}": v for k, v in {"loss": loss, **metrics}.items()}


def headline(ds) -> str:
    """The metric that picks ``best.pt``: accuracy, or macro AUC for multi-label data."""
    return "macro_auc" if ds.multilabel else "accuracy"
