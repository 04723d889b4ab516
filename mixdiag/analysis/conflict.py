"""Correlation conflict, measured: does a hidden state keep two correlated labels apart?

Mixup's linear constraint ties the targets of co-occurring labels together; a representation
that decouples them keeps each label separable from the other where only one is present.
For a multi-label checkpoint, :func:`conflict`:

1. picks label pairs from the run's *clean* training labels (the corrupted labels the model
   was trained on, with the recorded flips undone): every pair ``(a, b)``, ``a < b``, ranked
   by its phi coefficient, highest first; a pair counts when both of its groups
   ("a only": a present and b absent; "b only": the reverse) hold at least ``min_group``
   samples of the analysed split. Pairs whose phi is undefined (a label constant in the
   training labels) are never picked;
2. streams the analysed split once through the model (only the samples of some pair's
   groups, in batches) and, for every pair and hidden state (each declared residual block
   and the output logits), accumulates the per-group statistics of the samples in the
   pair's two groups, from which the *label η²* = 1 − SSI/SST of the partition
   {"a only", "b only"} follows (:class:`~mixdiag.analysis.stats.ClusterStats`, k = 2);
3. scores the output with the *decoupling AUC*: the ROC AUC of σ(z_a) − σ(z_b) for telling
   "a only" samples (positive) from "b only" samples;
4. holds the label η² against a permutation null: the same η² with the "a only"/"b only"
   labels of the pair's samples shuffled (group sizes kept), ``null`` times. With no signal,
   label η² is not near 0: its expectation over all relabellings is exactly 1/(n − 1) for
   n = n_a + n_b samples (E‖S_b − n_b·μ‖² = n_a·n_b·SST/(n(n − 1)) for sampling without
   replacement), so a pair with 2 samples per group sits at 0.33 whatever the hidden state.
   The table reports the null's mean and s.d., the excess ``eta2 − eta2_null`` and the
   permutation p-value ``(1 + #{null ≥ observed}) / (1 + null)``. The shuffled labels come
   from ``numpy.random.default_rng([seed, pair])`` (:func:`null_labels`); each is applied
   to the same stream of features, whose shuffled group sums accumulate as one
   ``(null, D)`` matrix product per batch, so the null costs no extra pass over the data.

Clean labels for both the selection and the groups, because the question is whether the
representation separates the true abnormalities; on the test and validation splits the
labels are clean anyway. The selection always reads the training labels, so the same run
data give the same pairs whatever split is analysed (as long as the groups are big enough).

Under ``torchrun`` the stream is sharded like η²'s (:mod:`~mixdiag.analysis.eta2`): each
process runs its share of whole batches, all use rank 0's shift (the mean of the first
batch, as in one process), the per-group statistics are summed across processes and the
AUC scores gathered in row order; every process gets the whole table, rank 0 writes it.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import pandas as pd
import torch
from scipy.special import expit
from sklearn.metrics import roc_auc_score
from torch import nn

from .. import distributed
from .._device import resolve_device
from .._progress import iterate, rows_of
from ..errors import MixdiagError
from ._defaults import DEFAULT_MIN_GROUP, DEFAULT_NULL
from ._shard import analysis_world, from_main, share, sum_across, together
from .capture import FeatureCapture, taps_for
from .clusters import _numpy
from .report import write_analysis
from .stats import ClusterStats
from .subject import subject_of

__all__ = ["COLUMNS", "ConflictResult", "LabelPair", "clean_train_labels", "compute_conflict", "conflict",
           "conflict_result", "given_pairs", "null_labels", "phi_matrix", "select_pairs", "write_conflict"]

COLUMNS = ["run", "method", "pair", "label_a", "label_b", "phi", "n_a_only", "n_b_only", "block", "module", "dim",
           "eta2", "ssi", "sst", "decoupling_auc", "eta2_null", "eta2_null_sd", "eta2_excess", "p_null"]

# Bound on the shuffled group sums the null holds, (null × features) float64 per pair and hidden state.
NULL_MEMORY = 2 * 1024**3


@dataclass(frozen=True)
class LabelPair:
    """Two labels by index, their phi on the training labels and their group sizes on the analysed split."""

    a: int
    b: int
    phi: float
    n_a_only: int
    n_b_only: int


def phi_matrix(y: np.ndarray) -> np.ndarray:
    """Phi coefficient of every pair of 0/1 label columns: their Pearson correlation.

    ``phi = (n11·n00 − n10·n01) / sqrt(n1·· n0·· n·1 n·0)``; NaN where a column is constant.

    >>> phi_matrix(np.array([[1, 1], [0, 0], [1, 0], [0, 0]]))[0, 1]  # doctest: +ELLIPSIS
    0.577...
    """
    y = np.asarray(y, dtype=np.float64)
    centred = y - y.mean(axis=0)
    cov = centred.T @ centred
    sd = np.sqrt(np.diag(cov))
    with np.errstate(divide="ignore", invalid="ignore"):
        return cov / np.outer(sd, sd)


def _groups(y: np.ndarray, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of the "a only" and "b only" rows of 0/1 labels ``y``."""
    ya, yb = y[:, a] > 0.5, y[:, b] > 0.5
    return ya & ~yb, yb & ~ya


