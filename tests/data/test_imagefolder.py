import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import mixdiag
from mixdiag.data._base import load_dataset
from mixdiag.errors import MixdiagError
from mixdiag.training.build import build_dataset
from mixdiag.training.config import TrainConfig

from cli_support import error_line, invoke
from layout_fixtures import FOLDER_CLASSES, PER_CLASS, colour, forbid_decoding, identify, load_error, write_image, write_imagefolder

SIZE = 8


@pytest.fixture
def root(tmp_path):
    return write_imagefolder(tmp_path / "pets")


def load(root, **options):
    options.setdefault("image_size", SIZE)
    return load_dataset("imagefolder", root, **options)


def members(ds) -> dict[str, list[tuple[int, int]]]:
    """The (class, index) identities of each split's images, checking each image's label on the way."""
    out = {}
    for split in ("train", "val", "test"):
        if split == "val" and ds.x_val is None:
            continue
        x, y = ds.split(split)
        ids = [identify(image.numpy()) for image in x]
        assert [c for c, _ in ids] == y.tolist(), f"{split}: a label does not match its image's class folder"
        out[split] = ids
    return out


def mapped_from(tensor: torch.Tensor, path: Path) -> bool:
    """Whether ``tensor``'s memory lies in a mapping of the file ``path`` (Linux /proc/self/maps)."""
    address = tensor.data_ptr()
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[5] == str(path.resolve()):
            start, end = (int(a, 16) for a in fields[0].split("-"))
            if start <= address < end:
                return True
    return False


def test_reads_classes_labels_and_a_stratified_split(root):
    ds = load(root)
    assert ds.class_names == FOLDER_CLASSES and ds.num_classes == 3 and not ds.multilabel
    assert ds.x_train.dtype == torch.uint8 and ds.input_shape == (3, SIZE, SIZE) and ds.scale == pytest.approx(1 / 255)
    split = members(ds)
    every = [i for ids in split.values() for i in ids]
    assert sorted(every) == [(c, i) for c in range(3) for i in range(PER_CLASS)]  # every file exactly once
    # 20% of each class's 10 images to test, then 10% of the 8 left to validation.
    for c in range(3):
        assert sum(k == c for k, _ in split["test"]) == 2 and sum(k == c for k, _ in split["val"]) == 1
    assert ds.info["split"]["drawn"] == {"test": 0.2, "val": 0.1} and ds.info["split"]["drawn_by"] == "class"
    assert ds.info["sizes"] == {"train": 21, "val": 3, "test": 6}
    assert ds.info["validation"]["sizes"] == {"train": 21, "val": 3}


def test_pixels_are_the_files_colours(root):
    ds = load(root)
    c, i = identify(ds.x_test[0].numpy())
    assert ds.x_test[0].float().mean((1, 2)).tolist() == pytest.approx(colour(c, i), abs=3)  # JPEG keeps a flat colour within a few levels


def test_mean_and_std_come_from_the_training_images(root, monkeypatch):
    ds = load(root)
    pixels = ds.x_train.numpy().astype(np.float64) / 255
    assert ds.mean == pytest.approx(tuple(pixels.mean((0, 2, 3))))
    assert ds.std == pytest.approx(tuple(pixels.std((0, 2, 3))))
    # A large training split: every k-th image, at most _STATS_IMAGES of them.
    monkeypatch.setattr("mixdiag.data._image_dataset._STATS_IMAGES", 10)
    sampled = load(root)
    every_third = ds.x_train.numpy()[::3].astype(np.float64) / 255  # 21 images, 3 to a step: 7
    assert sampled.mean == pytest.approx(tuple(every_third.mean((0, 2, 3))))


def test_grayscale_is_pil_luma(root):
    gray, rgb = load(root, channels=1), load(root)
    assert gray.input_shape == (1, SIZE, SIZE) and len(gray.mean) == 1
    r, g, b = colour(0, 0)
    row = [identify(x.numpy()) for x in rgb.x_train].index((0, 0))
    assert int(gray.x_train[row].float().mean()) == pytest.approx(r * 0.299 + g * 0.587 + b * 0.114, abs=1)


def test_split_follows_split_seed_not_the_run_seed(root):
    first = members(load(root, split_seed=0, seed=0))
    assert members(load(root, split_seed=0, seed=7)) == first
    assert members(load(root, split_seed=1))["test"] != first["test"]


