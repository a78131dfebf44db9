"""Atomic file writes: a temporary file in the target's folder, then one rename.

``os.replace`` within one folder is atomic on POSIX and Windows, so a reader (or a resumed run)
sees either the old file or the complete new one, never half of it, even if the process is
killed mid-write. A failed write removes its temporary file and leaves any old file as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

#: Temporary files are named ``.tc-<random>.tmp`` (16 bytes, whatever the target's name, so a
#: target whose name is at the file system's 255-byte limit can still be written) and stale ones
#: from a killed run can be recognised and removed (:func:`remove_stale_temporaries`).
TEMP_PREFIX = ".tc-"
TEMP_SUFFIX = ".tmp"


def _file_mode(path: Path) -> int:
    """The existing file's permissions, or those the process's umask gives a new file."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8",
                newline: str | None = "") -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing; on a clean exit it replaces ``path``.

    Text mode (``"w"``) writes UTF-8 with newlines left as written; ``"wb"`` writes bytes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    binary = "b" in mode
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX)
    try:
        # mkstemp creates the file private (0600); give it the mode a plain open() would.
        os.chmod(temp, _file_mode(path))
        with os.fdopen(fd, mode, **({} if binary else {"encoding": encoding, "newline": newline})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_open(path) as handle:
        handle.write(text)
    return Path(path)


def write_json(path: str | Path, data: object, *, compact: bool = False) -> Path:
    """Write ``data`` as UTF-8 JSON (NaN refused), atomically: indented for people to read, or
    ``compact`` (one line, no spaces; several times faster to encode) for machine state."""
    if compact:
        text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    else:
        text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
    return write_text(path, text + "\n")


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete temporary files a killed run left in ``folder`` (not recursive); returns them."""
    folder = Path(folder)
    stale = [p for p in folder.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}") if p.is_file()] if folder.is_dir() else []
    for path in stale:
        with contextlib.suppress(OSError):
            path.unlink()
    return stale
