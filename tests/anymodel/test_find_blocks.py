"""find_blocks finds the residual blocks of real torchvision and timm networks (random init, small probe inputs) in forward order."""

import pytest
import torch
from torch import nn

from extras import require
from mixdiag import find_blocks
from mixdiag.errors import MixdiagError
from mixdiag.models import create_model
from mixdiag.models.taps import describe

tv = require("torchvision").models
X32 = torch.zeros(1, 3, 32, 32)


def stages(counts, prefix="layer"):
    return [f"{prefix}{s}.{b}" for s, n in enumerate(counts, start=1) for b in range(n)]


RESNET50_BLOCKS = stages([3, 4, 6, 3])


@pytest.mark.parametrize("build,expected", [
    (tv.resnet18, stages([2, 2, 2, 2])),
    (tv.resnet50, RESNET50_BLOCKS),
    (tv.wide_resnet50_2, RESNET50_BLOCKS),
    (tv.resnext50_32x4d, RESNET50_BLOCKS),
], ids=["resnet18", "resnet50", "wide_resnet50_2", "resnext50_32x4d"])
def test_torchvision_resnets(build, expected):
    assert find_blocks(build(weights=None), X32) == expected


def test_torchvision_resnet18_without_an_example_uses_224():
    assert len(find_blocks(tv.resnet18(weights=None))) == 8


def test_torchvision_mobilenet_v2_only_blocks_with_a_skip():
    model = tv.mobilenet_v2(weights=None)
    found = find_blocks(model, X32)
    with_skip = [name for name, m in model.named_modules() if getattr(m, "use_res_connect", False)]
    assert found == with_skip == [f"features.{i}" for i in (3, 5, 6, 8, 9, 10, 12, 13, 15, 16)]


def test_torchvision_convnext_tiny():
    found = find_blocks(tv.convnext_tiny(weights=None), X32)
    assert found == [f"features.{s}.{b}" for s, n in zip((1, 3, 5, 7), (3, 3, 9, 3)) for b in range(n)]


def test_torchvision_vit_b_16_encoder_layers():
    found = find_blocks(tv.vit_b_16(weights=None, image_size=32), X32)
    assert found == [f"encoder.layers.encoder_layer_{i}" for i in range(12)]


timm_cases = [
    ("resnet18", {}, stages([2, 2, 2, 2])),
    ("resnet50", {}, RESNET50_BLOCKS),
    ("wide_resnet50_2", {}, RESNET50_BLOCKS),
    ("resnext50_32x4d", {}, RESNET50_BLOCKS),
    ("mobilenetv2_100", {}, [f"blocks.{s}.{b}" for s, n in ((1, 2), (2, 3), (3, 4), (4, 3), (5, 3)) for b in range(1, n)]),
    ("convnext_atto", {}, [f"stages.{s}.blocks.{b}" for s, n in enumerate((2, 2, 6, 2)) for b in range(n)]),
    ("vit_tiny_patch16_224", {"img_size": 32}, [f"blocks.{i}" for i in range(12)]),
]


@pytest.mark.parametrize("name,options,expected", timm_cases, ids=[c[0] for c in timm_cases])
def test_timm_families(name, options, expected):
    timm = require("timm")
    assert find_blocks(timm.create_model(name, pretrained=False, **options), X32) == expected


def test_timm_probe_input_from_pretrained_cfg():
    timm = require("timm")
    model = timm.create_model("resnet18", pretrained=False)
    model.pretrained_cfg = {**model.pretrained_cfg, "input_size": (3, 40, 40)}
    shapes = []
    model.layer1[0].register_forward_hook(lambda m, i, o: shapes.append(tuple(i[0].shape)))
    find_blocks(model)
    assert shapes == [(1, 64, 10, 10)]  # 40 / (stride 2 · max-pool 2)


def test_mixdiag_models_give_their_declared_blocks_unchanged():
    model = create_model("preact-resnet20", in_channels=1, num_classes=10, input_size=(8, 8))
    assert find_blocks(model) == list(model.block_names)
    taps = describe(model)
    assert taps.blocks == model.block_names and taps.mixing_points == model.mixing_points and taps.source == "declared"


class Residual(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.body = nn.Linear(width, width)

    def forward(self, x):
        return x + self.body(x)


class SEBlock(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.gate = nn.Linear(width, width)

    def forward(self, x):
        return x * torch.sigmoid(self.gate(x))


class OutOfOrder(nn.Module):
    """Blocks registered in one order and run in another, one holding a shape-keeping SEBlock."""

    def __init__(self):
        super().__init__()
        self.late = Residual(4)
        self.early = Residual(4)
        self.early.se = SEBlock(4)
        self.output = nn.Linear(4, 2)

    def forward(self, x):
        return self.output(self.late(self.early.se(self.early(x))))


def test_forward_order_outermost_blocks_and_the_output_name_kept_apart():
    model = OutOfOrder()
    example = torch.zeros(1, 4)
    assert find_blocks(model, example) == ["early", "late"]
    taps = describe(model, example=example)
    # A submodule is called "output": the model output takes another name.
    assert taps.output == "<output>" and taps.names == ("early", "late", "<output>")
    assert describe(model, blocks=["l*", "early"], example=example).blocks == ("early", "late")


def test_a_model_without_blocks_gets_an_error_that_says_how_to_name_them():
    with pytest.raises(MixdiagError, match=r"found no residual block in Sequential.*blocks=\['layer1\.\*'.*--blocks"):
        find_blocks(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), torch.zeros(1, 4))


def test_a_probe_input_the_model_refuses_is_a_clear_error():
    with pytest.raises(MixdiagError, match=r"probe pass of ResNet on an input of shape \(1, 5, 32, 32\) failed.*pass example="):
        find_blocks(tv.resnet18(weights=None), torch.zeros(1, 5, 32, 32))


def test_patterns_match_one_name_part_per_star_and_must_match_something():
    model = tv.resnet18(weights=None)
    assert describe(model, blocks=["layer2.*", "layer4.1"], example=X32).blocks == ("layer2.0", "layer2.1", "layer4.1")
    assert describe(model, blocks=["layer1.0.conv*"], example=X32).blocks == ("layer1.0.conv1", "layer1.0.conv2")
    with pytest.raises(MixdiagError, match=r"block pattern 'layer5\.\*' matches no module of ResNet.*top-level modules are: conv1"):
        describe(model, blocks=["layer5.*"], example=X32)
