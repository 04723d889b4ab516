"""The k-means fit of a hidden state too wide to hold its fit sample: a CountSketch.

A block of ResNet-50 at 224×224 has 256×56×56 = 802,816 features; 2,000 rows of it are
6.4 GB in float32, three times the default budget. Cutting the fit sample would leave too
few rows per centroid, so such a hidden state is fitted in three passes over the fit rows
instead of one, holding nothing of full width but per-cluster sums:

A. every fit row is sketched to :data:`SKETCH_DIM` features as it streams past (and its
   exact full-dimensional sum kept, for the mean);
B. k-means runs on the sketched sample as on any other (restarts, power iterations), and
   the best few partitions it ends in are the candidates; the fit rows stream past again
   and each candidate's per-cluster sums are taken in the full dimension, which gives
   every candidate's exact full-dimensional SSI: the best one is chosen, and its centroids
   are its exact full-dimensional cluster means;
C. every sample is assigned to those centroids and counted in the full dimension, as for
   any hidden state (:func:`~mixdiag.analysis.eta2.accumulate_stats`).

So only the search for candidate partitions sees the sketch; the choice among them, the
centroids and η² are exact. The sketch is a CountSketch (Charikar et al., 2002): feature j
is added, with a random sign s(j), to bucket b(j). Squared distances are preserved in
expectation, with a relative error of about √(2/w) for spread-out differences. Here the
buckets are balanced (a seeded permutation deals the features out evenly, so no bucket
collects more than its share of a smooth feature map). What it costs is measured in
tests/analysis/test_sketch.py against the held fit and scikit-learn on all rows, and in
bench/eta2_large.py.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["SKETCH_DIM", "CountSketch"]

# Width of the sketch: the projected k-means then works on 2,000 × 4,096 float32 (33 MB)
# whatever the width of the hidden state, and distances keep about √(2/4096) ≈ 2% relative
# error; the exact full-dimensional choice among candidates absorbs the rest.
SKETCH_DIM = 4096


class CountSketch:
    """The linear map ``x ↦ S·x`` from ``dim`` features to ``width`` buckets.

    Args:
        dim: features of the rows it sketches.
        width: buckets, ``< dim``.
        seed: seeds the signs and the assignment of features to buckets.
    """

    def __init__(self, dim: int, width: int = SKETCH_DIM, seed: int | np.random.SeedSequence = 0):
        rng = np.random.default_rng(seed)
        self.dim, self.width = dim, width
        self.bucket = torch.from_numpy(rng.permutation(dim) % width)
        self.sign = torch.from_numpy(rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=dim))

    def __call__(self, rows: torch.Tensor) -> torch.Tensor:
        """``(B, dim)`` rows → ``(B, width)`` sketches, in the rows' dtype and device."""
        sign, bucket = self.sign.to(rows.device, rows.dtype), self.bucket.to(rows.device)
        out = torch.zeros(len(rows), self.width, dtype=rows.dtype, device=rows.device)
        return out.index_add_(1, bucket, rows * sign)
