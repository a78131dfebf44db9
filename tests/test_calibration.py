"""Calibrated confidence: temperature scaling recovers a known over-confidence, ECE is computed as
defined, the selective-review curve counts errors, and a trained model stores and applies its
temperatures (codes unchanged, confidences calibrated)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from transcript_coder.calibration import (calibrate_multi_label, calibrate_single_label, expected_calibration_error,
                                          fit_temperature, group_halves, rescale, selective_review)


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_temperature_recovers_a_known_overconfidence():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(4000, 4))
    truth = _softmax(logits / 2.0)  # the world is twice as uncertain as the model says
    targets = np.array([rng.choice(4, p=p) for p in truth])
    t = fit_temperature(_softmax(logits), targets)
    assert 1.8 < t < 2.2
    cal = calibrate_single_label(_softmax(logits), targets)
    assert cal.ece_after < cal.ece_before / 2
    # temperature never changes the top code
    assert (rescale(_softmax(logits), t).argmax(1) == _softmax(logits).argmax(1)).all()


def test_a_calibrated_model_keeps_temperature_near_one():
    rng = np.random.default_rng(1)
    probs = _softmax(rng.normal(0, 2, size=(4000, 3)))
    targets = np.array([rng.choice(3, p=p) for p in probs])
    assert 0.9 < fit_temperature(probs, targets) < 1.1


def test_group_halves_keep_groups_whole_whatever_the_row_order():
    groups = ["v3", "v1", "v2", "v1", "v4", "v3"]
    half = group_halves(groups)
    assert list(half) == [0, 0, 1, 0, 1, 0]  # sorted v1 v2 v3 v4 dealt 0 1 0 1
    assert list(group_halves(groups[::-1])) == list(half[::-1])


def test_cross_fitted_ece_uses_the_other_halfs_temperature():
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 3, size=(3000, 4))
    targets = np.array([rng.choice(4, p=p) for p in _softmax(logits / 2.0)])
    probs, groups = _softmax(logits), [f"s{i % 30}" for i in range(3000)]
    cal = calibrate_single_label(probs, targets, groups)
    half = group_halves(groups)
    crossed = np.empty_like(probs)
    for h in (0, 1):
        crossed[half == h] = rescale(probs[half == h], fit_temperature(probs[half != h], targets[half != h]))
    correct = probs.argmax(1) == targets
    assert cal.ece_cross_fitted == pytest.approx(expected_calibration_error(crossed.max(1), correct))
    # one overconfidence everywhere: the other half's temperature fixes it almost as well
    assert cal.ece_cross_fitted < cal.ece_before / 2 and abs(cal.ece_cross_fitted - cal.ece_after) < 0.02
    assert calibrate_single_label(probs, targets).ece_cross_fitted is None  # no groups, no cross-fitting
    assert "ece_cross_fitted" in cal.to_json() and "ece_cross_fitted" not in calibrate_single_label(probs, targets).to_json()


def test_cross_fitting_exposes_a_temperature_that_only_fits_its_own_data():
    """Half the sessions are overconfident, half underconfident: one temperature fitted on all of
    them looks fine on them, but each half scaled by the other half's temperature is worse."""
    rng = np.random.default_rng(4)
    logits = rng.normal(0, 2, size=(4000, 1))
    groups = np.array(["a", "b"])[np.arange(4000) % 2]
    truth = 1 / (1 + np.exp(-np.where(groups[:, None] == "a", logits / 3, logits * 3)))
    targets = (rng.random((4000, 1)) < truth).astype(float)
    probs = 1 / (1 + np.exp(-logits))
    cal = calibrate_multi_label(probs, targets, [0.5], list(groups))
    assert cal.ece_cross_fitted > cal.ece_after + 0.05


def test_ece_by_hand():
    # two bins used: 0.9-confident units right 1 of 2 times (gap 0.4); 0.6-confident right 2 of 2 (gap 0.4)
    confidence = np.array([0.9, 0.9, 0.6, 0.6])
    correct = np.array([1, 0, 1, 1])
    assert expected_calibration_error(confidence, correct, bins=10) == pytest.approx(0.4)
    assert expected_calibration_error(np.array([0.8] * 5), np.array([1, 1, 1, 1, 0])) == pytest.approx(0.0)


def test_selective_review_counts_the_errors_in_the_least_confident_share():
    confidence = np.array([0.1, 0.2, 0.3, 0.9, 0.95, 0.99, 0.5, 0.6, 0.7, 0.8])
    correct = np.array([0, 1, 0, 1, 1, 0, 1, 1, 1, 1], bool)
    rows = {r["reviewed"]: r for r in selective_review(confidence, correct, shares=(0.2, 0.3, 1.0))}
    assert rows[0.2]["errors_caught"] == 1 and rows[0.2]["share_of_errors"] == pytest.approx(1 / 3, abs=1e-4)
    assert rows[0.3]["errors_caught"] == 2
    assert rows[1.0]["share_of_errors"] == 1.0