def select_pairs(y_select: np.ndarray, y_split: np.ndarray, m: int, min_group: int = DEFAULT_MIN_GROUP) -> list[LabelPair]:
    """The ``m`` label pairs with the highest phi on ``y_select`` whose groups in ``y_split`` are big enough.

    Args:
        y_select: ``(N, L)`` 0/1 labels the phi coefficients are computed on (clean training labels).
        y_split: ``(M, L)`` 0/1 labels of the analysed split, which the groups are counted on.
        m: how many pairs to return at most.
        min_group: least number of "a only" and of "b only" samples a pair needs.

    Returns:
        Up to ``m`` pairs ``a < b``, by phi descending (ties by ``(a, b)``).
    """
    if m < 1:
        raise MixdiagError(f"pairs must be at least 1, got {m}")
    phi = phi_matrix(y_select)
    n_labels = phi.shape[0]
    candidates = sorted(
        ((float(phi[a, b]), a, b) for a in range(n_labels) for b in range(a + 1, n_labels) if np.isfinite(phi[a, b])),
        key=lambda t: (-t[0], t[1], t[2]),
    )
    chosen = []
    for value, a, b in candidates:
        only_a, only_b = _groups(y_split, a, b)
        if only_a.sum() >= min_group and only_b.sum() >= min_group:
            chosen.append(LabelPair(a, b, value, int(only_a.sum()), int(only_b.sum())))
            if len(chosen) == m:
                break
    return chosen


def _label_index(label: str | int, names: Sequence[str]) -> int:
    if isinstance(label, (int, np.integer)) or (isinstance(label, str) and label.isdigit()):
        index = int(label)
        if not 0 <= index < len(names):
            raise MixdiagError(f"label index {index} out of range 0..{len(names) - 1}; pass a label index or name")
        return index
    if label not in names:
        raise MixdiagError(f"unknown label {label!r}; the labels are: {', '.join(names)}")
    return list(names).index(label)


def given_pairs(pairs: Sequence[Sequence[str | int]], names: Sequence[str], y_select: np.ndarray, y_split: np.ndarray,
                min_group: int) -> list[LabelPair]:
    """Explicit pairs (label names or indices) as :class:`LabelPair`, checked like selected ones."""
    phi = phi_matrix(y_select)
    out = []
    for pair in pairs:
        if len(pair) != 2:
            raise MixdiagError(f"a label pair has two labels, got {list(pair)!r}; pass pairs as (label_a, label_b)")
        a, b = (_label_index(label, names) for label in pair)
        if a == b:
            raise MixdiagError(f"label pair ({names[a]}, {names[b]}) names one label twice; pass two different labels")
        only_a, only_b = _groups(y_split, a, b)
        if only_a.sum() < min_group or only_b.sum() < min_group:
            raise MixdiagError(
                f"label pair ({names[a]}, {names[b]}) has {int(only_a.sum())} '{names[a]} only' and {int(only_b.sum())} "
                f"'{names[b]} only' samples, fewer than min_group={min_group}; choose another pair or lower min_group"
            )
        out.append(LabelPair(a, b, float(phi[a, b]), int(only_a.sum()), int(only_b.sum())))
    return out


def clean_train_labels(ds) -> np.ndarray:
    """The training labels before corruption: the stored labels with the recorded flips undone."""
    y = ds.y_train.numpy() > 0.5
    if ds.corrupted is not None:
        y = y ^ ds.corrupted.numpy().astype(bool)
    return y.astype(np.int64)