def test_train_and_test_folders(tmp_path):
    root = write_imagefolder(tmp_path / "pets", splits=("train", "train", "train", "test"))
    ds = load(root)
    split = members(ds)
    assert sorted(split["test"]) == [(c, i) for c in range(3) for i in range(PER_CLASS) if i % 4 == 3]
    assert len(split["val"]) == 3 and ds.info["split"]["drawn"] == {"val": 0.1}
    assert ds.info["split"]["given_by"] == "train/ and test/ folders"


def test_train_val_and_test_folders(tmp_path):
    root = write_imagefolder(tmp_path / "pets", splits=("train", "train", "val", "test"))
    split = members(load(root))
    assert sorted(split["val"]) == [(c, i) for c in range(3) for i in range(PER_CLASS) if i % 4 == 2]
    assert sorted(split["test"]) == [(c, i) for c in range(3) for i in range(PER_CLASS) if i % 4 == 3]


def test_train_folder_alone_draws_the_test_split(tmp_path):
    root = write_imagefolder(tmp_path / "pets", splits=("train",))
    split = members(load(root, val_fraction=0))
    assert len(split["test"]) == 6 and "val" not in split


def test_val_fraction_zero_holds_nothing_out(root):
    ds = load(root, val_fraction=0)
    assert ds.x_val is None and ds.info["validation"] is None and len(ds.x_train) == 24


def test_limit(root):
    ds = load(root, limit=2)
    assert ds.info["sizes"] == {"train": 2, "val": 2, "test": 2}


def test_splits_are_slices_of_the_memory_mapped_cache(root):
    ds = load(root)
    cache = Path(ds.info["cache"])
    assert cache.is_file()
    for x in (ds.x_train, ds.x_val, ds.x_test):
        # A view of a map of the cache file, not a copy in memory: 100,000 images stay on disk.
        assert x.untyped_storage().data_ptr() == ds.x_train.untyped_storage().data_ptr()
        if os.path.exists("/proc/self/maps"):
            assert mapped_from(x, cache)
    # Writes stay private: an in-place change never reaches the cache.
    ds.x_train[0] = 0
    assert np.load(cache, mmap_mode="r")[0].any()


def test_second_load_maps_the_cache_without_decoding(root, monkeypatch):
    before = sorted(root.rglob("*"))
    first = load(root)
    assert sorted(root.rglob("*")) == before  # the cache sits beside the folder: torchvision would read a folder in it as a class
    forbid_decoding(monkeypatch)
    second = load(root, seed=5)
    assert torch.equal(first.x_train, second.x_train) and torch.equal(first.y_test, second.y_test)
    assert len(list((root.parent / ".mixdiag-cache").glob("*.npy"))) == 1


def test_a_changed_file_is_decoded_again(root):
    first = load(root)
    changed = root / "dog" / "04.png"
    write_image(changed, colour(1, 9))  # the colour of another image: same class, new content
    os.utime(changed, ns=(1, 1))  # an mtime of its own, whatever the clock's resolution
    second = load(root)
    assert first.info["cache"] != second.info["cache"]
    ids = [identify(x.numpy()) for x in torch.cat([second.x_train, second.x_val, second.x_test])]
    assert ids.count((1, 9)) == 2 and (1, 4) not in ids


def test_an_added_file_is_decoded_again(root):
    first = load(root)
    write_image(root / "cat" / "10.png", colour(0, 10))
    second = load(root)
    assert first.info["cache"] != second.info["cache"] and sum(second.info["sizes"].values()) == 31


def test_cache_is_keyed_by_image_options(root):
    load(root)
    load(root, image_size=6)
    load(root, channels=1)
    assert len(list((root.parent / ".mixdiag-cache").glob("*.npy"))) == 3


def test_parallel_decoding_agrees(root, tmp_path):
    one = load(root, workers=1, cache_dir=tmp_path / "one")
    three = load(root, workers=3, cache_dir=tmp_path / "three")
    assert torch.equal(one.x_train, three.x_train) and torch.equal(one.x_test, three.x_test)


def test_hidden_files_and_folders_are_skipped(root):
    write_image(root / ".thumbnails" / "a.png", (0, 0, 0))
    (root / "cat" / "._00.png").write_bytes(b"macOS resource fork")
    write_image(root / "cat" / ".ipynb_checkpoints" / "x.png", (0, 0, 0))
    (root / "cat" / "notes.txt").write_text("not an image")
    assert sum(load(root).info["sizes"].values()) == 3 * PER_CLASS


