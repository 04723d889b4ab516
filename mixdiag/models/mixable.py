"""What mixing methods run a network through: the mixable interface, and :class:`HookedNet` for any module.

A mixing method needs four things from a network, and nothing else:

* ``mixing_points`` and ``point_index(point)``: the points, ``"input"`` first;
* ``forward_points(x, points, with_logits)``: the hidden states at ``points`` (and the logits);
* ``forward_mixed(x, point, mix)``: the logits when the state at ``point`` is replaced by
  ``mix(state)``;
* ``forward_each_mixed(x, points, mix, with_clean)``: ``forward_mixed`` at every point of
  ``points`` (and the clean logits), sharing what can be shared.

:class:`~mixdiag.models.MixableNet` satisfies it by its split forwards (the fast path: the
prefix up to a point runs once). Any other ``nn.Module`` satisfies it through
:class:`HookedNet`: a forward hook on the module at a point returns the mixed tensor
(:class:`~mixdiag.models.hooks.TapRunner`), so a pass cannot start in the middle and each
mixed pass runs the whole network. That makes Flow-Mixup cost one full forward pass per
mixing point on such a network (docs/your_own_model.md: measured).
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch
from torch import nn

from ..errors import MixdiagError
from ._base import MixableNet
from .hooks import TapRunner, model_output

__all__ = ["HookedNet", "as_mixable", "mixing_points"]

Mix = Callable[[torch.Tensor], torch.Tensor]


class HookedNet(nn.Module):
    """Any ``nn.Module`` behind the mixable interface, mixing at module outputs by forward hooks.

    Args:
        net: the network; its call returns logits (or what :func:`~mixdiag.models.hooks.model_output` reads).
        points: ``"input"`` then qualified module names, in forward order (:func:`mixing_points`).

    The network is a submodule (``net``), so its parameters are this module's; save
    ``net.state_dict()`` to keep the network's own key names.
    """

    def __init__(self, net: nn.Module, points: Sequence[str]):
        super().__init__()
        points = tuple(points)
        if not points or points[0] != "input":
            raise MixdiagError(f"mixing points must start with 'input', got {', '.join(points) or 'none'}")
        for name in points[1:]:
            _module(net, name)
        self.net = net
        self.mixing_points = points

    point_index = MixableNet.point_index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return model_output(self.net(x))

    def forward_points(self, x: torch.Tensor, points, with_logits: bool = True):
        """``({point index: hidden state}, logits or None)`` from one pass, stopped after the last point without logits."""
        wanted = sorted({self.point_index(p) for p in points})
        states = {0: x} if 0 in wanted else {}
        names = {self.mixing_points[k]: k for k in wanted if k > 0}
        if not names and not with_logits:
            return states, None

        def record(name, h):
            # A copy in the graph: an in-place operation later in the pass cannot change what was read.
            states[names[name]] = h.clone()

        with TapRunner(self.net, list(names), record, stop_after_last=not with_logits) as runner:
            out = runner.run(x)
        return states, (model_output(out) if with_logits else None)

    def forward_mixed(self, x: torch.Tensor, point, mix: Mix) -> torch.Tensor:
        """Logits of one pass whose state at ``point`` is replaced by ``mix(state)``."""
        k = self.point_index(point)
        if k == 0:
            return self(mix(x))
        with TapRunner(self.net, [self.mixing_points[k]], lambda name, h: mix(h)) as runner:
            return model_output(runner.run(x))

    def forward_each_mixed(self, x: torch.Tensor, points, mix: Mix, with_clean: bool = False):
        """``([logits mixed at each of points], clean logits or None)``: one full pass per point, as hooks cannot start a pass midway."""
        mixed = [self.forward_mixed(x, k, mix) for k in points]
        return mixed, (self(x) if with_clean else None)


def _module(net: nn.Module, name: str) -> nn.Module:
    try:
        return net.get_submodule(name)
    except AttributeError:
        top = ", ".join(n for n, _ in net.named_children())
        raise MixdiagError(f"mixing point {name!r} is not a module of {type(net).__name__}; its top-level modules are: {top}") from None


def mixing_points(net: nn.Module, given: Optional[Sequence] = None, example: Optional[torch.Tensor] = None) -> tuple[str, ...]:
    """The mixing points of ``net``: ``"input"``, then module names in forward order.

    Args:
        net: any ``nn.Module`` (a MixableNet gives its declared points).
        given: module names (``"input"`` may be among them); when None or holding no name
            other than ``"input"`` (indices only), the points are found
            (:func:`~mixdiag.models.find_blocks.find_stages`).
        example: a batch ``net`` accepts, for the probe pass.

    Returns:
        The points, as :class:`HookedNet` takes them.
    """
    from .find_blocks import call_order
    from .taps import describe

    names = [p for p in (given or ()) if isinstance(p, str) and p != "input"]
    if isinstance(net, MixableNet) or not names:
        return describe(net, example=example).mixing_points
    for name in names:
        _module(net, name)
    return ("input", *call_order(net, names, example))


def as_mixable(net: nn.Module, points: Optional[Sequence[str]] = None) -> nn.Module:
    """``net`` itself when a MixableNet mixed at its own points (the fast path), else a :class:`HookedNet` at ``points``.

    Args:
        net: the network.
        points: the mixing points (:func:`mixing_points`); None: a MixableNet's own, or found.
    """
    if isinstance(net, MixableNet) and (points is None or tuple(points) == net.mixing_points):
        return net
    return HookedNet(net, mixing_points(net) if points is None else points)
