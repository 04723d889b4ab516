"""Cost of per-block η² relative to one plain forward pass, and its peak memory, per N.

For each N, a fresh subprocess loads Fashion-MNIST and PreAct-ResNet-32 and times, on the
first N training images with the same batch size:

* one plain forward pass (eval mode, ``torch.inference_mode``), before and after η²;
* ``compute_eta2`` with the defaults of ``mixdiag eta2`` (k = 10, default fit sample,
  one restart, 2 GiB budget): the engine behind the command, without its file writing.

It prints η² time / forward time, the forward time being the mean of the two passes
around it (the machine may be shared: both are printed; the first forward pass of a process
can be the slower one, its fresh memory faulting in), and the subprocess's peak RSS (model,
data and runtime included) with the peak before η² ran. Each N runs in its own process so
that peak RSS is per N. On a machine whose speed drifts (forward passes over the same images
have differed by 1.3x within minutes), ``--repeats R`` alternates R η² runs with R + 1
forward passes and reports the median ratio.

The model is trained briefly first (SGD, one epoch over ``--train-samples`` seeded
training images), which gives clustered block features like a real checkpoint's; ``--init``
measures freshly initialised weights instead.

Goals (issue 12): η² ≤ 1.2 × forward at N = 20,000 and 60,000; peak RSS ≤ 2 GB (10⁹ bytes) at N = 60,000
(issue 3 asked for ≤ 2.5×).
The by-hand approach (hooks keeping every block output, scikit-learn KMeans per block)
measured 6.3x at N = 5,000 with 4.9 GB, 8.1x at N = 20,000 with 19 GB, and cannot run at
N = 60,000.

    python bench/eta2.py                       # N = 5,000, 20,000, 60,000
    python bench/eta2.py --quick               # N = 5,000 only, shorter training
    python bench/eta2.py --n 10000 --init
    python bench/eta2.py --n 20000 --repeats 3   # median of three eta2 runs between forward passes
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mixdiag  # noqa: F401  (sets OMP_WAIT_POLICY before torch and FAISS load)
import torch
import torch.nn.functional as F

from mixdiag.analysis import compute_eta2
from mixdiag.models import create_model
from mixdiag.training.build import build_model

RATIO_GOAL = 1.2
RSS_GOAL_GB = 2.0
MODEL = "preact-resnet32"
SHAPE = dict(in_channels=1, num_classes=10, input_size=(28, 28))


def train_briefly(samples: int, batch_size: int, seed: int) -> dict:
    """State dict after one epoch of SGD over ``samples`` training images drawn by ``seed``."""
    ds = mixdiag.load_dataset("fashion-mnist")
    x, y = ds.split("train")
    g = torch.Generator().manual_seed(seed)
    model = build_model(MODEL, SHAPE, seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    model.train()
    order = torch.randperm(len(x), generator=g)[:samples]
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        loss = F.cross_entropy(model(ds.normalize(x[rows])), y[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model.state_dict()


def forward_seconds(model, x, transform, batch_size: int) -> float:
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(x), batch_size):
            model(transform(x[i : i + batch_size]))
    return time.perf_counter() - start


def worker(n: int, weights: str, batch_size: int, seed: int, repeats: int) -> None:
    """One N in this process: print a JSON line with the timings and the peak RSS.

    Forward passes and η² alternate, ``repeats`` η² runs between ``repeats + 1`` forward
    passes; each η² is divided by the mean of the two passes on either side of it."""
    ds = mixdiag.load_dataset("fashion-mnist")
    x = ds.split("train")[0][:n]
    model = create_model(MODEL, **SHAPE)
    model.load_state_dict(torch.load(weights, weights_only=True))
    model.eval()
    load = [os.getloadavg()[0]]
    forwards = [forward_seconds(model, x, ds.normalize, batch_size)]
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # Linux reports KiB
    eta2 = []
    for _ in range(repeats):
        start = time.perf_counter()
        table = compute_eta2(model, x, ds.normalize, batch_size=batch_size, seed=seed)
        eta2.append(time.perf_counter() - start)
        forwards.append(forward_seconds(model, x, ds.normalize, batch_size))
    load.append(os.getloadavg()[0])
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # Linux reports KiB
    ratios = [e / ((a + b) / 2) for e, a, b in zip(eta2, forwards, forwards[1:])]
    print(json.dumps({"n": n, "forwards": forwards, "eta2": eta2, "ratios": ratios, "rss": rss, "base": base, "load": load,
                      "eta2_range": [float(table["eta2"].min()), float(table["eta2"].max())]}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", default="5000,20000,60000", help="comma-separated sample counts")
    parser.add_argument("--quick", action="store_true", help="N = 5000 only and 2,000 training images")
    parser.add_argument("--batch-size", type=int, default=256, help="for the forward pass and η² alike")
    parser.add_argument("--train-samples", type=int, default=12_000, help="training images for the one epoch of SGD")
    parser.add_argument("--init", action="store_true", help="measure freshly initialised weights, no training")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1,
                        help="eta2 runs per N, alternating with forward passes; the median ratio is reported")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--weights", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    if args.worker is not None:
        worker(args.worker, args.weights, args.batch_size, args.seed, args.repeats)
        return
    try:
        mixdiag.load_dataset("fashion-mnist")
    except mixdiag.MixdiagError as exc:
        sys.exit(f"bench/eta2.py needs Fashion-MNIST (apt-get install dataset-fashion-mnist): {exc}")
    sizes = [5000] if args.quick else [int(v) for v in args.n.split(",")]
    train_samples = 2000 if args.quick else args.train_samples

    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "weights.pt"
        start = time.perf_counter()
        if args.init:
            torch.save(build_model(MODEL, SHAPE, args.seed).state_dict(), weights)
            what = "freshly initialised weights"
        else:
            torch.save(train_briefly(train_samples, 128, args.seed), weights)
            what = f"weights after one epoch of SGD on {train_samples} images ({time.perf_counter() - start:.0f} s)"
        print(f"{MODEL} on Fashion-MNIST (1x28x28), {what}; batch {args.batch_size}, torch threads {torch.get_num_threads()}, "
              f"{os.cpu_count()} CPUs, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}", flush=True)
        rows = []
        for n in sizes:
            command = [sys.executable, __file__, "--worker", str(n), "--weights", str(weights),
                       "--batch-size", str(args.batch_size), "--seed", str(args.seed), "--repeats", str(args.repeats)]
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                sys.exit(f"N={n} failed:\n{result.stderr}")
            row = json.loads(result.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"  N={n}: forward {' / '.join(f'{v:.1f}' for v in row['forwards'])} s, "
                  f"eta2 {' / '.join(f'{v:.1f}' for v in row['eta2'])} s, ratios {' / '.join(f'{v:.2f}' for v in row['ratios'])}, "
                  f"η² {row['eta2_range'][0]:.2f}..{row['eta2_range'][1]:.2f}, load {row['load'][0]:.1f} -> {row['load'][1]:.1f}",
                  flush=True)

    print(f"\n{'N':>7} {'forward s':>10} {'eta2 s':>8} {'ratio':>6} {'peak RSS GB':>12} {'before eta2':>12}  "
          f"goal (ratio <= {RATIO_GOAL}, RSS <= {RSS_GOAL_GB} GB)")
    for row in rows:
        ratio = statistics.median(row["ratios"])
        met = ratio <= RATIO_GOAL and row["rss"] <= RSS_GOAL_GB
        print(f"{row['n']:>7} {statistics.median(row['forwards']):>10.1f} {statistics.median(row['eta2']):>8.1f} {ratio:>6.2f} "
              f"{row['rss']:>12.2f} {row['base']:>12.2f}  {'met' if met else 'missed'}")
    print("(before eta2: the peak RSS after loading the data and the model and one plain forward pass;\n"
          " each eta2 run is divided by the mean of the forward passes just before and after it, all printed above;\n"
          " with --repeats, the columns are medians)")


if __name__ == "__main__":
    main()
