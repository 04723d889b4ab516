"""Mixing methods: one interface (``MixingMethod``), one file per method, one registry."""

from . import erm, flow, flow_consistency, manifold, mixup  # noqa: F401  (registers the methods)
from ._base import MixingMethod, MixParams, MixRandom, as_targets, criterion_for, multilabel_bce, soft_cross_entropy
from ._registry import create_method, list_methods, register_method

__all__ = [
    "MixingMethod",
    "MixParams",
    "MixRandom",
    "as_targets",
    "create_method",
    "criterion_for",
    "list_methods",
    "multilabel_bce",
    "register_method",
    "soft_cross_entropy",
]
