"""``mixdiag plot-track``."""

from __future__ import annotations

from pathlib import Path

import click

from mixdiag._io import atomic_path, check_writable
from mixdiag.errors import MixdiagError


@click.command("plot-track")
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Image file: .png, .pdf, .svg... Default: <run>/eta2_track.png.")
def plot_track_cmd(run, out):
    """Heatmap of η² per block and epoch, recorded by `mixdiag train --track-eta2`."""
    # matplotlib only for this command: the other commands start faster without it.
    import matplotlib.pyplot as plt
    from matplotlib.backend_bases import FigureCanvasBase

    from mixdiag.analysis.track import read_track
    from mixdiag.plots import plot_track

    out = Path(out) if out else Path(run) / "eta2_track.png"
    image_format = out.suffix.lstrip(".").lower()
    formats = FigureCanvasBase.get_supported_filetypes()
    if image_format not in formats:
        raise MixdiagError(f"--out {out} does not end in an image type matplotlib writes; use one of .{', .'.join(sorted(formats))}")
    check_writable(out.absolute().parent)
    track = read_track(run)
    fig = plot_track(track)
    try:
        # Named explicitly: the temporary file's .tmp suffix would not tell matplotlib the format.
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format=image_format, dpi=130)
    finally:
        plt.close(fig)
    click.echo(f"heatmap of {track['epoch'].nunique()} epochs x {track['module'].nunique()} hidden states written to {out}")
