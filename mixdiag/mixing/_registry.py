"""Find and build mixing methods by name."""

from __future__ import annotations

import fnmatch
import inspect
import warnings

from ..errors import MixdiagError
from ._base import MixingMethod

__all__ = ["register_method", "list_methods", "create_method"]

_METHODS: dict[str, type[MixingMethod]] = {}


def register_method(cls: type[MixingMethod]) -> type[MixingMethod]:
    """Class decorator: register a :class:`MixingMethod` under its ``name``."""
    if cls.name in _METHODS:
        warnings.warn(f"mixing method {cls.name!r} registered twice; the later one wins", stacklevel=2)
    _METHODS[cls.name] = cls
    return cls


def list_methods(pattern: str = "*") -> list[str]:
    """Names of the registered mixing methods matching a shell-style ``pattern``."""
    return sorted(n for n in _METHODS if fnmatch.fnmatch(n, pattern))


def create_method(name: str, **options) -> MixingMethod:
    """Build method ``name``; options set to None are left at the method's default.

    An option the method does not take is an error rather than silently ignored, so a
    ``--gamma`` given to plain Mixup cannot go unnoticed.

    >>> create_method("mixup", alpha=0.4).config()
    {'alpha': 0.4, 'per_sample': False}
    """
    if name not in _METHODS:
        raise MixdiagError(f"unknown mixing method {name!r}; choose one of: {', '.join(list_methods())}")
    cls = _METHODS[name]
    given = {k: v for k, v in options.items() if v is not None}
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(given) - accepted)
    if unknown:
        raise MixdiagError(f"method {name!r} does not take {', '.join(unknown)}; it takes {', '.join(sorted(accepted)) or 'no options'}")
    return cls(**given)