def null_labels(b_only: np.ndarray, permutations: int, seed: int, pair: int) -> np.ndarray:
    """The "b only" indicators of one pair's samples (in row order), shuffled ``permutations`` times.

    Args:
        b_only: ``(n,)`` 1 for a "b only" sample, 0 for an "a only" one.
        permutations: how many shuffles.
        seed, pair: the generator is ``numpy.random.default_rng([seed, pair])``; one
            ``permutation`` call per shuffle.

    Returns:
        ``(permutations, n)`` float64 array of 0/1, each row with as many ones as ``b_only``.
    """
    rng = np.random.default_rng([seed, pair])
    labels = np.asarray(b_only, dtype=np.float64)
    return np.stack([rng.permutation(labels) for _ in range(permutations)]) if permutations else np.zeros((0, len(labels)))


def _between(stats: ClusterStats, sums_b: np.ndarray) -> np.ndarray:
    """SSB = n/(n_a·n_b)·‖S_b − (n_b/n)·S‖² of the two-group partitions whose group-b sums are ``sums_b`` (…, D)."""
    n, n_b = stats.n, int(stats.counts[1])
    d = sums_b - (n_b / n) * stats.sums.sum(axis=0)
    return np.einsum("...i,...i->...", d, d) * n / ((n - n_b) * n_b)


def _null_columns(stats: ClusterStats, eta2: float, shuffled: np.ndarray) -> dict:
    """Mean and s.d. of the null label η², the excess over its mean and the permutation p-value."""
    if not len(shuffled):
        return {"eta2_null": np.nan, "eta2_null_sd": np.nan, "eta2_excess": np.nan, "p_null": np.nan}
    sst = stats.sst()
    null = _between(stats, shuffled) / sst
    observed = _between(stats, stats.sums[1]) / sst
    # A shuffle that reproduces the observed groups sums its rows in another order: equal up to rounding.
    at_least = int((null >= observed * (1 - 1e-9)).sum())
    return {"eta2_null": float(null.mean()), "eta2_null_sd": float(null.std(ddof=1)) if len(null) > 1 else np.nan,
            "eta2_excess": eta2 - float(null.mean()), "p_null": (1 + at_least) / (1 + len(null))}


