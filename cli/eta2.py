"""``mixdiag eta2``; under ``torchrun`` every process takes a share and rank 0 writes."""

from __future__ import annotations

from pathlib import Path

import click

from mixdiag._io import check_output_dir
from mixdiag.analysis._defaults import BACKENDS, DEFAULT_BACKEND, DEFAULT_SAMPLE_SIZE

from ._common import ByteSize, Checkpoint, SampleSize, model_options, open_model, quiet_option


@click.command("eta2")
@click.option("--ckpt", type=Checkpoint(), default=None, help="Checkpoint written by mixdiag train, or its run directory (checkpoints/last.pt).")
@model_options
@click.option("--split", type=click.Choice(["train", "test", "val"]), default="train", show_default=True, help="Data split to measure (the paper uses train).")
@click.option("--k", type=int, default=10, show_default=True, help="k-means clusters per hidden state.")
@click.option("--restarts", type=int, default=1, show_default=True, help="Clusterings with different seeds; reports mean and s.d. of η².")
@click.option("--sample-size", type=SampleSize(), default=DEFAULT_SAMPLE_SIZE, show_default=True, help="Rows per hidden state the k-means fit uses; 'all' fits on every sample.")
@click.option("--pooled", is_flag=True, help="Average each block output over spatial positions (or tokens) instead of flattening it.")
@click.option("--limit", type=int, default=None, help="Use only the first N samples of the split.")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True, help="Samples per forward pass.")
@click.option("--max-memory", type=ByteSize(), default="2G", show_default=True, help="Bound on what the analysis holds at once (e.g. 2G, 512M).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the fit sample, of k-means and of the null.")
@click.option("--null", type=click.IntRange(min=0), default=0, show_default=True,
              help="Draws of the structureless null (each feature permuted across rows): eta2_null, eta2_null_sd. A draw costs a fit.")
@click.option("--kmeans-backend", type=click.Choice(BACKENDS), default=DEFAULT_BACKEND, show_default=True,
              help="Who runs the k-means iterations: FAISS, or pure torch on the model's device.")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when available), cpu or cuda[:N].")
@click.option("--save-assignments", is_flag=True, help="Also write assignments.npz: the cluster of every sample per hidden state.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output directory. Default: <run>/eta2-<split> (--model: runs/<name>-<dataset>/eta2-<split>).")
@click.option("--force", is_flag=True, help="Replace an existing output directory.")
@quiet_option
def eta2_cmd(ckpt, model_spec, weights, dataset, data_dir, dataset_options, strict, blocks, out, force, device, quiet, **options):
    """Per-block η² = 1 − SSI/SST of a k-means partition of every hidden state (of a mixdiag run, or of any network with --model)."""
    from mixdiag import distributed
    from mixdiag._progress import quiet as silenced
    from mixdiag.analysis.report import eta2_result, write_eta2

    # Checked before the analysis too, so a long computation is not wasted.
    if out is not None:
        check_output_dir(Path(out), force)
    world, device = distributed.setup(device)
    try:
        with silenced(quiet):
            subject, run_dir = open_model(ckpt, model_spec, weights, dataset, data_dir, dataset_options, strict, device)
            out = Path(out) if out is not None else run_dir / f"eta2-{options['split']}"
            check_output_dir(out, force)
            result = eta2_result(subject, device=device, blocks=list(blocks) or None, **options)
        write_eta2(result, out, force=force)
    finally:
        distributed.teardown()
    if world.is_main:
        click.echo(f"η² of {len(result.table)} hidden states written to {out}")
        for name in ("eta2.csv", "eta2.json", "eta2.png") + (("assignments.npz",) if result.assignments else ()):
            click.echo(f"  {out / name}")
        click.echo(block_table(result.table))


def block_table(table) -> str:
    """η² per hidden state, one line each, named by module as in eta2.csv (``eta2_std`` only
    when it is a number, the null's mean and s.d. only when it was drawn)."""
    spread = table["eta2_std"].notna().any()
    null = "eta2_null" in table.columns and table["eta2_null"].notna().any()
    width = max(len("module"), *(len(m) for m in table["module"]))
    lines = [f"{'module':<{width}}  {'dim':>8}  {'η²':>6}" + ("  s.d." if spread else "") + ("  null (s.d.)" if null else "")]
    for row in table.itertuples():
        line = f"{row.module:<{width}}  {row.dim:>8}  {row.eta2:6.3f}" + (f"  {row.eta2_std:.4f}" if spread else "")
        if null:
            line += f"  {row.eta2_null:.3f} ({row.eta2_null_sd:.3f})"
        lines.append(line)
    return "\n".join(lines)
