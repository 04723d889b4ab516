"""Several runs side by side: per-block η² with Δη² against a baseline, or correlation conflict.

The "distribution shift" summary of mixed versus unmixed training: for every hidden state,
how much higher or lower η² is after training with a mixing method than after the
baseline (by default the ERM runs, averaged over seeds when there are several), with a 95%
interval and a p-value across seeds (:mod:`~mixdiag.analysis.intervals`).

Only results measured alike are compared (:mod:`~mixdiag.analysis.comparable`): a setting
that changes η² and differs between runs is refused unless ``allow_mixed`` names it, and
runs of one method trained differently are kept apart as groups. A stored result is used
only while the checkpoint it measured is unchanged: a run directory's stored ``eta2-<split>``
is measured afresh when it is stale (said on stderr); an eta2 or conflict output named
directly is refused with the command that refreshes it.

Given the outputs of ``mixdiag conflict`` instead, :func:`compare` puts their decoupling
AUCs per label pair and their label η² per hidden state (mean over the pairs all runs
share) side by side, one column per run.
"""

from __future__ import annotations

import inspect
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

import pandas as pd

from .._io import read_csv, write_directory, write_json
from ..errors import MixdiagError
from .comparable import (CONFLICT_SETTINGS, ETA2_SETTINGS, NEVER_MIXED, Record, check_alike, conflict_record, eta2_record,
                         freshness, group_labels, normalize_allowed, training_differences)
from .intervals import seed_statistics, stage_means
from .track import TRACK_FILE, read_track

KEYS = ["block", "module"]


def say(message: str) -> None:
    """Tell the user something about the comparison without stopping it (stderr, as for a CLI's notes)."""
    print(f"mixdiag compare: {message}", file=sys.stderr)


def _settings_beside(csv: Path, name: str) -> dict:
    """The settings file (``eta2.json``, ``conflict.json``) next to a result table; {} when there is none."""
    path = csv.parent / name
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise MixdiagError(f"{path} is not valid JSON; it was damaged: measure the run again") from None


def read_eta2(source: str | Path) -> pd.DataFrame:
    """Read an ``eta2.csv`` file, or the ``eta2.csv`` inside an eta2 output directory."""
    return read_stored_eta2(source).table


def read_stored_eta2(source: str | Path):
    """An eta2 output (directory or ``eta2.csv``) as an :class:`~mixdiag.analysis.report.Eta2Result`:
    its table and the settings of the ``eta2.json`` beside it ({} when absent)."""
    from .report import Eta2Result

    path = Path(source)
    csv = path / "eta2.csv" if path.is_dir() else path
    if not csv.is_file():
        raise MixdiagError(f"{source} is neither an eta2 output directory nor an eta2.csv; run `mixdiag eta2` first or pass a checkpoint")
    table = read_csv(csv, ["run", "method", *KEYS, "eta2"], "mixdiag eta2")
    return Eta2Result(table, _settings_beside(csv, "eta2.json"))


def refresh_eta2_command(ckpt: Path, out: Path, settings: dict) -> str:
    """The ``mixdiag eta2`` call that measures ``ckpt`` with ``settings`` into ``out``."""
    from .eta2 import DEFAULT_SAMPLE_SIZE

    parts = ["mixdiag eta2", f"--ckpt {ckpt}", f"--out {out}", "--force", f"--split {settings.get('split', 'train')}",
             f"--k {settings.get('k', 10)}"]
    for option, key, default in (("--sample-size", "sample_size", DEFAULT_SAMPLE_SIZE), ("--restarts", "restarts", 1),
                                 ("--seed", "seed", 0), ("--limit", "limit", None)):
        if settings.get(key, default) != default:
            parts.append(f"{option} {settings[key]}")
    if settings.get("pooled"):
        parts.append("--pooled")
    return " ".join(parts)


def stored_eta2(source: str | Path):
    """An eta2 output named directly, refused when the checkpoint it measured has changed since."""
    path = Path(source)
    result = read_stored_eta2(path)
    where = path if path.is_dir() else path.parent
    fresh = freshness(result.settings, where)
    if fresh.status == "stale":
        refresh = refresh_eta2_command(fresh.checkpoint, where, result.settings)
        raise MixdiagError(f"{source} is stale: {fresh.reason}; refresh it with `{refresh}`")
    return result


