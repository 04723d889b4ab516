"""Per-block η² = 1 − SSI/SST of a k-means partition, in bounded memory for any N.

:func:`compute_eta2` works on hidden states in groups that fit ``max_memory`` (one group
unless the budget is tight) and runs the model once over every sample per group:

1. the model runs over the fit sample only, a seeded uniform subset of the rows, and the
   group's hidden states of those rows are kept; k-means is fitted on them
   (:func:`fit_blocks`), once per restart seed, and the kept rows are assigned and counted
   (:func:`accumulate_stats`) before they are dropped;
2. the model runs over the other rows, which are assigned and counted as they stream past.

The counts are exact per-cluster statistics, from which :func:`summarize` gives η²: SSI
and SST always count all N samples, never only the fit sample. Nothing held grows with N
(except the optional assignment record, 4 bytes per sample and hidden state).

Assignment and counting run in float64 on the model's device. On CUDA float64 is slow
next to float32 (1/64 of the rate on consumer GPUs), but moving every hidden state of every
sample to the host would cost more than the products, and float32 would let near-ties and
the sums depend on the batch; only the ``(k, D)`` sums of each batch cross to the host.

Under ``torchrun`` (a joined process group of several processes) the work is sharded; the
steps are separate (:func:`fit_blocks`, :func:`accumulate_stats`, :func:`summarize`) for
this. Each process runs the model over its share of the fit rows (whole batches of the
single-process sequence) into a zero-filled buffer of the full fit sample; a sum across
processes completes the buffer on every process, exactly, in the single-process row order.
Rank 0 fits and broadcasts the centroids, so every process assigns with the very centroids
a single process would have fitted on that sample. Each process counts its share of the fit
rows and streams its share of the other rows; the
:class:`~mixdiag.analysis.stats.ClusterStats` arrays (and the assignments) are summed
across processes before summarising. The table equals the single-process one up to the
order of float64 additions, and every process returns it. Memory is planned per process,
as for one process: each holds the full fit sample.
"""

from __future__ import annotations

import mmap
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .._device import resolve_device
from .._progress import iterate, rows_of
from ..errors import MixdiagError
from ._defaults import DEFAULT_SAMPLE_SIZE
from ._shard import analysis_world, from_main, share, sum_across, together
from .capture import FeatureCapture, taps_for
from .kmeans import (
    DEFAULT_BACKEND,
    DEFAULT_NITER,
    DEFAULT_NREDO,
    check_backend,
    check_k,
    fit_bytes,
    fit_partition,
    KMeansFit,
    nearest,
    one_thread,
    sample_order,
    ssi_spread,
)
from .sources import as_source
from .stats import ClusterStats

__all__ = [
    "DEFAULT_SAMPLE_SIZE",
    "BlockClusters",
    "fit_blocks",
    "accumulate_stats",
    "summarize",
    "compute_eta2",
]

