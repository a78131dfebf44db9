"""Speaker labels at the start of a line (``Therapist: ...``, ``[00:01:02] Dr. Lee: ...``).

Finding a label is two steps. :func:`match_label` finds a *candidate*: a short name (at most
:data:`MAX_LABEL_WORDS` words and :data:`MAX_LABEL_CHARS` characters) at the start of the line,
optionally with a timestamp before or after it, then a colon followed by a space. Its regular
expression is anchored and every repetition is bounded, so a 5 MB line costs one failed match.

:class:`LabelVocabulary` then decides, for a whole file, which candidates are speakers: role words
(``Therapist``, ``T``, ``Client``) and anonymous labels (``SPEAKER_00``, ``Speaker 2``) always
are; prose lead-ins (``Note:``, ``Example:``, ``PS:``) never are; any other label is a speaker
when it recurs, or when it looks like a name (``Maria``, ``Dr. Lee``).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

from .timestamps import CLOCK_PATTERN

MAX_LABEL_WORDS = 4
MAX_LABEL_CHARS = 40

#: Labels that name a role; matched case-insensitively, ignoring a trailing full stop.
ROLE_LABELS = frozenset(
    """therapist t th ther counselor counsellor clinician interviewer doctor dr psychologist
    psychiatrist coach provider practitioner facilitator co-therapist cotherapist
    client c cl patient p pt participant interviewee partner spouse wife husband mother father
    parent mom mum dad son daughter friend""".split()
) | {"therapist 1", "therapist 2", "client 1", "client 2"}

#: Words that start a line of prose, notes or headers, never a speaker turn.
PROSE_LEAD_INS = frozenset(
    """note notes nb n.b ps p.s pps example examples e.g eg i.e ie update edit warning caution
    important summary context reminder tip hint source sources reference references date time
    duration location place session title subject re fyi todo agenda attendees present
    transcript transcription transcriber recorded recording file topic goal goals homework plan
    assessment objective subjective diagnosis url link email e-mail phone tel http https www
    also so well and but okay ok yes no yeah honestly basically anyway actually first second
    third finally then now answer definition meaning translation correction disclaimer
    comment comments remark action outcome result results total""".split()
) | {"to do", "follow up", "follow-up", "key points", "next steps", "next session"}

#: Caption descriptions of sounds (``[laughs]``, ``[CROSSTALK]``), never a speaker.
NON_SPEECH = frozenset(
    """laughs laughing laughter laugh music applause inaudible unintelligible indistinct crosstalk
    silence pause pauses sighs sigh sighing coughs cough coughing crying cries sniffs noise
    chuckles chuckling overlapping overlap""".split()
) | {"background noise", "phone rings", "blank_audio", "no audio", "long pause", "both laugh"}

_NUMBERED_LEAD_IN_RE = re.compile(
    r"(?:step|question|part|item|section|chapter|point|page|figure|table|slide|exercise|day|week)"
    r"[ ]?\d{1,4}[a-z]?",
    re.IGNORECASE,
)
_ANONYMOUS_RE = re.compile(
    r"(?:speaker|spk|spkr|participant|person|voice|unknown)[ _-]?(?:\d{1,3}|[a-z])|[sp][ _-]?\d{1,3}",
    re.IGNORECASE,
)
_NAME_PARTICLES = frozenset("de da del della der di du la le van von bin al el y of".split())

_NAME = r"[^\W_](?:[\w.'’&/ -]{0,38}[\w.'’])?"
_LEAD_TS = (
    rf"(?:\[[ ]?(?P<ts_b>{CLOCK_PATTERN})[ ]?\]|\([ ]?(?P<ts_p>{CLOCK_PATTERN})[ ]?\)"
    rf"|(?P<ts_bare>{CLOCK_PATTERN})(?=[ \t]))"
)
_TRAIL_TS = rf"(?:\[[ ]?(?P<ts_tb>{CLOCK_PATTERN})[ ]?\]|\([ ]?(?P<ts_tp>{CLOCK_PATTERN})[ ]?\))"
_LABEL_RE = re.compile(
    rf"[ \t]{{0,8}}(?:[-*•>][ \t]{{1,3}})?"  # an optional bullet or quote marker
    rf"(?:{_LEAD_TS}[ \t]{{0,4}}(?:[-–][ \t]{{1,4}})?)?"  # [00:01:02] Name: / 00:01:02 - Name:
    rf"(?P<name>{_NAME})"
    rf"(?:[ \t]{{0,4}}{_TRAIL_TS})?"  # Name (01:02): / Name [00:01:02.5]:
    r"[ \t]{0,4}[:：]"
    # After the colon: a space or the line's end, or a letter or quote (``T:Hello``), but never
    # ``//`` (a URL) or a digit (``at 10:30``).
    r"(?:[ \t]+|$|(?=[^\W\d_]|[\"'“‘(]))"
    r"(?P<text>.*)",
    re.DOTALL,
)
# Otter-style header line: the speaker and a clock time alone on a line, the text below it.
_HEADER_RE = re.compile(rf"[ \t]{{0,8}}(?P<name>{_NAME})[ \t]{{1,8}}(?P<ts>{CLOCK_PATTERN})[ \t]*")
_BRACKET_RE = re.compile(
    rf"[ \t]{{0,8}}(?:[-–][ \t]{{1,3}})?\[[ ]?(?P<name>{_NAME})[ ]?\][ \t]*:?[ \t]*(?P<text>.*)",
    re.DOTALL,
)
_MARKDOWN_MARK_RE = re.compile(r"[ \t]{0,8}(\*\*|__|\*|_)")


@dataclass(frozen=True)
class LabelMatch:
    """A candidate speaker label found at the start of a line.

    ``timestamp`` is the raw clock text next to the label (``"00:01:02"``) or ``None``.
    ``header`` is true for a label alone on its line with a time and no colon (``Speaker 1  0:03``),
    whose text follows on the next lines.
    """

    name: str
    text: str
    timestamp: str | None = None
    header: bool = False


def speaker_key(name: str) -> str:
    """A label folded for comparison: case, inner spaces and a trailing full stop ignored."""
    return " ".join(name.split()).rstrip(".").casefold()


def _strip_markdown(line: str) -> str:
    """``**Therapist:** text`` and ``**Therapist**: text`` -> ``Therapist: text``."""
    mark = _MARKDOWN_MARK_RE.match(line)
    if mark is None:
        return line
    head, tail = line[:80], line[80:]
    return head.replace(mark.group(1), "", 2) + tail


def _plausible_shape(name: str) -> bool:
    words = name.split()
    return (
        0 < len(words) <= MAX_LABEL_WORDS
        and len(name) <= MAX_LABEL_CHARS
        and any(ch.isalpha() for ch in name)
    )


def match_label(line: str) -> LabelMatch | None:
    """The candidate speaker label at the start of ``line``, or ``None``.

    Recognised shapes: ``Name: text``, ``[00:01:02] Name: text``, ``(01:02) Name: text``,
    ``00:01:02 Name: text``, ``Name (01:02): text``, ``Name [00:01:02.5]: text``,
    ``**Name:** text`` (Markdown), ``- Name: text``, and the header line ``Name  00:03``.
    """
    candidate = _strip_markdown(line) if ("*" in line[:16] or "_" in line[:16]) else line
    match = _LABEL_RE.match(candidate)
    if match is not None:
        name = match.group("name").strip()
        if not _plausible_shape(name):
            return None
        timestamp = next(
            (match.group(g) for g in ("ts_b", "ts_p", "ts_bare", "ts_tb", "ts_tp") if match.group(g)),
            None,
        )
        return LabelMatch(name=name, text=match.group("text").strip(), timestamp=timestamp)
    if len(line) <= MAX_LABEL_CHARS + 40:
        header = _HEADER_RE.fullmatch(line)
        if header is not None and _plausible_shape(header.group("name")):
            name = header.group("name").strip()
            return LabelMatch(name=name, text="", timestamp=header.group("ts"), header=True)
    return None


def is_role_label(name: str) -> bool:
    """True for a label that names a role or an anonymous diarised speaker."""
    key = speaker_key(name)
    return key in ROLE_LABELS or _ANONYMOUS_RE.fullmatch(key) is not None


def is_prose_lead_in(name: str) -> bool:
    """True for a label that starts prose (``Note``, ``Step 2``) or describes a sound
    (``laughs``) rather than naming a speaker."""
    key = speaker_key(name)
    return key in PROSE_LEAD_INS or key in NON_SPEECH or _NUMBERED_LEAD_IN_RE.fullmatch(key) is not None


def looks_like_name(name: str) -> bool:
    """True for a capitalised name of at most three words (``Maria``, ``Dr. Lee``, ``Ana de Souza``)."""
    words = name.split()
    if not 0 < len(words) <= 3 or not words[0][:1].isupper():
        return False
    return all(w[:1].isupper() or w.casefold() in _NAME_PARTICLES for w in words)


def match_bracket_label(line: str) -> LabelMatch | None:
    """A caption speaker written in brackets (``[Maria] text``, ``- [Maria] text``), or ``None``."""
    match = _BRACKET_RE.match(line)
    if match is None or not _plausible_shape(match.group("name")):
        return None
    return LabelMatch(name=match.group("name").strip(), text=match.group("text").strip())


class LabelVocabulary:
    """Which candidate labels of one file are speakers.

    Built from every candidate label in the file, because whether ``Maria:`` is a speaker or the
    start of a sentence depends on the rest of the file: a label that recurs is a speaker.
    """

    def __init__(self, candidates: Iterable[str], always: Iterable[str] = ()) -> None:
        self.counts = Counter(speaker_key(name) for name in candidates)
        self.always = frozenset(speaker_key(name) for name in always)

    def accepts(self, label: LabelMatch | str) -> bool:
        """True when ``label`` is read as a speaker in this file."""
        name = label.name if isinstance(label, LabelMatch) else label
        header = isinstance(label, LabelMatch) and label.header
        key = speaker_key(name)
        if key in self.always:
            return True
        if is_prose_lead_in(name):
            return False
        if is_role_label(name) or self.counts[key] >= 2:
            return True
        # A header line (``Name  0:03``) has no colon to vouch for it, so it must recur.
        return not header and looks_like_name(name)

    def is_tentative(self, name: str) -> bool:
        """True for a speaker accepted only because it looks like a name: it appears once and is
        no role word, so it may be a sentence such as ``Sometimes: ...`` that deserves a look."""
        key = speaker_key(name)
        return key not in self.always and not is_role_label(name) and self.counts[key] < 2
