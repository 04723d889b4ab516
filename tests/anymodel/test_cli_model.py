"""`mixdiag eta2/conflict --model SPEC --weights W.pt --dataset NAME`: the same outputs as for a mixdiag run."""

import hashlib
import json

import pandas as pd
import pytest
import torch

from cli_support import error_line, invoke, run_cli
from extras import require, seeded
from mixdiag.models.external import build_model

SMALL = ["--k", "4", "--sample-size", "200", "--limit", "300", "--device", "cpu"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A ResNet-18 state dict for the 1-channel, 10-class digits (a new first convolution), and one for 3 channels."""
    require("torchvision")
    root = tmp_path_factory.mktemp("weights")
    for name, channels in (("digits", 1), ("rgb", 3)):
        model = seeded(lambda: build_model("torchvision:resnet18", num_classes=10, in_channels=channels), 0)
        torch.save(model.state_dict(), root / f"{name}.pt")
    return root


def test_eta2_of_a_torchvision_model_end_to_end(weights, tmp_path):
    out = tmp_path / "eta2"
    done = run_cli("eta2", "--model", "torchvision:resnet18", "--weights", weights / "digits.pt", "--dataset", "digits",
                   "--out", out, "-q", *SMALL)
    assert done.code == 0, done.stderr
    assert {p.name for p in out.iterdir()} == {"eta2.csv", "eta2.json", "eta2.png"}
    table = pd.read_csv(out / "eta2.csv")
    assert list(table["module"]) == [f"layer{s}.{b}" for s in range(1, 5) for b in range(2)] + ["output"]
    assert set(table["n"]) == {300} and table["eta2"].between(0, 1).all()
    settings = json.loads((out / "eta2.json").read_text())
    assert settings["model_source"] == "torchvision:resnet18" and settings["dataset"] == "digits"
    assert settings["weights_sha256"] == hashlib.sha256((weights / "digits.pt").read_bytes()).hexdigest()
    assert settings["blocks_from"] == "found"
    assert "layer4.1" in done.stdout


def test_blocks_and_default_output_directory(weights, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    done = invoke("eta2", "--model", "torchvision:resnet18", "--weights", weights / "digits.pt", "--blocks", "layer3.*",
                  "--blocks", "layer4.1", "--pooled", "-q", *SMALL)
    assert done.code == 0, done.stderr
    table = pd.read_csv(tmp_path / "runs" / "digits-digits" / "eta2-train" / "eta2.csv")
    assert list(table["module"]) == ["layer3.0", "layer3.1", "layer4.1", "output"]


def test_conflict_of_a_torchvision_model(tmp_path):
    require("torchvision")
    out = tmp_path / "conflict"
    done = invoke("conflict", "--model", "torchvision:resnet18", "--dataset", "synthetic-multilabel", "--dataset-option", "n_train=200",
                  "--dataset-option", "n_test=20", "--pairs", "1", "--null", "3", "--blocks", "layer4.*", "--device", "cpu",
                  "--out", out, "-q")
    assert done.code == 0, done.stderr
    settings = json.loads((out / "conflict.json").read_text())
    assert settings["model_source"] == "torchvision:resnet18" and settings["weights_sha256"] is None
    assert list(pd.read_csv(out / "conflict.csv")["module"]) == ["layer4.0", "layer4.1", "output"]


@pytest.mark.parametrize("args,needle", [
    (["--model", "torchvision:resnet18", "--ckpt", "{w}/digits.pt"], "either --ckpt (a mixdiag run) or --model"),
    ([], "either --ckpt (a mixdiag run) or --model"),
    (["--model", "torchvision:resnet18", "--weights", "{w}/rgb.pt"], "keys of another shape: conv1.weight"),
    (["--model", "torchvision:resnet18", "--weights", "{w}/absent.pt"], "absent.pt does not exist"),
    (["--model", "torchvision:resnet18", "--blocks", "layer9.*"], "block pattern 'layer9.*' matches no module of ResNet"),
    (["--model", "torchvision:no_such_net"], "torchvision has no model 'no_such_net'"),
    (["--model", "resnet18"], "is not torchvision:<name>, timm:<name> or module:function"),
], ids=["both", "neither", "weights-shape", "weights-absent", "pattern", "unknown-model", "bad-spec"])
def test_bad_input_is_one_line(weights, tmp_path, args, needle):
    done = invoke("eta2", *[a.format(w=weights) for a in args], "--out", tmp_path / "out", *SMALL)
    assert done.code == 1
    assert needle in error_line(done)
    assert not (tmp_path / "out").exists()


def test_data_options_without_model_are_refused(tiny_runs, tmp_path):
    done = invoke("eta2", "--ckpt", tiny_runs["erm"], "--dataset", "digits", "--out", tmp_path / "out")
    assert done.code == 1 and "--dataset goes with --model" in error_line(done)
