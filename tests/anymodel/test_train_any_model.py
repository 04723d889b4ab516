"""`mixdiag train --model SPEC`: every method on a torchvision, a timm and a user's network, mixed
through forward hooks; the checkpoint rebuilds the network for `mixdiag.load` and `mixdiag eta2 --ckpt`."""

import json
import math
import sys

import pandas as pd
import pytest
import torch

import mixdiag
from cli_support import error_line, invoke, run_cli
from extras import require
from layout_fixtures import write_imagefolder
from mixdiag.mixing import list_methods
from mixdiag.models.external import build_model
from mixdiag.training.checkpoint import load_checkpoint

USER_NET = '''
from collections import OrderedDict

import torch.nn as nn


class ResidualBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)

    def forward(self, x):
        return x + self.bn(self.conv(x)).relu()


def build(num_classes, in_channels):
    return nn.Sequential(OrderedDict(
        stem=nn.Conv2d(in_channels, 8, 3, padding=1),
        stage1=nn.Sequential(ResidualBlock(8), ResidualBlock(8)),
        stage2=nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), ResidualBlock(16)),
        head=nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, num_classes)),
    ))
'''

# Three classes of 8 constant-colour images, decoded to 3x32x32.
DATA = {"dataset": "imagefolder", "dataset_options": {"image_size": 32}, "val_fraction": 0.25}
FAST = {"epochs": 1, "batch_size": 8, "device": "cpu", "quiet": True}
POINTS = {
    "torchvision:resnet18": ["input", "layer1", "layer2", "layer3", "layer4"],
    "timm:test_convnext": ["input", "stages.0", "stages.1", "stages.2", "stages.3"],
    "user": ["input", "stage1", "stage2"],
}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("anytrain")
    write_imagefolder(root / "images", per_class=8)
    (root / "nets.py").write_text(USER_NET)
    return root


def spec_of(name, data):
    require({"torchvision": "torchvision", "timm": "timm"}.get(name.partition(":")[0], "torch"))
    return f"{data / 'nets.py'}:build" if name == "user" else name


def settings(data, **more):
    options = {**DATA["dataset_options"], "cache_dir": str(data / "cache")}
    return {**DATA, "dataset_options": options, "data_dir": str(data / "images"), **FAST, **more}


@pytest.mark.parametrize("method", list_methods())
@pytest.mark.parametrize("name", list(POINTS))
def test_every_method_trains_any_network(data, tmp_path, name, method):
    spec = spec_of(name, data)
    run = mixdiag.train(out=tmp_path / "run", model=spec, method=method, **settings(data))
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["model_name"] == spec
    assert state["model_kwargs"] == {"num_classes": 3, "in_channels": 3, "mix_points": POINTS[name]}
    assert math.isfinite(state["history"][0]["train_loss"])
    loaded = mixdiag.load(run, device="cpu")
    assert type(loaded.model) is type(build_model(spec, num_classes=3, in_channels=3))
    for key, value in loaded.model.state_dict().items():
        assert torch.equal(value, state["model"][key]), key


def test_mix_points_given_by_module_names(data, tmp_path):
    spec = spec_of("torchvision:resnet18", data)
    run = mixdiag.train(out=tmp_path / "run", model=spec, method="flow", method_options={"points": ["layer3", "layer2"]},
                        **settings(data))
    assert load_checkpoint(run / "checkpoints" / "last.pt")["model_kwargs"]["mix_points"] == ["input", "layer2", "layer3"]


def test_unknown_mix_point_is_one_line(data, tmp_path):
    spec_of("torchvision:resnet18", data)
    outcome = invoke("train", "--model", "torchvision:resnet18", "--dataset", "imagefolder", "--data-dir", data / "images",
                     "--dataset-option", "image_size=32", "--dataset-option", f"cache_dir={data / 'cache'}", "--method", "flow",
                     "--mix-points", "layer9", "--epochs", "1", "--batch-size", "8", "--device", "cpu", "--out", tmp_path / "run")
    assert outcome.code == 1
    assert "mixing point 'layer9' is not a module of ResNet" in error_line(outcome)
    assert not (tmp_path / "run").exists()


