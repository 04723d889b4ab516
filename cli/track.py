"""``mixdiag plot-track``."""

from __future__ import annotations

from pathlib import Path

import click
import matplotlib.pyplot as plt

from mixdiag.analysis.track import read_track
from mixdiag.plots import plot_track


@click.command("plot-track")
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Image file. Default: <run>/eta2_track.png.")
def plot_track_cmd(run, out):
    """Heatmap of η² per block and epoch, recorded by `mixdiag train --track-eta2`."""
    track = read_track(run)
    out = Path(out) if out else Path(run) / "eta2_track.png"
    fig = plot_track(track, title=f"η² during training of {Path(run).name} ({track['method'].iloc[0]})")
    fig.savefig(out, dpi=130)
    plt.close(fig)
    click.echo(f"heatmap of {track['epoch'].nunique()} epochs x {track['module'].nunique()} hidden states written to {out}")
