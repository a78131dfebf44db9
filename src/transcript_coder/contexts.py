"""A unit's context: the turns before it, and how a model is shown them.

Segmentation (at coding time) and the corpus readers (at training time) both store a unit's
preceding turns with :func:`history`, oldest first, each with a mark saying whether the unit's own
speaker said it. A model renders that history as its :class:`~transcript_coder.model.InputSpec`
asks (:func:`render`), so every model reads the same units whatever context it was trained with:

``text``    the last ``turns`` turns' text, oldest first, joined by spaces, capped to the last
            ``max_words`` words. Without speaker marks. Every model trained before marks existed
            reads this (for one turn: exactly the preceding turn's text, as it always did).
``marked``  the last ``turns`` turns, **newest first**, each behind a speaker mark relative to the
            unit (``Same:`` the unit's speaker said it, ``Other:`` someone else did), capped to the
            first ``max_words`` words. Newest first, so that the cap and the tokenizer's truncation,
            which cut from the end, drop the oldest words and never the question just asked.

Marks are relative to the unit's speaker, never roles: roles of anonymous speakers are only known
after role inference, which itself reads the models' predictions; speaker labels are known first.

A stored history is plain text with two ASCII separators that never occur in a transcript
(they are removed from turn texts): record separator between turns, unit separator between a
turn's mark and its text. It always holds up to :data:`MAX_CONTEXT_TURNS` turns, whatever the
model reads. A context string without separators (a unit state written before histories existed)
is one unmarked turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

from .types import UNKNOWN_SPEAKER

ContextFormat = Literal["text", "marked"]
CONTEXT_FORMATS: tuple[str, ...] = get_args(ContextFormat)

#: The most preceding turns a unit carries at coding time, so the most a model may read.
MAX_CONTEXT_TURNS = 3

_TURN = "\x1e"
_MARK = "\x1f"
SAME, OTHER = "same", "other"
_SHOWN = {SAME: "Same:", OTHER: "Other:"}


def clean_turn(text: str) -> str:
    """A turn's text as a history keeps it: stripped, without the two separator characters."""
    return text.replace(_TURN, " ").replace(_MARK, " ").strip()


def same_speaker(speaker: str, other: str) -> bool:
    """Whether two turns' speakers are known to be the same (an unknown speaker is nobody's same)."""
    return speaker == other and speaker not in ("", UNKNOWN_SPEAKER)


def history(turns: Sequence[tuple[bool, str]]) -> str:
    """The stored context of a unit from its preceding ``turns``, oldest first, each a pair
    (said by the unit's own speaker, text). Turns without text are skipped."""
    cleaned = [(same, clean_turn(text)) for same, text in turns]
    return _TURN.join(f"{SAME if same else OTHER}{_MARK}{text}" for same, text in cleaned if text)


def turns_of(context: str) -> list[tuple[str | None, str]]:
    """A stored context back as (mark or ``None`` when unmarked, text) pairs, oldest first."""
    out: list[tuple[str | None, str]] = []
    for part in context.split(_TURN):
        mark, sep, text = part.partition(_MARK)
        if sep and mark in _SHOWN:
            out.append((mark, text))
        elif part.strip():
            out.append((None, part))
    return out


def last_turn(context: str) -> str:
    """The text of the turn just before the unit (``""`` when there is none)."""
    turns = turns_of(context)
    return turns[-1][1] if turns else ""


def cap_turns(context: str, chars: int) -> str:
    """``context`` with every turn longer than ``chars`` characters cut to its first and last
    ``chars // 2``: a model reads at most a few hundred words from either end of a turn (``text``
    the last words, ``marked`` the first), so the cut changes nothing it reads, and a 5 MB turn
    does not cost seconds of string work. Marks are kept."""
    if len(context) <= chars:
        return context
    half = chars // 2
    return _TURN.join(part if len(part) <= chars else f"{part[:half]} {part[-half:]}"
                      for part in context.split(_TURN))


def digest_form(context: str, turns: int, context_format: ContextFormat = "text") -> str:
    """What of a stored ``context`` a model with ``turns`` and ``context_format`` reads, before any
    word cap, as one string for fingerprints: ``text``, the turns' texts joined by spaces (for one
    turn, that turn's text as it was stored before histories existed); ``marked``, with marks."""
    kept = turns_of(context)[-turns:] if turns > 0 else []
    if context_format == "marked":
        return _TURN.join(f"{mark}{_MARK}{text}" if mark else text for mark, text in kept)
    return " ".join(text for _, text in kept)


def render(context: str, turns: int, max_words: int, context_format: ContextFormat = "text") -> str:
    """The context text a model reads for a stored ``context`` (see the module docstring)."""
    if turns <= 0:
        return ""
    kept = turns_of(context)[-turns:]
    if context_format == "marked":
        words = " ".join(f"{_SHOWN[mark]} {text}" if mark else text for mark, text in reversed(kept)).split()
        return " ".join(words[:max_words])
    if context_format != "text":
        raise ValueError(f"unknown context format {context_format!r} (known: {', '.join(CONTEXT_FORMATS)})")
    return " ".join(" ".join(text for _, text in kept).split()[-max_words:])
