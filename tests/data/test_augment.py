import pytest
import torch
import torch.nn.functional as F

from mixdiag.data import augment_batch
from mixdiag.data.augment import default_pad
from mixdiag.errors import MixdiagError


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def batch(shape, seed=0):
    return torch.randn(shape, generator=gen(seed))


def reference_window_match(x, out, pad, allow_flip):
    """For each sample, the (top, left, flipped) windows of the padded input equal to the output, by brute force."""
    padded = F.pad(x, (pad, pad, pad, pad))
    h, w = x.shape[2:]
    found = []
    for i in range(len(x)):
        matches = []
        for top in range(2 * pad + 1):
            for left in range(2 * pad + 1):
                window = padded[i, :, top : top + h, left : left + w]
                if torch.equal(out[i], window):
                    matches.append((top, left, False))
                if allow_flip and torch.equal(out[i], window.flip(-1)):
                    matches.append((top, left, True))
        found.append(matches)
    return found


def test_default_pad_scales_with_size():
    assert [default_pad(s) for s in (8, 16, 28, 32, 224)] == [1, 2, 3, 4, 28]


@pytest.mark.parametrize("kind", ["crop", "crop-flip"])
def test_every_output_is_a_window_of_the_padded_input(kind):
    x = batch((64, 3, 10, 12))
    out = augment_batch(x, kind, gen(1), pad=3)
    assert out.shape == x.shape and out.is_contiguous()
    found = reference_window_match(x, out, 3, allow_flip=kind == "crop-flip")
    assert all(found)
    offsets = {m[0][:2] for m in found}
    assert len(offsets) > 20  # offsets vary across samples
    if kind == "crop-flip":
        flipped = sum(all(m[2] for m in matches) for matches in found)
        assert 16 <= flipped <= 48
    else:
        assert not any(m[2] for matches in found for m in matches)


def test_flip_rate_is_about_half():
    # Without padding the only randomness left is the flip.
    x = batch((4000, 1, 4, 5))
    out = augment_batch(x, "crop-flip", gen(2), pad=0)
    flipped = (out == x.flip(-1)).flatten(1).all(1) & ~(out == x).flatten(1).all(1)
    assert torch.equal(flipped | (out == x).flatten(1).all(1), torch.ones(4000, dtype=torch.bool))
    assert abs(int(flipped.sum()) - 2000) < 5 * 32


def test_zero_pad_crop_is_identity_and_none_returns_input():
    x = batch((8, 2, 6, 6))
    assert torch.equal(augment_batch(x, "crop", gen(), pad=0), x)
    assert augment_batch(x, "none", gen()) is x


def test_same_seed_same_output_and_input_untouched():
    x = batch((32, 3, 16, 16))
    before = x.clone()
    a = augment_batch(x, "crop-flip", gen(5))
    b = augment_batch(x, "crop-flip", gen(5))
    assert torch.equal(a, b) and torch.equal(x, before)
    assert not torch.equal(a, augment_batch(x, "crop-flip", gen(6)))


def test_shift_is_a_circular_rotation_within_pad():
    x = batch((50, 2, 40))
    out = augment_batch(x, "shift", gen(3), pad=5)
    assert out.shape == x.shape
    steps = []
    for i in range(len(x)):
        matches = [s for s in range(-5, 6) if torch.equal(out[i], torch.roll(x[i], s, dims=-1))]
        assert matches
        steps.append(matches[0])
    assert len(set(steps)) > 5
    assert torch.equal(augment_batch(x, "shift", gen(), pad=0), x)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("kind, shape", [("crop-flip", (16, 3, 8, 8)), ("shift", (16, 2, 30))])
def test_cuda_batch_with_cpu_generator_matches_cpu(kind, shape):
    x = batch(shape)
    out = augment_batch(x.cuda(), kind, gen(4))
    assert out.device.type == "cuda" and torch.equal(out.cpu(), augment_batch(x, kind, gen(4)))


@pytest.mark.parametrize(
    "shape, kind, pad, message",
    [
        ((2, 1, 8), "crop", None, "works on \\(N, C, H, W\\) images"),
        ((2, 1, 8, 8), "shift", None, "works on \\(N, C, L\\) signals"),
        ((2, 1, 8, 8), "rotate", None, "unknown augmentation 'rotate'"),
        ((2, 1, 8, 8), "crop", -1, "non-negative"),
    ],
)
def test_bad_requests_raise(shape, kind, pad, message):
    with pytest.raises(MixdiagError, match=message):
        augment_batch(torch.zeros(shape), kind, gen(), pad=pad)
