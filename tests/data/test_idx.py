import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

import mixdiag.data as data
from mixdiag.data import idx
from mixdiag.errors import DataError

STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def idx_bytes(array: np.ndarray) -> bytes:
    """The published IDX encoding of a uint8 array, built independently of the reader."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(folder: Path, n_train=12, n_test=5, side=28, gz=True, seed=0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {
        STEMS[0]: rng.integers(0, 256, (n_train, side, side), dtype=np.uint8),
        STEMS[1]: rng.integers(0, 10, n_train, dtype=np.uint8),
        STEMS[2]: rng.integers(0, 256, (n_test, side, side), dtype=np.uint8),
        STEMS[3]: rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for stem, array in arrays.items():
        if gz:
            with gzip.open(folder / f"{stem}.gz", "wb") as f:
                f.write(idx_bytes(array))
        else:
            (folder / stem).write_bytes(idx_bytes(array))
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_reads_idx_files_unchanged(tmp_path, gz):
    arrays = write_mnist(tmp_path, gz=gz)
    ds = data.load_dataset("mnist", tmp_path)
    assert ds.x_train.dtype == torch.uint8 and ds.x_train.shape == (12, 1, 28, 28) and ds.x_test.shape == (5, 1, 28, 28)
    np.testing.assert_array_equal(ds.x_train[:, 0].numpy(), arrays[STEMS[0]])
    np.testing.assert_array_equal(ds.y_train.numpy(), arrays[STEMS[1]])
    np.testing.assert_array_equal(ds.x_test[:, 0].numpy(), arrays[STEMS[2]])
    np.testing.assert_array_equal(ds.y_test.numpy(), arrays[STEMS[3]])
    assert ds.y_train.dtype == torch.int64 and ds.augment == "crop" and ds.scale == pytest.approx(1 / 255)
    pixels = arrays[STEMS[0]].astype(np.float64) / 255
    assert ds.mean == pytest.approx((pixels.mean(),)) and ds.std == pytest.approx((pixels.std(),))


def test_fashion_mnist_names_flip_and_limit(tmp_path):
    write_mnist(tmp_path, n_train=30, n_test=20)
    ds = data.load_dataset("fashion-mnist", tmp_path, seed=3, limit=7)
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot" and ds.augment == "crop-flip"
    assert len(ds.y_train) == 7 and len(ds.y_test) == 7
    again = data.load_dataset("fashion-mnist", tmp_path, seed=3, limit=7)
    assert torch.equal(again.x_train, ds.x_train)


def test_mnist_without_data_dir_asks_for_it():
    with pytest.raises(DataError, match="--data-dir"):
        data.load_dataset("mnist")


def test_missing_file_is_named(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte \(or t10k-labels-idx1-ubyte.gz\) is missing from"):
        data.load_dataset("mnist", tmp_path)


def test_bad_magic_is_named(tmp_path):
    write_mnist(tmp_path, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    raw = bytearray(path.read_bytes())
    raw[2] = 0x0D  # float32 type code
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte is not an IDX file of 3-D unsigned bytes.*00000d03.*expected 00000803"):
        data.load_dataset("mnist", tmp_path)


def test_labels_file_with_image_dims_is_rejected(tmp_path):
    write_mnist(tmp_path, gz=False)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros((12, 2, 2), np.uint8)))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte is not an IDX file of 1-D"):
        data.load_dataset("mnist", tmp_path)


@pytest.mark.parametrize("cut, message", [(-7, "is truncated: .* bytes its shape \\(12, 28, 28\\)"), (6, "is truncated inside its header")])
def test_truncated_file_is_named(tmp_path, cut, message):
    write_mnist(tmp_path, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    raw = path.read_bytes()
    path.write_bytes(raw[:cut])
    with pytest.raises(DataError, match="train-images-idx3-ubyte " + message):
        data.load_dataset("mnist", tmp_path)


def test_trailing_bytes_are_rejected(tmp_path):
    write_mnist(tmp_path, gz=False)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes() + b"\0\0\0")
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte has 3 bytes beyond"):
        data.load_dataset("mnist", tmp_path)


def test_truncated_gzip_is_named(tmp_path):
    write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="cannot read .*train-images-idx3-ubyte.gz"):
        data.load_dataset("mnist", tmp_path)


def test_count_mismatch_names_both_files(tmp_path):
    write_mnist(tmp_path, gz=False)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(11, np.uint8)))
    with pytest.raises(DataError, match="train-images-idx3-ubyte holds 12 images but .*train-labels-idx1-ubyte holds 11 labels"):
        data.load_dataset("mnist", tmp_path)


def test_out_of_range_label_is_rejected(tmp_path):
    write_mnist(tmp_path, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.full(5, 10, np.uint8)))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte holds label 10; expected 0..9"):
        data.load_dataset("mnist", tmp_path)


@pytest.mark.skipif(not idx.FASHION_DEFAULT_DIR.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_from_its_default_folder():
    ds = data.load_dataset("fashion-mnist")
    assert ds.x_train.shape == (60000, 1, 28, 28) and ds.x_test.shape == (10000, 1, 28, 28)
    assert np.bincount(ds.y_train.numpy()).tolist() == [6000] * 10 and np.bincount(ds.y_test.numpy()).tolist() == [1000] * 10
