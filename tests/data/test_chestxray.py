import importlib

import numpy as np
import PIL.Image
import pytest
import torch

from mixdiag.errors import DataError

from medical_fixtures import CHEST_ENTRIES, CHEST_TEST_PATIENTS, RGBA_IMAGE, chest_gray, rgba_gray, write_chestxray14

chestxray = importlib.import_module("mixdiag.data.chestxray")

SIZE = 16


@pytest.fixture
def root(tmp_path):
    return write_chestxray14(tmp_path / "nih")


def load(root, **options):
    options.setdefault("image_size", SIZE)
    options.setdefault("val_fraction", 0.34)
    return chestxray.load_chestxray14(root, **options).validate()


def identify(x: torch.Tensor) -> list[str]:
    """Which fixture image each row is, from its constant gray level."""
    by_gray = {chest_gray(i): name for i, (name, _, _) in enumerate(CHEST_ENTRIES) if name != RGBA_IMAGE}
    by_gray[rgba_gray()] = RGBA_IMAGE
    names = []
    for image in x:
        values = torch.unique(image)
        assert len(values) == 1, "a constant source image must stay constant after resizing"
        names.append(by_gray[int(values)])
    return names


def expected_labels(findings: str) -> np.ndarray:
    vector = np.zeros(14, dtype=np.float32)
    for finding in findings.split("|"):
        if finding != "No Finding":
            vector[chestxray.FINDINGS.index(finding)] = 1
    return vector


def test_reads_images_labels_and_official_splits(root):
    ds = load(root)
    assert ds.multilabel and ds.num_classes == 14 and ds.class_names[-1] == "Hernia"
    assert ds.x_train.dtype == torch.uint8 and ds.input_shape == (1, SIZE, SIZE)
    assert ds.scale == pytest.approx(1 / 255) and ds.augment == "crop"
    entries = {name: (findings, patient) for name, findings, patient in CHEST_ENTRIES}
    seen = {}
    for split in ("train", "val", "test"):
        x, y = ds.split(split)
        assert y.dtype == torch.float32
        for name, labels in zip(identify(x), y.numpy()):
            np.testing.assert_array_equal(labels, expected_labels(entries[name][0]), err_msg=name)
            seen[name] = split
    assert set(seen) == set(entries)  # every listed image is used exactly once
    assert {n for n, s in seen.items() if s == "test"} == {n for n, (_, p) in entries.items() if p in CHEST_TEST_PATIENTS}
    train_patients = {entries[n][1] for n, s in seen.items() if s == "train"}
    val_patients = {entries[n][1] for n, s in seen.items() if s == "val"}
    assert train_patients and val_patients and not train_patients & val_patients


def test_rgba_and_no_finding(root):
    ds = load(root)
    x = torch.cat([ds.x_train, ds.x_val, ds.x_test])
    y = torch.cat([ds.y_train, ds.y_val, ds.y_test])
    names = identify(x)
    assert int(x[names.index(RGBA_IMAGE)].max()) == pytest.approx(rgba_gray(), abs=1)
    no_finding = [i for i, n in enumerate(names) if dict((e[0], e[1]) for e in CHEST_ENTRIES)[n] == "No Finding"]
    assert len(no_finding) == 4 and not y[no_finding].any()


def test_mean_and_std_come_from_the_training_images(root):
    ds = load(root)
    pixels = ds.x_train.numpy().astype(np.float64) / 255
    assert ds.mean == pytest.approx((pixels.mean(),))
    assert ds.std == pytest.approx((pixels.std(),))


def test_second_load_maps_the_cache_without_decoding(root, monkeypatch):
    first = load(root, seed=0)
    cache_files = list((root / ".mixdiag-cache").glob("*.npy"))
    assert len(cache_files) == 1

    def no_decoding(*args, **kwargs):
        raise AssertionError("the second load decoded an image")

    monkeypatch.setattr(PIL.Image, "open", no_decoding)
    second = load(root, seed=0)
    assert torch.equal(first.x_train, second.x_train) and torch.equal(first.y_test, second.y_test)
    # Another seed draws another validation split from the same cached images.
    other = load(root, seed=3)
    assert list((root / ".mixdiag-cache").glob("*")) == cache_files
    assert sorted(identify(other.x_val)) != sorted(identify(first.x_val))


