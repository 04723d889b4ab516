"""Writes that a kill at any moment cannot leave half-done.

Every file mixdiag produces is written to a temporary file in the same directory,
flushed to disk and renamed over the target, so readers see either the previous
version or the new one, never a torn file. Output directories are filled under a
temporary name and renamed into place the same way.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from .errors import MixdiagError

# tempfile creates private files (0600) and directories (0700); what mixdiag leaves behind
# gets the permissions any other program's output would get, so runs can be shared.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def _fsync_dir(directory: Path) -> None:
    """Make a rename inside ``directory`` survive a power cut, not just a kill."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` atomically.

    The temporary file is named ``.<name>.<random>.tmp``; one left behind by a killed
    process is garbage that :func:`remove_stale_temps` clears.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Delete the temporary files of ``path`` that killed writers left behind; return them.

    Only call this where no other process is writing ``path`` (a run being resumed).
    """
    path = Path(path)
    stale = [p for p in path.parent.glob(f".{path.name}.*.tmp") if p.is_file()] if path.parent.is_dir() else []
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return stale


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_jsonl(path: str | Path, records: list[dict]) -> None:
    """Write ``records`` as one JSON line each, replacing ``path`` atomically."""
    write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))


def append_jsonl(path: str | Path, record: dict) -> None:
    """Append one JSON line by rewriting the file atomically, so it never holds half a line.

    Rewriting costs O(file size) per record: fine for one line per training epoch.
    """
    path = Path(path)
    old = path.read_text() if path.exists() else ""
    write_text(path, old + json.dumps(record, sort_keys=True) + "\n")


def read_csv(path: str | Path, columns: list[str], producer: str):
    """Read a table mixdiag wrote; raise :class:`MixdiagError` when it is damaged or foreign.

    Args:
        path: the CSV file.
        columns: columns the caller needs.
        producer: the command that writes such files, for the message (``mixdiag eta2``).
    """
    import pandas as pd  # here, so that training does not import pandas

    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise MixdiagError(f"{path} is not a readable table ({type(exc).__name__}); it was damaged or not written by {producer}") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise MixdiagError(f"{path} lacks columns {', '.join(missing)}; it was not written by {producer}")
    return df


def check_writable(path: str | Path) -> None:
    """Raise :class:`MixdiagError` unless ``path`` is, or can be created as, a writable directory.

    Checked before long computations, so a typo in ``--out`` costs nothing.
    """
    path = Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise MixdiagError(f"cannot write under {existing}: it is a file, not a directory; choose another --out")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise MixdiagError(f"cannot write under {existing}: permission denied; choose another --out")


def check_output_dir(out: str | Path, force: bool = False) -> None:
    """Raise :class:`MixdiagError` unless :func:`write_directory` can write ``out``."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise MixdiagError(f"{out} is a file; --out needs a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise MixdiagError(f"{out} already exists; pass --force to replace it or choose another --out")
    # The output is staged next to ``out`` and renamed into place: its parent is written.
    check_writable(out.absolute().parent if out.exists() else out)


def write_directory(out: str | Path, write: Callable[[Path], None], force: bool = False) -> list[Path]:
    """Fill a fresh directory with ``write(staging_dir)`` and move it to ``out`` at the end.

    A failure anywhere leaves no partial output; an existing non-empty ``out`` is refused
    unless ``force``. It is replaced by two renames: a kill between them leaves the
    previous output complete under ``.<name>.<random>.old`` next to ``out``.

    Returns:
        The written files, as paths inside ``out``.
    """
    out = Path(out)
    check_output_dir(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    old = staging.with_name(staging.name + ".old")
    moved_aside = False
    try:
        write(staging)
        names = sorted(p.name for p in staging.iterdir())
        for path in staging.rglob("*"):
            if path.is_file():
                with open(path, "rb+") as f:
                    os.fsync(f.fileno())
        os.chmod(staging, 0o777 & ~_UMASK)
        if out.exists():
            out.rename(old)
            moved_aside = True
        staging.rename(out)
        _fsync_dir(out.parent)
    except BaseException:
        if moved_aside and not out.exists():
            old.rename(out)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return [out / name for name in names]


def run_checkpoint(path: str | Path) -> Path:
    """A checkpoint file as given, or the ``checkpoints/last.pt`` of a run directory.

    Accepts ``RUN``, ``RUN/checkpoints`` or a file; a directory holding neither
    ``checkpoints/last.pt`` nor ``last.pt`` is refused with the fix in the message.
    """
    path = Path(path)
    if not path.is_dir():
        return path
    for candidate in (path / "checkpoints" / "last.pt", path / "last.pt"):
        if candidate.is_file():
            return candidate
    raise MixdiagError(f"{path} is a directory without checkpoints/last.pt; pass a run directory written by mixdiag train or a .pt file")
