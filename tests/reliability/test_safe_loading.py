"""A checkpoint whose pickle would run code is refused by everything that loads checkpoints."""

from __future__ import annotations

import pickle
import re
import shutil

import pytest
import torch

import mixdiag
from mixdiag.errors import CheckpointError

from cli_support import Payload, error_line, invoke, run_cli, snapshot


def test_the_payload_runs_code_when_unpickled_unsafely(tmp_path):
    """The hostile files are a real threat: a plain unpickler or torch.load(weights_only=False) runs them."""
    marker = tmp_path / "PWNED"
    pickle.loads(pickle.dumps(Payload(marker), protocol=2))
    assert marker.exists()
    marker.unlink()
    torch.save({"x": Payload(marker)}, tmp_path / "evil.pt")
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert marker.exists()


def _hostile_run(run, tmp_path, evil):
    """A copy of ``run`` whose last.pt is ``evil``."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    shutil.copy(evil, copy / "checkpoints" / "last.pt")
    return copy


def _commands(evil, run, tmp_path) -> dict:
    """Every command that loads a checkpoint, pointed at ``evil``."""
    return {
        "eta2": ["eta2", "--ckpt", evil, "--out", tmp_path / "out"],
        "compare": ["compare", evil, run / "checkpoints" / "last.pt", "--out", tmp_path / "out"],
        "conflict": ["conflict", "--ckpt", evil, "--out", tmp_path / "out"],
        "train --resume": ["train", "--out", _hostile_run(run, tmp_path, evil), "--resume"],
    }


@pytest.mark.parametrize("name", ["evil.pt", "evil-raw.pt"], ids=["zip", "bare-pickle"])
@pytest.mark.parametrize("command", ["eta2", "compare", "conflict", "train --resume"])
def test_every_command_refuses_a_hostile_checkpoint(files, run, tmp_path, command, name):
    """In torch's zip format and as a bare pickle. eta2 and train run as the installed script;
    the others run in-process, where code that ran would create the marker just the same."""
    args = _commands(files / name, run, tmp_path)[command]
    before = snapshot(tmp_path)
    outcome = run_cli(*args) if name == "evil.pt" and command in ("eta2", "train --resume") else invoke(*args)
    assert outcome.code == 1
    line = error_line(outcome)
    assert "refused" in line and "could run code" in line and re.search(r"calls for (builtins\.)?exec\b", line), line
    assert not (files / "PWNED").exists()
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("name", ["evil.pt", "evil-raw.pt"])
def test_the_python_api_refuses_a_hostile_checkpoint(files, run, tmp_path, name):
    evil = files / name
    with pytest.raises(CheckpointError, match="could run code"):
        mixdiag.load(evil)
    with pytest.raises(CheckpointError, match="could run code"):
        mixdiag.eta2(evil)
    with pytest.raises(CheckpointError, match="could run code"):
        mixdiag.train(out=_hostile_run(run, tmp_path, evil), resume=True)
    assert not (files / "PWNED").exists()


def test_a_doctored_cifar10_batch_is_refused(tmp_path):
    """Dataset files are loaded as carefully: CIFAR-10 is published as pickles, so a doctored one is refused."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    marker = tmp_path / "PWNED"
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"]:
        (folder / name).write_bytes(pickle.dumps({b"data": Payload(marker), b"labels": [0]}, protocol=2))
    outcome = invoke("train", "--dataset", "cifar10", "--data-dir", folder, "--device", "cpu", "--out", tmp_path / "out")
    assert outcome.code == 1
    line = error_line(outcome)
    assert "calls for __builtin__.exec" in line and "refused" in line, line  # protocol 2 names builtins so
    assert not marker.exists() and not (tmp_path / "out").exists()
