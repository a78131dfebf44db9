"""Readers: transcript files of any common shape to a :class:`~transcript_coder.types.Session`.

One module per format, each a function registered under a versioned name in
:data:`transcript_coder.registry.readers`:

=====================  ==========================================================
``labelled_text.v2``   ``Therapist: ...`` lines (``.txt``, ``.md``, unknown text), a header block
                       as metadata (``v1``: without header blocks)
``csv.v1``             CSV/TSV tables with speaker, role, text, start, end columns
``webvtt.v1``          WebVTT captions (voice tags or ``Name:`` cues)
``srt.v1``             SubRip captions
``whisperx_json.v1``   WhisperX JSON segments (one turn per segment)
``json_turns.v1``      a JSON list of ``{speaker, text}`` turns (or ``{"turns": [...]}``)
``jsonl_turns.v1``     JSON Lines, one turn per line
``docx.v2``            Word documents (paragraphs as labelled text, or a turn table; ``v1``:
                       paragraphs without header blocks)
=====================  ==========================================================

:func:`read_transcript` decodes the file (:mod:`.text_io`), picks the reader
(:func:`detect_format`) and returns the session. Every problem with the input is an
:class:`~transcript_coder.errors.InputError` naming the file and, where one applies, the line.
A reader never decides roles: a session with one speaker is read as it is.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from pathlib import Path

from ..errors import InputError, TranscriptCoderError
from ..registry import readers
from ..types import Session, Turn
from . import csv_table, json_turns, labelled_text, srt, webvtt, whisperx, word_docx  # noqa: F401 (registers)
from .detect import (
    DOCX,
    EXTENSION_READERS,
    UNSUPPORTED_EXTENSIONS,
    detect_format,
    is_docx_bytes,
    supported_extensions,
)
from .options import UNKNOWN_SPEAKER, ReaderOptions, ReaderOutput, TranscriptSource
from .text_io import decode_transcript, normalise_newlines

logger = logging.getLogger(__name__)

__all__ = [
    "ReaderOptions",
    "ReaderOutput",
    "TranscriptSource",
    "UNKNOWN_SPEAKER",
    "detect_format",
    "read_transcript",
    "read_transcript_text",
    "reader_warnings",
    "resolve_reader",
]

_FAMILY_ALIASES = {
    "txt": "labelled_text", "text": "labelled_text", "labelled": "labelled_text", "md": "labelled_text",
    "tsv": "csv", "vtt": "webvtt", "whisperx": "whisperx_json", "json": "json_turns",
    "jsonl": "jsonl_turns", "ndjson": "jsonl_turns",
}
_VERSION_RE = re.compile(r"(?P<family>.+)\.v(?P<version>\d+)")
# A lone UTF-16 surrogate: JSON's "\ud800" escapes decode to one, and no encoder (CSV, JSON
# state, tokenizer) accepts it.
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
#: Lines listed in an E121 message; the count covers all of them.
_LINES_SHOWN = 10


def resolve_reader(name: str, path: str | Path = "<input>") -> str:
    """The registered reader name for ``name``: a registered name (``"srt.v1"``), a family
    (``"srt"``, latest version) or an alias (``"vtt"``, ``"tsv"``, ``"whisperx"``).

    Raises:
        InputError: E111 when no reader has that name.
    """
    if name in readers:
        return name
    family = _FAMILY_ALIASES.get(name.lower(), name.lower())
    versions = [
        (int(match["version"]), registered)
        for registered in readers.names()
        if (match := _VERSION_RE.fullmatch(registered)) and match["family"] == family
    ]
    if not versions:
        known = ", ".join(readers.names())
        raise InputError("E111", path=path, detail=f"unknown reader '{name}' (known: {known})")
    return max(versions)[1]


def read_transcript(
    path: str | Path, options: ReaderOptions | None = None, session_id: str | None = None
) -> Session:
    """Read one transcript file into a :class:`Session`.

    The format is detected from the content and the extension (:func:`detect_format`) unless
    ``options.format`` names a reader. ``session_id`` defaults to the file name without its
    extension. Reader notes (skipped lines, cues given an unknown speaker, a cp1252 fallback)
    are in ``Session.warnings``; coded warnings in ``Session.problems``: E120 a lone surrogate in a
    speaker label or text (replaced with U+FFFD), E121 bytes that are not UTF-8 in an otherwise
    UTF-8 file (replaced with U+FFFD).

    Raises:
        InputError: for anything wrong with the input, with a stable code: E101 empty, E102
            binary, E103 no speaker labels, E104 bad timestamp, E105 bad JSON, E106 undecodable,
            E107 unsupported format, E108 missing column, E109 no turns, E110/E111/E113 other
            structural problems, E114/E115 ``.docx`` problems, E116 file cannot be opened.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError("E116", path=path, detail="no such file") from None
    except IsADirectoryError:
        raise InputError("E116", path=path, detail="it is a directory") from None
    except OSError as error:
        raise InputError("E116", path=path, detail=error.strerror or str(error)) from None
    return _read(path, data, options or ReaderOptions(), session_id or path.stem)


def read_transcript_text(
    text: str, name: str = "pasted.txt", options: ReaderOptions | None = None, session_id: str | None = None
) -> Session:
    """Read a transcript held in a string (pasted text).

    ``name`` stands in for the file name in messages, and its extension helps detection; the
    session's ``source`` is ``None``. Formats that need bytes (``.docx``) cannot be read this way.
    """
    path = Path(name)
    if not text.strip():
        raise InputError("E101", path=path)
    source = TranscriptSource(path, text=normalise_newlines(text).lstrip("\ufeff"))
    session = _run(source, options or ReaderOptions(), session_id or path.stem, [])
    session.source = None
    return session


