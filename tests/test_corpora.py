"""Training-data readers on fixtures we wrote in each layout."""

from __future__ import annotations

import pytest

from transcript_coder.contexts import last_turn, turns_of
from transcript_coder.corpora import read_annomi, read_coded_csv, read_corpus, read_goemotions
from transcript_coder.errors import DataError
from transcript_coder.train import split_by_group


def test_annomi_layout(codebook, fixtures):
    data = read_annomi(fixtures / "training" / "annomi_layout.csv", codebook)
    assert len(data) == 8
    # sorted by transcript id, then utterance id
    assert data["session_id"][:3] == ["annomi-3", "annomi-3", "annomi-3"]
    first_7 = data["session_id"].index("annomi-7")
    row = data[first_7 + 2]
    assert row["therapist_behaviour"] == ["reflection"]
    assert row["reflection_type"] == ["complex"]
    # a question marked present inside a reflection still trains the question-type head
    assert row["question_type"] == ["closed"]
    assert row["client_talk_type"] == []
    # every turn a model may read, marked: here the therapist's question, then the client's answer
    assert turns_of(row["context"]) == [("same", "How have the last few weeks been for you?"),
                                        ("other", "Busy, and I keep having a drink to unwind.")]
    assert row["speaker_role"] == ["therapist"]
    assert data[first_7]["context"] == ""
    assert data[first_7 + 3]["client_talk_type"] == ["change"]
    assert data[0]["therapist_input_type"] == ["advice"]
    # groups are videos: transcripts 3 and 12 share one
    assert data["group"].count("https://video.example/b") == 4


def test_annomi_missing_columns(codebook, tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("transcript_id,utterance_text\n1,hello\n")
    with pytest.raises(DataError) as err:
        read_annomi(path, codebook)
    assert err.value.code == "E301" and "video_url" in str(err.value) and str(path) in str(err.value)


def test_goemotions_layout(codebook, fixtures):
    data = read_goemotions(fixtures / "training" / "goemotions_layout.tsv", codebook)
    assert len(data) == 8
    assert data[2]["client_emotion"] == ["fear"]            # fear + nervousness -> one Ekman group
    assert data[2]["client_emotion_fine"] == ["fear", "nervousness"]
    assert data[3]["client_emotion"] == ["joy"]
    assert data[4]["text"] == 'She said "it\'s fine" but I miss him every day.'   # quotes kept as written
    assert data[7]["client_emotion"] == ["sadness", "surprise"]
    assert set(data["role"]) == {"client"}


def test_goemotions_bad_line(codebook, fixtures, tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("fine text\t27\tid1\nbroken line without tabs\n")
    for name in ("emotions.txt", "ekman_mapping.json"):
        (tmp_path / name).write_bytes((fixtures / "training" / name).read_bytes())
    with pytest.raises(DataError) as err:
        read_goemotions(path, codebook)
    assert err.value.code == "E304" and "line 2" in str(err.value)


def test_coded_csv_layout(codebook, fixtures):
    data = read_coded_csv(fixtures / "training" / "coded_sessions.csv", codebook)
    assert len(data) == 16
    assert set(data.column_names) >= {"therapist_behaviour", "question_type", "client_talk_type"}
    row = data[2]
    assert row["therapist_behaviour"] == ["reflection"] and row["reflection_type"] == ["simple"]
    assert last_turn(row["context"]) == "My doctor said I should cut down on beer."
    assert row["speaker_role"] == ["therapist"] and data[1]["speaker_role"] == ["client"]
    assert data[8]["context"] == ""                      # first turn of s02
    assert data["group"].count("s02") == 8


def test_coded_csv_unknown_code_names_row_and_column(codebook, tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("session_id,turn_index,role,text,therapist_behaviour\n"
                    "a,0,therapist,Hi there.,other\na,1,therapist,So you feel stuck.,reflektion\n")
    with pytest.raises(DataError) as err:
        read_coded_csv(path, codebook)
    assert err.value.code == "E302"
    assert "row 3" in str(err.value) and "reflektion" in str(err.value) and "therapist_behaviour" in str(err.value)


def test_coded_csv_unknown_role(codebook, tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("session_id,turn_index,role,text\na,0,coach,Hi.\n")
    with pytest.raises(DataError) as err:
        read_coded_csv(path, codebook)
    assert err.value.code == "E306" and "coach" in str(err.value)


def test_unknown_format(codebook, fixtures):
    with pytest.raises(DataError) as err:
        read_corpus("excel.v9", fixtures / "training" / "coded_sessions.csv", codebook)
    assert err.value.code == "E307"


def test_group_split_keeps_groups_apart(codebook, fixtures):
    data = read_coded_csv(fixtures / "training" / "coded_sessions.csv", codebook)
    train, valid = split_by_group(data, 0.3, seed=1)
    assert set(train["group"]).isdisjoint(valid["group"])
    assert len(train) + len(valid) == len(data) and len(valid) > 0
    again = split_by_group(data, 0.3, seed=1)
    assert again[1]["text"] == valid["text"]


@pytest.mark.shared_data
def test_annomi_shared_data_counts(codebook, shared_data):
    data = read_annomi(shared_data / "annomi" / "annomi_full_dev.csv", codebook)
    assert len(data) == 8250
    behaviours = [c[0] for c in data["therapist_behaviour"] if c]
    assert len(behaviours) == 4152 and behaviours.count("other") == 1383
    talk = [c[0] for c in data["client_talk_type"] if c]
    assert len(talk) == 4098 and talk.count("sustain") == 458
    train, valid = split_by_group(data, 0.2, seed=13)
    assert set(train["group"]).isdisjoint(valid["group"])
    assert 0.18 < len(valid) / len(data) < 0.25


def test_training_config_rejects_unknown_keys(tmp_path):
    from transcript_coder.errors import ConfigError
    from transcript_coder.train import load_train_config

    from .conftest import ROOT

    path = tmp_path / "t.yaml"
    path.write_text((ROOT / "configs" / "train" / "annomi.yaml").read_text().replace("batch_size:", "batchsize:"))
    with pytest.raises(ConfigError) as err:
        load_train_config(path)
    assert err.value.code == "E002" and "batchsize" in str(err.value) and str(path) in str(err.value)
    config = load_train_config(ROOT / "configs" / "train" / "annomi.yaml", {"epochs": 1, "data.validation_fraction": 0.3})
    assert config.epochs == 1 and config.data.validation_fraction == 0.3
