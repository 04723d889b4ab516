"""Optional extras in tests: skip a test that needs one when it is missing, unless CI says it must be there.

CI installs every extra and sets ``MIXDIAG_REQUIRE_EXTRAS=1``: there a missing torchvision or
timm fails the tests that need it, instead of skipping them silently.
"""

from __future__ import annotations

import importlib
import os

import pytest


def require(module: str):
    """Import ``module``; skip the calling test (or module) when it is absent, fail under ``MIXDIAG_REQUIRE_EXTRAS=1``."""
    if os.environ.get("MIXDIAG_REQUIRE_EXTRAS") == "1":
        try:
            return importlib.import_module(module)
        except ImportError as exc:
            pytest.fail(f"{module} is required (MIXDIAG_REQUIRE_EXTRAS=1) but cannot be imported: {exc}", pytrace=False)
    return pytest.importorskip(module)


def seeded(build, seed: int):
    """``build()`` with torch's global generator seeded and restored after.

    torchvision and timm draw initial weights from the global generator and take no
    generator of their own; forking it keeps the seed from leaking into other tests.
    """
    import torch

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return build()
