"""best.pt is chosen on a validation split held out from the training data, never on test data."""

import json

import pytest
import torch

from mixdiag import TrainConfig, load, train
from mixdiag.data import hold_out_validation, load_dataset
from mixdiag.errors import CheckpointError
from mixdiag.training.build import VALIDATION, derive_seed
from mixdiag.training.checkpoint import load_checkpoint, save_checkpoint

FAST = dict(dataset="digits", model="preact-resnet20", batch_size=64, device="cpu")


def history(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_best_pt_is_the_best_validation_epoch_of_a_held_out_split(tmp_path):
    run = train(out=tmp_path / "r", epochs=3, seed=2, quiet=True, **FAST)
    records = history(run)
    best_epoch = max(records, key=lambda r: (r["val_accuracy"], -r["epoch"]))["epoch"]  # the first of the highest
    best = load_checkpoint(run / "checkpoints" / "best.pt")
    assert best["epoch"] == best_epoch and best["selected_on"] == "val_accuracy"
    # The split the run used is the one an independent call with the recorded seed holds out.
    expected = hold_out_validation(load_dataset("digits"), 0.1, derive_seed(2, VALIDATION))
    loaded = load(run / "checkpoints" / "best.pt", device="cpu")
    assert torch.equal(loaded.dataset.x_val, expected.x_val) and torch.equal(loaded.dataset.x_train, expected.x_train)
    saved = json.loads((run / "config.json").read_text())
    assert saved["val_fraction"] == 0.1 and saved["validation"] == expected.info["validation"] == best["validation"]
    assert saved["validation"]["sizes"] == {"train": len(expected.x_train), "val": len(expected.x_val)}
    assert len(expected.x_train) + len(expected.x_val) == 1438


def test_no_validation_split_means_no_best_pt_and_says_so(tmp_path, capsys):
    run = train(out=tmp_path / "r", epochs=2, val_fraction=0.0, **FAST)
    assert not (run / "checkpoints" / "best.pt").exists()
    assert not any(key.startswith("val_") for key in history(run)[0])
    last = load_checkpoint(run / "checkpoints" / "last.pt")
    assert last["selected_on"] is None and last["validation"] is None
    assert "best: none (no validation split, val_fraction 0)" in capsys.readouterr().err
    with pytest.raises(CheckpointError, match="has no best.pt: it was trained without a validation split .* use last.pt"):
        load(run / "checkpoints" / "best.pt")
    assert load(run / "checkpoints" / "last.pt", device="cpu").dataset.x_val is None


def test_a_changed_split_is_refused_on_load_and_resume(tmp_path):
    run = train(out=tmp_path / "r", epochs=1, quiet=True, **FAST)
    last = run / "checkpoints" / "last.pt"
    state = load_checkpoint(last)
    state["validation"] = {**state["validation"], "indices_sha256": "0" * 64}
    save_checkpoint(last, {k: v for k, v in state.items() if k not in ("format", "version")})
    with pytest.raises(CheckpointError, match="validation split rebuilt from its settings .* is not the one it was trained with"):
        load(last)
    with pytest.raises(CheckpointError, match="is not the one it was trained with"):
        train(out=run, resume=True, epochs=2)


def test_configs_from_before_the_split_rebuild_without_one():
    saved = TrainConfig(dataset="digits").to_dict()
    del saved["val_fraction"]
    assert TrainConfig.from_dict(saved).val_fraction == 0.0
    assert TrainConfig().val_fraction == 0.1


def test_the_split_is_taken_before_label_corruption(tmp_path):
    run = train(out=tmp_path / "r", epochs=1, corrupt_rate=0.4, quiet=True, **FAST)
    loaded = load(run / "checkpoints" / "last.pt", device="cpu")
    clean = hold_out_validation(load_dataset("digits"), 0.1, derive_seed(0, VALIDATION))
    assert torch.equal(loaded.dataset.y_val, clean.y_val)  # validation labels stay clean
    assert loaded.dataset.corrupted.shape == (len(clean.y_train),) and loaded.dataset.corrupted.any()