# What a stored result must have been measured with to stand in for a fresh measurement.
_REUSED = ("split", "k", "sample_size", "pooled", "limit", "restarts", "seed")


def _requested(eta2_options: dict) -> dict:
    from .report import eta2_result

    defaults = {name: p.default for name, p in inspect.signature(eta2_result).parameters.items() if name in _REUSED}
    return {**defaults, **{key: value for key, value in eta2_options.items() if key in _REUSED}}


def _reuse_problem(settings: dict, requested: dict) -> Optional[str]:
    """Why a stored result of the right checkpoint does not answer ``requested``; None when it does."""
    missing = object()
    for key, value in requested.items():
        recorded = settings.get(key, missing)
        if recorded is missing:
            return f"it does not record {key}"
        if recorded != value:
            return f"it was measured with {key}={recorded}, not {key}={value}"
    return None


def load_result(source, data=None, **eta2_options):
    """η² table and settings of one source: an eta2 output (directory or csv), a checkpoint, a run directory,
    a result in memory, or a model.

    A checkpoint is measured with ``eta2_options``. A run directory's stored ``eta2-<split>``
    output is read when it measured the run's current ``checkpoints/last.pt`` (same SHA-256)
    with the requested settings; otherwise ``last.pt`` is measured afresh and stderr says why.
    An eta2 output named directly is refused when its checkpoint has changed since. A table
    from :func:`mixdiag.eta2` (its settings in ``attrs``) or an ``Eta2Result`` is taken as
    it is; a loaded run, a network from :func:`mixdiag.load_model`, or an ``nn.Module``
    with ``data`` is measured.
    """
    from .report import Eta2Result, eta2_result  # the checkpoint path runs the whole analysis

    if isinstance(source, Eta2Result):
        return source
    if isinstance(source, pd.DataFrame):
        return Eta2Result(source, dict(source.attrs))
    if not isinstance(source, (str, Path)):
        return eta2_result(source, data, **eta2_options)
    path = Path(source)
    if path.suffix == ".pt":
        return eta2_result(path, **eta2_options)
    ckpt = path / "checkpoints" / "last.pt"
    if path.is_dir() and not (path / "eta2.csv").is_file() and ckpt.is_file():
        requested = _requested(eta2_options)
        stored = path / f"eta2-{requested['split']}"
        if (stored / "eta2.csv").is_file():
            result = read_stored_eta2(stored)
            fresh = freshness(result.settings, stored, ckpt)
            problem = fresh.reason if fresh.status != "current" else _reuse_problem(result.settings, requested)
            if problem is None:
                return result
            say(f"not using {stored}: {problem}; measuring {ckpt} afresh "
                f"(`{refresh_eta2_command(ckpt, stored, requested)}` stores the new result)")
        return eta2_result(ckpt, **eta2_options)
    return stored_eta2(path)


def load_curves(source: str | Path, **eta2_options) -> pd.DataFrame:
    """η² rows of one source (see :func:`load_result`)."""
    return load_result(source, **eta2_options).table


def unique_run_names(frames: Sequence[pd.DataFrame]) -> list[pd.DataFrame]:
    """Suffix repeated run names (``erm``, ``erm#2``) so every run stays its own curve."""
    seen: dict[str, int] = {}
    out = []
    for df in frames:
        name = str(df["run"].iloc[0])
        seen[name] = seen.get(name, 0) + 1
        out.append(df if seen[name] == 1 else df.assign(run=f"{name}#{seen[name]}"))
    return out


