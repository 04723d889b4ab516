"""Per-block η² = 1 − SSI/SST of a k-means partition, in bounded memory for any N.

:func:`compute_eta2` plans (this module) and measures hidden states in groups that fit
``max_memory`` (one group unless the budget is tight); :mod:`.passes` runs the passes of a
group over the data, one of two ways:

1. held (the usual case): the model runs over the fit sample only, a seeded uniform subset
   of the rows, and the group's hidden states of those rows are kept; k-means is fitted on
   them (:func:`~mixdiag.analysis.clusters.fit_blocks`), once per restart seed, and the kept
   rows are assigned and counted (a :class:`~mixdiag.analysis.clusters.Counter`) before
   they are dropped; then the model runs over the other rows, which are assigned and
   counted inside the forward pass, as each block produces them;
2. sketched, for a hidden state too wide to hold its fit sample (:mod:`.sketch`): three
   passes, over the fit rows twice and over every row once.

The counts are exact per-cluster statistics, from which :func:`summarize` gives η²: SSI
and SST always count all N samples, never only the fit sample. Nothing held grows with N
(except the optional assignment record, 4 bytes per sample and hidden state).

Assignment and counting run on the model's device: labels from a float32 product, looked
at again in float64 wherever rounding could have changed them, and float64 counts (see
:class:`~mixdiag.analysis.clusters.Counter`), so neither labels nor sums depend on the
batch. On CUDA only the ``(k, D)`` sums of each batch cross to the host.

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

import warnings
from typing import Callable, Optional, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .._device import resolve_device
from ..errors import MixdiagError
from ._defaults import DEFAULT_SAMPLE_SIZE
from ._shard import analysis_world, sum_across
from .capture import FeatureCapture, taps_for
from .clusters import LANES, BlockClusters, _numpy, accumulate_stats, fit_blocks, summarize
from .kmeans import (
    COMPARED,
    DEFAULT_BACKEND,
    DEFAULT_NITER,
    DEFAULT_NREDO,
    check_backend,
    check_k,
    fit_bytes,
    sample_order,
)
from .passes import Passes, held_group, null_columns, reduce_stats, sketched_group
from .sketch import SKETCH_DIM
from .sources import as_source

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
# float32 copy of every hidden state of the group; the float64 and float32 shifted chunks of
# one hidden state at a time, in each counting thread, are a transient (see _plan_bytes).
_CAPTURE_BYTES = 4
_SHIFTED_BYTES = 12 * LANES
# Per centroid and feature: float64 centroids and their float32 copy, and float64 sums in
# each of the counting threads (clusters.LANES).
_CENTROID_BYTES = 12 + 8 * LANES


def _plan_bytes(dims: Sequence[int], m: int, k: int, restarts: int, batch_size: int, *, null: bool = False) -> int:
    """What a group of hidden states with these feature counts holds at its peak: fit samples
    of ``m`` rows, one captured batch, centroids and sums, plus the largest transient of one
    hidden state (its shifted batch being counted, or its k-means fit, with the permuted copy
    of its fit sample when the null is drawn)."""
    held = sum(d * (_CAPTURE_BYTES * (m + batch_size) + _CENTROID_BYTES * restarts * k) for d in dims)
    return held + max(max(_SHIFTED_BYTES * batch_size * d, fit_bytes(m, d, k) + null * _CAPTURE_BYTES * m * d) for d in dims)


def _fit_workers(dims: Sequence[int], m: int, k: int, restarts: int, batch_size: int, max_memory: int) -> int:
    """How many k-means fits of a group may run side by side: one per torch thread, as far as
    ``max_memory`` holds the extra fits' working memory beyond what the plan counts (the
    null's draws run after them, one at a time)."""
    spare = max_memory - _plan_bytes(dims, m, k, restarts, batch_size)
    extra = spare // max(fit_bytes(m, d, k) for d in dims)
    return int(max(1, min(torch.get_num_threads(), len(dims) * restarts, 1 + extra)))


def _sketch_bytes(dims: Sequence[int], m: int, k: int, restarts: int, batch_size: int) -> int:
    """What a group of sketched hidden states (:mod:`.sketch`) holds at its peak: per hidden
    state its sketched fit sample, four full-width float64 vectors (sums, means, offset,
    shift), one captured batch, and the larger of the candidates' float32 sums (pass B) and
    the centroids and counts (pass C); plus the largest transient of one of them (its
    shifted and signed copies of a batch with two float64 copies of one candidate's sums,
    its shifted batch being counted, or the fit on its sketch)."""
    held = sum(
        _CAPTURE_BYTES * m * SKETCH_DIM + 32 * d + _CAPTURE_BYTES * batch_size * d
        + max(_CAPTURE_BYTES * COMPARED * restarts * k * d, _CENTROID_BYTES * restarts * k * d)
        for d in dims
    )
    return held + max(max(8 * batch_size * d + 16 * k * d, _SHIFTED_BYTES * batch_size * d, fit_bytes(m, SKETCH_DIM, k)) for d in dims)


