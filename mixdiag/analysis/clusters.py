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
from .stats import ClusterStats, squared_norms

__all__ = ["BlockClusters", "fit_blocks", "Counter", "accumulate_stats", "summarize"]

# Bytes of the float64 rows of one hidden state counted at once: 41 rows of a 12,544-feature
# block (32 to 64 counted fastest).
_CHUNK_BYTES = 4 * 1024**2


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


class Counter:
    """Assigns rows of hidden states to each restart's nearest centroid and counts them, as they come.

    Each chunk of rows is shifted in a buffer small enough to stay in cache; one product with
    the centroids of every restart assigns it, with float64 labels (see :class:`_Plan`), and
    the same shifted chunk is counted in float64. :meth:`add` reads its rows
    once and keeps no reference to them, so it may be given a view of a block output that
    is valid only during the call (a :class:`~mixdiag.analysis.capture.FeatureCapture`
    with ``consume``): the rows are counted while the forward pass has them in cache.

    On the CPU with several torch threads the rows of each call are split between
    :data:`LANES` threads, each counting into its own statistics (merged by
    :meth:`result`): the products here are too small to split across threads inside torch,
    and on one thread the second core would wait for them.

    Args:
        clusters: ``{name: BlockClusters}``, from :func:`fit_blocks`.
        device: where rows are assigned and counted; rows elsewhere are moved there chunk
            by chunk.
        labels_out: when a dict, receives ``{name: [int32 labels of each call]}`` of restart 0.
    """

    def __init__(
        self,
        clusters: Mapping[str, BlockClusters],
        *,
        device: str | torch.device = "cpu",
        labels_out: Optional[dict[str, list]] = None,
    ):
        device = torch.device(device)
        lanes = min(LANES, torch.get_num_threads()) if device.type == "cpu" else 1
        plans = {name: _Plan(c, device) for name, c in clusters.items()}  # read-only: shared
        self._lanes = [_Lane(clusters, plans, device) for _ in range(lanes)]
        self._pool = ThreadPoolExecutor(lanes - 1) if lanes > 1 else None
        self._labels_out = labels_out

    def add(self, name: str, features) -> None:
        """Assign and count ``features (B, D)`` (tensor or array) of hidden state ``name``."""
        features = features if isinstance(features, torch.Tensor) else torch.from_numpy(np.asarray(features))
        lane = self._lanes[0]
        if features.ndim != 2 or features.shape[1] != lane.stats[name][0].dim:
            raise ValueError(f"expected features (B, {lane.stats[name][0].dim}) of {name!r}, got {tuple(features.shape)}")
        parts = _even_parts(features, len(self._lanes), max(1, lane.steps[name] // 2))
        with one_thread():
            futures = [self._pool.submit(_in_worker, other.add, name, part) for other, part in zip(self._lanes[1:], parts[1:])]
            labels = [lane.add(name, parts[0])] + [f.result() for f in futures]
        if self._labels_out is not None:
            self._labels_out.setdefault(name, []).append(torch.cat(labels)[:, 0].cpu().numpy().astype(np.int32))

    def result(self) -> dict[str, list[ClusterStats]]:
        """``{name: [ClusterStats of each restart]}`` of everything added; ends the lanes' threads."""
        if self._pool is not None:
            self._pool.shutdown()
        first, *others = self._lanes
        for other in others:
            for name, per_restart in first.stats.items():
                for mine, theirs in zip(per_restart, other.stats[name]):
                    mine.merge(theirs)
        return first.stats


# Threads that count the rows of one call side by side on the CPU (see Counter); each holds
# its own float64 sums, 8 bytes per centroid and feature.
LANES = 2


def _even_parts(rows: torch.Tensor, parts: int, least: int) -> list[torch.Tensor]:
    """``rows`` cut into at most ``parts`` consecutive slices whose lengths differ by at most
    one, each of at least ``least`` rows (a call too small for that stays whole): the lanes
    wait for the slowest, so the work is split evenly, not into whole chunks (which gave one
    lane 164 rows of a 256-row stage-1 batch, four whole chunks, and the other 92)."""
    return list(rows.tensor_split(max(1, min(parts, len(rows) // least))))


def _in_worker(add, name, part):
    # The worker thread's own setting (OpenMP keeps it per thread).
    torch.set_num_threads(1)
    return add(name, part)


class _Lane:
    """One thread's share of a :class:`Counter`: statistics and chunk buffers."""

    def __init__(self, clusters: Mapping[str, BlockClusters], plans: Mapping[str, "_Plan"], device: torch.device):
        self.device = device
        self.plans = plans
        self.stats = {name: [ClusterStats(c.k, c.shift, name) for _ in c.centroids] for name, c in clusters.items()}
        # Row chunks small enough to stay in cache for the product, the norms and the sums
        # that read them. One pair of buffers takes every chunk of every hidden state, grown to
        # the largest chunk met (at most 12 bytes per feature and row of a call): a fresh
        # tensor per chunk is a fresh mapping whose pages fault in on every write, which took
        # longer than the arithmetic.
        self.steps = {name: max(1, _CHUNK_BYTES // (8 * c.centroids.shape[2])) for name, c in clusters.items()}
        self._single = torch.empty(0, dtype=torch.float32, device=device)
        self._double = torch.empty(0, dtype=torch.float64, device=device)

    def add(self, name: str, features: torch.Tensor) -> torch.Tensor:
        """Count ``features`` of ``name``; their int64 labels ``(B, restarts)``."""
        step, dim, plan = self.steps[name], features.shape[1], self.plans[name]
        per_restart = self.stats[name]
        if not len(features):
            return torch.zeros(0, len(per_restart), dtype=torch.int64)
        size = min(step, len(features)) * dim
        if size > self._double.numel():
            self._single = self._single.new_empty(size)
            self._double = self._double.new_empty(size)
        out = []
        # Chunks of equal size, at most step rows: no short tail chunk.
        for chunk in features.tensor_split(-(-len(features) // step)):
            chunk = chunk.to(self.device)
            rows = len(chunk)
            double = self._double[: rows * dim].view(rows, dim).copy_(chunk).sub_(plan.shift)
            single = self._single[: rows * dim].view(rows, dim).copy_(double)
            norms = squared_norms(double)  # checked for non-finite rows by ClusterStats.add
            labels = plan.nearest(single, double, norms)
            for r, s in enumerate(per_restart):
                s.add(double, labels[:, r], norms)
            out.append(labels)
        return torch.cat(out)


class _Plan:
    """How one hidden state's rows are assigned: a float32 product, float64 where it might err.

    Rows are shifted by the fit-sample mean in float64, where they are counted. Each row's
    squared distance to every centroid of every restart, less its own squared norm, comes
    from one product of the rows' and the centroids' float32 roundings; wherever rounding
    could have changed a row's nearest centroid (its two best scores closer than twice a
    worst-case bound on a score's error, linear in the row's norm), the row is assigned again
    in float64. So the labels are those of float64 arithmetic, independent of batch and
    chunk, while the product costs float32's time (half of float64's): on the block features
    of a briefly trained PreAct-ResNet-32, 1 row in 2,000 needed the second look.
    """

    def __init__(self, clusters: BlockClusters, device: torch.device):
        self.shift = torch.as_tensor(clusters.shift, dtype=torch.float64, device=device)
        self.double = torch.as_tensor(np.asarray(clusters.centroids), dtype=torch.float64, device=device)
        self.t, self.k, dim = self.double.shape
        self.norms = (self.double * self.double).sum(dim=2).flatten()
        self.single = self.double.reshape(self.t * self.k, dim).float()
        self.single_norms = self.norms.float()[:, None]
        # A float32 score ‖c‖² − 2 x·c errs by at most (2γ_D + 6u)·‖x‖·‖c‖ + 2u·‖c‖²: the dot
        # product of D terms (γ_D = D·u/(1 − D·u), Higham 2002, §3.1), the rounding of the row
        # and of the centroid to float32 (u each), of ‖c‖² and of the sum (u each, the sum
        # being at most ‖c‖² + 2‖x‖·‖c‖). A difference of two scores errs by twice that; the
        # bound is doubled again for the second-order terms left out.
        u = 2.0**-24
        gamma = dim * u / (1 - dim * u) if dim * u < 0.5 else float("inf")
        largest = self.double.norm(dim=2).max(dim=1).values[None, :]  # (1, t)
        self.a = 4 * (2 * gamma + 6 * u) * largest
        self.b = 8 * u * largest**2

    def nearest(self, single: torch.Tensor, double: torch.Tensor, norms: torch.Tensor) -> torch.Tensor:
        """int64 labels ``(B, t)`` of float32 rows ``single`` (equal to ``double``), whose float64
        squared norms are ``norms``."""
        scores = torch.addmm(self.single_norms, self.single, single.T, alpha=-2)  # (t·k, B): the fast layout
        best = scores.reshape(self.t, self.k, -1).topk(2, dim=1, largest=False)
        labels = best.indices[:, 0].T.contiguous()
        gap = (best.values[:, 1] - best.values[:, 0]).T.double()
        bound = self.a * norms.clamp(min=0).sqrt()[:, None] + self.b
        # NaN gaps (non-finite rows or overflowing scores) are looked at again too.
        close = torch.nonzero(~(gap > bound).all(dim=1)).flatten()
        if len(close):
            labels[close] = nearest(double[close], self.double, self.norms)[0]
        return labels


def accumulate_stats(
    batches: Iterable[Mapping[str, object]],
    clusters: Mapping[str, BlockClusters],
    *,
    device: str | torch.device = "cpu",
    labels_out: Optional[dict[str, list]] = None,
) -> dict[str, list[ClusterStats]]:
    """Assign every streamed sample to each restart's centroids and count it (a :class:`Counter`).

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
    counter = Counter(clusters, device=device, labels_out=labels_out)
    try:
        for batch in batches:
            for name in clusters:
                counter.add(name, batch[name])
    finally:
        stats = counter.result()
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
