"""Progress of the long phases of an analysis, on stderr.

On a terminal a tqdm bar; otherwise (nohup, a scheduler, CI, a notebook) a line when a phase
starts, one at most every :data:`EVERY` seconds while it runs (rows done, rate, time left)
and one when it ends. Only rank 0 of a ``torchrun`` launch reports, and :func:`quiet`
silences everything, so ``--quiet`` is one ``with`` in a command.

The interface is :func:`iterate` (wrap what a phase walks through) and :func:`quiet`::

    for batch in iterate(batches, "η² streaming pass", total=n, size=rows_of):
        ...
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")

# Seconds between two plain lines of one phase: a few lines per phase, not one per batch.
EVERY = 30.0

_silenced = 0


@contextlib.contextmanager
def quiet(silence: bool = True) -> Iterator[None]:
    """Within the block, no phase reports (when ``silence``)."""
    global _silenced
    _silenced += bool(silence)
    try:
        yield
    finally:
        _silenced -= bool(silence)


def _reporting() -> bool:
    # torchrun sets RANK in every process; reading it needs no torch import.
    return not _silenced and os.environ.get("RANK", "0") == "0"


def _seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 90 else f"{s / 60:.1f} min"


class _Lines:
    """Plain lines for a stream that is not a terminal."""

    def __init__(self, what: str, total: int, unit: str):
        self.what, self.total, self.unit = what, total, unit
        self.done, self.start = 0, time.perf_counter()
        self.last = self.start
        self._say(f"{total} {unit} ...")

    def _say(self, text: str) -> None:
        print(f"{self.what}: {text}", file=sys.stderr, flush=True)

    def update(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self.last >= EVERY and self.done < self.total:
            rate = self.done / (now - self.start)
            left = (self.total - self.done) / rate if rate > 0 else float("nan")
            self._say(f"{self.done} of {self.total} {self.unit}, {rate:.0f} {self.unit}/s, about {_seconds(left)} left")
            self.last = now

    def close(self) -> None:
        spent = time.perf_counter() - self.start
        rate = f", {self.done / spent:.0f} {self.unit}/s" if spent > 0 else ""
        self._say(f"{self.done} of {self.total} {self.unit} in {_seconds(spent)}{rate}")


def _bar(what: str, total: int, unit: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=what, unit=f" {unit}", file=sys.stderr, leave=False, dynamic_ncols=True)


def rows_of(batch) -> int:
    """Rows of a ``{name: (B, ...)}`` batch of hidden states, the ``size`` of a capture pass."""
    return len(next(iter(batch.values())))


def iterate(items: Iterable[T], what: str, total: int, size: Callable[[T], int] = lambda _: 1, unit: str = "rows") -> Iterator[T]:
    """Yield ``items`` and report, as phase ``what``, ``size(item)`` more of ``total`` ``unit`` per item.

    An item counts as done when the caller asks for the next one, so the time it spends on
    an item is part of the phase.
    """
    if not _reporting():
        yield from items
        return
    terminal = sys.stderr.isatty()
    report = _bar(what, total, unit) if terminal else _Lines(what, total, unit)
    start = time.perf_counter()
    try:
        for item in items:
            yield item
            report.update(size(item))
    finally:
        report.close()
        if terminal:
            # The bar leaves no trace; one line stays so the log shows what ran and how long.
            print(f"{what}: {report.n} of {total} {unit} in {_seconds(time.perf_counter() - start)}", file=sys.stderr, flush=True)
