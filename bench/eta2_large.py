"""η² of a network whose hidden states are too wide to hold: torchvision ResNet-50 at 224×224.

The first stage's blocks of ResNet-50 have 256×56×56 = 802,816 features per image; a
2,000-row fit sample of one of them is 6.4 GB in float32. For each configuration a fresh
subprocess builds the network (random init, seeded), takes the first N Fashion-MNIST
training images upsampled to 3×224×224, and measures:

* one plain forward pass (eval mode, ``torch.inference_mode``), before and after;
* ``compute_eta2`` over every block and the logits with the defaults of ``mixdiag eta2``
  (k = 10, fit sample 2,000 rows or all N, 2 GiB budget): the time relative to the forward
  pass, the process's peak RSS, and what the analysis added to it (peak RSS during η² minus
  the RSS after the first forward pass, i.e. beyond the model, data and runtime);
* which hidden states were sketched (too wide for the budget) and which held.

``--compare`` also measures the sketched blocks of the first two stages with a budget that
holds them (no sketch), and prints both η² side by side: the partition quality of the sketch
against plain k-means on the same fit sample.

    python bench/eta2_large.py                    # N = 256
    python bench/eta2_large.py --n 512 --compare

Needs torchvision (``pip install -e ".[vision]"``) and Fashion-MNIST
(``apt-get install dataset-fashion-mnist``). Goal (issue 11): every block within the
default 2 GiB budget with the full fit sample, peak RSS of the analysis within 2 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
import warnings

import mixdiag  # noqa: F401  (sets OMP_WAIT_POLICY before torch and FAISS load)
import psutil
import torch
import torch.nn.functional as F

from mixdiag.analysis import compute_eta2
from mixdiag.analysis import eta2 as engine

BUDGET = 2 * 1024**3
BATCH = 16


def images(n: int) -> torch.Tensor:
    """The first ``n`` Fashion-MNIST training images as normalised float32 ``(n, 3, 224, 224)``."""
    x = mixdiag.load_dataset("fashion-mnist").split("train")[0][:n].float() / 255
    x = F.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False)
    return ((x - 0.286) / 0.353).expand(-1, 3, -1, -1).contiguous()


def network() -> torch.nn.Module:
    from torchvision.models import resnet50

    torch.manual_seed(0)  # this benchmark's own process: the global seed is its to set
    return resnet50(weights=None, num_classes=10).eval()


def forward_seconds(model, x) -> float:
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(x), BATCH):
            model(x[i : i + BATCH])
    return time.perf_counter() - start


class PeakRSS:
    """Peak resident set size of this process while the block runs, sampled every 5 ms."""

    def __enter__(self):
        self.process, self.peak, self.running = psutil.Process(), 0, True
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()
        return self

    def _watch(self):
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.005)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()


def worker(n: int, names, max_memory: int) -> None:
    x = images(n)
    model = network()
    before = forward_seconds(model, x)
    baseline = psutil.Process().memory_info().rss
    planned = {}
    real_plan = engine._plan

    def plan(dims, *args, **kwargs):
        rows, groups, sketched = real_plan(dims, *args, **kwargs)
        planned.update(groups=groups, sketched=sorted(sketched, key=list(dims).index), rows=rows)
        return rows, groups, sketched

    engine._plan = plan
    with warnings.catch_warnings(record=True) as caught, PeakRSS() as rss:
        start = time.perf_counter()
        table = compute_eta2(model, x, names=names, batch_size=BATCH, max_memory=max_memory, seed=0)
        seconds = time.perf_counter() - start
    after = forward_seconds(model, x)
    print(json.dumps({
        "n": n, "before": before, "after": after, "eta2_seconds": seconds, "baseline_gb": baseline / 1e9, "peak_gb": rss.peak / 1e9,
        "max_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9, "groups": len(planned["groups"]),
        "sketched": planned["sketched"], "fit_rows": sorted(set(planned["rows"].values())), "warnings": [str(w.message) for w in caught],
        "eta2": dict(zip(table["module"], table["eta2"])), "dims": dict(zip(table["module"], table["dim"].astype(int).tolist())),
    }))


def run(n: int, names=None, max_memory: int = BUDGET) -> dict:
    command = [sys.executable, __file__, "--worker", str(n), "--max-memory", str(max_memory)]
    if names:
        command += ["--names", ",".join(names)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"N={n} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--compare", action="store_true", help="also measure the sketched first blocks of stages 1-2 held")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--names", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--max-memory", type=int, default=BUDGET, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.worker, args.names.split(",") if args.names else None, args.max_memory)
        return
    print(f"torchvision resnet50 (random init) on {args.n} Fashion-MNIST images at 3x224x224; batch {BATCH}, "
          f"max_memory 2 GiB, torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs", flush=True)
    row = run(args.n)
    forward = (row["before"] + row["after"]) / 2
    added = row["peak_gb"] - row["baseline_gb"]
    print(f"  forward {row['before']:.1f} s / {row['after']:.1f} s, eta2 {row['eta2_seconds']:.1f} s: "
          f"ratio {row['eta2_seconds'] / forward:.2f}")
    print(f"  {len(row['eta2'])} hidden states in {row['groups']} groups, fit sample {row['fit_rows']} rows; "
          f"sketched: {', '.join(row['sketched']) or 'none'}")
    print(f"  peak RSS {row['peak_gb']:.2f} GB (getrusage {row['max_rss_gb']:.2f}); after the first forward pass "
          f"{row['baseline_gb']:.2f} GB; added by η² {added:.2f} GB (goal <= 2 GB: {'met' if added <= 2.0 else 'missed'})")
    if row["warnings"]:
        print("  warnings: " + " | ".join(row["warnings"]))
    if args.compare:
        names = [m for m in ("layer1.0", "layer2.0") if m in row["sketched"]]
        held = run(args.n, names, max_memory=16 * 1024**3)
        print("  sketched against held (same fit sample, 16 GiB budget for the held fit):")
        for name in names:
            print(f"    {name} ({row['dims'][name]} features): sketched {row['eta2'][name]:.4f}, held {held['eta2'][name]:.4f}")


if __name__ == "__main__":
    main()