def compute_conflict(
    model: nn.Module,
    x,
    y: np.ndarray,
    pairs: Sequence[LabelPair],
    transform: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
    *,
    batch_size: int = 128,
    device: str | torch.device = "cpu",
    pooled: bool = False,
    null: int = DEFAULT_NULL,
    seed: int = 0,
    shard: bool = True,
    taps=None,
) -> pd.DataFrame:
    """Label η² of every pair at every hidden state, and the decoupling AUC of every pair, in one pass.

    Args:
        model: a MixableNet or any module; ``model(x)`` returns one logit per label.
        x: inputs of the analysed split ``(N, ...)``: a tensor, numpy array, Dataset or
            DataLoader (:mod:`~mixdiag.analysis.sources`).
        y: ``(N, L)`` clean 0/1 labels of ``x``.
        pairs: the label pairs, e.g. from :func:`select_pairs`; each group non-empty.
        transform: stored batch → model input, e.g. ``Dataset.normalize``.
        batch_size: samples per forward pass.
        device: where the model runs.
        pooled: average block outputs over spatial positions instead of flattening them.
        null: shuffles of the permutation null of the label η² (0: none, NaN columns).
        seed: seed of the shuffles (see :func:`null_labels`).
        shard: in a joined process group of several processes, share the pass with the
            other processes, which must make the same call; False computes it all here.
        taps: the model's :class:`~mixdiag.models.taps.Taps`; default
            :func:`~mixdiag.analysis.capture.taps_for`.

    Returns:
        One row per pair and hidden state, pairs in the given order and hidden states in
        network order: ``pair`` (1-based rank), ``a``, ``b``, ``phi``, ``n_a_only``,
        ``n_b_only``, ``block`` (index among the hidden states), ``module``, ``dim``,
        ``eta2``, ``ssi``, ``sst``, the pair's ``decoupling_auc``, and the null's
        ``eta2_null`` (mean), ``eta2_null_sd``, ``eta2_excess`` (``eta2 − eta2_null``) and ``p_null``.
    """
    if not pairs:
        raise MixdiagError("no label pair to analyse; pass at least one pair")
    y = np.asarray(y) > 0.5
    taps = taps if taps is not None else taps_for(model, x, transform)
    names, output = taps.names, taps.output
    groups = [_groups(y, p.a, p.b) for p in pairs]
    for p, (only_a, only_b) in zip(pairs, groups):
        if not only_a.any() or not only_b.any():
            raise MixdiagError(f"label pair ({p.a}, {p.b}) has an empty 'a only' or 'b only' group; choose pairs with both groups present")
    # Only samples in some pair's groups reach the model; per pair, the rows of each batch
    # that fall in its groups update that pair's statistics at every hidden state.
    member = np.stack([only_a | only_b for only_a, only_b in groups])  # (P, N)
    rows = np.flatnonzero(member.any(axis=0))
    member, b_only = member[:, rows], np.stack([only_b for _, only_b in groups])[:, rows]
    # Each member row's place among its pair's members, where the shuffled labels are looked up.
    place = np.cumsum(member, axis=1) - 1
    shuffles = [null_labels(b_only[i][member[i]], null, seed, i) for i in range(len(pairs))]
    device, world = resolve_device(device), analysis_world(shard)
    mine = share(len(rows), batch_size, world)
    scores: list[list[np.ndarray]] = [[] for _ in pairs]
    with FeatureCapture(model, x, transform, batch_size=batch_size, device=device, pooled=pooled, indices=rows[mine], taps=taps) as capture:
        batches = iter(capture)
        with together(world):
            first = next(batches, None)
        # One shift per hidden state near the data (the first batch's mean), shared by all
        # pairs and processes; rank 0 holds the first batch.
        shifts = {name: _numpy(f).mean(axis=0, dtype=np.float64) for name, f in first.items()} if world.is_main else None
        shifts = from_main(shifts, world)
        stats = {(i, name): ClusterStats(2, shifts[name], name) for i in range(len(pairs)) for name in names}
        shuffled = _null_sums(shifts, len(pairs), null)
        with together(world):
            start = mine.start
            passing = itertools.chain([first] if first is not None else [], batches)
            for feats in iterate(passing, "conflict pass", mine.stop - mine.start, size=rows_of):
                feats = {name: _numpy(f) for name, f in feats.items()}
                stop = start + len(feats[output])
                for i, p in enumerate(pairs):
                    take = member[i, start:stop]
                    if not take.any():
                        continue
                    group = b_only[i, start:stop][take].astype(np.int64)  # 0: a only, 1: b only
                    relabel = torch.from_numpy(shuffles[i][:, place[i, start:stop][take]])
                    for name in names:
                        shifted = stats[i, name].shifted(feats[name][take])
                        stats[i, name].add(shifted, group)
                        if (i, name) in shuffled:
                            shuffled[i, name] += (relabel @ shifted).numpy()
                    prob = expit(feats[output][take][:, [p.a, p.b]].astype(np.float64))
                    scores[i].append(prob[:, 0] - prob[:, 1])
                start = stop
    for s in stats.values():
        for array in (s.counts, s.sums, s.sqnorms):
            sum_across(array, world, device)
    for array in shuffled.values():
        sum_across(array, world, device)
    if world.size > 1:
        # Shares are contiguous and in rank order: concatenated, the scores are in row order.
        scores = [[part for theirs in gathered for part in theirs] for gathered in zip(*distributed.all_gather_objects(scores))]
    table = []
    for i, p in enumerate(pairs):
        labels = 1 - b_only[i][member[i]]  # 1: a only (the positive class), 0: b only
        auc = float(roc_auc_score(labels, np.concatenate(scores[i])))
        counts = {"n_a_only": int(groups[i][0].sum()), "n_b_only": int(groups[i][1].sum())}
        for block, name in enumerate(names):
            s = stats[i, name]
            eta2 = s.eta2()
            table.append({"pair": i + 1, "a": p.a, "b": p.b, "phi": p.phi, **counts, "block": block, "module": name,
                          "dim": s.dim, "eta2": eta2, "ssi": s.ssi(), "sst": s.sst(), "decoupling_auc": auc,
                          **_null_columns(s, eta2, shuffled.get((i, name), np.zeros((0, s.dim))))})
    return pd.DataFrame(table)


