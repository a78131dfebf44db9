"""The review workbook (``.xlsx``): one sheet a supervisor corrects codes in, written with openpyxl.

This writer formats; what goes in it (which units, which rows are low-confidence, which codes a
drop-down offers) is decided by :func:`transcript_coder.review.review_export` and handed over as a
:class:`ReviewSheet`. The only openpyxl import for writing is here.

Safety: a transcript is untrusted text. Every text value is written as a string cell
(``data_type = "s"``), never as a formula, so a turn that starts with ``=``, ``+``, ``-`` or ``@``
shows as typed and cannot execute when the file is opened; such cells also get Excel's
``quotePrefix`` style, so editing one keeps it text. Characters XML cannot hold (control
characters) are replaced with U+FFFD.
"""

from __future__ import annotations

import io
import re
from copy import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .atomic import atomic_open

#: Text that a spreadsheet would read as a formula if it were typed or imported from CSV.
FORMULA_TRIGGERS = ("=", "+", "-", "@")
#: The sheet of code lists the drop-downs refer to (hidden).
CODES_SHEET = "codes"
#: Fill of a row with a code below the confidence threshold (light orange).
LOW_CONFIDENCE_FILL = "FFE5B4"
#: Fill of the header row and of the columns a supervisor fills in.
HEADER_FILL = "D9E1F2"
REVIEW_FILL = "E2EFDA"


@dataclass
class ReviewSheet:
    """What the review workbook shows.

    Attributes:
        columns: the header, left to right.
        rows: one list of cell values per unit (``str``, ``int``, ``float`` or ``None``).
        low_confidence: per row, whether to highlight it.
        choices: per column, the values its drop-down offers (the ``reviewed_*`` columns).
        hidden: columns to hide (kept for the import, not for reading).
        widths: per column, a width in characters (default: from the header and the values).
        about: ``(key, value)`` lines for the second sheet (where the rows came from, the threshold).
    """

    columns: list[str]
    rows: list[list[object]]
    low_confidence: list[bool]
    choices: dict[str, list[str]] = field(default_factory=dict)
    hidden: list[str] = field(default_factory=list)
    widths: dict[str, float] = field(default_factory=dict)
    about: list[tuple[str, str]] = field(default_factory=list)


def _openpyxl(path: Path):
    try:
        import openpyxl
    except ImportError as exc:
        from ..errors import DataError

        raise DataError("E513", path=path, detail=str(exc)) from None
    return openpyxl


#: Characters an .xlsx cell cannot hold (XML 1.0 forbids these control characters).
_ILLEGAL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def cell_text(text: str) -> str:
    """``text`` as a workbook cell holds it: control characters replaced with U+FFFD."""
    return _ILLEGAL_RE.sub("\ufffd", text)


def _set(cell, value: object) -> None:
    """Put ``value`` in ``cell``: strings always as string cells (never formulas)."""
    if isinstance(value, str):
        text = cell_text(value)
        cell.value = text
        cell.data_type = "s"  # openpyxl would otherwise store "=..." as a formula
        if text.startswith(FORMULA_TRIGGERS):
            cell.quotePrefix = True
    else:
        cell.value = value


def _width(column: str, values: Sequence[object]) -> float:
    longest = max([len(column), *(len(str(v)) for v in values[:500] if v is not None)])
    return float(min(max(longest + 2, 8), 40))


def write_review_workbook(path: str | Path, sheet: ReviewSheet) -> Path:
    """Write ``sheet`` as ``path`` (atomically): the header frozen and filterable, widths readable,
    long text wrapped, low-confidence rows filled, a list drop-down on every column with ``choices``
    (the lists live on a hidden ``codes`` sheet, so long code lists are not cut at Excel's 255
    characters), and an ``about`` sheet."""
    path = Path(path)
    openpyxl = _openpyxl(path)
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter, quote_sheetname
    from openpyxl.worksheet.datavalidation import DataValidation

    workbook = openpyxl.Workbook()
    review = workbook.active
    review.title = "review"
    bold, wrap = Font(bold=True), Alignment(wrap_text=True, vertical="top")
    top = Alignment(vertical="top")
    header_fill = PatternFill("solid", fgColor=HEADER_FILL)
    low_fill = PatternFill("solid", fgColor=LOW_CONFIDENCE_FILL)
    review_fill = PatternFill("solid", fgColor=REVIEW_FILL)
    for j, name in enumerate(sheet.columns, start=1):
        cell = review.cell(row=1, column=j)
        _set(cell, name)
        cell.font, cell.fill = bold, header_fill
    # Setting a style attribute hashes it against the workbook's style table (most of the time a
    # big sheet takes); each combination is built once and its style array copied after that.
    styles: dict[tuple, object] = {}
    for i, (values, low) in enumerate(zip(sheet.rows, sheet.low_confidence), start=2):
        for j, (name, value) in enumerate(zip(sheet.columns, values), start=1):
            cell = review.cell(row=i, column=j)
            _set(cell, value)
            quoted = isinstance(value, str) and cell.quotePrefix
            key = (name == "text", name in sheet.choices, low, isinstance(value, float), quoted)
            if key in styles:
                cell._style = copy(styles[key])
                continue
            cell.alignment = wrap if name == "text" else top
            if name in sheet.choices:
                cell.fill = review_fill
            elif low:
                cell.fill = low_fill
            if isinstance(value, float):
                cell.number_format = "0.00"
            styles[key] = copy(cell._style)
    last = len(sheet.rows) + 1
    for j, name in enumerate(sheet.columns, start=1):
        letter = get_column_letter(j)
        width = sheet.widths.get(name) or _width(name, [r[j - 1] for r in sheet.rows])
        review.column_dimensions[letter].width = width
        review.column_dimensions[letter].hidden = name in sheet.hidden
    review.freeze_panes = "A2"
    review.auto_filter.ref = f"A1:{get_column_letter(len(sheet.columns))}{last}"

    codes = workbook.create_sheet(CODES_SHEET)
    for k, (name, values) in enumerate(sheet.choices.items(), start=1):
        letter = get_column_letter(k)
        _set(codes.cell(row=1, column=k), name)
        for i, value in enumerate(values, start=2):
            _set(codes.cell(row=i, column=k), value)
        validation = DataValidation(
            type="list", formula1=f"{quote_sheetname(CODES_SHEET)}!${letter}$2:${letter}${len(values) + 1}",
            allow_blank=True, showErrorMessage=True, errorStyle="stop", errorTitle="Not a code",
            error=f"Choose one of the codes of {name} (or leave the cell empty).",
            showInputMessage=False)
        review.add_data_validation(validation)
        column = get_column_letter(sheet.columns.index(name) + 1)
        validation.add(f"{column}2:{column}{max(last, 2)}")
    codes.sheet_state = "hidden"

    about = workbook.create_sheet("about")
    for i, (key, value) in enumerate(sheet.about, start=1):
        _set(about.cell(row=i, column=1), key)
        _set(about.cell(row=i, column=2), value)
        about.cell(row=i, column=1).font = bold
    about.column_dimensions["A"].width = 22
    about.column_dimensions["B"].width = 100

    buffer = io.BytesIO()
    workbook.save(buffer)
    with atomic_open(path, "wb") as handle:
        handle.write(buffer.getvalue())
    return path