# Below FAISS's own default of 256 rows per centroid a cut fit sample is too small to trust.
MIN_ROWS_PER_CENTROID = 256
# Bytes per feature and batch row the analysis holds while it counts a batch: the captured
# float32 copy of every hidden state of the group; the float64 shifted copy of one hidden
# state at a time is a transient (see _plan_bytes).
_CAPTURE_BYTES = 4
_SHIFTED_BYTES = 8
# Per centroid and feature: float64 centroids and float64 sums.
_CENTROID_BYTES = 16
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
    for batch in batches:
        # Drawing the next batch runs the model, with all threads, outside this block.
        with one_thread():
            for name, per_restart in stats.items():
                features = batch[name]
                features = features if isinstance(features, torch.Tensor) else torch.from_numpy(np.asarray(features))
                # Row chunks small enough that the float64 copy stays in cache for the
                # product, the norms and the sums that read it.
                step = max(1, _CHUNK_BYTES // (8 * per_restart[0].dim))
                for start in range(0, len(features), step):
                    shifted = per_restart[0].shifted(features[start : start + step].to(device))
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


def _plan_bytes(dims: Sequence[int], m: int, k: int, restarts: int, batch_size: int, *, null: bool = False) -> int:
    """What a group of hidden states with these feature counts holds at its peak: fit samples
    of ``m`` rows, one captured batch, centroids and sums, plus the largest transient of one
    hidden state (its float64 shifted batch, or its k-means fit, with the permuted copy of its
    fit sample when the null is drawn)."""
    held = sum(d * (_CAPTURE_BYTES * (m + batch_size) + _CENTROID_BYTES * restarts * k) for d in dims)
    return held + max(max(_SHIFTED_BYTES * batch_size * d, fit_bytes(m, d, k) + null * _CAPTURE_BYTES * m * d) for d in dims)


def _fit_workers(dims: Sequence[int], m: int, k: int, restarts: int, batch_size: int, max_memory: int) -> int:
    """How many k-means fits of a group may run side by side: one per torch thread, as far as
    ``max_memory`` holds the extra fits' working memory beyond what the plan counts (the
    null's draws run after them, one at a time)."""
    spare = max_memory - _plan_bytes(dims, m, k, restarts, batch_size)
    extra = spare // max(fit_bytes(m, d, k) for d in dims)
    return int(max(1, min(torch.get_num_threads(), len(dims) * restarts, 1 + extra)))


def _plan(dims: dict[str, int], want: int, sample_size, k: int, restarts: int, batch_size: int, max_memory: int, *, null: bool = False):
    """Fit-sample rows per hidden state (``want`` unless the budget says less) and the groups
    of hidden states processed together; a hidden state cut by the budget is a group alone."""

    least = min(want, MIN_ROWS_PER_CENTROID * k)
    mib = 1024**2
    rows = {}
    for name, d in dims.items():
        if _plan_bytes([d], want, k, restarts, batch_size, null=null) <= max_memory:
            rows[name] = want
            continue
        if sample_size == "all":
            need = _plan_bytes([d], want, k, restarts, batch_size, null=null)
            raise MixdiagError(
                f"sample_size='all' needs {need / mib:.0f} MiB for hidden state {name!r} ({want} x {d} float32) but max_memory is "
                f"{max_memory / mib:.0f} MiB; pass sample_size={DEFAULT_SAMPLE_SIZE} or max_memory >= {need}"
            )
        # The cost grows linearly in m: bisect for the largest affordable m.
        lo, hi = 0, want
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if _plan_bytes([d], mid, k, restarts, batch_size, null=null) <= max_memory else (lo, mid - 1)
        if lo < least:
            need = _plan_bytes([d], least, k, restarts, batch_size, null=null)
            raise MixdiagError(
                f"hidden state {name!r} has {d} features: even a fit sample of {least} rows and batches of {batch_size} need "
                f"{need / mib:.0f} MiB, over max_memory={max_memory / mib:.0f} MiB; raise max_memory to {need}, lower batch_size "
                "or use pooled features"
            )
        rows[name] = lo
        warnings.warn(
            f"hidden state {name!r} ({d} features): k-means fit sample cut from {want} to {lo} rows to stay within "
            f"max_memory={max_memory / mib:.0f} MiB; raise max_memory for the full sample",
            stacklevel=3,
        )
    groups: list[list[str]] = []
    for name in dims:  # greedy in network order: neighbouring hidden states share a pass
        group = groups[-1] if groups else []
        if (
            group
            and rows[name] == want == rows[group[0]]
            and _plan_bytes([dims[g] for g in group] + [dims[name]], want, k, restarts, batch_size, null=null) <= max_memory
        ):
            group.append(name)
        else:
            groups.append([name])
    return rows, groups


def _null_draws(samples, clusters, k: int, draws: int, seed: int, everything: Sequence[str], fitting: dict, part: str) -> dict:
    """``{name: η² of each null draw}`` for the group's fit samples. Each hidden state's draws
    are seeded by the seed and its index among the model's hidden states, so they do not
    depend on how hidden states were grouped."""
    from .null import null_eta2  # null.py builds on this module's fit and counting

    out = {}
    with one_thread():
        for name in iterate(list(samples), f"η² null draws{part}", len(samples), unit="hidden states"):
            own = np.random.SeedSequence(seed, spawn_key=(2, everything.index(name)))
            out[name] = null_eta2(samples[name], k, draws=draws, seed=own, shift=clusters[name].shift, name=name, **fitting)
    return out


def _null_columns(draws: Optional[np.ndarray]) -> dict:
    if draws is None:
        return {"eta2_null": float("nan"), "eta2_null_sd": float("nan")}
    return {"eta2_null": float(draws.mean()), "eta2_null_sd": float(draws.std(ddof=1)) if len(draws) > 1 else float("nan")}


def _probe_dims(model, x, transform, names, device, pooled, taps) -> dict[str, int]:
    first = np.zeros(1, dtype=np.int64)
    with FeatureCapture(model, x, transform, names=names, batch_size=1, device=device, pooled=pooled, indices=first, taps=taps) as batches:
        feats = next(iter(batches))
    return {name: int(feats[name].shape[1]) for name in names}


def compute_eta2(
    model: nn.Module,
    x,
    transform: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
    *,
    k: int = 10,
    sample_size: int | str = DEFAULT_SAMPLE_SIZE,
    restarts: int = 1,
    seed: int = 0,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    pooled: bool = False,
    max_memory: int = 2 * 1024**3,
    names: Optional[Sequence[str]] = None,
    return_assignments: bool = False,
    niter: int = DEFAULT_NITER,
    nredo: int = DEFAULT_NREDO,
    backend: str = DEFAULT_BACKEND,
    shard: bool = True,
    null: int = 0,
    taps=None,
) -> pd.DataFrame | tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """η² of a k-means partition of every hidden state of ``model`` on inputs ``x``.

    Args:
        model: a MixableNet or any module; ``model(x)`` returns logits.
        x: inputs ``(N, ...)``, e.g. ``ds.split("train")[0]``: a tensor, numpy array,
            Dataset or DataLoader, read batch by batch (:mod:`~mixdiag.analysis.sources`).
        transform: stored batch → model input on ``device``, e.g. ``ds.normalize``.
        k: clusters per hidden state, ``2 <= k <= N``.
        sample_size: rows per hidden state the k-means fit uses (the same rows for every
            hidden state), or ``"all"``. Cut with a warning, per hidden state, to what
            ``max_memory`` allows (never below ``min(sample_size, 256·k)`` rows: error);
            ``"all"`` is never cut: error when it does not fit.
        restarts: clusterings per hidden state with different seeds; ``eta2`` is their
            mean, ``eta2_std`` their population standard deviation (NaN for one restart:
            there is no spread to measure).
        seed: seeds the fit sample, the k-means initialisations and the null.
        batch_size: samples per forward pass.
        device: where the model runs, and the assignment and counting; the k-means fit
            uses it as :func:`~mixdiag.analysis.kmeans.fit_partition` says.
        pooled: average over spatial positions instead of flattening.
        max_memory: bytes the analysis may hold at once: the float32 fit samples and one
            captured batch (4 bytes per row and feature), the centroids and sums (16 bytes
            per centroid and feature), summed over the hidden states processed together,
            plus the largest transient of one of them (its float64 shifted batch or its
            k-means fit, see :func:`~mixdiag.analysis.kmeans.fit_bytes`). Hidden states
            that do not fit together are processed in groups, one pass over the data each.
            The model's own memory and ``x`` are not counted.
        names: hidden states to measure (block names and/or ``"output"``); default all.
        return_assignments: also return restart 0's cluster of every sample.
        niter, nredo: Lloyd iterations and initialisations per k-means fit.
        backend: who runs the k-means Lloyd iterations: ``"faiss"`` (the default when FAISS
            is installed) or ``"torch"`` (any device); see :mod:`~mixdiag.analysis.kmeans`.
        shard: in a joined process group of several processes (``torchrun``), share the
            work with the other processes, which must make the same call (module
            docstring); False computes everything in this process, e.g. when only one
            rank calls.
        null: draws of the structureless null (:mod:`~mixdiag.analysis.null`): the fit is
            repeated on the fit sample with every feature permuted independently across
            rows, and its η² counted the same way. Each draw costs one more k-means fit per
            hidden state and holds one permuted copy of its fit sample. 0 draws none.
        taps: the model's :class:`~mixdiag.models.taps.Taps` (blocks named or found);
            default :func:`~mixdiag.analysis.capture.taps_for`.

    Returns:
        A DataFrame with one row per hidden state in network order and columns
        ``block`` (index among the model's hidden states), ``module`` (block name or
        ``"output"``), ``dim``, ``n``, ``k``, ``eta2``, ``eta2_std``, ``ssi``, ``sst``
        (``ssi`` is the mean over restarts), ``fit_candidates`` and ``fit_ssi_spread``
        (:meth:`BlockClusters.fit_quality`), ``eta2_null`` and ``eta2_null_sd`` (mean and
        standard deviation over the null's draws; NaN without them). With ``return_assignments``, the tuple
        ``(DataFrame, {module: int32 (N,) cluster of every sample})``.

    >>> x, _ = ds.split("train")  # doctest: +SKIP
    >>> compute_eta2(model, x, ds.normalize, k=10)[["module", "eta2"]]  # doctest: +SKIP
    """
    x = as_source(x)
    n = len(x)
    check_k(k, n)
    if restarts < 1:
        raise MixdiagError(f"restarts must be at least 1, got {restarts}")
    if sample_size != "all" and not (isinstance(sample_size, (int, np.integer)) and sample_size >= k):
        raise MixdiagError(f"sample_size must be 'all' or an integer >= k={k}, got {sample_size!r}")
    if max_memory <= 0:
        raise MixdiagError(f"max_memory must be a positive number of bytes, got {max_memory}")
    if null < 0:
        raise MixdiagError(f"null must be 0 (no null) or a number of draws, got {null}")
    check_backend(backend)
    device = resolve_device(device)
    world = analysis_world(shard)
    taps = taps if taps is not None else taps_for(model, x, transform)
    everything, selected = taps.names, taps.select(names)
    dims = _probe_dims(model, x, transform, selected, device, pooled, taps)
    want = n if sample_size == "all" else min(sample_size, n)
    with warnings.catch_warnings():
        if not world.is_main:  # every process plans the same cut: one warning is enough
            warnings.simplefilter("ignore")
        rows, groups = _plan(dims, want, sample_size, k, restarts, batch_size, max_memory, null=null > 0)

    # One random order for all hidden states; a hidden state cut by the budget takes a
    # prefix, so the others' rows do not depend on max_memory.
    # A third child seeds the null; the first two are what they were before there was one.
    sample_seed, fit_seed, _ = np.random.SeedSequence(seed).spawn(3)
    order = sample_order(n, want, sample_seed)
    seeds = [int(s) & 0x7FFFFFFF for s in fit_seed.generate_state(restarts)]

    summaries, labels = {}, {name: np.zeros(n, dtype=np.int32) for name in selected} if return_assignments else None
    for number, group in enumerate(groups, 1):
        part = f" (group {number} of {len(groups)})" if len(groups) > 1 else ""
        capture = dict(names=group, batch_size=batch_size, device=device, pooled=pooled, taps=taps)
        fit_rows = np.sort(order[: rows[group[0]]])
        rest = np.setdiff1d(np.arange(n), fit_rows, assume_unique=True)
        my_fit, my_rest = share(len(fit_rows), batch_size, world), share(len(rest), batch_size, world)
        samples = {name: _buffer(len(fit_rows), dims[name]) for name in group}
        with together(world), FeatureCapture(model, x, transform, indices=fit_rows[my_fit], **capture) as batches:
            start = my_fit.start
            for feats in iterate(batches, f"η² fit-sample pass{part}", len(fit_rows[my_fit]), size=rows_of):
                for name in group:
                    samples[name][start : start + len(feats[name])] = _numpy(feats[name])
                start += len(feats[group[0]])
        for name in group:
            sum_across(samples[name], world, device)
        clusters, nulls = None, {}
        with together(world):
            # One process fits and sends its centroids: every process then assigns with the
            # same centroids to the bit, whatever its hardware or thread count.
            if world.is_main:
                workers = _fit_workers([dims[name] for name in group], rows[group[0]], k, restarts, batch_size, max_memory)
                fitting = dict(niter=niter, nredo=nredo, backend=backend, device=device)
                clusters = fit_blocks(samples, k, seeds=seeds, workers=workers, **fitting)
                if null:
                    nulls = _null_draws(samples, clusters, k, null, seed, everything, fitting, part)
        clusters, nulls = from_main((clusters, nulls), world)
        fit_labels, rest_labels = ({}, {}) if labels is not None else (None, None)
        with together(world):
            # The fit rows are counted from memory rather than run through the model again.
            kept = ({name: samples[name][i : i + batch_size] for name in group} for i in range(my_fit.start, my_fit.stop, batch_size))
            stats = accumulate_stats(kept, clusters, device=device, labels_out=fit_labels)
            del samples, kept  # the fit samples are the bulk of the budget
            if my_rest.stop > my_rest.start:
                with FeatureCapture(model, x, transform, indices=rest[my_rest], **capture) as batches:
                    streaming = iterate(batches, f"η² streaming pass{part}", len(rest[my_rest]), size=rows_of)
                    streamed = accumulate_stats(streaming, clusters, device=device, labels_out=rest_labels)
                for name in group:
                    for mine, theirs in zip(stats[name], streamed[name]):
                        mine.merge(theirs)
        for per_restart in stats.values():
            for s in per_restart:
                for array in (s.counts, s.sums, s.sqnorms):
                    sum_across(array, world, device)
        for name, per_restart in stats.items():
            summaries[name] = {**summarize(per_restart), **clusters[name].fit_quality(), **_null_columns(nulls.get(name))}
        if labels is not None:
            for name in group:
                for where, parts in ((fit_rows[my_fit], fit_labels), (rest[my_rest], rest_labels)):
                    if len(where):
                        labels[name][where] = np.concatenate(parts[name])
                sum_across(labels[name], world, device)

    table = pd.DataFrame([{"block": everything.index(name), "module": name, **summaries[name]} for name in selected])
    if return_assignments:
        return table, labels
    return table
