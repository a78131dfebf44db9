"""Attaching codes: only the schemes of a unit's role, only when their condition holds."""

from __future__ import annotations

import numpy as np
import pytest

from transcript_coder.classify import Predictions
from transcript_coder.codes import attach_codes, decide
from transcript_coder.types import Utterance

LABELS = {
    "therapist_behaviour": ("question", "reflection", "therapist_input", "other"),
    "question_type": ("open", "closed"),
    "reflection_type": ("simple", "complex"),
    "therapist_input_type": ("information", "advice", "negotiation", "options"),
    "client_talk_type": ("change", "neutral", "sustain"),
    "speaker_role": ("therapist", "client"),
}


def unit(i: int, role: str) -> Utterance:
    return Utterance(utterance_index=i, turn_index=i, speaker=role.title(), role=role, text=f"unit {i}")


def predictions(rows: dict[str, list]) -> Predictions:
    """``rows[scheme]`` lists one probability row per unit (``None`` = not predicted)."""
    n = len(next(iter(rows.values())))
    probabilities = {}
    for scheme, values in rows.items():
        table = np.full((n, len(LABELS[scheme])), np.nan, dtype=np.float32)
        for i, row in enumerate(values):
            if row is not None:
                table[i] = row
        probabilities[scheme] = table
    return Predictions(n_units=n, labels={s: LABELS[s] for s in rows}, probabilities=probabilities)


def test_codes_follow_role_and_conditions(codebook):
    units = [unit(0, "therapist"), unit(1, "therapist"), unit(2, "client"), unit(3, "other")]
    every = [1 / 4] * 4
    preds = predictions({
        "therapist_behaviour": [[0.7, 0.1, 0.1, 0.1], [0.1, 0.2, 0.6, 0.1], [0.9, 0.05, 0.05, 0.0], every],
        "question_type": [[0.2, 0.8], [0.9, 0.1], [0.5, 0.5], [0.5, 0.5]],
        "reflection_type": [[0.5, 0.5]] * 4,
        "therapist_input_type": [[0.1, 0.2, 0.3, 0.4], [0.1, 0.6, 0.2, 0.1], every, every],
        "client_talk_type": [[0.1, 0.1, 0.8], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1], [0.3, 0.3, 0.4]],
        "speaker_role": [[0.5, 0.5]] * 4,
    })
    coded = attach_codes(units, preds, codebook)
    question, advice, client, other = coded
    assert {s: c.code for s, c in question.codes.items()} == {
        "therapist_behaviour": "question", "question_type": "closed", "integrative": "other"}
    assert question.codes["therapist_behaviour"].confidence == pytest.approx(0.7)
    assert question.codes["question_type"].probabilities == pytest.approx({"open": 0.2, "closed": 0.8})
    # Without an mi_relational model, advice is therapist input (information and feedback); direction
    # needs the persuade code.
    assert {s: c.code for s, c in advice.codes.items()} == {
        "therapist_behaviour": "therapist_input", "therapist_input_type": "advice", "integrative": "information_feedback"}
    # A client unit gets client schemes only, even though therapist heads were predicted for it; the
    # rule-based relationship inventory codes it without a model (no one mentioned: an empty set).
    assert {s: c.code for s, c in client.codes.items()} == {"client_talk_type": "change", "client_relationships": ""}
    assert client.codes["client_talk_type"].confidence == pytest.approx(0.6)
    assert other.codes == {}
    # Nothing is coded for speaker_role (role: any), and roll-ups have no confidence.
    assert all("speaker_role" not in c.codes for c in coded)
    assert question.codes["integrative"].confidence is None and question.codes["integrative"].probabilities == {}


def test_scheme_without_predictions_is_skipped_and_its_rollup_too(codebook):
    # Only client_talk_type predicted: the therapist unit gets nothing (no behaviour, so no roll-up).
    preds = predictions({"client_talk_type": [[0.2, 0.5, 0.3], [0.2, 0.5, 0.3]]})
    coded = attach_codes([unit(0, "therapist"), unit(1, "client")], preds, codebook)
    assert coded[0].codes == {}
    assert list(coded[1].codes) == ["client_relationships", "client_talk_type"]


