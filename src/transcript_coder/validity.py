"""Known-groups validity of the session scores: how well each score separates sessions AnnoMI
marks as high MI quality from those it marks low (``mi_quality``).

:func:`auc` is the area under the ROC curve of a score for "high" against "low" (the Mann-Whitney
probability that a random high-quality session scores above a random low-quality one, ties
counting half), with a percentile bootstrap interval over sessions. :func:`reference_validity`
computes it for every score of ``configs/scores.yaml`` from *human* codes: AnnoMI's own
annotations for the MITI ratios (R:Q, %CR, %OQ, % change talk) and the team's pass-1
``mi_relational`` labels for the MITI 4.2.1 summary scores. That is the ceiling a model's codes can
reach; a model's scores are to be judged the same way on sessions it was not trained on
(cross-validated by source video), with the same :func:`auc`.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .codebook import Codebook, load_codebook
from .summarize import ScoreConfig, load_score_config, summarize
from .types import Code, CodedUtterance, Utterance


def auc(high: Sequence[float], low: Sequence[float]) -> float:
    """P(a high-group value > a low-group value) + 0.5 P(equal); NaN when a group is empty."""
    if not high or not low:
        return math.nan
    h = np.asarray(high, dtype=float)[:, None]
    lo = np.asarray(low, dtype=float)[None, :]
    return float(((h > lo).sum() + 0.5 * (h == lo).sum()) / (h.size * lo.size))


def bootstrap_interval(high: Sequence[float], low: Sequence[float], *, rounds: int = 2000, seed: int = 2026,
                       level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of :func:`auc`, resampling sessions within each group."""
    if len(high) < 2 or len(low) < 2:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    h, lo = np.asarray(high, dtype=float), np.asarray(low, dtype=float)
    values = [auc(list(rng.choice(h, len(h))), list(rng.choice(lo, len(lo)))) for _ in range(rounds)]
    tail = (1 - level) / 2
    return (float(np.quantile(values, tail)), float(np.quantile(values, 1 - tail)))


@dataclass
class ScoreValidity:
    """One score's separation of high- from low-quality sessions."""

    score: str
    source: str
    n_high: int
    n_low: int
    auc: float
    low_ci: float
    high_ci: float
    mean_high: float
    mean_low: float


