"""Session summaries: exact arithmetic on a hand-built coded session."""

from __future__ import annotations

import pytest

from transcript_coder.errors import ConfigError
from transcript_coder.summarize import load_score_config, summarize
from transcript_coder.types import Code, CodedUtterance, Utterance

from .conftest import ROOT


@pytest.fixture(scope="module")
def scores(codebook):
    return load_score_config(ROOT / "configs" / "scores.yaml", codebook)


def coded(index: int, turn: int, role: str, **codes: str) -> CodedUtterance:
    unit = Utterance(utterance_index=index, turn_index=turn, speaker=role, role=role, text="...")
    return CodedUtterance(unit, {s: Code(scheme=s, code=c, confidence=0.9, probabilities={}) for s, c in codes.items()})


def hand_built_session() -> list[CodedUtterance]:
    units = [
        coded(0, 0, "therapist", therapist_behaviour="question", question_type="open"),
        coded(1, 0, "therapist", therapist_behaviour="question", question_type="closed"),  # same turn
        coded(2, 1, "client", client_talk_type="change", client_emotion="fear"),
        coded(3, 2, "therapist", therapist_behaviour="reflection", reflection_type="complex"),
        coded(4, 3, "client", client_talk_type="sustain", client_emotion="fear"),
        coded(5, 4, "therapist", therapist_behaviour="reflection", reflection_type="simple"),
        coded(6, 5, "client", client_talk_type="change", client_emotion="joy"),
        coded(7, 6, "therapist", therapist_behaviour="reflection", reflection_type="complex"),
        coded(8, 7, "client", client_talk_type="neutral", client_emotion="neutral"),
        coded(9, 8, "therapist", therapist_behaviour="question", question_type="open"),
        coded(10, 9, "client", client_talk_type="change", client_emotion="fear"),
        coded(11, 10, "other"),
    ]
    return units


def test_scores_counts_and_turns_are_exact(codebook, scores):
    summary = summarize("s1", hand_built_session(), codebook, scores, role_confidence=0.8)
    # 3 reflections / 3 questions; 2 of 3 reflections complex; 2 of 3 questions open;
    # change 3 / (change 3 + sustain 1); emotions over 5 client units: fear 3, joy 1, neutral 1.
    assert summary.scores["reflection_to_question"] == pytest.approx(1.0)
    assert summary.scores["pct_complex_reflections"] == pytest.approx(200 / 3)
    assert summary.scores["pct_open_questions"] == pytest.approx(200 / 3)
    assert summary.scores["pct_change_talk"] == pytest.approx(75.0)
    assert summary.scores["pct_client_emotion.fear"] == pytest.approx(60.0)
    assert summary.scores["pct_client_emotion.joy"] == pytest.approx(20.0)
    assert summary.scores["pct_client_emotion.anger"] == pytest.approx(0.0)
    assert summary.counts["therapist_behaviour"] == {"question": 3, "reflection": 3, "therapist_input": 0, "other": 0}
    assert summary.counts["client_talk_type"] == {"change": 3, "neutral": 1, "sustain": 1}
    assert "speaker_role" not in summary.counts
    # Two units of turn 0 count as one therapist turn.
    assert summary.turns_per_role == {"therapist": 5, "client": 5, "other": 1}
    assert summary.role_confidence == 0.8


def test_empty_denominators_give_none_not_zero(codebook, scores):
    summary = summarize("s2", [coded(0, 0, "client", client_talk_type="neutral")], codebook, scores)
    assert summary.scores["reflection_to_question"] is None
    assert summary.scores["pct_change_talk"] is None  # neutral only: no change, no sustain
    assert summary.scores["pct_client_emotion.fear"] is None
    assert summary.turns_per_role == {"therapist": 0, "client": 1, "other": 0}


def test_score_config_is_checked_against_the_codebook(tmp_path, codebook):
    path = tmp_path / "scores.yaml"
    path.write_text("version: 1\nscores:\n  r:\n    numerator: {scheme: therapist_behaviour, codes: [reflekshun]}\n"
                    "    denominator: {scheme: therapist_behaviour, codes: [question]}\n")
    with pytest.raises(ConfigError) as caught:
        load_score_config(path, codebook)
    assert caught.value.code == "E005" and "therapist_behaviour.reflekshun" in str(caught.value)
    path.write_text("version: 1\nscore: {}\n")
    with pytest.raises(ConfigError) as caught:
        load_score_config(path, codebook)
    assert caught.value.code == "E002" and "score: unknown key" in str(caught.value)
