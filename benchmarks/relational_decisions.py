"""How an ``mi_relational`` head's decisions change its session scores' known-groups validity.

Each cross-validation fold model (``transcript-coder cv`` folders) gives probabilities for the
therapist turns of its own validation fold; the held-out turns of all folds are pooled. Decision
rules compared on the same probabilities:

* ``saved thresholds``: the per-code thresholds tuned on validation and saved with the model (what
  ``code`` does);
* ``0.5``: every code at 0.5;
* ``clipped``: the saved thresholds clipped to 0.3-0.7 (small validation supports give extreme ones);
* ``exclusions``: the codes chosen jointly per turn, the best-scoring set (sum of each chosen code's
  log-odds over its threshold) among those the codebook's definitions allow: ``persuade`` excludes
  ``persuade_with_permission`` and ``emphasize_autonomy``.

Printed per rule: per-code F1 against the team's pass-1 labels (every round), their macro mean, and
the AUC for AnnoMI's high vs low MI quality of MI-adherent and MI-non-adherent per 100 therapist
turns (0.5 = no separation; human codes reach 0.84 and 0.04). Usage::

    python benchmarks/relational_decisions.py runs/cv/annomi_relational/fold_*
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

from transcript_coder.annotations import read_pass
from transcript_coder.classify import ModelSet
from transcript_coder.codebook import load_codebook
from transcript_coder.train import TrainConfig, load_splits
from transcript_coder.types import Utterance
from transcript_coder.validity import annomi_sessions, auc

SCHEME = "mi_relational"
ADHERENT = ("affirm", "seek_collaboration", "emphasize_autonomy")
NON_ADHERENT = ("persuade", "confront")
EXCLUSIONS = (("persuade", "persuade_with_permission"), ("persuade", "emphasize_autonomy"))


def held_out(folder: Path, codebook) -> tuple[list[str], list[int], np.ndarray, np.ndarray, list[str]]:
    """Sessions, turn indices, probabilities and saved thresholds for a fold model's held-out therapist turns."""
    config = TrainConfig.model_validate(json.loads((folder / "metrics.json").read_text(encoding="utf-8"))["config"])
    data = load_splits(config, codebook).validation
    rows = [i for i, role in enumerate(data["role"]) if role == "therapist"]
    units = [Utterance(utterance_index=data["turn_index"][i], turn_index=data["turn_index"][i], speaker="therapist",
                       role="therapist", text=data["text"][i], context=data["context"][i]) for i in rows]
    predictions = ModelSet([folder], codebook).predict(units, [{SCHEME} for _ in units])
    labels = list(predictions.labels[SCHEME])
    thresholds = np.asarray(predictions.thresholds.get(SCHEME) or (0.5,) * len(labels), float)
    return ([data["session_id"][i] for i in rows], [int(data["turn_index"][i]) for i in rows],
            predictions.probabilities[SCHEME], thresholds, labels)


def decide(probs: np.ndarray, thresholds: np.ndarray, labels: list[str], rule: str) -> np.ndarray:
    if rule == "saved thresholds":
        return probs >= thresholds
    if rule == "0.5":
        return probs >= 0.5
    if rule == "clipped":
        return probs >= np.clip(thresholds, 0.3, 0.7)
    index = {code: i for i, code in enumerate(labels)}
    allowed = np.array([s for s in itertools.product((0, 1), repeat=len(labels))
                        if not any(s[index[a]] and s[index[b]] for a, b in EXCLUSIONS)], float)

    def logit(p):
        p = np.clip(p, 1e-6, 1 - 1e-6)
        return np.log(p / (1 - p))

    gains = logit(probs) - logit(thresholds)
    return allowed[(gains @ allowed.T).argmax(1)].astype(bool)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="the fold model folders of one cross-validation run")
    args = parser.parse_args()
    codebook = load_codebook()
    reference = read_pass("mi_relational", "pass1", codebook)
    quality = {f"annomi-{tid}": q for tid, (q, _) in annomi_sessions().items()}
    folds = [held_out(Path(m), codebook) for m in args.models]
    labels = folds[0][4]
    print("| decision | " + " | ".join(labels) + " | macro-F1 | adherent/100 AUC | non-adherent/100 AUC |")
    print("|---" * (len(labels) + 4) + "|")
    for rule in ("saved thresholds", "0.5", "clipped", "exclusions"):
        by_session: dict[str, list[np.ndarray]] = {}
        gold, chosen = [], []
        for sessions, turns, probs, thresholds, _ in folds:
            for session, turn, row in zip(sessions, turns, decide(probs, thresholds, labels, rule)):
                by_session.setdefault(session, []).append(row)
                key = (session.removeprefix("annomi-"), str(turn))
                if key in reference:
                    gold.append([c in reference[key].codes[SCHEME] for c in labels])
                    chosen.append(row)
        if not gold:
            raise SystemExit("no held-out therapist turn has a team label (data/annotations/mi_relational)")
        y, p = np.array(gold), np.array(chosen)
        f1 = [2 * (y[:, j] & p[:, j]).sum() / max(1, y[:, j].sum() + p[:, j].sum()) for j in range(len(labels))]
        aucs = []
        for codes in (ADHERENT, NON_ADHERENT):
            cols = [labels.index(c) for c in codes]
            rate = {s: 100 * np.array(rows)[:, cols].sum() / len(rows) for s, rows in by_session.items()}
            aucs.append(auc([v for s, v in rate.items() if quality[s] == "high"],
                            [v for s, v in rate.items() if quality[s] == "low"]))
        print(f"| {rule} | " + " | ".join(f"{v:.2f}" for v in f1) + f" | {np.mean(f1):.3f} | {aucs[0]:.2f} | {aucs[1]:.2f} |")


if __name__ == "__main__":
    main()
