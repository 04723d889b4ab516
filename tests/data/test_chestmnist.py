import importlib
from pathlib import Path

import numpy as np
import pytest
import torch

from mixdiag.errors import DataError

from medical_fixtures import write_chestmnist

chestmnist = importlib.import_module("mixdiag.data.chestmnist")
chestxray = importlib.import_module("mixdiag.data.chestxray")


def test_reads_every_split_unchanged(tmp_path):
    arrays = write_chestmnist(tmp_path / "chestmnist.npz", size=28)
    ds = chestmnist.load_chestmnist(tmp_path).validate()
    assert ds.multilabel and ds.num_classes == 14 and ds.class_names == list(chestxray.FINDINGS)
    assert ds.augment == "crop" and ds.scale == pytest.approx(1 / 255)
    for split in ("train", "val", "test"):
        x, y = ds.split(split)
        assert x.dtype == torch.uint8 and x.shape[1:] == (1, 28, 28)
        np.testing.assert_array_equal(x[:, 0].numpy(), arrays[f"{split}_images"])
        assert y.dtype == torch.float32
        np.testing.assert_array_equal(y.numpy(), arrays[f"{split}_labels"])
    pixels = arrays["train_images"].astype(np.float64) / 255
    assert ds.mean == pytest.approx((pixels.mean(),)) and ds.std == pytest.approx((pixels.std(),))


def test_size_picks_the_medmnist_plus_file(tmp_path):
    write_chestmnist(tmp_path / "chestmnist.npz", size=28)
    arrays = write_chestmnist(tmp_path / "chestmnist_64.npz", size=64, seed=1)
    ds = chestmnist.load_chestmnist(tmp_path, size=64)
    assert ds.input_shape == (1, 64, 64)
    np.testing.assert_array_equal(ds.x_test[:, 0].numpy(), arrays["test_images"])
    assert chestmnist.load_chestmnist(tmp_path, size=28).input_shape == (1, 28, 28)
    with pytest.raises(DataError, match="chestmnist.npz, chestmnist_64.npz.*size="):
        chestmnist.load_chestmnist(tmp_path)


def test_the_only_file_is_found_without_size(tmp_path):
    write_chestmnist(tmp_path / "chestmnist_128.npz", size=128, counts=(2, 1, 1))
    assert chestmnist.load_chestmnist(tmp_path).input_shape == (1, 128, 128)


def rewrite(path: Path, **changes) -> None:
    with np.load(path) as npz:
        arrays = {key: npz[key] for key in npz.files}
    arrays.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del arrays[key]
    np.savez(path, **arrays)


def error(tmp_path, **options) -> str:
    with pytest.raises(DataError) as info:
        chestmnist.load_chestmnist(tmp_path, **options)
    return str(info.value)


def test_missing_data_dir_asks_for_it():
    with pytest.raises(DataError, match="--data-dir.*chestmnist"):
        chestmnist.load_chestmnist(None)


def test_missing_file(tmp_path):
    assert "chestmnist_64.npz" in error(tmp_path, size=64)
    assert "chestmnist.npz" in error(tmp_path)


def test_missing_key_is_named(tmp_path):
    write_chestmnist(tmp_path / "chestmnist.npz")
    rewrite(tmp_path / "chestmnist.npz", val_labels=None)
    assert "'val_labels'" in error(tmp_path)


def test_wrong_number_of_label_columns(tmp_path):
    write_chestmnist(tmp_path / "chestmnist.npz")
    rewrite(tmp_path / "chestmnist.npz", train_labels=np.zeros((12, 13), dtype=np.uint8))
    message = error(tmp_path)
    assert "train_labels" in message and "(12, 13)" in message and "14" in message


def test_labels_must_be_zero_or_one(tmp_path):
    write_chestmnist(tmp_path / "chestmnist.npz")
    labels = np.zeros((6, 14), dtype=np.uint8)
    labels[3, 5] = 2
    rewrite(tmp_path / "chestmnist.npz", test_labels=labels)
    message = error(tmp_path)
    assert "test_labels" in message and "2" in message


def test_images_must_be_grayscale_uint8(tmp_path):
    write_chestmnist(tmp_path / "chestmnist.npz")
    rewrite(tmp_path / "chestmnist.npz", val_images=np.zeros((4, 28, 28, 3), dtype=np.uint8))
    assert "val_images" in error(tmp_path)


def test_file_must_match_requested_size(tmp_path):
    write_chestmnist(tmp_path / "chestmnist_64.npz", size=28)
    assert "size=64" in error(tmp_path, size=64)


def test_unknown_size(tmp_path):
    assert "size must be one of 28, 64, 128, 224" in error(tmp_path, size=32)


def test_corrupt_file(tmp_path):
    (tmp_path / "chestmnist.npz").write_bytes(b"PK\x03\x04 torn")
    assert "cannot read" in error(tmp_path)
