"""Public names of a package loaded on first use (PEP 562).

``import mixdiag`` and ``mixdiag --help`` must not pay for torch, scikit-learn and FAISS
(together several seconds); a package lists where each of its names lives and this module
imports that place when the name is first read.
"""

from __future__ import annotations

import importlib
import sys
from typing import Callable


def lazy_exports(package: str, where: dict[str, str | None]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``.

    Args:
        package: the package's ``__name__``.
        where: public name → relative module that defines it (``{"train": ".training"}``),
            or None for a subpackage of that name (``{"plots": None}``).

    Returns:
        The two functions to assign to the package's ``__getattr__`` and ``__dir__``.
    """

    def __getattr__(name: str):
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if where[name] is None:
            value = importlib.import_module(f".{name}", package)
        else:
            value = getattr(importlib.import_module(where[name], package), name)
        # Cached in the package, so the next access is a plain attribute lookup.
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__
