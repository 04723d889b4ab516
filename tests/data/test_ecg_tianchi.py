import importlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from mixdiag.errors import DataError

from medical_fixtures import TIANCHI_CLASSES, TIANCHI_LABELS, tianchi_values, write_tianchi, write_tianchi_record

ecg_tianchi = importlib.import_module("mixdiag.data.ecg_tianchi")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return write_tianchi(tmp_path_factory.mktemp("pristine") / "hefei")


@pytest.fixture
def root(pristine, tmp_path):
    """A fresh copy of the fixture per test: tests break files and leave caches behind."""
    return Path(shutil.copytree(pristine, tmp_path / "hefei"))


def load(root, **options):
    return ecg_tianchi.load_ecg_tianchi(root, **options).validate()


def record_of(signal: torch.Tensor) -> str:
    """The fixture record a row came from: sample 1 of lead I holds its number (in file units)."""
    return f"{round(float(signal[0, 1]) / 0.00488)}.txt"


def all_rows(ds):
    return [(split, x, y) for split in ("train", "val", "test") for x, y in zip(*ds.split(split))]


def test_values_in_millivolts_and_labels(root):
    ds = load(root)
    assert ds.x_train.dtype == torch.float32 and ds.input_shape == (8, 5000)
    assert ds.multilabel and ds.class_names == TIANCHI_CLASSES and ds.augment == "shift" and ds.scale == 1.0
    seen = set()
    for _, x, y in all_rows(ds):
        record = record_of(x)
        seen.add(record)
        assert float(x[0, 0]) == pytest.approx(0.488)  # the 100 written in the file
        np.testing.assert_allclose(x.numpy(), tianchi_values(record).T * 0.00488, rtol=1e-6, atol=1e-7)
        expected = [name in TIANCHI_LABELS[record] for name in TIANCHI_CLASSES]
        np.testing.assert_array_equal(y.numpy(), np.array(expected, dtype=np.float32))
    assert seen == set(TIANCHI_LABELS)