def test_open_question_rolls_up_to_exploration_and_reflection_to_active_listening(codebook):
    preds = predictions({
        "therapist_behaviour": [[0.6, 0.2, 0.1, 0.1], [0.1, 0.6, 0.2, 0.1]],
        "question_type": [[0.7, 0.3], [0.7, 0.3]],
        "reflection_type": [[0.3, 0.7], [0.3, 0.7]],
    })
    first, second = attach_codes([unit(0, "therapist"), unit(1, "therapist")], preds, codebook)
    assert first.codes["integrative"].code == "exploration" and "reflection_type" not in first.codes
    assert second.codes["integrative"].code == "active_listening" and second.codes["reflection_type"].code == "complex"
    assert list(second.codes) == ["therapist_behaviour", "reflection_type", "integrative"]


def test_decide_takes_the_top_code_even_for_multi_label_probabilities(codebook):
    scheme = codebook["client_emotion"]
    probabilities = {"anger": 0.1, "disgust": 0.05, "fear": 0.7, "joy": 0.2, "sadness": 0.65, "surprise": 0.0,
                     "neutral": 0.3}
    code = decide(scheme, probabilities)
    assert code.code == "fear" and code.confidence == pytest.approx(0.7)
    assert list(code.probabilities) == scheme.code_ids


def test_multi_label_scheme_gets_the_set_above_threshold(codebook):
    scheme = codebook["mi_relational"]
    probabilities = {"affirm": 0.9, "seek_collaboration": 0.1, "emphasize_autonomy": 0.6, "persuade": 0.2,
                     "persuade_with_permission": 0.0, "confront": 0.45}
    code = decide(scheme, probabilities)
    assert code.code == "affirm;emphasize_autonomy"
    assert code.confidence == pytest.approx(0.55)  # the least certain decision: confront at 0.45
    assert decide(scheme, dict.fromkeys(scheme.code_ids, 0.1)).code == ""


def test_mi_relational_feeds_the_integrative_rollup_and_rules_code_clients(codebook):
    labels = dict(LABELS, mi_relational=tuple(codebook["mi_relational"].code_ids))
    n = 3
    tb = np.array([[0.1, 0.7, 0.1, 0.1], [0.1, 0.1, 0.7, 0.1], [0.1, 0.1, 0.1, 0.7]], dtype=np.float32)
    mi = np.array([[0.9, 0, 0, 0, 0, 0], [0, 0, 0, 0.8, 0, 0.7], [0, 0, 0, 0, 0, 0]], dtype=np.float32)
    preds = Predictions(n_units=n, labels={"therapist_behaviour": labels["therapist_behaviour"],
                                           "mi_relational": labels["mi_relational"]},
                        probabilities={"therapist_behaviour": tb, "mi_relational": mi})
    units = [unit(i, "therapist") for i in range(n)]
    coded = attach_codes(units, preds, codebook)
    assert [c.codes["mi_relational"].code for c in coded] == ["affirm", "persuade;confront", ""]
    assert [c.codes["integrative"].code for c in coded] == [
        "active_listening;alliance_building", "information_feedback;direction;rupture_risk", "other"]
    client = Utterance(utterance_index=3, turn_index=3, speaker="C", role="client", text="My wife and my boss hate it.")
    [coded_client] = attach_codes([client], Predictions.empty(1), codebook)
    relationships = coded_client.codes["client_relationships"]
    assert relationships.code == "partner;work_school" and relationships.confidence is None
    assert relationships.probabilities["partner"] == 1.0 and relationships.probabilities["child"] == 0.0


def test_without_mi_relational_the_rollup_still_codes_from_the_other_schemes(codebook):
    preds = predictions({"therapist_behaviour": [[0.1, 0.7, 0.1, 0.1]]})
    [coded] = attach_codes([unit(0, "therapist")], preds, codebook)
    assert "mi_relational" not in coded.codes
    assert coded.codes["integrative"].code == "active_listening"


def test_a_heads_tuned_thresholds_decide_its_multi_label_codes(codebook):
    scheme = codebook["mi_relational"]
    probabilities = dict.fromkeys(scheme.code_ids, 0.3)
    thresholds = dict.fromkeys(scheme.code_ids, 0.5) | {"confront": 0.25}
    assert decide(scheme, probabilities, thresholds).code == "confront"
    assert decide(scheme, probabilities).code == ""
    row = np.array([[0.3] * 6], dtype=np.float32)
    preds = Predictions(n_units=1, labels={"mi_relational": tuple(scheme.code_ids)}, probabilities={"mi_relational": row},
                        thresholds={"mi_relational": tuple(thresholds[c] for c in scheme.code_ids)})
    [coded] = attach_codes([unit(0, "therapist")], preds, codebook)
    assert coded.codes["mi_relational"].code == "confront"
