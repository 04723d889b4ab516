import pytest
import torch

from mixdiag.errors import MixdiagError
from mixdiag.mixing import MixParams, MixRandom, as_targets, create_method, criterion_for, list_methods
from mixdiag.models import create_model


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    model = create_model("preact-resnet20", in_channels=1, num_classes=5, input_size=(8, 8))
    x = torch.randn(12, 1, 8, 8, generator=g)
    y = torch.randint(0, 5, (12,), generator=g)
    return model, x, as_targets(y, 5)


def params(lam, n=12, seed=3, point=None):
    return MixParams(lam=torch.as_tensor(lam), perm=torch.randperm(n, generator=torch.Generator().manual_seed(seed)), point=point)


def test_registry():
    assert list_methods() == ["erm", "flow", "flow-consistency", "manifold", "mixup"]
    with pytest.raises(MixdiagError, match="does not take gamma"):
        create_method("mixup", gamma=1.0)
    with pytest.raises(MixdiagError, match="alpha must be positive"):
        create_method("mixup", alpha=0.0)


def test_mixup_with_lambda_one_equals_erm(batch):
    model, x, t = batch
    crit = criterion_for(False)
    erm = create_method("erm").loss_with(model, x, t, crit, params(1.0))
    mix = create_method("mixup").loss_with(model, x, t, crit, params(1.0))
    assert torch.equal(erm, mix)


def test_manifold_at_input_equals_mixup(batch):
    model, x, t = batch
    crit = criterion_for(False)
    mix = create_method("mixup").loss_with(model, x, t, crit, params(0.3))
    man = create_method("manifold").loss_with(model, x, t, crit, params(0.3, point=0))
    torch.testing.assert_close(man, mix, rtol=0, atol=0)


@pytest.mark.parametrize("per_sample", [False, True])
def test_flow_equals_mean_of_manifold_losses(batch, per_sample):
    model, x, t = batch
    crit = criterion_for(False)
    lam = torch.linspace(0.1, 0.9, 12) if per_sample else 0.35
    flow = create_method("flow").loss_with(model, x, t, crit, params(lam))
    manifold = create_method("manifold")
    per_point = [manifold.loss_with(model, x, t, crit, params(lam, point=k)) for k in range(len(model.mixing_points))]
    torch.testing.assert_close(flow, torch.stack(per_point).mean(), rtol=1e-6, atol=1e-7)


def test_flow_weights_and_clean_loss(batch):
    model, x, t = batch
    crit = criterion_for(False)
    manifold = create_method("manifold")
    per_point = torch.stack([manifold.loss_with(model, x, t, crit, params(0.6, point=k)) for k in range(4)])
    clean = create_method("erm").loss_with(model, x, t, crit, params(1.0))
    w = [1.0, 0.0, 2.0, 1.0]
    flow = create_method("flow", weights=w, beta=0.5).loss_with(model, x, t, crit, params(0.6))
    expected = (torch.tensor(w) * per_point).sum() / sum(w) + 0.5 * clean
    torch.testing.assert_close(flow, expected, rtol=1e-6, atol=1e-7)
    with pytest.raises(MixdiagError, match="one per point"):
        create_method("flow", weights=[1.0, 1.0]).loss_with(model, x, t, crit, params(0.6))


def test_flow_consistency_with_lambda_one_is_erm(batch):
    model, x, t = batch
    crit = criterion_for(False)
    erm = create_method("erm").loss_with(model, x, t, crit, params(1.0))
    fc = create_method("flow-consistency", gamma=3.0).loss_with(model, x, t, crit, params(1.0))
    torch.testing.assert_close(fc, erm, rtol=1e-6, atol=1e-7)


def test_flow_consistency_penalty_is_mse_to_mixed_clean_states(batch):
    model, x, t = batch
    model.eval()  # batch statistics would otherwise differ between the clean and mixed passes
    crit = criterion_for(False)
    p = params(0.7)
    with torch.no_grad():
        base = create_method("flow-consistency", gamma=0.0).loss_with(model, x, t, crit, p)
        full = create_method("flow-consistency", gamma=2.0).loss_with(model, x, t, crit, p)
        penalty = 0.0
        for k in range(1, 4):
            mixed_state = model.forward_to(k, p.mix(x))
            target = p.mix(model.forward_to(k, x))
            penalty += ((mixed_state - target) ** 2).mean() / 3
    torch.testing.assert_close(full, base + 2.0 * penalty, rtol=1e-5, atol=1e-6)


def test_multilabel_targets_mixed_per_label():
    y = torch.tensor([[1, 0, 1], [0, 1, 0], [1, 1, 0]], dtype=torch.float32)
    p = MixParams(lam=torch.tensor(0.25), perm=torch.tensor([1, 2, 0]))
    # row i = 0.25 * y[i] + 0.75 * y[perm[i]], worked out by hand
    expected = torch.tensor([[0.25, 0.75, 0.25], [0.75, 1.0, 0.0], [1.0, 0.25, 0.75]])
    torch.testing.assert_close(p.mix(y), expected)
    assert torch.equal(as_targets(y, 3), y)
    logits = torch.zeros(3, 3)
    torch.testing.assert_close(criterion_for(True)(logits, p.mix(y)), torch.log(torch.tensor(2.0)))


def test_sampling_is_seeded_and_per_sample(batch):
    model, x, _ = batch
    for name in ["mixup", "manifold", "flow"]:
        a = create_method(name, per_sample=True).sample(12, model, MixRandom(5))
        b = create_method(name, per_sample=True).sample(12, model, MixRandom(5))
        assert a.lam.shape == (12,) and torch.equal(a.lam, b.lam) and torch.equal(a.perm, b.perm) and a.point == b.point
    points = {create_method("manifold").sample(12, model, r).point for r in [MixRandom(s) for s in range(40)]}
    assert points == {0, 1, 2}  # the reference set: input and all but the last stage


@pytest.mark.parametrize(
    "model_name,expected",
    [
        # Verma et al.'s code draws layer_mix from {0, 1, 2} for its 4-stage PreAct-ResNet-18 and 3-stage WRNs.
        ("preact-resnet18", ["input", "layer1", "layer2"]),
        ("preact-resnet32", ["input", "layer1", "layer2"]),
        ("preact-resnet1d18", ["input", "layer1", "layer2"]),
    ],
)
def test_manifold_default_points_follow_the_reference(model_name, expected):
    in_channels, size = (12, [64]) if "1d" in model_name else (3, [16, 16])
    model = create_model(model_name, in_channels=in_channels, num_classes=3, input_size=size)
    sampled = {create_method("manifold").sample(4, model, MixRandom(s)).point for s in range(60)}
    assert [model.mixing_points[p] for p in sorted(sampled)] == expected
    assert len(model.mixing_points) - 1 in (3, 4)  # the stage counts this test is about
    overridden = create_method("manifold", points=["layer3", "layer4"] if "18" in model_name else ["layer3"])
    wanted = {model.point_index(p) for p in overridden.points}
    assert {overridden.sample(4, model, MixRandom(s)).point for s in range(30)} == wanted


def test_manifold_respects_chosen_points(batch):
    model, _, _ = batch
    m = create_method("manifold", points=["layer3"])
    assert {m.sample(4, model, MixRandom(s)).point for s in range(10)} == {3}
