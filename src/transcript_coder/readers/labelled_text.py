"""Labelled plain text: one ``Speaker: text`` line per turn (``.txt``, ``.md``, pasted text).

Rules (``labelled_text.v1``):

* A line that starts with a speaker label (see :mod:`.labels`) starts a new turn, even when the
  speaker is the same as the previous turn's: each labelled line is one turn.
* A line without a label continues the previous turn; the lines are joined with a space.
* Blank lines, Markdown headings (``# Session 3``), rules (``---``) and timestamps alone on a
  line (``[00:05:00]``) are ignored.
* A speaker and a time alone on a line (``Speaker 1  0:03``, as Otter exports) start a turn whose
  text is on the following lines, when that speaker label recurs or names a role.
* Lines before the first label (a title, a date) are skipped with a warning.
* A timestamp next to the label (``[00:01:02] Name:``, ``Name (01:02):``) becomes ``Turn.start``.
* A label that is no role word and occurs only once (``Priya:``) is read as a speaker when it
  looks like a name, with a warning; see :class:`.labels.LabelVocabulary`.
* A file with text but no speaker label anywhere is an error (E103).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ..errors import InputError
from ..registry import readers
from ..types import Turn
from .labels import LabelMatch, LabelVocabulary, match_label
from .options import ReaderOptions, ReaderOutput, TranscriptSource
from .timestamps import CLOCK_PATTERN, parse_clock

logger = logging.getLogger(__name__)

# Markdown headings and rules, and a timestamp alone on its line: layout, not speech.
_IGNORED_LINE_RE = re.compile(
    rf"#{{1,6}}[ \t].{{0,200}}|#{{1,6}}|[-*_=~]{{3,}}[ \t]*|[\[(]?{CLOCK_PATTERN}[\])]?"
)


@dataclass
class _OpenTurn:
    speaker: str
    start: float | None
    line: int
    parts: list[str] = field(default_factory=list)

    def close(self) -> Turn | None:
        text = " ".join(" ".join(self.parts).split())
        if not text:
            return None
        return Turn(speaker=self.speaker, text=text, start=self.start, line=self.line)


def parse_labelled_lines(
    lines: Iterable[tuple[int, str]],
    path: str | Path,
    options: ReaderOptions,
    unit: str = "line",
) -> ReaderOutput:
    """Turns from numbered lines of labelled text.

    Shared by the text and ``.docx`` readers: ``lines`` are ``(number, text)`` pairs, where the
    number is the 1-based line (or, for ``.docx``, paragraph) the text comes from; ``unit`` names
    that number in warnings.

    Raises:
        InputError: E103 when no line has a speaker label; E104 for a timestamp out of range.
    """
    entries: list[tuple[int, str, LabelMatch | None]] = []
    first_text_line: int | None = None
    for number, raw in lines:
        stripped = raw.strip()
        if not stripped:
            continue
        if first_text_line is None:
            first_text_line = number
        if _IGNORED_LINE_RE.fullmatch(stripped):
            continue
        entries.append((number, stripped, match_label(raw)))
    if first_text_line is None:
        raise InputError("E101", path=path)

    vocabulary = LabelVocabulary((m.name for _, _, m in entries if m is not None), options.speaker_labels)
    turns: list[Turn] = []
    warnings: list[str] = []
    preamble: list[int] = []
    rejected: list[tuple[int, str]] = []
    tentative: list[tuple[int, str]] = []
    empty: list[int] = []
    current: _OpenTurn | None = None
    for number, stripped, label in entries:
        if label is not None and vocabulary.accepts(label):
            if current is not None:
                _close(current, turns, empty)
            current = _OpenTurn(label.name, _label_start(label, path, number), number)
            if vocabulary.is_tentative(label.name):
                tentative.append((number, label.name))
            if label.text:
                current.parts.append(label.text)
            continue
        if label is not None:
            rejected.append((number, label.name))
        if current is None:
            preamble.append(number)
        else:
            current.parts.append(stripped)
    if current is not None:
        _close(current, turns, empty)
    if not turns and not empty:
        raise InputError("E103", path=path, line=first_text_line)

    if preamble:
        warnings.append(
            f"{len(preamble)} {unit}(s) before the first speaker label were skipped "
            f"({unit} {_ranges(preamble)})"
        )
    for number, name in rejected[:5]:
        warnings.append(f"{unit} {number}: '{name}:' read as text, not as a speaker label")
    if len(rejected) > 5:
        warnings.append(f"{len(rejected) - 5} more candidate labels were read as text")
    for number, name in tentative[:5]:
        warnings.append(
            f"{unit} {number}: '{name}:' was read as a speaker label though it occurs only once; "
            "check it is not the start of a sentence"
        )
    if empty:
        warnings.append(f"{len(empty)} labelled turn(s) without text were dropped ({unit} {_ranges(empty)})")
    return ReaderOutput(turns, warnings)


def _label_start(label: LabelMatch, path: str | Path, line: int) -> float | None:
    if label.timestamp is None:
        return None
    try:
        return parse_clock(label.timestamp)
    except ValueError:
        raise InputError("E104", path=path, line=line, value=label.timestamp) from None


def _close(current: _OpenTurn, turns: list[Turn], empty: list[int]) -> None:
    turn = current.close()
    if turn is None:
        empty.append(current.line)
    else:
        turns.append(turn)


def _ranges(numbers: list[int], limit: int = 6) -> str:
    shown = ", ".join(str(n) for n in numbers[:limit])
    return shown + (", ..." if len(numbers) > limit else "")


@readers.register("labelled_text.v1")
def read_labelled_text(source: TranscriptSource, options: ReaderOptions) -> ReaderOutput:
    """Read labelled plain text (``Therapist: ...`` lines); see the module docstring for rules."""
    lines = enumerate(source.text.split("\n"), start=1)
    return parse_labelled_lines(lines, source.path, options)