def baseline_runs(curves: pd.DataFrame, baseline: Optional[str] = None) -> tuple[str, list[str]]:
    """The baseline's name and runs: a run name, a group (``erm (epochs=5)``) or a method, in any case.

    A method whose runs fall into several training groups is refused: averaging them would
    pool runs trained differently.
    """
    baseline = baseline or "erm"
    runs = curves.drop_duplicates("run")
    if "group" not in runs.columns:
        runs = runs.assign(group=runs["method"])
    if baseline in set(runs["run"]):
        return baseline, [baseline]
    wanted = baseline.casefold()
    for column in ("run", "group", "method"):
        hit = runs[runs[column].astype(str).str.casefold() == wanted]
        if hit.empty:
            continue
        if column == "method" and hit["group"].nunique() > 1:
            groups = "; ".join(f"{g}: {', '.join(r)}" for g, r in hit.groupby("group", sort=False)["run"])
            raise MixdiagError(f"the {baseline} runs were trained differently ({groups}); pass --baseline with one of these groups "
                               "or a run name, or --allow-mixed with the setting to pool them")
        return str(hit[column].iloc[0]), list(hit["run"])
    methods = ", ".join(dict.fromkeys(runs["method"]))
    raise MixdiagError(f"no run or method named {baseline!r} to compare against; pass --baseline with a method ({methods}, any case) "
                       f"or a run ({', '.join(runs['run'])})")


def delta_eta2(curves: pd.DataFrame, baseline: Optional[str] = None) -> pd.DataFrame:
    """Δη² per block of every non-baseline run against the baseline.

    Args:
        curves: rows of several runs (columns ``run``, ``method``, ``block``, ``module``, ``eta2``;
            ``group`` when runs of a method were trained differently).
        baseline: a run name, a group or a method name (any case) whose runs are averaged; default ``erm``.

    Returns:
        One row per (run, hidden state): ``run``, ``method``, ``group``, ``block``, ``module``,
        ``eta2``, ``baseline_eta2``, ``delta_eta2`` and the ``baseline`` used.
    """
    name, base_runs = baseline_runs(curves, baseline)
    if "group" not in curves.columns:
        curves = curves.assign(group=curves["method"])
    base_rows = curves[curves["run"].isin(set(base_runs))]
    base = base_rows.groupby(KEYS, as_index=False, sort=False)["eta2"].mean().rename(columns={"eta2": "baseline_eta2"})
    others = curves[~curves["run"].isin(set(base_runs))]
    if others.empty:
        raise MixdiagError("every run given is a baseline run; add runs trained with a mixing method")
    merged = others.merge(base, on=KEYS, how="left")
    unmatched = merged[merged["baseline_eta2"].isna()]
    if not unmatched.empty:
        raise MixdiagError(
            f"run {unmatched['run'].iloc[0]} has hidden state {unmatched['module'].iloc[0]!r} that the baseline lacks; compare runs of the same model"
        )
    merged["delta_eta2"] = merged["eta2"] - merged["baseline_eta2"]
    merged["baseline"] = name
    return merged[["run", "method", "group", *KEYS, "eta2", "baseline_eta2", "delta_eta2", "baseline"]]


@dataclass
class Comparison:
    """What :func:`compare` returns.

    Attributes:
        curves: every run's η² rows, with its ``group`` and the settings it was measured
            and trained with (one column each).
        delta: Δη² per run and hidden state against the baseline (``compare.csv``), with
            the same per-run setting columns.
        blocks: per group and hidden state, the mean Δη² over its runs with a 95% interval
            and a p-value across seeds (:func:`~mixdiag.analysis.intervals.welch`).
        stages: the same per stage (blocks averaged within each run first).
        settings: what every run shares, measured and trained (for titles and captions).
        mixed: the settings allowed to differ (``allow_mixed``) that do differ.
        notes: what the user must know to read the numbers, e.g. that one seed gives no interval.
        tracks: tracked η² of run directories trained with ``--track-eta2``.
    """

    curves: pd.DataFrame
    delta: pd.DataFrame
    tracks: Optional[pd.DataFrame] = None
    blocks: Optional[pd.DataFrame] = None
    stages: Optional[pd.DataFrame] = None
    settings: dict = field(default_factory=dict)
    mixed: list = field(default_factory=list)
    notes: list = field(default_factory=list)


@dataclass
class _Runs:
    """What several runs share, what they may differ in, and the per-run columns a comparison shows."""

    settings: dict
    mixed: list
    columns: pd.DataFrame  # one row per run: run, group and the settings shown per run


