"""Contexts: the preceding turns a unit carries, and how each model format renders them."""

from __future__ import annotations

import numpy as np
import pytest

from transcript_coder.contexts import clean_turn, history, last_turn, render, turns_of
from transcript_coder.corpora import _with_context
from transcript_coder.segment import segment
from transcript_coder.types import Session, Turn

STORED = history([(False, "How was the week?"), (True, "Long.\nReally long."), (False, "What made it long?")])


def test_text_format_is_the_last_turns_oldest_first_capped_from_the_start():
    assert render(STORED, 1, 48) == "What made it long?"
    assert render(STORED, 2, 48) == "Long. Really long. What made it long?"
    assert render(STORED, 3, 5) == "long. What made it long?"
    assert render(STORED, 0, 48) == ""


def test_marked_format_is_newest_first_with_relative_marks_capped_at_the_end():
    assert render(STORED, 2, 48, "marked") == "Other: What made it long? Same: Long. Really long."
    # the cap keeps the newest words: the question just asked survives, the oldest turn goes
    assert render(STORED, 3, 9, "marked") == "Other: What made it long? Same: Long. Really long."


def test_an_unmarked_string_is_one_turn_so_older_contexts_render_as_before():
    assert turns_of("So you're tired.") == [(None, "So you're tired.")]
    assert render("So  you're\ntired.", 1, 48) == "So you're tired."
    assert render("So you're tired.", 3, 48, "marked") == "So you're tired."
    assert turns_of("") == [] and last_turn("") == ""


def test_separator_characters_in_a_turn_cannot_forge_turns_or_marks():
    forged = history([(True, "a\x1esame\x1fb"), (False, "  ")])  # the empty turn is skipped
    assert turns_of(forged) == [("same", "a same b")]
    assert clean_turn(" x\x1fy ") == "x y"


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="unknown context format"):
        render(STORED, 1, 10, "tagged")


def test_training_rows_and_coded_units_get_the_same_context():
    """A labelled session read for training and the same session segmented for coding give every
    unit the same stored context, so a model reads at coding time what it was trained on."""
    spoken = [("therapist", "How was the week?"), ("client", "Long."), ("client", "Really long."),
              ("therapist", "What made it long?"), ("client", "   "), ("client", "Work.")]
    rows = [{"session_id": "s", "turn_index": i, "role": role, "text": text} for i, (role, text) in enumerate(spoken)]
    _with_context(rows, 3)
    units = segment(Session(session_id="s", turns=[Turn(role, text) for role, text in spoken]), "turn")
    coded = [r for r in rows if r["text"].strip()]  # a turn without text is no unit, and no context
    assert [r["context"] for r in coded] == [u.context for u in units]
    assert turns_of(rows[5]["context"]) == [("same", "Long."), ("same", "Really long."), ("other", "What made it long?")]


def test_sentence_rows_share_their_turns_context_and_speakers_mark_turns_as_when_coding():
    """Coded-CSV rows of sentence units: the rows of one turn share its context, as segmentation
    gives them, and the turn reaches later rows as one turn. Marks follow the speaker column (two
    speakers with one role are not the same speaker); an unknown speaker is nobody's same."""
    turns = [Turn("Dana", "Hi both. Who starts?"), Turn("Sam", "I will. We argue a lot."),
             Turn("Alex", "We do."), Turn("UNKNOWN", "Okay."), Turn("UNKNOWN", "Go on.")]
    units = segment(Session(session_id="s", turns=turns), "sentence")
    roles = {"Dana": "therapist", "Sam": "client", "Alex": "client", "UNKNOWN": "other"}
    rows = [{"session_id": "s", "turn_index": u.turn_index, "role": roles[u.speaker], "text": u.text,
             "speaker": u.speaker} for u in units]
    _with_context(rows, 1)
    assert [r["context"] for r in rows] == [u.context for u in units]
    assert turns_of(rows[2]["context"]) == turns_of(rows[3]["context"]) == [("other", "Hi both. Who starts?")]
    assert turns_of(units[4].context)[-1] == ("other", "I will. We argue a lot.")  # Alex is not Sam
    assert [m for m, _ in turns_of(units[-1].context)] == ["other", "other", "other"]  # UNKNOWN after UNKNOWN
    assert "speaker" not in rows[0]  # used for the marks, not a dataset column


