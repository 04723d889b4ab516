"""Find the residual blocks of any network with one probe pass, in the order it runs them.

:func:`find_blocks` runs the model once on a probe input (batch of 1) with a hook on every
submodule and keeps the modules that are residual blocks by this rule:

1. a module that states whether it adds its input (an attribute ``use_res_connect``, as
   torchvision's MobileNet blocks have, or ``has_skip`` / ``has_residual``, as timm's) is a
   block exactly when that attribute is true;
2. otherwise a module is a block when its class name says so (it ends in ``Block`` or
   ``Bottleneck``, or contains ``Residual``: torchvision's ``BasicBlock``, ``Bottleneck``,
   ``CNBlock``, ``EncoderBlock``; timm's ``Block``, ``ConvNeXtBlock``, ...) and it can
   add its input: its output has its input's shape, or it has a projection of the input
   (a child named ``downsample``, ``shortcut`` or ``skip``);
3. of blocks nested in one another only the outermost is kept (a squeeze-excitation
   ``SEBlock`` inside a bottleneck is part of it);
4. the blocks are ordered by when the forward pass first enters them, not by registration.

MixableNets are not probed: their declared ``block_names`` are the answer.

The stages (:func:`find_stages`), whose outputs are the mixing points of a network mixdiag
did not write, follow from the blocks:

1. a timm model's ``feature_info`` names them: its modules that hold a block or are one
   (the stem, ``act1`` of a ResNet, holds none and is left out);
2. otherwise each block's parent module is a stage, in the order of the blocks
   (``layer1`` … ``layer4`` of a torchvision ResNet);
3. when the blocks share a single parent, or sit at the top level (a ViT's encoder layers,
   MobileNet's ``features``), every block is a stage of its own.

Not covered: residual connections written inline in a parent's ``forward`` (no module marks
them), blocks with other class names, and models whose forward pass needs more than one
tensor. For these, name the blocks: ``blocks=["layer1.*", ...]`` in Python, ``--blocks``
on the command line.
"""

from __future__ import annotations

import itertools
from typing import Optional, Sequence

import torch
from torch import nn

from ..errors import MixdiagError
from .hooks import first_tensor

__all__ = ["call_order", "default_example", "find_blocks", "find_stages"]

_SKIP_FLAGS = ("use_res_connect", "has_skip", "has_residual")
_PROJECTIONS = ("downsample", "shortcut", "skip")
# When a model declares nothing about its input: the ImageNet classifiers' 3x224x224.
DEFAULT_INPUT = (3, 224, 224)
_FIX = "name the blocks instead: blocks=['layer1.*', ...] in Python, --blocks PATTERN on the command line"


def default_example(model: nn.Module) -> torch.Tensor:
    """A batch of one zero input shaped as ``model`` declares (timm's ``pretrained_cfg['input_size']``), else 3x224x224."""
    cfg = getattr(model, "pretrained_cfg", None) or getattr(model, "default_cfg", None) or {}
    shape = tuple(cfg.get("input_size") or DEFAULT_INPUT)
    first = next(itertools.chain(model.parameters(), model.buffers()), None)
    device = first.device if first is not None else torch.device("cpu")
    return torch.zeros((1, *shape), device=device)


def _probe(model: nn.Module, modules: dict[str, nn.Module], example: Optional[torch.Tensor]) -> dict[str, tuple]:
    """Run ``model`` once on ``example``; ``{name: (input shape, output shape)}`` of the modules that ran, in the order entered."""
    example = default_example(model) if example is None else example
    seen: dict[str, list] = {}

    def enter(name):
        def hook(module, inputs):
            seen.setdefault(name, [None, None])
            if seen[name][0] is None:
                x = first_tensor(inputs)
                seen[name][0] = None if x is None else tuple(x.shape)
        return hook

    def leave(name):
        def hook(module, inputs, output):
            y = first_tensor(output)
            if name in seen and seen[name][1] is None:
                seen[name][1] = None if y is None else tuple(y.shape)
        return hook

    modes = [(m, m.training) for m in model.modules()]
    handles = []
    try:
        for name, module in modules.items():
            handles += [module.register_forward_pre_hook(enter(name)), module.register_forward_hook(leave(name))]
        model.eval()
        with torch.no_grad():
            model(example)
    except MixdiagError:
        raise
    except Exception as exc:
        raise MixdiagError(
            f"the probe pass of {type(model).__name__} on an input of shape {tuple(example.shape)} failed ({type(exc).__name__}: "
            f"{exc}); pass example= a batch the model accepts (on the command line the dataset's first sample is used)"
        ) from None
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes:
            module.training = training
    return {name: (shapes[0], shapes[1]) for name, shapes in seen.items()}


