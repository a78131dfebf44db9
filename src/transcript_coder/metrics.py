"""Agreement metrics for one scheme: per-code precision / recall / F1, macro-F1, Cohen's kappa,
Krippendorff's alpha and the confusion matrix, as MI-coding papers and QDA tools report them."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import cohen_kappa_score, confusion_matrix, precision_recall_fscore_support


@dataclass
class SchemeReport:
    """Agreement of predicted codes with reference codes for one scheme.

    For multi-label schemes the per-code figures and macro-F1 are over binary decisions per code,
    and kappa, alpha and the confusion matrix are over the top code on units with one reference code.
    ``alpha`` is Krippendorff's alpha for nominal data (:func:`krippendorff_alpha`).
    """

    scheme: str
    labels: list[str]
    n: int
    per_code: dict[str, dict[str, float]]
    macro_f1: float
    accuracy: float
    kappa: float
    confusion: list[list[int]]
    problem: str = "single_label"
    alpha: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)

    def table(self) -> str:
        """A plain-text table: one line per code, then the summary and the confusion matrix."""
        width = max(12, *(len(label) for label in self.labels))
        lines = [f"{self.scheme}  (n={self.n}, {self.problem})",
                 f"  {'code':<{width}} {'prec':>6} {'rec':>6} {'f1':>6} {'support':>8}"]
        for label in self.labels:
            m = self.per_code[label]
            lines.append(f"  {label:<{width}} {m['precision']:>6.3f} {m['recall']:>6.3f} {m['f1']:>6.3f} {int(m['support']):>8}")
        lines.append(f"  macro-F1 {self.macro_f1:.3f}   accuracy {self.accuracy:.3f}   Cohen's kappa {self.kappa:.3f}"
                     f"   Krippendorff's alpha {self.alpha:.3f}")
        lines.append("  confusion (rows = reference, columns = predicted): " + " ".join(self.labels))
        for label, row in zip(self.labels, self.confusion):
            lines.append(f"  {label:<{width}} " + " ".join(f"{v:>6d}" for v in row))
        return "\n".join(lines)


def krippendorff_alpha(data: Sequence[Sequence[Hashable | None]]) -> float:
    """Krippendorff's alpha for nominal data (Krippendorff 2011, "Computing Krippendorff's
    alpha-reliability"): ``data`` is a coders x units table of codes, ``None`` where a coder did
    not code a unit.

    Units coded by fewer than two coders are not pairable and are left out. With ``n_uc`` the
    number of coders giving unit ``u`` code ``c`` and ``m_u`` the coders of ``u``, the coincidence
    matrix is ``o_ck = sum_u (n_uc n_uk - [c = k] n_uc) / (m_u - 1)``, ``n_c`` its margins and ``n``
    its total; then ``alpha = 1 - (n - 1) * sum_{c != k} o_ck / sum_{c != k} n_c n_k``.
    NaN when fewer than two values are pairable or only one code occurs (no variation to agree on).
    """
    categories: dict[Hashable, int] = {}
    for coder in data:
        for value in coder:
            if value is not None:
                categories.setdefault(value, len(categories))
    n_units = max((len(coder) for coder in data), default=0)
    counts = np.zeros((n_units, len(categories)))
    for coder in data:
        for u, value in enumerate(coder):
            if value is not None:
                counts[u, categories[value]] += 1
    m = counts.sum(axis=1)
    pairable = m >= 2
    counts, m = counts[pairable], m[pairable]
    if counts.size == 0:
        return math.nan
    weighted = counts / (m - 1)[:, None]  # each unit's pairs count 1 / (m_u - 1)
    coincidence = np.einsum("uc,uk->ck", weighted, counts) - np.diag(weighted.sum(axis=0))
    margins = coincidence.sum(axis=1)
    n = margins.sum()
    expected = n * n - (margins ** 2).sum()  # sum over c != k of n_c n_k
    if n < 2 or expected <= 0:
        return math.nan
    observed = coincidence.sum() - np.trace(coincidence)
    return float(1.0 - (n - 1) * observed / expected)


def _per_code(labels: Sequence[str], p, r, f, s) -> dict[str, dict[str, float]]:
    return {label: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, label in enumerate(labels)}


def single_label_report(scheme: str, labels: Sequence[str], reference: Sequence[str], predicted: Sequence[str]) -> SchemeReport:
    """Scores for exclusive codes; ``reference`` and ``predicted`` are aligned code ids."""
    labels = list(labels)
    if len(reference) != len(predicted):
        raise ValueError("reference and predicted differ in length")
    if not reference:
        zero = {label: {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0} for label in labels}
        return SchemeReport(scheme, labels, 0, zero, 0.0, 0.0, 0.0, [[0] * len(labels) for _ in labels], alpha=0.0)
    p, r, f, s = precision_recall_fscore_support(reference, predicted, labels=labels, zero_division=0)
    present = [i for i, label in enumerate(labels) if s[i] > 0 or label in set(predicted)]
    macro = float(np.mean([f[i] for i in present])) if present else 0.0
    varied = len(set(reference) | set(predicted)) > 1
    kappa = cohen_kappa_score(reference, predicted, labels=labels) if varied else 1.0
    alpha = krippendorff_alpha([list(reference), list(predicted)]) if varied else 1.0
    return SchemeReport(
        scheme=scheme, labels=labels, n=len(reference), per_code=_per_code(labels, p, r, f, s), macro_f1=macro,
        accuracy=float(np.mean([a == b for a, b in zip(reference, predicted)])),
        kappa=float(0.0 if np.isnan(kappa) else kappa),
        confusion=confusion_matrix(reference, predicted, labels=labels).tolist(),
        alpha=float(0.0 if math.isnan(alpha) else alpha),
    )


def multi_label_report(scheme: str, labels: Sequence[str], reference: Sequence[Sequence[str]],
                       probabilities: np.ndarray, thresholds: Sequence[float], allow_empty: bool = False) -> SchemeReport:
    """Scores for co-occurring codes: a code is predicted where its probability reaches its threshold.

    ``allow_empty`` says whether a unit may carry no code at all: a scheme the codebook marks
    multi-label (``mi_relational``: most units carry none), decided by thresholds alone. When it may
    not (the GoEmotions heads, whose schemes the pipeline codes with the top code), the top code is
    always predicted too, so every unit gets at least one. Macro-F1 averages the codes that occur in
    the reference or the predictions, as :func:`single_label_report` does."""
    labels = list(labels)
    index = {label: i for i, label in enumerate(labels)}
    gold = np.zeros((len(reference), len(labels)), dtype=int)
    for row, codes in enumerate(reference):
        for code in codes:
            gold[row, index[code]] = 1
    pred = (probabilities >= np.asarray(thresholds)[None, :]).astype(int)
    if not allow_empty and len(pred):
        pred[np.arange(len(pred)), probabilities.argmax(1)] = 1
    p, r, f, s = precision_recall_fscore_support(gold, pred, zero_division=0)
    present = [j for j in range(len(labels)) if s[j] > 0 or pred[:, j].any()]
    macro = float(np.mean([f[j] for j in present])) if present else 0.0
    single = [i for i, codes in enumerate(reference) if len(codes) == 1]
    top = single_label_report(scheme, labels, [reference[i][0] for i in single],
                              [labels[int(probabilities[i].argmax())] for i in single])
    return SchemeReport(scheme=scheme, labels=labels, n=len(reference), per_code=_per_code(labels, p, r, f, s),
                        macro_f1=macro, accuracy=float((gold == pred).all(1).mean()),
                        kappa=top.kappa, confusion=top.confusion, problem="multi_label", alpha=top.alpha)


#: Candidate multi-label thresholds: even steps of 0.25 in log-odds from -2.25 to 6 (0.095 to 0.9975).
#: A rare code trained with a large positive weight can need a threshold well above 0.9; below
#: about 0.1 a badly ranked rare code would be assigned to nearly every unit.
THRESHOLD_GRID = tuple(float(round(1 / (1 + math.exp(-z)), 4)) for z in np.arange(-2.25, 6.01, 0.25))


def tune_thresholds(reference: Sequence[Sequence[str]], labels: Sequence[str], probabilities: np.ndarray,
                    grid: Sequence[float] = THRESHOLD_GRID) -> list[float]:
    """Per-code thresholds that maximise each code's F1 on held-out data (the lowest of tied ones).
    A code with no positive unit there keeps 0.5: every threshold scores 0 on it, and the lowest
    would flood the codes."""
    index = {label: i for i, label in enumerate(labels)}
    gold = np.zeros((len(reference), len(labels)), dtype=bool)
    for row, codes in enumerate(reference):
        for code in codes:
            gold[row, index[code]] = True
    best = []
    for j in range(len(labels)):
        if not gold[:, j].any():
            best.append(0.5)
            continue
        scores = []
        for t in grid:
            pred = probabilities[:, j] >= t
            tp = (pred & gold[:, j]).sum()
            denom = pred.sum() + gold[:, j].sum()
            scores.append(2 * tp / denom if denom else 0.0)
        best.append(float(grid[int(np.argmax(scores))]))
    return best


def icc_2_1(ratings: np.ndarray) -> float:
    """ICC(2,1): two-way random effects, absolute agreement, single rater (Shrout & Fleiss 1979),
    for an ``n targets x k raters`` matrix (here: sessions x {experts, model}).

    ``(MSR - MSE) / (MSR + (k - 1) MSE + k (MSC - MSE) / n)`` with the rows', columns' and residual
    mean squares of a two-way ANOVA without replication. NaN with fewer than two targets.
    """
    x = np.asarray(ratings, dtype=float)
    n, k = x.shape
    if n < 2:
        return float("nan")
    grand = x.mean()
    ss_rows = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_err = ((x - grand) ** 2).sum() - ss_rows - ss_cols
    msr, msc, mse = ss_rows / (n - 1), ss_cols / (k - 1), ss_err / ((n - 1) * (k - 1))
    denominator = msr + (k - 1) * mse + k * (msc - mse) / n
    return float((msr - mse) / denominator) if denominator else float("nan")
