"""The passes over the data that measure one group of hidden states.

:func:`~mixdiag.analysis.eta2.compute_eta2` plans the groups; each is measured by one of two
protocols, which return the same things (per-restart counts and the fitted clusterings):

* :func:`held_group`: the model runs over the fit rows once, their hidden states are held,
  k-means is fitted on them and they are counted from memory; the model then runs over the
  other rows, which are counted as they stream past. Two passes in all.
* :func:`sketched_group`, for hidden states too wide to hold (:mod:`.sketch`): the fit rows
  are sketched in one pass, k-means proposes candidate partitions of the sketch, a second
  pass over the fit rows chooses among them and gives their centroids in the full
  dimension, and a third pass counts every sample. Three passes, nothing of full width held
  but per-cluster sums.

Under ``torchrun`` every pass is shared among the processes and rank 0 fits (see
:mod:`~mixdiag.analysis.eta2`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Sequence

import numpy as np
import torch

from .._progress import iterate, rows_of
from ._shard import World, from_main, share, sum_across, together
from .capture import FeatureCapture
from .clusters import BlockClusters, Counter, _buffer, _numpy, fit_blocks
from .kmeans import fit_partition, one_thread
from .null import null_eta2
from .sketch import SKETCH_DIM, CountSketch

__all__ = ["Passes", "held_group", "sketched_group", "null_columns", "reduce_stats"]


@dataclass
class Passes:
    """What every group's passes share: the model and its data, and how to fit.

    Attributes:
        fitting: ``niter``, ``nredo``, ``backend``, ``device`` for the k-means fits.
        seeds: one k-means seed per restart.
        names: every hidden state of the model, in network order (seeds that must not
            depend on the grouping are derived from a hidden state's index in it).
        labels: ``{name: int32 (N,)}`` filled with restart 0's cluster of every sample,
            or None when assignments are not wanted.
    """

    model: torch.nn.Module
    x: object
    transform: Optional[Callable]
    taps: object
    device: torch.device
    pooled: bool
    batch_size: int
    world: World
    k: int
    seed: int
    seeds: Sequence[int]
    names: Sequence[str]
    fitting: dict
    labels: Optional[dict] = None
    part: str = ""
    workers: int = 1
    null: int = 0

    def _capture(self, group: Sequence[str], indices: np.ndarray, consume=None) -> FeatureCapture:
        return FeatureCapture(
            self.model, self.x, self.transform, names=group, batch_size=self.batch_size, device=self.device,
            pooled=self.pooled, indices=indices, taps=self.taps, consume=consume,
        )

    @contextlib.contextmanager
    def over(self, group: Sequence[str], indices: np.ndarray, what: str) -> Iterator[Iterator[dict]]:
        """The hidden states ``group`` of the samples ``indices``, batch by batch (a
        :class:`FeatureCapture`), reported as the phase ``what``."""
        with self._capture(group, indices) as batches:
            yield iterate(batches, f"η² {what}{self.part}", len(indices), size=rows_of)

    def feed(self, group: Sequence[str], indices: np.ndarray, what: str, consume: Callable[[str, torch.Tensor], None]) -> int:
        """Run the model over the samples ``indices``, handing each hidden state of ``group``
        to ``consume(name, features)`` as the forward pass produces it (a view valid only
        during the call: see :class:`FeatureCapture`); reported as the phase ``what``.
        Returns the number of rows run."""
        with self._capture(group, indices, consume) as batches:
            return sum(iterate(batches, f"η² {what}{self.part}", len(indices), size=int))

    def record(self, name: str, rows: np.ndarray, parts: Optional[dict]) -> None:
        """Put restart 0's labels of ``rows`` (collected batch by batch in ``parts``) into :attr:`labels`."""
        if self.labels is not None and len(rows):
            self.labels[name][rows] = np.concatenate(parts[name])


def held_group(run: Passes, group: Sequence[str], fit_rows: np.ndarray, dims: dict) -> tuple[dict, dict, dict]:
    """Measure ``group`` with its fit samples held: ``(stats, clusters, null draws)``."""
    n, world = len(run.x), run.world
    rest = np.setdiff1d(np.arange(n), fit_rows, assume_unique=True)
    my_fit, my_rest = share(len(fit_rows), run.batch_size, world), share(len(rest), run.batch_size, world)
    samples = {name: _buffer(len(fit_rows), dims[name]) for name in group}
    # Each hidden state goes from the block output straight into its fit sample.
    filled = {name: my_fit.start for name in group}

    def keep(name: str, features: torch.Tensor) -> None:
        start = filled[name]
        samples[name][start : start + len(features)] = _numpy(features)
        filled[name] = start + len(features)

    with together(world):
        run.feed(group, fit_rows[my_fit], "fit-sample pass", keep)
    for name in group:
        sum_across(samples[name], world, run.device)
    clusters, nulls = None, {}
    with together(world):
        # One process fits and sends its centroids: every process then assigns with the
        # same centroids to the bit, whatever its hardware or thread count.
        if world.is_main:
            clusters = fit_blocks(samples, run.k, seeds=run.seeds, workers=run.workers, **run.fitting)
            if run.null:
                nulls = _null_draws(run, samples, clusters)
    clusters, nulls = from_main((clusters, nulls), world)
    parts = {} if run.labels is not None else None
    counter = Counter(clusters, device=run.device, labels_out=parts)
    try:
        with together(world):
            # The fit rows are counted from memory rather than run through the model again ...
            for name in group:
                for i in range(my_fit.start, my_fit.stop, run.batch_size):
                    counter.add(name, samples[name][i : i + run.batch_size])
            samples.clear()  # the fit samples are the bulk of the budget
            # ... and the other rows inside the forward pass, straight from the block outputs.
            if my_rest.stop > my_rest.start:
                run.feed(group, rest[my_rest], "streaming pass", counter.add)
    finally:
        stats = counter.result()
    mine = np.concatenate([fit_rows[my_fit], rest[my_rest]])
    for name in group:
        run.record(name, mine, parts)
    return stats, clusters, nulls


def sketched_group(run: Passes, group: Sequence[str], fit_rows: np.ndarray, dims: dict, first: dict) -> tuple[dict, dict, dict]:
    """Measure ``group`` without holding its fit samples (module docstring): ``(stats, clusters, {})``.

    ``first`` holds each hidden state's features of sample 0 (float32 ``(D,)``), the same on
    every process: rows are sketched shifted by it, so that a large common offset does not
    cost the float32 sketch its digits.
    """
    world, m = run.world, len(fit_rows)
    my_fit = share(m, run.batch_size, world)
    sketches = {name: CountSketch(dims[name], SKETCH_DIM, seed=_own_seed(run, name, 3)) for name in group}
    sketched, means = _sketch_pass(run, group, fit_rows, my_fit, sketches, first)
    fits = None
    with together(world):
        if world.is_main:
            fits = {}
            with one_thread():
                for name in iterate(list(group), f"η² k-means fits on sketches{run.part}", len(group), unit="hidden states"):
                    # The sketch is linear: the sketched mean is the sketch of the mean.
                    offset = sketches[name](torch.from_numpy(means[name] - first[name])[None])[0].numpy()
                    fits[name] = [
                        fit_partition(sketched[name], run.k, shift=offset, seed=s, name=name, **run.fitting) for s in run.seeds
                    ]
    del sketched
    fits = from_main(fits, world)
    clusters = _choose_in_full(run, group, fit_rows, my_fit, fits, means)
    everyone = np.arange(len(run.x))
    mine = everyone[share(len(everyone), run.batch_size, world)]
    parts = {} if run.labels is not None else None
    counter = Counter(clusters, device=run.device, labels_out=parts)
    try:
        with together(world):
            run.feed(group, mine, "counting pass", counter.add)
    finally:
        stats = counter.result()
    for name in group:
        run.record(name, mine, parts)
    return stats, clusters, {}


def _sketch_pass(run: Passes, group, fit_rows, my_fit: slice, sketches: dict, first: dict) -> tuple[dict, dict]:
    """Pass A: ``({name: (m, SKETCH_DIM) float32 sketches of the fit rows shifted by first},
    {name: exact float64 mean of the fit rows})``."""
    m = len(fit_rows)
    sketched = {name: _buffer(m, SKETCH_DIM) for name in group}
    sums = {name: np.zeros(len(first[name])) for name in group}
    offsets = {name: torch.from_numpy(first[name]).float() for name in group}
    with together(run.world), run.over(group, fit_rows[my_fit], "sketching pass") as batches:
        start = my_fit.start
        for feats in batches:
            with one_thread():
                for name in group:
                    rows = feats[name].cpu() - offsets[name]
                    sketched[name][start : start + len(rows)] = sketches[name](rows).numpy()
                    sums[name] += rows.sum(dim=0, dtype=torch.float64).numpy()
            start += len(feats[group[0]])
    means = {}
    for name in group:
        sum_across(sketched[name], run.world, run.device)
        sum_across(sums[name], run.world, run.device)
        # float32 offsets were subtracted: the mean is theirs plus the mean of what is left.
        means[name] = offsets[name].double().numpy() + sums[name] / m
    return sketched, means


def _choose_in_full(run: Passes, group, fit_rows, my_fit: slice, fits: dict, means: dict) -> dict:
    """Pass B: per restart, the candidate partition with the lowest full-dimensional SSI on
    the fit rows, and its exact full-dimensional cluster means as centroids."""
    k, world = run.k, run.world
    shifts = {name: torch.from_numpy(means[name]).float() for name in group}
    labels = {name: [torch.from_numpy(f.candidate_labels) for f in fits[name]] for name in group}
    # float32 sums of shifted rows: the candidates' SSIs they give differ in the 6th digit at worst.
    sums = {name: [np.zeros((lab.shape[1], k, len(means[name])), dtype=np.float32) for lab in labels[name]] for name in group}
    total = {name: np.zeros(1) for name in group}
    with together(world), run.over(group, fit_rows[my_fit], "candidate pass") as batches:
        start = my_fit.start
        for feats in batches:
            with one_thread():
                for name in group:
                    rows = feats[name].cpu() - shifts[name]
                    total[name] += float((rows * rows).sum(dtype=torch.float64))
                    for lab, acc in zip(labels[name], sums[name]):
                        acc = torch.from_numpy(acc)
                        for t in range(lab.shape[1]):
                            acc[t].index_add_(0, lab[start : start + len(rows), t], rows)
            start += len(feats[group[0]])
    clusters = {}
    for name in group:
        sum_across(total[name], world, run.device)
        centroids, ssis = [], []
        # Moved to the float64 mean's coordinates: the rows were shifted by the float32 mean.
        correction = shifts[name].double().numpy() - means[name]
        for lab, acc in zip(labels[name], sums[name]):
            sum_across(acc, world, run.device)
            counts = [np.maximum(np.bincount(lab[:, t].numpy(), minlength=k), 1).astype(np.float64) for t in range(lab.shape[1])]
            # One candidate's float64 sums at a time: all of them at once would double their memory.
            between = [float(((acc[t].astype(np.float64) ** 2).sum(axis=1) / counts[t]).sum()) for t in range(len(acc))]
            ssi = np.maximum(total[name][0] - np.array(between), 0.0)
            best = int(np.argmin(ssi))
            centroids.append(acc[best].astype(np.float64) / counts[best][:, None] + correction)
            ssis.append(np.sort(ssi))
        # Freed as soon as they are read: the other hidden states' sums are still held.
        del acc
        sums[name] = None
        clusters[name] = BlockClusters(name, means[name], np.stack(centroids), tuple(ssis))
    return clusters


def _own_seed(run: Passes, name: str, purpose: int) -> np.random.SeedSequence:
    """A seed of ``purpose`` for hidden state ``name`` that does not depend on the grouping."""
    return np.random.SeedSequence(run.seed, spawn_key=(purpose, list(run.names).index(name)))


def _null_draws(run: Passes, samples: dict, clusters: dict) -> dict:
    """``{name: η² of each null draw}`` for the group's held fit samples."""
    out = {}
    with one_thread():
        for name in iterate(list(samples), f"η² null draws{run.part}", len(samples), unit="hidden states"):
            out[name] = null_eta2(
                samples[name], run.k, draws=run.null, seed=_own_seed(run, name, 2), shift=clusters[name].shift, name=name, **run.fitting
            )
    return out


def null_columns(draws: Optional[np.ndarray]) -> dict:
    """``eta2_null`` and ``eta2_null_sd`` of a hidden state's draws (NaN without them)."""
    if draws is None:
        return {"eta2_null": float("nan"), "eta2_null_sd": float("nan")}
    return {"eta2_null": float(draws.mean()), "eta2_null_sd": float(draws.std(ddof=1)) if len(draws) > 1 else float("nan")}


def reduce_stats(stats: dict, world: World, device) -> None:
    """Sum every process's counts, in place."""
    for per_restart in stats.values():
        for s in per_restart:
            for array in (s.counts, s.sums, s.sqnorms):
                sum_across(array, world, device)