def _null_sums(shifts: dict, n_pairs: int, null: int) -> dict:
    """Zeroed ``(null, D)`` float64 shuffled group-b sums per (pair, hidden state), narrowest hidden states first,
    as many as :data:`NULL_MEMORY` allows; the others get no null (NaN columns) and a warning says so."""
    budget, sums, left_out = NULL_MEMORY, {}, []
    for name, shift in sorted(shifts.items(), key=lambda item: len(item[1])):
        need = 8 * null * n_pairs * len(shift)
        if need > budget:
            left_out.append(name)
            continue
        budget -= need
        sums.update({(i, name): np.zeros((null, len(shift))) for i in range(n_pairs)})
    if left_out:
        left_out = [name for name in shifts if name in left_out]  # network order
        warnings.warn(
            f"no permutation null for hidden states {', '.join(left_out)}: {null} shuffles of their flattened features for "
            f"{n_pairs} pairs exceed {NULL_MEMORY / 1024**2:.0f} MiB; use --pooled, fewer --pairs or a smaller --null",
            stacklevel=3,
        )
    return sums


@dataclass
class ConflictResult:
    """What :func:`conflict_result` returns: the table and the settings it was computed with."""

    table: pd.DataFrame
    settings: dict

    def __post_init__(self):
        # The table carries its settings, so a figure drawn from it alone can say them.
        self.table.attrs.update(self.settings)


def _labels(subject, split: str, labels_given: bool) -> tuple[np.ndarray, np.ndarray, list]:
    """The 0/1 labels pairs are selected on, those of the analysed rows, and the label names."""
    if labels_given:
        y = (np.asarray(subject.y) > 0.5).astype(np.int64)
        if y.ndim != 2:
            raise MixdiagError(f"labels must be (N, L) 0/1 multi-label rows, got shape {y.shape}; conflict needs several labels per sample")
        return y, y, [str(i) for i in range(y.shape[1])]
    ds = subject.dataset
    if not ds.multilabel:
        raise MixdiagError(
            f"conflict analysis needs multi-label data, but {subject.run} was trained on single-label {ds.name}; pass a multi-label checkpoint"
        )
    y_select = clean_train_labels(ds)
    y_split = y_select if split == "train" else (subject.y.numpy() > 0.5).astype(np.int64)
    return y_select, y_split, list(ds.class_names)


def conflict_result(
    ckpt,
    data=None,
    labels=None,
    *,
    pairs: int | Sequence[Sequence[str | int]] = 5,
    split: str = "train",
    min_group: int = DEFAULT_MIN_GROUP,
    pooled: bool = False,
    null: int = DEFAULT_NULL,
    seed: int = 0,
    batch_size: int = 128,
    device: str = "auto",
    blocks: Optional[Sequence[str]] = None,
    transform: Optional[Callable] = None,
    name: Optional[str] = None,
    label_names: Optional[Sequence[str]] = None,
) -> ConflictResult:
    """The correlation-conflict table of a checkpoint, a network trained elsewhere or a module, with its settings (see :func:`conflict`)."""
    subject = subject_of(ckpt, data, labels=labels, split=split, name=name, transform=transform, device=device)
    if data is not None and labels is None:
        raise MixdiagError("conflict analysis of a module needs the labels of its data: pass labels= as (N, L) 0/1 rows")
    if min_group < 1:
        raise MixdiagError(f"min_group must be at least 1, got {min_group}")
    if batch_size < 1:
        raise MixdiagError(f"batch_size must be at least 1, got {batch_size}")
    if null < 0:
        raise MixdiagError(f"null must be 0 (no permutation null) or a number of shuffles, got {null}")
    y_select, y_split, names = _labels(subject, split, data is not None)
    if label_names is not None:
        if len(label_names) != len(names):
            raise MixdiagError(f"label_names has {len(label_names)} names for {len(names)} labels; give one name per label")
        names = [str(n) for n in label_names]
    if isinstance(pairs, (int, np.integer)):
        chosen = select_pairs(y_select, y_split, int(pairs), min_group)
        if not chosen:
            raise MixdiagError(
                f"no label pair of {subject.run} has at least {min_group} 'a only' and {min_group} 'b only' samples in the {split} split; "
                "lower min_group or analyse a bigger split"
            )
    else:
        chosen = given_pairs(pairs, names, y_select, y_split, min_group)
    x = subject.x
    taps = taps_for(subject.model, x, subject.transform, blocks)
    table = compute_conflict(subject.model, x, y_split, chosen, subject.transform, batch_size=batch_size, device=subject.device,
                             pooled=pooled, null=null, seed=seed, taps=taps)
    table.insert(1, "label_a", [names[a] for a in table.pop("a")])
    table.insert(2, "label_b", [names[b] for b in table.pop("b")])
    table.insert(0, "method", subject.method)
    table.insert(0, "run", subject.run)
    ds = subject.dataset
    settings = {
        **subject.settings,
        "labels": "given" if data is not None else "clean",
        "corrupted_train_labels": int(ds.corrupted.sum()) if ds is not None and ds.corrupted is not None else 0,
        "pairs_requested": int(pairs) if isinstance(pairs, (int, np.integer)) else [list(p) for p in pairs],
        "pairs": [{"label_a": names[p.a], "label_b": names[p.b], "phi": p.phi, "n_a_only": p.n_a_only, "n_b_only": p.n_b_only}
                  for p in chosen],
        "min_group": min_group,
        "pooled": pooled,
        "null": null,
        "seed": seed,
        "batch_size": batch_size,
        "device": str(subject.device),
        "processes": distributed.world().size,
    }
    if taps.source != "declared":
        settings["blocks_from"] = taps.source
    return ConflictResult(table[COLUMNS], settings)


