"""Calibrated confidence: temperature scaling per head, expected calibration error, and the
selective-review curve supervisors read.

A head's probabilities are ``softmax(logits / T)`` (``sigmoid`` for multi-label heads); ``T`` is fitted
on validation by minimising the negative log-likelihood (Guo et al. 2017, "On calibration of modern
neural networks"). Temperature never changes a single-label head's top code, only how sure it says
it is, so the ``*_confidence`` columns and the report's "check" flag mean what they say.

ECE after scaling, measured on the data the temperature was fitted on, flatters it. So each head
also gets a **cross-fitted** ECE when the rows' groups (sessions or source videos) are known: the
groups are dealt into two halves, each half is scaled with the temperature fitted on the other,
and ECE is measured over both halves. That is the ECE a new session would see.

Temperatures are fitted from the probabilities the model already returns at ``T = 1``: for a
softmax, ``log p`` differs from the logits by a per-row constant, which softmax ignores; for a
sigmoid, the logit is ``log(p / (1 - p))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_EPS = 1e-7


def _logits(probs: np.ndarray, multi_label: bool) -> np.ndarray:
    p = np.clip(probs.astype(np.float64), _EPS, 1 - _EPS)
    return np.log(p / (1 - p)) if multi_label else np.log(p)


def rescale(probs: np.ndarray, temperature: float, multi_label: bool = False) -> np.ndarray:
    """Probabilities as a head with temperature ``temperature`` (instead of 1) would give them."""
    z = _logits(probs, multi_label) / temperature
    if multi_label:
        return 1.0 / (1.0 + np.exp(-z))
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _nll(probs: np.ndarray, targets: np.ndarray, multi_label: bool) -> float:
    if multi_label:
        p = np.clip(probs, _EPS, 1 - _EPS)
        return float(-np.mean(targets * np.log(p) + (1 - targets) * np.log(1 - p)))
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(targets)), targets], _EPS, 1.0))))


def fit_temperature(probs: np.ndarray, targets: np.ndarray, multi_label: bool = False) -> float:
    """The temperature that minimises validation NLL: a coarse log-spaced grid, then a golden-section
    refinement around the best point (the NLL is unimodal in log T). ``targets``: class indices for a
    single-label head, a 0/1 matrix for a multi-label one."""
    if len(probs) == 0:
        return 1.0
    grid = np.exp(np.linspace(np.log(0.2), np.log(10.0), 41))
    losses = [_nll(rescale(probs, t, multi_label), targets, multi_label) for t in grid]
    k = int(np.argmin(losses))
    lo, hi = np.log(grid[max(0, k - 1)]), np.log(grid[min(len(grid) - 1, k + 1)])
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(40):
        a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        if _nll(rescale(probs, np.exp(a), multi_label), targets, multi_label) < \
                _nll(rescale(probs, np.exp(b), multi_label), targets, multi_label):
            hi = b
        else:
            lo = a
    return float(round(np.exp((lo + hi) / 2), 4))


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """ECE: the row-weighted mean gap between confidence and accuracy over ``bins`` equal-width
    confidence bins (Naeini et al. 2015; Guo et al. 2017)."""
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, float)
    if len(confidence) == 0:
        return 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            total += in_bin.mean() * abs(confidence[in_bin].mean() - correct[in_bin].mean())
    return float(total)


def selective_review(confidence: np.ndarray, correct: np.ndarray,
                     shares: Sequence[float] = (0.05, 0.1, 0.2, 0.3, 0.5)) -> list[dict]:
    """If a supervisor checks the ``share`` least confident units, what share of all the model's
    errors do they see? One row per share (ties broken by row order, so the curve is reproducible)."""
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, bool)
    order = np.argsort(confidence, kind="stable")
    errors = int((~correct).sum())
    rows = []
    for share in shares:
        k = int(round(share * len(order)))
        caught = int((~correct[order[:k]]).sum())
        rows.append({"reviewed": share, "units": k, "errors_caught": caught,
                     "share_of_errors": round(caught / errors, 4) if errors else 1.0})
    return rows


def group_halves(groups: Sequence[str]) -> np.ndarray:
    """Each row's half (0 or 1) for cross-fitting: distinct groups, sorted, dealt alternately, so
    every group is wholly in one half and the split does not depend on row order."""
    names, inverse = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    return (np.arange(len(names)) % 2)[inverse]


def _cross_fitted(probs: np.ndarray, targets: np.ndarray, groups: Sequence[str] | None,
                  multi_label: bool) -> np.ndarray | None:
    """``probs`` with each half rescaled by the temperature fitted on the other half, or ``None``
    when there are no groups or fewer than two."""
    if groups is None or len(set(groups)) < 2:
        return None
    half = group_halves(groups)
    out = np.empty_like(probs, dtype=np.float64)
    for h in (0, 1):
        fit, apply = half != h, half == h
        out[apply] = rescale(probs[apply], fit_temperature(probs[fit], targets[fit], multi_label), multi_label)
    return out


@dataclass
class Calibration:
    """A head's fitted temperature and what it did on the data it was fitted on; ``ece_cross_fitted``
    is ECE with temperatures fitted on the other half of the groups (``None`` without groups)."""

    temperature: float
    ece_before: float
    ece_after: float
    review_curve: list[dict]
    ece_cross_fitted: float | None = None

    def to_json(self) -> dict:
        data = {"temperature": self.temperature, "ece_before": round(self.ece_before, 4),
                "ece_after": round(self.ece_after, 4), "selective_review": self.review_curve}
        if self.ece_cross_fitted is not None:
            data["ece_cross_fitted"] = round(self.ece_cross_fitted, 4)
        return data


def calibrate_single_label(probs: np.ndarray, targets: np.ndarray, groups: Sequence[str] | None = None) -> Calibration:
    """Fit and measure temperature scaling for a softmax head (``targets``: class indices;
    ``groups``: each row's session or video, for the cross-fitted ECE)."""
    t = fit_temperature(probs, targets)
    after = rescale(probs, t)
    correct = probs.argmax(1) == targets
    crossed = _cross_fitted(probs, targets, groups, multi_label=False)
    return Calibration(t, expected_calibration_error(probs.max(1), correct),
                       expected_calibration_error(after.max(1), correct), selective_review(after.max(1), correct),
                       expected_calibration_error(crossed.max(1), correct) if crossed is not None else None)


def calibrate_multi_label(probs: np.ndarray, targets: np.ndarray, thresholds: Sequence[float],
                          groups: Sequence[str] | None = None) -> Calibration:
    """Fit and measure temperature scaling for a sigmoid head, over every (unit, code) decision: the
    confidence of a decision is ``p`` when the code is predicted (``p >= threshold``), else ``1 - p``."""
    t = fit_temperature(probs, targets, multi_label=True)
    after = rescale(probs, t, multi_label=True)
    thresholds = np.asarray(thresholds, float)
    predicted = probs >= thresholds  # decisions are made on the uncalibrated thresholds' scale
    correct = (predicted == targets.astype(bool)).ravel()

    def decision_confidence(p: np.ndarray) -> np.ndarray:
        return np.where(predicted, p, 1 - p).ravel()

    crossed = _cross_fitted(probs, targets, groups, multi_label=True)
    return Calibration(t, expected_calibration_error(decision_confidence(probs), correct),
                       expected_calibration_error(decision_confidence(after), correct),
                       selective_review(decision_confidence(after), correct),
                       expected_calibration_error(decision_confidence(crossed), correct) if crossed is not None else None)
