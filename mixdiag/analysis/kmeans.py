"""k-means with FAISS: the fit sample, the fit, and the assignment of every sample.

The fit runs on a seeded uniform sample of rows gathered in one pass over the data
(:func:`sample_order`, :class:`FitSample`); every sample is then assigned to the fitted
centroids (:func:`assign`) and counted exactly by :mod:`.stats`. FAISS's own objective is
never reported: it describes the fit sample only.

Callers pass features already shifted close to their mean (the engine subtracts the fit
sample's mean): FAISS computes distances in float32 as ``||x||² + ||c||² − 2 x·c``, which
loses every digit of the spread when features carry a large common offset.
"""

from __future__ import annotations

import functools

import faiss
import numpy as np
import torch

from ..errors import MixdiagError
from .stats import check_finite

__all__ = ["DEFAULT_NITER", "DEFAULT_NREDO", "check_k", "sample_order", "FitSample", "fit_kmeans", "assign", "use_faiss_gpu"]

# Lloyd converges within ~20 iterations on real features (digits: 20 and 50 give the same
# partitions). 10 initialisations match scikit-learn's n_init, the quality reference:
# with 3, some seeds stop 2-3% above its SSI on digits at k=10.
DEFAULT_NITER = 20
DEFAULT_NREDO = 10

# By default FAISS reserves a share of GPU memory as scratch space (18% in older releases,
# up to 1.5 GiB in newer ones); the model needs that memory more than k-means does.
_GPU_TEMP_MEMORY = 256 * 1024**2
_ASSIGN_CHUNK = 65536


def check_k(k: int, n: int, what: str = "the data") -> None:
    """Raise :class:`MixdiagError` unless ``2 <= k <= n``; ``what`` names the rows in the message."""
    if k < 2:
        raise MixdiagError(f"k={k}: η² needs at least 2 clusters; pass k >= 2")
    if k > n:
        raise MixdiagError(f"k={k} clusters but {what} has only {n} samples; pass k <= {n} or use more samples")


def sample_order(n: int, size: int, seed: int | np.random.SeedSequence) -> np.ndarray:
    """``min(size, n)`` distinct row indices of ``0..n-1`` in random order.

    Any prefix is itself a uniform sample, so a block that can afford fewer rows takes
    ``np.sort(order[:m])`` and still shares its rows with the others.

    >>> sample_order(10, 4, seed=0).shape
    (4,)
    """
    return np.random.default_rng(seed).choice(n, size=min(size, n), replace=False)


class FitSample:
    """The rows at fixed global indices, gathered batch by batch as the data stream past.

    Args:
        indices: global row indices to keep (any order; kept sorted).
        dim: feature dimension.

    >>> s = FitSample(np.array([3, 0]), dim=2)
    >>> s.add(0, np.arange(4.0).reshape(2, 2)); s.add(2, np.arange(4.0, 8.0).reshape(2, 2))
    >>> s.rows.tolist()
    [[0.0, 1.0], [6.0, 7.0]]
    """

    def __init__(self, indices: np.ndarray, dim: int):
        self.indices = np.sort(np.asarray(indices, dtype=np.int64))
        self.rows = np.empty((len(self.indices), dim), dtype=np.float32)

    def add(self, start: int, features: np.ndarray) -> None:
        """Keep the rows of a batch whose global indices are ``start .. start+len(features)-1``."""
        lo, hi = np.searchsorted(self.indices, [start, start + len(features)])
        self.rows[lo:hi] = features[self.indices[lo:hi] - start]


@functools.lru_cache(maxsize=None)
def _gpu_resources(device: int):
    res = faiss.StandardGpuResources()
    res.setTempMemory(_GPU_TEMP_MEMORY)
    return res


def use_faiss_gpu(device: str | torch.device) -> int | None:
    """The CUDA device index FAISS should use next to a model on ``device``, or None for CPU."""
    device = torch.device(device)
    if device.type != "cuda" or faiss.get_num_gpus() == 0:
        return None
    return torch.cuda.current_device() if device.index is None else device.index


def _flat_index(dim: int, gpu: int | None):
    if gpu is None:
        return faiss.IndexFlatL2(dim)
    config = faiss.GpuIndexFlatConfig()
    config.device = gpu
    return faiss.GpuIndexFlatL2(_gpu_resources(gpu), dim, config)


def fit_kmeans(
    sample: np.ndarray,
    k: int,
    *,
    seed: int = 0,
    niter: int = DEFAULT_NITER,
    nredo: int = DEFAULT_NREDO,
    gpu: int | None = None,
    name: str = "features",
) -> np.ndarray:
    """Fit k-means (Lloyd, ``nredo`` random initialisations, best kept) on every row of ``sample``.

    Args:
        sample: ``(m, D)`` fit sample, shifted near its mean; used in float32.
        k: number of clusters, ``2 <= k <= m``.
        seed: FAISS seed; the same seed and sample give the same centroids.
        niter: Lloyd iterations per initialisation.
        nredo: random initialisations; FAISS keeps the one with the lowest objective on
            the sample.
        gpu: CUDA device index for FAISS, or None for CPU (see :func:`use_faiss_gpu`).
        name: the hidden state, for error messages.

    Returns:
        ``(k, D)`` float32 centroids.

    >>> x = np.concatenate([np.zeros((5, 2)), np.ones((5, 2))]).astype(np.float32)
    >>> np.sort(fit_kmeans(x, 2)[:, 0]).tolist()
    [0.0, 1.0]
    """
    sample = np.ascontiguousarray(sample, dtype=np.float32)
    check_k(k, len(sample), f"the fit sample of {name!r}")
    check_finite(sample, name)
    params = faiss.ClusteringParameters()
    params.niter = niter
    params.nredo = nredo
    params.seed = int(seed)
    params.spherical = False
    params.verbose = False
    # The caller chose the sample size: FAISS must neither subsample it (its default keeps
    # 256 rows per centroid) nor warn that it is small (k <= m was checked above).
    params.max_points_per_centroid = len(sample)
    params.min_points_per_centroid = 1
    clustering = faiss.Clustering(sample.shape[1], k, params)
    clustering.train(sample, _flat_index(sample.shape[1], gpu))
    return faiss.vector_float_to_array(clustering.centroids).reshape(k, -1)


def assign(features: np.ndarray, centroids: np.ndarray, *, gpu: int | None = None) -> np.ndarray:
    """Index of the nearest centroid (squared L2) of every row, as int64 ``(B,)``.

    Works in row chunks so that a float32 copy of a large float64 input stays small.

    >>> assign(np.array([[0.1], [0.9]]), np.array([[1.0], [0.0]])).tolist()
    [1, 0]
    """
    centroids = np.ascontiguousarray(centroids, dtype=np.float32)
    index = _flat_index(centroids.shape[1], gpu)
    index.add(centroids)
    labels = np.empty(len(features), dtype=np.int64)
    for start in range(0, len(features), _ASSIGN_CHUNK):
        chunk = np.ascontiguousarray(features[start : start + _ASSIGN_CHUNK], dtype=np.float32)
        labels[start : start + len(chunk)] = index.search(chunk, 1)[1][:, 0]
    return labels
