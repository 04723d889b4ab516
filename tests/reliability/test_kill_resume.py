"""A run killed with SIGKILL at any moment and resumed with --resume ends bit for bit as an
uninterrupted run with the same seed (CPU, same thread count; only the wall-clock
``epoch_seconds`` differ)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_support import ENV, MIXDIAG, run_cli, snapshot
from extras import require
from layout_fixtures import write_imagefolder
from run_checks import assert_identical, without_times

from mixdiag import CheckpointError, train
from mixdiag.mixing import MixRandom
from mixdiag.training.build import AUGMENT, MIXING, SHUFFLE, derive_seed
from mixdiag.training.checkpoint import load_checkpoint, save_checkpoint

PAUSED_TRAIN = Path(__file__).parent / "paused_train.py"
STEPS_PER_EPOCH = 8  # 256 training samples in batches of 32
# Every random stream of the trainer is in play: shuffling, augmentation, mixing, label
# corruption, the η² probe and its k-means.
ARGS = [
    "--dataset", "synthetic-multilabel", "--dataset-option", "n_train=256", "--dataset-option", "n_test=64",
    "--dataset-option", "image_size=8", "--model", "preact-resnet20", "--method", "flow", "--epochs", "3",
    "--batch-size", "32", "--corrupt-rate", "0.1", "--track-eta2", "1", "--track-probe-size", "64", "--track-k", "4",
    "--seed", "5", "--device", "cpu",
]


def kill_at(point: str, out: Path, *args) -> None:
    """Run ``mixdiag train *args --out out`` until it reaches ``point``, then SIGKILL it."""
    marker = out.parent / f"{out.name}.paused"
    marker.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, PAUSED_TRAIN, point, marker, *args, "--out", out], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 600
        while not marker.exists():
            assert proc.poll() is None, f"training ended before {point}: {proc.stderr.read()}"
            assert time.monotonic() < deadline, f"training did not reach {point}"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


def left_behind(out: Path) -> tuple:
    """What a kill left: the epoch of last.pt (None: no checkpoint) and the epochs in metrics.jsonl."""
    last = out / "checkpoints" / "last.pt"
    return (load_checkpoint(last)["epoch"] if last.exists() else None), [r["epoch"] for r in metrics(out)]


def metrics(run: Path) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "epoch_seconds"} for line in lines]


def assert_same_run(resumed: Path, reference: Path) -> None:
    """Same metrics, weights, optimizer and generator states, track and files, bit for bit."""
    assert_identical(metrics(resumed), metrics(reference), "metrics.jsonl")
    for name in ("last.pt", "best.pt"):
        a, b = (load_checkpoint(r / "checkpoints" / name) for r in (resumed, reference))
        assert_identical({**a, "history": without_times(a["history"])}, {**b, "history": without_times(b["history"])}, name)
    for name in ("eta2_track.csv", "config.json"):
        assert (resumed / name).read_bytes() == (reference / name).read_bytes(), f"{name} differs"
    with np.load(resumed / "corruption.npz") as a, np.load(reference / "corruption.npz") as b:
        assert a.files == b.files and all(np.array_equal(a[k], b[k]) for k in a.files)
    leftovers = [p for p in resumed.rglob(".*") if p.name.endswith(".tmp")]
    assert not leftovers, f"temporary files of the killed run were left behind: {leftovers}"


def test_run_killed_four_times_resumes_to_the_uninterrupted_result(tmp_path):
    """Killed in epoch 1, mid-epoch 2, while writing epoch 2's checkpoint and between that
    checkpoint and its metrics line; resumed after each kill. Ends as the uninterrupted run."""
    reference = tmp_path / "reference"
    uninterrupted = subprocess.Popen([MIXDIAG, "train", *ARGS, "--out", reference], env=ENV,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    out = tmp_path / "run"
    try:
        # Each kill leaves the last checkpoint whole and whole metrics lines only.
        kill_at("step:3", out, *ARGS)
        assert left_behind(out) == (None, [])
        # Resumed from nothing, so the run's 11th step is epoch 2's 3rd.
        kill_at(f"step:{STEPS_PER_EPOCH + 3}", out, "--resume")
        assert left_behind(out) == (1, [1])
        kill_at("checkpoint-write:2", out, "--resume")
        assert left_behind(out) == (1, [1])
        assert list((out / "checkpoints").glob(".last.pt.*.tmp")), "the kill did not land inside the checkpoint write"
        kill_at("metrics-write:2", out, "--resume")
        assert left_behind(out) == (2, [1])

        outcome = run_cli("train", "--out", out, "--resume")
        assert outcome.code == 0, outcome.stderr
    finally:
        _, err = uninterrupted.communicate(timeout=600)
    assert uninterrupted.returncode == 0, err
    assert_same_run(out, reference)


def any_model_args(data: Path) -> list:
    """A torchvision network mixdiag did not write, mixed through forward hooks, on an image folder."""
    return ["--model", "torchvision:resnet18", "--dataset", "imagefolder", "--data-dir", data / "images",
            "--dataset-option", "image_size=16", "--dataset-option", f"cache_dir={data / 'cache'}", "--val-fraction", "0.25",
            "--method", "flow", "--epochs", "2", "--batch-size", "4", "--corrupt-rate", "0.2", "--track-eta2", "1",
            "--track-probe-size", "8", "--track-k", "2", "--seed", "3", "--device", "cpu"]


def test_torchvision_run_killed_mid_epoch_resumes_to_the_uninterrupted_result(tmp_path):
    require("torchvision")
    write_imagefolder(tmp_path / "images", per_class=8)
    args = [str(a) for a in any_model_args(tmp_path)]
    reference, out = tmp_path / "reference", tmp_path / "run"
    done = run_cli("train", *args, "--out", reference)
    assert done.code == 0, done.stderr
    # 12 training images (of 24: a test and a validation split are drawn) in batches of 4: three steps an epoch,
    # so step 5 is epoch 2's second.
    kill_at("step:5", out, *args)
    assert left_behind(out) == (1, [1])
    resumed = run_cli("train", "--out", out, "--resume")
    assert resumed.code == 0, resumed.stderr
    assert_same_run(out, reference)


def test_checkpoint_holds_the_next_epochs_generator_states(ckpt):
    """After epoch e, the states that epoch e+1's generators start from, derived from (seed, e, stream)."""
    state = load_checkpoint(ckpt)
    seed, epoch = state["config"]["seed"], state["epoch"]
    expected = {
        "shuffle": torch.Generator().manual_seed(derive_seed(seed, epoch, SHUFFLE)).get_state(),
        "augment": torch.Generator().manual_seed(derive_seed(seed, epoch, AUGMENT)).get_state(),
        "mixing": MixRandom(derive_seed(seed, epoch, MIXING)).state_dict(),
    }
    assert_identical(state["rng"], expected, "rng")


def test_resume_refuses_generator_states_it_would_not_derive(tmp_path, run):
    """A checkpoint whose stored states disagree with this mixdiag's derivation (another
    version's) would resume into a run that matches no uninterrupted one: refused."""
    out = tmp_path / "run"
    shutil.copytree(run, out)
    state = load_checkpoint(out / "checkpoints" / "last.pt")
    state["rng"]["mixing"]["numpy"]["state"]["state"] += 1
    save_checkpoint(out / "checkpoints" / "last.pt", state)
    before = snapshot(out)
    with pytest.raises(CheckpointError, match="random-generator states"):
        train(out=out, resume=True, epochs=2)
    assert snapshot(out) == before
