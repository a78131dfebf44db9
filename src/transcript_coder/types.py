"""Plain dataclasses that flow between the stages.

``readers`` produce a :class:`Session` of :class:`Turn`; ``segment`` turns it into
:class:`Utterance` units with roles; ``codes`` attaches :class:`Code` decisions per scheme; and
``summarize`` reduces a coded session to a :class:`SessionSummary`. None of these know about files
or models.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

#: The speaker roles the coding schemes are written for. A third speaker (co-therapist, relative)
#: whom no alias or inference maps is coded as ``other``: nothing is predicted for them.
THERAPIST = "therapist"
CLIENT = "client"
OTHER = "other"

#: Speaker given to a turn whose speaker the input does not state and cannot be inferred.
UNKNOWN_SPEAKER = "UNKNOWN"
ROLES = (THERAPIST, CLIENT, OTHER)


@dataclass(frozen=True)
class Turn:
    """One speaker turn as the input file has it.

    ``speaker`` is the raw label (``"Dr. Lee"``, ``"SPEAKER_00"``); ``role`` is set only when the
    input states it explicitly (a role column). ``line`` is the 1-based line (or cue, or segment
    number) the turn starts at, for error messages. Times are seconds from the session start.
    ``extra`` holds the input's other columns (a CSV's ``Notes``), ``(name, value)`` in column
    order; the coded CSV passes them through as ``input_<name>``.
    """

    speaker: str
    text: str
    start: float | None = None
    end: float | None = None
    role: str | None = None
    line: int | None = None
    extra: tuple[tuple[str, str], ...] = ()


@dataclass
class Session:
    """A transcript as read from one input: its turns in order, and where it came from.

    ``warnings`` are the reader's notes in words; ``problems`` are its warnings with a stable code
    (:class:`~transcript_coder.errors.InputError`: E120 a lone surrogate replaced, E121 bytes that
    are not UTF-8 replaced), which the coded session reports in ``errors.csv`` and on the console.
    ``metadata`` holds the transcript's header lines (``{"Therapist": "Dr. Smith", "Date": "..."}``),
    which role assignment reads names from.
    """

    session_id: str
    turns: list[Turn]
    source: Path | None = None
    reader: str = ""
    warnings: list[str] = field(default_factory=list)
    problems: list = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def speakers(self) -> list[str]:
        """Distinct speaker labels in order of first appearance."""
        seen: dict[str, None] = {}
        for turn in self.turns:
            seen.setdefault(turn.speaker, None)
        return list(seen)


@dataclass(frozen=True)
class Utterance:
    """The unit that gets coded: a whole turn, or one sentence of it (``--unit sentence``)."""

    utterance_index: int
    turn_index: int
    speaker: str
    role: str
    text: str
    start: float | None = None
    end: float | None = None
    context: str = ""
    extra: tuple[tuple[str, str], ...] = ()  # its turn's other input columns (see Turn.extra)

    def __post_init__(self) -> None:
        if self.extra and not isinstance(self.extra[0], tuple):  # read back from JSON: lists
            object.__setattr__(self, "extra", tuple(tuple(pair) for pair in self.extra))


_UTTERANCE_FIELDS = tuple(f.name for f in fields(Utterance))


@dataclass(frozen=True)
class Code:
    """One scheme's decision for one utterance, with the probability of every code."""

    scheme: str
    code: str
    confidence: float
    probabilities: dict[str, float]


@dataclass
class CodedUtterance:
    """An utterance with the codes of every scheme that applies to its role."""

    utterance: Utterance
    codes: dict[str, Code] = field(default_factory=dict)

    def serialize(self) -> dict:
        """A JSON-ready dict."""
        # Built by hand: dataclasses.asdict deep-copies recursively and was a tenth of a large run.
        unit = self.utterance
        return {"utterance": {name: getattr(unit, name) for name in _UTTERANCE_FIELDS},
                "codes": {k: {"scheme": c.scheme, "code": c.code, "confidence": c.confidence,
                              "probabilities": dict(c.probabilities)} for k, c in self.codes.items()}}


@dataclass
class SessionSummary:
    """Session-level scores supervisors know (MITI-style ratios, talk and emotion profiles), and
    the maps (``{map: {figure: {"units", "profile", "share"}}}``: the relationship map).
    ``unavailable`` lists, per scheme, the codes the session could not get (no model provides
    what they need): their counts are unknown, and ``sessions.csv`` leaves them empty."""

    session_id: str
    counts: dict[str, dict[str, int]]
    scores: dict[str, float | None]
    turns_per_role: dict[str, int]
    role_confidence: float | None = None
    maps: dict[str, dict[str, dict]] = field(default_factory=dict)
    unavailable: dict[str, list[str]] = field(default_factory=dict)

    def serialize(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)
