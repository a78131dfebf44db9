"""WebVTT captions (``.vtt``), as Zoom, Teams, YouTube and diarising transcribers write them.

``webvtt.v1`` reads the ``WEBVTT`` header (and tolerates its absence), skips ``NOTE``, ``STYLE``
and ``REGION`` blocks, cue identifiers and cue settings, joins multi-line cue text, and takes the
speaker from voice tags (``<v Maria>``, ``<v.loud Maria>``; several in one cue give several
turns) or else from a ``Name:`` / ``[Name]`` / ``- `` prefix. Other markup is stripped. How cues
without a speaker are handled is described in :mod:`.cues`.

Timestamps must be ``mm:ss.ttt`` or ``hh:mm:ss.ttt`` (a ``,`` separator and 1-3 fraction digits
are tolerated); anything else is E104 with the line number.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from ..errors import InputError
from ..registry import readers
from .cues import Cue, CuePiece, assemble_turns, caption_vocabulary, clean_caption_text, plain_pieces
from .options import ReaderOptions, ReaderOutput, TranscriptSource
from .timestamps import clip

_TIMESTAMP_RE = re.compile(r"(?:(\d{1,4}):)?([0-5]\d):([0-5]\d)[.,](\d{1,3})")
_VOICE_RE = re.compile(r"<v(?:\.[^\s<>]{1,40})*(?:[ \t]+(?P<name>[^<>\n]{0,80}))?>|</v>", re.IGNORECASE)
_SKIPPED_BLOCK_RE = re.compile(r"(?:NOTE|STYLE|REGION)(?:[ \t].*)?")


def parse_vtt_timestamp(value: str) -> float:
    """Seconds in a WebVTT timestamp (``"01:02.500"`` -> 62.5).

    Raises:
        ValueError: when ``value`` is not ``[hh:]mm:ss.ttt``.
    """
    match = _TIMESTAMP_RE.fullmatch(value)
    if match is None:
        raise ValueError(value)
    hours, minutes, seconds, fraction = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(fraction) / 10 ** len(fraction)


def parse_timing_line(
    line: str, number: int, path: str | Path, parse: Callable[[str], float] = parse_vtt_timestamp
) -> tuple[float, float]:
    """``(start, end)`` of a cue timing line ``start --> end [settings]``.

    Raises:
        InputError: E104 naming the line and the malformed part.
    """
    left, _, right = line.partition("-->")
    start_token = left.strip()
    end_tokens = right.split(None, 1)
    if not start_token or " " in start_token or not end_tokens:
        raise InputError("E104", path=path, line=number, value=clip(line))
    times = []
    for token in (start_token, end_tokens[0]):
        try:
            times.append(parse(token))
        except ValueError:
            raise InputError("E104", path=path, line=number, value=clip(token)) from None
    return times[0], times[1]


def split_blocks(text: str) -> list[list[tuple[int, str]]]:
    """Numbered lines grouped into blocks separated by blank lines."""
    blocks: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            current.append((number, line))
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def voice_pieces(cue: Cue) -> list[CuePiece]:
    """Split a cue with ``<v Name>`` voice tags into one piece per voice."""
    pieces: list[CuePiece] = []
    for number, raw in cue.lines:
        position = 0
        for tag in _VOICE_RE.finditer(raw):
            _append_text(pieces, raw[position : tag.start()], number)
            position = tag.end()
            name = tag.group("name")
            if name is not None and name.strip():
                pieces.append(CuePiece("", number, speaker=" ".join(name.split())))
        _append_text(pieces, raw[position:], number)
    return pieces


def _append_text(pieces: list[CuePiece], raw: str, number: int) -> None:
    text = clean_caption_text(raw)
    if not text:
        return
    if pieces:
        pieces[-1].text = f"{pieces[-1].text} {text}".strip()
    else:
        pieces.append(CuePiece(text, number))


@readers.register("webvtt.v1")
def read_webvtt(source: TranscriptSource, options: ReaderOptions) -> ReaderOutput:
    """Read WebVTT captions; see the module docstring for the rules."""
    path = source.path
    warnings: list[str] = []
    blocks = split_blocks(source.text)
    if blocks and blocks[0][0][1].lstrip("\ufeff").startswith("WEBVTT"):
        # The header runs to the first blank line, or (missing that) to the first timing line.
        header = blocks[0]
        timing = next((i for i, (_, line) in enumerate(header) if "-->" in line), None)
        blocks = blocks[1:] if timing is None else [header[timing:], *blocks[1:]]
    else:
        warnings.append("no 'WEBVTT' header on the first line; read as WebVTT anyway")

    cues: list[Cue] = []
    stray: list[int] = []
    for block in blocks:
        if _SKIPPED_BLOCK_RE.fullmatch(block[0][1].strip()):
            continue
        timing = next((i for i, (_, line) in enumerate(block) if "-->" in line), None)
        if timing is None:
            stray.extend(number for number, _ in block)
            continue
        # The line just before the timing line is the cue identifier; earlier lines are stray.
        stray.extend(number for number, _ in block[: max(0, timing - 1)])
        for number, line in block[timing:]:
            if "-->" in line:
                # A timing line inside a block: the blank line between two cues is missing.
                start, end = parse_timing_line(line, number, path)
                cues.append(Cue(start, end, number))
            else:
                cues[-1].lines.append((number, line))
    if stray:
        warnings.append(f"{len(stray)} line(s) outside any cue were skipped (line {stray[0]}, ...)")

    vocabulary = caption_vocabulary([c for c in cues if not _has_voice(c)], options)
    for cue in cues:
        cue.pieces = voice_pieces(cue) if _has_voice(cue) else plain_pieces(cue, vocabulary)
    output = assemble_turns(cues, path, options)
    output.warnings[:0] = warnings
    return output


def _has_voice(cue: Cue) -> bool:
    return any(_VOICE_RE.search(line) for _, line in cue.lines)
