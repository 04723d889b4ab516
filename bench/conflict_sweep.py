"""Correlation conflict across mixing methods, label correlation and label corruption.

On ``synthetic-multilabel``, whose labels come in pairs (0, 1), (2, 3), (4, 5) with phi
correlation ``rho`` inside a pair, train every method at every ``rho`` and corruption rate
(the same data and the same corrupted labels for every method of a setting), then print
two tables, one column per setting:

* the output-level decoupling AUC: the ROC AUC of σ(z_a) − σ(z_b) for telling "a only"
  from "b only" test samples (clean labels), averaged over the designed pairs;
* the test macro AUC of the last epoch.

With several seeds each cell is the mean ± s.d. over seeds. The defaults train small models
for a few epochs so the whole sweep takes minutes on a CPU; scale up with ``--n-train``,
``--epochs``, ``--model`` and ``--seeds``.

    python bench/conflict_sweep.py [--n-train 1000] [--epochs 4] [--seeds 0] [--out runs/sweep]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

import mixdiag

METHODS = ["erm", "mixup", "manifold", "flow", "flow-consistency"]


def floats(text: str) -> list[float]:
    return [float(t) for t in text.split(",") if t.strip()]


def measure(run_dir: Path, split: str) -> tuple[float, float]:
    """(mean decoupling AUC over the designed pairs, last-epoch test macro AUC) of one run."""
    run = mixdiag.load(run_dir / "checkpoints" / "last.pt", device="cpu")
    pairs = [tuple(p) for p in run.dataset.info["pairs"]]
    table = mixdiag.conflict(run, pairs=pairs, split=split, device="cpu")
    decoupling = float(table.drop_duplicates("pair")["decoupling_auc"].mean())
    last = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    return decoupling, float(last["test_macro_auc"])


def cell(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f}±{np.std(values, ddof=1):.3f}"


def print_table(title: str, results: dict, methods: list[str], settings: list[tuple[float, float]]) -> None:
    width = max(8, max(len(cell(v)) for v in results.values()) + 2)
    print(title)
    print(f"{'':<18}" + "".join(f"{f'rho={rho:g}':^{2 * width}}" for rho in dict.fromkeys(r for r, _ in settings)))
    print(f"{'method':<18}" + "".join(f"{f'c={c:g}':>{width}}" for _, c in settings))
    for method in methods:
        print(f"{method:<18}" + "".join(f"{cell(results[method, rho, c]):>{width}}" for rho, c in settings))
    print()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rhos", type=floats, default=[0.0, 0.5, 0.9], help="label correlations within a pair")
    parser.add_argument("--corruptions", type=floats, default=[0.0, 0.2], help="label corruption rates (both directions)")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--seeds", default="0", help="comma-separated run seeds (data, corruption, training)")
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--n-test", type=int, default=2000, help="the decoupling AUC is measured on the test split")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--model", default="preact-resnet20")
    parser.add_argument("--split", default="test", choices=["train", "test"], help="split of the decoupling AUC")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=None, help="keep the runs here (default: a temporary directory)")
    args = parser.parse_args()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    settings = [(rho, c) for rho in args.rhos for c in args.corruptions]

    print(f"synthetic-multilabel: n_train {args.n_train}, n_test {args.n_test}, 6 labels in 3 pairs; {args.model}, "
          f"{args.epochs} epochs, batch {args.batch_size}, seeds {seeds}; decoupling AUC on the {args.split} split, clean labels")
    results, seconds = {}, []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="conflict-sweep-") as tmp:
        root = args.out or Path(tmp)
        for rho, corruption in settings:
            for method in methods:
                for seed in seeds:
                    t0 = time.perf_counter()
                    run = mixdiag.train(
                        out=root / f"rho{rho:g}-c{corruption:g}-{method}-s{seed}",
                        force=True,
                        dataset="synthetic-multilabel",
                        dataset_options={"n_train": args.n_train, "n_test": args.n_test, "rho": rho},
                        model=args.model,
                        method=method,
                        epochs=args.epochs,
                        batch_size=args.batch_size,
                        corrupt_rate=corruption,
                        seed=seed,
                        device=args.device,
                    )
                    decoupling, macro = measure(run, args.split)
                    results.setdefault((method, rho, corruption), []).append((decoupling, macro))
                    seconds.append(time.perf_counter() - t0)
    total = time.perf_counter() - started
    print(f"{len(seconds)} runs in {total / 60:.1f} min ({np.mean(seconds):.1f} s per run on average)\n")
    print_table("Output-level decoupling AUC of σ(z_a) − σ(z_b), 'a only' vs 'b only' (mean over the 3 pairs)",
                {k: [d for d, _ in v] for k, v in results.items()}, methods, settings)
    print_table("Test macro AUC (last epoch)", {k: [m for _, m in v] for k, v in results.items()}, methods, settings)
    print("rho: phi correlation of the two labels of a pair; c: corruption rate of positive and negative training labels")


if __name__ == "__main__":
    main()
