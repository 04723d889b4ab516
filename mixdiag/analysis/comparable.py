"""Which stored results may be put side by side, and whether a stored result is still current.

η² (and the label η² of the conflict analysis) depends on how it was measured as much as
on the model: k, the split and its size, the k-means fit sample, pooling, the data set and
its options, and which hidden states were taken. :func:`check_alike` refuses results that
differ in any of these unless the caller names the setting in ``allow_mixed``; the setting
is then carried per run into the comparison's tables and figure legends.

Runs of one method can also differ in training (epochs, mixing options, model,
corruption, ...). :func:`group_labels` names every run by its method and the training
settings that differ between the runs, so such runs are never averaged into one band.

A stored result records the SHA-256 of the checkpoint it measured; :func:`freshness`
compares it with the checkpoint on disk now (its contents, not its file time).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

import pandas as pd

from ..errors import MixdiagError

NOT_RECORDED = "not recorded"

# In the order a refusal names them: the first that differs is reported.
ETA2_SETTINGS = ("dataset", "dataset_options", "val_fraction", "split", "n", "k", "sample_size", "pooled", "hidden_states")
CONFLICT_SETTINGS = ("dataset", "dataset_options", "val_fraction", "split", "n", "labels", "min_group", "pooled", "hidden_states")
# Δη² is taken per named hidden state: runs with other hidden states cannot be lined up at all.
NEVER_MIXED = ("hidden_states",)
# Config entries that are not training settings: the seed is what repeats a run, the data
# settings are measurement settings above, and device and tracking do not change the weights.
NOT_TRAINING = frozenset({"seed", "device", "data_dir", "track_eta2", "track_probe_size", "track_k", "method", "model",
                          "dataset", "dataset_options", "val_fraction", "method_options"})


@dataclass(frozen=True)
class Record:
    """What one run's result was measured with, and what its model was trained with.

    ``trained`` holds the training settings every method has (epochs, model, corruption,
    the checkpoint's epoch, ...), ``mixing`` the options of its mixing method (alpha, ...).
    """

    run: str
    method: str
    measured: dict
    trained: dict
    mixing: dict


def _plain(value):
    """A hashable, printable form: dicts and lists as canonical JSON."""
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list, tuple)) else value


def _recorded(settings: dict, key: str, default=NOT_RECORDED):
    return _plain(settings[key]) if key in settings else default


def _column_value(table: pd.DataFrame, column: str):
    if column not in table.columns:
        return NOT_RECORDED
    values = table[column].dropna().unique()
    return int(values[0]) if len(values) == 1 else NOT_RECORDED if len(values) == 0 else json.dumps(sorted(int(v) for v in values))


def _training(settings: dict) -> dict:
    """The keyword arguments ``trained`` and ``mixing`` of a :class:`Record`."""
    config = settings.get("config") or {}
    trained = {key: _plain(value) for key, value in sorted(config.items()) if key not in NOT_TRAINING}
    trained["model"] = _recorded(settings, "model")
    trained["epoch"] = _recorded(settings, "epoch")
    mixing = {key: _plain(value) for key, value in sorted((config.get("method_options") or {}).items())}
    return {"trained": trained, "mixing": mixing}


def _data_settings(settings: dict) -> dict:
    config = settings.get("config") or {}
    return {
        "dataset": _recorded(settings, "dataset", _recorded(config, "dataset")),
        "dataset_options": _recorded(config, "dataset_options"),
        # Only trainers that hold out a validation split record it; without one, nothing is held out.
        "val_fraction": _recorded(config, "val_fraction", 0.0) if config else NOT_RECORDED,
    }


def _fit_rows(sample_size, n):
    """The k-means fit sample as it was used: a sample of at least all n rows is all of them."""
    if isinstance(sample_size, int) and isinstance(n, int) and sample_size >= n:
        return "all"
    return sample_size


def eta2_record(table: pd.DataFrame, settings: dict) -> Record:
    """The record of one run's η² table (``eta2.csv`` rows) and its settings (``eta2.json``; may be empty)."""
    measured = {
        **_data_settings(settings),
        "split": _recorded(settings, "split"),
        "n": _column_value(table, "n"),
        "k": _column_value(table, "k"),
        "sample_size": _fit_rows(_recorded(settings, "sample_size"), _column_value(table, "n")),
        "pooled": _recorded(settings, "pooled"),
        "hidden_states": tuple(table["module"]),
    }
    return Record(str(table["run"].iloc[0]), str(table["method"].iloc[0]), measured, **_training(settings))


def conflict_record(table: pd.DataFrame, settings: dict) -> Record:
    """The record of one run's conflict table (``conflict.csv`` rows) and its settings (``conflict.json``)."""
    measured = {
        **_data_settings(settings),
        "split": _recorded(settings, "split"),
        "n": _recorded(settings, "n"),
        "labels": _recorded(settings, "labels"),
        "min_group": _recorded(settings, "min_group"),
        "pooled": _recorded(settings, "pooled"),
        "hidden_states": tuple(table.drop_duplicates("module").sort_values("block", kind="stable")["module"]),
    }
    return Record(str(table["run"].iloc[0]), str(table["method"].iloc[0]), measured, **_training(settings))


def normalize_allowed(allow_mixed: Iterable[str], known: Sequence[str], training: Iterable[str] = ()) -> set[str]:
    """``allow_mixed`` as setting names (``sample-size`` → ``sample_size``); unknown names are refused."""
    allowed = {str(s).strip().replace("-", "_") for s in allow_mixed}
    mixable = [s for s in known if s not in NEVER_MIXED] + sorted(set(training))
    unknown = sorted(allowed - set(mixable))
    if unknown:
        raise MixdiagError(f"--allow-mixed {unknown[0]!r} is not a setting that can differ between runs; choose from: {', '.join(mixable)}")
    return allowed


def _show(value) -> str:
    if isinstance(value, tuple):  # hidden states
        return f"{len(value)} hidden states ({value[0]} … {value[-1]})" if value else "no hidden states"
    return str(value)


def _differs(setting: str, records: Sequence[Record], values: list) -> str:
    runs_of: dict = {}
    for record, value in zip(records, values):
        runs_of.setdefault(value, []).append(record.run)
    return f"{setting} differs between the runs: " + " vs ".join(f"{_show(v)} ({', '.join(r)})" for v, r in runs_of.items())


def check_alike(records: Sequence[Record], settings: Sequence[str], allowed: set[str]) -> tuple[dict, list[str]]:
    """Refuse records that differ in a setting not in ``allowed``.

    Returns:
        The settings held equal (name → value, hidden states left out) and the names of the
        allowed settings that do differ, in ``settings`` order.

    Raises:
        MixdiagError: one line naming the first setting that differs and every value with its runs.
    """
    held, mixed = {}, []
    for setting in settings:
        values = [r.measured[setting] for r in records]
        if len(set(values)) == 1:
            if setting not in NEVER_MIXED:
                held[setting] = values[0]
            continue
        if setting in allowed:
            mixed.append(setting)
            continue
        fix = ("compare runs of the same model measured the same way" if setting in NEVER_MIXED else
               f"measure them alike, or pass --allow-mixed {setting} (allow_mixed=['{setting}'] in Python) to compare them anyway")
        raise MixdiagError(f"{_differs(setting, records, values)}; {fix}")
    return held, mixed


def training_differences(records: Sequence[Record]) -> tuple[dict, list[str]]:
    """Training settings equal in every run (name → value) and the names of those that differ.

    Mixing options (``alpha``, ``points``, ...) differ between methods by design; they count
    only when runs of one method differ in them.
    """
    held, varying = {}, []
    for key in sorted({key for r in records for key in r.trained}):
        values = {r.trained.get(key, NOT_RECORDED) for r in records}
        if len(values) == 1:
            held[key] = values.pop()
        else:
            varying.append(key)
    for key in sorted({key for r in records for key in r.mixing}):
        per_method: dict = {}
        for r in records:
            per_method.setdefault(r.method, set()).add(r.mixing.get(key, NOT_RECORDED))
        if any(len(values) > 1 for values in per_method.values()):
            varying.append(key)
    return held, varying


def group_labels(records: Sequence[Record], training: Sequence[str], measured: Sequence[str]) -> list[str]:
    """One label per run: its method, and the values of the given settings, e.g. ``erm (epochs=5)``."""
    labels = []
    for r in records:
        parts = [f"{key}={r.trained.get(key, r.mixing.get(key, NOT_RECORDED))}" for key in training]
        parts += [f"{key}={r.measured[key]}" for key in measured]
        labels.append(f"{r.method} ({', '.join(parts)})" if parts else r.method)
    return labels


@dataclass(frozen=True)
class Freshness:
    """Whether a stored result measured the checkpoint that is on disk now."""

    status: str  # "current", "stale" or "unverified"
    checkpoint: Optional[Path]
    reason: str = ""


def recorded_checkpoint(settings: dict, result_dir: Path) -> Optional[Path]:
    """The checkpoint a result records, where it can be found: as recorded (relative paths from
    the current directory), else in the ``checkpoints/`` next to the result (``<run>/eta2-train``)."""
    recorded = settings.get("checkpoint")
    if not recorded:
        return None
    path = Path(recorded)
    candidates = [path] + ([result_dir.parent / "checkpoints" / path.name] if path.parent.name == "checkpoints" else [])
    return next((p for p in candidates if p.is_file()), None)


def freshness(settings: dict, result_dir: Path, checkpoint: Optional[Path] = None) -> Freshness:
    """Compare the result's recorded ``checkpoint_sha256`` with ``checkpoint`` (default: the one it records)."""
    from ..training.checkpoint import file_sha256

    checkpoint = checkpoint or recorded_checkpoint(settings, result_dir)
    recorded = settings.get("checkpoint_sha256")
    if checkpoint is None or not recorded:
        why = "it records no checkpoint hash" if not recorded else f"its checkpoint {settings.get('checkpoint')} is gone"
        return Freshness("unverified", checkpoint, why)
    if file_sha256(checkpoint) == recorded:
        return Freshness("current", checkpoint)
    epoch = settings.get("epoch")
    why = f"it measured another version of {checkpoint}" + (f" (epoch {epoch})" if epoch is not None else "")
    return Freshness("stale", checkpoint, why)
