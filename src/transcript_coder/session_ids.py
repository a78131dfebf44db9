"""Session ids: stable, readable names for the inputs of a run, and the file names they get.

A session's id is its input's path relative to the **root** named on the command line, without
the file's extension, with ``/`` between folders:

================================  =============================================================
``code data/``                    ``data/clientA/session1.txt`` -> ``clientA/session1``
``code "data/*/s*.txt"``          the root is the pattern's folder part before the first wildcard
                                  (``data``): ``clientA/session1``
``code data/clientA/session1.txt`` a file named directly: its stem, ``session1``
================================  =============================================================

An id depends only on the input itself and the root it was found under, never on the other
inputs: adding, removing or reordering inputs never changes another session's id. A file reached
by several inputs (a folder and a file inside it) takes the id of the widest root. Two inputs
whose ids are equal (compared ignoring case, as some file systems do) are both refused with
E420 instead of being renumbered; ``--ids FILE`` (a CSV of ``path,session_id``) names any input
explicitly (:func:`load_id_mapping`).

An id is written into file names (``coded/<name>.csv``, ``.state/<name>.json``,
``reviews/<name>.csv``) escaped by :func:`session_file_name`:

* ``/`` becomes ``~``, so ``clientA/session1`` is ``coded/clientA~session1.csv``;
* ``%``, ``~``, ``\\``, ``: * ? " < > |`` and control characters become ``%XX``, the upper-case hex
  of each of their UTF-8 bytes (``a~b`` is ``a%7Eb``), as does a leading ``.`` or space, a trailing
  ``.`` or space, and the first letter of a name Windows reserves (``CON``, ``NUL``, ``COM1``...);
* every other character (letters of any script included) stays as it is;
* a name longer than :data:`MAX_NAME_BYTES` bytes is cut and ends in ``%-`` and 12 hex digits of
  the id's SHA-256, so it still fits the file system's 255-byte limit with its suffix.

The escaping is injective (two ids never share a file name) and reversible for names that were
not cut (:func:`session_id_from_file_name`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError, UsageError
from .inputs import InputFile, expand_inputs
from .results import Problem, SessionRecord

#: Longest escaped name, in UTF-8 bytes; with ``.json`` or ``.csv`` and a temporary name's prefix
#: it stays well below the usual 255-byte limit of a file name.
MAX_NAME_BYTES = 200
_PATTERN_CHARS = "*?["
_ESCAPED = set('%~\\:*?"<>|')
_RESERVED = re.compile(r"(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# --------------------------------------------------------------------------------- file names
def _hex(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))


def session_file_name(session_id: str) -> str:
    """The file name (without suffix) of ``session_id``; see the module docstring for the rules."""
    chars = ["~" if c == "/" else _hex(c) if c in _ESCAPED or _CONTROL.match(c) else c for c in session_id]
    if chars and chars[0] in (".", " "):
        chars[0] = _hex(chars[0])
    if chars and chars[-1] in (".", " "):
        chars[-1] = _hex(chars[-1])
    name = "".join(chars)
    if _RESERVED.fullmatch(name):
        name = _hex(name[0]) + name[1:]
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        digest = hashlib.sha256(session_id.encode("utf-8")).hexdigest()[:12]
        cut = name.encode("utf-8")[: MAX_NAME_BYTES - 14].decode("utf-8", errors="ignore")
        cut = re.sub(r"%[0-9A-F]?$", "", cut)  # never cut an escape in half
        name = f"{cut}%-{digest}"
    return name or "%00"


def session_id_from_file_name(name: str) -> str | None:
    """The id a file name was made from by :func:`session_file_name`; ``None`` for a cut name."""
    if "%-" in name:
        return None
    text = name.replace("~", "/")
    return re.sub(r"(?:%[0-9A-F]{2})+", lambda m: bytes.fromhex(m.group(0).replace("%", "")).decode("utf-8", "replace"),
                  text)


# ------------------------------------------------------------------------------------- roots
def input_root(given: str | Path) -> Path | None:
    """The folder ids are relative to for one command-line input: a folder itself; a glob
    pattern's folder part before its first wildcard; ``None`` for a file named directly (its id
    is its stem)."""
    text = str(given)
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    if path.exists() or not any(ch in text for ch in _PATTERN_CHARS):
        return None
    parts = []
    for part in path.parts:
        if any(ch in part for ch in _PATTERN_CHARS):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")


def relative_session_id(path: Path, root: Path | None) -> str:
    """``path``'s id under ``root``: its relative path without the extension, ``/``-separated;
    its stem when ``root`` is ``None`` or does not contain it."""
    if root is not None:
        try:
            relative = Path(path).relative_to(root)
        except ValueError:
            try:
                relative = Path(path).resolve().relative_to(Path(root).resolve())
            except ValueError:
                relative = None
        if relative is not None and relative.parts:
            return relative.with_suffix("").as_posix() if relative.suffix else relative.as_posix()
    return Path(path).stem or Path(path).name


# ------------------------------------------------------------------------------- the mapping
def check_session_id(value: str) -> str | None:
    """Why ``value`` cannot be a session id (empty, control characters, an empty folder part), or
    ``None`` when it can."""
    if not value.strip():
        return "it is empty"
    if _CONTROL.search(value):
        return "it contains a control character"
    if any(not part.strip() for part in value.split("/")):
        return "it has an empty part between slashes"
    return None


def load_id_mapping(path: str | Path) -> dict[Path, str]:
    """Read ``--ids FILE``: a CSV (or TSV) with the columns ``path`` and ``session_id``, one input
    per row. A relative path is taken from the mapping file's folder, and failing that from the
    current folder. Returns ``{resolved path: session id}``.

    Raises:
        UsageError: E422 with the file and line for anything it cannot use (missing columns, an
            empty or invalid id, a path or an id given twice).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError("E422", path=path, at="", detail=f"cannot read it ({exc})") from None
    first = text.split("\n", 1)[0]
    reader = csv.DictReader(io.StringIO(text), delimiter="\t" if first.count("\t") > first.count(",") else ",")
    fields = {name.strip().lower(): name for name in reader.fieldnames or []}
    if "path" not in fields or "session_id" not in fields:
        raise UsageError("E422", path=path, at=" line 1", line=1,
                         detail="expected a header with the columns path and session_id")
    mapping: dict[Path, str] = {}
    taken: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        given, session_id = (row.get(fields["path"]) or "").strip(), (row.get(fields["session_id"]) or "").strip()
        if not given and not session_id:
            continue
        if not given:
            raise UsageError("E422", path=path, at=f" line {line}", line=line, detail="the path is empty")
        why = check_session_id(session_id)
        if why:
            raise UsageError("E422", path=path, at=f" line {line}", line=line,
                             detail=f"session id '{session_id}' cannot be used: {why}")
        candidates = [Path(given).expanduser()] if Path(given).expanduser().is_absolute() else \
            [path.parent / given, Path(given)]
        target = next((c for c in candidates if c.exists()), candidates[0]).resolve()
        if target in mapping:
            raise UsageError("E422", path=path, at=f" line {line}", line=line, detail=f"'{given}' is listed twice")
        if session_id.casefold() in taken:
            raise UsageError("E422", path=path, at=f" line {line}", line=line,
                             detail=f"session id '{session_id}' is also given on line {taken[session_id.casefold()]}")
        mapping[target] = session_id
        taken[session_id.casefold()] = line
    return mapping


