import pytest
import torch

from mixdiag.errors import MixdiagError
from mixdiag.models import PreActBlock, create_model, list_models

# (model, input shape of one sample): every registered model at the sizes mixdiag serves,
# 8x8 digits to 224x224 chest X-rays, and multi-lead ECG.
CASES = [
    (name, shape)
    for name in list_models("preact-resnet*")
    if "1d" not in name
    for shape in [(1, 8, 8), (1, 28, 28), (3, 32, 32), (1, 224, 224)]
] + [(name, shape) for name in list_models("preact-resnet1d*") for shape in [(8, 5000), (12, 1000)]]


def test_registry_lists_every_family():
    assert {"preact-resnet20", "preact-resnet32", "preact-resnet56", "preact-resnet18", "preact-resnet1d32", "preact-resnet1d18"} <= set(list_models())
    with pytest.raises(MixdiagError, match="unknown model"):
        create_model("resnet-nonexistent")


@pytest.mark.parametrize("name,shape", CASES, ids=[f"{n}-{'x'.join(map(str, s))}" for n, s in CASES])
def test_forward_and_declared_blocks(name, shape):
    model = create_model(name, in_channels=shape[0], num_classes=7, input_size=shape[1:]).eval()
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = model(x)
    assert logits.shape == (2, 7)
    assert torch.isfinite(logits).all()
    modules = dict(model.named_modules())
    # The declaration names real residual blocks, in the order the network runs them.
    assert all(isinstance(modules[b], PreActBlock) for b in model.block_names)
    order = [n for n, m in model.named_modules() if isinstance(m, PreActBlock)]
    assert list(model.block_names) == order
    assert model.mixing_points[0] == "input" and model.mixing_points[1:] == model.stage_names


@pytest.mark.parametrize("name", ["preact-resnet20", "preact-resnet1d18"])
def test_split_forward_equals_forward(name):
    shape = (1, 16, 16) if "1d" not in name else (3, 256)
    model = create_model(name, in_channels=shape[0], num_classes=4, input_size=shape[1:]).eval()
    x = torch.randn(3, *shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = model(x)
        for k in range(len(model.mixing_points)):
            torch.testing.assert_close(model.forward_from(k, model.forward_to(k, x)), ref)
        states, logits = model.forward_points(x, model.mixing_points)
        torch.testing.assert_close(logits, ref)
        for k in range(len(model.mixing_points)):
            torch.testing.assert_close(states[k], model.forward_to(k, x))


def test_stem_follows_input_size():
    assert create_model("preact-resnet32", in_channels=1, num_classes=2, input_size=(8, 8)).stem_kind == "cifar"
    assert create_model("preact-resnet32", in_channels=1, num_classes=2, input_size=(224, 224)).stem_kind == "imagenet"
    with pytest.raises(MixdiagError, match="does not match"):
        create_model("preact-resnet32", in_channels=1, num_classes=2, input_size=(5000,))


def test_unknown_mixing_point_is_named():
    model = create_model("preact-resnet20", in_channels=1, num_classes=2, input_size=(8, 8))
    with pytest.raises(MixdiagError, match="layer9"):
        model.point_index("layer9")
