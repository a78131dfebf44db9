"""Client emotion in therapy talk: how the GoEmotions-trained heads transfer to AnnoMI client turns.

Reference: the team's two independent passes (``data/annotations/client_turns``: one dominant
Ekman group, or neutral, per turn) over every client turn of annotation round 1's 20 AnnoMI
development transcripts; ``--scored-rounds`` picks other rounds. Every variant is scored against
each pass (macro-F1 over the 7 codes; the mean of the two is reported) and the variants that learn anything learn it by grouped cross-validation over transcripts (5 folds:
the fitted part never sees the transcript it is scored on). Variants:

* ``argmax``: the shipped head's most probable code (what the coded CSV shows today);
* ``thresholds``: the shipped multi-label decision (codes over their tuned thresholds; the most
  probable of those, else neutral);
* ``prior shift``: per-code log-prior offsets on the head's log-probabilities, fitted on the other
  folds (a multinomial logistic regression over the 7 log-probabilities: conversational base rates
  and the head's confusions);
* ``+ context``: the same with the preceding (therapist) turn's 7 emotion probabilities added;
* ``trained on labels``: logistic regression on the frozen encoder's turn vector plus the head's
  log-probabilities (training on the therapy-talk labels themselves);
* ``+ single-coded transcripts``: the same, also trained on the labelled client turns of the
  transcripts not scored, of the rounds ``--extra-rounds`` names (default 2; always on the
  training side).

Also reported: how often units the annotators coded sadness or fear (self-criticism, worry, grief)
come out as anger or disgust. Usage::

    python benchmarks/therapy_emotion.py --model models/goemotions [--json out.json]

``--model`` must not have been trained on the scored rounds' ``client_turns`` labels (a model
trained with ``team_labels: [client_turns]`` must leave those rounds out): it would be scored on
turns it learnt.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from transcript_coder.annotations import read_annomi_turns, read_pass
from transcript_coder.codebook import load_codebook
from transcript_coder.model import load_model

SCHEME = "client_emotion"


def _folds(transcripts: list[str], k: int = 5, seed: int = 13) -> dict[str, int]:
    names = sorted(set(transcripts), key=int)
    order = np.random.default_rng(seed).permutation(len(names))
    return {names[i]: j % k for j, i in enumerate(order)}


def _cv_predict(features: np.ndarray, y: np.ndarray, fold_of: np.ndarray, c: float,
                extra: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Out-of-fold predictions; ``extra`` rows (features, labels) join every fold's training side."""
    out = np.zeros(len(y), dtype=int)
    for fold in np.unique(fold_of):
        train, test = fold_of != fold, fold_of == fold
        clf = LogisticRegression(C=c, max_iter=3000, class_weight="balanced")
        if extra is None:
            clf.fit(features[train], y[train])
        else:
            clf.fit(np.vstack([features[train], extra[0]]), np.concatenate([y[train], extra[1]]))
        out[test] = clf.predict(features[test])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/goemotions")
    parser.add_argument("--json")
    parser.add_argument("--scored-rounds", dest="scored_rounds", type=int, nargs="+", default=[1],
                        help="annotation rounds whose double-coded transcripts are scored (default 1: the 20 "
                             "transcripts every recorded figure used)")
    parser.add_argument("--extra-rounds", dest="extra_rounds", type=int, nargs="+", default=[2],
                        help="rounds whose labelled turns train the '+ single-coded' variant (default 2, as recorded)")
    args = parser.parse_args()

    codebook = load_codebook()
    labels = list(codebook[SCHEME].code_ids)
    passes = {p: read_pass("client_turns", p, codebook) for p in ("pass1", "pass2")}

    def ordered(units) -> list:
        return sorted(units, key=lambda k: (int(k[0]), int(k[1])))

    keys = ordered(k for k in set(passes["pass1"]) & set(passes["pass2"]) if passes["pass1"][k].round in args.scored_rounds)
    scored = {k[0] for k in keys}
    # turns of transcripts never scored: training side only
    extra = ordered(k for k in passes["pass1"] if k[0] not in scored
                    and passes["pass1"][k].round in args.extra_rounds)
    all_turns = read_annomi_turns()
    texts = [all_turns[k]["text"] for k in keys]
    previous = [all_turns.get((k[0], str(int(k[1]) - 1)), {"text": ""})["text"] for k in keys]
    refs = {p: np.array([labels.index(passes[p][k].codes[SCHEME][0]) for k in keys]) for p in passes}
    transcripts = [k[0] for k in keys]
    fold_by_transcript = _folds(transcripts)
    fold_of = np.array([fold_by_transcript[t] for t in transcripts])

    model = load_model(args.model, codebook)
    head = model.head(SCHEME)
    order = [head.labels.index(label) for label in labels]
    probs = model.predict_proba(texts, schemes=[SCHEME])[SCHEME][:, order]
    prev_probs = model.predict_proba([p or "." for p in previous], schemes=[SCHEME])[SCHEME][:, order]
    vectors = model.embed(texts)
    extra_texts = [all_turns[k]["text"] for k in extra]
    extra_y = np.array([labels.index(passes["pass1"][k].codes[SCHEME][0]) for k in extra], dtype=int)
    extra_features = (np.hstack([model.embed(extra_texts), np.log(np.clip(
        model.predict_proba(extra_texts, schemes=[SCHEME])[SCHEME][:, order], 1e-6, 1))])
        if extra else np.zeros((0, vectors.shape[1] + len(labels))))
    thresholds = np.asarray(head.thresholds or (0.5,) * len(labels))[order]

    def macro(pred: np.ndarray) -> dict:
        scores = {p: f1_score(refs[p], pred, labels=range(len(labels)), average="macro", zero_division=0) for p in refs}
        return {**{p: round(float(v), 4) for p, v in scores.items()}, "mean": round(float(np.mean(list(scores.values()))), 4)}

    over = probs >= thresholds
    neutral = labels.index("neutral")
    threshold_pred = np.where(over.any(1), np.where(over, probs, -1).argmax(1), neutral)
    logp = np.log(np.clip(probs, 1e-6, 1))
    results = {"argmax": macro(probs.argmax(1)), "thresholds": macro(threshold_pred)}
    for name, features in (("prior shift", logp),
                           ("prior shift + context", np.hstack([logp, np.log(np.clip(prev_probs, 1e-6, 1))])),
                           ("trained on labels (vector + log-probs)", np.hstack([vectors, logp]))):
        preds = [_cv_predict(features, refs[p], fold_of, c=1.0) for p in refs]
        # each pass's labels train the variant scored against that pass
        scores = {p: round(float(f1_score(refs[p], pred, labels=range(len(labels)), average="macro", zero_division=0)), 4)
                  for p, pred in zip(refs, preds)}
        results[name] = {**scores, "mean": round(float(np.mean(list(scores.values()))), 4)}
    if extra:
        features = np.hstack([vectors, logp])
        preds = [_cv_predict(features, refs[p], fold_of, c=1.0, extra=(extra_features, extra_y)) for p in refs]
        scores = {p: round(float(f1_score(refs[p], pred, labels=range(len(labels)), average="macro", zero_division=0)), 4)
                  for p, pred in zip(refs, preds)}
        results[f"trained on labels + {len(extra)} single-coded turns of {len({k[0] for k in extra})} transcripts"] = {
            **scores, "mean": round(float(np.mean(list(scores.values()))), 4)}
    agreement = f1_score(refs["pass1"], refs["pass2"], labels=range(len(labels)), average="macro", zero_division=0)
    shipped = probs.argmax(1)
    self_critical = np.isin(refs["pass1"], [labels.index("sadness"), labels.index("fear")])
    hostile = np.isin(shipped, [labels.index("anger"), labels.index("disgust")])
    report = {"model": args.model, "units": len(keys), "transcripts": len(set(transcripts)),
              "single_coded_training_units": len(extra),
              "pass2_vs_pass1_macro_f1": round(float(agreement), 4), "macro_f1": results,
              "sadness_or_fear_coded_anger_or_disgust": {
                  "units": int(self_critical.sum()), "share": round(float(hostile[self_critical].mean()), 4)},
              "predicted_share": {label: round(float((shipped == i).mean()), 4) for i, label in enumerate(labels)},
              "annotated_share": {label: round(float((refs["pass1"] == i).mean()), 4) for i, label in enumerate(labels)}}
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
