"""Fitted clusterings of hidden states, and the exact counting of samples against them.

:func:`fit_blocks` fits k-means on held fit samples (:class:`BlockClusters`);
:func:`accumulate_stats` assigns streamed samples to their nearest centroids and counts
them in float64 (:class:`~mixdiag.analysis.stats.ClusterStats`); :func:`summarize` turns the
counts of one hidden state into its row of the η² table.
"""

from __future__ import annotations

import mmap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional, Sequence

import numpy as np
import torch

from .._progress import iterate
from .kmeans import DEFAULT_BACKEND, DEFAULT_NITER, DEFAULT_NREDO, KMeansFit, fit_partition, nearest, one_thread, ssi_spread
from .stats import ClusterStats

__all__ = ["BlockClusters", "fit_blocks", "accumulate_stats", "summarize"]

# Bytes of the float64 rows of one hidden state counted at once.
_CHUNK_BYTES = 8 * 1024**2


@dataclass
class BlockClusters:
    """The fitted clusterings of one hidden state.

    Attributes:
        name: the hidden state.
        shift: ``(D,)`` float64 mean of the fit sample; features are shifted by it.
        centroids: ``(R, k, D)`` float64 centroids of the R restarts, in shifted coordinates.
        candidate_ssi: per restart, the fit-sample SSIs of the partitions its fit compared
            (:class:`~mixdiag.analysis.kmeans.KMeansFit`); empty when not recorded.
    """

    name: str
    shift: np.ndarray
    centroids: np.ndarray
    candidate_ssi: tuple = ()

    def fit_quality(self) -> dict:
        """``fit_candidates`` (fewest distinct partitions a restart compared) and
        ``fit_ssi_spread`` (the largest relative SSI excess of a compared partition over the
        chosen one); NaN when not recorded."""
        if not self.candidate_ssi:
            return {"fit_candidates": np.nan, "fit_ssi_spread": np.nan}
        return {
            "fit_candidates": min(len(ssi) for ssi in self.candidate_ssi),
            "fit_ssi_spread": max(ssi_spread(ssi) for ssi in self.candidate_ssi),
        }

    @property
    def k(self) -> int:
        return int(self.centroids.shape[1])


def fit_blocks(
    samples: Mapping[str, np.ndarray],
    k: int,
    *,
    seeds: Sequence[int],
    niter: int = DEFAULT_NITER,
    nredo: int = DEFAULT_NREDO,
    backend: str = DEFAULT_BACKEND,
    device: str | torch.device = "cpu",
    workers: int = 1,
) -> dict[str, BlockClusters]:
    """Fit k-means on the fit sample of every hidden state, once per seed.

    Every fit runs torch on one thread, so the centroids do not depend on ``workers`` or on
    the machine's thread count.

    Args:
        samples: ``{name: (m, D) float32 fit sample}``; read, not modified.
        k: clusters per hidden state.
        seeds: one seed per restart.
        niter, nredo, backend, device: passed to :func:`~mixdiag.analysis.kmeans.fit_partition`.
        workers: fits run side by side in this many threads (CPU only). A fit is a chain of
            memory-bound, mostly single-threaded steps: two side by side on two cores took
            0.65 of the time of one after another with two threads each (16 hidden states of
            PreAct-ResNet-32 on 2000 Fashion-MNIST images). Each one holds its own
            :func:`~mixdiag.analysis.kmeans.fit_bytes`.

    Returns:
        ``{name: BlockClusters}`` in the order of ``samples``.
    """
    # float64 mean of float32 rows is exact for constant rows, so constant features
    # become exactly 0 and are reported as such instead of as rounding noise.
    shifts = {name: np.asarray(sample).mean(axis=0, dtype=np.float64) for name, sample in samples.items()}
    jobs = [(name, s) for name in samples for s in seeds]

    def fit(job) -> KMeansFit:
        name, s = job
        options = dict(niter=niter, nredo=nredo, backend=backend, device=device, name=name)
        return fit_partition(samples[name], k, shift=shifts[name], seed=s, **options)

    def fit_in_worker(job) -> KMeansFit:
        # The worker thread's own setting (OpenMP keeps it per thread); it ends with the pool.
        torch.set_num_threads(1)
        return fit(job)

    threads = torch.get_num_threads()
    try:
        if workers > 1 and len(jobs) > 1 and torch.device(device).type == "cpu":
            with ThreadPoolExecutor(min(workers, len(jobs))) as pool:
                results = list(iterate(pool.map(fit_in_worker, jobs), "η² k-means fits", len(jobs), unit="fits"))
        else:
            torch.set_num_threads(1)
            results = [fit(job) for job in iterate(jobs, "η² k-means fits", len(jobs), unit="fits")]
    finally:
        torch.set_num_threads(threads)
    per_name = iter(results)
    out = {}
    for name in samples:
        fits = [next(per_name) for _ in seeds]
        out[name] = BlockClusters(name, shifts[name], np.stack([f.centroids for f in fits]), tuple(f.candidate_ssi for f in fits))
    return out


