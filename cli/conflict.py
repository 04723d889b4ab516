"""``mixdiag conflict``; under ``torchrun`` every process takes a share and rank 0 writes."""

from __future__ import annotations

from pathlib import Path

import click

from mixdiag._io import check_output_dir
from mixdiag.analysis._defaults import DEFAULT_MIN_GROUP, DEFAULT_NULL

from ._common import Checkpoint, model_options, open_model, quiet_option


def _pair(text: str) -> tuple[str, str]:
    a, sep, b = text.partition(",")
    if not sep or not a.strip() or not b.strip():
        raise click.BadParameter(f"{text!r} is not LABEL_A,LABEL_B", param_hint="--pair")
    return a.strip(), b.strip()


@click.command("conflict")
@click.option("--ckpt", type=Checkpoint(), default=None,
              help="Checkpoint of a multi-label run, written by mixdiag train, or its run directory (checkpoints/last.pt).")
@model_options
@click.option("--pairs", type=click.IntRange(min=1), default=5, show_default=True,
              help="Number of label pairs, the most correlated (phi) on the clean training labels.")
@click.option("--pair", "given", multiple=True, metavar="A,B", help="Analyse this label pair (names or indices) instead; repeatable.")
@click.option("--split", type=click.Choice(["train", "test", "val"]), default="train", show_default=True, help="Data split to measure.")
@click.option("--min-group", type=click.IntRange(min=1), default=DEFAULT_MIN_GROUP, show_default=True,
              help="Least 'a only' and 'b only' samples a pair needs in the split (the null's mean is 1/(n_a+n_b-1)).")
@click.option("--null", type=click.IntRange(min=0), default=DEFAULT_NULL, show_default=True,
              help="Shuffles of the 'a only'/'b only' labels for the permutation null of the label η²; 0 turns it off.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of those shuffles.")
@click.option("--pooled", is_flag=True, help="Average each block output over spatial positions (or tokens) instead of flattening it.")
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True,
              help="Samples per forward pass; every hidden state of one batch is held at once.")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when available), cpu or cuda[:N].")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output directory. Default: <run>/conflict-<split> (--model: runs/<name>-<dataset>/conflict-<split>).")
@click.option("--force", is_flag=True, help="Replace an existing output directory.")
@quiet_option
def conflict_cmd(ckpt, model_spec, weights, dataset, data_dir, dataset_options, strict, blocks, pairs, given, out, force, device, quiet,
                 **options):
    """Correlation conflict: label η² of 'a only' vs 'b only' per hidden state, and decoupling AUC at the output."""
    from mixdiag import distributed
    from mixdiag._progress import quiet as silenced
    from mixdiag.analysis.conflict import conflict_result, write_conflict

    # Checked before the analysis too, so the computation is not wasted.
    if out is not None:
        check_output_dir(Path(out), force)
    world, device = distributed.setup(device)
    try:
        with silenced(quiet):
            subject, run_dir = open_model(ckpt, model_spec, weights, dataset, data_dir, dataset_options, strict, device)
            out = Path(out) if out is not None else run_dir / f"conflict-{options['split']}"
            check_output_dir(out, force)
            result = conflict_result(subject, pairs=[_pair(p) for p in given] if given else pairs, device=device,
                                     blocks=list(blocks) or None, **options)
        write_conflict(result, out, force=force)
    finally:
        distributed.teardown()
    if world.is_main:
        pairs_done, states = len(result.settings["pairs"]), result.table["module"].nunique()
        click.echo(f"correlation conflict of {pairs_done} label pairs x {states} hidden states written to {out}")
        for name in ("conflict.csv", "conflict.json", "conflict.png"):
            click.echo(f"  {out / name}")
