"""Writers of tiny datasets in the published layouts of ChestX-ray14, ChestMNIST, the Tianchi
Hefei ECG competition and PTB-XL, so the loaders are tested on files shaped like the real ones.

Every sample carries its identity in its values (a constant gray level, a marker sample), so a
test can tell which file ended up in which row and split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

# ---------------------------------------------------------------- ChestX-ray14

# (image, Finding Labels, patient); patients 1-6 are in train_val_list.txt, 7-8 in test_list.txt.
CHEST_ENTRIES = [
    ("00000001_000.png", "Cardiomegaly", 1),
    ("00000001_001.png", "Cardiomegaly|Emphysema", 1),
    ("00000002_000.png", "No Finding", 2),
    ("00000003_000.png", "Hernia|Infiltration|Pleural_Thickening", 3),
    ("00000003_001.png", "Effusion", 3),
    ("00000003_002.png", "No Finding", 3),
    ("00000004_000.png", "Mass|Nodule", 4),
    ("00000005_000.png", "Atelectasis|Pneumonia|Pneumothorax", 5),
    ("00000006_000.png", "Consolidation|Edema|Fibrosis", 6),
    ("00000006_001.png", "No Finding", 6),
    ("00000007_000.png", "Effusion|Atelectasis", 7),
    ("00000007_001.png", "No Finding", 7),
    ("00000008_000.png", "Nodule", 8),
]
CHEST_TEST_PATIENTS = {7, 8}
RGBA_IMAGE = "00000004_000.png"
RGBA_COLOR = (200, 40, 90)
# The source images come in different sizes, as preprocessed copies of the NIH data do.
SOURCE_SIZES = [(64, 64), (80, 60), (50, 70)]
DATA_ENTRY_HEADER = (
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
    "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],"
)


def chest_gray(i: int) -> int:
    """The constant gray level of the i-th grayscale image in CHEST_ENTRIES."""
    return 20 + 15 * i


def rgba_gray() -> int:
    """ITU-R 601-2 luma of RGBA_COLOR, the documented RGB -> L conversion."""
    r, g, b = RGBA_COLOR
    return round(r * 0.299 + g * 0.587 + b * 0.114)


def write_chestxray14(root: Path, *, archives: bool = True) -> Path:
    """Write the NIH layout: Data_Entry CSV, the two split lists and constant-gray PNGs.

    With ``archives`` the images are spread over ``images_001/images`` and
    ``images_002/images`` (the official archives); otherwise they sit in ``images/``.
    """
    root.mkdir(parents=True, exist_ok=True)
    for i, (name, _, patient) in enumerate(CHEST_ENTRIES):
        folder = root / (f"images_{1 + i % 2:03d}/images" if archives else "images")
        folder.mkdir(parents=True, exist_ok=True)
        size = SOURCE_SIZES[i % len(SOURCE_SIZES)]
        if name == RGBA_IMAGE:
            image = Image.new("RGBA", size, RGBA_COLOR + (255,))
        else:
            image = Image.new("L", size, chest_gray(i))
        image.save(folder / name)
    lines = [DATA_ENTRY_HEADER]
    for name, findings, patient in CHEST_ENTRIES:
        follow_up = int(name[9:12])
        lines.append(f"{name},{findings},{follow_up},{patient},{40 + patient},M,PA,2500,2048,0.143,0.143,")
    (root / "Data_Entry_2017_v2020.csv").write_text("\n".join(lines) + "\n")
    trainval = [name for name, _, patient in CHEST_ENTRIES if patient not in CHEST_TEST_PATIENTS]
    test = [name for name, _, patient in CHEST_ENTRIES if patient in CHEST_TEST_PATIENTS]
    (root / "train_val_list.txt").write_text("\n".join(trainval) + "\n")
    (root / "test_list.txt").write_text("\n".join(test) + "\n")
    return root


# ---------------------------------------------------------------- ChestMNIST


def write_chestmnist(path: Path, size: int = 28, counts=(12, 4, 6), seed: int = 0) -> dict[str, np.ndarray]:
    """Write a MedMNIST-format ``.npz``; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in zip(("train", "val", "test"), counts):
        arrays[f"{split}_images"] = rng.integers(0, 256, size=(n, size, size), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 2, size=(n, 14), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return arrays


# ---------------------------------------------------------------- Tianchi Hefei ECG

TIANCHI_CLASSES = ["窦性心律", "T波改变", "左心室高电压", "心房颤动", "电轴左偏"]
# record -> arrhythmias; the age or sex may be blank, as in the competition file.
TIANCHI_LABELS = {
    "100.txt": ["窦性心律"],
    "101.txt": ["窦性心律", "T波改变"],
    "102.txt": ["心房颤动"],
    "103.txt": ["窦性心律", "左心室高电压", "电轴左偏"],
    "104.txt": ["T波改变"],
    "105.txt": ["窦性心律"],
    "106.txt": ["心房颤动", "T波改变"],
    "107.txt": ["电轴左偏"],
    "108.txt": ["窦性心律", "左心室高电压"],
    "109.txt": ["窦性心律"],
}
TIANCHI_HEADER = "I II V1 V2 V3 V4 V5 V6"


def tianchi_values(record: str) -> np.ndarray:
    """The integer samples ``(5000, 8)`` written for ``record``; sample 0 of lead I is 100."""
    number = int(record.split(".")[0])
    values = np.random.default_rng(number).integers(-600, 600, size=(5000, 8))
    values[0, 0] = 100
    values[1, 0] = number  # tells the rows apart after splitting
    return values


def write_tianchi_record(path: Path, values: np.ndarray, header: str = TIANCHI_HEADER) -> None:
    """One record in the competition's text format: a header row, then space-separated integers."""
    rows = "\n".join(" ".join(str(v) for v in row) for row in values.tolist())
    path.write_text(f"{header}\n{rows}\n")


def write_tianchi(root: Path, *, subfolder: bool = True) -> Path:
    """Write the competition layout: label file, arrhythmia list and one text file per record."""
    record_dir = root / "train" if subfolder else root
    record_dir.mkdir(parents=True, exist_ok=True)
    (root / "hf_round1_arrythmia.txt").write_text("\n".join(TIANCHI_CLASSES) + "\n", encoding="utf-8")
    lines = []
    for i, (record, names) in enumerate(TIANCHI_LABELS.items()):
        age = "" if i == 3 else str(30 + i)
        sex = "" if i == 5 else ("MALE" if i % 2 else "FEMALE")
        lines.append("\t".join([record, age, sex, *names]) + ("\t" if i == 2 else ""))
        write_tianchi_record(record_dir / record, tianchi_values(record))
    (root / "hf_round1_label.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


# ---------------------------------------------------------------- PTB-XL

PTBXL_LEADS = ["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"]
STATEMENTS_HEADER = [
    "",
    "description",
    "diagnostic",
    "form",
    "rhythm",
    "diagnostic_class",
    "diagnostic_subclass",
    "Statement Category",
    "SCP-ECG Statement Description",
    "AHA code",
    "aECG REFID",
    "CDISC Code",
    "DICOM Code",
]
# code: (diagnostic, rhythm, diagnostic_class, description)
STATEMENTS = {
    "NDT": (1.0, None, "STTC", "non-diagnostic T abnormalities"),
    "NORM": (1.0, None, "NORM", "normal ECG"),
    "IMI": (1.0, None, "MI", "inferior myocardial infarction"),
    "LVH": (1.0, None, "HYP", "left ventricular hypertrophy"),
    "LAFB": (1.0, None, "CD", "left anterior fascicular block"),
    "ASMI": (1.0, None, "MI", "anteroseptal myocardial infarction"),
    "SR": (None, 1.0, None, "sinus rhythm"),
    "AFIB": (None, 1.0, None, "atrial fibrillation"),
}
# ecg_id: (scp_codes, strat_fold)
PTBXL_RECORDS = {
    1: ({"NORM": 100.0, "SR": 0.0}, 3),
    2: ({"NORM": 80.0, "SR": 0.0}, 2),
    3: ({"IMI": 35.0, "NDT": 100.0, "SR": 0.0}, 5),
    4: ({"LVH": 100.0, "LAFB": 50.0, "AFIB": 0.0}, 9),
    5: ({"ASMI": 15.0, "SR": 0.0}, 10),
    6: ({"SR": 0.0}, 1),  # no diagnostic statement: left out at the superclass level
    7: ({"NORM": 100.0}, 10),
    8: ({"NDT": 100.0, "LVH": 0.0, "SR": 0.0}, 8),
    9: ({"LAFB": 100.0, "SR": 0.0}, 9),
    10: ({"IMI": 100.0, "ASMI": 100.0, "AFIB": 0.0}, 1),
}


def ptbxl_signal(ecg_id: int, fs: int) -> np.ndarray:
    """The ``(10 * fs, 12)`` mV signal written for ``ecg_id``, on the 1 µV grid of PTB-XL."""
    rng = np.random.default_rng(ecg_id * 1000 + fs)
    signal = rng.integers(-1500, 1500, size=(10 * fs, 12)) / 1000.0
    signal[0, 0] = ecg_id / 100  # tells the rows apart after splitting
    return signal


def write_ptbxl_record(root: Path, filename: str, signal: np.ndarray, fs: int) -> None:
    """One WFDB record (header + format 16 data) with PTB-XL's gain of 1000 per mV."""
    import wfdb

    path = root / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(
        path.name,
        fs=fs,
        units=["mV"] * 12,
        sig_name=PTBXL_LEADS,
        p_signal=signal,
        fmt=["16"] * 12,
        adc_gain=[1000.0] * 12,
        baseline=[0] * 12,
        write_dir=str(path.parent),
    )


def write_ptbxl(root: Path) -> Path:
    """Write the PhysioNet layout: both CSVs and every record at 100 Hz and 500 Hz."""
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for ecg_id, (codes, fold) in PTBXL_RECORDS.items():
        lr = f"records100/00000/{ecg_id:05d}_lr"
        hr = f"records500/00000/{ecg_id:05d}_hr"
        write_ptbxl_record(root, lr, ptbxl_signal(ecg_id, 100), 100)
        write_ptbxl_record(root, hr, ptbxl_signal(ecg_id, 500), 500)
        rows.append(
            {
                "ecg_id": ecg_id,
                "patient_id": 15709.0 + ecg_id,
                "age": 56.0,
                "sex": ecg_id % 2,
                "height": None,
                "weight": 63.0,
                "nurse": 2.0,
                "site": 0.0,
                "device": "CS-12   E",
                "recording_date": "1984-11-09 09:17:34",
                "report": "sinusrhythmus periphere niederspannung",
                "scp_codes": repr(codes),
                "heart_axis": None,
                "strat_fold": fold,
                "filename_lr": lr,
                "filename_hr": hr,
            }
        )
    pd.DataFrame(rows).to_csv(root / "ptbxl_database.csv", index=False)
    write_statements(root / "scp_statements.csv", STATEMENTS)
    return root


def write_statements(path: Path, statements: dict) -> None:
    """``scp_statements.csv`` with the release's columns; the code column has no header."""
    rows = []
    for code, (diagnostic, rhythm, cls, description) in statements.items():
        rows.append([code, description, diagnostic, None, rhythm, cls, cls and f"_{cls}", "", description, "", "", "", ""])
    pd.DataFrame(rows, columns=STATEMENTS_HEADER).to_csv(path, index=False)
