"""The plain dataclasses every reader shares: its options, its input and its output.

A reader is a function ``(source: TranscriptSource, options: ReaderOptions) -> ReaderOutput``
registered under a versioned name in :data:`transcript_coder.registry.readers`. It never opens
files itself (except the ``.docx`` reader, which needs the raw bytes) and never guesses roles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..types import UNKNOWN_SPEAKER, Turn


@dataclass(frozen=True)
class ReaderOptions:
    """How to read a transcript; the defaults fit the common exports.

    Column candidates are matched case-insensitively against a CSV/TSV header, a JSON turn's keys
    and a ``.docx`` table's first row; the first candidate present wins.

    Attributes:
        speaker_columns: candidates for the speaker column.
        role_columns: candidates for an explicit role column (its value goes to ``Turn.role``).
        text_columns: candidates for the text column.
        start_columns: candidates for the start time column (seconds or ``hh:mm:ss``).
        end_columns: candidates for the end time column.
        delimiter: CSV delimiter; ``None`` sniffs it from the header line.
        encoding: force a text encoding; ``None`` detects it (BOM, UTF-16 NUL pattern, UTF-8,
            cp1252).
        format: force a reader, by registered name (``"srt.v1"``) or family (``"srt"``); ``None``
            detects it from the extension and the content.
        speaker_labels: labels that are always speakers in labelled text, even when they appear
            once or look like prose (``"Note"``); use it for unusual names.
        unknown_speaker: speaker given to a turn whose speaker the input does not state.
    """

    speaker_columns: tuple[str, ...] = ("speaker", "speaker_name", "name", "participant")
    role_columns: tuple[str, ...] = ("role", "speaker_role", "interlocutor")
    text_columns: tuple[str, ...] = (
        "text", "utterance", "utterance_text", "transcript", "content",
    )
    start_columns: tuple[str, ...] = ("start", "start_time", "begin", "timestamp", "time")
    end_columns: tuple[str, ...] = ("end", "end_time", "stop")
    delimiter: str | None = None
    encoding: str | None = None
    format: str | None = None
    speaker_labels: tuple[str, ...] = ()
    unknown_speaker: str = UNKNOWN_SPEAKER


@dataclass
class TranscriptSource:
    """One input as a reader sees it: where it came from, its bytes and its decoded text.

    ``text`` is empty for binary formats (``.docx``), whose reader works from ``data``.
    ``encoding`` names how ``text`` was decoded (``"utf-8"``, ``"utf-16-le"``, ``"cp1252"``).
    """

    path: Path
    text: str = ""
    data: bytes = b""
    encoding: str | None = None


@dataclass
class ReaderOutput:
    """What a reader returns: the turns in input order, notes for the user, and the transcript's
    metadata (header lines such as ``Therapist: Dr. Smith`` or ``Date: 3 March``, keyed by their
    label as written; a title line under ``title``, a session number under ``session``)."""

    turns: list[Turn]
    warnings: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
