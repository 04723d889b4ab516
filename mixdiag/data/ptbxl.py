"""PTB-XL: 21,799 clinical 12-lead ECGs of 10 s with SCP-ECG statements (PhysioNet).

Expected layout of ``data_dir`` (the unpacked PhysioNet release)::

    ptbxl_database.csv   ecg_id, scp_codes ("{'NORM': 100.0, 'SR': 0.0}"), strat_fold,
                         filename_lr, filename_hr, ...
    scp_statements.csv   indexed by statement code; diagnostic, diagnostic_class, ...
    records100/...       WFDB records at 100 Hz (filename_lr)
    records500/...       WFDB records at 500 Hz (filename_hr)

Labels follow the benchmark of Strodthoff et al. (2021): every statement listed for a
record counts, whatever its likelihood, and records without a label at the chosen level
are left out. Folds 1-8 train, fold 9 validates, fold 10 tests. Records are read with
``wfdb`` once and cached as ``float32`` millivolts (see :mod:`mixdiag.data._cache`).
"""

from __future__ import annotations

import ast
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..errors import DataError
from ._base import Dataset, register_dataset
from ._cache import DEFAULT_WORKERS, cache_file, cached_rows, channel_stats, require_dir, resolve_cache_dir, take_limit

__all__ = ["SUPERCLASSES", "load_ptbxl"]

SUPERCLASSES = ("NORM", "MI", "STTC", "CD", "HYP")
DATABASE_COLUMNS = ("ecg_id", "scp_codes", "strat_fold", "filename_lr", "filename_hr")
STATEMENT_COLUMNS = ("diagnostic", "diagnostic_class")
FILENAME_COLUMN = {100: "filename_lr", 500: "filename_hr"}
NUM_LEADS = 12
DURATION_S = 10
FOLDS = {"train": range(1, 9), "val": (9,), "test": (10,)}
LAYOUT = "the PTB-XL folder (ptbxl_database.csv, scp_statements.csv, records100/, records500/)"


@register_dataset("ptbxl")
def load_ptbxl(
    data_dir: Path | None,
    *,
    seed: int = 0,
    sampling_rate: int = 100,
    level: str = "superclass",
    limit: int | None = None,
    cache_dir: str | Path | None = None,
    workers: int = DEFAULT_WORKERS,
) -> Dataset:
    """Load PTB-XL as multi-label diagnostic targets with the recommended folds.

    Args:
        data_dir: folder in the PhysioNet layout (see the module docstring).
        seed: seeds the ``limit`` subsets (the folds are fixed).
        sampling_rate: 100 (``filename_lr`` records) or 500 (``filename_hr``).
        level: ``"superclass"`` (NORM, MI, STTC, CD, HYP) or ``"statement"`` (every code
            of ``scp_statements.csv``, in its order).
        limit: at most this many records per split, drawn at random (quick runs).
        cache_dir: where decoded records are cached; default ``<data_dir>/.mixdiag-cache``,
            or ``~/.cache/mixdiag`` when ``data_dir`` is read-only.
        workers: threads reading records when the cache is built.

    Returns:
        A :class:`Dataset` of ``float32 (N, 12, 10 * sampling_rate)`` signals in mV,
        ``float32 (N, L)`` labels and a validation split.
    """
    data_dir = require_dir(data_dir, "ptbxl", LAYOUT)
    if sampling_rate not in FILENAME_COLUMN:
        raise DataError(f"ptbxl: sampling_rate must be 100 or 500, got {sampling_rate!r}")
    if level not in ("superclass", "statement"):
        raise DataError(f"ptbxl: level must be 'superclass' or 'statement', got {level!r}")
    wfdb = _import_wfdb()

    database = _read_csv(data_dir / "ptbxl_database.csv", DATABASE_COLUMNS)
    statements = _read_csv(data_dir / "scp_statements.csv", STATEMENT_COLUMNS, index_col=0)
    class_names, labels = _labels(database, statements, level)
    labelled = labels.any(axis=1)
    database, labels = database[labelled].reset_index(drop=True), labels[labelled]

    folds = pd.to_numeric(database["strat_fold"], errors="coerce").to_numpy()
    outside = ~np.isin(folds, np.arange(1, 11))
    if outside.any():
        first = np.flatnonzero(outside)[0]
        ecg_id, fold = database["ecg_id"][first], database["strat_fold"][first]
        raise DataError(f"ptbxl: ecg_id {ecg_id} has strat_fold {fold!r}; folds run from 1 to 10")
    rng = np.random.default_rng(seed)
    splits = {split: take_limit(np.flatnonzero(np.isin(folds, list(fold))), limit, rng) for split, fold in FOLDS.items()}

    keep = np.sort(np.concatenate(list(splits.values())))
    filenames = database[FILENAME_COLUMN[sampling_rate]].astype(str).to_numpy()[keep]
    length = DURATION_S * sampling_rate
    cache_path = cache_file(
        resolve_cache_dir(data_dir, cache_dir),
        f"ptbxl-{sampling_rate}hz-{len(keep)}",
        [str(data_dir.resolve()), *filenames],
    )
    read = partial(_read_record, wfdb=wfdb, data_dir=data_dir, sampling_rate=sampling_rate)
    signals = cached_rows(cache_path, list(filenames), read, (NUM_LEADS, length), np.float32, workers)

    x = {split: np.asarray(signals[np.searchsorted(keep, idx)]) for split, idx in splits.items()}
    mean, std = channel_stats(x["train"])
    return Dataset(
        name="ptbxl",
        x_train=torch.from_numpy(x["train"]),
        y_train=torch.from_numpy(labels[splits["train"]]),
        x_test=torch.from_numpy(x["test"]),
        y_test=torch.from_numpy(labels[splits["test"]]),
        x_val=torch.from_numpy(x["val"]),
        y_val=torch.from_numpy(labels[splits["val"]]),
        num_classes=len(class_names),
        class_names=class_names,
        mean=mean,
        std=std,
        augment="shift",
        multilabel=True,
        info={
            "source": str(data_dir),
            "sampling_rate": sampling_rate,
            "level": level,
            "unit": "mV",
            "cache": str(cache_path),
            "unlabelled_left_out": int((~labelled).sum()),
            "sizes": {split: len(idx) for split, idx in splits.items()},
        },
    )


