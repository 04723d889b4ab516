"""η² and conflict analysis sharded over two processes on the CPU (gloo), against one process.

The library test starts this file twice as a script, as ``torchrun`` would start a worker
(``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT`` in the environment), so each
process joins the group through :func:`mixdiag.distributed.setup`, runs every case of
:func:`cases` and pickles what it got; the test runs the same cases in one process. The
CLI test runs ``python -m torch.distributed.run --nproc_per_node=2 --no-python mixdiag eta2``.
Both use the session's tiny trained digits run.
"""

import contextlib
import json
import os
import pickle
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import mixdiag
from mixdiag import distributed
from mixdiag.analysis import compute_eta2, sample_order
from mixdiag.analysis.conflict import compute_conflict, select_pairs
import mixdiag.analysis.eta2 as engine
import mixdiag.analysis.passes as passes
from mixdiag.analysis.eta2 import _plan_bytes
from mixdiag.analysis.report import eta2_result
from mixdiag.errors import MixdiagError

MIXDIAG = shutil.which("mixdiag", path=os.path.dirname(sys.executable)) or shutil.which("mixdiag")
# Exactness and bookkeeping need any k-means, not the best one.
QUICK = {"niter": 10, "nredo": 4}
N = 600
# Row N − 1 is poisoned in the "nan" case: with 20 fit rows drawn by seed 0 it is the last of
# the 580 streamed rows, in the last of their 10 batches; rank 1 streams batches 6 to 10, so
# only rank 1 meets it (test_the_poisoned_row_is_streamed_by_rank_1).
NAN_ROW = N - 1
# Processes of the tests run on one thread each: two of them share the two cores.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
TIMEOUT = 180


def multilabel(digits: np.ndarray) -> np.ndarray:
    """0/1 labels of the ten digits plus correlated ones: label 10 is "0 or 6", 11 is "6 or 8"."""
    y = np.eye(10, dtype=np.int64)[digits]
    return np.concatenate([y, ((digits == 0) | (digits == 6))[:, None], ((digits == 6) | (digits == 8))[:, None]], axis=1)