def test_cache_is_keyed_by_image_size(root):
    load(root, image_size=8)
    ds = load(root, image_size=12)
    assert ds.input_shape == (1, 12, 12)
    assert len(list((root / ".mixdiag-cache").glob("*.npy"))) == 2


def test_interrupted_build_leaves_no_cache_that_is_trusted(root, monkeypatch):
    decode = chestxray._decode
    calls = []

    def dies_halfway(path, size):
        calls.append(path)
        if len(calls) == 5:
            raise KeyboardInterrupt  # stands in for a kill mid-build
        return decode(path, size)

    monkeypatch.setattr(chestxray, "_decode", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        load(root, workers=1)
    assert list((root / ".mixdiag-cache").glob("*.npy")) == []
    # A half-written temporary file left by a hard kill is never mistaken for the cache.
    (root / ".mixdiag-cache" / ".chestxray14-half.npy.tmp").write_bytes(b"\x93NUMPY torn")
    monkeypatch.setattr(chestxray, "_decode", decode)
    ds = load(root)
    assert len(identify(torch.cat([ds.x_train, ds.x_val, ds.x_test]))) == len(CHEST_ENTRIES)


def test_images_folder_layout_and_parallel_decoding_agree(tmp_path):
    flat = load(write_chestxray14(tmp_path / "flat", archives=False), workers=1)
    archives = load(write_chestxray14(tmp_path / "archives", archives=True), workers=3)
    assert torch.equal(flat.x_train, archives.x_train) and torch.equal(flat.x_test, archives.x_test)


def test_limit_caps_every_split(root):
    ds = load(root, limit=2)
    assert len(ds.x_train) == 2 and len(ds.x_val) == 2 and len(ds.x_test) == 2
    assert ds.info["sizes"] == {"train": 2, "val": 2, "test": 2}


def test_read_only_data_dir_caches_under_home(root, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr("mixdiag.data._cache.os.access", lambda path, mode: False)
    load(root)
    assert not (root / ".mixdiag-cache").exists()
    assert len(list((tmp_path / "home" / ".cache" / "mixdiag").glob("chestxray14-*.npy"))) == 1


def test_cache_dir_option(root, tmp_path):
    load(root, cache_dir=tmp_path / "elsewhere")
    assert len(list((tmp_path / "elsewhere").glob("*.npy"))) == 1


def error(root, **options) -> str:
    with pytest.raises(DataError) as info:
        load(root, **options)
    return str(info.value)


def test_missing_data_dir_asks_for_it():
    with pytest.raises(DataError, match="--data-dir.*Data_Entry_2017"):
        chestxray.load_chestxray14(None)


def test_missing_csv(root):
    (root / "Data_Entry_2017_v2020.csv").unlink()
    assert "Data_Entry_2017*.csv" in error(root)


def test_missing_column(root):
    csv = root / "Data_Entry_2017_v2020.csv"
    csv.write_text(csv.read_text().replace("Patient ID", "Patient"))
    assert "'Patient ID'" in error(root)


def test_unknown_label_is_named(root):
    csv = root / "Data_Entry_2017_v2020.csv"
    csv.write_text(csv.read_text().replace("Mass|Nodule", "Mass|Pneumonitis"))
    message = error(root)
    assert "'Pneumonitis'" in message and "00000004_000.png" in message


def test_missing_image_is_named(root):
    next(root.glob("images_*/images/00000005_000.png")).unlink()
    assert "00000005_000.png" in error(root)


def test_unreadable_image_is_named(root):
    next(root.glob("images_*/images/00000002_000.png")).write_bytes(b"not a png")
    assert "00000002_000.png" in error(root)


def test_listed_image_without_labels_is_named(root):
    with open(root / "test_list.txt", "a") as f:
        f.write("00000099_000.png\n")
    assert "00000099_000.png" in error(root)


@pytest.mark.parametrize("name", ["train_val_list.txt", "test_list.txt"])
def test_missing_list_file_is_named(root, name):
    (root / name).unlink()
    assert name in error(root)


@pytest.mark.parametrize("options", [{"val_fraction": 1.0}, {"image_size": 0}, {"limit": 0}])
def test_bad_options(root, options):
    assert next(iter(options)) in error(root, **options)
