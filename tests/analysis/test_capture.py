import numpy as np
import pytest
import torch

from mixdiag.analysis.capture import FeatureCapture, hidden_states
from mixdiag.errors import MixdiagError


def captured(model, x, transform, **options):
    with FeatureCapture(model, x, transform, **options) as batches:
        out = [{k: v.numpy().copy() for k, v in feats.items()} for feats in batches]
    return {k: np.concatenate([b[k] for b in out]) for k in out[0]}


def all_hooks(model):
    return [h for m in model.modules() for h in (*m._forward_hooks.values(), *m._forward_pre_hooks.values())]


def test_captures_every_hidden_state_unaltered_by_later_inplace_ops(net, digits):
    x, _, transform = digits
    feats = captured(net, x, transform, batch_size=100)
    ref = net.reference(transform(x))
    assert list(feats) == ["layers.0", "layers.1", "layers.2", "layers.3", "output"]
    for name, values in feats.items():
        assert values.dtype == np.float32 and values.shape == ref[name].shape
        np.testing.assert_array_equal(values, ref[name].astype(np.float32))
    # layers.1 is followed by relu_() on its own output: the capture kept the negatives.
    assert (feats["layers.1"] < 0).any()


def test_pooled_averages_spatial_positions(net, digits):
    x, _, transform = digits
    feats = captured(net, x[:50], transform, names=["layers.1", "output"], pooled=True)
    full = net.reference(transform(x[:50]))["layers.1"].reshape(50, 2, 64)
    np.testing.assert_allclose(feats["layers.1"], full.mean(axis=2), rtol=1e-6, atol=1e-7)
    assert feats["output"].shape == (50, 10)


def test_subset_in_network_order_and_stops_after_the_last_block(net, digits):
    x, _, transform = digits
    assert hidden_states(net, ["output", "layers.2"]) == ("layers.2", "output")
    feats = captured(net, x[:20], transform, names=["layers.0"], batch_size=10)
    assert list(feats) == ["layers.0"]
    assert net.layers[1].calls == 0  # the rest of the network never ran
    with pytest.raises(MixdiagError, match="unknown hidden state 'layer9.0'"):
        FeatureCapture(net, x, transform, names=["layer9.0"])
    with pytest.raises(MixdiagError, match="no hidden states selected"):
        FeatureCapture(net, x, transform, names=[])


def test_hooks_removed_and_modes_restored_after_normal_exit(net, digits):
    x, _, transform = digits
    net.train()
    net.layers[0].eval()  # a mixed state must come back as it was, not as all-train
    captured(net, x[:10], transform)
    assert all_hooks(net) == []
    assert net.training and not net.layers[0].training and net.layers[1].training


def test_hooks_removed_and_modes_restored_after_an_error(net, digits):
    x, _, transform = digits
    net.train()

    def fail(_):
        raise ValueError("boom")

    net.layers[3].fn = fail  # the forward pass raises inside the capture
    with pytest.raises(ValueError, match="boom"):
        captured(net, x[:10], transform)
    assert all_hooks(net) == [] and all(m.training for m in net.modules())

    net.layers[3].fn = torch.tanh
    with pytest.raises(KeyError):  # the caller's own code raises between batches
        with FeatureCapture(net, x[:10], transform) as batches:
            for _ in batches:
                raise KeyError("caller")
    assert all_hooks(net) == [] and all(m.training for m in net.modules())


def test_runs_in_eval_mode_without_autograd(make_net, digits, blocks):
    x, _, transform = digits
    seen = []
    model = make_net(blocks["Fn"](lambda h: seen.append((torch.is_grad_enabled(), torch.is_inference_mode_enabled())) or h))
    model.train()
    modes = []
    model.register_forward_pre_hook(lambda m, _: modes.append(m.training))
    with FeatureCapture(model, x[:4], transform) as batches:
        for _ in batches:
            assert not torch.is_inference_mode_enabled()  # the caller's code runs normally
    assert seen == [(False, True)] and modes == [False]


def test_iterating_outside_the_with_block_is_refused(net, digits):
    x, _, transform = digits
    with pytest.raises(RuntimeError, match="inside its `with` block"):
        next(iter(FeatureCapture(net, x, transform)))


def test_consume_hands_over_each_hidden_state_as_the_pass_makes_it(net, digits):
    x, _, transform = digits
    ref = captured(net, x[:230], transform, batch_size=100)
    seen, order = {}, []

    def consume(name, features):
        # Read at once: layers.1's output is changed in place by the relu_() after it.
        order.append(name)
        seen.setdefault(name, []).append(features.numpy().copy())

    with FeatureCapture(net, x[:230], transform, batch_size=100, consume=consume) as batches:
        assert list(batches) == [100, 100, 30]
    assert order[:5] == list(ref)  # network order, the output last
    for name, values in seen.items():
        np.testing.assert_array_equal(np.concatenate(values), ref[name])
