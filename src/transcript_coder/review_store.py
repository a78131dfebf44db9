"""The review store: supervisors' corrections, kept apart from the model's output.

A coded CSV (``DIR/coded/<id>.csv``) is derived output: any recode rewrites it. What a supervisor
typed into its ``reviewed_<scheme>`` cells is not, so it lives in its own store and is merged back
into every coded CSV written:

``DIR/reviews/sessions/<name>.csv``
    one row per reviewed cell of one session (``<name>``: the session id escaped as in
    :func:`~transcript_coder.session_ids.session_file_name`), with the columns
    :data:`STORE_COLUMNS`. A cell is keyed by the session id, the unit's ``utterance_index``, a hash
    of the unit's text (:func:`transcript_coder.codings.text_hash`) and the scheme. People may edit
    this file: deleting a row is how a correction is withdrawn.
``DIR/reviews/orphans.csv``
    every stored cell that the current coding of its session cannot place (the unit's text
    changed, or the session was coded with other units), rebuilt at the end of every run, with
    the reason. Orphaned cells also stay in their session's file, so they are placed again as soon
    as their unit is back.

The life of a cell:

1. **Harvest** (:func:`harvest`): before a coded CSV is rewritten or removed, every non-empty
   ``reviewed_*`` cell in it is copied into the store, keyed by the text of the unit as it was
   coded (from the session's state, so a spreadsheet that mangled the text cell does not matter).
   A cell typed into the CSV replaces the stored cell of the same unit and scheme. Emptying a cell
   in the CSV does not withdraw a stored correction (the store never loses a cell silently).
2. **Place** (:func:`place`): a stored cell goes to the unit with its utterance index and text
   hash; failing that, to the one unit with its text hash (the unit moved, say a turn was added
   before it); failing that it is an orphan, reported with warning E423.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import shutil
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .codings import text_hash
from .errors import TranscriptCoderError
from .results import CodedSession, Problem
from .session_ids import session_file_name
from .writers import write_csv
from .writers.tables import REVIEWED_PREFIX

log = logging.getLogger(__name__)

csv.field_size_limit(sys.maxsize)  # a long turn is one cell

REVIEWS_DIR = "reviews"
SESSIONS_DIR = "sessions"
UNREADABLE_DIR = "unreadable"
ORPHANS_FILE = "orphans.csv"
STORE_COLUMNS = ("session_id", "utterance_index", "text_hash", "scheme", "code", "text")
ORPHAN_COLUMNS = (*STORE_COLUMNS, "reason")
#: Orphaned cells named in one warning; the rest are counted (all are in orphans.csv).
_WARNING_EXAMPLES = 3


@dataclass(frozen=True)
class ReviewedCell:
    """One supervisor's code for one unit and scheme, and the unit it was given to."""

    session_id: str
    utterance_index: int
    text_hash: str
    scheme: str
    code: str
    text: str = ""

    @property
    def key(self) -> tuple[int, str, str]:
        """What one cell replaces another on: the unit (index and text) and the scheme."""
        return (self.utterance_index, self.text_hash, self.scheme)


@dataclass(frozen=True)
class Orphan:
    """A stored cell the session's current coding cannot place, and why."""

    cell: ReviewedCell
    reason: str


# ------------------------------------------------------------------------------------ the store
def store_file(out: Path, session_id: str) -> Path:
    """``DIR/reviews/sessions/<name>.csv`` of one session."""
    return Path(out) / REVIEWS_DIR / SESSIONS_DIR / f"{session_file_name(session_id)}.csv"


def load_reviews(out: Path, session_id: str) -> list[ReviewedCell]:
    """The stored cells of one session (none when it has no file)."""
    path = store_file(out, session_id)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return []
    cells = []
    for row in csv.DictReader(io.StringIO(text)):
        try:
            index = int(row.get("utterance_index") or "")
        except ValueError:
            log.warning("%s: a row without a valid utterance_index is ignored", path)
            continue
        if (row.get("code") or "").strip() and (row.get("scheme") or "").strip():
            cells.append(ReviewedCell(session_id=session_id, utterance_index=index,
                                      text_hash=(row.get("text_hash") or "").strip(), scheme=row["scheme"].strip(),
                                      code=row["code"].strip(), text=row.get("text") or ""))
    return cells


