"""Rows of a table (CSV/TSV rows, JSON turns, docx table rows) to turns, with one set of rules.

* The text is whitespace-normalised; a row with empty text is skipped (counted in a warning).
* The speaker is the speaker column's value; without a speaker column, the role column's value.
  A row with an empty speaker continues with the previous row's speaker (``unknown_speaker`` for
  the first row), with a warning.
* A role column's value goes to ``Turn.role``, lower-cased (``"Therapist"`` -> ``"therapist"``).
* Times are seconds or clock times; a value that is neither is E104 (CSV, docx) or E113 (JSON).
* Every other column (key) goes to ``Turn.extra``, so the coded CSV can pass it through.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..types import Turn
from .columns import Columns
from .options import ReaderOptions, ReaderOutput
from .timestamps import clip, parse_seconds


@dataclass
class RowCollector:
    """Builds turns from table rows, remembering the previous speaker and what was skipped.

    ``unit`` names a row's number in messages: ``"line"`` (CSV: the file line the row starts on),
    ``"turn"`` (JSON: the turn's 1-based index) or ``"row"`` (a docx table row).
    """

    path: str | Path
    columns: Columns
    options: ReaderOptions
    unit: str = "line"
    turns: list[Turn] = field(default_factory=list)
    empty_rows: int = 0
    missing_speaker: int = 0

    def add(self, row: dict, number: int) -> None:
        """Add the row ``row`` (column name -> value), found at ``number``."""
        text = " ".join(_cell(row, self.columns.text).split())
        if not text:
            self.empty_rows += 1
            return
        role_value = _cell(row, self.columns.role).strip()
        speaker = " ".join(_cell(row, self.columns.speaker).split()) if self.columns.speaker else role_value
        if not speaker:
            self.missing_speaker += 1
            speaker = self.turns[-1].speaker if self.turns else self.options.unknown_speaker
        self.turns.append(
            Turn(
                speaker=speaker,
                text=text,
                start=self._seconds(row, self.columns.start, number),
                end=self._seconds(row, self.columns.end, number),
                role=role_value.lower() or None,
                line=number,
                extra=self._extra(row),
            )
        )

    def _extra(self, row: dict) -> tuple[tuple[str, str], ...]:
        used = {self.columns.text, self.columns.speaker, self.columns.role, self.columns.start, self.columns.end}
        return tuple((str(name), value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
                     for name, value in row.items() if name is not None and name not in used and value is not None)

    def _seconds(self, row: dict, column: str | None, number: int) -> float | None:
        if column is None:
            return None
        value = row.get(column)
        try:
            return parse_seconds(value)
        except ValueError:
            shown = clip(str(value))
            if self.unit == "line":
                raise InputError("E104", path=self.path, line=number, value=shown) from None
            raise InputError(
                "E113", path=self.path, unit=self.unit, index=number,
                detail=f"malformed time '{shown}' in '{column}'",
            ) from None

    def output(self) -> ReaderOutput:
        """The turns collected, with warnings about skipped rows and missing speakers."""
        warnings: list[str] = []
        if self.empty_rows:
            warnings.append(f"{self.empty_rows} row(s) with empty text were skipped")
        if self.missing_speaker:
            warnings.append(
                f"{self.missing_speaker} row(s) without a speaker were given the previous row's speaker"
            )
        return ReaderOutput(self.turns, warnings)


def _cell(row: dict, column: str | None) -> str:
    if column is None:
        return ""
    value = row.get(column)
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)
