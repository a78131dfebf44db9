"""Agreement between two codings of the same sessions (model vs human coder, or two humans), as
the MI-coding literature reports it:

* per scheme, at the unit level: per-code precision / recall / F1, Cohen's kappa and
  Krippendorff's alpha (nominal; :func:`transcript_coder.metrics.single_label_report`), over the
  units both codings coded (two supervisors' ``reviewed`` columns give their agreement);
* per summary score (``configs/scores.yaml``: reflection-to-question ratio, % complex reflections,
  % open questions, % change talk), across sessions: the intraclass correlation ICC(2,1) (two-way
  random effects, absolute agreement, single rater; Shrout & Fleiss 1979) and ICC(3,1)
  (two-way mixed, consistency). Each side's scores are computed from its own codes with
  :func:`transcript_coder.summarize.summarize`, so they mean exactly what ``sessions.csv`` means.

Units align by ``(session_id, utterance_index)``; units only one side has are listed, not scored.
The reference plays the role of the "true" codes in F1 (recall is over the reference's codes).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .codebook import Codebook, load_codebook, split_codes
from .codings import COLUMN_SOURCES, CodedRow, read_coded_files
from .errors import DataError, UsageError
from .metrics import SchemeReport, single_label_report
from .summarize import ScoreConfig, load_score_config, summarize
from .types import ROLES, Code, CodedUtterance, Utterance

Key = tuple[str, int]


def icc(ratings: Sequence[Sequence[float]] | np.ndarray, form: str = "2,1") -> float:
    """The intraclass correlation of an ``n targets x k raters`` matrix (Shrout & Fleiss 1979).

    ``form`` ``"2,1"``: two-way random effects, absolute agreement, single rater,
    ``(MSR - MSE) / (MSR + (k-1) MSE + k (MSC - MSE) / n)``; ``"3,1"``: two-way mixed, consistency,
    ``(MSR - MSE) / (MSR + (k-1) MSE)``. NaN with fewer than two targets or no variance at all.
    """
    x = np.asarray(ratings, dtype=float)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError("icc needs an n x k matrix with k >= 2 raters")
    n, k = x.shape
    if n < 2:
        return math.nan
    grand = x.mean()
    ss_rows = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_error = ((x - grand) ** 2).sum() - ss_rows - ss_cols
    ms_rows, ms_cols = ss_rows / (n - 1), ss_cols / (k - 1)
    ms_error = ss_error / ((n - 1) * (k - 1))
    if form == "2,1":
        denominator = ms_rows + (k - 1) * ms_error + k * (ms_cols - ms_error) / n
    elif form == "3,1":
        denominator = ms_rows + (k - 1) * ms_error
    else:
        raise ValueError(f"unknown ICC form '{form}' (known: 2,1 and 3,1)")
    return math.nan if denominator <= 0 else float((ms_rows - ms_error) / denominator)


@dataclass
class ScoreAgreement:
    """One summary score on both sides, per session, and its ICCs over the sessions where both
    sides have a value (a ratio with a zero denominator has none)."""

    score: str
    sessions: list[str]
    reference: list[float]
    compare: list[float]
    icc_2_1: float
    icc_3_1: float

    @property
    def n(self) -> int:
        """Sessions the ICC is over."""
        return len(self.sessions)


@dataclass
class Agreement:
    """Agreement of ``compare`` with ``reference``: per-scheme reports, per-score ICCs, and the units
    that did not align."""

    reference: str
    compare: str
    reference_columns: str
    compare_columns: str
    n_aligned: int
    only_reference: list[Key]
    only_compare: list[Key]
    schemes: dict[str, SchemeReport]
    scores: dict[str, ScoreAgreement] = field(default_factory=dict)

    def to_json(self) -> dict:
        """A JSON-ready dict (NaN ICCs become ``null``)."""

        def clean(value: float) -> float | None:
            return None if value is None or math.isnan(value) else round(value, 6)

        return {
            "reference": self.reference, "compare": self.compare,
            "reference_columns": self.reference_columns, "compare_columns": self.compare_columns,
            "aligned_units": self.n_aligned,
            "unaligned": {"only_reference": [list(k) for k in self.only_reference],
                          "only_compare": [list(k) for k in self.only_compare]},
            "schemes": {s: r.to_json() for s, r in self.schemes.items()},
            "scores": {name: {**asdict(a), "n": a.n, "icc_2_1": clean(a.icc_2_1), "icc_3_1": clean(a.icc_3_1)}
                       for name, a in self.scores.items()},
        }

    def table(self) -> str:
        """Plain text: alignment, each scheme's table, then the score ICCs."""
        lines = [f"reference: {self.reference} ({self.reference_columns} columns)",
                 f"compare:   {self.compare} ({self.compare_columns} columns)",
                 f"aligned units: {self.n_aligned}; only in reference: {len(self.only_reference)}; "
                 f"only in compare: {len(self.only_compare)}"]
        for label, keys in (("only in reference", self.only_reference), ("only in compare", self.only_compare)):
            if keys:
                shown = ", ".join(f"{s}#{i}" for s, i in keys[:10])
                lines.append(f"  {label}: {shown}{' ...' if len(keys) > 10 else ''}")
        lines += ["", *("\n\n".join(r.table() for r in self.schemes.values())).splitlines(), ""]
        lines.append(f"  {'score':<26} {'sessions':>8} {'ICC(2,1)':>9} {'ICC(3,1)':>9}")
        for name, a in self.scores.items():
            lines.append(f"  {name:<26} {a.n:>8} {_fmt(a.icc_2_1):>9} {_fmt(a.icc_3_1):>9}")
        return "\n".join(lines)


