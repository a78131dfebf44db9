"""Segmentation: a session's turns to the units that get coded.

Segmenters are registered under versioned names in :data:`transcript_coder.registry.segmenters`:

=================  ============================================================================
``turn.v1``        one unit per speaker turn (the default; ``--unit turn``)
``sentence.v1``    one unit per sentence, split by spaCy's rule-based ``sentencizer`` on a blank
                   English pipeline (nothing is downloaded); ``--unit sentence``
=================  ============================================================================

Every unit keeps the index of the turn it came from (``turn_index``, 0-based into
``Session.turns``) and its turn's start and end times (sentences have no times of their own, so
they carry their turn's). A unit's ``context`` holds the preceding turns with text, marked by speaker, as
:func:`transcript_coder.contexts.history` stores them for training too; each model renders them
as it was trained (:func:`transcript_coder.contexts.render`). Units are numbered
0, 1, 2... in input order; turns with no text give no unit.

Roles are not decided here: every unit leaves with role ``other``, and
:func:`transcript_coder.roles.attach_roles` sets the real ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

from .contexts import MAX_CONTEXT_TURNS, history, same_speaker
from .errors import UsageError
from .registry import segmenters
from .types import OTHER, Session, Utterance

#: Short names accepted for ``--unit``.
UNIT_ALIASES = {"turn": "turn.v1", "sentence": "sentence.v1"}
DEFAULT_SEGMENTER = "turn.v1"
#: Text longer than this is split at whitespace before the sentencizer sees it (spaCy refuses
#: documents over a million characters, and memory grows with the token count).
SENTENCIZER_CHUNK_CHARS = 100_000


def resolve_segmenter(name: str) -> str:
    """The registered segmenter for ``name`` (``"turn"``, ``"sentence"`` or a registered name).

    Raises:
        UsageError: E409 for an unknown name.
    """
    resolved = UNIT_ALIASES.get(name.lower(), name)
    if resolved not in segmenters:
        known = sorted(set(UNIT_ALIASES) | set(segmenters.names()))
        raise UsageError("E409", value=name, known=", ".join(known))
    return resolved


def segment(session: Session, unit: str = DEFAULT_SEGMENTER) -> list[Utterance]:
    """Split ``session`` into units with the segmenter named ``unit`` (see :func:`resolve_segmenter`)."""
    return segmenters.get(resolve_segmenter(unit))(session)


def _turn_contexts(session: Session) -> list[str]:
    """For each turn, the stored context of its units: up to :data:`MAX_CONTEXT_TURNS` preceding
    turns with text, each marked by whether this turn's speaker said it."""
    contexts, previous = [], []
    for turn in session.turns:
        kept = previous[-MAX_CONTEXT_TURNS:]
        contexts.append(history([(same_speaker(speaker, turn.speaker), text) for speaker, text in kept]))
        if turn.text.strip():
            previous.append((turn.speaker, turn.text))
    return contexts


@segmenters.register("turn.v1")
def segment_turns(session: Session) -> list[Utterance]:
    """One unit per turn with text."""
    contexts = _turn_contexts(session)
    units: list[Utterance] = []
    for index, turn in enumerate(session.turns):
        text = turn.text.strip()
        if text:
            units.append(Utterance(utterance_index=len(units), turn_index=index, speaker=turn.speaker, role=OTHER,
                                   text=text, start=turn.start, end=turn.end, context=contexts[index],
                                   extra=turn.extra))
    return units


@lru_cache(maxsize=1)
def _sentencizer():
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.max_length = SENTENCIZER_CHUNK_CHARS + 1
    return nlp


def _chunks(text: str, size: int = SENTENCIZER_CHUNK_CHARS) -> Iterator[str]:
    """``text`` in pieces of at most ``size`` characters, cut after the last sentence end
    (``.``, ``?``, ``!`` or a line break followed by whitespace) in the second half of each
    window, else at the last whitespace, else anywhere."""
    while len(text) > size:
        window = text[:size]
        ends = [window.rfind(mark, size // 2) for mark in (". ", "? ", "! ", "\n")]
        cut = max(ends) + 1 if max(ends) >= 0 else window.rfind(" ", size // 2) + 1
        cut = cut if cut > 0 else size
        yield text[:cut]
        text = text[cut:]
    yield text


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` (stripped, empty ones dropped), by spaCy's sentencizer."""
    nlp = _sentencizer()
    sentences: list[str] = []
    for doc in nlp.pipe(_chunks(text)):
        sentences += [s.text.strip() for s in doc.sents if s.text.strip()]
    return sentences


@segmenters.register("sentence.v1")
def segment_sentences(session: Session) -> list[Utterance]:
    """One unit per sentence of each turn; each keeps its turn's index, times and context."""
    contexts = _turn_contexts(session)
    units: list[Utterance] = []
    for index, turn in enumerate(session.turns):
        if not turn.text.strip():
            continue
        for sentence in split_sentences(turn.text.strip()):
            units.append(Utterance(utterance_index=len(units), turn_index=index, speaker=turn.speaker, role=OTHER,
                                   text=sentence, start=turn.start, end=turn.end, context=contexts[index],
                                   extra=turn.extra))
    return units
