"""SubRip captions (``.srt``): numbered cues with ``00:00:01,000 --> 00:00:02,500`` timings.

``srt.v1`` takes the speaker from a ``Name: text``, ``[Name] text`` or ``- Name: text`` prefix
(a bare ``- `` marks an unnamed change of speaker), strips ``<i>``/``<font>`` tags and ``{\\an8}``
overrides, and joins multi-line cue text. Cues without a speaker follow the rules in
:mod:`.cues`. The cue number is optional; a timing line that cannot be read is E104 with the line.
"""

from __future__ import annotations

import re

from ..errors import InputError
from ..registry import readers
from .cues import Cue, assemble_turns, caption_vocabulary, plain_pieces
from .options import ReaderOptions, ReaderOutput, TranscriptSource
from .timestamps import clip
from .webvtt import parse_timing_line, split_blocks

_TIMESTAMP_RE = re.compile(r"(\d{1,3}):([0-5]?\d):([0-5]?\d)(?:[,.](\d{1,3}))?")
_INDEX_RE = re.compile(r"\ufeff?\d{1,9}")


def parse_srt_timestamp(value: str) -> float:
    """Seconds in an SRT timestamp (``"00:01:02,500"`` -> 62.5; ``.`` and no fraction tolerated).

    Raises:
        ValueError: when ``value`` is not ``hh:mm:ss[,ttt]``.
    """
    match = _TIMESTAMP_RE.fullmatch(value)
    if match is None:
        raise ValueError(value)
    hours, minutes, seconds, fraction = match.groups()
    total = int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    return total + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


@readers.register("srt.v1")
def read_srt(source: TranscriptSource, options: ReaderOptions) -> ReaderOutput:
    """Read SubRip captions; see the module docstring for the rules."""
    path = source.path
    cues: list[Cue] = []
    joined: list[int] = []
    for block in split_blocks(source.text):
        lines = list(block)
        has_index = _INDEX_RE.fullmatch(lines[0][1].strip()) is not None
        if has_index:
            lines = lines[1:]
        if lines and "-->" in lines[0][1]:
            number, line = lines[0]
            start, end = parse_timing_line(line, number, path, parse=parse_srt_timestamp)
            cue = Cue(start, end, number)
            cues.append(cue)
            for number, line in lines[1:]:
                if "-->" in line:
                    # The blank line before the next cue is missing: start it here, taking back
                    # the cue number that was read as text.
                    if cue.lines and _INDEX_RE.fullmatch(cue.lines[-1][1].strip()):
                        cue.lines.pop()
                    start, end = parse_timing_line(line, number, path, parse=parse_srt_timestamp)
                    cue = Cue(start, end, number)
                    cues.append(cue)
                else:
                    cue.lines.append((number, line))
        elif has_index:
            number, line = lines[0] if lines else block[0]
            raise InputError("E104", path=path, line=number, value=clip(line))
        elif cues:
            # Text after a blank line inside a cue: keep it with that cue.
            cues[-1].lines.extend(lines)
            joined.append(lines[0][0])
        else:
            raise InputError(
                "E110", path=path, line=lines[0][0],
                detail="expected a cue number or a timing line ('00:00:01,000 --> 00:00:02,500')",
            )
    vocabulary = caption_vocabulary(cues, options)
    for cue in cues:
        cue.pieces = plain_pieces(cue, vocabulary)
    output = assemble_turns(cues, path, options)
    if joined:
        output.warnings.insert(
            0,
            f"{len(joined)} block(s) without a cue number or timing were joined to the cue before "
            f"(line {joined[0]}, ...)",
        )
    return output