def _import_wfdb():
    """The optional ``wfdb`` package, or a DataError saying how to install it."""
    try:
        import wfdb
    except ImportError:
        raise DataError("ptbxl reads WFDB records with the wfdb package: pip install wfdb (or pip install 'mixdiag[medical]')") from None
    return wfdb


def _read_csv(path: Path, columns: tuple[str, ...], index_col: int | None = None) -> pd.DataFrame:
    """A PTB-XL CSV that must hold ``columns``."""
    if not path.is_file():
        raise DataError(f"ptbxl: {path.name} not found in {path.parent}; pass --data-dir pointing at {LAYOUT}")
    table = pd.read_csv(path, index_col=index_col)
    for column in columns:
        if column not in table.columns:
            raise DataError(f"ptbxl: {path.name} has no column {column!r}; use the file of the PhysioNet release")
    return table


def _labels(database: pd.DataFrame, statements: pd.DataFrame, level: str) -> tuple[list[str], np.ndarray]:
    """Label names and ``float32 (N, L)`` 0/1 labels of every database row at ``level``."""
    if level == "statement":
        class_names = [str(code) for code in statements.index]
        target = {code: code for code in class_names}
    else:
        class_names = list(SUPERCLASSES)
        diagnostic = statements[statements["diagnostic"] == 1]
        target = dict(zip(diagnostic.index.astype(str), diagnostic["diagnostic_class"]))
        unknown = sorted(str(cls) for cls in target.values() if cls not in SUPERCLASSES)
        if unknown:
            raise DataError(
                f"ptbxl: scp_statements.csv names the unknown diagnostic_class {unknown[0]!r}; expected one of {', '.join(SUPERCLASSES)}"
            )
    column = {name: i for i, name in enumerate(class_names)}
    known = set(statements.index.astype(str))
    labels = np.zeros((len(database), len(class_names)), dtype=np.float32)
    for row, (ecg_id, text) in enumerate(zip(database["ecg_id"], database["scp_codes"])):
        for code in _parse_codes(ecg_id, text):
            if code not in known:
                raise DataError(f"ptbxl: ecg_id {ecg_id} has the unknown SCP code {code!r}; it is not in scp_statements.csv")
            if code in target:
                labels[row, column[target[code]]] = 1.0
    return class_names, labels


def _parse_codes(ecg_id, text) -> list[str]:
    """The codes of one ``scp_codes`` cell, a Python dict literal such as ``"{'NORM': 100.0}"``."""
    try:
        codes = ast.literal_eval(text) if isinstance(text, str) else None
    except (ValueError, SyntaxError):
        codes = None
    if not isinstance(codes, dict):
        raise DataError(f"ptbxl: ecg_id {ecg_id} has scp_codes {text!r}; expected a dict such as {{'NORM': 100.0}}")
    return [str(code) for code in codes]


def _read_record(filename: str, *, wfdb, data_dir: Path, sampling_rate: int) -> np.ndarray:
    """One WFDB record as ``float32 (12, 10 * sampling_rate)`` millivolts."""
    try:
        signal, _ = wfdb.rdsamp(str(data_dir / filename))
    except (OSError, ValueError) as err:
        raise DataError(f"ptbxl: cannot read record {filename} in {data_dir}: {err}") from None
    expected = (DURATION_S * sampling_rate, NUM_LEADS)
    if signal.shape != expected:
        raise DataError(
            f"ptbxl: record {filename} has {signal.shape[0]} samples x {signal.shape[1]} leads; "
            f"expected {expected[0]} x {expected[1]} ({DURATION_S} s at {sampling_rate} Hz)"
        )
    return signal.T.astype(np.float32)