def _is_block(module: nn.Module, shapes: tuple) -> bool:
    for flag in _SKIP_FLAGS:
        if hasattr(module, flag):
            return bool(getattr(module, flag))
    kind = type(module).__name__
    if not (kind.endswith("Block") or kind.endswith("Bottleneck") or "Residual" in kind):
        return False
    same_shape = shapes[0] is not None and shapes[0] == shapes[1]
    projected = any(getattr(module, child, None) is not None for child in _PROJECTIONS)
    return same_shape or projected


def _outermost(names: Sequence[str]) -> list[str]:
    kept = []
    for name in names:
        if not any(name.startswith(outer + ".") for outer in names if outer != name):
            kept.append(name)
    return kept


def call_order(model: nn.Module, names: Sequence[str], example: Optional[torch.Tensor] = None) -> list[str]:
    """``names`` (submodules of ``model``) ordered by when a forward pass on ``example`` first enters them.

    Raises:
        MixdiagError: when one of them does not run in that pass.
    """
    ran = _probe(model, {n: model.get_submodule(n) for n in names}, example)
    missing = [n for n in names if n not in ran]
    if missing:
        raise MixdiagError(f"block {missing[0]!r} does not run in a forward pass of {type(model).__name__}; pick modules that do")
    return list(ran)


def find_blocks(model: nn.Module, example: Optional[torch.Tensor] = None) -> list[str]:
    """Qualified names of the residual blocks of ``model``, in the order the forward pass runs them.

    Args:
        model: any ``nn.Module``; a MixableNet gives its declared ``block_names``.
        example: a batch the model accepts; default a zero batch of one shaped as the model
            declares (timm's ``pretrained_cfg['input_size']``), else 3x224x224.

    Returns:
        Names as ``named_modules()`` gives them (module docstring: the rule).

    Raises:
        MixdiagError: when the probe pass fails or finds no block; the message says how to
            name the blocks.

    >>> import torchvision  # doctest: +SKIP
    >>> find_blocks(torchvision.models.resnet18())  # doctest: +SKIP
    ['layer1.0', 'layer1.1', 'layer2.0', 'layer2.1', 'layer3.0', 'layer3.1', 'layer4.0', 'layer4.1']
    """
    declared = getattr(model, "block_names", None)
    if declared is not None:
        return list(declared)
    modules = {name: m for name, m in model.named_modules() if name}
    ran = _probe(model, modules, example)
    blocks = _outermost([name for name, shapes in ran.items() if _is_block(modules[name], shapes)])
    if not blocks:
        raise MixdiagError(f"found no residual block in {type(model).__name__} (see mixdiag.models.find_blocks for the rule); {_FIX}")
    return blocks


def _holds_block(module: str, blocks: Sequence[str]) -> bool:
    return any(b == module or b.startswith(module + ".") for b in blocks)


def find_stages(model: nn.Module, blocks: Sequence[str]) -> list[str]:
    """Qualified names of the stages of ``model`` whose blocks are ``blocks`` (module docstring: the rule).

    Args:
        model: any ``nn.Module``.
        blocks: its blocks in forward order (:func:`find_blocks`).

    Returns:
        Module names in forward order, each once.

    >>> import torchvision  # doctest: +SKIP
    >>> m = torchvision.models.resnet18()  # doctest: +SKIP
    >>> find_stages(m, find_blocks(m))  # doctest: +SKIP
    ['layer1', 'layer2', 'layer3', 'layer4']
    """
    info = getattr(model, "feature_info", None)
    declared = [f.get("module") for f in info] if isinstance(info, list) and all(isinstance(f, dict) for f in info) else []
    named = [m for m in declared if m and _holds_block(m, blocks)]
    if named:
        return sorted(dict.fromkeys(named), key=lambda m: next(i for i, b in enumerate(blocks) if _holds_block(m, [b])))
    parents = list(dict.fromkeys(b.rpartition(".")[0] for b in blocks))
    if len(parents) < 2 or "" in parents:
        return list(blocks)
    return parents
