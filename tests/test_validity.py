"""Known-groups validity: the AUC of a session score for high against low MI quality."""

from __future__ import annotations

import math

import pytest

from transcript_coder.validity import auc, bootstrap_interval, reference_validity


def test_auc_by_hand():
    assert auc([3, 4], [1, 2]) == 1.0
    assert auc([1, 2], [3, 4]) == 0.0
    assert auc([1, 3], [2, 2]) == 0.5          # one pair above, one below
    assert auc([2], [2, 1]) == pytest.approx(0.75)  # a tie counts half
    assert math.isnan(auc([], [1]))


def test_bootstrap_interval_brackets_the_estimate():
    high, low = [5, 6, 7, 8, 3], [1, 2, 4, 3, 2]
    lo, hi = bootstrap_interval(high, low, rounds=500)
    assert lo <= auc(high, low) <= hi and 0 <= lo < hi <= 1
    assert bootstrap_interval(high, low, rounds=500) == (lo, hi)  # seeded


def test_reference_validity_on_annomi(shared_data, monkeypatch, codebook):
    monkeypatch.setenv("TRANSCRIPT_CODER_DATA", str(shared_data))
    results = {r.score: r for r in reference_validity(codebook)}
    rq = results["reflection_to_question"]
    assert rq.source == "AnnoMI human codes" and rq.n_low == 15 and rq.auc > 0.8
    adherent = results["mi_adherent"]
    assert (adherent.n_high, adherent.n_low) == (47, 17) and adherent.auc > 0.8
    assert results["mi_non_adherent"].auc < 0.2  # low-quality sessions persuade and confront more
