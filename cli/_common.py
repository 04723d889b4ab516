"""What every command shares: one-line errors and small option parsers."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mixdiag._io import run_checkpoint
from mixdiag.errors import MixdiagError


class Group(click.Group):
    """A click group that reports user errors in one line with exit code 1, no traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MixdiagError as exc:
            raise click.ClickException(one_line(str(exc))) from None
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            raise click.ClickException(one_line(f"{exc.strerror or exc}{where}; check the path and its permissions")) from None


quiet_option = click.option(
    "--quiet", "-q", is_flag=True, help="No progress lines on stderr (errors and the outputs' paths still show)."
)


def one_line(message: str) -> str:
    """The message with line breaks folded, so scripts can rely on one ``Error:`` line."""
    return " ".join(message.split())


def parse_key_values(pairs: tuple[str, ...], option: str) -> dict:
    """``("rho=0.9", "name=x")`` → ``{"rho": 0.9, "name": "x"}``; values are JSON when they parse."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint=option)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def parse_list(text: str | None, cast=str) -> list | None:
    """``"input,layer1"`` → ``["input", "layer1"]``; None stays None."""
    if text is None:
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    try:
        return [cast(t) for t in items]
    except ValueError as exc:
        raise MixdiagError(f"cannot read {text!r} as a comma-separated list: {exc}") from None


def point_or_index(token: str) -> str | int:
    return int(token) if token.isdigit() else token


_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


class ByteSize(click.ParamType):
    """``2G``, ``512M``, ``1500000`` → bytes."""

    name = "SIZE"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        text = str(value).strip().upper().removesuffix("B").removesuffix("I")
        number, unit = (text[:-1], text[-1]) if text and text[-1] in _UNITS else (text, "")
        try:
            size = int(float(number) * _UNITS[unit])
        except ValueError:
            self.fail(f"{value!r} is not a size such as 2G, 512M or a number of bytes", param, ctx)
        if size <= 0:
            self.fail(f"{value!r} must be positive", param, ctx)
        return size


class SampleSize(click.ParamType):
    """A positive row count, or ``all``."""

    name = "N|all"

    def convert(self, value, param, ctx):
        if value == "all" or isinstance(value, int):
            return value
        try:
            return int(value)
        except ValueError:
            self.fail(f"{value!r} is neither a number of rows nor 'all'", param, ctx)


class Checkpoint(click.ParamType):
    """A checkpoint file, or a run directory standing for its ``checkpoints/last.pt``."""

    name = "PATH|RUN_DIR"

    def convert(self, value, param, ctx):
        try:
            return run_checkpoint(value)
        except MixdiagError as exc:
            self.fail(str(exc), param, ctx)


def model_options(command):
    """The options that name a network trained elsewhere, instead of ``--ckpt`` (``eta2``, ``conflict``)."""
    options = [
        click.option("--model", "model_spec", default=None, metavar="SPEC",
                     help="A network trained elsewhere, instead of --ckpt: torchvision:<name>, timm:<name>, module:function or file.py:function."),
        click.option("--weights", type=click.Path(dir_okay=False), default=None,
                     help="With --model: its state dict (torch.save(model.state_dict(), PATH)), loaded with weights_only=True."),
        click.option("--dataset", default=None, help="With --model: the dataset to measure it on (see `mixdiag list datasets`; default digits)."),
        click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="With --model: folder with the dataset's files."),
        click.option("--dataset-option", "dataset_options", multiple=True, metavar="KEY=VALUE", help="With --model: loader option, repeatable."),
        click.option("--strict/--no-strict", default=True, show_default=True,
                     help="With --weights: every key must match the model; --no-strict loads the keys that match."),
        click.option("--blocks", multiple=True, metavar="PATTERN",
                     help="Hidden states to measure: module names or patterns (layer2.*), repeatable; default the declared or found residual blocks."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def open_model(ckpt, model_spec, weights, dataset, data_dir, dataset_options, strict, device):
    """What ``--ckpt`` or ``--model`` names, and the run directory its outputs default to.

    Returns:
        ``(subject, run_dir)``: the checkpoint path (loaded by the analysis) or a loaded
        :class:`~mixdiag.analysis.subject.ExternalRun`, and ``<run>`` or ``runs/<name>-<dataset>``.
    """
    if (ckpt is None) == (model_spec is None):
        raise MixdiagError("name the model with either --ckpt (a mixdiag run) or --model (a network trained elsewhere), not both or neither")
    if ckpt is not None:
        used = [name for name, value in (("--weights", weights), ("--dataset", dataset), ("--data-dir", data_dir),
                                          ("--dataset-option", dataset_options)) if value]
        if used:
            raise MixdiagError(f"{used[0]} goes with --model; a --ckpt run is measured on the dataset it was trained on")
        return ckpt, (ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent)
    from mixdiag.analysis.subject import load_model

    run = load_model(model_spec, weights=weights, dataset=dataset or "digits", data_dir=data_dir,
                     dataset_options=parse_key_values(dataset_options, "--dataset-option"), strict=strict, device=device)
    return run, Path("runs") / f"{run.name}-{run.dataset.name}"
