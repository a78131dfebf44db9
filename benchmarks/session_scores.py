"""Session scores from hard codes or from calibrated probabilities: which agrees better with experts?

For every AnnoMI transcript in a model's validation split (its training config's split, so none was
trained on), the four MITI-style scores are computed three ways: from the experts' codes, from the
model's hard codes (counts of the most probable code), and as expected counts (sums of calibrated
probabilities; a sub-code's probability is weighted by its parent's, e.g. P(reflection) x
P(complex)). Agreement with the experts is ICC(2,1) (two-way random effects, absolute agreement,
single rater; Shrout & Fleiss 1979) over the transcripts where the experts' score is defined.

    python benchmarks/session_scores.py --model models/annomi --config configs/train/annomi.yaml [--json F]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from transcript_coder.codebook import load_codebook
from transcript_coder.metrics import icc_2_1
from transcript_coder.model import load_model
from transcript_coder.train import load_splits, load_train_config

# score: (numerator, denominator), each a list of (scheme, code, parent scheme, parent code)
SCORES = {
    "reflection_to_question": ([("therapist_behaviour", "reflection")], [("therapist_behaviour", "question")]),
    "pct_complex_reflections": ([("therapist_behaviour", "reflection", "reflection_type", "complex")],
                                [("therapist_behaviour", "reflection")]),
    "pct_open_questions": ([("therapist_behaviour", "question", "question_type", "open")],
                           [("therapist_behaviour", "question")]),
    "pct_change_talk": ([("client_talk_type", "change")], [("client_talk_type", "change"), ("client_talk_type", "sustain")]),
}
SCALE = {"reflection_to_question": 1.0}


def _amount(selection, unit_codes=None, unit_probs=None) -> float:
    """Hard: 1 when the unit has every listed code; expected: the product of their probabilities."""
    scheme, code, *sub = selection
    if unit_codes is not None:
        ok = unit_codes.get(scheme) == code and (not sub or unit_codes.get(sub[0]) == sub[1])
        return float(ok)
    value = unit_probs[scheme][code]
    if sub:
        value *= unit_probs[sub[0]][sub[1]]
    return value


def _score(name: str, units, kind: str) -> float | None:
    numerator, denominator = SCORES[name]
    num = sum(_amount(s, **{kind: u}) for u in units for s in numerator)
    den = sum(_amount(s, **{kind: u}) for u in units for s in denominator)
    if den <= (0 if kind == "unit_codes" else 1e-9):
        return None
    return SCALE.get(name, 100.0) * num / den


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/annomi")
    parser.add_argument("--config", default="configs/train/annomi.yaml")
    parser.add_argument("--json")
    args = parser.parse_args()
    codebook = load_codebook()
    model = load_model(args.model, codebook)
    config = load_train_config(args.config)
    valid = load_splits(config, codebook, context_turns=model.info.inputs.context_turns).validation
    schemes = [s for sc in SCORES.values() for part in sc for sel in part for s in sel[0::2]]
    schemes = [s for s in dict.fromkeys(schemes) if s in model.schemes]
    probs = model.predict_proba(valid["text"], valid["context"], schemes=schemes)
    by_session = defaultdict(list)
    sessions = valid["session_id"] if "session_id" in valid.column_names else valid["group"]
    for i, session in enumerate(sessions):
        human = {s: valid[s][i][0] for s in schemes if valid[s][i]}
        unit_probs = {s: dict(zip(model.head(s).labels, probs[s][i].tolist())) for s in schemes}
        role = valid["role"][i]
        wanted = {s for s in schemes if codebook[s].role == role}
        hard = {s: max(unit_probs[s], key=unit_probs[s].get) for s in wanted}
        by_session[session].append({"human": human, "hard": hard,
                                    "probs": {s: (unit_probs[s] if s in wanted else defaultdict(float)) for s in schemes}})
    report = {"model": args.model, "sessions": len(by_session), "scores": {}}
    for name in SCORES:
        rows = []
        for units in by_session.values():
            human = _score(name, [u["human"] for u in units], "unit_codes")
            if human is None:
                continue
            hard = _score(name, [u["hard"] for u in units], "unit_codes")
            expected = _score(name, [u["probs"] for u in units], "unit_probs")
            rows.append((human, hard, expected))
        human = np.array([r[0] for r in rows])
        result = {"sessions": len(rows), "values": [[round(v, 2) if v is not None else None for v in r] for r in rows]}
        for j, method in ((1, "hard_counts"), (2, "expected_counts")):
            pairs = [(h, r[j]) for h, r in zip(human, rows) if r[j] is not None]
            result[method] = {"icc_2_1": round(icc_2_1(np.array(pairs)), 3), "sessions": len(pairs)}
        report["scores"][name] = result
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
