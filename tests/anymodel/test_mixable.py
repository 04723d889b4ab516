"""Mixing on any network: the hook path gives the fast path's loss and gradients, and mixing at a
hidden state of a torchvision ResNet is the hand-written split forward pass."""

import pytest
import torch
import torch.nn.functional as F

from extras import require, seeded
from mixdiag.errors import MixdiagError
from mixdiag.mixing import MixParams, as_targets, create_method, criterion_for, list_methods
from mixdiag.models import create_model
from mixdiag.models.find_blocks import find_blocks, find_stages
from mixdiag.models.mixable import HookedNet, as_mixable, mixing_points

N = 8


def params(lam=0.35, point=None):
    return MixParams(lam=torch.as_tensor(lam), perm=torch.randperm(N, generator=torch.Generator().manual_seed(3)), point=point)


def loss_and_grads(model, method, x, t, p):
    model.zero_grad(set_to_none=True)
    loss = method.loss_with(model, x, t, criterion_for(False), p)
    loss.backward()
    return loss.detach(), {n: q.grad.clone() for n, q in model.named_parameters() if q.grad is not None}


def batch(channels, size, classes=5):
    g = torch.Generator().manual_seed(0)
    return torch.randn(N, channels, size, size, generator=g), as_targets(torch.randint(0, classes, (N,), generator=g), classes)


CASES = [("erm", {}, None), ("mixup", {}, None), ("flow", {}, None), ("flow", {"beta": 0.5, "weights": [1, 0, 2, 1]}, None),
         ("flow-consistency", {}, None)] + [("manifold", {}, k) for k in range(4)]


@pytest.mark.parametrize("name, options, point", CASES)
def test_hook_path_gives_the_split_forwards_loss_and_gradients(name, options, point):
    """A PreAct-ResNet run through forward hooks (HookedNet) and through its own split forwards."""
    net = create_model("preact-resnet20", in_channels=1, num_classes=5, input_size=(8, 8))
    x, t = batch(1, 8)
    hooked = HookedNet(net, net.mixing_points)
    method = create_method(name, **options)
    fast_loss, fast_grads = loss_and_grads(net, method, x, t, params(point=point))
    hook_loss, hook_grads = loss_and_grads(hooked, method, x, t, params(point=point))
    torch.testing.assert_close(hook_loss, fast_loss, rtol=1e-6, atol=1e-7)
    assert fast_grads.keys() == {n.removeprefix("net.") for n in hook_grads}
    for n, g in hook_grads.items():
        torch.testing.assert_close(g, fast_grads[n.removeprefix("net.")], rtol=1e-5, atol=1e-6)


def test_every_method_on_a_mixable_net_needs_no_wrapper():
    net = create_model("preact-resnet20", in_channels=1, num_classes=5, input_size=(8, 8))
    assert as_mixable(net) is net
    assert isinstance(as_mixable(net, ("input", "layer2")), HookedNet)
    assert set(list_methods()) == {name for name, _, _ in CASES}


def _resnet18():
    tv = require("torchvision")
    return seeded(lambda: tv.models.resnet18(num_classes=5), 0)


def test_torchvision_resnet_mixes_at_its_stage_outputs():
    model = _resnet18()
    x, _ = batch(3, 32)
    assert find_stages(model, find_blocks(model, x[:1])) == ["layer1", "layer2", "layer3", "layer4"]
    assert mixing_points(model, example=x[:1]) == ("input", "layer1", "layer2", "layer3", "layer4")
    assert mixing_points(model, ["layer3", "layer2.1"], x[:1]) == ("input", "layer2.1", "layer3")
    with pytest.raises(MixdiagError, match="not a module of ResNet; its top-level modules are: conv1"):
        mixing_points(model, ["layer9"], x[:1])


def _hand_written(model, x, p):
    """ResNet.forward written out, with the output of layer2 mixed."""
    h = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    h = p.mix(model.layer2(model.layer1(h)))
    h = model.layer4(model.layer3(h))
    return model.fc(torch.flatten(model.avgpool(h), 1))


def test_mixing_a_torchvision_hidden_state_is_the_hand_written_forward_pass():
    model = _resnet18()
    x, t = batch(3, 32)
    hooked = HookedNet(model, ("input", "layer1", "layer2", "layer3", "layer4"))
    p = params(point=2)
    got, got_grads = loss_and_grads(hooked, create_method("manifold"), x, t, p)
    model.zero_grad(set_to_none=True)
    expected = -(p.mix(t) * F.log_softmax(_hand_written(model, x, p), dim=1)).sum(dim=1).mean()
    expected.backward()
    torch.testing.assert_close(got, expected.detach(), rtol=0, atol=0)
    for name, q in model.named_parameters():
        torch.testing.assert_close(got_grads[f"net.{name}"], q.grad, rtol=0, atol=0)


def test_timm_stages_come_from_its_feature_info():
    timm = require("timm")
    model = seeded(lambda: timm.create_model("resnet18", pretrained=False, num_classes=3), 0)
    x, _ = batch(3, 32)
    assert mixing_points(model, example=x[:1]) == ("input", "layer1", "layer2", "layer3", "layer4")


def test_blocks_of_one_parent_are_each_a_mixing_point():
    tv, timm = require("torchvision"), require("timm")
    x = torch.zeros(1, 3, 32, 32)
    mobilenet = seeded(lambda: tv.models.mobilenet_v2(num_classes=3), 0)
    assert mixing_points(mobilenet, example=x) == ("input", *find_blocks(mobilenet, x))
    vit = seeded(lambda: timm.create_model("test_vit", pretrained=False, num_classes=3), 0)
    example = torch.zeros(1, *vit.pretrained_cfg["input_size"])
    assert mixing_points(vit, example=example) == ("input", *(f"blocks.{i}" for i in range(len(vit.blocks))))
