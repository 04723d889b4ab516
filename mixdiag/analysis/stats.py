"""Streaming per-cluster sufficient statistics, and η² = 1 − SSI/SST from them.

For a fixed partition (one label per sample) η² needs only, per cluster c, the count
``n_c``, the feature sum ``S_c`` and the sum of squared norms ``Q_c``:

    SSI = Σ_c (Q_c − ||S_c||² / n_c)        SST = Σ_c Q_c − ||Σ_c S_c||² / N

Both subtract nearly equal numbers when the features sit far from the origin, so every
batch is first shifted by a fixed reference vector ``r`` close to the data (the mean of the
k-means fit sample) and accumulated in float64. Both sums are invariant to the shift, so
the result is exact up to float64 rounding of the *spread*, not of the offset. The sums are
plain additions: batch size does not matter and :meth:`ClusterStats.merge` (or an
all-reduce of ``counts``, ``sums`` and ``sqnorms``) combines shards of the data.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from ..errors import MixdiagError

__all__ = ["ClusterStats", "check_finite", "partition_eta2", "squared_norms"]


def _non_finite(name: str) -> MixdiagError:
    return MixdiagError(
        f"hidden state {name!r} has NaN or infinite features; the model is broken (diverged training?) "
        "or the inputs are not finite: check the checkpoint and the input transform"
    )


def check_finite(features: np.ndarray, name: str) -> None:
    """Raise :class:`MixdiagError` naming ``name`` when ``features`` hold NaN or Inf."""
    if not np.isfinite(features).all():
        raise _non_finite(name)


def squared_norms(rows: torch.Tensor) -> torch.Tensor:
    """Squared L2 norm of every row of ``rows (B, D)``, in their dtype, with no ``(B, D)``
    temporary: ``torch.linalg.vecdot`` multiplies into a fresh ``(B, D)`` tensor first, whose
    pages fault in on every call and which took most of its time in the counting loop. A row
    holding NaN or infinity gets a non-finite norm."""
    return torch.linalg.vector_norm(rows, dim=1).square_()


class ClusterStats:
    """Per-cluster counts, sums and squared norms of shifted features, in float64.

    Args:
        k: number of clusters; labels are ``0..k-1``.
        shift: reference vector ``r`` of shape ``(D,)`` subtracted from every sample.
            Processes whose statistics are merged must use the same ``r``.
        name: the hidden state the features come from, for error messages.

    Attributes ``counts (k,) int64``, ``sums (k, D) float64`` and ``sqnorms (k,) float64``
    are the whole state; summing them elementwise across shards is a merge.

    >>> s = ClusterStats(2, shift=np.zeros(1))
    >>> s.update(np.array([[0.0], [2.0], [10.0], [12.0]]), np.array([0, 0, 1, 1]))
    >>> s.ssi(), s.sst(), s.eta2()
    (4.0, 104.0, 0.9615384615384616)
    """

    def __init__(self, k: int, shift: np.ndarray, name: str = "features"):
        self.k = int(k)
        self.name = name
        self.shift = np.asarray(shift, dtype=np.float64).reshape(-1)
        self._shift = torch.from_numpy(self.shift)
        self.counts = np.zeros(self.k, dtype=np.int64)
        self.sums = np.zeros((self.k, self.dim), dtype=np.float64)
        self.sqnorms = np.zeros(self.k, dtype=np.float64)

    @property
    def dim(self) -> int:
        return int(self.shift.shape[0])

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def shifted(self, features) -> torch.Tensor:
        """``features (B, D) − shift`` as a float64 tensor on the features' device, converted
        and shifted in one step (array or tensor input, any float dtype)."""
        x = features if isinstance(features, torch.Tensor) else torch.from_numpy(np.asarray(features))
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"expected features (B, {self.dim}), got {tuple(x.shape)}")
        if self._shift.device != x.device:
            self._shift = self._shift.to(x.device)
        return x - self._shift

    def add(self, shifted: torch.Tensor, labels, norms: Optional[torch.Tensor] = None) -> None:
        """Add a batch already shifted by :meth:`shifted` (float64 ``(B, D)`` on any device),
        with ``labels (B,)``; ``norms`` are the rows' squared norms when the caller has them."""
        labels = labels if isinstance(labels, torch.Tensor) else torch.from_numpy(np.asarray(labels))
        labels = labels.reshape(-1).to(shifted.device, torch.int64)
        if len(shifted) != len(labels):
            raise ValueError(f"{len(shifted)} rows but {len(labels)} labels")
        if norms is None:
            norms = squared_norms(shifted)
        # A NaN or infinity anywhere in a row makes its squared norm non-finite: one check per
        # row instead of a pass over every feature.
        if not bool(torch.isfinite(norms).all()):
            raise _non_finite(self.name)
        if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= self.k):
            raise ValueError(f"labels must lie in 0..{self.k - 1}")
        on_host = shifted.device.type == "cpu"
        # index_add_ sums each row into its cluster in one pass (a one-hot product costs k).
        # A batch on another device is summed there: only its (k, D) sums cross to the host.
        sums = torch.from_numpy(self.sums) if on_host else shifted.new_zeros(self.sums.shape)
        sqnorms = torch.from_numpy(self.sqnorms) if on_host else shifted.new_zeros(self.sqnorms.shape)
        sums.index_add_(0, labels, shifted)
        sqnorms.index_add_(0, labels, norms)
        if not on_host:
            self.sums += sums.cpu().numpy()
            self.sqnorms += sqnorms.cpu().numpy()
        self.counts += torch.bincount(labels, minlength=self.k).cpu().numpy()

    def update(self, features, labels) -> None:
        """Add a batch: ``features (B, D)`` (array or tensor, any float dtype) with ``labels (B,)`` in ``0..k-1``."""
        self.add(self.shifted(features), labels)

    def merge(self, other: "ClusterStats") -> "ClusterStats":
        """Add the statistics of ``other`` (same k and shift) into this one; returns self."""
        if other.k != self.k or not np.array_equal(other.shift, self.shift):
            raise ValueError("only statistics with the same k and the same shift can be merged")
        self.counts += other.counts
        self.sums += other.sums
        self.sqnorms += other.sqnorms
        return self

    def ssi(self) -> float:
        """Within-cluster sum of squares; each cluster's share is clamped at 0 against rounding."""
        full = self.counts > 0
        within = self.sqnorms[full] - np.einsum("ij,ij->i", self.sums[full], self.sums[full]) / self.counts[full]
        return float(np.maximum(within, 0.0).sum())

    def sst(self) -> float:
        """Total sum of squares around the overall mean."""
        total = self.sums.sum(axis=0)
        return max(float(self.sqnorms.sum() - total @ total / max(self.n, 1)), 0.0)

    def eta2(self) -> float:
        """η² = 1 − SSI/SST; raises :class:`MixdiagError` when the features are constant."""
        sst = self.sst()
        # Relative to the shifted energy: constant features whose shift is off by rounding
        # leave an SST of pure rounding noise, which must not turn into a number.
        if not sst > 1e-12 * float(self.sqnorms.sum()):
            raise MixdiagError(
                f"hidden state {self.name!r} has constant features (total sum of squares 0), so η² is undefined; "
                "leave it out of the analysis or check that the model is trained"
            )
        return 1.0 - self.ssi() / sst


def partition_eta2(features: np.ndarray, labels: np.ndarray, k: int | None = None, name: str = "features") -> float:
    """η² of a given partition of in-memory features (e.g. the true classes).

    Args:
        features: ``(N, D)`` array.
        labels: ``(N,)`` integer group of every row, ``0..k-1``.
        k: number of groups; default ``labels.max() + 1``.
        name: the hidden state, for error messages.

    Returns:
        η² as a float in [0, 1].

    >>> partition_eta2(np.array([[0.0], [2.0], [10.0], [12.0]]), np.array([0, 0, 1, 1]))
    0.9615384615384616
    """
    features = np.asarray(features)
    labels = np.asarray(labels).astype(np.int64)
    k = int(labels.max()) + 1 if k is None else k
    stats = ClusterStats(k, shift=features.mean(axis=0, dtype=np.float64), name=name)
    stats.update(features, labels)
    return stats.eta2()
