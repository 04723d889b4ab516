"""Throughput of training and of η² with 1 and 2 processes on the CPU, measured in one run.

Every measurement is a real command line launched the way users launch it
(``python -m torch.distributed.run --nproc_per_node=P --no-python mixdiag ...``, gloo on
the CPU), one after the other:

* training: PreAct-ResNet-20 on ``--train-samples`` Fashion-MNIST images (synthetic
  multi-label images when Fashion-MNIST is not installed), ``--epochs`` epochs at the same
  global batch size; samples per second of the last epoch, training and evaluation
  included, from the run's own ``epoch_seconds`` (start-up and the first epoch's warm-up
  left out);
* η²: ``mixdiag eta2`` on the 1-process run's checkpoint over the training split;
  samples per second of the whole command (start-up included), and the largest
  |η²(2 processes) − η²(1 process)| over the hidden states, which should be float64
  rounding.

With P processes torchrun gives each one thread (OMP_NUM_THREADS=1); the single process
uses all cores. On a 2-core machine the ratios say how much of the cores each mode turns
into work, not what more machines would give.

    python bench/scale.py [--train-samples 6000] [--epochs 2] [--batch-size 128]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

FASHION = Path("/usr/share/datasets/fashion-mnist")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(processes: int, args: list[str]) -> float:
    """Run ``mixdiag ARGS`` in ``processes`` processes; return the wall time in seconds."""
    command = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}", "--nnodes=1",
               f"--master_port={free_port()}", "--no-python", "mixdiag", *args]
    env = dict(os.environ)
    if processes == 1:
        env.pop("OMP_NUM_THREADS", None)  # torchrun leaves one process with every core
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-samples", type=int, default=6000, help="training (and test) images")
    parser.add_argument("--epochs", type=int, default=2, help="the last one is timed")
    parser.add_argument("--batch-size", type=int, default=128, help="global batch, divisible by 2")
    parser.add_argument("--method", default="mixup")
    args = parser.parse_args()

    if FASHION.is_dir():
        data = ["--dataset", "fashion-mnist", "--dataset-option", f"limit={args.train_samples}"]
        what = f"Fashion-MNIST, {args.train_samples} training images"
    else:
        data = ["--dataset", "synthetic-multilabel", "--dataset-option", f"n_train={args.train_samples}",
                "--dataset-option", f"n_test={args.train_samples // 4}"]
        what = f"synthetic multi-label images ({FASHION} not found), {args.train_samples} training images"
    print(f"PreAct-ResNet-20, {args.method}, {what}, global batch {args.batch_size}, {os.cpu_count()} CPUs", flush=True)

    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for processes in (1, 2):
            run = tmp / f"run-{processes}"
            launch(processes, ["train", *data, "--model", "preact-resnet20", "--method", args.method, "--epochs", str(args.epochs),
                               "--batch-size", str(args.batch_size), "--device", "cpu", "--out", str(run)])
            last = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][-1]
            rows[processes] = {"train": args.train_samples / last["epoch_seconds"]}
            print(f"  train, {processes} process(es): last epoch {last['epoch_seconds']:.1f} s", flush=True)
        ckpt = tmp / "run-1" / "checkpoints" / "last.pt"
        tables = {}
        for processes in (1, 2):
            out = tmp / f"eta2-{processes}"
            seconds = launch(processes, ["eta2", "--ckpt", str(ckpt), "--device", "cpu", "--out", str(out)])
            tables[processes] = pd.read_csv(out / "eta2.csv")
            rows[processes]["eta2"] = int(tables[processes]["n"].iloc[0]) / seconds
            print(f"  eta2, {processes} process(es): {seconds:.1f} s", flush=True)

    diff = (tables[2]["eta2"] - tables[1]["eta2"]).abs().max()
    print(f"\n{'':24}{'1 process':>12}{'2 processes':>14}{'2 / 1':>8}")
    for key, label in (("train", "train samples/s"), ("eta2", "eta2 samples/s")):
        print(f"{label:24}{rows[1][key]:>12.0f}{rows[2][key]:>14.0f}{rows[2][key] / rows[1][key]:>8.2f}")
    print(f"max |η²(2) − η²(1)| over hidden states: {diff:.2e}")


if __name__ == "__main__":
    main()
