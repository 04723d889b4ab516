import importlib
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mixdiag.errors import DataError

from medical_fixtures import PTBXL_RECORDS, STATEMENTS, ptbxl_signal, write_ptbxl, write_ptbxl_record, write_statements

ptbxl = importlib.import_module("mixdiag.data.ptbxl")

SUPERCLASS_OF = {code: cls for code, (diagnostic, _, cls, _) in STATEMENTS.items() if diagnostic == 1.0}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return write_ptbxl(tmp_path_factory.mktemp("pristine") / "ptb-xl")


@pytest.fixture
def root(pristine, tmp_path):
    """A fresh copy of the fixture per test: tests break files and leave caches behind."""
    return Path(shutil.copytree(pristine, tmp_path / "ptb-xl"))


def load(root, **options):
    return ptbxl.load_ptbxl(root, **options).validate()


def rows(ds):
    """(split, ecg_id, signal, labels) of every loaded record; sample 0 of lead I holds ecg_id / 100."""
    return [
        (split, round(float(x[0, 0]) * 100), x, y)
        for split in ("train", "val", "test")
        for x, y in zip(*ds.split(split))
    ]


def test_superclass_labels_folds_and_signals(root):
    ds = load(root)
    assert ds.class_names == ["NORM", "MI", "STTC", "CD", "HYP"] and ds.multilabel and ds.augment == "shift"
    assert ds.x_train.dtype == torch.float32 and ds.input_shape == (12, 1000)
    loaded = rows(ds)
    # Record 6 has only a rhythm statement: no superclass, left out like the benchmark does.
    assert sorted(ecg_id for _, ecg_id, _, _ in loaded) == [i for i in PTBXL_RECORDS if i != 6]
    assert ds.info["unlabelled_left_out"] == 1
    for split, ecg_id, x, y in loaded:
        codes, fold = PTBXL_RECORDS[ecg_id]
        assert split == ("train" if fold <= 8 else "val" if fold == 9 else "test")
        np.testing.assert_allclose(x.numpy(), ptbxl_signal(ecg_id, 100).T, atol=1e-6)
        expected = {SUPERCLASS_OF[c] for c in codes if c in SUPERCLASS_OF}
        assert {ds.class_names[i] for i in np.flatnonzero(y.numpy())} == expected, ecg_id


def test_statement_level_and_500_hz(root):
    ds = load(root, level="statement", sampling_rate=500)
    assert ds.class_names == list(STATEMENTS) and ds.input_shape == (12, 5000)
    loaded = rows(ds)
    assert sorted(ecg_id for _, ecg_id, _, _ in loaded) == sorted(PTBXL_RECORDS)
    for _, ecg_id, x, y in loaded:
        np.testing.assert_allclose(x.numpy(), ptbxl_signal(ecg_id, 500).T, atol=1e-6)
        # Every listed statement counts, also at likelihood 0 (record 8's LVH, rhythm codes).
        assert {ds.class_names[i] for i in np.flatnonzero(y.numpy())} == set(PTBXL_RECORDS[ecg_id][0]), ecg_id


def test_mean_and_std_per_lead_from_train(root):
    ds = load(root)
    x = ds.x_train.numpy().astype(np.float64)
    assert ds.mean == pytest.approx(tuple(x.mean(axis=(0, 2))))
    assert ds.std == pytest.approx(tuple(x.std(axis=(0, 2))))


def test_second_load_uses_the_cache(root, monkeypatch):
    first = load(root)

    def no_reading(*args, **kwargs):
        raise AssertionError("read a record again")

    monkeypatch.setattr("wfdb.rdsamp", no_reading)
    second = load(root)
    assert torch.equal(first.x_train, second.x_train) and torch.equal(first.y_test, second.y_test)


def test_limit_caps_every_split(root):
    ds = load(root, limit=1)
    assert ds.info["sizes"] == {"train": 1, "val": 1, "test": 1}


def error(root, **options) -> str:
    with pytest.raises(DataError) as info:
        load(root, **options)
    return str(info.value)


def edit_database(root, change) -> None:
    """Rewrite ptbxl_database.csv as ``change(table)``."""
    path = root / "ptbxl_database.csv"
    change(pd.read_csv(path)).to_csv(path, index=False)


def test_missing_data_dir_asks_for_it():
    with pytest.raises(DataError, match="--data-dir.*ptbxl_database.csv"):
        ptbxl.load_ptbxl(None)


@pytest.mark.parametrize("column", ["scp_codes", "strat_fold", "filename_lr"])
def test_missing_database_column_is_named(root, column):
    edit_database(root, lambda t: t.drop(columns=column))
    assert f"'{column}'" in error(root)


def test_missing_statement_column_is_named(root):
    table = pd.read_csv(root / "scp_statements.csv", index_col=0)
    table.drop(columns="diagnostic_class").to_csv(root / "scp_statements.csv")
    assert "'diagnostic_class'" in error(root)


def test_unknown_code_is_named(root):
    edit_database(root, lambda t: t.assign(scp_codes=t["scp_codes"].str.replace("'LAFB'", "'XYZ'")))
    message = error(root)
    assert "'XYZ'" in message and "ecg_id 4" in message


def test_scp_codes_are_never_evaluated(root):
    edit_database(root, lambda t: t.assign(scp_codes=t["scp_codes"].where(t["ecg_id"] != 3, "__import__('os').getcwd()")))
    assert "ecg_id 3" in error(root)


def test_record_length_mismatch_is_named(root):
    write_ptbxl_record(root, "records100/00000/00005_lr", ptbxl_signal(5, 100)[:999], 100)
    message = error(root)
    assert "00005_lr" in message and "999" in message


def test_missing_record_is_named(root):
    (root / "records100/00000/00007_lr.dat").unlink()
    assert "00007_lr" in error(root)


def test_fold_outside_1_to_10_is_named(root):
    edit_database(root, lambda t: t.assign(strat_fold=t["strat_fold"].where(t["ecg_id"] != 2, 11)))
    message = error(root)
    assert "ecg_id 2" in message and "11" in message


def test_unknown_diagnostic_class(root):
    write_statements(root / "scp_statements.csv", {**STATEMENTS, "XYZ": (1.0, None, "ODD", "odd")})
    assert "'ODD'" in error(root)


def test_missing_wfdb_says_how_to_install(root, monkeypatch):
    monkeypatch.setitem(sys.modules, "wfdb", None)  # makes `import wfdb` raise ImportError
    assert "pip install wfdb" in error(root)


@pytest.mark.parametrize("options", [{"sampling_rate": 250}, {"level": "subclass"}])
def test_bad_options(root, options):
    assert next(iter(options)) in error(root, **options)
