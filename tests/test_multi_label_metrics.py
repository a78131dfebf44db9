"""Multi-label scores: whether a unit may carry no code decides whether the top code is forced."""

from __future__ import annotations

import numpy as np
import pytest

from transcript_coder.metrics import multi_label_report

LABELS = ["affirm", "seek_collaboration", "confront"]
# Five therapist units: one affirmation, one collaboration, three with no relational code.
REFERENCE = [["affirm"], ["seek_collaboration"], [], [], []]
PROBS = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.3, 0.2, 0.1], [0.1, 0.3, 0.2], [0.2, 0.1, 0.05]])


def test_a_scheme_whose_units_may_carry_no_code_is_scored_as_the_pipeline_decides_it():
    report = multi_label_report("mi_relational", LABELS, REFERENCE, PROBS, [0.5, 0.5, 0.5], allow_empty=True)
    assert report.per_code["affirm"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert report.per_code["seek_collaboration"]["f1"] == 1.0
    # confront occurs nowhere, in the reference or the predictions: it does not enter the macro mean.
    assert report.macro_f1 == 1.0
    assert report.accuracy == 1.0


def test_forcing_the_top_code_on_units_without_one_costs_precision():
    forced = multi_label_report("mi_relational", LABELS, REFERENCE, PROBS, [0.5, 0.5, 0.5])
    # The three empty units each get their top code: affirm twice, seek_collaboration once.
    assert forced.per_code["affirm"]["precision"] == pytest.approx(1 / 3)
    assert forced.per_code["seek_collaboration"]["precision"] == pytest.approx(1 / 2)
    assert forced.accuracy == pytest.approx(2 / 5)


def test_a_code_predicted_but_never_in_the_reference_counts_against_the_macro_mean():
    probs = PROBS.copy()
    probs[2, 2] = 0.7  # confront predicted once, wrongly
    report = multi_label_report("mi_relational", LABELS, REFERENCE, probs, [0.5, 0.5, 0.5], allow_empty=True)
    assert report.per_code["confront"]["f1"] == 0.0
    assert report.macro_f1 == pytest.approx(2 / 3)


def test_thresholds_maximise_each_codes_f1_and_a_code_without_positives_keeps_one_half():
    from transcript_coder.metrics import tune_thresholds

    probs = np.array([[0.35, 0.1, 0.3], [0.2, 0.6, 0.2], [0.25, 0.3, 0.15], [0.1, 0.2, 0.1], [0.3, 0.1, 0.05]])
    thresholds = tune_thresholds(REFERENCE, LABELS, probs)
    assert 0.3 < thresholds[0] <= 0.35  # only the one affirmation at 0.35 is at or above it
    assert 0.3 < thresholds[1] <= 0.6
    assert thresholds[2] == 0.5  # confront never occurs: not flooded at the grid's lowest threshold


def test_a_rare_code_with_inflated_probabilities_can_get_a_threshold_above_0_9():
    from transcript_coder.metrics import tune_thresholds

    probs = np.array([[0.995, 0.1, 0.0], [0.97, 0.6, 0.0], [0.96, 0.2, 0.0], [0.95, 0.3, 0.0], [0.97, 0.1, 0.0]])
    thresholds = tune_thresholds(REFERENCE, LABELS, probs)
    assert 0.97 < thresholds[0] <= 0.995
