"""Training stops cleanly when it diverges, and every write is all or nothing."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from mixdiag import MixdiagError, train
from mixdiag._io import atomic_path, write_directory
from mixdiag.training.checkpoint import load_checkpoint, save_checkpoint

from cli_support import error_line, invoke, snapshot


def test_divergence_stops_naming_epoch_and_step_and_keeps_the_last_good_checkpoint(tmp_path, run):
    """Epoch 2 of a copy of the run diverges (its learning rate raised to 1e30 before resuming)."""
    out = tmp_path / "run"
    shutil.copytree(run, out)
    config = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**config, "lr": 1e30}))
    state = load_checkpoint(out / "checkpoints" / "last.pt")
    save_checkpoint(out / "checkpoints" / "last.pt", {**state, "config": {**state["config"], "lr": 1e30}})
    before = {p: p.read_bytes() for p in [out / "metrics.jsonl", *(out / "checkpoints").iterdir()]}

    outcome = invoke("train", "--out", out, "--resume", "--epochs", "2")
    assert outcome.code == 1
    line = error_line(outcome)
    assert "training diverged" in line and "at epoch 2, step" in line and "last.pt keeps epoch 1" in line, line
    assert {p: p.read_bytes() for p in before} == before
    assert sorted((out / "checkpoints").iterdir()) == sorted(p for p in before if p.parent.name == "checkpoints")
    assert load_checkpoint(out / "checkpoints" / "last.pt")["epoch"] == 1


def test_divergence_in_the_first_epoch_writes_no_checkpoint(tmp_path):
    out = tmp_path / "run"
    outcome = invoke("train", "--dataset", "synthetic-multilabel", "--dataset-option", "n_train=64", "--dataset-option", "n_test=32",
                     "--dataset-option", "image_size=8", "--model", "preact-resnet20", "--epochs", "1", "--batch-size", "32",
                     "--lr", "1e30", "--schedule", "constant", "--device", "cpu", "--out", out)
    assert outcome.code == 1
    line = error_line(outcome)
    assert "at epoch 1, step 2 of 2" in line and "no checkpoint was written" in line, line
    assert not (out / "checkpoints").exists() and (out / "metrics.jsonl").read_text() == ""


def test_weights_that_turn_non_finite_after_a_finite_loss_are_not_checkpointed(tmp_path, monkeypatch):
    """The last step of the epoch has a finite loss but leaves a NaN weight: no checkpoint holds it."""
    sgd_step, steps = torch.optim.SGD.step, []

    def poisoning_step(self, *args, **kwargs):
        result = sgd_step(self, *args, **kwargs)
        steps.append(1)
        if len(steps) == 2:  # the last of 64 / 32 steps
            self.param_groups[0]["params"][0].data.fill_(float("nan"))
        return result

    monkeypatch.setattr(torch.optim.SGD, "step", poisoning_step)
    with pytest.raises(MixdiagError, match="NaN or Inf after the last step of epoch 1; no checkpoint was written"):
        train(out=tmp_path / "run", dataset="synthetic-multilabel", dataset_options=dict(n_train=64, n_test=32, image_size=8),
              model="preact-resnet20", epochs=1, batch_size=32, device="cpu")
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "metrics.jsonl"
    target.write_text("previous\n")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl"]


def test_written_files_get_ordinary_permissions(tmp_path):
    """Temporary files are private (0600); what replaces the target is readable like any output."""
    umask = os.umask(0o022)
    os.umask(umask)
    with atomic_path(tmp_path / "a.txt") as tmp:
        tmp.write_text("x")
    write_directory(tmp_path / "out", lambda d: (d / "b.txt").write_text("y"))
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~umask
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o777 & ~umask


def test_output_directory_is_all_or_nothing(tmp_path):
    out = tmp_path / "eta2"

    def fails(staging):
        (staging / "eta2.csv").write_text("partial")
        raise RuntimeError("killed half-way")

    with pytest.raises(RuntimeError):
        write_directory(out, fails)
    assert list(tmp_path.iterdir()) == []

    write_directory(out, lambda d: (d / "eta2.csv").write_text("first"))
    with pytest.raises(RuntimeError):
        write_directory(out, fails, force=True)
    assert [p.name for p in tmp_path.iterdir()] == ["eta2"] and (out / "eta2.csv").read_text() == "first"
    write_directory(out, lambda d: (d / "eta2.csv").write_text("second"), force=True)
    assert [p.name for p in tmp_path.iterdir()] == ["eta2"] and (out / "eta2.csv").read_text() == "second"


def test_replacing_an_output_puts_the_old_one_back_when_the_swap_fails(tmp_path, monkeypatch):
    """The old output is moved aside, then the new one moved in; if that second rename fails, the old returns."""
    out = tmp_path / "eta2"
    write_directory(out, lambda d: (d / "eta2.csv").write_text("first"))
    rename = Path.rename

    def failing_rename(self, target):
        if Path(target) == out and self.name.startswith(".eta2.") and not self.name.endswith(".old"):
            raise OSError("disk full")
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", failing_rename)
    with pytest.raises(OSError, match="disk full"):
        write_directory(out, lambda d: (d / "eta2.csv").write_text("second"), force=True)
    assert [p.name for p in tmp_path.iterdir()] == ["eta2"] and (out / "eta2.csv").read_text() == "first"


def test_plot_track_replaces_its_image_atomically(files, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(files / "track-ok", run)
    first = invoke("plot-track", run)
    assert first.code == 0, first.stderr
    image = run / "eta2_track.png"
    assert image.read_bytes().startswith(b"\x89PNG")
    before = snapshot(run)
    refused = invoke("plot-track", run, "--out", run / "eta2_track.xyz")
    assert refused.code == 1 and "image type" in error_line(refused)
    assert snapshot(run) == before
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "eta2_track.csv", "eta2_track.png"]
