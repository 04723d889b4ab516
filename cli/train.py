"""``mixdiag train``."""

from __future__ import annotations

from pathlib import Path

import click

from mixdiag.training.config import SCHEDULES, TrainConfig

from ._common import parse_key_values, parse_list, point_or_index

_D = TrainConfig()


@click.command("train")
@click.option("--dataset", default=_D.dataset, show_default=True, help="Dataset name (see `mixdiag list datasets`).")
@click.option("--data-dir", type=click.Path(), default=None,
              help="Folder with the dataset's files, in its published layout (multilabel-csv: the CSV file or its folder).")
@click.option("--dataset-option", "dataset_options", multiple=True, metavar="KEY=VALUE", help="Loader option, repeatable (e.g. rho=0.9).")
@click.option("--val-fraction", type=float, default=_D.val_fraction, show_default=True,
              help="Training share held out (seeded, stratified) to pick best.pt if the dataset has no validation split; 0: none.")
@click.option("--model", default=_D.model, show_default=True,
              help="Model name (see `mixdiag list models`); auto: PreAct-ResNet-32 (1-D for signals); or any network: "
                   "torchvision:<name>, timm:<name>, module:function or path/to/file.py:function (docs/your_own_model.md).")
@click.option("--init", type=click.Path(dir_okay=False), default=None,
              help="State dict the model starts from (torch.save(model.state_dict(), PATH); loaded with weights_only=True).")
@click.option("--init-strict", type=bool, default=_D.init_strict, show_default=True,
              help="With --init: every key must match; false loads the keys that match and prints the others as a warning.")
@click.option("--method", default=_D.method, show_default=True, help="Mixing method: erm, mixup, manifold, flow, flow-consistency.")
@click.option("--alpha", type=float, default=None, help="λ ~ Beta(α, α). Default: the method's (1.0; 2.0 for manifold).")
@click.option("--per-sample-lambda", is_flag=True, default=False, help="Draw one λ per sample instead of one per batch.")
@click.option("--mix-points", default=None, metavar="P1,P2",
              help="Mixing points (names or indices): manifold's eligible set, flow's constrained set; "
                   "for a --model SPEC network, module names that become its mixing points (default: input and each stage's output).")
@click.option("--weights", default=None, metavar="W1,W2", help="flow: one loss weight per mixing point (default equal).")
@click.option("--beta", type=float, default=None, help="flow: weight of the clean loss (default 0).")
@click.option("--gamma", type=float, default=None, help="flow-consistency: weight of the hidden-state penalty (default 1).")
@click.option("--epochs", type=int, default=_D.epochs, show_default=True)
@click.option("--batch-size", type=int, default=_D.batch_size, show_default=True, help="Samples per step of all processes together.")
@click.option("--lr", type=float, default=_D.lr, show_default=True, help="Peak SGD learning rate.")
@click.option("--momentum", type=float, default=_D.momentum, show_default=True)
@click.option("--weight-decay", type=float, default=_D.weight_decay, show_default=True)
@click.option("--schedule", type=click.Choice(SCHEDULES), default=_D.schedule, show_default=True)
@click.option("--seed", type=int, default=_D.seed, show_default=True, help="Seeds data order, augmentation, mixing and initialisation.")
@click.option("--corrupt-rate", type=float, default=_D.corrupt_rate, show_default=True, help="Label corruption: symmetric flip rate; multi-label: both rates below.")
@click.option("--corrupt-pos-neg", type=float, default=None, help="Multi-label: probability a positive label becomes negative.")
@click.option("--corrupt-neg-pos", type=float, default=None, help="Multi-label: probability a negative label becomes positive.")
@click.option("--augment/--no-augment", default=_D.augment, show_default=True, help="The dataset's augmentation (crop, flip, shift).")
@click.option("--device", default=_D.device, show_default=True, help="auto (CUDA when available), cpu or cuda[:N].")
@click.option("--sync-bn", is_flag=True, default=_D.sync_bn, help="torchrun on CUDA: BatchNorm over the global batch, not each process's.")
@click.option("--track-eta2", type=int, default=_D.track_eta2, show_default=True, metavar="EVERY", help="Record per-block η² on a probe of the training data every EVERY epochs (0: off).")
@click.option("--track-probe-size", type=int, default=_D.track_probe_size, show_default=True, help="Training samples in the η² probe.")
@click.option("--track-k", type=int, default=_D.track_k, show_default=True, help="k of the tracked η².")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Run directory. Default: runs/<dataset>-<method>-seed<seed>.")
@click.option("--resume", is_flag=True, help="Continue the run in --out with its saved settings (--epochs may extend it).")
@click.option("--force", is_flag=True, help="Replace an existing run in --out.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: only on a terminal).")
@click.option("--quiet", is_flag=True, help="No per-epoch lines and no closing summary on stderr.")
@click.option("--tensorboard", is_flag=True, help="Also write TensorBoard events to RUN/tensorboard/ (pip install 'mixdiag[tensorboard]').")
@click.pass_context
def train_cmd(ctx, dataset_options, mix_points, weights, alpha, per_sample_lambda, beta, gamma, out, resume, force, progress, quiet, tensorboard,
              **settings):
    """Train a model with a mixing method and write a run directory."""
    from mixdiag import distributed
    from mixdiag.training import train

    method_options = {
        "alpha": alpha,
        "per_sample": per_sample_lambda or None,
        "points": parse_list(mix_points, point_or_index),
        "weights": parse_list(weights, float),
        "beta": beta,
        "gamma": gamma,
    }
    settings["dataset_options"] = parse_key_values(dataset_options, "--dataset-option")
    settings["method_options"] = {k: v for k, v in method_options.items() if v is not None}
    out = Path(out) if out else Path("runs") / f"{settings['dataset']}-{settings['method']}-seed{settings['seed']}"
    if resume:
        # Only what the user typed is compared with the saved run; defaults are not requests.
        given = {p for p in ctx.params if ctx.get_parameter_source(p) == click.core.ParameterSource.COMMANDLINE}
        if given & {"alpha", "per_sample_lambda", "mix_points", "weights", "beta", "gamma"}:
            given.add("method_options")
        settings = {k: v for k, v in settings.items() if k in given}
    try:
        run = train(out=out, resume=resume, force=force, progress=progress, quiet=quiet, tensorboard=tensorboard, **settings)
        if not distributed.world().is_main:
            return
    finally:
        distributed.teardown()
    click.echo(f"run written to {run}")
    click.echo(f"  metrics: {run / 'metrics.jsonl'}")
    best = run / "checkpoints" / "best.pt"
    best_text = str(best) if best.is_file() else "no best.pt (no validation split)"
    click.echo(f"  checkpoints: {run / 'checkpoints' / 'last.pt'}, {best_text}")
