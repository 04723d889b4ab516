"""Helpers of the reliability tests: run the CLI, read its one error line, snapshot folders.

:func:`run_cli` runs the installed ``mixdiag`` script as a user would; where the point is
the message rather than the process, :func:`invoke` runs the same click command in this
process and saves the interpreter start-up of a few seconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from mixdiag.cli.main import cli

MIXDIAG = shutil.which("mixdiag", path=os.path.dirname(sys.executable)) or shutil.which("mixdiag")
# One thread: every run a test compares uses the same thread count, and a loaded 2-core
# machine runs small models far faster without threads competing for the cores.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    traceback: bool


def run_cli(*args, cwd=None, timeout=600) -> Outcome:
    """The installed console script in a fresh process."""
    assert MIXDIAG, "the mixdiag console script is not installed: pip install -e ."
    done = subprocess.run([MIXDIAG, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=ENV, timeout=timeout)
    return Outcome(done.returncode, done.stdout, done.stderr, "Traceback" in done.stderr)


def invoke(*args) -> Outcome:
    """The same command in this process; an exception other than a clean exit counts as a traceback."""
    result = CliRunner().invoke(cli, [str(a) for a in args])
    clean = result.exception is None or isinstance(result.exception, SystemExit)
    return Outcome(result.exit_code, result.stdout, result.stderr, not clean)


def error_line(outcome: Outcome) -> str:
    """The one ``Error:`` line of a refused command (asserting there is exactly one)."""
    assert not outcome.traceback, outcome.stderr
    lines = [line for line in outcome.stderr.splitlines() if line.startswith("Error")]
    assert len(lines) == 1, outcome.stderr
    return lines[0]


def snapshot(*roots: Path) -> dict:
    """Every file and directory under ``roots`` with its size and modification time."""
    out = {}
    for root in roots:
        for path in [root, *root.rglob("*")]:
            st = path.lstat()
            out[str(path)] = (path.is_dir(), st.st_size, st.st_mtime_ns)
    return out


class Payload:
    """Unpickling this runs code: it creates ``marker``."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))
