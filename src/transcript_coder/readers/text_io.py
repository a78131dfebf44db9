"""Turn a transcript file's bytes into text, whatever the editor that saved it.

Order of evidence: a byte-order mark (UTF-8, UTF-16 LE/BE, UTF-32); the NUL pattern of BOM-less
UTF-16 (ASCII text saved as UTF-16 has a NUL in every other byte); strict UTF-8; and last cp1252,
the encoding Windows tools (Word "plain text", Excel "CSV") write by default. Line endings are
normalised to ``\\n`` so line numbers match what an editor shows.

A file that is UTF-8 but for a few damaged bytes is not cp1252: when its valid multi-byte UTF-8
characters are at least as many as its invalid sequences, it is decoded as UTF-8 with each invalid
sequence replaced by U+FFFD, and :attr:`DecodedText.replaced_lines` says where (the reader turns
that into warning E121). Only a file with no valid multi-byte UTF-8 at all (or more damage than
UTF-8) is read as cp1252.
"""

from __future__ import annotations

import codecs
import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import InputError

logger = logging.getLogger(__name__)

# UTF-32 BOMs start with the UTF-16 ones, so they are tested first.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
#: Encodings tried, in order, when there is neither a BOM nor a UTF-16 NUL pattern.
FALLBACK_ENCODINGS = ("utf-8", "cp1252")
_SAMPLE_BYTES = 64 * 1024
# Bytes that never occur in a text file (tab, LF, FF, CR and ESC excluded; Ctrl-Z is an old DOS
# end-of-file marker and is stripped before the check).
_CONTROL_BYTES = bytes(sorted(set(range(0x00, 0x20)) - {0x09, 0x0A, 0x0C, 0x0D, 0x1B} | {0x7F}))
# What ``surrogateescape`` decodes an invalid UTF-8 byte to (U+DC80..U+DCFF), one per byte.
_ESCAPED_BYTES_RE = re.compile("[\udc80-\udcff]+")


@dataclass(frozen=True)
class DecodedText:
    """Text decoded from a file, and how: ``encoding`` is a Python codec name, ``bom`` whether a
    byte-order mark said so. ``replaced_lines`` are the 1-based lines (one entry per invalid byte
    sequence) where bytes that are not UTF-8 were replaced with U+FFFD."""

    text: str
    encoding: str
    bom: bool = False
    replaced_lines: tuple[int, ...] = ()


def normalise_newlines(text: str) -> str:
    """``\\r\\n`` and lone ``\\r`` become ``\\n``."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def sniff_utf16(sample: bytes) -> str | None:
    """``"utf-16-le"`` / ``"utf-16-be"`` when ``sample`` has the NUL pattern of BOM-less UTF-16
    text in a Latin script, else ``None``."""
    pairs = len(sample) // 2
    if pairs < 2:
        return None
    even_nuls = sample[0 : pairs * 2 : 2].count(0)
    odd_nuls = sample[1 : pairs * 2 : 2].count(0)
    if odd_nuls >= 0.3 * pairs and even_nuls <= 0.05 * pairs:
        return "utf-16-le"
    if even_nuls >= 0.3 * pairs and odd_nuls <= 0.05 * pairs:
        return "utf-16-be"
    return None


def looks_binary(data: bytes) -> bool:
    """True when ``data`` (not UTF-16) holds NULs or more control bytes than any text file does."""
    sample = data[:_SAMPLE_BYTES].rstrip(b"\x1a")
    if b"\x00" in sample:
        return True
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    return controls > max(2, len(sample) // 100)


def decode_transcript(data: bytes, path: str | Path, encoding: str | None = None) -> DecodedText:
    """Decode a transcript's bytes, normalising line endings.

    Args:
        data: the file's bytes.
        path: the file, for error messages.
        encoding: a codec name to use instead of detecting one.

    Raises:
        InputError: E101 when ``data`` is empty or only whitespace, E102 when it looks binary,
            E106 when no encoding decodes it.
    """
    if not data:
        raise InputError("E101", path=path)
    decoded = _decode(data, path, encoding)
    text = normalise_newlines(decoded.text).lstrip("\ufeff")
    if not text.strip():
        raise InputError("E101", path=path)
    logger.debug("%s: decoded as %s%s", path, decoded.encoding, " (BOM)" if decoded.bom else "")
    return DecodedText(text, decoded.encoding, decoded.bom, decoded.replaced_lines)


def decode_damaged_utf8(data: bytes) -> DecodedText:
    """UTF-8 with every invalid byte sequence replaced by U+FFFD (line endings normalised), and
    the line of each replacement."""
    text = normalise_newlines(data.decode("utf-8", "surrogateescape"))
    lines, line, last = [], 1, 0
    for run in _ESCAPED_BYTES_RE.finditer(text):
        line += text.count("\n", last, run.start())
        last = run.start()
        lines.append(line)
    return DecodedText(_ESCAPED_BYTES_RE.sub("\ufffd", text), "utf-8", replaced_lines=tuple(lines))


def _utf8_evidence(data: bytes) -> tuple[int, int]:
    """(valid multi-byte UTF-8 characters, invalid byte sequences) in ``data``."""
    escaped = data.decode("utf-8", "surrogateescape")
    non_ascii = len(escaped) - len(escaped.encode("ascii", "ignore"))
    runs = _ESCAPED_BYTES_RE.findall(escaped)
    return non_ascii - sum(len(run) for run in runs), len(runs)


def _decode(data: bytes, path: str | Path, encoding: str | None) -> DecodedText:
    if encoding is not None:
        try:
            return DecodedText(data.decode(encoding), encoding)
        except (UnicodeDecodeError, LookupError):
            raise InputError("E106", path=path, encodings=encoding) from None
    for bom, codec in _BOMS:
        if data.startswith(bom):
            if codec == "utf-8":  # the mark says UTF-8: damaged bytes are replaced, never re-guessed
                try:
                    return DecodedText(data[len(bom):].decode(codec), codec, bom=True)
                except UnicodeDecodeError:
                    return replace(decode_damaged_utf8(data[len(bom):]), bom=True)
            try:
                return DecodedText(data[len(bom):].decode(codec), codec, bom=True)
            except UnicodeDecodeError:
                raise InputError("E106", path=path, encodings=f"{codec} (from its byte-order mark)") from None
    utf16 = sniff_utf16(data[:_SAMPLE_BYTES])
    if utf16 is not None:
        try:
            text = data.decode(utf16)
        except UnicodeDecodeError:
            raise InputError("E106", path=path, encodings=utf16) from None
        if "\x00" in text:
            raise InputError("E102", path=path)
        return DecodedText(text, utf16)
    if looks_binary(data):
        raise InputError("E102", path=path)
    try:
        return DecodedText(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    valid, invalid = _utf8_evidence(data)
    if valid and valid >= invalid:
        return decode_damaged_utf8(data)
    try:
        return DecodedText(data.decode("cp1252"), "cp1252")
    except UnicodeDecodeError:
        if valid:
            return decode_damaged_utf8(data)
    raise InputError("E106", path=path, encodings=", ".join(FALLBACK_ENCODINGS))
