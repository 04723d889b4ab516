"""Features where the k-means fit is hard: weak clusters under a slowly decaying noise spectrum.

The noise has variance ``i^-1/2`` along its i-th principal axis (a random rotation), so the
variance of the leading 64 axes is a small share of the total and a range finder without
power iterations misses directions that carry cluster signal. ``k`` cluster means, drawn in
random directions, add between-cluster variance ``sep²`` in all; the total noise variance of
512 features is about 44, so ``sep = 1.9`` plants η² ≈ 0.07 (the early CNN blocks' regime).
"""

from __future__ import annotations

import numpy as np


def weak_clusters(n: int = 10_000, dim: int = 512, k: int = 10, sep: float = 1.9, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(float32 (n, dim) features, int64 (n,) planted labels)``."""
    rng = np.random.default_rng(seed)
    scale = np.arange(1, dim + 1) ** -0.25
    rotation = np.linalg.qr(rng.standard_normal((dim, dim)))[0]
    noise = (rng.standard_normal((n, dim)) * scale) @ rotation.T
    centers = rng.standard_normal((k, dim)) * sep / np.sqrt(dim)
    labels = rng.integers(k, size=n)
    return (noise + centers[labels]).astype(np.float32), labels


def eta2_of(x: np.ndarray, labels: np.ndarray) -> float:
    """η² = 1 − SSI/SST of a partition, by hand in float64."""
    x = x.astype(np.float64)
    sst = ((x - x.mean(axis=0)) ** 2).sum()
    ssi = sum(((x[labels == c] - x[labels == c].mean(axis=0)) ** 2).sum() for c in np.unique(labels))
    return float(1 - ssi / sst)
