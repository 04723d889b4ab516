"""`mixdiag train` and `mixdiag conflict` on the four medical layouts, written by the loader tests' fixture writers.

The fixtures hold a handful of samples, so these runs check that every layout, model family
and mixing method goes through training, per-epoch metrics and the conflict analysis, not
what the models learn.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

import mixdiag
from mixdiag.cli.main import cli
from mixdiag.training.metrics import predict

from medical_fixtures import write_chestmnist, write_chestxray14, write_ptbxl, write_tianchi


def write_chestmnist_dir(root: Path) -> Path:
    write_chestmnist(root / "chestmnist.npz")
    return root


# name: (fixture writer, loader options, model); ECG at 50 Hz, X-rays at 32x32, to stay quick.
LAYOUTS = {
    "chestxray14": (write_chestxray14, ["image_size=32"], "preact-resnet20"),
    "chestmnist": (write_chestmnist_dir, [], "preact-resnet20"),
    "ecg-tianchi": (write_tianchi, ["downsample=10"], "preact-resnet1d32"),
    "ptbxl": (write_ptbxl, ["sampling_rate=100"], "preact-resnet1d32"),
}
METHODS = ["erm", "mixup", "manifold", "flow", "flow-consistency"]


@pytest.fixture(scope="module")
def data_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("medical")
    return {name: writer(root / name) for name, (writer, _, _) in LAYOUTS.items()}


def train_args(name, data_dir, out, method="erm", *extra):
    _, options, model = LAYOUTS[name]
    args = ["train", "--dataset", name, "--data-dir", str(data_dir), "--model", model, "--method", method, "--epochs", "1",
            "--batch-size", "4", "--device", "cpu", "--out", str(out), *extra]
    for option in options:
        args += ["--dataset-option", option]
    return args


# The Tianchi label names are Chinese; a machine without a CJK font draws them as boxes, with a warning.
@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")
@pytest.mark.parametrize("name", list(LAYOUTS))
def test_train_and_conflict_commands(name, data_dirs, tmp_path):
    runner = CliRunner()
    run = tmp_path / "run"
    trained = runner.invoke(cli, train_args(name, data_dirs[name], run, "mixup", "--corrupt-rate", "0.1"))
    assert trained.exit_code == 0, trained.output
    (record,) = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    loaded = mixdiag.load(run / "checkpoints" / "last.pt", device="cpu")
    ds = loaded.dataset
    assert ds.multilabel and loaded.model_name == LAYOUTS[name][2] and ds.corrupted is not None
    assert list(record["test_per_label_auc"]) == sorted(ds.class_names)  # every label, every epoch
    assert 0 <= record["test_micro_f1_at_val_threshold"] <= 1 and 0 <= record["val_threshold"] <= 1

    out = tmp_path / "conflict"
    # The fixtures are tiny: one sample per group is all some of them have.
    measured = runner.invoke(cli, ["conflict", "--ckpt", str(run / "checkpoints" / "last.pt"), "--pairs", "2", "--min-group", "1",
                                   "--device", "cpu", "--out", str(out)])
    assert measured.exit_code == 0, measured.output
    df = pd.read_csv(out / "conflict.csv")
    hidden = list(loaded.model.block_names) + ["output"]
    assert list(df["module"]) == hidden * df["pair"].nunique()
    assert set(df["label_a"]) | set(df["label_b"]) <= set(ds.class_names)
    assert df["eta2"].between(0, 1).all() and df["decoupling_auc"].between(0, 1).all()
    assert (df["n_a_only"] >= 1).all() and (df["n_b_only"] >= 1).all()


def test_metrics_jsonl_against_the_checkpoint(data_dirs, tmp_path):
    """The per-epoch per-label AUC and the validation-threshold F1, recomputed from last.pt."""
    run = tmp_path / "run"
    result = CliRunner().invoke(cli, train_args("chestmnist", data_dirs["chestmnist"], run))
    assert result.exit_code == 0, result.output
    record = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    loaded = mixdiag.load(run / "checkpoints" / "last.pt", device="cpu")
    ds = loaded.dataset
    cpu = torch.device("cpu")
    prob = {s: torch.sigmoid(predict(loaded.model, ds.split(s)[0], ds.normalize, cpu)).double().numpy() for s in ("val", "test")}
    y = {s: ds.split(s)[1].numpy().astype(int) for s in ("val", "test")}
    for j, label in enumerate(ds.class_names):
        pos, neg = prob["test"][y["test"][:, j] == 1, j], prob["test"][y["test"][:, j] == 0, j]
        if len(pos) and len(neg):
            diff = pos[:, None] - neg[None, :]
            assert record["test_per_label_auc"][label] == pytest.approx(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)
        else:
            assert record["test_per_label_auc"][label] is None

    def f1(yy, pred):
        tp, fp, fn = (pred & (yy == 1)).sum(), (pred & (yy == 0)).sum(), (~pred & (yy == 1)).sum()
        return 2 * tp / (2 * tp + fp + fn)

    candidates = np.unique(prob["val"])
    t = candidates[int(np.argmax([f1(y["val"], prob["val"] >= c) for c in candidates]))]
    assert record["val_threshold"] == pytest.approx(t, rel=1e-6)
    assert record["test_micro_f1_at_val_threshold"] == pytest.approx(f1(y["test"], prob["test"] >= t))


@pytest.mark.parametrize("name", ["ecg-tianchi", "chestxray14"])
def test_every_method_trains_1d_and_2d_models(name, data_dirs, tmp_path):
    _, options, model = LAYOUTS[name]
    dataset_options = {k: int(v) for k, v in (o.split("=") for o in options)}
    for method in METHODS:
        run = mixdiag.train(out=tmp_path / method, dataset=name, data_dir=str(data_dirs[name]), dataset_options=dataset_options,
                            model=model, method=method, epochs=1, batch_size=4, device="cpu")
        (record,) = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert np.isfinite(record["train_loss"]) and record["train_loss"] > 0, method
        assert json.loads((run / "config.json").read_text())["method"] == method