def _train_cli(data, out, *args):
    return run_cli("train", "--model", "torchvision:resnet18", "--dataset", "imagefolder", "--data-dir", data / "images",
                   "--dataset-option", "image_size=32", "--dataset-option", f"cache_dir={data / 'cache'}", "--val-fraction", "0.25",
                   "--method", "flow", "--epochs", "1", "--batch-size", "8", "--device", "cpu", "--out", out, *args)


def test_init_loads_a_state_dict_strictly_or_reports_what_did_not_match(data, tmp_path):
    spec_of("torchvision:resnet18", data)
    model = build_model("torchvision:resnet18", num_classes=3, in_channels=3)
    torch.save(model.state_dict(), tmp_path / "init.pt")
    partial = {k: v for k, v in model.state_dict().items() if not k.startswith("fc.")}
    torch.save({**partial, "extra.weight": torch.zeros(1)}, tmp_path / "partial.pt")

    run = mixdiag.train(out=tmp_path / "exact", model="torchvision:resnet18", method="erm", init=str(tmp_path / "init.pt"),
                        **settings(data, epochs=1, lr=1e-12, momentum=0.0, weight_decay=0.0))
    trained = load_checkpoint(run / "checkpoints" / "last.pt")["model"]
    torch.testing.assert_close(trained["conv1.weight"], model.state_dict()["conv1.weight"])

    refused = _train_cli(data, tmp_path / "strict", "--init", tmp_path / "partial.pt")
    assert refused.code == 1 and not refused.traceback
    assert "missing keys: fc.weight, fc.bias; unexpected keys: extra.weight" in refused.stderr
    assert not (tmp_path / "strict").exists()

    loose = _train_cli(data, tmp_path / "loose", "--init", tmp_path / "partial.pt", "--init-strict", "false", "--quiet")
    assert loose.code == 0, loose.stderr
    warnings = [line for line in loose.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "missing keys: fc.weight, fc.bias; unexpected keys: extra.weight" in warnings[0]
    assert json.loads((tmp_path / "loose" / "config.json").read_text())["init_strict"] is False


def test_eta2_of_a_torchvision_run(data, tmp_path):
    spec_of("torchvision:resnet18", data)
    run = mixdiag.train(out=tmp_path / "run", model="torchvision:resnet18", method="flow", **settings(data))
    done = run_cli("eta2", "--ckpt", run, "--k", "2", "--split", "train", "--out", tmp_path / "eta2", "-q", "--device", "cpu")
    assert done.code == 0, done.stderr
    table = json.loads((tmp_path / "eta2" / "eta2.json").read_text())
    assert table["model"] == "torchvision:resnet18"
    modules = list(pd.read_csv(tmp_path / "eta2" / "eta2.csv")["module"])
    assert modules == [f"layer{s}.{b}" for s in range(1, 5) for b in range(2)] + ["output"]


@pytest.mark.parametrize("spec, extra", [("timm:resnet18", "timm"), ("torchvision:resnet18", "vision")])
def test_a_missing_extra_is_one_line_naming_it(monkeypatch, tmp_path, spec, extra):
    monkeypatch.setitem(sys.modules, spec.partition(":")[0], None)  # import fails as if not installed
    outcome = invoke("train", "--model", spec, "--dataset", "digits", "--epochs", "1", "--device", "cpu", "--out", tmp_path / "run")
    assert outcome.code == 1
    assert f'pip install -e ".[{extra}]"' in error_line(outcome)
    assert not (tmp_path / "run").exists()


def test_conflict_of_a_multilabel_torchvision_run(tmp_path):
    require("torchvision")
    run = mixdiag.train(out=tmp_path / "run", model="torchvision:resnet18", method="manifold", dataset="synthetic-multilabel",
                        dataset_options={"n_train": 96, "n_test": 48}, epochs=1, batch_size=32, device="cpu", quiet=True)
    done = run_cli("conflict", "--ckpt", run, "--out", tmp_path / "conflict", "--device", "cpu", "-q")
    assert done.code == 0, done.stderr
    table = pd.read_csv(tmp_path / "conflict" / "conflict.csv")
    assert {f"layer{s}.{b}" for s in range(1, 5) for b in range(2)} <= set(table["module"])
