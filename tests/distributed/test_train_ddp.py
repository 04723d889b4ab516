"""Training with several processes: ``torchrun ... mixdiag train`` on the CPU (gloo).

The launches of the module run at once (starting a process, not training, is most of
their time); the tests then read what they wrote. ``ddp_worker.py`` is the launched
script that calls :func:`mixdiag.train` from inside the processes.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from extras import require
from run_checks import assert_identical, without_times

from mixdiag import CheckpointError, train
from mixdiag.distributed import World
from mixdiag.mixing import list_methods
from mixdiag.training import load
from mixdiag.training.checkpoint import load_checkpoint
from mixdiag.training.metrics import evaluate_epoch
from mixdiag.training.trainer import _shares

MIXDIAG = shutil.which("mixdiag", path=os.path.dirname(sys.executable)) or shutil.which("mixdiag")
# One thread per process: the runs compared bit for bit use the same thread count, and
# several processes share 2 cores.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# Every random stream of the trainer is in play: shuffling, augmentation, mixing, label
# corruption, the η² probe and its k-means. 251 samples in global batches of 32 leave a last
# batch of 27: 13 per process, one sample left out. ddp_worker.py trains "full" with these.
SYNTHETIC = [
    "--dataset", "synthetic-multilabel", "--dataset-option", "n_train=251", "--dataset-option", "n_test=64",
    "--dataset-option", "image_size=8", "--model", "preact-resnet20", "--method", "flow", "--batch-size", "32",
    "--corrupt-rate", "0.1", "--track-eta2", "1", "--track-probe-size", "64", "--track-k", "4", "--seed", "5", "--device", "cpu",
]


class Launch:
    """One command in the background, its output in files next to its run."""

    def __init__(self, root: Path, name: str, command: list):
        self.name, self.log = name, root / f"{name}.log"
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen([str(c) for c in command], env=ENV, stdout=log, stderr=subprocess.STDOUT)

    def wait(self) -> str:
        """The launch's output, after asserting it succeeded."""
        try:
            code = self.proc.wait(timeout=600)
        finally:
            self.stop()
        output = self.log.read_text()
        assert code == 0, f"{self.name} failed:\n{output}"
        return output

    def stop(self) -> None:
        """End the launch if it still runs; SIGTERM, on which torchrun ends its processes too."""
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)


def torchrun(nproc: int, *args) -> list:
    """``torchrun`` on this machine; ``--standalone`` takes a free port for each launch."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *args]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """Run directories: "part" (the command line, 1 epoch, then resumed to 2), "worker"
    (``ddp_worker.py``'s outputs), "one" (1 process, 1 epoch); "part-epochs" (the epochs
    before the resume); and the output of the command-line launches ("part-output",
    "resumed-output")."""
    root = tmp_path_factory.mktemp("ddp")
    (root / "worker").mkdir()
    launches = [
        Launch(root, "part", torchrun(2, "--no-python", MIXDIAG, "train", *SYNTHETIC, "--epochs", "1", "--out", root / "part")),
        Launch(root, "worker", torchrun(2, Path(__file__).parent / "ddp_worker.py", root / "worker")),
        Launch(root, "one", torchrun(1, "--no-python", MIXDIAG, "train", *SYNTHETIC, "--method", "manifold", "--epochs", "1",
                                     "--out", root / "one")),
    ]
    try:
        part, worker, one = launches
        done = {"part-output": part.wait(), "part-epochs": [r["epoch"] for r in metrics(root / "part")]}
        resume = torchrun(2, "--no-python", MIXDIAG, "train", "--out", root / "part", "--resume", "--epochs", "2")
        launches.append(Launch(root, "resumed", resume))
        done.update({"worker-output": worker.wait(), "one-output": one.wait(), "resumed-output": launches[-1].wait()})
    finally:
        for launch in launches:
            launch.stop()
    return {**done, "part": root / "part", "worker": root / "worker", "one": root / "one"}


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def assert_same_run(a: Path, b: Path) -> None:
    """Same metrics, checkpoints (weights, optimizer, generator states), track and settings."""
    assert_identical(without_times(metrics(a)), without_times(metrics(b)), "metrics.jsonl")
    for name in ("last.pt", "best.pt"):
        x, y = (load_checkpoint(r / "checkpoints" / name) for r in (a, b))
        assert_identical({**x, "history": without_times(x["history"])}, {**y, "history": without_times(y["history"])}, name)
    for name in ("config.json", "eta2_track.csv"):
        assert (a / name).exists() == (b / name).exists()
        if (a / name).exists():
            assert (a / name).read_bytes() == (b / name).read_bytes(), f"{name} differs"


def test_two_processes_write_one_well_formed_run(runs):
    run = runs["part"]
    for output in (runs["part-output"], runs["resumed-output"]):
        assert output.count("run written to") == 1, output  # rank 0 reports, the other is quiet
        assert output.count("\ntrained 1 epoch") == 1 and output.count("  best: epoch") == 1, output  # one summary
        assert "Warning" not in output, output
    files = sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file())
    assert files == ["checkpoints/best.pt", "checkpoints/last.pt", "config.json", "corruption.npz", "eta2_track.csv", "metrics.jsonl"]
    records = metrics(run)
    assert [r["epoch"] for r in records] == [1, 2]
    assert runs["part-output"].count("epoch 1/1  lr") == 1 and runs["resumed-output"].count("epoch 2/2  lr") == 1
    for r in records:
        assert math.isfinite(r["train_loss"]) and r["train_loss"] > 0
        assert all(0 <= r[k] <= 1 for k in ("test_macro_auc", "test_micro_auc", "test_map", "test_micro_f1"))
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["world_size"] == 2 and len(state["rng_other_ranks"]) == 1 and state["epoch"] == 2
    assert json.loads((run / "config.json").read_text())["batch_size"] == 32  # the global batch, as given


def test_evaluation_shared_by_two_processes_equals_one_process_evaluating_the_checkpoint(runs):
    run = runs["part"]
    loaded = load(run / "checkpoints" / "last.pt", device="cpu")
    again = evaluate_epoch(loaded.model, loaded.dataset, torch.device("cpu"))
    recorded = metrics(run)[-1]
    for key, value in again.items():
        if isinstance(value, dict):
            assert recorded[key] == pytest.approx(value, abs=1e-6), key
        else:
            assert recorded[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key


def test_resume_after_one_of_two_epochs_equals_the_uninterrupted_run(runs):
    assert runs["part-epochs"] == [1]
    assert_same_run(runs["part"], runs["worker"] / "full")


def test_one_process_under_torchrun_equals_plain_mixdiag_train(runs, tmp_path):
    """The plain run trains in this process, with the launched process's one thread; equal
    config.json files show that it has the settings of the command line."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        plain = train(out=tmp_path / "plain", dataset="synthetic-multilabel",
                      dataset_options={"n_train": 251, "n_test": 64, "image_size": 8}, model="preact-resnet20", method="manifold",
                      batch_size=32, corrupt_rate=0.1, track_eta2=1, track_probe_size=64, track_k=4, seed=5, device="cpu", epochs=1)
    finally:
        torch.set_num_threads(threads)
    assert_same_run(runs["one"], plain)