def _plan(dims: dict[str, int], want: int, sample_size, k: int, restarts: int, batch_size: int, max_memory: int, *, null: bool = False):
    """Fit-sample rows per hidden state (``want`` unless the budget says less), the groups of
    hidden states processed together, and which of them are sketched. A hidden state whose
    fit sample does not fit the budget is sketched when it is wider than the sketch (and the
    sketched plan fits), else its fit sample is cut and it is a group alone."""

    least = min(want, MIN_ROWS_PER_CENTROID * k)
    mib = 1024**2
    rows, sketched = {}, set()
    for name, d in dims.items():
        if _plan_bytes([d], want, k, restarts, batch_size, null=null) <= max_memory:
            rows[name] = want
            continue
        if d > SKETCH_DIM and _sketch_bytes([d], want, k, restarts, batch_size) <= max_memory:
            rows[name] = want
            sketched.add(name)
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
    def fits(group: list[str]) -> bool:
        group_dims = [dims[g] for g in group]
        if group[0] in sketched:
            # Half the budget for a group of several: a ResNet-50 run at 224x224 (512 images)
            # whose plan put seven sketched blocks in one group (1.47 GB planned) raised the RSS
            # by 2.69 GB against its 2 GiB budget; which of its groups did it was not measured.
            # A synthetic group of three used 1.14 times its plan, the model's activations
            # included.
            return len(group) == 1 or _sketch_bytes(group_dims, want, k, restarts, batch_size) <= max_memory / 2
        return _plan_bytes(group_dims, want, k, restarts, batch_size, null=null) <= max_memory

    groups: list[list[str]] = []
    for name in dims:  # greedy in network order: neighbouring hidden states share a pass
        group = groups[-1] if groups else []
        alike = group and (group[0] in sketched) == (name in sketched)
        if alike and rows[name] == want == rows[group[0]] and fits(group + [name]):
            group.append(name)
        else:
            groups.append([name])
    return rows, groups, sketched


def _probe(model, x, transform, names, device, pooled, taps) -> dict[str, np.ndarray]:
    """Every hidden state's float32 features ``(D,)`` of sample 0: their widths plan the
    memory, and a sketched hidden state is shifted by them."""
    first = np.zeros(1, dtype=np.int64)
    with FeatureCapture(model, x, transform, names=names, batch_size=1, device=device, pooled=pooled, indices=first, taps=taps) as batches:
        feats = next(iter(batches))
    return {name: _numpy(feats[name])[0].copy() for name in names}


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
            captured batch (4 bytes per row and feature), the centroids and sums (28 bytes
            per centroid and feature: float64 and float32 centroids, float64 sums in each of
            two counting threads), summed over the hidden states processed together,
            plus the largest transient of one of them (its shifted batch being counted or its
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
    first = _probe(model, x, transform, selected, device, pooled, taps)
    want = n if sample_size == "all" else min(sample_size, n)
    with warnings.catch_warnings():
        if not world.is_main:  # every process plans the same cut: one warning is enough
            warnings.simplefilter("ignore")
        dims = {name: len(features) for name, features in first.items()}
        rows, groups, sketched = _plan(dims, want, sample_size, k, restarts, batch_size, max_memory, null=null > 0)

    # One random order for all hidden states; a hidden state cut by the budget takes a
    # prefix, so the others' rows do not depend on max_memory. A third child seeds the null;
    # the first two are what they were before there was one.
    sample_seed, fit_seed, _ = np.random.SeedSequence(seed).spawn(3)
    order = sample_order(n, want, sample_seed)
    run = Passes(
        model, x, transform, taps, device, pooled, batch_size, world, k, seed,
        seeds=[int(s) & 0x7FFFFFFF for s in fit_seed.generate_state(restarts)],
        names=everything,
        fitting=dict(niter=niter, nredo=nredo, backend=backend, device=device),
        labels={name: np.zeros(n, dtype=np.int32) for name in selected} if return_assignments else None,
        null=null,
    )
    summaries = {}
    for number, group in enumerate(groups, 1):
        run.part = f" (group {number} of {len(groups)})" if len(groups) > 1 else ""
        fit_rows = np.sort(order[: rows[group[0]]])
        if group[0] in sketched:
            stats, clusters, nulls = sketched_group(run, group, fit_rows, dims, first)
        else:
            run.workers = _fit_workers([dims[name] for name in group], rows[group[0]], k, restarts, batch_size, max_memory)
            stats, clusters, nulls = held_group(run, group, fit_rows, dims)
        reduce_stats(stats, world, device)
        for name, per_restart in stats.items():
            summaries[name] = {**summarize(per_restart), **clusters[name].fit_quality(), **null_columns(nulls.get(name))}
        if run.labels is not None:
            for name in group:
                sum_across(run.labels[name], world, device)
    if null and sketched and world.is_main:
        warnings.warn(
            f"no null for {', '.join(sorted(sketched, key=everything.index))}: too wide to hold a permuted fit sample "
            "within max_memory (eta2_null is NaN there); raise max_memory to draw it",
            stacklevel=2,
        )

    table = pd.DataFrame([{"block": everything.index(name), "module": name, **summaries[name]} for name in selected])
    if return_assignments:
        return table, run.labels
    return table
