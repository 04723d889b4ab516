"""The Hefei high-tech cup ECG competition (Tianchi, 合肥高新杯心电人机智能大赛), round 1.

Expected layout of ``data_dir`` (as published on Tianchi)::

    hf_round1_label.txt      <id>.txt<TAB><age><TAB><sex><TAB><arrhythmia 1><TAB><arrhythmia 2>...
    hf_round1_arrythmia.txt  one arrhythmia name per line (the label order)
    train/<id>.txt           (or <id>.txt directly in data_dir)

Each record is a space-separated text file with the header ``I II V1 V2 V3 V4 V5 V6`` and
5000 rows (10 s at 500 Hz) of integers in units of 4.88 µV. Only the training records
are labelled, so train/validation/test are a seeded random split of them. Parsed records
are cached as ``float32`` millivolts (see :mod:`mixdiag.data._cache`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..errors import DataError
from ._base import Dataset, register_dataset
from ._cache import DEFAULT_WORKERS, cache_file, cached_rows, channel_stats, require_dir, resolve_cache_dir, take_limit

__all__ = ["RECORDED_LEADS", "TWELVE_LEADS", "UNIT_MV", "load_ecg_tianchi"]

RECORDED_LEADS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
TWELVE_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
SAMPLES = 5000
SAMPLING_RATE = 500
UNIT_MV = 0.00488  # one step of the files is 4.88 µV
LAYOUT = "the Tianchi Hefei ECG folder (hf_round1_label.txt, hf_round1_arrythmia.txt, train/<id>.txt)"


@register_dataset("ecg-tianchi")
def load_ecg_tianchi(
    data_dir: Path | None,
    *,
    seed: int = 0,
    label_file: str = "hf_round1_label.txt",
    arrhythmia_file: str = "hf_round1_arrythmia.txt",
    derive_limb_leads: bool = False,
    downsample: int = 1,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    limit: int | None = None,
    cache_dir: str | Path | None = None,
    workers: int = DEFAULT_WORKERS,
) -> Dataset:
    """Load the labelled Hefei ECG records as multi-label arrhythmia targets.

    Args:
        data_dir: folder in the competition layout (see the module docstring).
        seed: seeds the train/validation/test split and the ``limit`` subsets.
        label_file: record-to-arrhythmia file, relative to ``data_dir``.
        arrhythmia_file: the label names one per line, relative to ``data_dir``.
        derive_limb_leads: add III, aVR, aVL and aVF computed from I and II (12 leads,
            standard order) instead of the 8 recorded ones.
        downsample: keep one value per this many samples (the mean of each block, a crude
            low-pass against aliasing); a remainder shorter than a block is dropped.
        val_fraction, test_fraction: shares of the records in the validation and test splits.
        limit: at most this many records per split, drawn at random (quick runs).
        cache_dir: where parsed records are cached; default ``<data_dir>/.mixdiag-cache``,
            or ``~/.cache/mixdiag`` when ``data_dir`` is read-only.
        workers: threads parsing records when the cache is built.

    Returns:
        A :class:`Dataset` of ``float32 (N, 8 or 12, 5000 // downsample)`` signals in mV,
        ``float32 (N, num_arrhythmias)`` labels and a validation split.
    """
    data_dir = require_dir(data_dir, "ecg-tianchi", LAYOUT)
    if isinstance(downsample, bool) or not isinstance(downsample, int) or not 1 <= downsample <= SAMPLES:
        raise DataError(f"ecg-tianchi: downsample must be a whole factor between 1 and {SAMPLES}, got {downsample!r}")
    if not (val_fraction > 0 and test_fraction > 0 and val_fraction + test_fraction < 1):
        raise DataError(
            f"ecg-tianchi: val_fraction ({val_fraction!r}) and test_fraction ({test_fraction!r}) must be positive and sum to less than 1"
        )

    classes = _read_classes(data_dir / arrhythmia_file)
    records, labels = _read_labels(data_dir / label_file, classes)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(records))
    n_test = max(1, round(test_fraction * len(records)))
    n_val = max(1, round(val_fraction * len(records)))
    splits = {
        "train": take_limit(np.sort(order[n_test + n_val :]), limit, rng),
        "val": take_limit(np.sort(order[n_test : n_test + n_val]), limit, rng),
        "test": take_limit(np.sort(order[:n_test]), limit, rng),
    }

    keep = np.sort(np.concatenate(list(splits.values())))
    record_dir = data_dir / "train" if (data_dir / "train").is_dir() else data_dir
    paths = [record_dir / records[i] for i in keep]
    for path in paths:
        if not path.is_file():
            raise DataError(f"ecg-tianchi: record {path.name} is listed in {label_file} but missing from {record_dir}")
    cache_path = cache_file(
        resolve_cache_dir(data_dir, cache_dir),
        f"ecg-tianchi-{len(keep)}",
        [str(record_dir.resolve()), *(records[i] for i in keep)],
    )
    signals = cached_rows(cache_path, paths, _read_record, (len(RECORDED_LEADS), SAMPLES), np.float32, workers)

    x = {split: _prepare(np.asarray(signals[np.searchsorted(keep, idx)]), derive_limb_leads, downsample) for split, idx in splits.items()}
    mean, std = channel_stats(x["train"])
    return Dataset(
        name="ecg-tianchi",
        x_train=torch.from_numpy(x["train"]),
        y_train=torch.from_numpy(labels[splits["train"]]),
        x_test=torch.from_numpy(x["test"]),
        y_test=torch.from_numpy(labels[splits["test"]]),
        x_val=torch.from_numpy(x["val"]),
        y_val=torch.from_numpy(labels[splits["val"]]),
        num_classes=len(classes),
        class_names=classes,
        mean=mean,
        std=std,
        augment="shift",
        multilabel=True,
        info={
            "source": str(data_dir),
            "leads": list(TWELVE_LEADS if derive_limb_leads else RECORDED_LEADS),
            "sampling_rate": SAMPLING_RATE / downsample,
            "unit": "mV",
            "cache": str(cache_path),
            "sizes": {split: len(idx) for split, idx in splits.items()},
        },
    )


def _read_text(path: Path, what: str) -> str:
    """A competition text file (UTF-8, as the competition published them)."""
    if not path.is_file():
        raise DataError(f"ecg-tianchi: {what} {path.name} not found in {path.parent}; pass --data-dir pointing at {LAYOUT}")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"ecg-tianchi: {path} is not UTF-8 text; use the file as published by the competition") from None


def _read_classes(path: Path) -> list[str]:
    """Arrhythmia names in label order, one per line."""
    classes = [line.strip() for line in _read_text(path, "arrhythmia list").splitlines() if line.strip()]
    if not classes:
        raise DataError(f"ecg-tianchi: arrhythmia list {path} is empty")
    return classes


def _read_labels(path: Path, classes: list[str]) -> tuple[list[str], np.ndarray]:
    """Record file names and their ``float32 (N, len(classes))`` 0/1 labels, in file order."""
    index = {name: i for i, name in enumerate(classes)}
    records, rows = [], []
    for line in _read_text(path, "label file").splitlines():
        if not line.strip():
            continue
        fields = line.strip().split("\t")
        record, names = fields[0].strip(), [f.strip() for f in fields[3:] if f.strip()]
        if not names:
            raise DataError(f"ecg-tianchi: record {record} has no arrhythmia in {path.name}; is this an unlabelled test list?")
        row = np.zeros(len(classes), dtype=np.float32)
        for name in names:
            if name not in index:
                raise DataError(
                    f"ecg-tianchi: unknown arrhythmia {name!r} for record {record} in {path.name}; it is not in the arrhythmia list"
                )
            row[index[name]] = 1.0
        records.append(record)
        rows.append(row)
    if not records:
        raise DataError(f"ecg-tianchi: label file {path} lists no records")
    return records, np.stack(rows)


def _read_record(path: Path) -> np.ndarray:
    """One record as ``float32 (8, 5000)`` millivolts, its format checked."""
    try:
        table = pd.read_csv(path, sep=r"\s+")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"ecg-tianchi: cannot parse record {path}: {err}") from None
    header = " ".join(map(str, table.columns))
    if header != " ".join(RECORDED_LEADS):
        raise DataError(f"ecg-tianchi: record {path} has header {header!r}; expected {' '.join(RECORDED_LEADS)!r}")
    if len(table) != SAMPLES:
        raise DataError(f"ecg-tianchi: record {path} has {len(table)} samples; expected {SAMPLES} (10 s at {SAMPLING_RATE} Hz)")
    values = table.apply(pd.to_numeric, errors="coerce")
    bad = values.isna().to_numpy()
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raw = table.iat[row, col]
        problem = "a missing value" if pd.isna(raw) else f"the non-numeric value {raw!r}"
        raise DataError(f"ecg-tianchi: record {path} has {problem} in lead {RECORDED_LEADS[col]} on line {row + 2}")
    return (values.to_numpy(np.float64).T * UNIT_MV).astype(np.float32)


def _prepare(signals: np.ndarray, derive_limb_leads: bool, downsample: int) -> np.ndarray:
    """Add the derived limb leads if asked, then downsample by block means."""
    if derive_limb_leads:
        lead_i, lead_ii = signals[:, 0], signals[:, 1]
        # Einthoven's and Goldberger's relations between the limb leads.
        derived = np.stack([lead_ii - lead_i, -(lead_i + lead_ii) / 2, lead_i - lead_ii / 2, lead_ii - lead_i / 2], axis=1)
        signals = np.concatenate([signals[:, :2], derived, signals[:, 2:]], axis=1)
    if downsample > 1:
        n, c, length = signals.shape
        blocks = length // downsample
        signals = signals[:, :, : blocks * downsample].reshape(n, c, blocks, downsample).mean(axis=3)
    return np.ascontiguousarray(signals, dtype=np.float32)
