"""Fixtures shared across the suite: tiny trained runs, made once per session."""

import pytest

import mixdiag

TINY = dict(dataset="digits", model="preact-resnet20", epochs=1, batch_size=64, device="cpu")


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    """Two one-epoch digits runs, ERM and Mixup: {method: run directory}."""
    root = tmp_path_factory.mktemp("runs")
    return {m: mixdiag.train(out=root / f"digits-{m}", method=m, **TINY) for m in ("erm", "mixup")}