def _line_up(records: Sequence[Record], known: Sequence[str], allow_mixed: Iterable[str]) -> _Runs:
    """Check that the runs were measured alike, group them by training, and tabulate per run what they were measured with."""
    training = {key for r in records for key in (*r.trained, *r.mixing)}
    allowed = normalize_allowed(allow_mixed, known, training)
    held, mixed = check_alike(records, known, allowed)
    trained_held, varying = training_differences(records)
    pooled = [key for key in varying if key in allowed]
    mixed += pooled
    separate = [key for key in varying if key not in allowed]
    groups = group_labels(records, separate, [key for key in mixed if key not in pooled])
    always = ["model", "epochs", "epoch"]
    shown = [s for s in known if s not in NEVER_MIXED] + always + [k for k in varying if k not in always]
    columns = pd.DataFrame([{"run": r.run, "group": g, **{key: _value_of(r, key) for key in shown}} for r, g in zip(records, groups)])
    return _Runs({**held, **trained_held}, mixed, columns)


def _value_of(record: Record, key: str):
    for where in (record.measured, record.trained, record.mixing):
        if key in where:
            return where[key]
    return None


def _with_columns(df: pd.DataFrame, columns: pd.DataFrame) -> pd.DataFrame:
    """``df`` with the per-run columns it lacks, matched by run."""
    extra = columns[["run", *[c for c in columns.columns if c not in df.columns]]]
    return df.merge(extra, on="run", how="left")


def _one_seed_note(blocks: pd.DataFrame, base_runs: Sequence[str], baseline: str) -> list[str]:
    if blocks.empty:
        return []
    single = list(dict.fromkeys(blocks.loc[blocks["n_runs"] < 2, "group"]))
    if len(base_runs) < 2:
        single.insert(0, f"the baseline {baseline}")
    if not single:
        return []
    return [f"one run only for {', '.join(single)}: no interval or p-value can be given across seeds (NaN in the tables); "
            "train at least two seeds of each method to get them"]


def _is_path(source) -> bool:
    return isinstance(source, (str, Path))


def _named(sources) -> list:
    """The sources of a ``{name: model or result}`` mapping as a list, a model's name passed on; a sequence as it is."""
    if not isinstance(sources, Mapping):
        return list(sources)
    from torch import nn

    return [(name, source) if isinstance(source, nn.Module) else source for name, source in sources.items()]


def compare(sources: Sequence | Mapping, baseline: Optional[str] = None, allow_mixed: Iterable[str] = (), data=None,
            **eta2_options) -> Comparison | ConflictComparison:
    """Several runs side by side: per-block η² and Δη² against ``baseline``, or correlation conflict.

    Args:
        sources: eta2 outputs, checkpoints or run directories (see :func:`load_result`),
            tables from :func:`mixdiag.eta2`, networks from :func:`mixdiag.load_model`, or
            modules measured on ``data``; a ``{name: ...}`` mapping names its modules. Or
            only conflict outputs (directories or ``conflict.csv``), which give a
            :class:`ConflictComparison` (see :func:`compare_conflict`).
        baseline: run name, training group or method (any case) whose runs are averaged;
            default ``erm`` (η² comparisons only).
        allow_mixed: settings that may differ between the runs (``k``, ``split``, ``n``,
            ``sample_size``, ``pooled``, ``dataset``, ``dataset_options``, or a training
            setting such as ``epochs`` to pool runs of one method); each is then shown per run.
        data: the inputs of the module sources (tensor, numpy array, Dataset or DataLoader).
        **eta2_options: passed to :func:`mixdiag.eta2` for sources that must be measured.

    Raises:
        MixdiagError: when the runs differ in a setting that changes η² and is not allowed,
            or a stored result named directly measured an older version of its checkpoint.

    >>> cmp = compare(["runs/erm-s0", "runs/erm-s1", "runs/mixup-s0", "runs/mixup-s1"])  # doctest: +SKIP
    >>> cmp.blocks[["group", "module", "delta_eta2", "ci_low", "ci_high", "p_value"]]  # doctest: +SKIP
    """
    sources = _named(sources)
    conflict = [_is_path(s) and conflict_csv(s) is not None for s in sources]
    if any(conflict):
        if not all(conflict):
            raise MixdiagError("compare takes either conflict outputs or eta2 sources, not both; run it once for each kind")
        return compare_conflict(sources, allow_mixed=allow_mixed)
    if len(sources) < 2:
        raise MixdiagError("compare needs at least two runs; pass eta2 outputs, checkpoints or run directories")
    results = [load_result(s[1], data, name=s[0], **eta2_options) if isinstance(s, tuple) else load_result(s, data, **eta2_options)
               for s in sources]
    tables = unique_run_names([r.table for r in results])
    runs = _line_up([eta2_record(t, r.settings) for t, r in zip(tables, results)], ETA2_SETTINGS, allow_mixed)
    curves = _with_columns(pd.concat(tables, ignore_index=True), runs.columns)
    if "eta2_null" in curves.columns:  # how far each run stands above what structureless data give
        curves["eta2_excess"] = curves["eta2"] - curves["eta2_null"]
    name, base_runs = baseline_runs(curves, baseline)
    delta = _with_columns(delta_eta2(curves, baseline), runs.columns.drop(columns="group"))
    blocks = seed_statistics(curves, base_runs, KEYS).assign(baseline=name)
    stages = seed_statistics(stage_means(curves), base_runs, ["stage"]).assign(baseline=name)
    tracks = [_with_columns(read_track(Path(s)).drop(columns="run").assign(run=t["run"].iloc[0]), runs.columns[["run", "group"]])
              for s, t in zip(sources, tables) if _is_path(s) and Path(s).is_dir() and (Path(s) / TRACK_FILE).is_file()]
    return Comparison(curves, delta, pd.concat(tracks, ignore_index=True) if tracks else None, blocks, stages,
                      runs.settings, runs.mixed, _one_seed_note(blocks, base_runs, name))


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
    return read_stored_conflict(source)[0]


