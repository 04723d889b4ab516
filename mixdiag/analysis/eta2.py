"""Per-block η² = 1 − SSI/SST of a k-means partition, in bounded memory for any N.

:func:`compute_eta2` works on hidden states in groups that fit ``max_memory`` and makes
two passes over the data per group:

1. stream the data once and keep a seeded uniform fit sample of each hidden state;
   fit k-means on it (:func:`fit_blocks`), once per restart seed;
2. stream the data again, assign every sample to each restart's centroids and accumulate
   exact per-cluster statistics (:func:`accumulate_stats`), from which :func:`summarize`
   gives η². SSI and SST always count all N samples, never only the fit sample.

Nothing held grows with N (except the optional assignment record, 4 bytes per sample and
hidden state). :func:`fit_blocks`, :func:`accumulate_stats` and :func:`summarize` are
separate so that a multi-process run can fit once, accumulate per shard and all-reduce the
:class:`~mixdiag.analysis.stats.ClusterStats` arrays before summarising.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .._device import resolve_device
from ..errors import MixdiagError
from .capture import FeatureCapture, hidden_states
from .kmeans import DEFAULT_NITER, DEFAULT_NREDO, FitSample, assign, check_k, fit_kmeans, sample_order, use_faiss_gpu
from .stats import ClusterStats

__all__ = [
    "DEFAULT_SAMPLE_SIZE",
    "BlockClusters",
    "fit_blocks",
    "accumulate_stats",
    "summarize",
    "compute_eta2",
]

# Centroids estimated from m rows cost about k/m of relative SSI over centroids from all
# rows; at k=10, 20000 rows (2000 per centroid) put that near 0.05%, far inside the 1%
# quality target, while local optima (handled by nredo) are the real risk.
DEFAULT_SAMPLE_SIZE = 20_000
# Below FAISS's own default of 256 rows per centroid the fit sample is too small to trust.
MIN_ROWS_PER_CENTROID = 256
# Bytes per feature of what one batch costs while it is processed: the captured float32
# copy, its float32 shifted copy for FAISS and the float64 shifted copy in ClusterStats.
_BATCH_BYTES_PER_FEATURE = 16
# Per centroid and feature: float32 centroids and float64 sums.
_CENTROID_BYTES_PER_FEATURE = 12


@dataclass
class BlockClusters:
    """The fitted clusterings of one hidden state.

    Attributes:
        name: the hidden state.
        shift: ``(D,)`` float64 mean of the fit sample; features are shifted by it.
        centroids: ``(R, k, D)`` float32 centroids of the R restarts, in shifted coordinates.
    """

    name: str
    shift: np.ndarray
    centroids: np.ndarray

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
    gpu: Optional[int] = None,
) -> dict[str, BlockClusters]:
    """Fit k-means on the fit sample of every hidden state, once per seed.

    Args:
        samples: ``{name: (m, D) float32 fit sample}``; each array is shifted by its mean
            *in place* (the samples can be large; callers drop them after the fit).
        k: clusters per hidden state.
        seeds: one FAISS seed per restart.
        niter, nredo, gpu: passed to :func:`~mixdiag.analysis.kmeans.fit_kmeans`.

    Returns:
        ``{name: BlockClusters}`` in the order of ``samples``.
    """
    fitted = {}
    for name, sample in samples.items():
        # float64 mean of float32 rows is exact for constant rows, so constant features
        # become exactly 0 and are reported as such instead of as rounding noise.
        shift = sample.mean(axis=0, dtype=np.float64)
        sample -= shift.astype(np.float32)
        centroids = np.stack([fit_kmeans(sample, k, seed=s, niter=niter, nredo=nredo, gpu=gpu, name=name) for s in seeds])
        fitted[name] = BlockClusters(name, shift, centroids)
    return fitted


def _numpy(features) -> np.ndarray:
    return features.cpu().numpy() if isinstance(features, torch.Tensor) else np.asarray(features)


def accumulate_stats(
    batches: Iterable[Mapping[str, object]],
    clusters: Mapping[str, BlockClusters],
    *,
    gpu: Optional[int] = None,
    labels_out: Optional[dict[str, list]] = None,
) -> dict[str, list[ClusterStats]]:
    """Assign every streamed sample to each restart's centroids and count it.

    Args:
        batches: iterable of ``{name: (B, D) features}`` (tensors or arrays), e.g. a
            :class:`~mixdiag.analysis.capture.FeatureCapture`.
        clusters: the fitted clusterings, from :func:`fit_blocks`.
        gpu: CUDA device index for FAISS assignment, or None.
        labels_out: when a dict, receives ``{name: [int32 labels of each batch]}`` of
            restart 0.

    Returns:
        ``{name: [ClusterStats of each restart]}``.
    """
    stats = {name: [ClusterStats(c.k, c.shift, name) for _ in c.centroids] for name, c in clusters.items()}
    for batch in batches:
        for name, c in clusters.items():
            x = _numpy(batch[name])
            shifted = x - c.shift.astype(np.float32)
            for r, centroids in enumerate(c.centroids):
                labels = assign(shifted, centroids, gpu=gpu)
                stats[name][r].update(x, labels)
                if r == 0 and labels_out is not None:
                    labels_out.setdefault(name, []).append(labels.astype(np.int32))
    return stats


def summarize(stats: Sequence[ClusterStats]) -> dict:
    """One hidden state's row: ``dim, n, k, eta2, eta2_std, ssi, sst`` over its restarts.

    ``eta2`` and ``ssi`` are means over restarts; ``eta2_std`` is their population standard
    deviation (ddof=0: the spread of the R clusterings made, 0.0 for a single restart).
    """
    eta = np.array([s.eta2() for s in stats])
    first = stats[0]
    return {
        "dim": first.dim,
        "n": first.n,
        "k": first.k,
        "eta2": float(eta.mean()),
        "eta2_std": float(eta.std(ddof=0)),
        "ssi": float(np.mean([s.ssi() for s in stats])),
        "sst": first.sst(),
    }


def _plan(dims: dict[str, int], want: int, sample_size, k: int, restarts: int, batch_size: int, max_memory: int):
    """Fit-sample rows per hidden state (``want`` unless the budget says less) and the groups
    of hidden states processed together."""
    least = min(want, MIN_ROWS_PER_CENTROID * k)
    mib = 1024**2
    rows, cost = {}, {}
    for name, d in dims.items():
        fixed = d * (_BATCH_BYTES_PER_FEATURE * batch_size + _CENTROID_BYTES_PER_FEATURE * restarts * k)
        affordable = (max_memory - fixed) // (4 * d)
        if affordable >= want:
            rows[name] = want
        elif sample_size == "all":
            need = fixed + 4 * d * want
            raise MixdiagError(
                f"sample_size='all' needs {need / mib:.0f} MiB for hidden state {name!r} ({want} x {d} float32) but max_memory is "
                f"{max_memory / mib:.0f} MiB; pass sample_size={DEFAULT_SAMPLE_SIZE} or max_memory >= {need}"
            )
        elif affordable < least:
            need = fixed + 4 * d * least
            raise MixdiagError(
                f"hidden state {name!r} has {d} features: even a fit sample of {least} rows and batches of {batch_size} need "
                f"{need / mib:.0f} MiB, over max_memory={max_memory / mib:.0f} MiB; raise max_memory to {need}, lower batch_size "
                "or use pooled features"
            )
        else:
            rows[name] = int(affordable)
            warnings.warn(
                f"hidden state {name!r} ({d} features): k-means fit sample cut from {want} to {affordable} rows to stay within "
                f"max_memory={max_memory / mib:.0f} MiB; raise max_memory for the full sample",
                stacklevel=3,
            )
        cost[name] = fixed + 4 * d * rows[name]
    groups, used = [], max_memory
    for name in dims:  # greedy in network order: neighbouring blocks share a pass
        if used + cost[name] > max_memory:
            groups.append([])
            used = 0
        groups[-1].append(name)
        used += cost[name]
    return rows, groups


def _probe_dims(model, x, transform, names, device, pooled) -> dict[str, int]:
    with FeatureCapture(model, x[:1], transform, names=names, batch_size=1, device=device, pooled=pooled) as batches:
        feats = next(iter(batches))
    return {name: int(feats[name].shape[1]) for name in names}


def compute_eta2(
    model: nn.Module,
    x: torch.Tensor,
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
) -> pd.DataFrame | tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """η² of a k-means partition of every hidden state of ``model`` on inputs ``x``.

    Args:
        model: a module with ``block_names``; ``model(x)`` returns logits.
        x: stored inputs ``(N, ...)``, e.g. ``ds.split("train")[0]``.
        transform: stored batch → model input on ``device``, e.g. ``ds.normalize``.
        k: clusters per hidden state, ``2 <= k <= N``.
        sample_size: rows per hidden state the k-means fit uses (the same rows for every
            hidden state), or ``"all"``. Cut with a warning, per hidden state, to what
            ``max_memory`` allows (never below ``min(sample_size, 256·k)`` rows: error);
            ``"all"`` is never cut: error when it does not fit.
        restarts: clusterings per hidden state with different seeds; ``eta2`` is their
            mean, ``eta2_std`` their population standard deviation (0.0 for one restart).
        seed: seeds the fit sample and the k-means initialisations.
        batch_size: samples per forward pass.
        device: where the model runs; FAISS uses the GPU too when the device is CUDA and
            FAISS has GPU support.
        pooled: average over spatial positions instead of flattening.
        max_memory: bytes the analysis may hold at once: the fit samples (4 bytes per row
            and feature), one batch of features (16 bytes per sample and feature) and the
            centroids and sums (12 bytes per centroid and feature), summed over the hidden
            states processed together. Hidden states that do not fit together are
            processed in groups, two passes over the data each. The model's own memory and
            ``x`` are not counted.
        names: hidden states to measure (block names and/or ``"output"``); default all.
        return_assignments: also return restart 0's cluster of every sample.
        niter, nredo: Lloyd iterations and initialisations per k-means fit.

    Returns:
        A DataFrame with one row per hidden state in network order and columns
        ``block`` (index among the model's hidden states), ``module`` (block name or
        ``"output"``), ``dim``, ``n``, ``k``, ``eta2``, ``eta2_std``, ``ssi``, ``sst``
        (``ssi`` is the mean over restarts). With ``return_assignments``, the tuple
        ``(DataFrame, {module: int32 (N,) cluster of every sample})``.

    >>> x, _ = ds.split("train")  # doctest: +SKIP
    >>> compute_eta2(model, x, ds.normalize, k=10)[["module", "eta2"]]  # doctest: +SKIP
    """
    n = len(x)
    check_k(k, n)
    if restarts < 1:
        raise MixdiagError(f"restarts must be at least 1, got {restarts}")
    if sample_size != "all" and not (isinstance(sample_size, (int, np.integer)) and sample_size >= k):
        raise MixdiagError(f"sample_size must be 'all' or an integer >= k={k}, got {sample_size!r}")
    if max_memory <= 0:
        raise MixdiagError(f"max_memory must be a positive number of bytes, got {max_memory}")
    device = resolve_device(device)
    gpu = use_faiss_gpu(device)
    everything = hidden_states(model)
    selected = hidden_states(model, names)
    dims = _probe_dims(model, x, transform, selected, device, pooled)
    want = n if sample_size == "all" else min(sample_size, n)
    rows, groups = _plan(dims, want, sample_size, k, restarts, batch_size, max_memory)

    # One random order for all hidden states; a hidden state cut by the budget takes a
    # prefix, so the others' rows do not depend on max_memory.
    sample_seed, fit_seed = np.random.SeedSequence(seed).spawn(2)
    order = sample_order(n, want, sample_seed)
    seeds = [int(s) & 0x7FFFFFFF for s in fit_seed.generate_state(restarts)]

    summaries, labels = {}, ({} if return_assignments else None)
    for group in groups:
        capture = dict(names=group, batch_size=batch_size, device=device, pooled=pooled)
        samples = {name: FitSample(order[: rows[name]], dims[name]) for name in group}
        with FeatureCapture(model, x, transform, **capture) as batches:
            start = 0
            for feats in batches:
                for name in group:
                    samples[name].add(start, _numpy(feats[name]))
                start += len(feats[group[0]])
        clusters = fit_blocks({name: s.rows for name, s in samples.items()}, k, seeds=seeds, niter=niter, nredo=nredo, gpu=gpu)
        del samples  # the fit samples are the bulk of the budget; free them before pass 2
        with FeatureCapture(model, x, transform, **capture) as batches:
            stats = accumulate_stats(batches, clusters, gpu=gpu, labels_out=labels)
        summaries.update({name: summarize(s) for name, s in stats.items()})

    table = pd.DataFrame([{"block": everything.index(name), "module": name, **summaries[name]} for name in selected])
    if return_assignments:
        return table, {name: np.concatenate(labels[name]) for name in selected}
    return table
