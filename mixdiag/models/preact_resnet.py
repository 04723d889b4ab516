"""Pre-activation ResNets (He et al., 2016) for images (2-D) and multi-lead signals (1-D).

One implementation serves both: ``nd`` picks ``Conv1d``/``Conv2d`` and the matching
BatchNorm and pooling. Families:

* CIFAR-style, 3 stages of 16/32/64 channels with ``n`` basic blocks each:
  PreAct-ResNet-20/32/56 (n = 3/5/9), the networks of the Flow-Mixup paper.
* PreAct-ResNet-18: 4 stages of 64..512 channels, 2 blocks each.

The stem adapts to the input size: a 3x3 convolution for small inputs (8x8 digits up to
CIFAR's 32x32), the strided 7x7 convolution plus max-pool of ImageNet models from 96 pixels
on (224x224 chest X-rays), and a strided 15-tap convolution plus max-pool for 1-D signals
(thousands of samples per lead).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import MixdiagError
from ._base import MixableNet
from ._registry import register_model

_CONV = {1: nn.Conv1d, 2: nn.Conv2d}
_BN = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}
_MAXPOOL = {1: nn.MaxPool1d, 2: nn.MaxPool2d}
_AVGPOOL = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d}

# Inputs at least this large (pixels per side) get the downsampling ImageNet stem.
_LARGE_INPUT = 96


class PreActBlock(nn.Module):
    """BN-ReLU-conv-BN-ReLU-conv with an identity (or 1x1 projection) shortcut."""

    def __init__(self, nd: int, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        conv = _CONV[nd]
        self.bn1 = _BN[nd](in_planes)
        self.conv1 = conv(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = _BN[nd](planes)
        self.conv2 = conv(planes, planes, 3, stride=1, padding=1, bias=False)
        self.shortcut = None
        if stride != 1 or in_planes != planes:
            self.shortcut = conv(in_planes, planes, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        # The projection sees the pre-activated input, as in the pre-activation paper.
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActResNet(MixableNet):
    """A pre-activation ResNet whose stages are the mixing points and whose blocks are captured.

    Args:
        nd: 1 for signals ``(N, C, L)``, 2 for images ``(N, C, H, W)``.
        blocks_per_stage: number of residual blocks in each stage.
        widths: output channels of each stage; the first stage keeps the stem's resolution,
            each later stage halves it.
        in_channels: input channels (1 for grayscale, 3 for RGB, leads for ECG).
        num_classes: outputs (classes, or labels for multi-label data).
        input_size: spatial size of one sample, ``(H, W)`` or ``(L,)``; picks the stem.
    """

    def __init__(
        self,
        nd: int,
        blocks_per_stage: Sequence[int],
        widths: Sequence[int],
        in_channels: int = 3,
        num_classes: int = 10,
        input_size: Sequence[int] | int = 32,
    ):
        super().__init__()
        if nd not in (1, 2):
            raise MixdiagError(f"nd must be 1 or 2, got {nd}")
        if in_channels < 1 or num_classes < 1:
            raise MixdiagError("in_channels and num_classes must be positive")
        size = (input_size,) * nd if isinstance(input_size, int) else tuple(input_size)
        if len(size) != nd:
            raise MixdiagError(f"input_size {size} does not match a {nd}-D model")
        self.nd = nd
        conv = _CONV[nd]
        if nd == 1:
            self.stem_kind = "signal"
            self.stem = nn.Sequential(
                conv(in_channels, widths[0], 15, stride=2, padding=7, bias=False),
                _MAXPOOL[nd](3, stride=2, padding=1),
            )
        elif min(size) >= _LARGE_INPUT:
            self.stem_kind = "imagenet"
            self.stem = nn.Sequential(
                conv(in_channels, widths[0], 7, stride=2, padding=3, bias=False),
                _MAXPOOL[nd](3, stride=2, padding=1),
            )
        else:
            self.stem_kind = "cifar"
            self.stem = conv(in_channels, widths[0], 3, stride=1, padding=1, bias=False)
        stages, in_planes = [], widths[0]
        for i, (n, planes) in enumerate(zip(blocks_per_stage, widths)):
            stride = 1 if i == 0 else 2
            blocks = [PreActBlock(nd, in_planes, planes, stride)]
            blocks += [PreActBlock(nd, planes, planes, 1) for _ in range(n - 1)]
            stages.append(nn.Sequential(*blocks))
            in_planes = planes
        self._declare(stages)
        # Pre-activation nets end with the BN-ReLU the last block did not apply.
        self.head = nn.Sequential(
            _BN[nd](in_planes), nn.ReLU(), _AVGPOOL[nd](1), nn.Flatten(), nn.Linear(in_planes, num_classes)
        )
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.Conv2d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


def _cifar_family(depth: int, nd: int, **kwargs) -> PreActResNet:
    n = (depth - 2) // 6
    return PreActResNet(nd, [n, n, n], [16, 32, 64], **kwargs)


def _resnet18(nd: int, **kwargs) -> PreActResNet:
    return PreActResNet(nd, [2, 2, 2, 2], [64, 128, 256, 512], **kwargs)


@register_model("preact-resnet20")
def preact_resnet20(**kwargs) -> PreActResNet:
    """PreAct-ResNet-20: 3 stages (16/32/64 channels) of 3 blocks."""
    return _cifar_family(20, 2, **kwargs)


@register_model("preact-resnet32")
def preact_resnet32(**kwargs) -> PreActResNet:
    """PreAct-ResNet-32: 3 stages (16/32/64 channels) of 5 blocks; the paper's network."""
    return _cifar_family(32, 2, **kwargs)


@register_model("preact-resnet56")
def preact_resnet56(**kwargs) -> PreActResNet:
    """PreAct-ResNet-56: 3 stages (16/32/64 channels) of 9 blocks."""
    return _cifar_family(56, 2, **kwargs)


@register_model("preact-resnet18")
def preact_resnet18(**kwargs) -> PreActResNet:
    """PreAct-ResNet-18: 4 stages (64..512 channels) of 2 blocks."""
    return _resnet18(2, **kwargs)


@register_model("preact-resnet1d32")
def preact_resnet1d32(**kwargs) -> PreActResNet:
    """1-D PreAct-ResNet-32 for multi-lead signals: 3 stages (16/32/64 channels) of 5 blocks."""
    return _cifar_family(32, 1, **kwargs)


@register_model("preact-resnet1d18")
def preact_resnet1d18(**kwargs) -> PreActResNet:
    """1-D PreAct-ResNet-18 for multi-lead signals: 4 stages (64..512 channels) of 2 blocks."""
    return _resnet18(1, **kwargs)
