"""``--ckpt RUN_DIR`` (and ``mixdiag.load(RUN_DIR)``) stand for the run's ``checkpoints/last.pt``."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

import mixdiag
from mixdiag._io import run_checkpoint
from mixdiag.errors import MixdiagError

from cli_support import error_line, invoke


def test_run_directory_and_checkpoints_folder_resolve_to_last_pt(tiny_runs):
    run = tiny_runs["erm"]
    last = run / "checkpoints" / "last.pt"
    assert run_checkpoint(run) == last and run_checkpoint(run / "checkpoints") == last and run_checkpoint(last) == last


def test_directory_without_checkpoint_is_refused_with_the_fix(tmp_path):
    with pytest.raises(MixdiagError, match="is a directory without checkpoints/last.pt; pass a run directory"):
        run_checkpoint(tmp_path)


def test_load_takes_a_run_directory(tiny_runs):
    run = mixdiag.load(tiny_runs["mixup"], with_data=False)
    assert run.path == tiny_runs["mixup"] / "checkpoints" / "last.pt" and run.name == tiny_runs["mixup"].name


def test_eta2_cli_takes_a_run_directory_and_writes_next_to_it(tiny_runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_runs["erm"], run)
    outcome = invoke("eta2", "--ckpt", run, "--limit", "300", "--device", "cpu")
    assert outcome.code == 0, outcome.stderr
    by_dir = pd.read_csv(run / "eta2-train" / "eta2.csv")
    outcome = invoke("eta2", "--ckpt", run / "checkpoints" / "last.pt", "--limit", "300", "--device", "cpu", "--out", tmp_path / "by-file")
    assert outcome.code == 0, outcome.stderr
    pd.testing.assert_frame_equal(by_dir, pd.read_csv(tmp_path / "by-file" / "eta2.csv"))


@pytest.mark.parametrize("command", ["eta2", "conflict"])
def test_cli_refuses_a_directory_without_checkpoint(command, tmp_path):
    outcome = invoke(command, "--ckpt", tmp_path, "--out", tmp_path / "out")
    assert outcome.code == 2
    assert "is a directory without checkpoints/last.pt" in error_line(outcome)
    assert not (tmp_path / "out").exists()
