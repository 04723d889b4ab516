"""Writers of tiny datasets in the layouts users bring (an image folder, a labelled CSV table), and
the checks their tests share.

Every image is one constant colour that encodes its identity (red: class or row group, green:
index), so a test can tell which file ended up in which row and split, also after JPEG
compression (a constant JPEG block keeps its colour within a few levels).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from PIL import Image

from mixdiag.data._base import load_dataset
from mixdiag.errors import DataError

FOLDER_CLASSES = ["cat", "dog", "frog"]  # sorted, as the loader orders them
PER_CLASS = 10
SOURCE_SIZES = [(20, 20), (24, 18), (17, 23)]


def colour(group: int, index: int) -> tuple[int, int, int]:
    """The constant colour of image ``index`` of ``group``: 60 levels of red per group, 8 of green per index."""
    return (30 + 60 * group, 10 + 8 * index, 200)


def identify(image: np.ndarray) -> tuple[int, int]:
    """``(group, index)`` of a decoded ``(3, H, W)`` image, from its mean colour."""
    r, g = float(image[0].mean()), float(image[1].mean())
    return round((r - 30) / 60), round((g - 10) / 8)


def write_image(path: Path, rgb: tuple[int, int, int], size=(20, 20)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, rgb).save(path)


def write_imagefolder(root: Path, *, splits: tuple[str, ...] = (), per_class: int = PER_CLASS) -> Path:
    """Write ``root/<class>/NN.png|jpg`` (or ``root/<split>/<class>/...`` for each of ``splits``).

    Even indices are PNG, odd ones JPEG; with ``splits`` the i-th image of a class goes to
    ``splits[i % len(splits)]``.
    """
    for c, name in enumerate(FOLDER_CLASSES):
        for i in range(per_class):
            split = f"{splits[i % len(splits)]}/" if splits else ""
            suffix = "png" if i % 2 == 0 else "jpg"
            write_image(root / f"{split}{name}/{i:02d}.{suffix}", colour(c, i), SOURCE_SIZES[i % len(SOURCE_SIZES)])
    return root


# The labelled table: (findings, patient); image i has colour(0, i) and findings as listed.
TABLE_LABELS = ["Effusion", "Mass", "Nodule"]
TABLE_ROWS = [
    ("Effusion", 1),
    ("Effusion|Mass", 1),
    ("No Finding", 2),
    ("Mass", 2),
    ("Nodule", 3),
    ("", 3),
    ("Mass|Nodule", 4),
    ("Effusion|Nodule", 4),
    ("Effusion", 5),
    ("No Finding", 5),
    ("Mass", 6),
    ("Nodule", 6),
    ("Effusion|Mass|Nodule", 7),
    ("Mass", 7),
    ("Nodule", 8),
    ("Effusion", 8),
    ("Mass", 9),
    ("Nodule|Effusion", 9),
    ("No Finding", 10),
    ("Mass", 10),
]


def table_vector(findings: str) -> list[int]:
    """The 0/1 vector over TABLE_LABELS of a findings cell."""
    present = {f for f in findings.split("|") if f and f != "No Finding"}
    return [int(label in present) for label in TABLE_LABELS]


def write_table(root: Path, *, style: str = "columns", split: bool = False, patient: bool = True, absolute: bool = False) -> Path:
    """Write ``root/labels.csv`` and ``root/images/NN.png``; returns the CSV.

    Args:
        style: ``"columns"`` (one 0/1 column per label) or ``"findings"`` (a ``Finding Labels``
            column, NIH style).
        split: add a ``split`` column: patients 9-10 test, 8 val, the rest train.
        patient: add a ``patient_id`` column.
        absolute: write absolute image paths instead of paths relative to the CSV.
    """
    lines = []
    header = ["path"] + (["patient_id"] if patient else []) + (["split"] if split else [])
    header += TABLE_LABELS if style == "columns" else ["Finding Labels"]
    lines.append(",".join(header))
    for i, (findings, who) in enumerate(TABLE_ROWS):
        image = root / "images" / f"{i:02d}.png"
        write_image(image, colour(0, i), SOURCE_SIZES[i % len(SOURCE_SIZES)])
        cells = [str(image) if absolute else f"images/{i:02d}.png"]
        cells += [str(who)] if patient else []
        cells += [("test" if who >= 9 else "val" if who == 8 else "train")] if split else []
        cells += [str(v) for v in table_vector(findings)] if style == "columns" else [findings]
        lines.append(",".join(cells))
    csv = root / "labels.csv"
    csv.write_text("\n".join(lines) + "\n")
    return csv


def load_error(name: str, source, **options) -> str:
    """The one-line :class:`DataError` that loading dataset ``name`` from ``source`` raises."""
    with pytest.raises(DataError) as info:
        load_dataset(name, source, **options)
    message = str(info.value)
    assert "\n" not in message
    return message


def forbid_decoding(monkeypatch) -> None:
    """Fail the test if an image is opened: a load that should map its cache must not decode."""

    def no_decoding(*args, **kwargs):
        raise AssertionError("the load decoded an image instead of mapping the cache")

    monkeypatch.setattr(PIL.Image, "open", no_decoding)
