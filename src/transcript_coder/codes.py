"""Attaching codes: probabilities to :class:`~transcript_coder.types.Code` decisions, by the codebook.

For each unit, the classifier schemes written for its role are decided in dependency order
(:meth:`Codebook.ordered`): a scheme whose ``applies_when`` condition fails for the codes decided
so far is skipped (``question_type`` only for a ``question``), as is a scheme no model predicted.
The code is the most probable one and its probability the confidence; for a multi-label head
(``client_emotion``) that is the top code. Roll-up schemes (``integrative``) are then derived by
their rules once every scheme they read is decided or does not apply; a roll-up has no
probabilities and its confidence is ``None``.

Nothing here names a scheme or a code: all of it comes from the codebook, so a new scheme needs
only its YAML file and a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .classify import Predictions
from .codebook import Codebook, Scheme
from .types import Code, CodedUtterance, Utterance


def decide(scheme: Scheme, probabilities: Mapping[str, float]) -> Code:
    """The code of ``scheme`` with the highest probability (ties: codebook order), its
    probability as confidence, and every code's probability in codebook order."""
    ordered = {code: float(probabilities[code]) for code in scheme.code_ids}
    best = max(ordered, key=ordered.get)
    return Code(scheme=scheme.id, code=best, confidence=ordered[best], probabilities=ordered)


def _rollup_ready(rollup: Scheme, codebook: Codebook, decided: Mapping[str, str]) -> bool:
    """Every scheme the roll-up reads is decided for the unit, or does not apply to it."""
    read = {scheme for rule in rollup.rules for scheme in rule.when}
    return all(s in decided or (s in codebook and not codebook[s].applies(decided)) for s in read)


def coding_order(role: str, codebook: Codebook) -> list[Scheme]:
    """The schemes a unit of ``role`` is coded with: classifier schemes first, then roll-ups
    (which read only other schemes' codes), each kind in dependency order."""
    return codebook.for_role(role, "classifier") + codebook.for_role(role, "rollup")


def code_unit(unit: Utterance, index: int, predictions: Predictions, codebook: Codebook,
              schemes: Sequence[Scheme] | None = None) -> CodedUtterance:
    """The codes of one unit (``index`` is its row in ``predictions``); ``schemes`` is its role's
    :func:`coding_order`, computed here when not given."""
    codes: dict[str, Code] = {}
    decided: dict[str, str] = {}
    for scheme in coding_order(unit.role, codebook) if schemes is None else schemes:
        if scheme.kind == "rollup":
            if _rollup_ready(scheme, codebook, decided):
                code = scheme.roll_up(decided)
                if code is not None:
                    codes[scheme.id] = Code(scheme=scheme.id, code=code, confidence=None, probabilities={})
                    decided[scheme.id] = code
            continue
        if not scheme.applies(decided):
            continue
        row = predictions.row(scheme.id, index)
        if row is None:
            continue
        codes[scheme.id] = decide(scheme, row)
        decided[scheme.id] = codes[scheme.id].code
    return CodedUtterance(utterance=unit, codes=codes)


def attach_codes(units: Sequence[Utterance], predictions: Predictions, codebook: Codebook) -> list[CodedUtterance]:
    """Codes for every unit, from ``predictions`` (rows in ``units`` order) and the codebook."""
    # The coding order depends only on the role: worked out once per role, not once per unit.
    orders = {role: coding_order(role, codebook) for role in {unit.role for unit in units}}
    return [code_unit(unit, i, predictions, codebook, orders[unit.role]) for i, unit in enumerate(units)]


def wanted_schemes(role: str, codebook: Codebook) -> set[str]:
    """The classifier schemes a unit of ``role`` may need predicted."""
    return {s.id for s in codebook.for_role(role, "classifier")}
