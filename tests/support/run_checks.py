"""Bit-for-bit comparison of two runs' records, shared by the resume and multi-process tests."""

from __future__ import annotations

import math

import torch


def without_times(records: list[dict]) -> list[dict]:
    """Per-epoch records without their wall-clock times, which no two runs share."""
    return [{k: v for k, v in r.items() if k != "epoch_seconds"} for r in records]


def assert_identical(a, b, where: str) -> None:
    """Bit-for-bit equality of nested dicts and lists of tensors and plain data (NaN equals NaN)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{where}: keys differ"
        for key in a:
            assert_identical(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, type(a)) and len(a) == len(b), f"{where}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_identical(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype, f"{where}: not tensors of one dtype"
        torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True, msg=f"{where} differs")
    else:
        both_nan = isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
        assert both_nan or (type(a) is type(b) and a == b), f"{where}: {a!r} != {b!r}"