def _buffer(rows: int, dim: int) -> np.ndarray:
    """A zero-filled float32 ``(rows, dim)`` array in its own anonymous mapping, advised
    for transparent huge pages where the OS offers them: a fit sample is about a GiB of
    fresh memory, and faulting it in 4 KiB pages took 3.6 s on the benchmark machine against
    1.1 s in 2 MiB pages. The mapping is released with the last reference to the array."""
    mapping = mmap.mmap(-1, max(4 * rows * dim, 1))
    if hasattr(mmap, "MADV_HUGEPAGE"):
        mapping.madvise(mmap.MADV_HUGEPAGE)
    return np.frombuffer(mapping, dtype=np.float32, count=rows * dim).reshape(rows, dim)


def _numpy(features) -> np.ndarray:
    return features.cpu().numpy() if isinstance(features, torch.Tensor) else np.asarray(features)


def accumulate_stats(
    batches: Iterable[Mapping[str, object]],
    clusters: Mapping[str, BlockClusters],
    *,
    device: str | torch.device = "cpu",
    labels_out: Optional[dict[str, list]] = None,
) -> dict[str, list[ClusterStats]]:
    """Assign every streamed sample to each restart's centroids and count it.

    Each batch of a hidden state is shifted into float64 once, chunk by chunk; one product
    with the centroids of every restart assigns it (in float64, so no near-tie depends on
    the batch) and the same shifted copy is counted.

    Args:
        batches: iterable of ``{name: (B, D) features}`` (tensors or arrays), e.g. a
            :class:`~mixdiag.analysis.capture.FeatureCapture`.
        clusters: the fitted clusterings, from :func:`fit_blocks`.
        device: where rows are assigned and counted; features elsewhere are moved there
            chunk by chunk.
        labels_out: when a dict, receives ``{name: [int32 labels of each batch]}`` of
            restart 0.

    Returns:
        ``{name: [ClusterStats of each restart]}``.
    """
    stats = {name: [ClusterStats(c.k, c.shift, name) for _ in c.centroids] for name, c in clusters.items()}
    centroids = {name: torch.as_tensor(np.asarray(c.centroids), dtype=torch.float64, device=device) for name, c in clusters.items()}
    norms = {name: (c * c).sum(dim=2).flatten() for name, c in centroids.items()}
    shifts = {name: torch.as_tensor(c.shift, dtype=torch.float64, device=device) for name, c in clusters.items()}
    # Row chunks small enough that the float64 copy stays in cache for the product, the norms
    # and the sums that read it. One buffer per hidden state takes every chunk: a fresh 8 MB
    # tensor per chunk is a fresh mapping whose pages fault in on every write, which took
    # longer than the arithmetic (counting a 12,544-feature hidden state: 370 µs a row against
    # 160 with the buffer reused).
    steps = {name: max(1, _CHUNK_BYTES // (8 * c.centroids.shape[2])) for name, c in clusters.items()}
    buffers = {name: torch.empty(steps[name], c.centroids.shape[2], dtype=torch.float64, device=device) for name, c in clusters.items()}
    for batch in batches:
        # Drawing the next batch runs the model, with all threads, outside this block.
        with one_thread():
            for name, per_restart in stats.items():
                features = batch[name]
                features = features if isinstance(features, torch.Tensor) else torch.from_numpy(np.asarray(features))
                if features.ndim != 2 or features.shape[1] != per_restart[0].dim:
                    raise ValueError(f"expected features (B, {per_restart[0].dim}) of {name!r}, got {tuple(features.shape)}")
                step = steps[name]
                for start in range(0, len(features), step):
                    chunk = features[start : start + step].to(device)
                    shifted = torch.sub(chunk, shifts[name], out=buffers[name][: len(chunk)])
                    labels = nearest(shifted, centroids[name], norms[name])[0]
                    for r, s in enumerate(per_restart):
                        s.add(shifted, labels[:, r])
                    if labels_out is not None:
                        labels_out.setdefault(name, []).append(labels[:, 0].cpu().numpy().astype(np.int32))
    return stats


def summarize(stats: Sequence[ClusterStats]) -> dict:
    """One hidden state's row: ``dim, n, k, eta2, eta2_std, ssi, sst`` over its restarts.

    ``eta2`` and ``ssi`` are means over restarts; ``eta2_std`` is their population standard
    deviation (ddof=0: the spread of the R clusterings made). With one restart there is no
    spread to measure and ``eta2_std`` is NaN: 0.0 would read as "no spread".
    """
    eta = np.array([s.eta2() for s in stats])
    first = stats[0]
    return {
        "dim": first.dim,
        "n": first.n,
        "k": first.k,
        "eta2": float(eta.mean()),
        "eta2_std": float(eta.std(ddof=0)) if len(eta) > 1 else float("nan"),
        "ssi": float(np.mean([s.ssi() for s in stats])),
        "sst": first.sst(),
    }
