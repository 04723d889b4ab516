"""What a tap reads: tensors of any rank, pooled over the right axes; tuple and dict outputs; replacements."""

import numpy as np
import pytest
import torch
from torch import nn

from extras import require
from mixdiag.analysis.capture import FeatureCapture
from mixdiag.errors import MixdiagError
from mixdiag.models.hooks import TapRunner, features, model_output
from mixdiag.models.taps import describe


def test_features_flatten_and_pool_channels_first_and_channels_last():
    t = torch.arange(2 * 3 * 4 * 5, dtype=torch.float64).reshape(2, 3, 4, 5)
    assert features(t).shape == (2, 60) and features(t).dtype == torch.float32
    np.testing.assert_allclose(features(t, pooled=True), t.mean(dim=(2, 3)).float())  # (B, C, H, W) → (B, C)
    signal = t[:, :, 0]  # (B, C, L)
    np.testing.assert_allclose(features(signal, pooled=True), signal.mean(dim=2).float())
    tokens = t[:, 0]  # (B, T, C) = (2, 4, 5): average over the 4 tokens
    np.testing.assert_allclose(features(tokens, pooled=True, channels_last=True), tokens.mean(dim=1).float())
    assert features(t, pooled=True, channels_last=True).shape == (2, 5)  # (B, H, W, C) → (B, C)


def test_a_copy_not_a_view():
    t = torch.ones(2, 3)
    out = features(t)
    t.zero_()
    assert out.sum() == 6


def test_vit_tokens_are_read_channels_last():
    tv = require("torchvision").models
    model = tv.vit_b_16(weights=None, image_size=32, num_classes=3)
    x = torch.randn(2, 3, 32, 32)
    taps = describe(model, example=x[:1])
    assert set(taps.channels_last) == set(taps.blocks)
    with FeatureCapture(model, x, names=["encoder.layers.encoder_layer_0"], pooled=True, taps=taps) as batches:
        pooled = next(iter(batches))["encoder.layers.encoder_layer_0"]
    assert pooled.shape == (2, 768)  # the hidden size, averaged over the 1 + 4 tokens


class TupleBlock(nn.Module):
    def forward(self, x):
        return x + 1, {"aux": x}


class DictNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = TupleBlock()
        self.head = nn.Linear(3, 2)

    def forward(self, x):
        h, _ = self.block(x)
        return {"features": h, "logits": self.head(h)}


def test_tuple_block_gives_its_first_tensor_and_a_dict_output_its_logits():
    model = DictNet()
    x = torch.randn(4, 3)
    taps = describe(model, blocks=["block"], example=x[:1])
    with FeatureCapture(model, x, taps=taps) as batches:
        feats = next(iter(batches))
    np.testing.assert_allclose(feats["block"], x + 1)
    np.testing.assert_allclose(feats["output"], model(x)["logits"].detach())


def test_model_output_rules():
    logits = torch.ones(2, 3)
    assert model_output((logits, torch.zeros(2))) is logits
    assert model_output({"aux": torch.zeros(1), "logits": logits}) is logits
    assert model_output({"aux": logits}) is logits
    with pytest.raises(MixdiagError, match="no tensor in it"):
        model_output(("text",))


def test_runner_replacement_continues_the_forward_pass_and_hooks_go_away():
    model = DictNet()
    x = torch.randn(4, 3)
    with TapRunner(model, ["block"], lambda name, t: torch.zeros_like(t)) as runner:
        out = runner.run(x)
        plain = model(x)  # the caller's own pass is not touched
    np.testing.assert_allclose(out["logits"].detach(), model.head(torch.zeros(4, 3)).detach())
    assert not torch.equal(plain["logits"], out["logits"])
    assert not model.block._forward_hooks


def test_a_block_that_runs_twice_is_refused():
    block = nn.Linear(3, 3)
    model = nn.Sequential(block, block)
    with TapRunner(model, ["0"], lambda name, t: None) as runner:
        with pytest.raises(MixdiagError, match="ran twice"):
            runner.run(torch.zeros(1, 3))