def test_a_run_hands_its_val_fraction_to_the_loader(root):
    config = TrainConfig(dataset="imagefolder", data_dir=str(root), dataset_options={"image_size": SIZE}, val_fraction=0.25)
    ds = build_dataset(config)
    assert ds.info["validation"]["fraction"] == 0.25 and len(ds.x_val) == 6  # 2 of each class's 8, drawn once
    if os.path.exists("/proc/self/maps"):  # not copied by hold_out_validation: still views of the mapped cache
        assert mapped_from(ds.x_train, Path(ds.info["cache"])) and mapped_from(ds.x_val, Path(ds.info["cache"]))
    with pytest.raises(MixdiagError, match="--val-fraction"):
        build_dataset(TrainConfig(dataset="imagefolder", data_dir=str(root), dataset_options={"val_fraction": 0.2}))


def error(root, **options) -> str:
    options.setdefault("image_size", SIZE)
    return load_error("imagefolder", root, **options)


def test_missing_data_dir(tmp_path):
    assert "--data-dir" in error(None)
    assert str(tmp_path / "nowhere") in error(tmp_path / "nowhere")


def test_a_file_given_as_the_folder(root):
    assert "is a file, not a folder" in error(root / "cat" / "00.png")


def test_no_class_folders(tmp_path):
    write_image(tmp_path / "flat" / "a.png", (1, 2, 3))
    message = error(tmp_path / "flat")
    assert "no class folders" in message and str(tmp_path / "flat") in message


def test_class_folder_without_images(root):
    (root / "emu").mkdir()
    (root / "emu" / "readme.txt").write_text("to do")
    message = error(root)
    assert str(root / "emu") in message and "no images" in message


def test_corrupt_image_is_named(root):
    (root / "dog" / "03.jpg").write_bytes(b"not a jpeg")
    message = error(root)
    assert str(root / "dog" / "03.jpg") in message and "replace or delete" in message
    assert list((root.parent / ".mixdiag-cache").glob("*.npy")) == []


def test_stray_folder_beside_train(tmp_path):
    root = write_imagefolder(tmp_path / "pets", splits=("train", "test"))
    (root / "extra").mkdir()
    assert "extra/" in error(root)


def test_class_only_in_test(tmp_path):
    root = write_imagefolder(tmp_path / "pets", splits=("train", "test"))
    write_image(root / "test" / "emu" / "0.png", (1, 2, 3))
    assert str(root / "test" / "emu") in error(root)


def test_too_few_images_for_the_test_fraction(tmp_path):
    root = write_imagefolder(tmp_path / "pets", per_class=1)
    assert "test_fraction" in error(root)


BAD_OPTIONS = [
    {"channels": 2},
    {"image_size": 0},
    {"test_fraction": 1.0},
    {"val_fraction": -0.1},
    {"augment": "shift"},
    {"limit": 0},
    {"split_seed": -1},
]


@pytest.mark.parametrize("options", BAD_OPTIONS)
def test_bad_options(root, options):
    assert next(iter(options)) in error(root, **options)


def test_train_then_eta2_from_the_command_line(root, tmp_path):
    run = tmp_path / "run"
    trained = invoke(
        "train", "--dataset", "imagefolder", "--data-dir", root, "--dataset-option", "image_size=16",
        "--model", "preact-resnet20", "--epochs", "1", "--batch-size", "8", "--device", "cpu", "--out", run, "--quiet",
    )  # fmt: skip
    assert trained.code == 0, trained.stderr
    config = json.loads((run / "config.json").read_text())
    assert config["dataset"] == "imagefolder" and config["validation"]["sizes"] == {"train": 21, "val": 3}
    assert config["validation"]["split"]["drawn"] == {"test": 0.2, "val": 0.1}  # the run records how its test split was drawn
    measured = invoke("eta2", "--ckpt", run, "--split", "test", "--k", "2", "--device", "cpu", "--out", tmp_path / "eta2")
    assert measured.code == 0, measured.stderr
    assert (tmp_path / "eta2" / "eta2.csv").is_file()
    assert mixdiag.load(run).dataset.class_names == FOLDER_CLASSES
    # A rebuild from changed files is refused: the run's test split would no longer be the one it recorded.
    write_image(root / "cat" / "10.png", colour(0, 10))
    with pytest.raises(MixdiagError, match="validation split rebuilt"):
        mixdiag.load(run)


def test_bad_layout_from_the_command_line_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    outcome = invoke("train", "--dataset", "imagefolder", "--data-dir", tmp_path / "empty", "--out", tmp_path / "run", "--device", "cpu")
    assert outcome.code == 1 and "no class folders" in error_line(outcome)
