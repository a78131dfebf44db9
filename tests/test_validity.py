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
    assert (adherent.n_high, adherent.n_low) == (89, 17) and adherent.auc > 0.8
    assert results["mi_non_adherent"].auc < 0.2  # low-quality sessions persuade and confront more


@pytest.mark.slow
def test_model_codes_score_only_held_out_sessions(tmp_path, codebook):
    """A fold model codes the transcripts of its own validation fold, as ``code`` would, and those
    sessions (never trained on) are what the model's AUC is computed over."""
    import csv

    from transcript_coder.train import DataConfig, TrainConfig, load_splits, train
    from transcript_coder.validity import held_out_sessions, model_validity

    from .test_relational_head import ANNOMI_COLUMNS

    therapist = [("What brings you here today?", "question", "open"), ("You feel stuck.", "reflection", "simple"),
                 ("Do you drink every day?", "question", "closed")]
    client = [("I want to cut down.", "change"), ("I like drinking, it relaxes me.", "sustain")]
    data = tmp_path / "annomi.csv"
    with data.open("w", encoding="utf-8", newline="") as handle:
        rows = csv.writer(handle)
        rows.writerow(ANNOMI_COLUMNS)
        for transcript in range(1, 7):
            quality, uid = ("high" if transcript <= 3 else "low"), 0
            for (text, behaviour, subtype), (reply, talk) in zip(therapist * 2, client * 3):
                rows.writerow([quality, transcript, "demo", f"https://video.example/{transcript}", "alcohol", uid,
                               "therapist", "", text, "1", "False", "n/a", str(behaviour == "reflection"),
                               subtype if behaviour == "reflection" else "n/a", str(behaviour == "question"),
                               subtype if behaviour == "question" else "n/a", behaviour, "n/a"])
                rows.writerow([quality, transcript, "demo", f"https://video.example/{transcript}", "alcohol", uid + 1,
                               "client", "", reply, "1", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a", talk])
                uid += 2
    config = TrainConfig(name="fold", data=DataConfig(format="annomi.v1", path=str(data), folds=3, fold=1),
                         schemes=["therapist_behaviour", "question_type", "reflection_type", "client_talk_type"],
                         epochs=1, batch_size=8, eval_every=1, warmup_ratio=0.0, save_dtype="float32", threads=1,
                         max_length=32, checkpoint_every=None)
    train(config, codebook=codebook, output=tmp_path / "fold_1")
    held_out = set(load_splits(config, codebook).validation["session_id"])
    sessions = held_out_sessions([tmp_path / "fold_1"], codebook, annomi=data)
    assert set(sessions) == held_out and 0 < len(held_out) < 6
    for session, (quality, units) in sessions.items():
        assert quality == ("high" if int(session.split("-")[1]) <= 3 else "low")
        assert len(units) == 12
        for unit in units:
            wanted = "therapist_behaviour" if unit.utterance.role == "therapist" else "client_talk_type"
            assert wanted in unit.codes
    results = {r.score: r for r in model_validity([tmp_path / "fold_1"], codebook, annomi=data)}
    assert results["pct_change_talk"].n_high + results["pct_change_talk"].n_low == len(held_out)
    assert results["mi_adherent"].n_high + results["mi_adherent"].n_low == 0  # no mi_relational head: no score
