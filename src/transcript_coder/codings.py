"""Read coded outputs back: the per-session coded CSVs that ``transcript-coder code`` writes (and a
supervisor may have corrected), as plain dataclasses for review import, agreement and reports.

This module is an input edge, like the readers: it parses files and checks nothing but their shape.
Which columns hold the codes is a choice (:data:`COLUMN_SOURCES`):

``codes``     the plain scheme columns (``therapist_behaviour``, ...): the model's codes, or a human
              coder's when a human filled them in;
``reviewed``  the ``reviewed_<scheme>`` columns only (an empty cell = not coded);
``merged``    the reviewed code where a supervisor gave one, else the plain column.

A coded table is a CSV or a review workbook (``.xlsx``, :mod:`transcript_coder.writers.workbook`):
both have the same columns, and a workbook's ``review`` sheet (else its first) is read like the CSV.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .codebook import Codebook
from .errors import DataError
from .writers.tables import CONFIDENCE_SUFFIX, REVIEWED_PREFIX

#: File types a coded table may have (a workbook is read with openpyxl).
TABLE_SUFFIXES = (".csv", ".xlsx")

#: Hidden column of a review workbook: a hash of each unit's text as it was coded, so an import
#: can tell when a spreadsheet changed the text (:func:`text_hash`).
TEXT_HASH_COLUMN = "text_hash"

csv.field_size_limit(sys.maxsize)  # a long turn is one cell

COLUMN_SOURCES = ("codes", "reviewed", "merged")

#: Columns every coded CSV has, whatever its layout.
REQUIRED_COLUMNS = ("session_id", "utterance_index", "turn_index", "role", "text")


@dataclass
class CodedRow:
    """One unit of a coded CSV as written: identity, text, and the cells of every scheme.

    ``codes`` holds the plain scheme columns, ``reviewed`` the ``reviewed_<scheme>`` columns
    (both only non-empty cells), ``confidence`` the ``<scheme>_confidence`` columns. ``row`` is the
    1-based line of the file (the header is row 1), for error messages.
    """

    path: Path
    row: int
    session_id: str
    utterance_index: int
    turn_index: int
    speaker: str
    role: str
    text: str
    start: str = ""
    end: str = ""
    codes: dict[str, str] = field(default_factory=dict)
    reviewed: dict[str, str] = field(default_factory=dict)
    confidence: dict[str, float] = field(default_factory=dict)
    text_hash: str = ""

    @property
    def key(self) -> tuple[str, int]:
        """What aligns two codings of the same unit: ``(session_id, utterance_index)``."""
        return (self.session_id, self.utterance_index)

    def codes_from(self, source: str) -> dict[str, str]:
        """The unit's codes read from ``source`` (one of :data:`COLUMN_SOURCES`)."""
        if source == "codes":
            return dict(self.codes)
        if source == "reviewed":
            return dict(self.reviewed)
        return {**self.codes, **self.reviewed}


@dataclass
class CodedFile:
    """One coded table (CSV or workbook): its scheme columns (in file order) and its rows."""

    path: Path
    schemes: list[str]
    reviewed_schemes: list[str]
    rows: list[CodedRow]


def text_hash(text: str) -> str:
    """A short fingerprint of a unit's text (16 hex digits of its SHA-256)."""
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def coded_csv_paths(inputs: Iterable[str | Path]) -> list[Path]:
    """Expand inputs to coded tables: a file as given; a folder's ``coded/*.csv`` when it is a
    coding output folder, else its ``*.csv`` and ``*.xlsx`` (not a spreadsheet's ``~$`` lock
    files); sorted by name within a folder.

    Raises:
        DataError: E506 when an input does not exist or a folder holds no CSV.
    """
    paths: list[Path] = []
    for item in inputs:
        item = Path(item)
        if item.is_dir():
            if (item / "coded").is_dir():
                found = sorted((item / "coded").glob("*.csv"))
            else:
                found = sorted(p for p in item.iterdir() if p.suffix.lower() in TABLE_SUFFIXES
                               and p.is_file() and not p.name.startswith("~$"))
            if not found:
                raise DataError("E506", path=item)
            paths += found
        elif item.is_file():
            paths.append(item)
        else:
            raise DataError("E506", path=item)
    return paths


