"""Caption cues (WebVTT, SRT) to speaker turns: the rules both caption readers share.

Captions split speech by time, not by speaker, so a cue may name its speaker (``<v Maria>``,
``Maria: ...``, ``[Maria] ...``), mark a change of speaker without a name (``- ...``, ``>> ...``),
or say nothing about the speaker. The rules:

* A piece of a cue that names a speaker starts a new turn (consecutive cues of the same speaker
  stay separate turns, one per cue, as labelled text keeps one turn per labelled line).
* A cue that names no speaker *clearly continues* the previous turn when it has no change-of-speaker
  mark and does not start before the previous cue ends; its text is appended to that turn and
  the turn's end is extended.
* Any other cue without a speaker (the first cue, an overlapping cue, a ``- `` line) becomes a
  turn of :attr:`ReaderOptions.unknown_speaker`, with a warning.
* A file in which no cue names a speaker is an error (E103): there is nothing to code by role.

Cues that overlap in time are kept in file order. When one cue holds several speakers, each of
their turns gets the cue's start and end.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..types import Turn
from .labels import LabelVocabulary, match_bracket_label, match_label
from .options import ReaderOptions, ReaderOutput

# Two cues whose times differ by less than this are treated as touching, not overlapping.
_TOUCHING_SECONDS = 0.01
_TAG_RE = re.compile(r"<[^<>\n]{0,300}>")
_ASS_OVERRIDE_RE = re.compile(r"\{\\[^{}\n]{0,200}\}")
_DASH_RE = re.compile(r"[-–—][ \t]{1,3}")


@dataclass
class CuePiece:
    """Text of one speaker inside a cue; ``new_speaker`` marks an unnamed change of speaker."""

    text: str
    line: int
    speaker: str | None = None
    new_speaker: bool = False


@dataclass
class Cue:
    """One timed caption: its times in seconds, the line of its timing, its text lines."""

    start: float
    end: float
    line: int
    lines: list[tuple[int, str]] = field(default_factory=list)
    pieces: list[CuePiece] = field(default_factory=list)


def clean_caption_text(text: str) -> str:
    """Caption markup removed: tags (``<i>``, ``<c.red>``, ``<00:00:01.000>``, ``<font>``), ASS
    overrides (``{\\an8}``) and HTML entities (``&amp;``); whitespace collapsed."""
    text = _ASS_OVERRIDE_RE.sub("", _TAG_RE.sub("", text))
    return " ".join(html.unescape(text).split())


def caption_vocabulary(cues: list[Cue], options: ReaderOptions) -> LabelVocabulary:
    """The speaker labels of a caption file, from every ``Name:`` / ``[Name]`` at a line start."""
    names: list[str] = []
    for cue in cues:
        for _, raw in cue.lines:
            line = _strip_broadcast_mark(clean_caption_text(raw))[0]
            label = match_label(line) or match_bracket_label(line)
            if label is not None:
                names.append(label.name)
    return LabelVocabulary(names, options.speaker_labels)


def plain_pieces(cue: Cue, vocabulary: LabelVocabulary) -> list[CuePiece]:
    """Split a cue without voice tags into speaker pieces, line by line."""
    pieces: list[CuePiece] = []
    for number, raw in cue.lines:
        line, marked = _strip_broadcast_mark(clean_caption_text(raw))
        if not line:
            continue
        label = match_label(line)
        if label is None or label.header or not vocabulary.accepts(label):
            label = match_bracket_label(line)
        if label is not None and vocabulary.accepts(label):
            pieces.append(CuePiece(label.text, number, speaker=label.name))
            continue
        dash = _DASH_RE.match(line)
        if dash is not None:
            line, marked = line[dash.end():], True
        if marked or not pieces:
            pieces.append(CuePiece(line, number, new_speaker=marked))
        else:
            pieces[-1].text = f"{pieces[-1].text} {line}".strip()
    return pieces


def _strip_broadcast_mark(line: str) -> tuple[str, bool]:
    """``>> text`` (broadcast captions' change of speaker) -> ``("text", True)``."""
    if line.startswith(">>"):
        return line[2:].lstrip(), True
    return line, False


def assemble_turns(cues: list[Cue], path: str | Path, options: ReaderOptions) -> ReaderOutput:
    """Turns from cues whose ``pieces`` are filled in; see the module docstring for the rules.

    Raises:
        InputError: E103 when no cue names a speaker.
    """
    open_turns: list[dict] = []
    continued = unknown = 0
    first_line: int | None = None
    named = False
    previous_end: float | None = None
    for cue in cues:
        for index, piece in enumerate(cue.pieces):
            if not piece.text and piece.speaker is None:
                continue
            first_line = piece.line if first_line is None else first_line
            if piece.speaker is not None:
                named = True
                open_turns.append(_new_turn(piece.speaker, piece, cue))
                continue
            touching = previous_end is None or cue.start >= previous_end - _TOUCHING_SECONDS
            if open_turns and not piece.new_speaker and (index > 0 or touching):
                last = open_turns[-1]
                last["parts"].append(piece.text)
                last["end"] = max(last["end"], cue.end)
                continued += 1
            else:
                open_turns.append(_new_turn(options.unknown_speaker, piece, cue))
                unknown += 1
        previous_end = cue.end
    if first_line is None:
        raise InputError("E109", path=path)
    if not named:
        raise InputError("E103", path=path, line=first_line)

    turns = []
    for item in open_turns:
        text = " ".join(" ".join(item["parts"]).split())
        if text:
            turns.append(Turn(item["speaker"], text, item["start"], item["end"], None, item["line"]))
    warnings: list[str] = []
    if continued:
        warnings.append(f"{continued} cue(s) without a speaker were joined to the previous speaker's turn")
    if unknown:
        warnings.append(
            f"{unknown} cue(s) without an identifiable speaker were given the speaker "
            f"'{options.unknown_speaker}'"
        )
    return ReaderOutput(turns, warnings)


def _new_turn(speaker: str, piece: CuePiece, cue: Cue) -> dict:
    return {"speaker": speaker, "parts": [piece.text], "start": cue.start, "end": cue.end, "line": piece.line}
