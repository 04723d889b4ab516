"""k-means: the fit, with FAISS or pure torch, and the assignment of every sample to its centroids.

The fit runs on a seeded uniform sample of rows (:func:`sample_order`); every sample is
then assigned to the fitted centroids (:func:`nearest`, :func:`assign`) and counted
exactly by :mod:`.stats`. FAISS's own objective is never reported: it describes the fit
sample, in the projected space, only.

A block output of a 28×28 image has about 10⁴ features, so any pass over the fit sample is
a memory-bound read of hundreds of MB. :func:`fit_kmeans` makes its restarts where they are
cheap and reads the full-dimensional sample only three times:

1. the shifted sample is reduced to its leading :data:`PROJECTION_DIM` principal axes (a
   randomized range finder, two passes), where the k-means objective of a partition is the
   full one minus its part in the discarded, mostly isotropic, directions;
2. Lloyd's algorithm runs from ``nredo`` k-means++ initialisations in that space, by FAISS
   or by the pure-torch backend (see :data:`BACKENDS`);
3. the best few partitions they end in are compared by their exact SSI on the
   full-dimensional sample (one pass for all of them), and the best one's cluster means are
   the centroids.

Full-dimensional Lloyd iterations after step 3 were measured and left out: on Fashion-MNIST
block features they changed the SSI of the final partition of all N samples by less than
0.1%, because :func:`~mixdiag.analysis.eta2.compute_eta2` reports that partition with its
exact cluster means, which is itself a Lloyd step on all the data.

Rows are shifted close to their mean (a vector the caller passes), chunk by chunk, leaving
the caller's rows untouched: squared distances ``‖x‖² + ‖c‖² − 2 x·c`` lose every digit of
the spread in float32 when features carry a large common offset. The fit works in float32;
assignments that are counted work in float64, so no near-tie depends on the batch. The
full-dimensional arithmetic runs in torch (FAISS's exhaustive search is tuned for many
centroids and was several times slower for k = 10).

The two backends differ only in step 2. ``"faiss"`` runs FAISS's Lloyd iterations (on the
GPU when FAISS has GPU support and the model is on CUDA). ``"torch"`` runs the same
iterations in torch on any device, from the same initialisations: assign every row to its
nearest centroid, replace each centroid by the mean of its rows, and split a cluster to
refill an empty one by FAISS's rule. Where no cluster empties and no row ties, both end in
the same partition; their centroids differ by rounding only (FAISS sums in float32, torch
in float64). The projection, the initialisations and the final comparison are shared.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np
import torch

from ..errors import MixdiagError
from ._defaults import BACKENDS, DEFAULT_BACKEND  # defined apart so that the CLI's --help reads them without torch
from .stats import check_finite

try:
    import faiss
except ImportError:  # the torch backend needs nothing beyond torch
    faiss = None

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "DEFAULT_NITER",
    "DEFAULT_NREDO",
    "PROJECTION_DIM",
    "check_k",
    "sample_order",
    "KMeansFit",
    "ssi_spread",
    "fit_partition",
    "fit_kmeans",
    "fit_bytes",
    "nearest",
    "one_thread",
    "assign",
    "use_faiss_gpu",
    "check_backend",
]

# Lloyd iterations per initialisation, and initialisations, in the projected space. The
# weakly clustered early blocks of a briefly trained PreAct-ResNet-32 have many local optima
# within 1-2% of each other: with 10 k-means++ starts the best partition found on a
# 2000-row sample was up to 1.0096 × scikit-learn's SSI (n_init=10, all rows), with 20 at
# most 1.0045; in 64 dimensions a start costs about 5 ms.
DEFAULT_NITER = 20
DEFAULT_NREDO = 20
# Principal axes kept for the restarts. The optimal partition lies close to the span of the
# leading k − 1 axes; with 32 the projected objective ranked the partitions of those early
# blocks worse (up to 1.0081 against 1.0045 with 64). The range finder costs
# 4·m·D·(PROJECTION_DIM + _OVERSAMPLE) flops.
PROJECTION_DIM = 64
_OVERSAMPLE = 10
# Power iterations of the range finder run until the variance the leading axes capture grows by
# less than _CONVERGED. Without them, where the spectrum decays slowly (early CNN blocks, weak
# clusters) the subspace found missed the cluster directions: on 10,000 × 512 features with
# variance i^-1/2 along axis i and 10 weak clusters (tests/support/weak_clusters.py) the
# partition's η² came out 0.044 against 0.068 for the planted one and for scikit-learn on all
# rows. Each iteration costs two passes over the sample; a fast-decaying spectrum stops after one.
# With 0.3% the weak-cluster cases end in the same partitions as with 0.1% (six iterations,
# three fit samples each at planted η² 0.07 and 0.04), and the blocks of a briefly trained
# PreAct-ResNet-32 stop after 2-3 iterations instead of 3-4, their SSI within 0.01%.
MAX_POWER_ITERATIONS = 6
_CONVERGED = 3e-3
# Partitions compared on the full sample: the projected objective's top 3 held the best
# one in every measured case; 5 leave a margin and cost one cheap sum each.
COMPARED = 5

# By default FAISS reserves a share of GPU memory as scratch space (18% in older releases,
# up to 1.5 GiB in newer ones); the model needs that memory more than k-means does.
_GPU_TEMP_MEMORY = 256 * 1024**2
# Bytes of the chunk of rows worked on at once: bounds the temporaries and keeps the chunk
# in cache between the products that read it.
_CHUNK_BYTES = 8 * 1024**2
# Largest fit sample a fit copies, shifted, rather than shift chunk by chunk in every pass.
_COPY_BYTES = 256 * 1024**2
# FAISS's relative perturbation of the two halves of a split cluster ("a bit above machine
# epsilon for float16", Clustering.cpp).
_SPLIT_EPS = 1 / 1024


def check_backend(backend: str) -> None:
    """Raise :class:`MixdiagError` unless ``backend`` is one of :data:`BACKENDS` and usable here."""
    if backend not in BACKENDS:
        raise MixdiagError(f"unknown k-means backend {backend!r}; use one of {', '.join(BACKENDS)}")
    if backend == "faiss" and faiss is None:
        raise MixdiagError("the k-means backend 'faiss' needs FAISS, which is not installed; pip install faiss-cpu or use backend 'torch'")


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


@functools.lru_cache(maxsize=None)
def _gpu_resources(device: int):
    res = faiss.StandardGpuResources()
    res.setTempMemory(_GPU_TEMP_MEMORY)
    return res


def use_faiss_gpu(device: str | torch.device) -> int | None:
    """The CUDA device index FAISS should use next to a model on ``device``, or None for CPU."""
    device = torch.device(device)
    if device.type != "cuda" or faiss is None or faiss.get_num_gpus() == 0:
        return None
    return torch.cuda.current_device() if device.index is None else device.index


def _flat_index(dim: int, gpu: int | None):
    if gpu is None:
        return faiss.IndexFlatL2(dim)
    config = faiss.GpuIndexFlatConfig()
    config.device = gpu
    return faiss.GpuIndexFlatL2(_gpu_resources(gpu), dim, config)


@contextlib.contextmanager
def one_thread():
    """Run torch on one thread inside the block. The chunked passes here are memory-bound
    sequences of mid-sized operations; on two shared cores the second thread's wake-up and
    synchronisation cost more than it adds (a Lloyd pass over a 2000 × 12544 sample: 97 ms
    on one thread, 134 ms on two)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _tensor(features) -> torch.Tensor:
    return features if isinstance(features, torch.Tensor) else torch.from_numpy(np.asarray(features))


