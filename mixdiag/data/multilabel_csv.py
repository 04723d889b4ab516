"""A table of image paths and their labels: a user's own multi-label data.

``data_dir`` is the CSV file, or a folder holding exactly one ``.csv``. One row per image:

- the image path (column ``path_column``), relative to the CSV's folder or absolute;
- the labels, either one 0/1 column per label (``label_columns``, or every column that is
  not the path, split or patient column) or one column of ``|``-separated findings
  (``findings_column``, the NIH convention: ``Effusion|Mass``; an empty cell or
  ``No Finding``, in any case, is a row without positive labels). Label names are the
  column names, or the sorted findings found in the table;
- optionally the split (column ``split_column``, default ``split`` when the table has one;
  values ``train``, ``val``, ``test``): a split no row names is drawn from the training rows;
- optionally the patient (column ``patient_column``, default ``patient_id`` when the table
  has one): drawn splits then keep each patient's images on one side (a row with an empty
  id counts as a patient of its own).

Images are decoded once into a cache and mapped, as for ``imagefolder``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
import torch

from ..errors import DataError
from ._base import Dataset, register_dataset
from ._cache import DEFAULT_WORKERS, resolve_cache_dir
from ._image_dataset import ImageFiles, ImageOptions, image_dataset
from ._images import check_image_options
from ._splits import SPLITS
from .validation import strata

__all__ = ["NO_FINDING", "load_multilabel_csv"]

NAME = "multilabel-csv"
LAYOUT = "a CSV file (or a folder with exactly one .csv) with an image path column and 0/1 label columns or a findings column"
NO_FINDING = "no finding"  # compared case-insensitively; an empty cell means the same
_FIX = "replace the file or drop its row from the table"


@register_dataset(NAME, run_val_fraction=True)
def load_multilabel_csv(
    data_dir: Path | None,
    *,
    seed: int = 0,
    path_column: str = "path",
    label_columns: list[str] | str | None = None,
    findings_column: str | None = None,
    split_column: str | None = None,
    patient_column: str | None = None,
    image_size: int = 32,
    channels: int = 3,
    test_fraction: float = 0.2,
    val_fraction: float = 0.1,
    split_seed: int = 0,
    augment: str = "crop",
    limit: int | None = None,
    cache_dir: str | Path | None = None,
    workers: int = DEFAULT_WORKERS,
) -> Dataset:
    """Load a table of image paths and labels as a multi-label image dataset.

    Args:
        data_dir: the CSV file, or a folder holding exactly one ``.csv``.
        seed: the run's seed; the split does not follow it (see ``split_seed``).
        path_column: the column of image paths (relative to the CSV's folder, or absolute).
        label_columns: the 0/1 label columns (a list, or names separated by commas); default:
            every column but the path, split and patient columns. Not with ``findings_column``.
        findings_column: a column of ``|``-separated label names instead of 0/1 columns.
        split_column: column of ``train``/``val``/``test``; default ``split`` when present.
        patient_column: column of patient ids; default ``patient_id`` when present.
        image_size: side of the square the images are resized to.
        channels: 1 (grayscale, e.g. X-rays) or 3 (RGB); images are converted with PIL.
        test_fraction: share drawn as the test split when no row is marked ``test``.
        val_fraction: share of the remaining training rows drawn as the validation split when
            no row is marked ``val``; 0 for none. A run passes its ``--val-fraction``.
        split_seed: seeds the drawn splits and ``limit``; not the run's seed, so runs of every
            seed share one split and one cache.
        augment: the training augmentation (``crop`` by default: no flips, as for X-rays).
        limit: at most this many images per split, drawn at random (quick runs).
        cache_dir: where the decoded images are cached; default ``.mixdiag-cache`` beside the
            CSV, or ``~/.cache/mixdiag`` when that folder is read-only.
        workers: threads decoding images when the cache is built.

    Returns:
        A multi-label :class:`Dataset` of ``uint8`` images mapped from the cache and
        ``float32 (N, L)`` labels; ``info["split"]`` records how the splits were made.
    """
    csv = find_csv(data_dir)
    check_image_options(NAME, image_size, channels, augment)
    table = read_table(csv)
    split_column = _optional_column(table, csv, "split_column", split_column, "split")
    patient_column = _optional_column(table, csv, "patient_column", patient_column, "patient_id")
    _require_columns(table, csv, "path_column", [path_column])
    special = {path_column, split_column, patient_column} - {None}
    if findings_column is not None:
        if label_columns is not None:
            raise DataError(f"{NAME}: give label_columns or findings_column, not both")
        _require_columns(table, csv, "findings_column", [findings_column])
        labels, names = findings_labels(table[findings_column], csv, findings_column)
    else:
        columns = _label_columns(table, csv, label_columns, special)
        labels, names = binary_labels(table, csv, columns), columns
    files = ImageFiles(
        paths=image_paths(table[path_column], csv, path_column),
        labels=labels,
        class_names=names,
        assigned=_assigned(table, csv, split_column),
        strata=strata(torch.from_numpy(labels), multilabel=True),
        stratified_on="rarest positive label",
        groups=None if patient_column is None else _patients(table[patient_column]),
        given_by=f"column {split_column!r}" if split_column else "no split column",
    )
    options = ImageOptions(
        image_size=image_size,
        channels=channels,
        test_fraction=test_fraction,
        val_fraction=val_fraction,
        split_seed=split_seed,
        limit=limit,
        augment=augment,
        cache_dir=resolve_cache_dir(csv.parent, cache_dir),
        workers=workers,
    )
    ds = image_dataset(NAME, files, options, csv, _FIX)
    ds.info["columns"] = {"path": path_column, "findings": findings_column, "split": split_column, "patient": patient_column}
    return ds


def find_csv(data_dir: Path | None) -> Path:
    """The table: ``data_dir`` itself, or the one ``.csv`` in the folder ``data_dir``."""
    if data_dir is None:
        raise DataError(f"{NAME} has no default location; pass --data-dir pointing at {LAYOUT}")
    data_dir = Path(data_dir)
    if data_dir.is_file():
        return data_dir
    if not data_dir.is_dir():
        raise DataError(f"{NAME}: {data_dir} does not exist; pass --data-dir pointing at {LAYOUT}")
    tables = sorted(p for p in data_dir.glob("*.csv") if not p.name.startswith("."))
    if len(tables) != 1:
        found = ", ".join(p.name for p in tables) or "none"
        raise DataError(f"{NAME}: {data_dir} must hold exactly one .csv (found: {found}); pass --data-dir pointing at the CSV file itself")
    return tables[0]


def read_table(csv: Path) -> pd.DataFrame:
    """Every cell of the CSV as text (so "1" and "01" stay visible and no cell becomes NaN)."""
    try:
        with warnings.catch_warnings():
            # Rows longer than the header: pandas would silently turn the extra cells into an
            # index (or, with index_col=False, drop them with this warning); either misreads labels.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(csv, dtype=str, keep_default_na=False, index_col=False)
    except (pd.errors.ParserError, pd.errors.ParserWarning, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        reason = " ".join(str(err).split())
        raise DataError(f"{NAME}: cannot read {csv} as a CSV table ({reason}); save it as UTF-8 CSV with a header row") from None


def _optional_column(table: pd.DataFrame, csv: Path, option: str, given: Optional[str], default: str) -> Optional[str]:
    """``given`` (which must exist), else ``default`` when the table has it, else None."""
    if given is None:
        return default if default in table.columns else None
    _require_columns(table, csv, option, [given])
    return given


def _require_columns(table: pd.DataFrame, csv: Path, option: str, columns: list[str]) -> None:
    for column in columns:
        if column not in table.columns:
            raise DataError(
                f"{NAME}: {csv} has no column {column!r} ({option}); its columns are: {', '.join(table.columns)}; "
                f"name an existing column with --dataset-option {option}=NAME"
            )


def _label_columns(table: pd.DataFrame, csv: Path, given: list[str] | str | None, special: set[str]) -> list[str]:
    """The 0/1 label columns: the given ones (checked), else every column but the special ones."""
    if given is None:
        columns = [c for c in table.columns if c not in special]
    else:
        columns = [c.strip() for c in given.split(",")] if isinstance(given, str) else list(given)
        _require_columns(table, csv, "label_columns", columns)
    if not columns:
        raise DataError(f"{NAME}: {csv} has no label columns; add one 0/1 column per label, or name a findings_column")
    return columns


def binary_labels(table: pd.DataFrame, csv: Path, columns: list[str]) -> np.ndarray:
    """``float32 (N, L)`` labels from 0/1 columns; any other value raises naming its column and row."""
    labels = np.zeros((len(table), len(columns)), dtype=np.float32)
    for j, column in enumerate(columns):
        values = table[column].str.strip()
        bad = ~values.isin(["0", "1", "0.0", "1.0"])
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"{NAME}: label column {column!r} of {csv} holds {table[column].iloc[row]!r} (row {row + 2} of the file); "
                "label columns hold 0 or 1 only: fix the value, name the label columns with label_columns, "
                "or pass findings_column=NAME if the column lists |-separated findings"
            )
        labels[:, j] = values.astype(float).to_numpy()
    return labels


def findings_labels(findings: pd.Series, csv: Path, column: str) -> tuple[np.ndarray, list[str]]:
    """``float32 (N, L)`` labels and the sorted label names from ``|``-separated findings."""
    per_row = [{f.strip() for f in cell.split("|")} - {""} for cell in findings]
    per_row = [{f for f in row if f.casefold() != NO_FINDING} for row in per_row]
    names = sorted(set().union(*per_row))
    if not names:
        raise DataError(f"{NAME}: column {column!r} of {csv} names no finding in any row; every image would be negative for everything")
    index = {name: j for j, name in enumerate(names)}
    labels = np.zeros((len(per_row), len(names)), dtype=np.float32)
    for i, row in enumerate(per_row):
        labels[i, [index[f] for f in row]] = 1.0
    return labels, names


def image_paths(column: pd.Series, csv: Path, name: str) -> list[Path]:
    """Each row's image file, relative to the CSV's folder unless absolute; a missing one raises."""
    paths = [csv.parent / Path(value.strip()) for value in column]  # an absolute path replaces the folder
    missing = [i for i, path in enumerate(paths) if not path.is_file()]
    if missing:
        i = missing[0]
        raise DataError(
            f"{NAME}: image {paths[i]} (row {i + 2} of {csv}, column {name!r}) does not exist ({len(missing)} missing); "
            "fix the path: it is read relative to the CSV's folder unless absolute"
        )
    return paths


def _patients(column: pd.Series) -> np.ndarray:
    """Each row's patient id; a row with an empty id is a patient of its own rather than one of a large shared group."""
    ids = column.str.strip().to_numpy(dtype=object)
    empty = np.flatnonzero(ids == "")
    ids[empty] = [f"\0row {i}" for i in empty]  # \0: cannot be a real id read from a CSV cell
    return ids


def _assigned(table: pd.DataFrame, csv: Path, column: Optional[str]) -> np.ndarray:
    """Each row's split from the split column (all ``"train"`` without one)."""
    if column is None:
        return np.full(len(table), "train")
    values = table[column].str.strip().str.lower().to_numpy()
    bad = ~np.isin(values, SPLITS)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{NAME}: split column {column!r} of {csv} holds {table[column].iloc[row]!r} (row {row + 2} of the file); "
            f"use {', '.join(SPLITS)}"
        )
    return values
