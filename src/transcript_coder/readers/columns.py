"""Finding the speaker, role, text and time columns of a table (CSV/TSV, JSON keys, docx tables).

Columns are matched case-insensitively against the candidates in :class:`ReaderOptions`; the first
candidate present wins. A table needs a text column and a speaker or role column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..errors import InputError
from .options import ReaderOptions
from .timestamps import clip


@dataclass(frozen=True)
class Columns:
    """The column (or key) names a table's turns are read from; ``None`` when absent."""

    text: str
    speaker: str | None
    role: str | None
    start: str | None
    end: str | None


def find_column(names: Sequence[str], candidates: Sequence[str]) -> str | None:
    """The first of ``names`` matching a candidate (case-insensitive, spaces and BOM ignored)."""
    folded: dict[str, str] = {}
    for name in names:
        folded.setdefault(str(name).strip().lstrip("\ufeff").casefold(), name)
    for candidate in candidates:
        found = folded.get(candidate.strip().casefold())
        if found is not None:
            return found
    return None


def describe_columns(names: Sequence[str], limit: int = 20) -> str:
    """Column names quoted for an error message, cut short when there are many."""
    shown = ", ".join(f"'{clip(str(name), 40)}'" for name in list(names)[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "") if names else "(none)"


def resolve_columns(names: Sequence[str], options: ReaderOptions, path: str | Path) -> Columns:
    """The text, speaker, role and time columns among ``names``.

    Raises:
        InputError: E108 when there is no text column, or neither a speaker nor a role column.
    """
    text = find_column(names, options.text_columns)
    if text is None:
        raise InputError(
            "E108", path=path, what="the turn text", columns=describe_columns(names),
            option="--text-column NAME, or ReaderOptions(text_columns=...) from Python",
        )
    speaker = find_column(names, options.speaker_columns)
    role = find_column(names, options.role_columns)
    if speaker is None and role is None:
        raise InputError(
            "E108", path=path, what="the speaker", columns=describe_columns(names),
            option="--speaker-column / --role-column NAME, or ReaderOptions(speaker_columns=...) from Python",
        )
    return Columns(
        text=text,
        speaker=speaker,
        role=role,
        start=find_column(names, options.start_columns),
        end=find_column(names, options.end_columns),
    )
