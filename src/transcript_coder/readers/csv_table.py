"""Tables of turns (``.csv``, ``.tsv``): a header row, then one row per turn.

``csv.v1`` sniffs the delimiter (tab, comma, semicolon or bar) from the header line unless
:attr:`ReaderOptions.delimiter` is set, finds the columns as :mod:`.columns` describes, and turns
rows into turns by the rules in :mod:`.table_rows`. ``Turn.line`` is the file line a row starts on
(a quoted cell may span several lines).
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

from ..errors import InputError
from ..registry import readers
from .columns import resolve_columns
from .options import ReaderOptions, ReaderOutput, TranscriptSource
from .table_rows import RowCollector

logger = logging.getLogger(__name__)

DELIMITERS = ("\t", ",", ";", "|")


def header_line(text: str) -> str:
    """The first non-empty line of ``text`` (at most 64 kB of it)."""
    for line in text[: 64 * 1024].split("\n"):
        if line.strip():
            return line
    return ""


def sniff_delimiter(text: str, suffix: str = "") -> str:
    """The delimiter that splits the header line into the most cells; ties and headers with a
    single column go to the extension's (tab for ``.tsv``, else comma)."""
    preferred = "\t" if suffix.lower() == ".tsv" else ","
    header = header_line(text)
    counts = {delimiter: header.count(delimiter) for delimiter in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: (counts[d], d == preferred))
    return best if counts[best] else preferred


@readers.register("csv.v1")
def read_csv(source: TranscriptSource, options: ReaderOptions) -> ReaderOutput:
    """Read a CSV or TSV table of turns; see the module docstring for the rules."""
    path = source.path
    delimiter = options.delimiter or sniff_delimiter(source.text, Path(path).suffix)
    # A single cell may hold a whole session (or a 5 MB line); the default limit is 128 kB.
    if csv.field_size_limit() < len(source.text) + 1:
        csv.field_size_limit(len(source.text) + 1)
    rows = csv.reader(io.StringIO(source.text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    collector: RowCollector | None = None
    line_after_previous = 0
    try:
        for cells in rows:
            row_line = line_after_previous + 1
            line_after_previous = rows.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = [cell.strip() for cell in cells]
                collector = RowCollector(path, resolve_columns(header, options, path), options, unit="line")
                logger.debug("%s: delimiter %r, columns %s", path, delimiter, header)
                continue
            collector.add(dict(zip(header, cells)), row_line)
    except csv.Error as error:
        raise InputError("E110", path=path, line=rows.line_num, detail=f"cannot read CSV: {error}") from None
    if collector is None:
        raise InputError("E109", path=path)
    return collector.output()
