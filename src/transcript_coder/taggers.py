"""Rule-based schemes: codes assigned from a unit's text by a registered tagger, no model.

A ``kind: rules`` scheme names its tagger (``tagger: relationships_spacy.v1``) and, optionally, a
``lexicon`` file; the tagger is built once per (name, scheme version, lexicon) and returns, for a
batch of texts, the code ids each text gets. :func:`rule_predictions` turns those into
:class:`~transcript_coder.classify.Predictions` (probability 1.0 for a code the rules assign, 0.0
otherwise), so rule schemes flow through the same decide step, ``codes.csv`` probabilities and
review loop as model heads. Adding a rule scheme means a codebook file, a lexicon and (for a new
kind of rules) a registered tagger; the pipeline does not change.

A tagger factory is called as ``factory(scheme, lexicon_path)`` and returns an object with
``tag(texts) -> list[list[str]]``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence

import numpy as np

from .classify import Predictions
from .codebook import Codebook, Scheme
from .errors import ConfigError
from .registry import taggers
from .types import Utterance

log = logging.getLogger(__name__)

#: Modules that register taggers, imported on first use (spaCy is imported only then).
TAGGER_MODULES = ("transcript_coder.relationships",)

_CACHE: dict[tuple, object] = {}


def get_tagger(scheme: Scheme, codebook: Codebook):
    """The tagger of a ``kind: rules`` scheme, built once per process for the scheme's tagger
    name, version and lexicon file (its modification time included, so an edited lexicon is re-read).

    Raises:
        ConfigError: E008 for a tagger name no module registers.
    """
    for module in TAGGER_MODULES:
        importlib.import_module(module)
    lexicon = codebook.lexicon_path(scheme.id)
    key = (scheme.tagger, scheme.id, scheme.version, str(lexicon), lexicon.stat().st_mtime_ns if lexicon else None)
    if key not in _CACHE:
        if scheme.tagger not in taggers:
            raise ConfigError("E008", path=codebook.files[scheme.id], tagger=scheme.tagger,
                              known=", ".join(taggers.names()))
        _CACHE[key] = taggers.get(scheme.tagger)(scheme, lexicon)
        log.info("built tagger %s for scheme %s", scheme.tagger, scheme.id)
    return _CACHE[key]


def rule_schemes(codebook: Codebook) -> list[Scheme]:
    """The codebook's ``kind: rules`` schemes, in dependency order."""
    return [s for s in codebook.ordered() if s.kind == "rules"]


def tag_texts(scheme: Scheme, codebook: Codebook, texts: Sequence[str]) -> list[list[str]]:
    """The code ids ``scheme``'s rules assign to each text, in codebook order."""
    tagged = get_tagger(scheme, codebook).tag(list(texts))
    return [[c for c in scheme.code_ids if c in set(codes)] for codes in tagged]


def rule_predictions(units: Sequence[Utterance], codebook: Codebook) -> Predictions:
    """Predictions of every rule scheme for the units of its role (NaN rows for the others):
    probability 1.0 for each code the rules assign, 0.0 for the rest."""
    labels, probabilities = {}, {}
    for scheme in rule_schemes(codebook):
        rows = [i for i, unit in enumerate(units) if unit.role == scheme.role]
        if not rows:
            continue
        table = np.full((len(units), len(scheme.code_ids)), np.nan, dtype=np.float32)
        table[rows] = 0.0
        for i, codes in zip(rows, tag_texts(scheme, codebook, [units[i].text for i in rows])):
            for code in codes:
                table[i, scheme.code_ids.index(code)] = 1.0
        labels[scheme.id], probabilities[scheme.id] = tuple(scheme.code_ids), table
    return Predictions(n_units=len(units), labels=labels, probabilities=probabilities)
