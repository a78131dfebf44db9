"""Labelled plain text: one ``Speaker: text`` line per turn (``.txt``, ``.md``, pasted text).

Rules (``labelled_text.v2``; ``labelled_text.v1`` is the same without header blocks, so runs
that forced it with ``--format labelled_text.v1`` read as they did):

* A line that starts with a speaker label (see :mod:`.labels`) starts a new turn, even when the
  speaker is the same as the previous turn's: each labelled line is one turn.
* A line without a label continues the previous turn; the lines are joined with a space.
* Blank lines, Markdown headings (``# Session 3``), rules (``---``) and timestamps alone on a
  line (``[00:05:00]``) are ignored.
* A speaker and a time alone on a line (``Speaker 1  0:03``, as Otter exports) start a turn whose
  text is on the following lines, when that speaker label recurs or names a role.
* A header block above the dialogue is metadata, not turns (``v2``; see :func:`split_header`):
  a title (``Session 3``, ``Transcript of ...``), fields
  (``Date: ...``, ``Location: ...``) and role lines naming a person (``Therapist: Dr. Smith``,
  ``Client: Jane D.``), whose names role assignment then uses. Other lines before the first label
  are skipped with a warning.
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
from .labels import (
    PROSE_LEAD_INS,
    ROLE_LABELS,
    LabelMatch,
    LabelVocabulary,
    is_prose_lead_in,
    match_label,
    speaker_key,
)
from .options import ReaderOptions, ReaderOutput, TranscriptSource
from .timestamps import CLOCK_PATTERN, parse_clock

logger = logging.getLogger(__name__)

# Markdown headings and rules, and a timestamp alone on its line: layout, not speech.
_IGNORED_LINE_RE = re.compile(
    rf"#{{1,6}}[ \t].{{0,200}}|#{{1,6}}|[-*_=~]{{3,}}[ \t]*|[\[(]?{CLOCK_PATTERN}[\])]?"
)


# A title line of a header block: "Session 3", "Transcript of session 4", "Interview - 2 May".
_TITLE_RE = re.compile(
    r"(?:session|transcript|transcription|interview|recording|meeting|therapy|counsell?ing|consultation)\b.{0,200}",
    re.IGNORECASE,
)
_SESSION_NUMBER_RE = re.compile(r"\bsession[ \t]*(?:no\.?|number|#)?[ \t]*(\d{1,4})\b", re.IGNORECASE)
_NOT_NAME_RE = re.compile(r"[?!,;:\"“”()\[\]]")
# Words a first turn may consist of that are capitalised like a name but are not one.
_NOT_NAME_WORDS = frozenset(
    """hello hi hey thanks thank welcome morning afternoon evening good great right sure fine mhm hmm
    um uh er nothing nobody everything something sorry please""".split()
) | PROSE_LEAD_INS
_NAME_PARTICLES = frozenset("de da del della der di du la le van von bin al el y".split())
_TITLES = frozenset("dr dr. doctor mr mr. mrs mrs. ms ms. miss prof prof. professor".split())


def looks_like_person(value: str) -> bool:
    """True for a short capitalised name such as ``Dr. Smith``, ``Jane D.``, ``Maria de Souza``:
    at most four words, no sentence punctuation, and no word a turn would start with (``Hi``)."""
    words = value.split()
    if not 1 <= len(words) <= 4 or len(value) > 60 or _NOT_NAME_RE.search(value):
        return False
    if any(w.rstrip(".").casefold() in _NOT_NAME_WORDS for w in words):
        return False
    if len(words) == 1 and value.endswith(".") and len(value.rstrip(".")) > 2:
        return False  # "Fine." is a turn; "D." an initial
    return all(w[:1].isupper() or w.casefold() in _NAME_PARTICLES for w in words)


def _names_overlap(name: str, speaker: str) -> bool:
    """Whether a header name and a speaker label name the same person (``Jane D.`` / ``Jane``)."""
    fold = lambda text: [w for w in re.sub(r"[^\w]+", " ", text).casefold().split() if w not in _TITLES]  # noqa: E731
    name_words, speaker_words = fold(name), fold(speaker)
    return (bool(speaker_words) and all(w in name_words for w in speaker_words)
            and any(len(w) > 1 for w in speaker_words))


def split_header(entries: list[tuple[int, str, LabelMatch | None]],
                 vocabulary: LabelVocabulary) -> tuple[int, dict[str, str], list[int]]:
    """The header block at the top of a labelled transcript.

    Reads leading entries while they are header-shaped: a title line (``Session 3``), a field
    (a prose label such as ``Date:``, ``Location:``), a role line whose text is a person's name
    (``Therapist: Dr. Smith``), or other unlabelled text (skipped, as before any label). A role
    line counts as metadata only when something vouches that it is not a first turn: the block
    has another title, field or role line; its name (or part of it) is a speaker later on; its
    role label is not a speaker later on; or the name carries a title (``Dr.``). A file with no
    speaker after its header keeps its role lines as turns.

    Returns:
        How many entries the block spans, the metadata, and the numbers of the skipped lines.
    """
    kinds: list[str] = []
    for _, stripped, label in entries:
        if label is None:
            kind = "title" if _TITLE_RE.fullmatch(stripped) else "skipped"
        elif not vocabulary.accepts(label):
            kind = "field" if is_prose_lead_in(label.name) and label.text else "skipped"
        elif speaker_key(label.name) in ROLE_LABELS and looks_like_person(label.text):
            kind = "role"
        else:
            break
        kinds.append(kind)
    later = {speaker_key(m.name) for _, _, m in entries[len(kinds):] if m is not None and vocabulary.accepts(m)}
    informative = sum(1 for kind in kinds if kind != "skipped")
    metadata: dict[str, str] = {}
    skipped: list[int] = []
    for i, kind in enumerate(kinds):
        number, stripped, label = entries[i]
        if kind == "role":
            name = label.text
            vouched = later and (informative >= 2 or speaker_key(label.name) not in later
                       or any(_names_overlap(name, speaker) for speaker in later)
                       or name.split()[0].casefold() in _TITLES)
            if not vouched:
                return i, metadata, skipped
            metadata[label.name] = name
        elif kind == "field":
            metadata[label.name] = label.text
        elif kind == "title":
            metadata["title"] = f"{metadata['title']} / {stripped}" if "title" in metadata else stripped
            number_match = _SESSION_NUMBER_RE.search(stripped)
            if number_match and "session" not in metadata:
                metadata["session"] = number_match.group(1)
        else:
            skipped.append(number)
    return len(kinds), metadata, skipped


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
    headers: bool = True,
) -> ReaderOutput:
    """Turns from numbered lines of labelled text.

    Shared by the text and ``.docx`` readers: ``lines`` are ``(number, text)`` pairs, where the
    number is the 1-based line (or, for ``.docx``, paragraph) the text comes from; ``unit`` names
    that number in warnings. ``headers`` reads a header block as metadata (the ``v2`` readers);
    without it every line before the first label is skipped (``v1``).

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
    header_end, metadata, preamble = split_header(entries, vocabulary) if headers else (0, {}, [])
    turns: list[Turn] = []
    warnings: list[str] = []
    rejected: list[tuple[int, str]] = []
    tentative: list[tuple[int, str]] = []
    empty: list[int] = []
    current: _OpenTurn | None = None
    for number, stripped, label in entries[header_end:]:
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
    if metadata:
        logger.info("%s: header read as metadata: %s", path, metadata)

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
    return ReaderOutput(turns, warnings, metadata)


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


@readers.register("labelled_text.v2")
def read_labelled_text(source: TranscriptSource, options: ReaderOptions) -> ReaderOutput:
    """Read labelled plain text (``Therapist: ...`` lines); see the module docstring for rules."""
    lines = enumerate(source.text.split("\n"), start=1)
    return parse_labelled_lines(lines, source.path, options)


@readers.register("labelled_text.v1")
def read_labelled_text_v1(source: TranscriptSource, options: ReaderOptions) -> ReaderOutput:
    """``labelled_text.v2`` without header blocks: lines before the first label are skipped."""
    lines = enumerate(source.text.split("\n"), start=1)
    return parse_labelled_lines(lines, source.path, options, headers=False)
