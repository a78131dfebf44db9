"""Which reader fits a file: its content decides, its extension breaks ties.

Content wins because files get renamed: WebVTT saved as ``.txt``, a turn table exported as
``.txt``, WhisperX output and a plain turn list both ending in ``.json``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import InputError
from .columns import find_column
from .csv_table import header_line, sniff_delimiter
from .options import ReaderOptions

LABELLED_TEXT = "labelled_text.v2"
CSV = "csv.v1"
WEBVTT = "webvtt.v1"
SRT = "srt.v1"
WHISPERX = "whisperx_json.v1"
JSON_TURNS = "json_turns.v1"
JSONL_TURNS = "jsonl_turns.v1"
DOCX = "docx.v2"

#: The reader an extension suggests when the content does not decide.
EXTENSION_READERS = {
    ".txt": LABELLED_TEXT, ".text": LABELLED_TEXT, ".md": LABELLED_TEXT, ".markdown": LABELLED_TEXT,
    ".csv": CSV, ".tsv": CSV, ".tab": CSV,
    ".vtt": WEBVTT, ".webvtt": WEBVTT,
    ".srt": SRT,
    ".json": JSON_TURNS, ".jsonl": JSONL_TURNS, ".ndjson": JSONL_TURNS,
    ".docx": DOCX,
}
#: Extensions of files that are transcripts in spirit but that no reader can open.
UNSUPPORTED_EXTENSIONS = frozenset(
    ".doc .pdf .rtf .odt .pages .xls .xlsx .ods .zip .mp3 .wav .m4a .mp4 .ogg .flac .webm .mov".split()
)
_SAMPLE_CHARS = 64 * 1024
_CAPTION_TIMING_RE = re.compile(
    r"^[ \t]*(?:\d{1,4}:)?\d{1,2}:\d{2}(?P<sep>[.,])\d{1,3}[ \t]*-->", re.MULTILINE
)
_WHISPERX_RE = re.compile(r'"segments"[ \t\n]*:[ \t\n]*\[')


def supported_extensions() -> str:
    """The extensions readers are chosen for, for messages."""
    return ", ".join(sorted(EXTENSION_READERS))


def is_docx_bytes(data: bytes) -> bool:
    """True when ``data`` is a zip archive holding a Word document."""
    return data[:4] == b"PK\x03\x04" and b"word/document.xml" in data


def detect_format(path: str | Path, text: str | None = None, options: ReaderOptions | None = None) -> str:
    """The registered name of the reader for a file, from its extension and decoded content.

    Content decides first: a ``WEBVTT`` header; JSON (JSON Lines when each line is an object;
    WhisperX when the top-level object has a ``"segments"`` list; else a turn list); caption timing
    lines (``-->``; SRT when the fraction separator is a comma); a header row naming a text column
    and a speaker column (CSV/TSV). Otherwise the extension decides, and unknown extensions are
    read as labelled text. With ``text=None`` only the extension is used.

    Raises:
        InputError: E107 for formats no reader supports (``.pdf``, ``.doc``, RTF content).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in UNSUPPORTED_EXTENSIONS:
        raise InputError("E107", path=path, suffix=suffix, supported=supported_extensions())
    by_extension = EXTENSION_READERS.get(suffix, LABELLED_TEXT)
    if text is None or suffix == ".docx":
        return by_extension
    sample = text[:_SAMPLE_CHARS].lstrip("\ufeff \t\n")
    if sample.startswith("{\\rtf"):
        raise InputError("E107", path=path, suffix=suffix or "(none)", supported=supported_extensions())
    if sample.startswith("WEBVTT"):
        return WEBVTT
    json_reader = _json_reader(text, sample, suffix)
    if json_reader is not None:
        return json_reader
    timing = _CAPTION_TIMING_RE.search(sample)
    if timing is not None:
        if suffix in (".vtt", ".srt"):
            return by_extension
        return SRT if timing.group("sep") == "," else WEBVTT
    if by_extension in (WEBVTT, SRT):
        # A caption extension with no cue timing anywhere: someone saved labelled text as .vtt.
        return LABELLED_TEXT
    if by_extension == CSV or _looks_like_table(sample, suffix, options or ReaderOptions()):
        return CSV
    return by_extension


def _json_reader(text: str, sample: str, suffix: str) -> str | None:
    if suffix in (".jsonl", ".ndjson"):
        return JSONL_TURNS
    first = sample[:1]
    after = sample[1:].lstrip()[:1]
    jsonish = (
        suffix == ".json"
        or (first == "{" and after in ('"', "}"))
        or (first == "[" and after in ("{", "]"))
    )
    if not jsonish:
        return None
    if first == "{" and _is_json_lines(sample):
        return JSONL_TURNS
    if first == "{" and _WHISPERX_RE.search(text):
        return WHISPERX
    return JSON_TURNS


def _is_json_lines(sample: str) -> bool:
    """Two or more lines, the first of which is a whole JSON object on its own."""
    lines = [line.strip() for line in sample.split("\n") if line.strip()]
    if len(lines) < 2 or not (lines[0].endswith("}") and lines[1].startswith("{")):
        return False
    try:
        return isinstance(json.loads(lines[0]), dict)
    except (ValueError, RecursionError):
        return False


def _looks_like_table(sample: str, suffix: str, options: ReaderOptions) -> bool:
    header = header_line(sample)
    delimiter = options.delimiter or sniff_delimiter(sample, suffix)
    if delimiter not in header:
        return False
    cells = [cell.strip().strip('"').strip() for cell in header.split(delimiter)]
    has_text = find_column(cells, options.text_columns) is not None
    has_speaker = find_column(cells, options.speaker_columns + options.role_columns) is not None
    return has_text and has_speaker