@pytest.mark.slow
def test_training_calibrates_every_head_and_prediction_uses_it(tmp_path, fixtures, codebook):
    from transcript_coder.model import load_model
    from transcript_coder.train import DataConfig, TrainConfig, train

    data = str(fixtures / "training" / "coded_sessions.csv")
    config = TrainConfig(name="calibrated", data=DataConfig(format="coded_csv.v1", path=data, validation_path=data),
                         schemes=["therapist_behaviour", "client_talk_type"], epochs=4, batch_size=4, eval_every=1.0,
                         learning_rate=2e-4, head_learning_rate=5e-3, save_dtype="float32", threads=1, max_length=48)
    result = train(config, codebook=codebook, output=tmp_path / "m")
    calibration = result.metrics["calibration"]
    assert set(calibration) == {"therapist_behaviour", "client_talk_type"}
    model = load_model(tmp_path / "m", codebook)
    t = model.head("therapist_behaviour").temperature
    assert t == calibration["therapist_behaviour"]["temperature"] and t != 1.0
    saved = json.loads((tmp_path / "m" / "config.json").read_text())["transcript_coder"]["heads"]
    assert {h["scheme"]: h["temperature"] for h in saved}["therapist_behaviour"] == t
    card = (tmp_path / "m" / "README.md").read_text()
    assert "## Calibration" in card and "ECE before" in card and "Selective review" in card
    assert "ECE cross-fitted" in card and 0 <= calibration["client_talk_type"]["ece_cross_fitted"] <= 1
    # the stored temperature is what prediction applies: softmax(head logits / T), not softmax(logits)
    import torch

    texts = ["What brings you in today?", "So you want to cut down."]
    calibrated = model.predict_proba(texts, schemes=["therapist_behaviour"])["therapist_behaviour"]
    pooled = torch.from_numpy(model.run_encoder(model.encode(texts, [""] * len(texts))))
    with torch.inference_mode():
        logits = model.module.head_logits("therapist_behaviour", pooled).float()
    np.testing.assert_allclose(calibrated, (logits / t).softmax(-1).numpy(), atol=1e-5)
    assert not np.allclose(calibrated, logits.softmax(-1).numpy(), atol=1e-3)
    # `transcript-coder calibrate` on the calibrated model fits afresh from temperature 1: the same
    # temperature again (not a second factor near 1 on top), codes and weights untouched
    from transcript_coder.train import calibrate_saved_model

    again = calibrate_saved_model(tmp_path / "m", config, codebook=codebook)
    assert again["therapist_behaviour"]["temperature"] == pytest.approx(t, rel=1e-3)
    assert again["therapist_behaviour"]["ece_before"] == pytest.approx(calibration["therapist_behaviour"]["ece_before"], abs=1e-3)
    recalibrated = load_model(tmp_path / "m", codebook).predict_proba(texts, schemes=["therapist_behaviour"])
    np.testing.assert_allclose(recalibrated["therapist_behaviour"], calibrated, atol=1e-3)


def test_icc_2_1_matches_shrout_and_fleiss():
    from transcript_coder.metrics import icc_2_1

    # Shrout & Fleiss (1979), Table 2: 6 targets x 4 judges; ICC(2,1) = 0.29
    ratings = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])
    assert icc_2_1(ratings) == pytest.approx(0.29, abs=0.005)
    identical = np.array([[1.0, 1.0], [2.0, 2.0], [5.0, 5.0]])
    assert icc_2_1(identical) == pytest.approx(1.0)


def test_a_multi_label_heads_thresholds_go_back_to_temperature_one():
    from transcript_coder.model import HeadSpec
    from transcript_coder.train import _moved, _uncalibrated

    raw = (0.3, 0.7, 0.95)
    head = HeadSpec(scheme="client_emotion", labels=("a", "b", "c"), problem="multi_label",
                    thresholds=_moved(raw, 2.5), temperature=2.5)
    # the same decisions on both scales: p >= th at T = 1 exactly when the scaled p >= moved th
    p = np.array([0.29, 0.31, 0.69, 0.71, 0.94, 0.96])
    scaled = rescale(p[:, None], 2.5, multi_label=True)[:, 0]
    assert list(p >= np.repeat(raw, 2)) == list(scaled >= np.repeat(head.thresholds, 2))
    back = _uncalibrated(head)
    assert back.temperature == 1.0 and back.thresholds == pytest.approx(raw, abs=1e-5)
