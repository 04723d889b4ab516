"""Evaluation metrics, always on clean labels (validation and test labels are never corrupted).

Single-label: loss and accuracy. Multi-label: loss, macro and micro ROC AUC, mAP (macro
average precision), micro-F1 at a 0.5 probability threshold, and per-label AUC keyed by
label name. A label whose evaluation split holds only one class has no AUC: it is left out
of the macro averages and written as null per label.

When the dataset has a validation split, :func:`evaluate_epoch` also chooses one global
probability threshold on it, the one that maximises the validation micro-F1, and reports
the test micro-F1 at that threshold. One threshold for all labels rather than one per
label: micro-F1 pools the decisions of all labels, so a pooled threshold is the matching
choice, and per-label thresholds would be fitted to the handful of validation positives
that rare labels (e.g. Hernia in ChestX-ray14) have.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.metrics import average_precision_score, f1_score, precision_recall_curve, roc_auc_score

from .. import distributed
from ..distributed import World
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


def _probabilities(logits: torch.Tensor) -> np.ndarray:
    return torch.sigmoid(logits).numpy().astype(np.float64)


def multilabel_metrics(logits: torch.Tensor, y: torch.Tensor, threshold: float = 0.5) -> dict:
    """Macro/micro AUC, mAP, micro-F1 at ``threshold`` and per-label AUC for 0/1 labels ``y``."""
    prob = _probabilities(logits)
    y = y.numpy().astype(np.int64)
    valid = [j for j in range(y.shape[1]) if 0 < y[:, j].sum() < len(y)]
    per_label = [float(roc_auc_score(y[:, j], prob[:, j])) if j in valid else float("nan") for j in range(y.shape[1])]
    has_both = 0 < y.sum() < y.size
    return {
        "macro_auc": float(np.mean([per_label[j] for j in valid])) if valid else float("nan"),
        "micro_auc": float(roc_auc_score(y.ravel(), prob.ravel())) if has_both else float("nan"),
        "map": float(np.mean([average_precision_score(y[:, j], prob[:, j]) for j in valid])) if valid else float("nan"),
        "micro_f1": micro_f1(logits, y, threshold),
        "per_label_auc": per_label,
    }


def micro_f1(logits: torch.Tensor, y, threshold: float) -> float:
    """F1 of all (sample, label) decisions pooled, predicting positive when σ(logit) ≥ ``threshold``."""
    if math.isnan(threshold):
        return float("nan")
    y = np.asarray(y).astype(np.int64).ravel()
    return float(f1_score(y, (_probabilities(logits).ravel() >= threshold).astype(np.int64), zero_division=0))


def best_threshold(logits: torch.Tensor, y: torch.Tensor) -> float:
    """The probability threshold that maximises micro-F1 on ``(logits, y)``.

    Candidates are the predicted probabilities themselves (predict positive at ``σ ≥ t``);
    among equally good thresholds the lowest is returned. NaN when ``y`` holds no positive
    label, since then every threshold scores an F1 of 0.
    """
    y = y.numpy().astype(np.int64).ravel()
    if not y.any():
        return float("nan")
    precision, recall, thresholds = precision_recall_curve(y, _probabilities(logits).ravel())
    # The last (precision 1, recall 0) point has no threshold; drop it.
    precision, recall = precision[:-1], recall[:-1]
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(precision), where=precision + recall > 0)
    return float(thresholds[int(np.argmax(f1))])


def _predict_shared(model, x: torch.Tensor, transform, device: torch.device, batch_size: int, world: World) -> torch.Tensor:
    """:func:`predict` with the rows split into contiguous shares, one per process of
    ``world`` (every process holding the same weights); every process gets all logits."""
    if world.size == 1:
        return predict(model, x, transform, device, batch_size)
    share = x[len(x) * world.rank // world.size : len(x) * (world.rank + 1) // world.size]
    # A split smaller than the world leaves some processes without rows.
    parts = distributed.all_gather_objects(predict(model, share, transform, device, batch_size) if len(share) else None)
    return torch.cat([part for part in parts if part is not None])


def _split_metrics(model, ds, split: str, device: torch.device, batch_size: int, world: World = World()) -> tuple[dict, torch.Tensor]:
    """The split's metrics (unprefixed) and its logits."""
    x, y = ds.split(split)
    logits = _predict_shared(model, x, ds.normalize, device, batch_size, world)
    loss = float(criterion_for(ds.multilabel)(logits, as_targets(y, ds.num_classes)))
    if not ds.multilabel:
        return {"loss": loss, "accuracy": float((logits.argmax(1) == y).double().mean())}, logits
    metrics = multilabel_metrics(logits, y)
    # Keyed by name, null for a label without AUC: readable and strict JSON in metrics.jsonl.
    metrics["per_label_auc"] = {name: (None if math.isnan(a) else a) for name, a in zip(ds.class_names, metrics["per_label_auc"])}
    return {"loss": loss, **metrics}, logits


def evaluate(model, ds, split: str, device: torch.device, batch_size: int = 512) -> dict:
    """Loss and the split's metrics, prefixed with the split name (``test_loss``, ...)."""
    return {f"{split}_{k}": v for k, v in _split_metrics(model, ds, split, device, batch_size)[0].items()}


def evaluate_epoch(model, ds, device: torch.device, batch_size: int = 512, world: World = World()) -> dict:
    """The metrics of one epoch: validation (when the dataset has it) and test.

    The processes of ``world`` (a multi-process run, all holding the same weights) each
    predict a share of every split and all compute the metrics of the gathered logits.

    For multi-label data with a validation split, adds ``val_threshold`` (the global
    threshold that maximises validation micro-F1, :func:`best_threshold`) and
    ``test_micro_f1_at_val_threshold`` (test micro-F1 at that threshold).
    """
    record = {}
    val_logits = None
    if ds.x_val is not None:
        metrics, val_logits = _split_metrics(model, ds, "val", device, batch_size, world)
        record.update({f"val_{k}": v for k, v in metrics.items()})
    metrics, test_logits = _split_metrics(model, ds, "test", device, batch_size, world)
    record.update({f"test_{k}": v for k, v in metrics.items()})
    if ds.multilabel and val_logits is not None:
        threshold = best_threshold(val_logits, ds.y_val)
        record["val_threshold"] = threshold
        record["test_micro_f1_at_val_threshold"] = micro_f1(test_logits, ds.y_test.numpy(), threshold)
    return record


def headline(ds) -> str:
    """The metric that picks ``best.pt``: accuracy, or macro AUC for multi-label data."""
    return "macro_auc" if ds.multilabel else "accuracy"