def test_every_method_trains_with_ddp_averaged_gradients(runs):
    out = runs["worker"]
    seen = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [s["world"] for s in seen] == [[0, 2], [1, 2]]
    for s in seen:
        assert sorted(s["gradients"]) == list_methods()
        for method, check in s["gradients"].items():
            assert check["same_loss"] and check["all_gradients"] and check["own_differs"], (method, check)
            assert check["max_error"] < 1e-5, (method, check)
    for method in list_methods():
        run = Path(seen[0]["runs"][method])
        (record,) = metrics(run)
        assert math.isfinite(record["train_loss"]) and 0 <= record["test_macro_auc"] <= 1, method
        assert load_checkpoint(run / "checkpoints" / "last.pt")["config"]["method"] == method


def test_refusals_and_divergence_stop_every_process_with_the_same_message(runs):
    out = runs["worker"]
    errors = [json.loads((out / f"rank{r}.json").read_text())["errors"] for r in (0, 1)]
    assert errors[0] == errors[1]
    assert "--batch-size 15 does not split evenly over 2 processes; give a multiple of 2" in errors[0]["batch"]
    assert "--sync-bn needs CUDA" in errors[0]["sync_bn"]
    assert "training diverged" in errors[0]["diverged"] and "no checkpoint was written" in errors[0]["diverged"]
    assert not (out / "bad-diverged" / "checkpoints").exists()


def test_resume_with_another_number_of_processes_is_refused(runs, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(runs["part"], out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(CheckpointError, match=r"trained by 2 processes and this resume runs 1 process; resume it with 2 processes"):
        train(out=out, resume=True, epochs=3)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("n,batch_size", [(251, 32), (1438, 64), (64, 16), (33, 32), (10, 4)])
def test_shares_split_each_global_batch_evenly(n, batch_size):
    order = torch.randperm(n, generator=torch.Generator().manual_seed(n))
    single = _shares(order, batch_size, World())
    # One process: the batches of the single-process trainer, a last batch of one sample dropped.
    expected = [order[i : i + batch_size] for i in range(0, n, batch_size) if n - i >= 2]
    assert len(single) == len(expected) and all(torch.equal(a, b) for a, b in zip(single, expected))
    for size in (2, 4):
        if batch_size % size or batch_size // size < 2:  # refused by train()
            continue
        shares = [_shares(order, batch_size, World(rank, size)) for rank in range(size)]
        assert len({len(s) for s in shares}) == 1  # every process runs the same number of steps
        for step, batch in enumerate(zip(*shares)):
            assert len({len(b) for b in batch}) == 1 and len(batch[0]) >= 2
            start = step * batch_size
            whole = order[start : start + batch_size]
            assert torch.equal(torch.cat(batch), whole[: len(batch[0]) * size])
        left_out = n - sum(len(b) for s in shares for b in s)
        last = n % batch_size
        assert left_out == (last if last // size < 2 else last % size)


def test_a_torchvision_network_trains_through_hooks_on_two_processes(tmp_path):
    """DDP sees the hooked network's loss as one forward (every parameter used), as it does a MixableNet's."""
    require("torchvision")
    out = tmp_path / "tv"
    Launch(tmp_path, "tv", torchrun(2, "--no-python", MIXDIAG, "train", "--model", "torchvision:resnet18", "--dataset",
                                    "synthetic-multilabel", "--dataset-option", "n_train=64", "--dataset-option", "n_test=32",
                                    "--method", "flow", "--epochs", "1", "--batch-size", "16", "--device", "cpu", "--out", out)).wait()
    state = load_checkpoint(out / "checkpoints" / "last.pt")
    assert state["world_size"] == 2
    assert state["model_kwargs"]["mix_points"] == ["input", "layer1", "layer2", "layer3", "layer4"]
    assert math.isfinite(state["history"][0]["train_loss"])
