"""Several runs side by side: per-block η² with Δη² against a baseline, or correlation conflict.

The "distribution shift" summary of mixed versus unmixed training: for every hidden state,
how much higher or lower η² is after training with a mixing method than after the
baseline (by default the ERM runs, averaged over seeds when there are several).

Given the outputs of ``mixdiag conflict`` instead, :func:`compare` puts their decoupling
AUCs per label pair and their label η² per hidden state (mean over the pairs all runs
share) side by side, one column per run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import pandas as pd

from .._io import read_csv, write_directory
from ..errors import MixdiagError
from .track import TRACK_FILE, read_track

KEYS = ["block", "module"]


def read_eta2(source: str | Path) -> pd.DataFrame:
    """Read an ``eta2.csv`` file, or the ``eta2.csv`` inside an eta2 output directory."""
    path = Path(source)
    csv = path / "eta2.csv" if path.is_dir() else path
    if not csv.is_file():
        raise MixdiagError(f"{source} is neither an eta2 output directory nor an eta2.csv; run `mixdiag eta2` first or pass a checkpoint")
    return read_csv(csv, ["run", "method", *KEYS, "eta2"], "mixdiag eta2")


def unique_run_names(frames: Sequence[pd.DataFrame]) -> list[pd.DataFrame]:
    """Suffix repeated run names (``erm``, ``erm#2``) so every run stays its own curve."""
    seen: dict[str, int] = {}
    out = []
    for df in frames:
        name = str(df["run"].iloc[0])
        seen[name] = seen.get(name, 0) + 1
        out.append(df if seen[name] == 1 else df.assign(run=f"{name}#{seen[name]}"))
    return out


def delta_eta2(curves: pd.DataFrame, baseline: Optional[str] = None) -> pd.DataFrame:
    """Δη² per block of every non-baseline run against the baseline.

    Args:
        curves: rows of several runs (columns ``run``, ``method``, ``block``, ``module``, ``eta2``).
        baseline: a run name, or a method name whose runs are averaged; default ``erm``.

    Returns:
        One row per (run, hidden state): ``run``, ``method``, ``block``, ``module``,
        ``eta2``, ``baseline_eta2``, ``delta_eta2`` and the ``baseline`` used.
    """
    baseline = baseline or "erm"
    if baseline in set(curves["run"]):
        base_rows = curves[curves["run"] == baseline]
    elif baseline in set(curves["method"]):
        base_rows = curves[curves["method"] == baseline]
    else:
        raise MixdiagError(f"no run or method named {baseline!r} to compare against; pass --baseline with one of: {', '.join(sorted(set(curves['run'])))}")
    base = base_rows.groupby(KEYS, as_index=False, sort=False)["eta2"].mean().rename(columns={"eta2": "baseline_eta2"})
    others = curves[~curves["run"].isin(set(base_rows["run"]))]
    if others.empty:
        raise MixdiagError("every run given is a baseline run; add runs trained with a mixing method")
    merged = others.merge(base, on=KEYS, how="left")
    unmatched = merged[merged["baseline_eta2"].isna()]
    if not unmatched.empty:
        raise MixdiagError(
            f"run {unmatched['run'].iloc[0]} has hidden state {unmatched['module'].iloc[0]!r} that the baseline lacks; compare runs of the same model"
        )
    merged["delta_eta2"] = merged["eta2"] - merged["baseline_eta2"]
    merged["baseline"] = baseline
    return merged[["run", "method", *KEYS, "eta2", "baseline_eta2", "delta_eta2", "baseline"]]


def load_curves(source: str | Path, **eta2_options) -> pd.DataFrame:
    """η² rows of one source: an eta2 output (directory or csv), a checkpoint, or a run directory.

    A checkpoint is measured with ``eta2_options``; a run directory with an ``eta2-train``
    output is read, otherwise its ``checkpoints/last.pt`` is measured.
    """
    from .report import eta2  # the checkpoint path runs the whole analysis

    path = Path(source)
    if path.suffix == ".pt":
        return eta2(path, **eta2_options)
    if path.is_dir() and not (path / "eta2.csv").is_file() and (path / "checkpoints" / "last.pt").is_file():
        if (path / "eta2-train" / "eta2.csv").is_file():
            return read_eta2(path / "eta2-train")
        return eta2(path / "checkpoints" / "last.pt", **eta2_options)
    return read_eta2(path)


@dataclass
class Comparison:
    """What :func:`compare` returns: all curves, Δη² against the baseline, and any tracks."""

    curves: pd.DataFrame
    delta: pd.DataFrame
    tracks: Optional[pd.DataFrame] = None


CONFLICT_FILE = "conflict.csv"
CONFLICT_KEYS = ["label_a", "label_b"]


def conflict_csv(source: str | Path) -> Optional[Path]:
    """The ``conflict.csv`` of a conflict output (the file, or a directory holding it); None for other sources."""
    path = Path(source)
    if path.is_dir():
        return path / CONFLICT_FILE if (path / CONFLICT_FILE).is_file() else None
    return path if path.name == CONFLICT_FILE else None


def read_conflict(source: str | Path) -> pd.DataFrame:
    """Read a ``conflict.csv`` file, or the one inside a conflict output directory."""
    csv = conflict_csv(source)
    if csv is None or not csv.is_file():
        raise MixdiagError(f"{source} is neither a conflict output directory nor a conflict.csv; run `mixdiag conflict` first")
    return read_csv(csv, ["run", "method", *CONFLICT_KEYS, *KEYS, "eta2", "decoupling_auc"], "mixdiag conflict")


@dataclass
class ConflictComparison:
    """What :func:`compare` returns for conflict outputs.

    Attributes:
        rows: every row of every run (the ``conflict.csv`` rows, run names made unique).
        auc: one row per label pair (``label_a``, ``label_b``), one column of decoupling AUC
            per run; NaN where a run lacks the pair.
        eta2: one row per hidden state (``block``, ``module``), one column per run: the mean
            label η² over the pairs that every run has.
        shared_pairs: those pairs, as ``(label_a, label_b)``.
    """

    rows: pd.DataFrame
    auc: pd.DataFrame
    eta2: pd.DataFrame
    shared_pairs: list


def compare_conflict(sources: Sequence[str | Path]) -> ConflictComparison:
    """Decoupling AUC per pair and mean label η² per hidden state of several conflict outputs, side by side."""
    if len(sources) < 2:
        raise MixdiagError("compare needs at least two runs; pass two or more conflict outputs")
    rows = pd.concat(unique_run_names([read_conflict(s) for s in sources]), ignore_index=True)
    runs = list(dict.fromkeys(rows["run"]))
    per_pair = rows.drop_duplicates(["run", *CONFLICT_KEYS])
    order = pd.MultiIndex.from_frame(per_pair[CONFLICT_KEYS].drop_duplicates())  # the runs' own pair order, not alphabetical
    auc = per_pair.pivot(index=CONFLICT_KEYS, columns="run", values="decoupling_auc").reindex(order)
    pairs_of = [set(map(tuple, rows.loc[rows["run"] == r, CONFLICT_KEYS].drop_duplicates().to_numpy())) for r in runs]
    shared = sorted(set.intersection(*pairs_of))
    if not shared:
        raise MixdiagError(
            "the conflict outputs share no label pair, so their label η² cannot be averaged alike; compare runs on the same data"
        )
    eta2 = rows_of_pairs(rows, shared).pivot_table(index=KEYS, columns="run", values="eta2", aggfunc="mean")
    return ConflictComparison(
        rows=rows,
        auc=auc[runs].reset_index().rename_axis(columns=None),
        eta2=eta2[runs].reset_index().rename_axis(columns=None),
        shared_pairs=[list(p) for p in shared],
    )


def rows_of_pairs(rows: pd.DataFrame, pairs) -> pd.DataFrame:
    """The rows of ``rows`` whose ``(label_a, label_b)`` is one of ``pairs``."""
    return rows[pd.MultiIndex.from_frame(rows[CONFLICT_KEYS]).isin([tuple(p) for p in pairs])]


def compare(sources: Sequence[str | Path], baseline: Optional[str] = None, **eta2_options) -> Comparison | ConflictComparison:
    """Several runs side by side: per-block η² and Δη² against ``baseline``, or correlation conflict.

    Args:
        sources: eta2 outputs, checkpoints or run directories (see :func:`load_curves`); or
            only conflict outputs (directories or ``conflict.csv``), which give a
            :class:`ConflictComparison` (see :func:`compare_conflict`).
        baseline: run name, or method name whose runs are averaged; default ``erm``
            (η² comparisons only).
        **eta2_options: passed to :func:`mixdiag.eta2` for sources that must be measured.
    """
    conflict = [conflict_csv(s) is not None for s in sources]
    if any(conflict):
        if not all(conflict):
            raise MixdiagError("compare takes either conflict outputs or eta2 sources, not both; run it once for each kind")
        return compare_conflict(sources)
    if len(sources) < 2:
        raise MixdiagError("compare needs at least two runs; pass eta2 outputs, checkpoints or run directories")
    curves = pd.concat(unique_run_names([load_curves(s, **eta2_options) for s in sources]), ignore_index=True)
    tracks = [read_track(Path(s)) for s in sources if Path(s).is_dir() and (Path(s) / TRACK_FILE).is_file()]
    return Comparison(curves, delta_eta2(curves, baseline), pd.concat(tracks, ignore_index=True) if tracks else None)


def write_compare(result: Comparison | ConflictComparison, out: str | Path, force: bool = False) -> list[Path]:
    """Write the comparison into ``out``, all or nothing.

    η² comparisons: ``curves.csv``, ``compare.csv`` (Δη²), ``compare.png``, ``delta.png``
    and, with tracks, ``trajectories.png``. Conflict comparisons: ``conflict_rows.csv``,
    ``conflict_auc.csv``, ``conflict_eta2.csv``, ``conflict_auc.png`` and ``conflict_eta2.png``.
    """
    import matplotlib.pyplot as plt

    from ..plots import plot_compare, plot_conflict_compare, plot_decoupling_auc, plot_delta, plot_trajectories

    def write_conflict(staging: Path) -> None:
        result.rows.to_csv(staging / "conflict_rows.csv", index=False)
        result.auc.to_csv(staging / "conflict_auc.csv", index=False)
        result.eta2.to_csv(staging / "conflict_eta2.csv", index=False)
        shared = rows_of_pairs(result.rows, result.shared_pairs)
        title = f"Mean label η² over the {len(result.shared_pairs)} shared pairs, per block"
        figures = {"conflict_auc.png": plot_decoupling_auc(result.rows), "conflict_eta2.png": plot_conflict_compare(shared, title=title)}
        for name, fig in figures.items():
            fig.savefig(staging / name, dpi=130)
            plt.close(fig)

    if isinstance(result, ConflictComparison):
        return write_directory(out, write_conflict, force)

    def write(staging: Path) -> None:
        result.curves.to_csv(staging / "curves.csv", index=False)
        result.delta.to_csv(staging / "compare.csv", index=False)
        figures = {"compare.png": plot_compare(result.curves), "delta.png": plot_delta(result.delta)}
        if result.tracks is not None:
            figures["trajectories.png"] = plot_trajectories(result.tracks)
        for name, fig in figures.items():
            fig.savefig(staging / name, dpi=130)
            plt.close(fig)

    return write_directory(out, write, force)