def annomi_sessions(path: str | Path | None = None, mi_relational: Mapping[tuple[str, str], list[str]] | None = None
                    ) -> dict[str, tuple[str, list[CodedUtterance]]]:
    """AnnoMI development transcripts as coded sessions from AnnoMI's human codes (scheme by scheme
    as the pipeline codes them: a question type only on a question, a reflection type only on a
    reflection), with ``mi_relational`` codes where given (keyed by transcript and utterance id).
    Returns ``{transcript_id: (mi_quality, units)}``."""
    from .annotations import ANNOMI_DEV, data_root

    path = Path(path) if path is not None else data_root() / ANNOMI_DEV
    sessions: dict[str, tuple[str, list[CodedUtterance]]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            tid, uid = row["transcript_id"], row["utterance_id"]
            role = row["interlocutor"]
            codes: dict[str, str] = {}
            if role == "therapist":
                behaviour = row["main_therapist_behaviour"]
                codes["therapist_behaviour"] = behaviour
                if behaviour == "question" and row["question_subtype"] in ("open", "closed"):
                    codes["question_type"] = row["question_subtype"]
                if behaviour == "reflection" and row["reflection_subtype"] in ("simple", "complex"):
                    codes["reflection_type"] = row["reflection_subtype"]
                if mi_relational is not None and (tid, uid) in mi_relational:
                    codes["mi_relational"] = ";".join(mi_relational[(tid, uid)])
            elif row["client_talk_type"] in ("change", "neutral", "sustain"):
                codes["client_talk_type"] = row["client_talk_type"]
            unit = Utterance(utterance_index=int(uid), turn_index=int(uid), speaker=role, role=role, text="")
            coded = CodedUtterance(unit, {s: Code(scheme=s, code=c, confidence=1.0, probabilities={})
                                          for s, c in codes.items()})
            sessions.setdefault(tid, (row["mi_quality"], []))[1].append(coded)
    return sessions


def reference_validity(codebook: Codebook | None = None, score_config: ScoreConfig | None = None,
                       annomi: str | Path | None = None) -> list[ScoreValidity]:
    """AUC (high vs low MI quality) of every score of ``configs/scores.yaml`` computed from human
    codes: AnnoMI's annotations, and the team's pass-1 ``mi_relational`` labels for the scores that
    read that scheme (over the transcripts those labels cover)."""
    from .annotations import read_pass

    codebook = codebook or load_codebook()
    score_config = score_config or load_score_config(codebook=codebook)
    labels = {k: u.codes["mi_relational"] for k, u in read_pass("mi_relational", "pass1", codebook).items()}
    sessions = annomi_sessions(annomi, labels)
    return _score_validity(sessions, codebook, score_config, lambda spec: (
        "team pass-1 mi_relational labels" if spec.numerator.scheme == "mi_relational" else "AnnoMI human codes"))


def model_validity(model_dirs: Sequence[str | Path], codebook: Codebook | None = None,
                   score_config: ScoreConfig | None = None, annomi: str | Path | None = None) -> list[ScoreValidity]:
    """AUC (high vs low MI quality) of every score computed from *models'* codes on sessions they
    were not trained on (:func:`held_out_sessions`)."""
    codebook = codebook or load_codebook()
    score_config = score_config or load_score_config(codebook=codebook)
    sessions = held_out_sessions(model_dirs, codebook, annomi)
    return _score_validity(sessions, codebook, score_config,
                           lambda spec: f"model codes, {len(model_dirs)} held-out split(s)")


def held_out_sessions(model_dirs: Sequence[str | Path], codebook: Codebook,
                      annomi: str | Path | None = None) -> dict[str, tuple[str, list[CodedUtterance]]]:
    """Each folder in ``model_dirs`` (the fold models of ``transcript-coder cv``, or one model
    trained on a group split) codes the validation transcripts of its own training split, as
    ``code`` codes units (the transcript's roles, the preceding turn as context); the held-out
    sessions of all folders are pooled: ``{session_id: (mi_quality, coded units)}``."""
    import json

    from .classify import ModelSet
    from .codes import attach_codes, wanted_schemes
    from .train import TrainConfig, load_splits

    quality = {f"annomi-{tid}": q for tid, (q, _) in annomi_sessions(annomi).items()}
    sessions: dict[str, tuple[str, list[CodedUtterance]]] = {}
    for folder in map(Path, model_dirs):
        config = TrainConfig.model_validate(json.loads((folder / "metrics.json").read_text(encoding="utf-8"))["config"])
        if annomi is not None:
            config = config.model_copy(update={"data": config.data.model_copy(update={"path": str(annomi)})})
        held_out = load_splits(config, codebook).validation
        units = [Utterance(utterance_index=t, turn_index=t, speaker=role, role=role, text=text, context=context)
                 for t, role, text, context in zip(held_out["turn_index"], held_out["role"], held_out["text"],
                                                   held_out["context"])]
        # The pipeline's own prediction step: each unit gets the schemes its role needs.
        predictions = ModelSet([folder], codebook).predict(units, [wanted_schemes(u.role, codebook) for u in units])
        for unit, session in zip(attach_codes(units, predictions, codebook), held_out["session_id"]):
            sessions.setdefault(session, (quality[session], []))[1].append(unit)
    return sessions


def _score_validity(sessions: Mapping[str, tuple[str, list[CodedUtterance]]], codebook: Codebook,
                    score_config: ScoreConfig, source_of) -> list[ScoreValidity]:
    summaries = {tid: (quality, summarize(tid, units, codebook, score_config).scores)
                 for tid, (quality, units) in sessions.items()}
    results = []
    for name, spec in score_config.scores.items():
        values = [(q, s[name]) for q, s in summaries.values() if s[name] is not None]
        high = [v for q, v in values if q == "high"]
        low = [v for q, v in values if q == "low"]
        source = source_of(spec)
        lo_ci, hi_ci = bootstrap_interval(high, low)
        results.append(ScoreValidity(score=name, source=source, n_high=len(high), n_low=len(low), auc=auc(high, low),
                                     low_ci=lo_ci, high_ci=hi_ci,
                                     mean_high=float(np.mean(high)) if high else math.nan,
                                     mean_low=float(np.mean(low)) if low else math.nan))
    return results


def validity_table(results: Sequence[ScoreValidity]) -> str:
    """A Markdown table of :func:`reference_validity`."""
    def num(v: float, digits: int = 2) -> str:
        return "n/a" if v is None or math.isnan(v) else f"{v:.{digits}f}"

    lines = ["| score | codes from | sessions high / low | mean high | mean low | AUC (high vs low) | 95 % CI |",
             "|---|---|---:|---:|---:|---:|---|"]
    for r in results:
        lines.append(f"| `{r.score}` | {r.source} | {r.n_high} / {r.n_low} | {num(r.mean_high)} | {num(r.mean_low)} | "
                     f"{num(r.auc)} | {num(r.low_ci)}-{num(r.high_ci)} |")
    return "\n".join(lines)
