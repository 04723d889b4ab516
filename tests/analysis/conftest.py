"""Stand-in models on real data (scikit-learn's digits) for the analysis tests.

The stand-in blocks are elementwise (plus channel concatenation), so a sample's features do
not depend on which batch it runs in: any difference between batch sizes is the engine's.
"""

import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn


class Affine(nn.Module):
    """tanh(a·x + b) with fixed per-pixel a, b: negative and positive values."""

    def __init__(self, shape, seed):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("a", 1.0 + torch.rand(shape, generator=g))
        self.register_buffer("b", torch.rand(shape, generator=g) - 0.5)

    def forward(self, x):
        return torch.tanh(self.a * x + self.b)


class Square(nn.Module):
    """(B, C, H, W) → (B, 2C, H, W): the input and its square."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return torch.cat([x, x * x], dim=1)


class Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class StandIn(nn.Module):
    """Blocks run in order, an in-place ReLU after the blocks in ``relu_after``; logits = 3 × first 10 features."""

    def __init__(self, *blocks, relu_after=()):
        super().__init__()
        self.layers = nn.Sequential(*blocks)
        self.block_names = tuple(f"layers.{i}" for i in range(len(blocks)))
        self.relu_after = set(relu_after)
        self.forward_calls = 0

    def forward(self, x):
        self.forward_calls += 1
        for i, block in enumerate(self.layers):
            x = block(x)
            if i in self.relu_after:
                x.relu_()
        return x.flatten(1)[:, :10] * 3

    def reference(self, x):
        """Every hidden state of ``x`` in one batch, float64 ``(N, D)``, computed without hooks."""
        out = {}
        with torch.no_grad():
            for i, block in enumerate(self.layers):
                x = block(x)
                out[self.block_names[i]] = x.flatten(1).double().numpy().copy()
                if i in self.relu_after:
                    x = x.relu()
            out["output"] = (x.flatten(1)[:, :10] * 3).double().numpy()
        return out


@pytest.fixture(scope="session")
def digits():
    """Digits as stored uint8 images ``(1797, 1, 8, 8)`` (values 0..16), their labels and transform."""
    d = load_digits()
    x = torch.tensor(d.images[:, None], dtype=torch.uint8)
    return x, d.target, lambda b: b.float() / 16


@pytest.fixture
def net():
    """Four blocks: tanh, square (then an in-place ReLU), a common offset of 1e4, tanh again."""
    return StandIn(Affine((1, 1, 8, 8), 0), Square(), Fn(lambda x: x + 1e4), Fn(lambda x: torch.tanh(x - 1e4)), relu_after=(1,))


@pytest.fixture
def make_net():
    return StandIn


@pytest.fixture
def blocks():
    """The stand-in block types, for tests that build their own model."""
    return {"Affine": Affine, "Square": Square, "Fn": Fn}
