"""What ``transcript-coder code`` was asked to code: files, folders and glob patterns, expanded
into transcript files in order, each with its session id."""

from __future__ import annotations

import glob
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError
from .readers.detect import EXTENSION_READERS
from .results import Problem, SessionRecord

_UNSAFE_ID_RE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


@dataclass(frozen=True)
class InputFile:
    """One transcript file to code, as the user's input named it, and its session id."""

    path: Path
    session_id: str


# ---------------------------------------------------------------------------------- inputs
def _is_pattern(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def _inside(path: Path, folder: Path | None) -> bool:
    if folder is None:
        return False
    try:
        path.resolve().relative_to(folder)
        return True
    except ValueError:
        return False


def _folder_files(folder: Path, exclude: Path | None) -> list[Path]:
    """Transcript files under ``folder`` (recursive, hidden folders and files skipped), sorted by
    their path relative to it."""
    found = []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        if path.suffix.lower() in EXTENSION_READERS and not _inside(path, exclude):
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def expand_inputs(inputs: Sequence[str | Path], exclude: Path | None = None) -> list[Path | SessionRecord]:
    """The files named by ``inputs`` in order: a file as is, a folder's transcript files
    (recursively, sorted), a glob pattern's matches (sorted). A path counted twice is kept once.
    An input that names nothing becomes a failed :class:`SessionRecord` (E401). Files under
    ``exclude`` (the output folder) are left out.
    """
    seen: set[Path] = set()
    result: list[Path | SessionRecord] = []
    for given in inputs:
        text = str(given)
        path = Path(text).expanduser()
        if path.is_dir():
            matches = _folder_files(path, exclude)
        elif path.exists():
            matches = [path]
        elif _is_pattern(text):
            matches = []
            for match in sorted(glob.glob(str(path), recursive=True)):
                match_path = Path(match)
                matches += _folder_files(match_path, exclude) if match_path.is_dir() else [match_path]
        else:
            matches = []
        if not matches:
            result.append(SessionRecord(input=text, session_id="", status="failed",
                                        problems=[Problem.from_error(InputError("E401", path=text))]))
            continue
        for match in matches:
            key = match.resolve()
            if key not in seen:
                seen.add(key)
                result.append(match)
    return result


def session_id_for(path: Path) -> str:
    """A file's stem, made safe as a file name (path separators and control characters become
    ``_``; leading dots are dropped)."""
    stem = _UNSAFE_ID_RE.sub("_", path.stem).strip().lstrip(".")
    return stem or "session"


def unique_session_ids(paths: Sequence[Path]) -> list[str]:
    """Session ids for ``paths`` in order: each file's stem; a stem already taken (compared
    case-insensitively, as some file systems do) gets ``-2``, ``-3``... The same input list
    always gives the same ids."""
    taken: set[str] = set()
    ids = []
    for path in paths:
        base = candidate = session_id_for(path)
        number = 1
        while candidate.casefold() in taken:
            number += 1
            candidate = f"{base}-{number}"
        taken.add(candidate.casefold())
        ids.append(candidate)
    return ids

