"""Per-block η² of several runs side by side, and Δη² against a baseline run.

The "distribution shift" summary of mixed versus unmixed training: for every hidden state,
how much higher or lower η² is after training with a mixing method than after the
baseline (by default the ERM runs, averaged over seeds when there are several).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import pandas as pd

from .._io import write_directory
from ..errors import MixdiagError
from .track import TRACK_FILE, read_track

KEYS = ["block", "module"]


def read_eta2(source: str | Path) -> pd.DataFrame:
    """Read an ``eta2.csv`` file, or the ``eta2.csv`` inside an eta2 output directory."""
    path = Path(source)
    csv = path / "eta2.csv" if path.is_dir() else path
    if not csv.is_file():
        raise MixdiagError(f"{source} is neither an eta2 output directory nor an eta2.csv; run `mixdiag eta2` first or pass a checkpoint")
    df = pd.read_csv(csv)
    missing = [c for c in ["run", "method", *KEYS, "eta2"] if c not in df.columns]
    if missing:
        raise MixdiagError(f"{csv} lacks columns {', '.join(missing)}; it was not written by mixdiag eta2")
    return df


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


def compare(sources: Sequence[str | Path], baseline: Optional[str] = None, **eta2_options) -> Comparison:
    """Per-block η² of several runs side by side and Δη² against ``baseline`` (default: ERM runs).

    Args:
        sources: eta2 outputs, checkpoints or run directories (see :func:`load_curves`).
        baseline: run name, or method name whose runs are averaged; default ``erm``.
        **eta2_options: passed to :func:`mixdiag.eta2` for sources that must be measured.
    """
    if len(sources) < 2:
        raise MixdiagError("compare needs at least two runs; pass eta2 outputs, checkpoints or run directories")
    curves = pd.concat(unique_run_names([load_curves(s, **eta2_options) for s in sources]), ignore_index=True)
    tracks = [read_track(Path(s)) for s in sources if Path(s).is_dir() and (Path(s) / TRACK_FILE).is_file()]
    return Comparison(curves, delta_eta2(curves, baseline), pd.concat(tracks, ignore_index=True) if tracks else None)


def write_compare(result: Comparison, out: str | Path, force: bool = False) -> list[Path]:
    """Write ``curves.csv``, ``compare.csv`` (Δη²), ``compare.png``, ``delta.png`` and, with tracks,
    ``trajectories.png`` into ``out``; all or nothing."""
    import matplotlib.pyplot as plt

    from ..plots import plot_compare, plot_delta, plot_trajectories

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