def conflict(ckpt, data=None, labels=None, **options) -> pd.DataFrame:
    """Correlation conflict of a multi-label model: label η² per pair and hidden state, and decoupling AUC.

    Args:
        ckpt: a checkpoint path or a run from :func:`mixdiag.load`; a network trained
            elsewhere from :func:`mixdiag.load_model`; or any ``nn.Module`` with ``data``
            and ``labels``.
        data: the inputs of a module (tensor, numpy array, Dataset or DataLoader), as the
            model takes them (or pass ``transform``).
        labels: ``(N, L)`` 0/1 labels of ``data``; pairs are picked and grouped on them
            (a module has no record of label corruption: give clean labels).
        pairs: how many label pairs (m), picked by phi on the clean training labels; or an
            explicit list of ``(label_a, label_b)`` pairs by name or index.
        split: the data split measured: ``train`` (default), ``test`` or ``val``.
        min_group: least number of "a only" and of "b only" samples a pair needs in the split
            (default 10: the null's mean 1/(n_a + n_b − 1) stays at or below 0.05).
        pooled: average block outputs over spatial positions instead of flattening them.
        null: shuffles of the permutation null of the label η²; 0 leaves its columns NaN.
        seed: seed of those shuffles.
        batch_size: samples per forward pass.
        device: where the model runs: ``auto``, ``cpu``, ``cuda``.
        blocks: names or shell-style patterns of the blocks to measure (see :func:`mixdiag.eta2`).
        transform, name: a module's input transform and its name in the table.
        label_names: a module's label names (default ``"0"``, ``"1"``, ...).

    Returns:
        DataFrame with one row per pair and hidden state: ``run, method, pair, label_a,
        label_b, phi, n_a_only, n_b_only, block, module, dim, eta2, ssi, sst,
        decoupling_auc, eta2_null, eta2_null_sd, eta2_excess, p_null`` (the AUC is the
        pair's, repeated on each of its rows).

    >>> df = conflict("runs/ml-mixup/checkpoints/last.pt", pairs=3)  # doctest: +SKIP
    >>> df[df.module == "output"][["label_a", "label_b", "phi", "eta2", "decoupling_auc"]]  # doctest: +SKIP
    """
    return conflict_result(ckpt, data, labels, **options).table


def write_conflict(result: ConflictResult, out: str | Path, force: bool = False) -> list[Path]:
    """Write ``conflict.csv``, ``conflict.json`` (settings) and ``conflict.png`` into ``out``; all or
    nothing. Under several processes only rank 0 writes; the others return ``[]``."""
    from ..plots import plot_conflict

    return write_analysis(out, "conflict", result.table, result.settings, plot_conflict, force)