def _chunks(rows, shift: torch.Tensor) -> Iterator[tuple[int, torch.Tensor]]:
    """``(start, rows − shift)`` over ``rows`` (array or tensor), chunk by chunk, in the dtype
    of ``shift``. Every chunk is written into the same buffer, so the caller must be done
    with a chunk before asking for the next: a fresh chunk is fresh memory whose pages fault
    in on every write."""
    rows = _tensor(rows)
    step = max(1, _CHUNK_BYTES // (shift.element_size() * rows.shape[1]))
    buffer = torch.empty(min(step, len(rows)), rows.shape[1], dtype=shift.dtype, device=shift.device)
    for start in range(0, len(rows), step):
        # Subtracting promotes inside the one kernel: no converted copy first.
        chunk = rows[start : start + step]
        yield start, torch.sub(chunk, shift, out=buffer[: len(chunk)])


def nearest(shifted: torch.Tensor, centroids: torch.Tensor, norms: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest centroid of every row under each of T clusterings at once.

    Args:
        shifted: ``(B, D)`` rows.
        centroids: ``(T, k, D)`` centroids in the rows' coordinates and dtype.
        norms: ``(T·k,)`` squared norms of the centroids, when the caller reuses them
            across chunks; computed otherwise.

    Returns:
        int64 labels ``(B, T)``, and ``‖c‖² − 2 x·c`` for the nearest ``c`` (``(B, T)``): the
        squared distance minus the row's own squared norm, which the comparison does not
        need. One product serves all T·k centroids.
    """
    t, k, dim = centroids.shape
    flat = centroids.reshape(t * k, dim)
    if norms is None:
        norms = (flat * flat).sum(dim=1)
    score = torch.addmm(norms, shifted, flat.T, alpha=-2)
    best, labels = score.reshape(len(shifted), t, k).min(dim=2)
    return labels, best


def assign(features, centroids, *, shift: Optional[np.ndarray] = None) -> np.ndarray:
    """Index of the nearest centroid (squared L2, in float64) of every row of
    ``features − shift``, as int64 ``(B,)``; ``centroids`` are in shifted coordinates.
    A tensor is assigned on its own device.

    >>> assign(np.array([[0.1], [0.9]]), np.array([[1.0], [0.0]])).tolist()
    [1, 0]
    """
    features = _tensor(features)
    on = dict(dtype=torch.float64, device=features.device)
    c = torch.as_tensor(np.asarray(centroids), **on)[None]
    shift = torch.zeros(features.shape[1], **on) if shift is None else torch.as_tensor(np.asarray(shift), **on)
    return torch.cat([nearest(chunk, c)[0][:, 0] for _, chunk in _chunks(features, shift)]).cpu().numpy()


def _project(sample: torch.Tensor, shift: Optional[torch.Tensor], rng: np.random.Generator, name: str) -> np.ndarray:
    """Scores of ``sample − shift`` (``sample`` when ``shift`` is None) on (about) its leading
    :data:`PROJECTION_DIM` principal axes, float32 ``(m, ≤ PROJECTION_DIM)``; checks
    finiteness on the way.

    A randomized range finder with power iterations (Halko et al., 2011, algorithm 4.4):
    ``Y = X·Ω`` for a Gaussian ``Ω``, ``Q`` an orthonormal basis of ``Y``, ``B = Qᵀ·X`` and
    ``B·Bᵀ = U·Σ²·Uᵀ``; the scores are ``Q·U·Σ``. While the variance ``tr Σ²`` of the kept
    axes still grows by more than :data:`_CONVERGED` (at most :data:`MAX_POWER_ITERATIONS`
    times), ``Y ← X·Bᵀ`` with the columns made orthonormal between the products, and again.
    Every product is one pass over the sample: ``2 + 2·iterations`` in all. Every
    factorisation is of a small square Gram matrix: LAPACK on ``m × w`` or ``w × D``
    matrices makes many small multi-threaded BLAS calls, which crawl on a busy machine.
    Samples with few features come back shifted.
    """
    dim = sample.shape[1]
    width = PROJECTION_DIM + _OVERSAMPLE
    if dim <= width:
        out = (sample if shift is None else sample - shift).numpy()
        check_finite(out, name)
        return out
    omega = torch.from_numpy(rng.standard_normal((dim, width), dtype=np.float32))
    y = _times(sample, shift, omega)
    del omega
    # Any NaN or infinity in a row makes its projection non-finite (Ω has no zeros).
    check_finite(y.numpy(), name)
    q = _orthonormal(y)
    captured = 0.0
    for iteration in range(MAX_POWER_ITERATIONS + 1):
        b = _transposed_times(sample, shift, q).T  # Bᵀ = Xᵀ·Q is also the next iteration's first product
        sigma2, u = torch.linalg.eigh(b @ b.T)  # ascending
        keep = slice(-min(PROJECTION_DIM, len(sigma2)), None)
        previous, captured = captured, float(sigma2[keep].sum())
        if iteration == MAX_POWER_ITERATIONS or captured <= previous * (1 + _CONVERGED):
            break
        q = _orthonormal(_times(sample, shift, _orthonormal(b.T)))
    return (q.double() @ (u[:, keep] * sigma2[keep].clamp(min=0).sqrt())).float().numpy()


def _times(sample: torch.Tensor, shift: Optional[torch.Tensor], right: torch.Tensor) -> torch.Tensor:
    """``(sample − shift) · right`` in one pass, as float64 ``(m, w)``."""
    if shift is None:
        return (sample @ right).double()
    return torch.cat([chunk @ right for _, chunk in _chunks(sample, shift)]).double()


def _transposed_times(sample: torch.Tensor, shift: Optional[torch.Tensor], left: torch.Tensor) -> torch.Tensor:
    """``(sample − shift)ᵀ · left`` in one pass, as float64 ``(D, w)``."""
    if shift is None:
        return (sample.T @ left).double()
    out = torch.zeros(sample.shape[1], left.shape[1])
    for start, chunk in _chunks(sample, shift):
        out += chunk.T @ left[start : start + len(chunk)]
    return out.double()


def _rows(sample: torch.Tensor, shift: Optional[torch.Tensor]) -> Iterator[tuple[int, torch.Tensor]]:
    """``(start, chunk of sample − shift)``: views of ``sample`` when ``shift`` is None, else :func:`_chunks`."""
    if shift is not None:
        yield from _chunks(sample, shift)
        return
    step = max(1, _CHUNK_BYTES // (sample.element_size() * sample.shape[1]))
    for start in range(0, len(sample), step):
        yield start, sample[start : start + step]


def _orthonormal(columns: torch.Tensor) -> torch.Tensor:
    """float32 orthonormal basis of the span of float64 ``columns`` (through their Gram matrix)."""
    return (columns @ _inverse_sqrt(columns.T @ columns)).float()


def _inverse_sqrt(gram: torch.Tensor) -> torch.Tensor:
    """``W`` with ``Wᵀ·G·W = I`` on the numerically non-null part of a Gram matrix ``G``; a
    constant sample (``G = 0``) keeps one zero column, so k-means still runs, on zeros."""
    lam, vec = torch.linalg.eigh(gram)
    keep = lam > lam[-1] * 1e-12
    if not bool(keep.any()):
        return torch.zeros(len(lam), 1, dtype=gram.dtype)
    return vec[:, keep] / lam[keep].sqrt()


def _kmeans_pp(z: np.ndarray, k: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` sets of k initial centroids ``(count, k, d)`` by greedy k-means++ (as
    scikit-learn seeds): each next centroid is the best, by the resulting objective, of
    ``2 + log k`` rows drawn with probability proportional to their squared distance to the
    nearest centroid so far. The sets are drawn side by side: a few large array operations
    instead of many small ones."""
    z = z.astype(np.float64)
    m = len(z)
    norms = (z * z).sum(axis=1)
    trials = 2 + int(np.log(k))
    sets = np.arange(count)
    picked = np.empty((count, k), dtype=np.int64)
    picked[:, 0] = rng.integers(m, size=count)
    closest = np.maximum(norms[None, :] - 2 * z[picked[:, 0]] @ z.T + norms[picked[:, 0], None], 0.0)
    for c in range(1, k):
        cumulative = np.cumsum(closest, axis=1)
        # A constant sample has no spread to sample by: every draw is then row 0, which is fine.
        draws = rng.random((count, trials, 1)) * cumulative[:, None, -1:]
        picks = np.minimum((cumulative[:, None, :] < draws).sum(axis=2), m - 1)
        dist = norms[None, None, :] - 2 * z[picks] @ z.T + norms[picks][:, :, None]
        dist = np.minimum(closest[:, None, :], np.maximum(dist, 0.0))
        best = np.argmin(dist.sum(axis=2), axis=1)
        picked[:, c] = picks[sets, best]
        closest = dist[sets, best]
    return z[picked].astype(np.float32)


def _faiss_kmeans(z: np.ndarray, init: np.ndarray, niter: int, gpu: int | None) -> np.ndarray:
    """Centroids after FAISS's Lloyd iterations on ``z`` from the centroids ``init``."""
    k = len(init)
    params = faiss.ClusteringParameters()
    params.niter = niter
    params.nredo = 1
    params.spherical = False
    params.verbose = False
    # The caller chose the sample size: FAISS must neither subsample it (its default keeps
    # 256 rows per centroid) nor warn that it is small (k <= m was checked).
    params.max_points_per_centroid = len(z)
    params.min_points_per_centroid = 1
    clustering = faiss.Clustering(z.shape[1], k, params)
    # Centroids present before training are FAISS's initialisation (every release since 1.5).
    faiss.copy_array_to_vector(np.ascontiguousarray(init).ravel(), clustering.centroids)
    threads = faiss.omp_get_max_threads()
    # A few thousand rows of 64 features: waking a second OpenMP team, next to torch's, costs
    # more than it saves (16 ms against 7 ms per fit alone, 48 ms after a forward pass).
    faiss.omp_set_num_threads(1)
    try:
        clustering.train(np.ascontiguousarray(z), _flat_index(z.shape[1], gpu))
    finally:
        faiss.omp_set_num_threads(threads)
    return faiss.vector_float_to_array(clustering.centroids).reshape(k, -1)


def _torch_kmeans(z: torch.Tensor, init: torch.Tensor, niter: int, generator: torch.Generator) -> torch.Tensor:
    """Centroids after ``niter`` Lloyd iterations on ``z`` from the centroids ``init``, on
    ``z``'s device: FAISS's iterations (:func:`_faiss_kmeans`) in torch.

    Each iteration assigns every row to its nearest centroid and moves every centroid to the
    mean of its rows. A cluster left empty is refilled as FAISS's ``split_clusters`` does:
    it takes a copy of the centroid of another cluster, picked with probability
    proportional to that cluster's size minus one, and the two copies move apart by a
    relative ±1/1024 in alternating coordinates. The pick is drawn from ``generator`` (a CPU
    generator) instead of FAISS's own stream, and exactly in proportion instead of by
    FAISS's cyclic scan, so after an empty cluster the two backends may part ways.
    """
    k, dim = init.shape
    # +1, −1, +1, ... by coordinate: the new centroid gets (1 + ε·sign), the split one (1 − ε·sign).
    sign = torch.ones(dim, device=z.device)
    sign[1::2] = -1
    wide = z.double()
    centroids = init
    for _ in range(niter):
        labels = nearest(z, centroids[None])[0][:, 0]
        counts = torch.bincount(labels, minlength=k)
        sums = torch.zeros(k, dim, dtype=torch.float64, device=z.device).index_add_(0, labels, wide)
        centroids = (sums / counts.clamp(min=1)[:, None]).float()
        sizes = counts.double().cpu()
        for ci in torch.nonzero(sizes == 0).flatten().tolist():
            cj = int(torch.multinomial((sizes - 1).clamp(min=0), 1, generator=generator))
            source = centroids[cj].clone()
            centroids[ci] = source * (1 + _SPLIT_EPS * sign)
            centroids[cj] = source * (1 - _SPLIT_EPS * sign)
            sizes[ci] = sizes[cj] / 2
            sizes[cj] -= sizes[ci]
    return centroids


def _faiss_partitions(z: np.ndarray, inits: np.ndarray, niter: int, gpu: int | None) -> list[tuple[float, np.ndarray]]:
    """``(objective, labels)`` of the partition of ``z`` that FAISS's Lloyd iterations end in, per initialisation."""
    index = faiss.IndexFlatL2(z.shape[1])
    out = []
    for init in inits:
        index.reset()
        index.add(_faiss_kmeans(z, init, niter, gpu))
        dist, labels = index.search(z, 1)
        out.append((float(dist.sum()), labels[:, 0]))
    return out


def _torch_partitions(z: np.ndarray, inits: np.ndarray, niter: int, device: torch.device, seed: int) -> list[tuple[float, np.ndarray]]:
    """:func:`_faiss_partitions` with :func:`_torch_kmeans` on ``device``; ``seed`` seeds the cluster splits."""
    rows = torch.from_numpy(z).to(device)
    norms = (rows * rows).sum(dim=1)
    generator = torch.Generator().manual_seed(seed)
    out = []
    # One thread for the reason _faiss_kmeans gives; on CUDA it only concerns the host.
    with one_thread():
        for init in inits:
            centroids = _torch_kmeans(rows, torch.from_numpy(init).to(device), niter, generator)
            labels, best = nearest(rows, centroids[None])
            out.append((float((best[:, 0] + norms).clamp(min=0).sum()), labels[:, 0].cpu().numpy()))
    return out


def _canonical(labels: np.ndarray) -> np.ndarray:
    """The partition with clusters renumbered by first appearance: equal partitions compare equal."""
    present, first = np.unique(labels, return_index=True)
    rank = np.zeros(int(present.max()) + 1, dtype=np.int64)
    rank[present[np.argsort(first)]] = np.arange(len(present))
    return rank[labels]


def _centroids(sample: torch.Tensor, shift: Optional[torch.Tensor], labels: torch.Tensor, sums: torch.Tensor) -> torch.Tensor:
    """float32 means ``(k, D)`` from float64 per-cluster ``sums``. An empty cluster takes the
    row farthest from its nearest centroid, as in scikit-learn, so that no centroid is wasted."""
    counts = torch.bincount(labels, minlength=len(sums))
    centroids = (sums / counts.clamp(min=1)[:, None]).float()
    empty = torch.nonzero(counts == 0).flatten()
    if len(empty):
        full = centroids[counts > 0][None]
        dist = torch.cat([nearest(chunk, full)[1][:, 0] + (chunk * chunk).sum(dim=1) for _, chunk in _rows(sample, shift)])
        far = torch.argsort(dist, descending=True)[: len(empty)]
        centroids[empty] = sample[far] if shift is None else sample[far] - shift
    return centroids


def _compare_partitions(sample: torch.Tensor, shift: Optional[torch.Tensor], labels: torch.Tensor, k: int) -> tuple[torch.Tensor, np.ndarray]:
    """Of the partitions ``labels (m, T)``, the one with the lowest SSI on the full-dimensional
    sample: its centroids, and the SSI of every partition (float64 ``(T,)``). One pass sums the
    rows of every cluster of every partition (float32 within a chunk, float64 across chunks);
    SSI = Σ‖x‖² − Σ_c ‖S_c‖²/n_c."""
    t = labels.shape[1]
    sums = torch.zeros(t, k, sample.shape[1], dtype=torch.float64)
    total = 0.0
    for start, chunk in _rows(sample, shift):
        part = torch.zeros(t, k, chunk.shape[1], dtype=chunk.dtype)
        for j in range(t):
            part[j].index_add_(0, labels[start : start + len(chunk), j], chunk)
        sums += part
        total += float((chunk * chunk).sum(dtype=torch.float64))
    between = [float(((sums[j] ** 2).sum(dim=1) / torch.bincount(labels[:, j], minlength=k).clamp(min=1)).sum()) for j in range(t)]
    best = int(np.argmax(between))
    return _centroids(sample, shift, labels[:, best], sums[best]), np.maximum(total - np.array(between), 0.0)


@dataclass(frozen=True)
class KMeansFit:
    """A k-means fit and how well determined it is.

    Attributes:
        centroids: ``(k, D)`` float32 centroids in shifted coordinates.
        candidate_ssi: float64 SSI on the full-dimensional fit sample of each distinct
            partition compared (the best few that the restarts ended in), ascending: the
            first is the chosen one's. Close values mean several different partitions fit
            about equally well.
        candidate_labels: int64 ``(m, T)``: the cluster of every fit row in each compared
            partition, in the order of ``candidate_ssi``.
    """

    centroids: np.ndarray
    candidate_ssi: np.ndarray
    candidate_labels: np.ndarray

    @property
    def ssi_spread(self) -> float:
        """Relative SSI excess of the worst compared partition over the chosen one (0 for one)."""
        return ssi_spread(self.candidate_ssi)


def ssi_spread(candidate_ssi: np.ndarray) -> float:
    """``(max − min) / min`` of the compared partitions' SSIs (0 for one, or a zero SSI)."""
    best = float(np.min(candidate_ssi))
    return float((np.max(candidate_ssi) - best) / best) if best > 0 else 0.0


def _copies(m: int, dim: int) -> bool:
    """Whether a fit of ``m × dim`` works on a shifted copy of its sample (at most
    :data:`_COPY_BYTES`), or shifts it chunk by chunk in every pass: a copy of a ResNet-50
    stage-3 sample (200,704 features, 1.6 GB) would double what the fit holds."""
    return 4 * m * dim <= _COPY_BYTES


def fit_bytes(m: int, dim: int, k: int) -> int:
    """Bytes :func:`fit_kmeans` allocates beyond its input for ``m`` rows of ``dim`` features:
    the float32 shifted copy of the sample (or of a chunk, see :func:`_copies`), the range
    finder's ``(D, w)`` products (``Xᵀ·Q`` in float64 while its orthonormal float64 and
    float32 copies are made), the compared partitions' sums and labels, and the per-row
    scores."""
    width = PROJECTION_DIM + _OVERSAMPLE
    chunk = 4 * dim * min(m, max(1, _CHUNK_BYTES // (4 * dim)))
    shifted = 4 * m * dim if _copies(m, dim) else chunk
    partitions = COMPARED * (12 * k * dim + 8 * m)
    if dim <= width:  # no projection: the scores are the shifted rows, a copy either way
        return 4 * m * dim + (0 if _copies(m, dim) else chunk) + partitions
    return shifted + partitions + 20 * width * dim + 28 * width * m + 4 * PROJECTION_DIM * m


def fit_partition(
    sample,
    k: int,
    *,
    shift: Optional[np.ndarray] = None,
    seed: int = 0,
    niter: int = DEFAULT_NITER,
    nredo: int = DEFAULT_NREDO,
    backend: str = DEFAULT_BACKEND,
    device: str | torch.device = "cpu",
    name: str = "features",
) -> np.ndarray:
    """Fit k-means on every row of ``sample − shift`` (see the module docstring for how).

    Args:
        sample: ``(m, D)`` fit sample (array or CPU tensor), used in float32; read, never
            modified.
        k: number of clusters, ``2 <= k <= m``.
        shift: ``(D,)`` vector close to the rows' mean, subtracted before any distance is
            computed; default the mean of ``sample``.
        seed: seeds the projection and the initialisations; the same seed and sample give
            the same centroids.
        niter: Lloyd iterations per initialisation, in the projected space.
        nredo: k-means++ initialisations in the projected space; of the partitions they end
            in, the best few by the projected objective are compared on the full sample.
        backend: who runs the Lloyd iterations: ``"faiss"`` or ``"torch"`` (module docstring).
        device: where they run: the torch backend runs on it; FAISS uses the GPU when the
            device is CUDA and FAISS has GPU support (:func:`use_faiss_gpu`), else the CPU.
            Everything else runs on the CPU, where the sample is.
        name: the hidden state, for error messages.

    Returns:
        A :class:`KMeansFit`: ``(k, D)`` float32 centroids in shifted coordinates (add
        ``shift`` for the features'), and the SSIs of the partitions compared.

    >>> x = np.concatenate([np.zeros((5, 2)), np.ones((5, 2))]).astype(np.float32)
    >>> np.sort(fit_partition(x, 2, shift=np.zeros(2)).centroids[:, 0]).tolist()
    [0.0, 1.0]
    """
    check_backend(backend)
    sample = _tensor(sample).to(torch.float32)
    check_k(k, len(sample), f"the fit sample of {name!r}")
    shift = sample.mean(dim=0, dtype=torch.float64) if shift is None else torch.as_tensor(np.asarray(shift))
    shift = shift.to(torch.float32)
    rng = np.random.default_rng(seed)
    if _copies(len(sample), sample.shape[1]):
        # One shifted copy, which every pass below reads as it is: a whole product per pass of
        # the range finder instead of a chunk shifted for each (a pass over a 2000 × 12544
        # sample: 72 ms against 107).
        sample, shift = sample - shift, None
    z = _project(sample, shift, rng, name)
    inits = _kmeans_pp(z, k, nredo, rng)
    if backend == "faiss":
        partitions = _faiss_partitions(z, inits, niter, use_faiss_gpu(device))
    else:
        # Drawn after the initialisations, so both backends start from the same ones.
        partitions = _torch_partitions(z, inits, niter, torch.device(device), int(rng.integers(2**63)))
    candidates = {}
    for objective, labels in partitions:
        labels = _canonical(labels)
        candidates.setdefault(labels.tobytes(), (objective, labels))
    # The projected objective ranks partitions only roughly (the discarded directions carry
    # several per cent of the variance): the best few are compared on the full sample.
    best = sorted(candidates.values(), key=lambda c: c[0])[:COMPARED]
    labels = np.stack([c[1] for c in best], axis=1)
    with one_thread():
        centroids, ssi = _compare_partitions(sample, shift, torch.from_numpy(labels), k)
    ranked = np.argsort(ssi, kind="stable")
    return KMeansFit(centroids.numpy(), ssi[ranked], labels[:, ranked])


def fit_kmeans(sample, k: int, **options) -> np.ndarray:
    """The centroids of :func:`fit_partition` (same arguments): ``(k, D)`` float32, shifted."""
    return fit_partition(sample, k, **options).centroids
