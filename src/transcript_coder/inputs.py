"""What ``transcript-coder code`` was asked to code: files, folders and glob patterns, expanded
into transcript files in order, each with its session id.

Only regular files are read, and a pipe the shell hands over (``<(command)``, ``/dev/stdin``),
which is read once (:func:`handed_over_stream`). Anything else is refused before it is opened, so
nothing hangs: named on the command line, a named pipe (FIFO), socket or device, or a symbolic
link that leads nowhere, fails with E116 saying what it is; found in an input folder, it is listed
as warning E415 and the search goes on.
"""

from __future__ import annotations

import errno
import glob
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError
from .readers.detect import EXTENSION_READERS
from .results import Problem, SessionRecord

_UNSAFE_ID_RE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
# What /dev/fd/N points to when the shell hands over a pipe (process substitution, a pipe into
# /dev/stdin): an unnamed pipe or socket, already open with its writer.
_UNNAMED_STREAM_RE = re.compile(r"(pipe|socket):\[\d+\]")


@dataclass(frozen=True)
class InputFile:
    """One transcript file to code, as the user's input named it, and its session id."""

    path: Path
    session_id: str


# ---------------------------------------------------------------------------------- inputs
def handed_over_stream(path: Path) -> bool:
    """True when ``path`` leads to an unnamed pipe or socket this process was handed
    (``/dev/fd/N`` from ``<(command)``, ``/dev/stdin``): it can be read, but only once."""
    current = str(path)
    for _ in range(40):  # the kernel's own limit on links followed
        try:
            target = os.readlink(current)
        except OSError:
            return False
        if _UNNAMED_STREAM_RE.fullmatch(target):
            return True
        current = os.path.join(os.path.dirname(current), target)
    return False


def unreadable_reason(path: Path) -> str | None:
    """Why ``path`` is not something to read as a transcript, in the user's words; ``None`` for a
    regular file, a folder, a handed-over pipe (:func:`handed_over_stream`), or a path that does
    not exist at all (not even as a link). Nothing is opened, so a named pipe cannot hang."""
    try:
        mode = path.stat().st_mode
    except OSError as error:
        if not path.is_symlink():
            return None
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        if error.errno == errno.ELOOP:
            return f"it is a symbolic link in a loop (to '{target}')"
        return f"it is a symbolic link to '{target}', which does not exist"
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode) or handed_over_stream(path):
        return None
    if stat.S_ISFIFO(mode):
        return ("it is a named pipe (FIFO), not a file; reading it would wait for a writer (save the "
                "transcript to a file, or pass it as <(command))")
    if stat.S_ISSOCK(mode):
        return "it is a socket, not a file"
    return "it is a device, not a file"


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


def _ignored(path: Path, searched: Path | str, reason: str) -> SessionRecord:
    problem = InputError("E415", path=path, folder=searched, detail=reason)
    return SessionRecord(input=str(path), session_id="", status="ignored",
                         problems=[Problem.from_error(problem, "warning")])


def _folder_files(folder: Path, exclude: Path | None) -> tuple[list[Path], list[SessionRecord]]:
    """Transcript files under ``folder`` (recursive, hidden folders and files skipped), sorted by
    their path relative to it; and an ``ignored`` record (warning E415) for every entry that is
    neither a regular file nor a folder (a dangling or looping symbolic link, a named pipe...)."""
    found, ignored = [], []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if not path.is_file():
            reason = unreadable_reason(path)
            if reason is not None:
                ignored.append(_ignored(path, folder, reason))
            continue
        if path.suffix.lower() in EXTENSION_READERS and not _inside(path, exclude):
            found.append(path)
    key = lambda p: p.relative_to(folder).as_posix()  # noqa: E731
    return sorted(found, key=key), sorted(ignored, key=lambda r: key(Path(r.input)))


def expand_inputs(inputs: Sequence[str | Path], exclude: Path | None = None) -> list[Path | SessionRecord]:
    """The files named by ``inputs`` in order: a file as is, a folder's transcript files
    (recursively, sorted), a glob pattern's matches (sorted). A path counted twice is kept once.
    An input that names nothing becomes a failed :class:`SessionRecord` (E401); one that names
    something unreadable (a named pipe, a device, a dangling link) a failed record saying what it
    is (E116); an unreadable entry of a folder an ``ignored`` record (warning E415). Files under
    ``exclude`` (the output folder) are left out.
    """
    seen: set[Path] = set()
    result: list[Path | SessionRecord] = []
    for given in inputs:
        text = str(given)
        path = Path(text).expanduser()
        reason = None if path.is_dir() else unreadable_reason(path)
        ignored: list[SessionRecord] = []
        if reason is not None:
            result.append(SessionRecord(input=text, session_id="", status="failed",
                                        problems=[Problem.from_error(InputError("E116", path=text, detail=reason))]))
            continue
        if path.is_dir():
            matches, ignored = _folder_files(path, exclude)
        elif path.exists():
            matches = [path]
        elif _is_pattern(text):
            matches = []
            for match in sorted(glob.glob(str(path), recursive=True)):
                match_path = Path(match)
                if match_path.is_dir():
                    files, skipped = _folder_files(match_path, exclude)
                    matches, ignored = matches + files, ignored + skipped
                elif (why := unreadable_reason(match_path)) is None:
                    matches.append(match_path)
                else:
                    ignored.append(_ignored(match_path, text, why))
        else:
            matches = []
        result += ignored
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

