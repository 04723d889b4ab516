import json

import numpy as np
import pytest
import torch

from mixdiag.data import apply_corruption
from mixdiag.data._base import load_dataset

from cli_support import error_line, invoke
from layout_fixtures import TABLE_LABELS, TABLE_ROWS, forbid_decoding, identify, load_error, table_vector, write_table

SIZE = 8


def load(source, **options):
    options.setdefault("image_size", SIZE)
    return load_dataset("multilabel-csv", source, **options)


def rows_of(ds) -> dict[str, list[int]]:
    """The table row of each split's images (from their colour), checking each image's labels on the way."""
    out = {}
    for split in ("train", "val", "test"):
        if split == "val" and ds.x_val is None:
            continue
        x, y = ds.split(split)
        rows = [identify(image.numpy())[1] for image in x]
        for row, labels in zip(rows, y.numpy()):
            np.testing.assert_array_equal(labels, table_vector(TABLE_ROWS[row][0]), err_msg=f"row {row}")
        out[split] = rows
    return out


def patients(rows: list[int]) -> set[int]:
    return {TABLE_ROWS[r][1] for r in rows}


@pytest.mark.parametrize("style", ["columns", "findings"])
def test_reads_labels_from_either_style(tmp_path, style):
    csv = write_table(tmp_path / "t", style=style)
    options = {"findings_column": "Finding Labels"} if style == "findings" else {}
    ds = load(csv, **options)
    assert ds.multilabel and ds.class_names == TABLE_LABELS and ds.num_classes == 3
    assert ds.y_train.dtype == torch.float32 and ds.y_train.shape[1] == 3
    assert ds.input_shape == (3, SIZE, SIZE) and ds.augment == "crop"
    split = rows_of(ds)
    assert sorted(r for rows in split.values() for r in rows) == list(range(len(TABLE_ROWS)))


def test_no_finding_and_empty_cells_are_all_zeros(tmp_path):
    ds = load(write_table(tmp_path / "t", style="findings"), findings_column="Finding Labels", val_fraction=0)
    y = torch.cat([ds.y_train, ds.y_test])
    rows = [identify(x.numpy())[1] for x in torch.cat([ds.x_train, ds.x_test])]
    negative = [i for i, r in enumerate(rows) if TABLE_ROWS[r][0] in ("", "No Finding")]
    assert len(negative) == 4 and not y[negative].any()


def test_drawn_splits_keep_each_patient_on_one_side(tmp_path):
    ds = load(write_table(tmp_path / "t"))
    split = rows_of(ds)
    sides = [patients(split[s]) for s in ("train", "val", "test")]
    assert all(sides) and not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    assert ds.info["split"]["drawn_by"] == "patient (10 patients)" and ds.info["columns"]["patient"] == "patient_id"
    assert patients(split["test"]).__len__() == 2 and patients(split["val"]).__len__() == 1  # 20% of 10, then 10% of 8


def test_rows_without_a_patient_id_are_patients_of_their_own(tmp_path):
    csv = write_table(tmp_path / "t")
    lines = csv.read_text().splitlines()
    # Rows 0-5 (patients 1-3) lose their ids; the split must still be drawn over 6 + 7 = 13 patients.
    lines[1:7] = [line.replace(f",{who},", ",,", 1) for line, (_, who) in zip(lines[1:7], TABLE_ROWS[:6])]
    csv.write_text("\n".join(lines) + "\n")
    ds = load(csv)
    assert ds.info["split"]["drawn_by"] == "patient (13 patients)"


def test_same_split_seed_same_split(tmp_path):
    csv = write_table(tmp_path / "t")
    first = rows_of(load(csv))
    assert rows_of(load(csv, seed=3)) == first
    assert rows_of(load(csv, split_seed=4)) != first


def test_without_patients_the_split_is_stratified(tmp_path):
    ds = load(write_table(tmp_path / "t", patient=False))
    assert ds.info["split"]["drawn_by"] == "rarest positive label" and ds.info["sizes"]["test"] >= 3


def test_split_column(tmp_path):
    ds = load(write_table(tmp_path / "t", split=True))
    split = rows_of(ds)
    assert patients(split["test"]) == {9, 10} and patients(split["val"]) == {8}
    assert ds.info["split"]["drawn"] == {} and ds.info["split"]["given_by"] == "column 'split'"


def test_folder_with_one_csv_and_absolute_paths(tmp_path):
    csv = write_table(tmp_path / "t", absolute=True)
    assert rows_of(load(csv.parent)) == rows_of(load(csv))


def test_explicit_label_columns(tmp_path):
    csv = write_table(tmp_path / "t")
    ds = load(csv, label_columns="Nodule,Effusion")
    assert ds.class_names == ["Nodule", "Effusion"]
    assert load(csv, label_columns=["Mass"]).num_classes == 1