def read_stored_conflict(source: str | Path) -> tuple[pd.DataFrame, dict]:
    """A conflict output's table and the settings of the ``conflict.json`` beside it ({} when absent)."""
    csv = conflict_csv(source)
    if csv is None or not csv.is_file():
        raise MixdiagError(f"{source} is neither a conflict output directory nor a conflict.csv; run `mixdiag conflict` first")
    table = read_csv(csv, ["run", "method", *CONFLICT_KEYS, *KEYS, "eta2", "decoupling_auc"], "mixdiag conflict")
    return table, _settings_beside(csv, "conflict.json")


def refresh_conflict_command(ckpt: Path, out: Path, settings: dict) -> str:
    """The ``mixdiag conflict`` call that measures ``ckpt`` with ``settings`` into ``out``."""
    parts = ["mixdiag conflict", f"--ckpt {ckpt}", f"--out {out}", "--force", f"--split {settings.get('split', 'train')}"]
    if "min_group" in settings:
        parts.append(f"--min-group {settings['min_group']}")
    requested = settings.get("pairs_requested")
    if isinstance(requested, list):
        parts += [f"--pair {a},{b}" for a, b in requested]
    elif requested is not None:
        parts.append(f"--pairs {requested}")
    for option, key in (("--null", "null"), ("--seed", "seed")):
        if key in settings:
            parts.append(f"{option} {settings[key]}")
    if settings.get("pooled"):
        parts.append("--pooled")
    return " ".join(parts)