class TwelveLabels(torch.nn.Module):
    """The digits model with two more logits, sums of digit logits, for the conflict pairs."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.block_names = tuple(f"model.{name}" for name in model.block_names)

    def forward(self, x):
        z = self.model(x)
        return torch.cat([z, z[:, [0]] + z[:, [6]], z[:, [6]] + z[:, [8]]], dim=1)


def cases(ckpt, shard: bool = True) -> dict:
    """Name → zero-argument function, for every computation compared between one and two processes."""
    run = mixdiag.load(ckpt, device="cpu")
    x, digits = run.dataset.split("train")
    x, digits, norm = x[:N], digits[:N].numpy(), run.dataset.normalize

    def eta(x=x, **options):
        return compute_eta2(run.model, x, norm, return_assignments=True, shard=shard, **{**QUICK, **options})

    poisoned = x.float()
    poisoned[NAN_ROW] = float("nan")
    y = multilabel(digits)
    # Budget for two of the 1024-feature states of stage 1 at once: the hidden states fall into several groups.
    budget = _plan_bytes([1024, 1024], 300, 8, 1, 64)

    def sketched():
        # A 256-wide sketch and a budget that holds the sketch of stage 1's first two blocks but
        # not their fit samples: three sharded passes (sketch, candidates, counting).
        with narrow_sketch(256):
            tight = engine._sketch_bytes([1024, 1024], 300, 5, 1, 64)
            assert _plan_bytes([1024], 300, 5, 1, 64) > tight
            return eta(k=5, sample_size=300, batch_size=64, max_memory=tight, names=list(run.model.block_names[:2]))

    return {
        # 450 fit rows: 8 batches, 4 per process; 150 others: 3 batches, 2 and 1.
        "restarts": lambda: eta(k=10, restarts=2, sample_size=450, batch_size=64),
        "groups": lambda: eta(k=8, sample_size=300, batch_size=64, max_memory=budget),
        "torch-backend": lambda: eta(k=10, backend="torch", batch_size=100),
        # 90 fit rows in 2 batches, 1 each; the 10 others in one batch: rank 1 streams nothing.
        "uneven": lambda: eta(x=x[:100], k=5, sample_size=90, batch_size=64),
        "nan": lambda: eta(x=poisoned, k=2, sample_size=20, batch_size=64),
        "sketched": sketched,
        "conflict": lambda: compute_conflict(TwelveLabels(run.model), x, y, select_pairs(y, y, 3), norm, batch_size=50),
    }


@contextlib.contextmanager
def narrow_sketch(width: int):
    saved = engine.SKETCH_DIM
    engine.SKETCH_DIM = passes.SKETCH_DIM = width
    try:
        yield
    finally:
        engine.SKETCH_DIM = passes.SKETCH_DIM = saved


def worker(ckpt: str, out: str) -> None:
    """One process of the library test: every case, sharded, then one unsharded case on rank 1 alone."""
    world, _ = distributed.setup("cpu")
    results = {}
    try:
        for name, compute in cases(ckpt).items():
            try:
                results[name] = compute()
            except MixdiagError as exc:
                results[name] = MixdiagError(str(exc))
        if world.rank == 1:  # rank 0 makes no matching call: any collective would hang
            results["alone"] = cases(ckpt, shard=False)["restarts"]()
    finally:
        distributed.teardown()
    with open(Path(out) / f"rank{world.rank}.pkl", "wb") as f:
        pickle.dump(results, f)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def same(got, expected):
    """Assert two results of one case agree: tables to 1e-9 relative, assignments exactly, errors by message."""
    if isinstance(expected, Exception):
        assert isinstance(got, Exception) and str(got) == str(expected)
        return
    if isinstance(expected, pd.DataFrame):
        got, expected = (got, {}), (expected, {})
    (table, labels), (ref_table, ref_labels) = got, expected
    numeric = ref_table.select_dtypes("number").columns
    pd.testing.assert_frame_equal(table.drop(columns=numeric), ref_table.drop(columns=numeric))
    # A sketched fit compares its candidates by float32 sums (passes._choose_in_full), which
    # processes add in another order: their SSI spread agrees to float32 rounding only.
    exact = numeric.drop("fit_ssi_spread", errors="ignore")
    np.testing.assert_allclose(table[exact].to_numpy(float), ref_table[exact].to_numpy(float), rtol=1e-9, atol=0)
    if "fit_ssi_spread" in numeric:
        np.testing.assert_allclose(table["fit_ssi_spread"], ref_table["fit_ssi_spread"], rtol=1e-5, atol=1e-9)
    assert labels.keys() == ref_labels.keys()
    for name in ref_labels:
        np.testing.assert_array_equal(labels[name], ref_labels[name])


def test_the_poisoned_row_is_streamed_by_rank_1():
    fit = sample_order(N, 20, np.random.SeedSequence(0).spawn(2)[0])
    assert NAN_ROW not in fit  # so it is the last of the 580 other rows, which rank 1 streams


def test_two_processes_give_the_single_process_results(tiny_runs, tmp_path):
    ckpt = str(tiny_runs["erm"] / "checkpoints" / "last.pt")
    port = free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, ckpt, str(tmp_path)],
            env={**ENV, "RANK": str(r), "LOCAL_RANK": str(r), "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for r in range(2)
    ]
    # The single-process results, while the two processes start.
    expected = {}
    for name, compute in cases(ckpt).items():
        try:
            expected[name] = compute()
        except MixdiagError as exc:
            expected[name] = exc
    try:
        logs = [p.communicate(timeout=TIMEOUT)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [0, 0], "\n".join(logs)
    ranks = [pickle.loads((tmp_path / f"rank{r}.pkl").read_bytes()) for r in range(2)]
    assert "NaN" in str(expected["nan"])
    for name, result in expected.items():
        for got in ranks:  # every process returns the whole result
            same(got[name], result)
    same(ranks[1]["alone"], expected["restarts"])


def test_torchrun_cli_writes_once_what_one_process_computes(tiny_runs, tmp_path):
    ckpt = tiny_runs["erm"] / "checkpoints" / "last.pt"
    out = tmp_path / "eta2"
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2", "--master_addr=127.0.0.1",
               f"--master_port={free_port()}", "--no-python", MIXDIAG, "eta2", "--ckpt", str(ckpt), "--out", str(out), "--limit", "500",
               "--sample-size", "300", "--batch-size", "64", "--save-assignments", "--kmeans-backend", "torch", "--device", "cpu"]
    r = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=TIMEOUT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("written to") == 1  # rank 0 reports, rank 1 stays quiet
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eta2"]  # no stray staging directory of rank 1
    assert sorted(p.name for p in out.iterdir()) == ["assignments.npz", "eta2.csv", "eta2.json", "eta2.png"]
    settings = json.loads((out / "eta2.json").read_text())
    assert settings["processes"] == 2 and settings["kmeans_backend"] == "torch"
    reference = eta2_result(ckpt, limit=500, sample_size=300, batch_size=64, save_assignments=True, kmeans_backend="torch", device="cpu")
    table = pd.read_csv(out / "eta2.csv")
    assert list(table["module"]) == list(reference.table["module"])
    for column in ("eta2", "ssi", "sst"):
        np.testing.assert_allclose(table[column], reference.table[column], rtol=1e-9)
    saved = np.load(out / "assignments.npz")
    assert sorted(saved.files) == sorted(reference.assignments)
    for name in saved.files:
        np.testing.assert_array_equal(saved[name], reference.assignments[name])


if __name__ == "__main__":
    worker(*sys.argv[1:])