def test_splits_are_slices_of_one_cache_reused_by_the_next_load(tmp_path, monkeypatch):
    csv = write_table(tmp_path / "t")
    first = load(csv)
    assert first.x_val.untyped_storage().data_ptr() == first.x_train.untyped_storage().data_ptr()
    forbid_decoding(monkeypatch)
    # Another label reading of the same table reuses the decoded images.
    second = load(csv, label_columns="Mass,Nodule")
    assert torch.equal(first.x_train, second.x_train)
    assert len(list((tmp_path / "t" / ".mixdiag-cache").glob("*.npy"))) == 1


def test_label_corruption_works_on_it(tmp_path):
    ds = load(write_table(tmp_path / "t"))
    corrupted = apply_corruption(ds, pos_to_neg=0.5, neg_to_pos=0.5, seed=0)
    assert corrupted.corrupted.shape == ds.y_train.shape and corrupted.corrupted.any()


def error(source, **options) -> str:
    options.setdefault("image_size", SIZE)
    return load_error("multilabel-csv", source, **options)


def test_missing_csv(tmp_path):
    message = error(tmp_path / "labels.csv")
    assert str(tmp_path / "labels.csv") in message and "does not exist" in message
    assert "--data-dir" in error(None)


@pytest.mark.parametrize("content", [b"", b"path,a\nx.png,1,2,3\n", b"path,a\n\xff\xfe.png,1\n"])
def test_unreadable_table(tmp_path, content):
    (tmp_path / "labels.csv").write_bytes(content)
    assert "cannot read" in error(tmp_path / "labels.csv")


def test_folder_without_exactly_one_csv(tmp_path):
    csv = write_table(tmp_path / "t")
    (csv.parent / "other.csv").write_text("path\n")
    assert "exactly one .csv" in error(csv.parent) and "other.csv" in error(csv.parent)


@pytest.mark.parametrize(
    "options, named",
    [
        ({"path_column": "file"}, "'file'"),
        ({"label_columns": "Mass,Edema"}, "'Edema'"),
        ({"findings_column": "Findings"}, "'Findings'"),
        ({"patient_column": "subject"}, "'subject'"),
        ({"split_column": "fold"}, "'fold'"),
    ],
)
def test_missing_column_is_named(tmp_path, options, named):
    message = error(write_table(tmp_path / "t"), **options)
    assert named in message and next(iter(options)) in message


def test_label_column_with_a_bad_value(tmp_path):
    csv = write_table(tmp_path / "t")
    lines = csv.read_text().splitlines()
    lines[3] = lines[3][: lines[3].rindex(",")] + ",yes"  # row 3's Nodule
    csv.write_text("\n".join(lines) + "\n")
    message = error(csv)
    assert "'Nodule'" in message and "'yes'" in message and "row 4" in message


def test_findings_table_read_as_label_columns_says_so(tmp_path):
    assert "findings_column" in error(write_table(tmp_path / "t", style="findings"))


def test_image_path_that_does_not_exist(tmp_path):
    csv = write_table(tmp_path / "t")
    (tmp_path / "t" / "images" / "05.png").unlink()
    message = error(csv)
    assert str(tmp_path / "t" / "images" / "05.png") in message and "row 7" in message


def test_unreadable_image(tmp_path):
    csv = write_table(tmp_path / "t")
    (tmp_path / "t" / "images" / "02.png").write_bytes(b"no png")
    assert str(tmp_path / "t" / "images" / "02.png") in error(csv)


def test_bad_split_value(tmp_path):
    csv = write_table(tmp_path / "t", split=True)
    csv.write_text(csv.read_text().replace(",val,", ",valid,", 1))
    message = error(csv)
    assert "'valid'" in message and "train, val, test" in message


def test_both_label_styles_at_once(tmp_path):
    assert "not both" in error(write_table(tmp_path / "t"), label_columns="Mass", findings_column="Mass")


def test_train_then_conflict_from_the_command_line(tmp_path):
    csv = write_table(tmp_path / "t", split=True)
    run = tmp_path / "run"
    trained = invoke(
        "train", "--dataset", "multilabel-csv", "--data-dir", csv, "--dataset-option", "image_size=16",
        "--model", "preact-resnet20", "--epochs", "1", "--batch-size", "4", "--device", "cpu", "--out", run, "--quiet",
        "--corrupt-pos-neg", "0.1",
    )  # fmt: skip
    assert trained.code == 0, trained.stderr
    config = json.loads((run / "config.json").read_text())
    assert config["validation"]["held_out_from"] == "column 'split'"
    measured = invoke(
        "conflict", "--ckpt", run, "--pair", "Effusion,Mass", "--min-group", "2", "--null", "0", "--device", "cpu",
        "--out", tmp_path / "conflict", "--quiet",
    )  # fmt: skip
    assert measured.code == 0, measured.stderr
    assert (tmp_path / "conflict" / "conflict.csv").is_file()


def test_missing_csv_from_the_command_line_is_one_line(tmp_path):
    missing = tmp_path / "no.csv"
    outcome = invoke("train", "--dataset", "multilabel-csv", "--data-dir", missing, "--out", tmp_path / "run", "--device", "cpu")
    assert outcome.code == 1 and "no.csv" in error_line(outcome)