def save_reviews(out: Path, session_id: str, cells: Iterable[ReviewedCell]) -> Path:
    """Write one session's cells (sorted by unit and scheme), atomically."""
    ordered = sorted(cells, key=lambda c: (c.utterance_index, c.scheme, c.text_hash))
    return write_csv(store_file(out, session_id), STORE_COLUMNS,
                     ([c.session_id, c.utterance_index, c.text_hash, c.scheme, c.code, c.text] for c in ordered))


# ------------------------------------------------------------------------------------- harvest
def _read_table(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """A coded CSV as a supervisor may have saved it: UTF-8 (with or without BOM) or, from an
    old spreadsheet, cp1252; comma, semicolon or tab separated."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = list(reader)
    return list(reader.fieldnames or []), rows


def typed_cells(coded_csv: Path, session_id: str, coded: CodedSession | None) -> list[ReviewedCell]:
    """The non-empty ``reviewed_*`` cells of a coded CSV, keyed by the text each unit had when it
    was coded (``coded``, the session's state), else by the row's text cell.

    Raises:
        OSError: the file cannot be read.
        ValueError: it is not a coded CSV (no ``utterance_index`` column, or a row without a
            number in it that has reviewed cells).
    """
    header, rows = _read_table(coded_csv)
    reviewed = [c for c in header if c and c.startswith(REVIEWED_PREFIX)]
    if not reviewed:
        return []
    if "utterance_index" not in header:
        raise ValueError("no utterance_index column")
    texts = {u.utterance.utterance_index: u.utterance.text for u in coded.utterances} if coded else {}
    cells = []
    for number, row in enumerate(rows, start=2):
        filled = [(c[len(REVIEWED_PREFIX):], (row.get(c) or "").strip()) for c in reviewed]
        filled = [(scheme, code) for scheme, code in filled if code]
        if not filled:
            continue
        try:
            index = int((row.get("utterance_index") or "").strip())
        except ValueError:
            raise ValueError(f"row {number} has reviewed cells but no utterance_index") from None
        text = texts.get(index, row.get("text") or "")
        for scheme, code in filled:
            cells.append(ReviewedCell(session_id=session_id, utterance_index=index, text_hash=text_hash(text),
                                      scheme=scheme, code=code, text=text))
    return cells


def harvest(out: Path, session_id: str, coded_csv: Path, coded: CodedSession | None = None) -> Problem | None:
    """Copy the reviewed cells a supervisor typed into ``coded_csv`` into the store, before the
    file is rewritten or removed. A typed cell replaces the stored one of the same unit and
    scheme; stored cells the CSV does not show stay.

    Returns:
        ``None``, or warning E424 when the file cannot be read as a coded CSV: it is then copied
        to ``DIR/reviews/unreadable/`` as it was, so nothing typed into it is lost.
    """
    if not coded_csv.is_file():
        return None
    try:
        typed = typed_cells(coded_csv, session_id, coded)
    except (OSError, ValueError, csv.Error) as error:
        backup = Path(out) / REVIEWS_DIR / UNREADABLE_DIR / coded_csv.name
        with contextlib.suppress(OSError):
            backup.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(coded_csv, backup)
        return Problem.from_error(TranscriptCoderError("E424", path=coded_csv, detail=str(error), backup=backup),
                                  "warning")
    if not typed:
        return None
    stored = {cell.key: cell for cell in load_reviews(out, session_id)}
    changed = False
    for cell in typed:
        if stored.get(cell.key) != cell:
            stored[cell.key] = cell
            changed = True
    if changed:
        save_reviews(out, session_id, stored.values())
        log.info("kept %d reviewed cell(s) of %s in %s", len(typed), session_id, store_file(out, session_id))
    return None


# --------------------------------------------------------------------------------------- place
def unit_hashes(session: CodedSession, text_of: Callable[[str], str] = str
                ) -> tuple[dict[int, str], dict[str, list[int]]]:
    """Each unit's text hash by ``utterance_index`` (of ``text_of(text)``: a workbook's cell text,
    say), and the units holding each hash: what a cell is placed by."""
    hashes = {u.utterance.utterance_index: text_hash(text_of(u.utterance.text)) for u in session.utterances}
    by_hash: dict[str, list[int]] = {}
    for index, digest in hashes.items():
        by_hash.setdefault(digest, []).append(index)
    return hashes, by_hash


def unit_of(index: int, digest: str, hashes: Mapping[int, str], by_hash: Mapping[str, list[int]]) -> int | None:
    """The unit a cell given to unit ``index`` with text hash ``digest`` belongs to now: that unit
    while its text is the same, else the one unit with that text (it moved), else ``None``."""
    if hashes.get(index) == digest:
        return index
    if len(by_hash.get(digest, ())) == 1:
        return by_hash[digest][0]
    return None


def place(cells: Sequence[ReviewedCell], session: CodedSession, schemes: Iterable[str]
          ) -> tuple[dict[tuple[int, str], str], list[Orphan]]:
    """Where each stored cell goes in ``session``'s coding: ``{(utterance_index, scheme): code}``
    for the cells placed, and the orphans. ``schemes`` are the schemes the coded CSV has a
    ``reviewed_`` column for; a cell of another scheme is an orphan too."""
    schemes = set(schemes)
    hashes, by_hash = unit_hashes(session)
    placed: dict[tuple[int, str], str] = {}
    moved: list[tuple[tuple[int, str], str]] = []
    orphans: list[Orphan] = []
    for cell in sorted(cells, key=lambda c: (c.utterance_index, c.scheme)):
        unit = unit_of(cell.utterance_index, cell.text_hash, hashes, by_hash)
        if cell.scheme not in schemes:
            orphans.append(Orphan(cell, f"the coded CSV has no column {REVIEWED_PREFIX}{cell.scheme}"))
        elif unit == cell.utterance_index:
            placed[(unit, cell.scheme)] = cell.code
        elif unit is not None:
            moved.append(((unit, cell.scheme), cell.code))
        elif by_hash.get(cell.text_hash):
            orphans.append(Orphan(cell, "its text now occurs in several units"))
        elif cell.utterance_index in hashes:
            orphans.append(Orphan(cell, "the unit's text changed"))
        else:
            orphans.append(Orphan(cell, "the session no longer has this unit"))
    for key, code in moved:  # a cell still on its own unit wins over one that moved there
        placed.setdefault(key, code)
    return placed, orphans


def orphan_warning(source: str, session_id: str, orphans: Sequence[Orphan]) -> Problem:
    """Warning E423 for a session's orphaned cells (a few named, all counted)."""
    shown = "; ".join(f"unit {o.cell.utterance_index} {REVIEWED_PREFIX}{o.cell.scheme}={o.cell.code} ({o.reason})"
                      for o in orphans[:_WARNING_EXAMPLES])
    more = f"; and {len(orphans) - _WARNING_EXAMPLES} more" if len(orphans) > _WARNING_EXAMPLES else ""
    error = TranscriptCoderError("E423", path=source, session_id=session_id, count=len(orphans),
                                 detail=shown + more)
    return Problem.from_error(error, "warning")


def write_orphans(out: Path, orphans: Iterable[Orphan]) -> Path | None:
    """``DIR/reviews/orphans.csv``: every orphan of the folder; removed when there is none."""
    rows = [[o.cell.session_id, o.cell.utterance_index, o.cell.text_hash, o.cell.scheme, o.cell.code, o.cell.text,
             o.reason] for o in orphans]
    path = Path(out) / REVIEWS_DIR / ORPHANS_FILE
    if not rows:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return None
    return write_csv(path, ORPHAN_COLUMNS, rows)


def reviewed_schemes(columns: Sequence[str]) -> list[str]:
    """The schemes a layout has a ``reviewed_`` column for."""
    return [c[len(REVIEWED_PREFIX):] for c in columns if c.startswith(REVIEWED_PREFIX)]


def placed_for(out: Path, session: CodedSession, columns: Sequence[str]
               ) -> tuple[Mapping[tuple[int, str], str], list[Orphan]]:
    """The stored cells of ``session`` placed on its units (:func:`place`)."""
    cells = load_reviews(out, session.session_id)
    if not cells:
        return {}, []
    return place(cells, session, reviewed_schemes(columns))
