"""One description of a network's hidden states and mixing points: :class:`Taps`.

Every network mixdiag analyses, its own :class:`~mixdiag.models.MixableNet` or any
``nn.Module``, is read through a :class:`Taps` record built once by :func:`describe`:

* from the model's own declaration (``block_names`` and ``mixing_points`` of a MixableNet),
  unchanged;
* from names or patterns the caller gives (``blocks=["layer1.0", "layer2.*"]``);
* or, for any other module, by :func:`~mixdiag.models.find_blocks.find_blocks`.

Capture reads only this record, and training mixes at its ``mixing_points`` (:mod:`mixdiag.models.mixable`).

Patterns are shell-style (:mod:`fnmatch`) and matched one dot-separated segment at a time:
``layer2.*`` is every direct child of ``layer2`` (``layer2.0``, ``layer2.1``), not
``layer2.0.conv1``; a pattern that matches no module is an error.

The model output is the pseudo-name ``"output"``. A network that has a submodule whose
qualified name is ``output`` would make that ambiguous in every table, so there the model
output is named ``"<output>"`` instead (:attr:`Taps.output` says which).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
from torch import nn

from ..errors import MixdiagError

__all__ = ["OUTPUT", "Taps", "describe", "match_blocks", "output_name"]

OUTPUT = "output"
# The model output's name when a submodule is already called "output".
OUTPUT_RENAMED = "<output>"


@dataclass(frozen=True)
class Taps:
    """Where a network's hidden states are read, and where it can be mixed.

    Attributes:
        blocks: qualified module names (as ``named_modules()`` gives them) of the hidden
            states, in the order the forward pass runs them.
        mixing_points: ``"input"`` then the points a hidden state can be mixed at: a
            MixableNet's stage outputs, else the outputs of the stages the blocks form
            (:func:`~mixdiag.models.find_blocks.find_stages`).
        output: the pseudo-name of the model output (``"output"``, or ``"<output>"`` when a
            submodule has that name).
        channels_last: blocks whose output carries channels on the last axis (tokens
            ``(B, T, C)`` of a transformer, or ``(B, H, W, C)``); the others are read as
            ``(B, C, ...)``. See :func:`~mixdiag.models.hooks.features`.
        source: how the blocks were chosen: ``"declared"``, ``"given"`` or ``"found"``.
    """

    blocks: tuple[str, ...]
    mixing_points: tuple[str, ...]
    output: str = OUTPUT
    channels_last: frozenset = frozenset()
    source: str = "declared"

    @property
    def names(self) -> tuple[str, ...]:
        """Every hidden state in network order: the blocks, then the output."""
        return self.blocks + (self.output,)

    def select(self, names: Optional[Sequence[str]] = None) -> tuple[str, ...]:
        """The hidden states ``names`` (any order; default all), in network order.

        Raises:
            MixdiagError: on an empty selection or a name this network does not have.
        """
        known = self.names
        if names is None:
            return known
        if len(names) == 0:
            raise MixdiagError(f"no hidden states selected; pick some of {', '.join(known)}")
        unknown = [n for n in names if n not in known]
        if unknown:
            raise MixdiagError(f"unknown hidden state {unknown[0]!r}; this model has {', '.join(known)}")
        wanted = set(names)
        return tuple(n for n in known if n in wanted)


def output_name(model: nn.Module) -> str:
    """``"output"``, or ``"<output>"`` when a submodule of ``model`` is named ``output``."""
    return OUTPUT_RENAMED if OUTPUT in dict(model.named_modules()) else OUTPUT


def _segments_match(name: str, pattern: str) -> bool:
    parts, wanted = name.split("."), pattern.split(".")
    return len(parts) == len(wanted) and all(fnmatch.fnmatchcase(p, w) for p, w in zip(parts, wanted))


def match_blocks(model: nn.Module, patterns: Sequence[str]) -> list[str]:
    """Module names of ``model`` matching any of ``patterns``, in registration order, each once.

    Raises:
        MixdiagError: when a pattern matches no module (the message lists the top-level ones).
    """
    if isinstance(patterns, str):
        patterns = [patterns]
    names = [n for n, _ in model.named_modules() if n]
    chosen: dict[str, None] = {}
    for pattern in patterns:
        hits = [n for n in names if _segments_match(n, pattern)]
        if not hits:
            top = ", ".join(n for n in names if "." not in n)
            raise MixdiagError(
                f"block pattern {pattern!r} matches no module of {type(model).__name__}; '*' stays within one dot-separated part "
                f"(layer2.* is layer2.0, layer2.1, ...); its top-level modules are: {top}"
            )
        chosen.update(dict.fromkeys(hits))
    return list(chosen)


def _emits_channels_last(module: nn.Module) -> bool:
    # Attention reads channels on the last axis: a block holding one (ViT's encoder layers,
    # timm's Block, Swin's blocks) passes tokens (B, T, C) or (B, H, W, C) on.
    return any(isinstance(m, nn.MultiheadAttention) or "attention" in type(m).__name__.lower() for m in module.modules())


def describe(model: nn.Module, blocks: Optional[Sequence[str]] = None, example: Optional[torch.Tensor] = None) -> Taps:
    """The :class:`Taps` of ``model``.

    Args:
        model: a MixableNet or any ``nn.Module``.
        blocks: names or shell-style patterns of the hidden states to read (see the module
            docstring); they win over the model's declaration and over block finding.
        example: a batch the model accepts, for the probe pass that orders given blocks and
            finds undeclared ones; default what the model declares about its input (see
            :func:`~mixdiag.models.find_blocks.default_example`).

    Returns:
        The model's taps.

    >>> from mixdiag.models import create_model
    >>> describe(create_model("preact-resnet20", in_channels=1, num_classes=10, input_size=(8, 8))).blocks[:2]
    ('layer1.0', 'layer1.1')
    """
    from .find_blocks import call_order, find_blocks, find_stages

    declared = getattr(model, "block_names", None)
    output = output_name(model)
    if blocks is not None:
        names = match_blocks(model, blocks)
        if declared is not None:
            order = [n for n in declared if n in names] + [n for n in names if n not in declared]
        else:
            order = call_order(model, names, example)
        source = "given"
    elif declared is not None:
        order, source = list(declared), "declared"
    else:
        order, source = find_blocks(model, example), "found"
    points = tuple(getattr(model, "mixing_points", ())) or ("input", *find_stages(model, order))
    last = frozenset(n for n in order if _emits_channels_last(model.get_submodule(n)))
    return Taps(tuple(order), points, output, last, source)
