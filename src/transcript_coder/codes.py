"""Attaching codes: probabilities to :class:`~transcript_coder.types.Code` decisions, by the codebook.

For each unit, the classifier schemes written for its role are decided in dependency order
(:meth:`Codebook.ordered`): a scheme whose ``applies_when`` condition fails for the codes decided
so far is skipped (``question_type`` only for a ``question``), as is a scheme no model predicted.
The code is the most probable one and its probability the confidence; for a multi-label head of a
single-label scheme (``client_emotion``) that is the top code. A ``multi_label`` scheme gets the
*set* of codes whose probability reaches the threshold (:data:`MULTI_LABEL_THRESHOLD`), joined in
codebook order (empty when none); its confidence is that of its least certain decision,
``min(max(p, 1 - p))``. Rule-based schemes (``kind: rules``, :mod:`transcript_coder.taggers`) are
run here over the units of their role, as predictions of 1 or 0, and decided the same way (their
confidence is ``None``: rules are not probabilities). Roll-up schemes (``integrative``) are then
derived by their rules once every scheme they read is decided, does not apply, or was not coded at
all (no model provides it): a rule that reads such a scheme cannot match. A roll-up has no
probabilities and its confidence is ``None``.

Nothing here names a scheme or a code: all of it comes from the codebook, so a new scheme needs
only its YAML file and a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .classify import Predictions
from .codebook import Codebook, Scheme, join_codes
from .types import Code, CodedUtterance, Utterance

#: A code of a multi-label scheme is assigned when its probability is at least this.
MULTI_LABEL_THRESHOLD = 0.5


def decide(scheme: Scheme, probabilities: Mapping[str, float],
           thresholds: Mapping[str, float] | None = None) -> Code:
    """The code of ``scheme`` with the highest probability (ties: codebook order), its
    probability as confidence, and every code's probability in codebook order. For a
    ``multi_label`` scheme: every code at or above its threshold (the head's tuned ``thresholds``,
    else :data:`MULTI_LABEL_THRESHOLD`), joined in codebook order, with the least certain
    decision's ``max(p, 1 - p)`` as confidence."""
    ordered = {code: float(probabilities[code]) for code in scheme.code_ids}
    if scheme.multi_label:
        limits = thresholds or {}
        chosen = [code for code, p in ordered.items() if p >= limits.get(code, MULTI_LABEL_THRESHOLD)]
        confidence = min(max(p, 1.0 - p) for p in ordered.values())
        return Code(scheme=scheme.id, code=join_codes(scheme, chosen), confidence=confidence, probabilities=ordered)
    best = max(ordered, key=ordered.get)
    return Code(scheme=scheme.id, code=best, confidence=ordered[best], probabilities=ordered)


def _rollup_ready(rollup: Scheme, codebook: Codebook, decided: Mapping[str, str], missing: set[str]) -> bool:
    """Every scheme the roll-up reads is decided for the unit, does not apply to it, or was not
    coded at all (``missing``: no model provides it), and at least one of them is decided."""
    read = {scheme for rule in rollup.rules for scheme in rule.when}
    return any(s in decided for s in read) and all(
        s in decided or s in missing or (s in codebook and not codebook[s].applies(decided)) for s in read)


def coding_order(role: str, codebook: Codebook) -> list[Scheme]:
    """The schemes a unit of ``role`` is coded with: classifier and rule-based schemes first
    (together, in dependency order), then roll-ups (which read only other schemes' codes)."""
    return [s for s in codebook.for_role(role) if s.kind != "rollup"] + codebook.for_role(role, "rollup")


def code_unit(unit: Utterance, index: int, predictions: Predictions, codebook: Codebook,
              schemes: Sequence[Scheme] | None = None) -> CodedUtterance:
    """The codes of one unit (``index`` is its row in ``predictions``); ``schemes`` is its role's
    :func:`coding_order`, computed here when not given."""
    codes: dict[str, Code] = {}
    decided: dict[str, str] = {}
    missing: set[str] = set()
    for scheme in coding_order(unit.role, codebook) if schemes is None else schemes:
        if scheme.kind == "rollup":
            if _rollup_ready(scheme, codebook, decided, missing):
                code = scheme.roll_up(decided)
                if code is not None:
                    codes[scheme.id] = Code(scheme=scheme.id, code=code, confidence=None, probabilities={})
                    decided[scheme.id] = code
            continue
        if not scheme.applies(decided):
            continue
        row = predictions.row(scheme.id, index)
        if row is None:
            missing.add(scheme.id)
            continue
        code = decide(scheme, row, predictions.thresholds_of(scheme.id))
        if scheme.kind == "rules":
            code = Code(scheme=code.scheme, code=code.code, confidence=None, probabilities=code.probabilities)
        codes[scheme.id] = code
        decided[scheme.id] = code.code
    return CodedUtterance(utterance=unit, codes=codes)


def attach_codes(units: Sequence[Utterance], predictions: Predictions, codebook: Codebook) -> list[CodedUtterance]:
    """Codes for every unit, from ``predictions`` (rows in ``units`` order), the codebook's
    rule-based schemes (run here, over the texts) and its roll-ups."""
    if any(s.kind == "rules" for s in codebook):
        from .taggers import rule_predictions

        predictions = predictions.merge(rule_predictions(units, codebook))
    # The coding order depends only on the role: worked out once per role, not once per unit.
    orders = {role: coding_order(role, codebook) for role in {unit.role for unit in units}}
    return [code_unit(unit, i, predictions, codebook, orders[unit.role]) for i, unit in enumerate(units)]


def wanted_schemes(role: str, codebook: Codebook) -> set[str]:
    """The classifier schemes a unit of ``role`` may need predicted."""
    return {s.id for s in codebook.for_role(role, "classifier")}
