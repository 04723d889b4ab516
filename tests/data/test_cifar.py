import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import mixdiag.data as data
from mixdiag.errors import DataError

NAMES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]


def write_batch(path: Path, images: np.ndarray, labels: list[int]) -> None:
    """A batch file in the published layout: flat RGB planes per row, bytes keys."""
    content = {b"batch_label": b"fixture", b"labels": labels, b"data": images.reshape(len(images), -1),
               b"filenames": [b"x.png"] * len(images)}
    path.write_bytes(pickle.dumps(content, protocol=2))


def write_cifar(parent: Path, per_batch=4, seed=0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    folder = parent / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images = rng.integers(0, 256, (per_batch, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, 10, per_batch)
        write_batch(folder / name, images, [int(v) for v in labels])
        written[name] = (images, labels)
    meta = {b"label_names": NAMES, b"num_cases_per_batch": per_batch, b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return written


@pytest.mark.parametrize("inner", [False, True])
def test_reads_batches_unchanged_from_folder_or_parent(tmp_path, inner):
    written = write_cifar(tmp_path)
    ds = data.load_dataset("cifar10", tmp_path / "cifar-10-batches-py" if inner else tmp_path)
    train_x = np.concatenate([written[f"data_batch_{i}"][0] for i in range(1, 6)])
    train_y = np.concatenate([written[f"data_batch_{i}"][1] for i in range(1, 6)])
    assert ds.x_train.dtype == torch.uint8 and ds.x_train.shape == (20, 3, 32, 32) and ds.x_test.shape == (4, 3, 32, 32)
    np.testing.assert_array_equal(ds.x_train.numpy(), train_x)
    np.testing.assert_array_equal(ds.y_train.numpy(), train_y)
    np.testing.assert_array_equal(ds.x_test.numpy(), written["test_batch"][0])
    np.testing.assert_array_equal(ds.y_test.numpy(), written["test_batch"][1])
    assert ds.class_names[1] == "automobile" and ds.augment == "crop-flip"
    pixels = train_x.astype(np.float64) / 255
    assert ds.mean == pytest.approx(tuple(pixels.mean(axis=(0, 2, 3)))) and ds.std == pytest.approx(tuple(pixels.std(axis=(0, 2, 3))))


def test_missing_batch_is_named(tmp_path):
    write_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DataError, match="data_batch_3 is missing from"):
        data.load_dataset("cifar10", tmp_path)


def test_truncated_pickle_is_named(tmp_path):
    write_cifar(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(DataError, match="cannot unpickle .*test_batch"):
        data.load_dataset("cifar10", tmp_path)


def test_wrong_image_shape_is_named(tmp_path):
    write_cifar(tmp_path)
    write_batch(tmp_path / "cifar-10-batches-py" / "data_batch_2", np.zeros((4, 3, 16, 16), np.uint8), [0] * 4)
    with pytest.raises(DataError, match=r"data_batch_2 holds images as uint8 \(4, 768\); expected uint8 \(N, 3072\)"):
        data.load_dataset("cifar10", tmp_path)


def test_label_count_mismatch_is_named(tmp_path):
    write_cifar(tmp_path)
    write_batch(tmp_path / "cifar-10-batches-py" / "data_batch_1", np.zeros((4, 3, 32, 32), np.uint8), [0] * 3)
    with pytest.raises(DataError, match="data_batch_1 holds 4 images but its labels are not a list of 4 integers"):
        data.load_dataset("cifar10", tmp_path)


def test_missing_keys_and_bad_meta_are_named(tmp_path):
    write_cifar(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    (folder / "data_batch_4").write_bytes(pickle.dumps({b"data": np.zeros((1, 3072), np.uint8)}))
    with pytest.raises(DataError, match="data_batch_4 lacks the b'data' or b'labels' entry"):
        data.load_dataset("cifar10", tmp_path)
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": NAMES[:9]}))
    with pytest.raises(DataError, match="batches.meta lacks a list of 10"):
        data.load_dataset("cifar10", tmp_path)


def test_no_data_dir_asks_for_it():
    with pytest.raises(DataError, match="--data-dir"):
        data.load_dataset("cifar10")
