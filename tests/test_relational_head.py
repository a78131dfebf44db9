"""The multi-label ``mi_relational`` head, trained as the other AnnoMI heads are: the team's labels
join AnnoMI rows by transcript and utterance id, a turn annotated with no code is a negative (not
unlabelled), and a tiny model overfits a handful of relational turns, saves, reloads and predicts
the same."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from transcript_coder.corpora import NO_CODE, read_corpus
from transcript_coder.model import load_model
from transcript_coder.train import DataConfig, TrainConfig, train

# (therapist turn, its relational codes); every other line of the transcript is a client turn.
TURNS = [
    ("Would it be okay if I shared what some people find helpful?", "seek_collaboration"),
    ("It took real courage to come in and talk about this today.", "affirm"),
    ("How many nights a week do you usually drink?", ""),
    ("You need to stop drinking right now or you will lose your job.", "persuade"),
    ("It is completely up to you what you decide to do next.", "emphasize_autonomy"),
    ("That is just an excuse and you know it.", "confront"),
    ("What time do you usually get home from work?", ""),
    ("You have worked hard to keep your family together.", "affirm"),
    ("Since you asked, two drinks a night is safer, but whatever you choose is your call.",
     "emphasize_autonomy;persuade_with_permission"),
]
ANNOMI_COLUMNS = ["mi_quality", "transcript_id", "video_title", "video_url", "topic", "utterance_id", "interlocutor",
                  "timestamp", "utterance_text", "annotator_id", "therapist_input_exists", "therapist_input_subtype",
                  "reflection_exists", "reflection_subtype", "question_exists", "question_subtype",
                  "main_therapist_behaviour", "client_talk_type"]


def _write(tmp_path):
    data = tmp_path / "annomi.csv"
    labels = tmp_path / "annotations" / "mi_relational"
    labels.mkdir(parents=True)
    with data.open("w", encoding="utf-8", newline="") as handle, \
            (labels / "pass1_part_a.csv").open("w", encoding="utf-8", newline="") as out:
        rows = csv.writer(handle)
        rows.writerow(ANNOMI_COLUMNS)
        coded = csv.writer(out)
        coded.writerow(["transcript_id", "utterance_id", "codes", "annotator"])
        for transcript in ("1", "2", "3"):
            for k, (text, codes) in enumerate(TURNS):
                rows.writerow(["high", transcript, "demo", f"https://video.example/{transcript}", "alcohol", 2 * k,
                               "therapist", "", text, "1", "False", "n/a", "False", "n/a", "False", "n/a", "other", "n/a"])
                rows.writerow(["high", transcript, "demo", f"https://video.example/{transcript}", "alcohol", 2 * k + 1,
                               "client", "", "Okay.", "1", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a", "neutral"])
                if transcript != "3":  # transcript 3 is not annotated: its turns stay unlabelled
                    coded.writerow([transcript, 2 * k, codes, "test"])
    (labels / "pass1_part_b.csv").write_text("transcript_id,utterance_id,codes,annotator\n", encoding="utf-8")
    # an independent second pass over transcript 1 that agrees except on one turn
    second = [f"1,{2 * k},{'' if k == 1 else codes},second" for k, (_, codes) in enumerate(TURNS)]
    (labels / "pass2.csv").write_text("transcript_id,utterance_id,codes,annotator\n" + "\n".join(second) + "\n",
                                      encoding="utf-8")
    return data, tmp_path / "annotations"


def test_team_labels_join_annomi_rows_and_mark_annotated_turns_without_codes(tmp_path, codebook):
    data, annotations = _write(tmp_path)
    rows = read_corpus("annomi.v1", data, codebook, team_labels=["mi_relational"], team_labels_dir=annotations)
    by_key = {(s, t): c for s, t, c in zip(rows["session_id"], rows["turn_index"], rows["mi_relational"])}
    assert by_key[("annomi-1", 0)] == ["seek_collaboration"]
    assert by_key[("annomi-1", 4)] == [NO_CODE]  # annotated, no code: a negative
    assert by_key[("annomi-3", 0)] == []  # not annotated: unlabelled
    assert by_key[("annomi-1", 1)] == []  # client turns carry no therapist scheme


def test_later_annotation_rounds_join_only_when_a_config_names_them(tmp_path, codebook):
    from transcript_coder.errors import DataError

    data, annotations = _write(tmp_path)
    folder = annotations / "mi_relational"
    # round 2 codes transcript 3, which round 1 left unlabelled
    (folder / "pass1_part_c.csv").write_text("transcript_id,utterance_id,codes,annotator\n3,0,affirm,c\n3,2,,c\n",
                                             encoding="utf-8")

    def labels(**options):
        rows = read_corpus("annomi.v1", data, codebook, team_labels=["mi_relational"], team_labels_dir=annotations,
                           **options)
        return {(s, t): c for s, t, c in zip(rows["session_id"], rows["turn_index"], rows["mi_relational"])}

    with pytest.raises(DataError) as missing:  # round 2's second file is not there yet
        labels(team_label_rounds=[1, 2])
    assert missing.value.code == "E523" and "pass1_part_d.csv" in str(missing.value)
    (folder / "pass1_part_d.csv").write_text("transcript_id,utterance_id,codes,annotator\n", encoding="utf-8")
    assert labels()[("annomi-3", 0)] == []  # default: round 1 only, what recorded folds trained on
    both = labels(team_label_rounds=[1, 2])
    assert both[("annomi-3", 0)] == ["affirm"] and both[("annomi-3", 2)] == [NO_CODE]
    assert both[("annomi-1", 0)] == ["seek_collaboration"]
    assert labels(team_label_rounds=2)[("annomi-1", 0)] == []  # a bare number is one round
    with pytest.raises(DataError) as unknown:
        labels(team_label_rounds=[1, 3])
    assert unknown.value.code == "E524" and "[1, 2]" in str(unknown.value)


@pytest.mark.slow
def test_multi_label_relational_head_overfits_saves_and_reloads(tmp_path, codebook):
    data, annotations = _write(tmp_path)
    options = {"team_labels": ["mi_relational"], "team_labels_dir": str(annotations)}
    config = TrainConfig(
        name="relational", data=DataConfig(format="annomi.v1", path=str(data), validation_path=str(data), options=options),
        schemes=["mi_relational"], multi_label=["mi_relational"], epochs=30, batch_size=4, eval_every=10,
        patience=10, learning_rate=2e-4, head_learning_rate=1e-2, warmup_ratio=0.0, class_weighting="none",
        save_dtype="float32", threads=1, max_length=48, checkpoint_every=None)
    result = train(config, codebook=codebook, output=tmp_path / "m")
    # only the 18 annotated therapist turns train (not transcript 3's, not the client turns)
    assert result.metrics["sizes"]["train"] == 18
    assert result.metrics["validation"]["mi_relational"]["macro_f1"] >= 0.9
    model = load_model(tmp_path / "m", codebook)
    head = model.head("mi_relational")
    assert head.problem == "multi_label" and len(head.thresholds) == len(head.labels) == 6
    texts = [t for t, _ in TURNS]
    probs = model.predict_proba(texts, schemes=["mi_relational"])["mi_relational"]
    np.testing.assert_allclose(probs, result.model.predict_proba(texts, schemes=["mi_relational"])["mi_relational"],
                               atol=1e-5)
    card = (tmp_path / "m" / "README.md").read_text(encoding="utf-8")
    assert "## `mi_relational`: model against the annotators" in card
    assert "pass 1 of `mi_relational` (annotation round 1)" in card and "over 9 units both coded" in card
    decided = probs >= np.asarray(head.thresholds)
    for (text, codes), row in zip(TURNS, decided):
        predicted = {head.labels[j] for j in np.flatnonzero(row)}
        assert predicted == (set(codes.split(";")) if codes else set()), text


@pytest.mark.slow
def test_heads_trained_over_a_frozen_encoder_join_the_model_unchanged(tmp_path, codebook, fixtures):
    from transcript_coder.errors import ModelError
    from transcript_coder.model import add_heads

    sessions = str(fixtures / "training" / "coded_sessions.csv")
    common = dict(epochs=3, batch_size=4, eval_every=10, warmup_ratio=0.0, class_weighting="none",
                  save_dtype="float16", threads=1, max_length=48, checkpoint_every=None)
    base = train(TrainConfig(name="base", data=DataConfig(format="coded_csv.v1", path=sessions, validation_path=sessions),
                             schemes=["therapist_behaviour"], **common), codebook=codebook, output=tmp_path / "base")
    data, annotations = _write(tmp_path)
    options = {"team_labels": ["mi_relational"], "team_labels_dir": str(annotations)}
    relational = DataConfig(format="annomi.v1", path=str(data), validation_path=str(data), options=options)
    donor = train(TrainConfig(name="donor", base_model=str(tmp_path / "base"), data=relational, schemes=["mi_relational"],
                              multi_label=["mi_relational"], freeze_layers=6, head_learning_rate=1e-2, **common),
                  codebook=codebook, output=tmp_path / "donor")
    texts = [t for t, _ in TURNS]
    before = base.model.predict_proba(texts, schemes=["therapist_behaviour"])["therapist_behaviour"]
    assert add_heads(tmp_path / "base", tmp_path / "donor", codebook) == ["mi_relational"]
    merged = load_model(tmp_path / "base", codebook)
    assert merged.schemes == ["therapist_behaviour", "mi_relational"]
    # The donor's card and scores travel with its head.
    card = (tmp_path / "base" / "README.md").read_text(encoding="utf-8")
    assert card.startswith("# base") and "## Added heads: `mi_relational`" in card and "\n### Calibration" in card
    metrics = json.loads((tmp_path / "base" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["added_heads"]["mi_relational"]["validation"]["per_code"]["affirm"]["support"] > 0
    assert "therapist_behaviour" in metrics["validation"]
    after = merged.predict_proba(texts, schemes=["therapist_behaviour", "mi_relational"])
    np.testing.assert_array_equal(after["therapist_behaviour"], before)  # the old head, bit for bit
    np.testing.assert_allclose(after["mi_relational"],
                               donor.model.predict_proba(texts, schemes=["mi_relational"])["mi_relational"], atol=1e-6)
    # a second time: the scheme is already there
    with pytest.raises(ModelError) as err:
        add_heads(tmp_path / "base", tmp_path / "donor", codebook)
    assert err.value.code == "E209" and "already" in str(err.value)
    # a donor whose encoder was fine-tuned is refused
    moved = train(TrainConfig(name="moved", base_model=str(tmp_path / "donor"), data=relational,
                              schemes=["client_talk_type"], **common), codebook=codebook, output=tmp_path / "moved")
    assert moved.model is not None
    with pytest.raises(ModelError) as err:
        add_heads(tmp_path / "donor", tmp_path / "moved", codebook)
    assert err.value.code == "E209" and "bit for bit" in str(err.value)
