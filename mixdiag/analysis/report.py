"""η² of a checkpoint, as notebooks and the CLI ask for it, and the files ``mixdiag eta2`` writes.

:func:`eta2` loads a checkpoint (or takes a network trained elsewhere, or any module with its
inputs: :mod:`~mixdiag.analysis.subject`), captures every residual block and the model
output on a data split, and returns a DataFrame in network order with the columns
``run, method, block, module, dim, n, k, eta2, eta2_std, ssi, sst``.
:func:`write_eta2` writes ``eta2.csv``, ``eta2.json`` (settings and the checkpoint's
hash), ``eta2.png`` and optionally ``assignments.npz``, all or nothing. Under ``torchrun``
every process computes its share and gets the whole table; only rank 0 writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import pandas as pd

from .. import distributed
from .._io import write_directory, write_json
from ..errors import MixdiagError
from ..training.checkpoint import LoadedRun, file_sha256
from .capture import taps_for
from .eta2 import DEFAULT_SAMPLE_SIZE, compute_eta2
from .kmeans import DEFAULT_BACKEND
from .sources import as_source
from .subject import head, subject_of

COLUMNS = [
    "run", "method", "block", "module", "dim", "n", "k", "eta2", "eta2_std", "ssi", "sst",
    "fit_candidates", "fit_ssi_spread", "eta2_null", "eta2_null_sd",
]


@dataclass
class Eta2Result:
    """What :func:`eta2_result` returns: the table, its settings and optional assignments."""

    table: pd.DataFrame
    settings: dict
    assignments: dict = field(default_factory=dict)

    def __post_init__(self):
        # The table carries its settings, so a figure drawn from it alone can say them.
        self.table.attrs.update(self.settings)


def run_settings(run: LoadedRun, split: str, n: int) -> dict:
    """What an analysis output records of the checkpoint and data it measured."""
    return {
        "checkpoint": str(run.path),
        "checkpoint_sha256": file_sha256(run.path),
        "run": run.name,
        "method": run.method,
        "model": run.model_name,
        "dataset": run.config.dataset,
        "epoch": run.epoch,
        "split": split,
        "n": int(n),
        # The whole training configuration, so that compare can tell seeds of one run from
        # runs trained differently without the checkpoint at hand.
        "config": run.config.to_dict(),
    }


def eta2_result(
    ckpt,
    data=None,
    *,
    split: str = "train",
    k: int = 10,
    restarts: int = 1,
    sample_size: int | str = DEFAULT_SAMPLE_SIZE,
    pooled: bool = False,
    limit: Optional[int] = None,
    batch_size: int = 256,
    max_memory: int = 2 * 1024**3,
    seed: int = 0,
    device: str = "auto",
    save_assignments: bool = False,
    kmeans_backend: str = DEFAULT_BACKEND,
    null: int = 0,
    blocks: Optional[Sequence[str]] = None,
    transform: Optional[Callable] = None,
    name: Optional[str] = None,
) -> Eta2Result:
    """Per-block η² of a checkpoint, a network trained elsewhere or any module, with its settings (see :func:`eta2`)."""
    subject = subject_of(ckpt, data, split=split, name=name, transform=transform, device=device)
    x = subject.x
    if limit is not None:
        if limit < 2:
            raise MixdiagError(f"--limit must be at least 2, got {limit}")
        x = head(x, limit)
    taps = taps_for(subject.model, x, subject.transform, blocks)
    result = compute_eta2(
        subject.model, x, subject.transform, k=k, sample_size=sample_size, restarts=restarts, seed=seed,
        batch_size=batch_size, device=subject.device, pooled=pooled, max_memory=max_memory, return_assignments=save_assignments,
        backend=kmeans_backend, taps=taps, null=null,
    )
    table, assignments = result if save_assignments else (result, {})
    table.insert(0, "method", subject.method)
    table.insert(0, "run", subject.run)
    settings = {
        **subject.settings,
        "n": len(as_source(x)),
        "k": k,
        "limit": limit,
        "restarts": restarts,
        "sample_size": sample_size,
        "pooled": pooled,
        "seed": seed,
        "kmeans_backend": kmeans_backend,
        "null": null,
        "partition_quality": _partition_quality(table),
        "device": str(subject.device),
        "processes": distributed.world().size,
    }
    if taps.source != "declared":  # how a network without a declaration was read
        settings["blocks_from"] = taps.source
    return Eta2Result(table[COLUMNS], settings, assignments)


def _partition_quality(table: pd.DataFrame) -> dict:
    """Per hidden state, how well determined its partition is: the distinct partitions the
    fit compared, the relative SSI spread among them, and the spread over restarts (null
    where there is none: one restart)."""

    def number(value):
        return None if pd.isna(value) else float(value)

    keys = ("fit_candidates", "fit_ssi_spread", "eta2_std")
    return {row["module"]: {key: number(row[key]) for key in keys} for _, row in table.iterrows()}


def eta2(ckpt, data=None, **options) -> pd.DataFrame:
    """Per-block η² of a model on its data.

    Args:
        ckpt: a checkpoint path or a run from :func:`mixdiag.load`; a network trained
            elsewhere from :func:`mixdiag.load_model`; or any ``nn.Module`` with ``data``.
        data: the inputs of a module: a tensor, numpy array, ``Dataset`` or ``DataLoader``
            yielding ``x`` or ``(x, y)``, already as the model takes them (or pass
            ``transform``); read batch by batch, never whole.
        split: ``train`` (default, as in the paper), ``test`` or ``val`` of a run's dataset.
        k: clusters per hidden state.
        restarts: clusterings with different seeds; ``eta2`` is their mean, ``eta2_std``
            their standard deviation.
        sample_size: rows per hidden state the k-means fit uses (``"all"``: every sample,
            when ``max_memory`` allows); all N samples are assigned and counted.
        pooled: average over spatial positions (or tokens) instead of flattening.
        limit: use only the first ``limit`` samples.
        max_memory: bound in bytes on what the analysis holds at once.
        seed: seed of the fit samples and of k-means.
        device: where the model runs: ``auto``, ``cpu``, ``cuda`` (``auto`` keeps a module
            where it is).
        kmeans_backend: ``faiss`` or ``torch`` (see :mod:`mixdiag.analysis.kmeans`).
        null: draws of the structureless null (``eta2_null``, ``eta2_null_sd``; see
            :mod:`mixdiag.analysis.null`); 0, the default, draws none.
        blocks: names or shell-style patterns of the blocks to measure (``["layer1.0",
            "layer2.*"]``); default a mixdiag model's declared blocks, else the residual
            blocks :func:`mixdiag.find_blocks` finds.
        transform: batch → model input for ``data`` (e.g. normalisation).
        name: the run and method name of a module in the table (default its class name).

    Returns:
        DataFrame with one row per hidden state in network order.

    >>> df = eta2("runs/digits-erm/checkpoints/last.pt")  # doctest: +SKIP
    >>> df = eta2(torchvision.models.resnet18(num_classes=10), images, blocks=["layer3.*", "layer4.*"])  # doctest: +SKIP
    """
    return eta2_result(ckpt, data, **options).table


def write_analysis(out: str | Path, stem: str, table: pd.DataFrame, settings: dict, plot, force: bool = False, arrays=None) -> list[Path]:
    """Write ``STEM.csv`` (the table), ``STEM.json`` (the settings), ``STEM.png`` (``plot(table)``)
    and, when ``arrays`` is given, ``assignments.npz`` into ``out``; all or nothing. Under
    several processes only rank 0 writes; the others return ``[]``."""
    if not distributed.world().is_main:
        return []
    import matplotlib.pyplot as plt

    def write(staging: Path) -> None:
        table.to_csv(staging / f"{stem}.csv", index=False)
        write_json(staging / f"{stem}.json", settings)
        fig = plot(table)
        fig.savefig(staging / f"{stem}.png", dpi=130)
        plt.close(fig)
        if arrays:
            np.savez_compressed(staging / "assignments.npz", **arrays)

    return write_directory(out, write, force)


def write_eta2(result: Eta2Result, out: str | Path, force: bool = False) -> list[Path]:
    """Write ``eta2.csv``, ``eta2.json``, ``eta2.png`` (and ``assignments.npz``) into ``out``; all or
    nothing. Under several processes only rank 0 writes; the others return ``[]``."""
    from ..plots import plot_eta2

    return write_analysis(out, "eta2", result.table, result.settings, plot_eta2, force, arrays=result.assignments)
