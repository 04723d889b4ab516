"""Regenerate the README's figure: per-block η² of ERM, Mixup and Flow-Mixup on the digits data.

    python docs/make_figures.py

trains PreAct-ResNet-32 with each method and seed on scikit-learn's bundled digits (30
epochs, seeds 0, 1 and 2: about 15 minutes on 2 CPU cores), measures per-block η² of k-means
partitions (k = 10) of all 1,438 training images with the structureless null (3 draws per run
and block), and writes ``docs/figures/eta2_digits.png``
(the curves with their spread across seeds, and Δη² against ERM) and
``docs/figures/eta2_digits.csv`` (the numbers behind it, one row per run and hidden state).
Runs go to ``runs/figures/`` and are replaced on every call, so the figure always matches
the code that made it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional, Sequence

import matplotlib

matplotlib.use("Agg")  # a script writing files needs no display

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

import mixdiag  # noqa: E402
from mixdiag.analysis.compare import delta_eta2  # noqa: E402
from mixdiag.plots import plot_compare, plot_delta  # noqa: E402

METHODS = ("erm", "mixup", "flow")
K = 10
CLUSTER_SEED = 0  # one k-means seed for every run, so runs differ only by their training
NULL_DRAWS = 3  # the structureless null per run and block (the grey band)


def make_eta2_figure(runs: Path, out: Path, *, epochs: int, seeds: Sequence[int], model: str, limit: Optional[int]) -> pd.DataFrame:
    """Train every method with every seed, measure η², write the PNG and CSV; return the curves."""
    run_dirs = [
        mixdiag.train(dataset="digits", model=model, method=method, epochs=epochs, seed=seed,
                      out=runs / f"digits-{method}-s{seed}", force=True)
        for seed in seeds
        for method in METHODS
    ]
    cmp = mixdiag.compare(run_dirs, baseline="erm", k=K, limit=limit, seed=CLUSTER_SEED, null=NULL_DRAWS)
    accuracy = {d.name: pd.read_json(d / "metrics.jsonl", lines=True)["test_accuracy"].iloc[-1] for d in run_dirs}
    curves = cmp.curves.assign(test_accuracy=cmp.curves["run"].map(accuracy))
    draw(curves, out, epochs=epochs, seeds=len(seeds))
    return curves


def draw(curves: pd.DataFrame, out: Path, *, epochs: int, seeds: int) -> None:
    """Write ``eta2_digits.png`` and ``eta2_digits.csv`` from the curves (``--redraw`` reads them back)."""
    n = int(curves["n"].iloc[0])
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), layout="constrained")
    plot_compare(curves, ax=axes[0], title=f"Per-block η² (k-means, k={K}) of {n} digits training images")
    plot_delta(delta_eta2(curves, "erm"), ax=axes[1], title="Δη² per block against ERM (mean of the ERM seeds)")
    model_name = curves["model"].iloc[0]
    fig.suptitle(f"{model_name} on scikit-learn digits, {epochs} epoch{'s' * (epochs > 1)}, {seeds} seed{'s' * (seeds > 1)} per method")
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "eta2_digits.png", dpi=150)
    plt.close(fig)
    curves.to_csv(out / "eta2_digits.csv", index=False)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--model", default="preact-resnet32")
    parser.add_argument("--limit", type=int, default=None, help="measure only the first N training images (default: all)")
    parser.add_argument("--runs", type=Path, default=Path("runs/figures"), help="where the training runs go")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "figures", help="where the PNG and CSV go")
    parser.add_argument("--redraw", action="store_true", help="only redraw the PNG from the CSV in --out (no training, no measuring)")
    args = parser.parse_args(argv)
    if args.redraw:
        curves = pd.read_csv(args.out / "eta2_digits.csv")
        draw(curves, args.out, epochs=int(curves["epochs"].iloc[0]), seeds=int(curves.groupby("method")["run"].nunique().max()))
    else:
        curves = make_eta2_figure(args.runs, args.out, epochs=args.epochs, seeds=args.seeds, model=args.model, limit=args.limit)

    stage = curves["module"].map(lambda m: "logits" if m == "output" else m.split(".")[0])
    per_run = curves.assign(stage=stage).groupby(["method", "run", "stage"], sort=False)["eta2"].mean()
    table = per_run.groupby(["method", "stage"], sort=False).agg(["mean", "std"]).unstack("stage")
    accuracy = curves.drop_duplicates("run").groupby("method", sort=False)["test_accuracy"].agg(["mean", "std"])
    with pd.option_context("display.precision", 3, "display.width", 160):
        print("mean η² per stage (blocks averaged within a run; mean and s.d. over seeds):")
        print(table)
        print("test accuracy (mean and s.d. over seeds):")
        print(accuracy)
    print(f"wrote {args.out / 'eta2_digits.png'} and {args.out / 'eta2_digits.csv'}")


if __name__ == "__main__":
    main()
