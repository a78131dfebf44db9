"""Segmentation: turns and sentences, with turn indices, contexts and timestamps."""

from __future__ import annotations

import pytest

from transcript_coder.contexts import last_turn, turns_of
from transcript_coder.errors import UsageError
from transcript_coder.readers import read_transcript
from transcript_coder.segment import (
    SENTENCIZER_CHUNK_CHARS,
    resolve_segmenter,
    segment,
    split_sentences,
)
from transcript_coder.types import Session, Turn

from .conftest import FIXTURES

SESSION = Session(session_id="s", turns=[
    Turn("Therapist", "Hi. How are you today?", start=1.0, end=4.5),
    Turn("Client", "   ", start=5.0, end=5.5),  # no text: no unit, and not a context
    Turn("Client", "Not great. I slept badly! Again.", start=6.0, end=9.25),
    Turn("Therapist", "You're tired.", start=None, end=None),
])


def test_turn_units_keep_indices_times_and_previous_turn_as_context():
    units = segment(SESSION, "turn")
    assert [(u.utterance_index, u.turn_index, u.speaker) for u in units] == [
        (0, 0, "Therapist"), (1, 2, "Client"), (2, 3, "Therapist")]
    assert [last_turn(u.context) for u in units] == ["", "Hi. How are you today?", "Not great. I slept badly! Again."]
    # the turns before each unit, oldest first, marked by whether the unit's speaker said them
    assert turns_of(units[2].context) == [("same", "Hi. How are you today?"),
                                          ("other", "Not great. I slept badly! Again.")]
    assert turns_of(units[1].context) == [("other", "Hi. How are you today?")]
    assert [(u.start, u.end) for u in units] == [(1.0, 4.5), (6.0, 9.25), (None, None)]
    assert {u.role for u in units} == {"other"}  # roles are attached later


def test_sentence_units_split_turns_and_keep_turn_index_times_and_turn_context():
    units = segment(SESSION, "sentence")
    assert [(u.utterance_index, u.turn_index, u.text) for u in units] == [
        (0, 0, "Hi."), (1, 0, "How are you today?"),
        (2, 2, "Not great."), (3, 2, "I slept badly!"), (4, 2, "Again."),
        (5, 3, "You're tired.")]
    assert units[3].start == 6.0 and units[3].end == 9.25
    assert last_turn(units[3].context) == "Hi. How are you today?"  # the previous turn, not the previous sentence
    assert turns_of(units[5].context) == [("same", "Hi. How are you today?"), ("other", "Not great. I slept badly! Again.")]
    assert units[1].context == ""


def test_sentence_units_on_a_real_fixture_cover_every_turn_in_order():
    session = read_transcript(FIXTURES / "sessions" / "sleep_mi.vtt")
    units = segment(session, "sentence.v1")
    assert len(units) > len(session.turns)
    assert sorted({u.turn_index for u in units}) == list(range(len(session.turns)))
    assert [u.turn_index for u in units] == sorted(u.turn_index for u in units)
    assert [u.utterance_index for u in units] == list(range(len(units)))
    assert all(u.start == session.turns[u.turn_index].start for u in units)


def test_very_long_turn_is_split_in_chunks_without_losing_text():
    text = "I keep going over it. " * (3 * SENTENCIZER_CHUNK_CHARS // 22)
    sentences = split_sentences(text)
    assert len(sentences) == text.count(".")
    assert set(sentences) == {"I keep going over it."}


def test_context_keeps_at_most_three_turns_marked_by_speaker_not_role():
    turns = [Turn(speaker, f"turn {i}.") for i, speaker in enumerate(["A", "B", "A", "B", "B"])]
    units = segment(Session(session_id="s", turns=turns), "turn")
    # unit 4 is B's: turn 0 (A's) is a fourth turn back and is dropped
    assert turns_of(units[4].context) == [("same", "turn 1."), ("other", "turn 2."), ("same", "turn 3.")]


def test_unit_names():
    assert resolve_segmenter("turn") == "turn.v1"
    assert resolve_segmenter("Sentence") == "sentence.v1"
    assert resolve_segmenter("sentence.v1") == "sentence.v1"
    with pytest.raises(UsageError) as caught:
        resolve_segmenter("paragraph")
    assert caught.value.code == "E409" and "sentence, sentence.v1, turn, turn.v1" in str(caught.value)
