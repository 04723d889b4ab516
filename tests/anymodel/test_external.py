"""Networks trained elsewhere: built from a spec for the data's classes and channels, weights loaded strictly."""

import sys

import pytest
import torch
from torch import nn

from extras import require
from mixdiag.errors import MixdiagError
from mixdiag.models.external import build_model, load_weights

FACTORY = '''
import torch.nn as nn

def small(num_classes, in_channels=3):
    return nn.Sequential(nn.Conv2d(in_channels, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, num_classes))

def classes_only(num_classes):
    return nn.Linear(2, num_classes)

def not_a_module(**kwargs):
    return "a string"
'''


def test_torchvision_model_gets_a_new_first_convolution_for_one_channel():
    require("torchvision")
    model = build_model("torchvision:resnet18", num_classes=7, in_channels=1)
    assert model.conv1.in_channels == 1 and model.conv1.weight.shape == (64, 1, 7, 7)
    assert (model.conv1.stride, model.conv1.padding, model.conv1.bias) == ((2, 2), (3, 3), None)
    assert model.fc.out_features == 7
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 7)
    vit = build_model("torchvision:vit_b_16", num_classes=3, in_channels=2)
    assert vit.conv_proj.weight.shape == (768, 2, 16, 16)


def test_timm_model_takes_in_chans():
    require("timm")
    model = build_model("timm:resnet18", num_classes=4, in_channels=1)
    assert model.conv1.weight.shape[1] == 1 and model.fc.out_features == 4


def test_user_factory_from_a_file_gets_the_keywords_it_accepts(tmp_path):
    path = tmp_path / "nets.py"
    path.write_text(FACTORY)
    model = build_model(f"{path}:small", num_classes=5, in_channels=2)
    assert model[0].in_channels == 2 and model[-1].out_features == 5
    assert build_model(f"{path}:classes_only", num_classes=6, in_channels=2).out_features == 6
    with pytest.raises(MixdiagError, match="returned a str, not a torch.nn.Module"):
        build_model(f"{path}:not_a_module", num_classes=2)
    with pytest.raises(MixdiagError, match="has no function 'missing'"):
        build_model(f"{path}:missing", num_classes=2)


def test_user_factory_from_an_importable_module(tmp_path, monkeypatch):
    (tmp_path / "user_nets_for_test.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert build_model("user_nets_for_test:small", num_classes=3)[-1].out_features == 3


@pytest.mark.parametrize("spec,needle", [
    ("resnet18", "is not torchvision:<name>"),
    ("torchvision:no_such_net", "torchvision has no model 'no_such_net'"),
    ("timm:no_such_net", "timm has no model 'no_such_net'"),
    ("no_such_package_xyz:fn", "cannot import no_such_package_xyz"),
])
def test_bad_specs_say_what_is_wrong(spec, needle):
    require("torchvision")
    require("timm")
    with pytest.raises(MixdiagError, match=needle):
        build_model(spec, num_classes=2)


@pytest.mark.parametrize("package,extra", [("torchvision", "vision"), ("timm", "timm")])
def test_a_missing_extra_names_the_pip_command(monkeypatch, package, extra):
    monkeypatch.setitem(sys.modules, package, None)  # import now raises ImportError, as when it is not installed
    with pytest.raises(MixdiagError, match=rf'needs {package}, which is not installed: pip install -e "\.\[{extra}\]"'):
        build_model(f"{package}:resnet18", num_classes=2)


def small_net(out=3):
    return nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, out))


def test_load_weights_strict_lists_missing_unexpected_and_misshaped_keys(tmp_path):
    path = tmp_path / "w.pt"
    state = small_net().state_dict()
    state["extra.weight"] = torch.zeros(1)
    del state["0.bias"]
    state["2.weight"] = torch.zeros(9, 5)
    torch.save(state, path)
    with pytest.raises(MixdiagError) as info:
        load_weights(small_net(), path)
    message = str(info.value)
    assert "missing keys: 0.bias" in message and "unexpected keys: extra.weight" in message
    assert "keys of another shape: 2.weight" in message and "--no-strict" in message and "\n" not in message
    model = small_net()
    before = model[2].weight.clone()
    load_weights(model, path, strict=False)
    assert torch.equal(model[0].weight, state["0.weight"]) and torch.equal(model[2].weight, before)


def test_load_weights_reads_a_state_dict_or_a_checkpoint_holding_one(tmp_path):
    source = small_net()
    torch.save({"state_dict": source.state_dict(), "epoch": 3}, tmp_path / "ckpt.pt")
    model = load_weights(small_net(), tmp_path / "ckpt.pt")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), source.state_dict().values()))


def test_load_weights_refuses_what_is_not_a_state_dict(tmp_path):
    with pytest.raises(MixdiagError, match="does not exist"):
        load_weights(small_net(), tmp_path / "absent.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(MixdiagError, match="cannot be read as a state dict with weights_only=True"):
        load_weights(small_net(), tmp_path / "junk.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(MixdiagError, match="holds a list, not a state dict"):
        load_weights(small_net(), tmp_path / "list.pt")
