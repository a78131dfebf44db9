"""Turn a transcript file's bytes into text, whatever the editor that saved it.

Order of evidence: a byte-order mark (UTF-8, UTF-16 LE/BE, UTF-32); the NUL pattern of BOM-less
UTF-16 (ASCII text saved as UTF-16 has a NUL in every other byte); strict UTF-8; and last cp1252,
the encoding Windows tools (Word "plain text", Excel "CSV") write by default. Line endings are
normalised to ``\\n`` so line numbers match what an editor shows.
"""

from __future__ import annotations

import codecs
import logging
from dataclasses import dataclass
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


@dataclass(frozen=True)
class DecodedText:
    """Text decoded from a file, and how: ``encoding`` is a Python codec name, ``bom`` whether a
    byte-order mark said so."""

    text: str
    encoding: str
    bom: bool = False


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
    return DecodedText(text, decoded.encoding, decoded.bom)


def _decode(data: bytes, path: str | Path, encoding: str | None) -> DecodedText:
    if encoding is not None:
        try:
            return DecodedText(data.decode(encoding), encoding)
        except (UnicodeDecodeError, LookupError):
            raise InputError("E106", path=path, encodings=encoding) from None
    for bom, codec in _BOMS:
        if data.startswith(bom):
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
    for codec in FALLBACK_ENCODINGS:
        try:
            return DecodedText(data.decode(codec), codec)
        except UnicodeDecodeError:
            continue
    raise InputError("E106", path=path, encodings=", ".join(FALLBACK_ENCODINGS))
