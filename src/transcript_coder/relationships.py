"""The relationship inventory: which people in the client's life a client unit mentions.

Rule-based, with spaCy's blank English pipeline (``spacy.blank("en")``: its tokenizer only, nothing
downloaded) and a lexicon in ``configs/codebooks/lexicons/`` (the scheme file names it). Per label the lexicon
gives plain ``terms`` (a :class:`~spacy.matcher.PhraseMatcher` on lower-cased tokens),
``possessive_terms`` that count only after a possessive ("my partner", "our baby", with at most one
word between: "my best friend") and Matcher ``patterns`` (the second-person statements about this
therapist: "you don't get it", "talking to you helps"). Overlapping matches keep the longest
("brother-in-law" is other family, not a sibling), and a match right after a self-description
("I'm a nurse", "as a mother") is dropped.

Registered as the tagger ``relationships_spacy.v1`` (:mod:`transcript_coder.taggers`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from .codebook import Scheme
from .configfile import StrictModel, load_yaml_config
from .errors import ConfigError
from .registry import taggers


class LabelLexicon(StrictModel):
    """The words and patterns of one label."""

    terms: list[str] = Field(default_factory=list)
    possessive_terms: list[str] = Field(default_factory=list)
    patterns: list[list[dict]] = Field(default_factory=list)


class RelationshipLexicon(StrictModel):
    """``configs/codebooks/lexicons/client_relationships.yaml``."""

    version: int = Field(ge=1)
    possessives: list[str] = Field(min_length=1)
    self_descriptions: list[list[str]] = Field(default_factory=list)
    labels: dict[str, LabelLexicon]


#: A word repeated across a hyphen, as transcripts write stutters: "I-I", "You're-you're", "at-at".
_STUTTER = re.compile(r"\b([a-z]+(?:'[a-z]+)?)-(?=\1\b)", re.IGNORECASE)
#: A dash that opens or closes a cut-off stretch of speech: "-you wouldn't", "starting to get--".
_CUT = re.compile(r"(?:(?<=\s)|^)[-\u2013\u2014]+(?=\w)|(?<=\w)[-\u2013\u2014]+(?=\s|$)")


def unstutter(text: str) -> str:
    """``text`` with transcribed stutters and cut-off dashes spaced out, so the tokenizer sees the
    words ("You're-you're right" -> "You're you're right"); hyphenated words are kept."""
    return _CUT.sub(" ", _STUTTER.sub(r"\1 ", text))


@dataclass(frozen=True)
class Mention:
    """One match: the label, and the token span ``[start, end)`` with its text."""

    label: str
    start: int
    end: int
    text: str


class RelationshipTagger:
    """Mentions of people in a text, by the lexicon's rules.

    Args:
        lexicon: the validated lexicon.
        labels: the scheme's code ids; every lexicon label must be one of them.
    """

    def __init__(self, lexicon: RelationshipLexicon, labels: Sequence[str]) -> None:
        import spacy
        from spacy.matcher import Matcher, PhraseMatcher

        unknown = sorted(set(lexicon.labels) - set(labels))
        if unknown:
            raise ValueError(f"lexicon label(s) {', '.join(unknown)} are not codes of the scheme")
        self.lexicon = lexicon
        self.labels = list(labels)
        self.nlp_ = spacy.blank("en")
        self.phrases_ = PhraseMatcher(self.nlp_.vocab, attr="LOWER")
        self.matcher_ = Matcher(self.nlp_.vocab)
        possessives = [p.lower() for p in lexicon.possessives]
        for label, entry in lexicon.labels.items():
            if entry.terms:
                self.phrases_.add(label, [self.nlp_.make_doc(term.lower()) for term in entry.terms])
            # One pattern per label for the one-word terms (a set), one per longer term: the Matcher's
            # cost grows with the number of patterns, not with the size of a set.
            single = sorted({t.lower() for t in entry.possessive_terms if len(self.nlp_.make_doc(t)) == 1})
            longer = [[{"LOWER": t.text} for t in self.nlp_.make_doc(term.lower())]
                      for term in entry.possessive_terms if len(self.nlp_.make_doc(term)) > 1]
            for words in ([[{"LOWER": {"IN": single}}]] if single else []) + longer:
                self.matcher_.add(label, [[{"LOWER": {"IN": possessives}}, *words],
                                          [{"LOWER": {"IN": possessives}}, {"IS_ALPHA": True}, *words]])
            if entry.patterns:
                self.matcher_.add(label, entry.patterns)
        self.self_descriptions_ = [tuple(w.lower() for w in words) for words in lexicon.self_descriptions]

    def mentions(self, text: str) -> list[Mention]:
        """Every mention in ``text`` (after :func:`unstutter`), longest-first where matches
        overlap, in text order."""
        return self.mentions_in(self.nlp_.make_doc(unstutter(text)))

    def mentions_in(self, doc) -> list[Mention]:
        """Every mention in an already tokenized ``doc``."""
        from spacy.util import filter_spans

        vocab = self.nlp_.vocab.strings
        matches = [*self.phrases_(doc), *self.matcher_(doc)]
        spans = [doc[start:end] for _, start, end in matches]
        labelled = {}
        for match_id, start, end in matches:
            labelled.setdefault((start, end), vocab[match_id])
        kept = []
        for span in sorted(filter_spans(spans), key=lambda s: s.start):
            if self._self_description(doc, span.start):
                continue
            kept.append(Mention(label=labelled[(span.start, span.end)], start=span.start, end=span.end, text=span.text))
        return kept

    def _self_description(self, doc, start: int) -> bool:
        before = tuple(t.lower_ for t in doc[max(0, start - 3):start])
        return any(before[-len(words):] == words for words in self.self_descriptions_ if len(before) >= len(words))

    def tag(self, texts: Sequence[str]) -> list[list[str]]:
        """The labels each text mentions, in scheme (codebook) order."""
        result = []
        for doc in self.nlp_.tokenizer.pipe((unstutter(t) for t in texts), batch_size=256):
            found = {m.label for m in self.mentions_in(doc)}
            result.append([label for label in self.labels if label in found])
        return result


def load_lexicon(path: str | Path) -> RelationshipLexicon:
    """Read and validate a relationship lexicon (E001/E002/E007 name the file and key)."""
    return load_yaml_config(path, RelationshipLexicon)


@taggers.register("relationships_spacy.v1")
def make_relationship_tagger(scheme: Scheme, lexicon: Path | None) -> RelationshipTagger:
    """The tagger of a relationship scheme from its lexicon file.

    Raises:
        ConfigError: E002 when the lexicon is missing or names a label the scheme lacks.
    """
    if lexicon is None:
        raise ConfigError("E002", path=scheme.id, key="lexicon", detail="relationships_spacy.v1 needs a lexicon file")
    config = load_lexicon(lexicon)
    try:
        return RelationshipTagger(config, scheme.code_ids)
    except ValueError as exc:
        raise ConfigError("E002", path=lexicon, key="labels", detail=str(exc)) from None