def _fmt(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def _coded_utterances(rows: Sequence[CodedRow], source: str) -> list[CodedUtterance]:
    units = []
    for row in rows:
        utterance = Utterance(utterance_index=row.utterance_index, turn_index=row.turn_index, speaker=row.speaker,
                              role=row.role, text=row.text)
        codes = {s: Code(scheme=s, code=c, confidence=1.0, probabilities={}) for s, c in row.codes_from(source).items()}
        units.append(CodedUtterance(utterance=utterance, codes=codes))
    return units


def _multi_label_reports(scheme, ref_rows: Sequence[CodedRow], cmp_rows: Sequence[CodedRow], ref_columns: str,
                         cmp_columns: str) -> dict[str, SchemeReport]:
    """Per code of a multi-label scheme, a present/absent report named ``<scheme>.<code>``, over the
    aligned units of the scheme's role. An empty cell is "no code", so a side that has no code of
    the scheme anywhere is taken as not having coded it, and nothing is reported."""
    rows = [(a, b) for a, b in zip(ref_rows, cmp_rows) if a.role == scheme.role]
    ref = [split_codes(a.codes_from(ref_columns).get(scheme.id)) for a, _ in rows]
    cmp = [split_codes(b.codes_from(cmp_columns).get(scheme.id)) for _, b in rows]
    if not any(ref) or not any(cmp):
        return {}
    labels = ["absent", "present"]
    return {f"{scheme.id}.{code}": single_label_report(
        f"{scheme.id}.{code}", labels, [labels[code in codes] for codes in ref], [labels[code in codes] for codes in cmp])
        for code in scheme.code_ids}


def compare_codings(reference: Sequence[CodedRow], compare: Sequence[CodedRow], codebook: Codebook,
                    score_config: ScoreConfig, *, reference_columns: str = "codes", compare_columns: str = "codes",
                    reference_name: str = "reference", compare_name: str = "compare") -> Agreement:
    """Agreement of two codings given as rows (the stage; :func:`agreement` reads the files).

    Raises:
        DataError: E507 when no unit aligns.
    """
    ref = {row.key: row for row in reference}
    cmp = {row.key: row for row in compare}
    aligned = [k for k in ref if k in cmp]
    if not aligned:
        raise DataError("E507", reference=reference_name, compare=compare_name)
    schemes: dict[str, SchemeReport] = {}
    for scheme in codebook.ordered():
        if scheme.kind == "rollup" or scheme.role not in ROLES:
            continue
        if scheme.multi_label:
            schemes.update(_multi_label_reports(scheme, [ref[k] for k in aligned], [cmp[k] for k in aligned],
                                                reference_columns, compare_columns))
            continue
        pairs = [(ref[k].codes_from(reference_columns).get(scheme.id), cmp[k].codes_from(compare_columns).get(scheme.id))
                 for k in aligned]
        pairs = [(a, b) for a, b in pairs if a and b]
        if pairs:
            schemes[scheme.id] = single_label_report(scheme.id, scheme.code_ids, [a for a, _ in pairs],
                                                     [b for _, b in pairs])
    scores: dict[str, ScoreAgreement] = {}
    sessions = sorted({k[0] for k in aligned})
    summaries = {}
    for session in sessions:
        ref_units = _coded_utterances([r for r in reference if r.session_id == session], reference_columns)
        cmp_units = _coded_utterances([r for r in compare if r.session_id == session], compare_columns)
        summaries[session] = (summarize(session, ref_units, codebook, score_config).scores,
                              summarize(session, cmp_units, codebook, score_config).scores)
    for name in score_config.scores:
        both = [(s, a[name], b[name]) for s, (a, b) in summaries.items() if a[name] is not None and b[name] is not None]
        matrix = np.array([[a, b] for _, a, b in both]) if both else np.zeros((0, 2))
        scores[name] = ScoreAgreement(score=name, sessions=[s for s, _, _ in both], reference=[a for _, a, _ in both],
                                      compare=[b for _, _, b in both], icc_2_1=icc(matrix, "2,1"),
                                      icc_3_1=icc(matrix, "3,1"))
    return Agreement(reference=reference_name, compare=compare_name, reference_columns=reference_columns,
                     compare_columns=compare_columns, n_aligned=len(aligned),
                     only_reference=sorted(k for k in ref if k not in cmp),
                     only_compare=sorted(k for k in cmp if k not in ref), schemes=schemes, scores=scores)


def agreement(reference: Sequence[str | Path], compare: Sequence[str | Path], *, reference_columns: str = "codes",
              compare_columns: str = "codes", codebook: Codebook | None = None,
              score_config: ScoreConfig | None = None, json_path: str | Path | None = None) -> Agreement:
    """Compare two coded outputs, each given as coding output folders, folders of coded CSVs, or
    coded CSV files; ``*_columns`` chooses which columns hold each side's codes
    (:data:`transcript_coder.codings.COLUMN_SOURCES`). Optionally writes the JSON report.

    Raises:
        UsageError: E508 for an unknown column choice.
        DataError: E505/E506 for unreadable inputs, E507 when no unit aligns.
    """
    for option, value in (("reference-columns", reference_columns), ("compare-columns", compare_columns)):
        if value not in COLUMN_SOURCES:
            raise UsageError("E508", option=option, known=", ".join(COLUMN_SOURCES), value=value)
    codebook = codebook or load_codebook()
    score_config = score_config or load_score_config(codebook=codebook)
    ref_rows = [row for f in read_coded_files(reference, codebook) for row in f.rows]
    cmp_rows = [row for f in read_coded_files(compare, codebook) for row in f.rows]
    result = compare_codings(ref_rows, cmp_rows, codebook, score_config, reference_columns=reference_columns,
                             compare_columns=compare_columns, reference_name=" ".join(map(str, reference)),
                             compare_name=" ".join(map(str, compare)))
    if json_path is not None:
        Path(json_path).write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    return result