def test_checkpoint_digests_and_recorded_folds_are_unchanged_by_histories():
    """Folds recorded before histories existed still count as done: the config digest is the same
    (``context_format`` at its default is left out), and a checkpoint's data digest reads the
    contexts as the model does (one turn: its text, as the readers stored it before)."""
    import json

    from transcript_coder.contexts import digest_form
    from transcript_coder.crossval import fold_stamp
    from transcript_coder.train import load_train_config

    from .conftest import ROOT

    config = load_train_config(ROOT / "configs" / "train" / "annomi_joint.yaml")
    for fold in (0, 1):
        recorded = json.loads((ROOT / "benchmarks" / "results" / "cv" / "annomi_joint" / f"fold_{fold}.json").read_text())
        assert fold_stamp(config, 5, fold, ROOT / "runs") == recorded
    assert digest_form(STORED, 1) == "What made it long?"
    assert digest_form(STORED, 2) == "Long.\nReally long. What made it long?"
    assert digest_form(STORED, 1, "marked") != digest_form(STORED, 2, "marked")


def test_the_shipped_models_read_exactly_the_previous_turn_as_before(codebook):
    """Stored contexts now carry up to three marked turns; a ``text`` model trained on one turn
    must still get token for token what it was trained on: the preceding turn's text."""
    from transcript_coder.model import load_model

    from .conftest import ROOT

    model = load_model(ROOT / "models" / "annomi", codebook)
    assert model.info.inputs.context_format == "text" and model.info.inputs.context_turns == 1
    turns = [Turn("T", "What brings you in?"), Turn("C", "My  wife\nsent me."), Turn("T", "She worries.")]
    units = segment(Session(session_id="s", turns=turns), "turn")
    plain = ["", "What brings you in?", "My  wife\nsent me."]
    new, old = model.encode([u.text for u in units], [u.context for u in units]), model.encode(
        [u.text for u in units], plain)
    assert new["input_ids"] == old["input_ids"] and new["token_type_ids"] == old["token_type_ids"]


@pytest.mark.slow
def test_a_marked_context_model_trains_saves_and_reads_its_marks_after_reload(tmp_path, fixtures, codebook):
    from transcript_coder.model import load_model
    from transcript_coder.train import DataConfig, TrainConfig, train

    data = str(fixtures / "training" / "coded_sessions.csv")
    config = TrainConfig(
        name="marked", data=DataConfig(format="coded_csv.v1", path=data, validation_path=data, license="test fixture"),
        schemes=["therapist_behaviour", "client_talk_type"], context_turns=3, context_format="marked",
        context_max_words=40, epochs=1, batch_size=8, threads=2, max_length=96, save_dtype="float32")
    result = train(config, codebook=codebook, output=tmp_path / "marked")
    reloaded = load_model(tmp_path / "marked", codebook)
    assert reloaded.info.inputs.context_format == "marked" and reloaded.info.inputs.context_turns == 3
    assert "newest first" in (tmp_path / "marked" / "README.md").read_text()
    context = history([(True, "I drink most nights."), (False, "How many?")])
    enc = reloaded.encode(["Four or five."], [context])
    shown = reloaded.tokenizer.decode(enc["input_ids"][0], skip_special_tokens=True)
    assert shown == "four or five. other : how many? same : i drink most nights."
    texts, contexts = ["Four or five.", "Why now?"], [context, ""]
    a, b = result.model.predict_proba(texts, contexts), reloaded.predict_proba(texts, contexts)
    for scheme in a:
        np.testing.assert_allclose(a[scheme], b[scheme], atol=1e-5)


def test_rendering_is_idempotent_so_a_rendered_context_can_be_rendered_again():
    for context_format in ("text", "marked"):
        for turns, words in ((1, 48), (3, 5), (2, 64)):
            once = render(STORED, turns, words, context_format)
            assert render(once, turns, words, context_format) == once


def test_keep_heads_enters_the_digest_only_when_training_continues_a_model(tmp_path):
    """``keep_heads`` (added later) changes nothing for a plain encoder base, so recorded folds keep
    their digest; continuing a model folder is a different run with or without its old heads."""
    import json

    from transcript_coder.model import CONFIG_KEY
    from transcript_coder.train import config_digest, load_train_config

    from .conftest import ROOT

    config = load_train_config(ROOT / "configs" / "train" / "annomi_joint.yaml")
    assert config_digest(config) == config_digest(config.model_copy(update={"keep_heads": True}))
    assert config_digest(config) != config_digest(config.model_copy(update={"keep_heads": False}))
    folder = tmp_path / "previous"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({CONFIG_KEY: {}}), encoding="utf-8")
    continued = config.model_copy(update={"base_model": str(folder)})
    digests = {config_digest(continued.model_copy(update={"keep_heads": keep})) for keep in (True, False)}
    assert len(digests) == 2
