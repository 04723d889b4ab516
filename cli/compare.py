"""``mixdiag compare``."""

from __future__ import annotations

import click

from mixdiag._io import check_output_dir

from ._common import quiet_option


@click.command("compare")
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--baseline", default=None,
              help="Run name, or method (any case) whose runs are averaged, to take Δη² against. Default: erm.")
@click.option("--out", type=click.Path(file_okay=False), default="compare", show_default=True, help="Output directory.")
@click.option("--force", is_flag=True, help="Replace an existing output directory.")
@click.option("--split", type=click.Choice(["train", "test", "val"]), default="train", show_default=True, help="Split for sources that are checkpoints.")
@click.option("--k", type=int, default=10, show_default=True, help="k for sources that are checkpoints.")
@click.option("--device", default="auto", show_default=True)
@click.option("--allow-mixed", "allow_mixed", multiple=True, metavar="SETTING",
              help="Compare runs that differ in SETTING (k, split, n, sample_size, pooled, dataset, epochs, ...) anyway; "
                   "it is then shown per run. Repeatable.")
@quiet_option
def compare_cmd(sources, baseline, out, force, allow_mixed, quiet, **eta2_options):
    """Overlay per-block η² of several runs; write Δη² per block against a baseline.

    SOURCES are eta2 outputs (directories or eta2.csv), checkpoints, or run directories;
    or conflict outputs (directories or conflict.csv of `mixdiag conflict`), whose
    decoupling AUCs and label η² are then put side by side.
    """
    from mixdiag._progress import quiet as silenced
    from mixdiag.analysis.compare import ConflictComparison, compare, say, write_compare

    check_output_dir(out, force)  # before the runs are read or measured, which can take minutes
    with silenced(quiet):
        result = compare(list(sources), baseline=baseline, allow_mixed=allow_mixed, **eta2_options)
    for note in getattr(result, "notes", []):
        say(note)
    written = write_compare(result, out, force=force)
    if isinstance(result, ConflictComparison):
        runs = result.rows["run"].nunique()
        click.echo(f"correlation conflict of {runs} runs side by side ({len(result.shared_pairs)} shared label pairs); written to {out}")
    else:
        click.echo(f"{result.curves['run'].nunique()} runs compared against {result.delta['baseline'].iloc[0]}; written to {out}")
    for path in written:
        click.echo(f"  {path}")