def test_derived_limb_leads(root):
    ds = load(root, derive_limb_leads=True)
    assert ds.input_shape == (12, 5000) and ds.info["leads"][:6] == ["I", "II", "III", "aVR", "aVL", "aVF"]
    for _, x, _ in all_rows(ds):
        raw = tianchi_values(record_of(x)).T * 0.00488
        lead_i, lead_ii = raw[0], raw[1]
        limb = [lead_ii - lead_i, -(lead_i + lead_ii) / 2, lead_i - lead_ii / 2, lead_ii - lead_i / 2]  # III, aVR, aVL, aVF
        expected = np.stack([lead_i, lead_ii, *limb, *raw[2:]])
        np.testing.assert_allclose(x.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_downsample_averages_blocks(root):
    ds = load(root, downsample=3)
    assert ds.input_shape == (8, 1666) and ds.info["sampling_rate"] == pytest.approx(500 / 3)
    full = load(root)  # same seed, same split: tells which record each row is
    for row, source in zip(ds.x_test, full.x_test):
        raw = tianchi_values(record_of(source)).T[:, : 1666 * 3] * 0.00488
        np.testing.assert_allclose(row.numpy(), raw.reshape(8, 1666, 3).mean(axis=2), rtol=1e-5, atol=1e-6)


def test_split_is_seeded_disjoint_and_complete(root):
    ds = load(root, seed=0)
    splits = {s: sorted(record_of(x) for x in ds.split(s)[0]) for s in ("train", "val", "test")}
    assert [len(splits[s]) for s in ("train", "val", "test")] == [7, 1, 2]
    assert sorted(sum(splits.values(), [])) == sorted(TIANCHI_LABELS)
    again = load(root, seed=0)
    assert torch.equal(ds.x_train, again.x_train)
    assert sorted(record_of(x) for x in load(root, seed=1).x_test) != splits["test"]


def test_mean_and_std_per_lead_from_train(root):
    ds = load(root, derive_limb_leads=True)
    x = ds.x_train.numpy().astype(np.float64)
    assert ds.mean == pytest.approx(tuple(x.mean(axis=(0, 2))))
    assert ds.std == pytest.approx(tuple(x.std(axis=(0, 2))))


def test_records_in_data_dir_itself(tmp_path):
    ds = load(write_tianchi(tmp_path / "flat", subfolder=False))
    assert len(ds.x_train) + len(ds.x_val) + len(ds.x_test) == len(TIANCHI_LABELS)


def test_second_load_uses_the_cache(root, monkeypatch):
    first = load(root)

    def no_parsing(path):
        raise AssertionError(f"parsed {path} again")

    monkeypatch.setattr(ecg_tianchi, "_read_record", no_parsing)
    second = load(root)
    assert torch.equal(first.x_train, second.x_train) and torch.equal(first.y_val, second.y_val)
    # Lead derivation, downsampling and the split are applied after the cache.
    assert load(root, derive_limb_leads=True, downsample=2, seed=2).input_shape == (12, 2500)
    assert len(list((root / ".mixdiag-cache").glob("*.npy"))) == 1


def test_limit_and_custom_label_files(root):
    (root / "labels.txt").write_text((root / "hf_round1_label.txt").read_text(encoding="utf-8"), encoding="utf-8")
    (root / "names.txt").write_text((root / "hf_round1_arrythmia.txt").read_text(encoding="utf-8"), encoding="utf-8")
    ds = load(root, label_file="labels.txt", arrhythmia_file="names.txt", limit=1)
    assert ds.info["sizes"] == {"train": 1, "val": 1, "test": 1}


def error(root, **options) -> str:
    with pytest.raises(DataError) as info:
        load(root, **options)
    return str(info.value)


def test_missing_data_dir_asks_for_it():
    with pytest.raises(DataError, match="--data-dir.*hf_round1_label.txt"):
        ecg_tianchi.load_ecg_tianchi(None)


def test_wrong_record_length_is_named(root):
    write_tianchi_record(root / "train" / "104.txt", tianchi_values("104.txt")[:4999])
    message = error(root)
    assert "104.txt" in message and "4999" in message


def test_wrong_header_is_named(root):
    write_tianchi_record(root / "train" / "105.txt", tianchi_values("105.txt"), header="I II III V1 V2 V3 V4 V5")
    message = error(root)
    assert "105.txt" in message and "I II III V1" in message


def test_non_numeric_value_is_named(root):
    path = root / "train" / "106.txt"
    lines = path.read_text().splitlines()
    lines[10] = lines[10].replace(lines[10].split()[3], "abc", 1)
    path.write_text("\n".join(lines) + "\n")
    message = error(root)
    assert "106.txt" in message and "'abc'" in message and "V2" in message and "line 11" in message


def test_unknown_arrhythmia_is_named(root):
    labels = root / "hf_round1_label.txt"
    labels.write_text(labels.read_text(encoding="utf-8").replace("心房颤动", "心房扑动", 1), encoding="utf-8")
    message = error(root)
    assert "'心房扑动'" in message and "102.txt" in message


def test_missing_record_is_named(root):
    (root / "train" / "107.txt").unlink()
    assert "107.txt" in error(root)


def test_unlabelled_test_list_is_refused(root):
    (root / "hf_round1_label.txt").write_text("100.txt\t30\tMALE\n", encoding="utf-8")
    assert "no arrhythmia" in error(root)


@pytest.mark.parametrize("name", ["hf_round1_label.txt", "hf_round1_arrythmia.txt"])
def test_missing_label_files_are_named(root, name):
    (root / name).unlink()
    assert name in error(root)


def test_label_file_must_be_utf8(root):
    labels = root / "hf_round1_label.txt"
    labels.write_bytes(labels.read_text(encoding="utf-8").encode("gbk"))
    assert "UTF-8" in error(root)


@pytest.mark.parametrize("options", [{"downsample": 0}, {"val_fraction": 0.5, "test_fraction": 0.5}, {"limit": -1}])
def test_bad_options(root, options):
    assert next(iter(options)) in error(root, **options)