def _read(path: Path, data: bytes, options: ReaderOptions, session_id: str) -> Session:
    reader = resolve_reader(options.format, path) if options.format else None
    suffix = path.suffix.lower()
    if reader is None and (suffix == ".docx" or is_docx_bytes(data)):
        reader = DOCX
    if reader == DOCX:
        return _run(TranscriptSource(path, data=data), options, session_id, [], reader)
    if reader is None and suffix in UNSUPPORTED_EXTENSIONS:
        raise InputError("E107", path=path, suffix=suffix, supported=supported_extensions())
    decoded = decode_transcript(data, path, options.encoding)
    notes = []
    if decoded.encoding == "cp1252" and options.encoding is None:
        notes.append("the file is not valid UTF-8; it was decoded as cp1252 (Windows-1252)")
    source = TranscriptSource(path, text=decoded.text, data=data, encoding=decoded.encoding)
    session = _run(source, options, session_id, notes, reader)
    if decoded.replaced_lines:
        lines = sorted(set(decoded.replaced_lines))
        shown = ", ".join(map(str, lines[:_LINES_SHOWN])) + (", ..." if len(lines) > _LINES_SHOWN else "")
        session.problems.insert(0, InputError("E121", path=path, line=lines[0],
                                              count=len(decoded.replaced_lines), lines=shown))
    return session


def _run(
    source: TranscriptSource,
    options: ReaderOptions,
    session_id: str,
    notes: list[str],
    reader: str | None = None,
) -> Session:
    if reader is None:
        reader = resolve_reader(options.format, source.path) if options.format else detect_format(
            source.path, source.text, options
        )
    expected = EXTENSION_READERS.get(source.path.suffix.lower())
    if expected is not None and expected != reader:
        logger.info("%s: content read as %s despite the extension", source.path, reader)
    try:
        output = readers.get(reader)(source, options)
    except TranscriptCoderError:
        raise
    except RecursionError:
        raise InputError("E111", path=source.path, detail="the input is nested too deeply to read") from None
    except Exception as error:  # a reader bug must still reach the user as a readable error
        logger.debug("reader %s failed on %s", reader, source.path, exc_info=True)
        raise InputError(
            "E111", path=source.path, detail=f"{reader} could not read it ({type(error).__name__}: {error})"
        ) from error
    if not output.turns:
        raise InputError("E109", path=source.path)
    turns, problems = sanitise_turns(output.turns, source.path, reader)
    session = Session(
        session_id=session_id,
        turns=turns,
        source=source.path,
        reader=reader,
        warnings=notes + output.warnings,
        problems=problems,
        metadata=dict(output.metadata),
    )
    logger.debug(
        "%s: %d turns, %d speakers (%s)", source.path, len(session.turns), len(session.speakers), reader
    )
    return session


def sanitise_turns(turns: list[Turn], path: Path, reader: str = "") -> tuple[list[Turn], list[InputError]]:
    """``turns`` with every lone surrogate in a speaker label, role or text replaced by U+FFFD,
    and one E120 warning per turn that had one (naming the turn's line, or its number in a JSON
    turn list). Only JSON escapes (``"\\ud800"``) and pasted strings can hold one."""
    unit = "turn" if reader in ("json_turns.v1", "whisperx_json.v1") else "line"
    problems: list[InputError] = []
    clean = turns
    for index, turn in enumerate(turns):
        fields = {"speaker label": turn.speaker, "text": turn.text, "role": turn.role or ""}
        damaged = [(what, match) for what, value in fields.items() if (match := _SURROGATE_RE.search(value))]
        if not damaged:
            continue
        if clean is turns:
            clean = list(turns)
        what, match = damaged[0]
        where = f"{unit} {turn.line}" if turn.line is not None else f"turn {index + 1}"
        problems.append(InputError("E120", path=path, where=where, line=turn.line if unit == "line" else None,
                                   what=" and ".join(w for w, _ in damaged),
                                   escape=f"\\u{ord(match.group()):04x}"))
        clean[index] = replace(turn, speaker=_SURROGATE_RE.sub("\ufffd", turn.speaker),
                               text=_SURROGATE_RE.sub("\ufffd", turn.text),
                               role=None if turn.role is None else _SURROGATE_RE.sub("\ufffd", turn.role))
    return clean, problems


#: A reader's note about one line starts with it ("line 9: 'Note:' read as text").
_NOTE_LINE_RE = re.compile(r"(?:line|paragraph|cue|segment|row|turn) (\d+):")


def reader_warnings(session: Session) -> list[TranscriptCoderError]:
    """What reading a session warns about, as (unraised) errors for the console and ``errors.csv``:
    its coded problems (E120, E121), then each note in ``Session.warnings`` (skipped lines, labels
    read as text, an encoding fallback) as E124, with its line when the note names one."""
    path = session.source or session.session_id
    warnings: list[TranscriptCoderError] = list(session.problems)
    for note in session.warnings:
        at = _NOTE_LINE_RE.match(note)
        warnings.append(InputError("E124", path=path, detail=note, line=int(at.group(1)) if at else None))
    return warnings
