"""Timestamps as transcripts write them, converted to seconds from the session start."""

from __future__ import annotations

import re

#: A clock time: ``hh:mm:ss``, ``h:mm:ss``, ``mm:ss``, each with an optional ``.fff`` or ``,fff``
#: fraction. Bounded so that it can be embedded in larger, anchored patterns.
CLOCK_PATTERN = r"\d{1,3}(?::\d{1,2}){1,2}(?:[.,]\d{1,6})?"

_CLOCK_RE = re.compile(r"(?:(\d{1,3}):)?(\d{1,3}):(\d{1,2})(?:[.,](\d{1,6}))?")
_SECONDS_RE = re.compile(r"[+-]?(?:\d{1,12}(?:[.,]\d{0,9})?|[.,]\d{1,9})\s?s?")


def parse_clock(value: str) -> float:
    """Seconds in a clock time (``"00:01:02.5"`` -> 62.5, ``"01:02"`` -> 62.0).

    With hours, minutes must be below 60; seconds always must be. A bare ``mm:ss`` may have more
    than 59 minutes (``"75:10"``), as recorders write for long sessions.

    Raises:
        ValueError: when ``value`` is not a clock time.
    """
    match = _CLOCK_RE.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"not a clock time: {value!r}")
    hours, minutes, seconds, fraction = match.groups()
    if int(seconds) >= 60 or (hours is not None and int(minutes) >= 60):
        raise ValueError(f"minutes or seconds out of range: {value!r}")
    total = int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)
    if fraction:
        total += int(fraction) / 10 ** len(fraction)
    return float(total)


def parse_seconds(value: object) -> float | None:
    """Seconds in a table cell or JSON value: a number, ``"12.5"``, ``"12,5"``, ``"12.5s"`` or a
    clock time; ``None`` or an empty cell gives ``None``.

    Raises:
        ValueError: when ``value`` is none of these.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a time: {value!r}")
    if isinstance(value, (int, float)):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"not a finite time: {value!r}")
        return float(value)
    text = str(value).strip()
    if not text:
        return None
    if ":" in text:
        return parse_clock(text)
    if _SECONDS_RE.fullmatch(text):
        return float(text.rstrip("s").strip().replace(",", "."))
    raise ValueError(f"not a time: {value!r}")


def clip(value: str, limit: int = 60) -> str:
    """``value`` cut to ``limit`` characters for an error message (a bad 5 MB cell stays short)."""
    value = value.strip()
    return value if len(value) <= limit else value[: limit - 3] + "..."