# ------------------------------------------------------------------------------------ inputs
@dataclass(frozen=True)
class RootedInput(InputFile):
    """An input file with the folder named on the command line that it was found under (``None``
    for a file named directly): what its id and its sidecar reader options are relative to."""

    root: Path | None = None


def session_inputs(inputs: Sequence[str | Path], exclude: Path | None = None,
                   ids: Mapping[Path, str] | None = None) -> list[InputFile | SessionRecord]:
    """The inputs of a run, expanded (:func:`~transcript_coder.inputs.expand_inputs`), each file
    with its session id: from ``ids`` (``{resolved path: id}``, :func:`load_id_mapping`) when it
    names the file, else relative to its root (:func:`input_root`). A file reached by several
    inputs is listed once, at its first place, with the id of its widest root. Inputs whose ids
    clash (ignoring case) each become a failed record (E420); so do inputs naming nothing (E401),
    as in :func:`~transcript_coder.inputs.expand_inputs`.
    """
    ids = dict(ids or {})
    found: list[tuple[Path, Path | None] | SessionRecord] = []
    place: dict[Path, int] = {}
    for given in inputs:
        root = input_root(given)
        for entry in expand_inputs([given], exclude=exclude):
            if isinstance(entry, SessionRecord):
                found.append(entry)
                continue
            key = entry.resolve()
            if key not in place:
                place[key] = len(found)
                found.append((entry, root))
                continue
            earlier_path, earlier_root = found[place[key]]
            if len(relative_session_id(entry, root)) > len(relative_session_id(earlier_path, earlier_root)):
                found[place[key]] = (earlier_path, root)
    named: list[InputFile | SessionRecord] = []
    for entry in found:
        if isinstance(entry, SessionRecord):
            named.append(entry)
        else:
            path, root = entry
            named.append(RootedInput(path, ids.get(path.resolve()) or relative_session_id(path, root), root))
    owners: dict[str, list[InputFile]] = {}
    for entry in named:
        if isinstance(entry, InputFile):
            owners.setdefault(session_file_name(entry.session_id).casefold(), []).append(entry)
    result: list[InputFile | SessionRecord] = []
    for entry in named:
        clash = isinstance(entry, InputFile) and len(owners[session_file_name(entry.session_id).casefold()]) > 1
        if not clash:
            result.append(entry)
            continue
        others = [str(o.path) for o in owners[session_file_name(entry.session_id).casefold()] if o is not entry]
        problem = InputError("E420", path=entry.path, session_id=entry.session_id, others=", ".join(others))
        result.append(SessionRecord(input=str(entry.path), session_id=entry.session_id, status="failed",
                                    problems=[Problem.from_error(problem)]))
    return result