def stored_conflict(source: str | Path) -> tuple[pd.DataFrame, dict]:
    """A conflict output, refused when the checkpoint it measured has changed since."""
    table, settings = read_stored_conflict(source)
    where = conflict_csv(source).parent
    fresh = freshness(settings, where)
    if fresh.status == "stale":
        refresh = refresh_conflict_command(fresh.checkpoint, where, settings)
        raise MixdiagError(f"{source} is stale: {fresh.reason}; refresh it with `{refresh}`")
    return table, settings


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
        settings: what every run shares, measured and trained (for titles).
        mixed: the settings allowed to differ (``allow_mixed``) that do differ.
    """

    rows: pd.DataFrame
    auc: pd.DataFrame
    eta2: pd.DataFrame
    shared_pairs: list
    settings: dict = field(default_factory=dict)
    mixed: list = field(default_factory=list)


def compare_conflict(sources: Sequence[str | Path], allow_mixed: Iterable[str] = ()) -> ConflictComparison:
    """Decoupling AUC per pair and mean label η² per hidden state of several conflict outputs, side by side.

    Outputs measured differently (split, n, min_group, pooled, data, hidden states) are refused
    unless ``allow_mixed`` names the setting; so are outputs whose checkpoint changed since.
    """
    if len(sources) < 2:
        raise MixdiagError("compare needs at least two runs; pass two or more conflict outputs")
    stored = [stored_conflict(s) for s in sources]
    tables = unique_run_names([table for table, _ in stored])
    records = [conflict_record(t, settings) for t, (_, settings) in zip(tables, stored)]
    lined_up = _line_up(records, CONFLICT_SETTINGS, allow_mixed)
    rows = _with_columns(pd.concat(tables, ignore_index=True), lined_up.columns)
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
        settings=lined_up.settings,
        mixed=lined_up.mixed,
    )


def rows_of_pairs(rows: pd.DataFrame, pairs) -> pd.DataFrame:
    """The rows of ``rows`` whose ``(label_a, label_b)`` is one of ``pairs``."""
    return rows[pd.MultiIndex.from_frame(rows[CONFLICT_KEYS]).isin([tuple(p) for p in pairs])]


def write_compare(result: Comparison | ConflictComparison, out: str | Path, force: bool = False) -> list[Path]:
    """Write the comparison into ``out``, all or nothing.

    η² comparisons: ``curves.csv``, ``compare.csv`` (Δη² per run, with the settings of every
    run), ``delta_blocks.csv`` and ``delta_stages.csv`` (mean Δη², 95% interval and p-value
    per group and hidden state or stage), ``compare.json`` (the settings held equal, those
    allowed to differ, the notes), ``compare.png``, ``delta.png`` and, with tracks,
    ``trajectories.png``. Conflict comparisons: ``conflict_rows.csv``, ``conflict_auc.csv``,
    ``conflict_eta2.csv``, ``compare.json``, ``conflict_auc.png`` and ``conflict_eta2.png``.
    """
    import matplotlib.pyplot as plt

    from ..plots import plot_compare, plot_conflict_compare, plot_decoupling_auc, plot_delta, plot_trajectories
    from ..plots.eta2 import group_hue, shared_settings_caption

    def save(staging: Path, figures: dict) -> None:
        write_json(staging / "compare.json", {"held_equal": result.settings, "allowed_to_differ": result.mixed,
                                              "notes": getattr(result, "notes", [])})
        for name, fig in figures.items():
            fig.savefig(staging / name, dpi=130)
            plt.close(fig)

    def write_conflict(staging: Path) -> None:
        result.rows.to_csv(staging / "conflict_rows.csv", index=False)
        result.auc.to_csv(staging / "conflict_auc.csv", index=False)
        result.eta2.to_csv(staging / "conflict_eta2.csv", index=False)
        shared = rows_of_pairs(result.rows, result.shared_pairs)
        title = f"Mean label η² over the {len(result.shared_pairs)} shared pairs, per block"
        hue = group_hue(result.rows)
        save(staging, {"conflict_auc.png": plot_decoupling_auc(result.rows, hue=hue),
                       "conflict_eta2.png": plot_conflict_compare(shared, hue=hue, title=title)})

    if isinstance(result, ConflictComparison):
        return write_directory(out, write_conflict, force)

    def write(staging: Path) -> None:
        result.curves.to_csv(staging / "curves.csv", index=False)
        result.delta.to_csv(staging / "compare.csv", index=False)
        result.blocks.to_csv(staging / "delta_blocks.csv", index=False)
        result.stages.to_csv(staging / "delta_stages.csv", index=False)
        caption = shared_settings_caption(result.curves)
        figures = {"compare.png": plot_compare(result.curves), "delta.png": plot_delta(result.blocks, caption=caption)}
        if result.tracks is not None:
            figures["trajectories.png"] = plot_trajectories(result.tracks, hue=group_hue(result.tracks))
        save(staging, figures)

    return write_directory(out, write, force)