Table = tuple[list[str], list[tuple[int, dict[str, str]]]]


def _csv_table(path: Path) -> Table:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        header = [name.strip() for name in reader.fieldnames or []]
        reader.fieldnames = header
        return header, list(enumerate(reader, start=2))


def _cell_text(value: object) -> str:
    """A workbook cell as the CSV would hold it: whole numbers without ``.0``, empty for none."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _xlsx_table(path: Path) -> Table:
    """The ``review`` sheet of a workbook (else its first sheet): row 1 is the header; rows with no
    value at all are skipped. Formula cells read as the value the spreadsheet last computed
    (``data_only``)."""
    try:
        import openpyxl
    except ImportError as exc:  # a core dependency; only a broken install gets here
        raise DataError("E513", path=path, detail=str(exc)) from None
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException...
        raise DataError("E505", path=path, columns=f"not a readable .xlsx workbook: {type(exc).__name__}") from None
    try:
        sheet = workbook["review"] if "review" in workbook.sheetnames else workbook.worksheets[0]
        values = sheet.iter_rows(values_only=True)
        header = [_cell_text(v).strip() for v in next(values, ())]
        rows = [(number, {name: _cell_text(v) for name, v in zip(header, row) if name})
                for number, row in enumerate(values, start=2) if any(v not in (None, "") for v in row)]
    finally:
        workbook.close()
    return header, rows


def read_coded_file(path: str | Path, codebook: Codebook) -> CodedFile:
    """Read one coded table: a CSV (UTF-8 with or without BOM, any line ends, as spreadsheets
    re-save it) or a review workbook (``.xlsx``).

    Scheme columns are the columns named after a classifier or rule-based scheme of ``codebook``
    (not a roll-up, which is derived); ``reviewed_`` columns likewise. Other columns are ignored.

    Raises:
        DataError: E505 when a required column is missing or an index is not a whole number.
    """
    path = Path(path)
    header, table = (_xlsx_table if path.suffix.lower() == ".xlsx" else _csv_table)(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise DataError("E505", path=path, columns=", ".join(missing))
    classifiers = {s.id for s in codebook if s.kind != "rollup"}
    schemes = [c for c in header if c in classifiers]
    reviewed = [c[len(REVIEWED_PREFIX):] for c in header
                if c.startswith(REVIEWED_PREFIX) and c[len(REVIEWED_PREFIX):] in classifiers]
    rows = []
    for row_no, cells in table:
        def cell(name: str) -> str:
            return (cells.get(name) or "").strip()

        try:
            utterance_index, turn_index = int(cell("utterance_index")), int(cell("turn_index"))
        except ValueError:
            raise DataError("E505", path=path,
                            columns=f"utterance_index / turn_index (row {row_no} is not a whole number)") from None
        confidence = {}
        for scheme in schemes:
            raw = cell(scheme + CONFIDENCE_SUFFIX)
            if raw:
                try:
                    confidence[scheme] = float(raw)
                except ValueError:
                    pass
        rows.append(CodedRow(
            path=path, row=row_no, session_id=cell("session_id"), utterance_index=utterance_index,
            turn_index=turn_index, speaker=cell("speaker"), role=cell("role").lower(), text=cells.get("text") or "",
            start=cell("start"), end=cell("end"),
            codes={s: cell(s) for s in schemes if cell(s)},
            reviewed={s: cell(REVIEWED_PREFIX + s) for s in reviewed if cell(REVIEWED_PREFIX + s)},
            confidence=confidence, text_hash=cell(TEXT_HASH_COLUMN)))
    return CodedFile(path=path, schemes=schemes, reviewed_schemes=reviewed, rows=rows)


def read_coded_files(inputs: Sequence[str | Path], codebook: Codebook) -> list[CodedFile]:
    """Every coded table the inputs name (files, output folders or folders of CSVs/workbooks)."""
    return [read_coded_file(path, codebook) for path in coded_csv_paths(inputs)]
