"""The ``mixdiag`` entry point: one group, one module per command."""

import click

from ._catalog import METHODS, MODELS, dataset_lines
from ._common import Group
from .compare import compare_cmd
from .conflict import conflict_cmd
from .eta2 import eta2_cmd
from .track import plot_track_cmd
from .train import train_cmd


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mixdiag")
def cli():
    """mixdiag: train with ERM, Mixup, Manifold Mixup or Flow-Mixup, then measure per-block η²."""


@cli.command("list")
@click.argument("what", type=click.Choice(["models", "datasets", "methods"]))
def list_cmd(what):
    """List registered models, datasets (one line each: what, layout, options) or mixing methods."""
    lines = {"models": MODELS, "datasets": dataset_lines(), "methods": METHODS}[what]
    click.echo("\n".join(lines))


for command in (train_cmd, eta2_cmd, conflict_cmd, compare_cmd, plot_track_cmd):
    cli.add_command(command)


def main():
    cli(prog_name="mixdiag")
