"""The canonical model test: a tiny model overfits a dozen coded turns, is saved, reloaded and
predicts the same; batched prediction equals one-by-one prediction; mismatched labels fail."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from transcript_coder.codebook import load_codebook
from transcript_coder.errors import ModelError
from transcript_coder.evaluate import evaluate
from transcript_coder.model import load_model
from transcript_coder.progress import RecordingHook
from transcript_coder.runtime import has_bf16_matrix_units
from transcript_coder.train import DataConfig, TrainConfig, train

from .conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, fixtures, codebook):
    data = str(fixtures / "training" / "coded_sessions.csv")
    config = TrainConfig(
        name="tiny", data=DataConfig(format="coded_csv.v1", path=data, validation_path=data, license="test fixture"),
        schemes=["therapist_behaviour", "question_type", "client_talk_type"],
        epochs=30, batch_size=4, eval_every=10, patience=5, learning_rate=2e-4, head_learning_rate=5e-3,
        warmup_ratio=0.0, class_weighting="none", save_dtype="float32", threads=2, max_length=64,
    )
    hook = RecordingHook()
    out = tmp_path_factory.mktemp("model") / "tiny"
    result = train(config, codebook=codebook, output=out, hook=hook)
    return result, hook, out


def test_overfits_a_dozen_turns(tiny):
    result, hook, _ = tiny
    assert result.metrics["validation"]["therapist_behaviour"]["macro_f1"] == 1.0
    assert result.metrics["validation"]["client_talk_type"]["macro_f1"] == 1.0
    losses = [e[3]["loss"] for e in hook.events if e[0] == "advance"]
    assert losses[-1] < losses[0] / 3
    assert ("start", "train", result.metrics["steps"]) in hook.events


def test_saved_folder_is_a_standard_hf_model(tiny):
    _, _, out = tiny
    for name in ("config.json", "model.safetensors", "tokenizer.json", "metrics.json", "README.md"):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {"0": "question", "1": "reflection", "2": "therapist_input", "3": "other"}
    heads = {h["scheme"]: h["labels"] for h in config["transcript_coder"]["heads"]}
    assert heads["client_talk_type"] == ["change", "neutral", "sustain"]
    card = (out / "README.md").read_text()
    assert "macro-F1" in card and "Confusion matrix" in card and "test fixture" in card
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["validation"]["therapist_behaviour"]["per_code"]) == {"question", "reflection", "therapist_input", "other"}
    # the encoder part loads with plain transformers
    from transformers import AutoModel
    assert AutoModel.from_pretrained(str(out)).config.hidden_size == 384


def test_reload_predicts_identically(tiny, codebook, fixtures):
    result, _, out = tiny
    texts = ["What would you like to talk about?", "You feel torn about it.", "I will try the patch.", "Okay."]
    contexts = ["", "client: I want to but I also like it.", "therapist: What next?", ""]
    before = result.model.predict_proba(texts, contexts)
    reloaded = load_model(out, codebook)
    after = reloaded.predict_proba(texts, contexts)
    for scheme in before:
        np.testing.assert_allclose(before[scheme], after[scheme], atol=1e-5)


def test_batched_equals_one_by_one(tiny):
    result, _, _ = tiny
    model = result.model
    texts = ["Hi.", "How many evenings a week do you usually drink, would you say, on average?",
             "So sleep matters to you.", "No.", "I guess I could cut down a bit on weekdays if work allows."]
    contexts = ["", "client: I drink a bit.", "client: I want to sleep better.", "", "therapist: What could you do?"]
    batched = model.predict_proba(texts, contexts, batch_size=8)
    single = [model.predict_proba([t], [c]) for t, c in zip(texts, contexts)]
    for scheme, probs in batched.items():
        np.testing.assert_allclose(probs, np.vstack([s[scheme] for s in single]), atol=1e-5)
        np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)


def test_fp16_copy_gives_the_same_codes(tiny, tmp_path, codebook):
    result, _, _ = tiny
    result.model.save(tmp_path / "half", dtype="float16")
    half = load_model(tmp_path / "half", codebook)
    texts = ["Do you smoke?", "You are worried about your lungs.", "I like my evening smoke."]
    a, b = result.model.predict_proba(texts), half.predict_proba(texts)
    for scheme in a:
        assert (a[scheme].argmax(1) == b[scheme].argmax(1)).all()
        np.testing.assert_allclose(a[scheme], b[scheme], atol=5e-3)


def test_evaluate_on_a_labelled_file(tiny, fixtures, tmp_path):
    _, _, out = tiny
    report = evaluate(out, fixtures / "training" / "coded_sessions.csv", json_path=tmp_path / "r.json")
    assert report.reports["therapist_behaviour"].macro_f1 == 1.0
    assert report.reports["therapist_behaviour"].kappa == pytest.approx(1.0)
    assert "confusion" in report.table()
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["schemes"]["client_talk_type"]["n"] == 8


def test_labels_disagreeing_with_codebook_fail_clearly(tiny, tmp_path):
    _, _, out = tiny
    folder = tmp_path / "codebooks"
    shutil.copytree(ROOT / "configs" / "codebooks", folder)
    path = folder / "client_talk_type.yaml"
    text = path.read_text()
    path.write_text(text[: text.index("  - id: sustain")])
    with pytest.raises(ModelError) as err:
        load_model(out, load_codebook(folder))
    assert err.value.code == "E202"
    assert "client_talk_type" in str(err.value) and "sustain" in str(err.value) and str(out) in str(err.value)


def test_not_a_model_folder(tmp_path, codebook):
    with pytest.raises(ModelError) as err:
        load_model(tmp_path, codebook)
    assert err.value.code == "E201" and "model.safetensors" in str(err.value)


def test_multi_label_head_learns_thresholds(tmp_path, fixtures, codebook):
    data = str(fixtures / "training" / "goemotions_layout.tsv")
    config = TrainConfig(
        name="tiny-emotion", data=DataConfig(format="goemotions.v1", path=data, validation_path=data),
        schemes=["client_emotion"], multi_label=["client_emotion"], context_turns=0, epochs=40, batch_size=4,
        eval_every=20, learning_rate=2e-4, head_learning_rate=1e-2, warmup_ratio=0.0, class_weighting="none",
        save_dtype="float32", threads=2, max_length=48)
    result = train(config, codebook=codebook, output=tmp_path / "emo")
    head = load_model(tmp_path / "emo", codebook).head("client_emotion")
    assert head.problem == "multi_label" and len(head.thresholds) == 7
    assert result.metrics["validation"]["client_emotion"]["macro_f1"] >= 0.9
    probs = result.model.predict_proba(["I'm scared the test results will be bad."])["client_emotion"][0]
    assert head.labels[int(probs.argmax())] == "fear"


def test_a_trained_model_folder_is_a_base_to_continue_from(tiny):
    """``--base-model models/annomi`` continues from the fine-tuned encoder, not a random one."""
    from transcript_coder.model import build_encoder

    result, _, out = tiny
    encoder, tokenizer = build_encoder(str(out))
    trained = result.model.module.encoder.state_dict()
    for key, value in encoder.state_dict().items():
        np.testing.assert_allclose(value.numpy(), trained[key].numpy(), atol=1e-6, err_msg=key)
    assert tokenizer("hello")["input_ids"] == result.model.tokenizer("hello")["input_ids"]


def test_continuing_a_model_keeps_its_heads(tiny, tmp_path, fixtures, codebook):
    """A head whose scheme and codes are unchanged starts from the base model's trained head; a
    new scheme's head, or ``keep_heads: false``, starts fresh."""
    import torch

    from transcript_coder.model import HeadSpec, MultiHeadClassifier, base_folder_model, carry_heads

    result, _, out = tiny
    previous = base_folder_model(str(out))
    specs = [HeadSpec(scheme=s, labels=tuple(codebook[s].code_ids)) for s in ("therapist_behaviour", "reflection_type")]
    fresh = MultiHeadClassifier(previous.module.encoder, specs)
    assert carry_heads(fresh, specs, previous) == ["therapist_behaviour"]
    pooled = torch.randn(3, previous.module.encoder.config.hidden_size)
    torch.testing.assert_close(fresh.head_logits("therapist_behaviour", pooled),
                               previous.module.head_logits("therapist_behaviour", pooled))
    # Two steps at a learning rate too small to learn anything: only a carried head still codes
    # the dozen turns perfectly.
    sessions = str(fixtures / "training" / "coded_sessions.csv")
    data = DataConfig(format="coded_csv.v1", path=sessions, validation_path=sessions)
    base = dict(name="tiny-continued", base_model=str(out), data=data, schemes=["therapist_behaviour"],
                epochs=1, batch_size=8, eval_every=1, learning_rate=1e-9, head_learning_rate=1e-9,
                warmup_ratio=0.0, class_weighting="none", save_dtype="float32", threads=2, max_length=64)
    kept = train(TrainConfig(**base), codebook=codebook, output=tmp_path / "kept")
    assert kept.metrics["heads_from_base"] == ["therapist_behaviour"]
    assert kept.metrics["validation"]["therapist_behaviour"]["macro_f1"] == 1.0
    fresh_run = train(TrainConfig(**base, keep_heads=False), codebook=codebook, output=tmp_path / "fresh")
    assert fresh_run.metrics["heads_from_base"] == []
    assert fresh_run.metrics["validation"]["therapist_behaviour"]["macro_f1"] < 1.0


# ------------------------------------------------------------------ a joint, embedding-context model
@pytest.fixture(scope="module")
def joint(tmp_path_factory, fixtures, codebook):
    """One encoder trained on two sources at once: coded sessions (therapist and client heads,
    context as the preceding turn's vector) and GoEmotions-layout comments (emotion, no context)."""
    sessions = str(fixtures / "training" / "coded_sessions.csv")
    comments = str(fixtures / "training" / "goemotions_layout.tsv")
    config = TrainConfig(
        name="tiny-joint",
        data=DataConfig(format="coded_csv.v1", path=sessions, validation_path=sessions, repeat=2.0),
        extra_data=[DataConfig(format="goemotions.v1", path=comments, validation_path=comments, repeat=0.5)],
        schemes=["therapist_behaviour", "client_talk_type", "client_emotion"], multi_label=["client_emotion"],
        context_free=["client_emotion"], context_mode="embedding",
        # bfloat16 autocast where the CPU runs it natively; emulated elsewhere it is ~14x slower
        precision="bfloat16" if has_bf16_matrix_units() else "float32",
        epochs=25, batch_size=4, eval_every=25, patience=5, learning_rate=2e-4, head_learning_rate=5e-3,
        warmup_ratio=0.0, class_weighting="none", save_dtype="float32", threads=2, max_length=64)
    out = tmp_path_factory.mktemp("joint") / "tiny-joint"
    return train(config, codebook=codebook, output=out), out


def test_joint_model_learns_every_source(joint):
    result, _ = joint
    validation = result.metrics["validation"]
    assert validation["therapist_behaviour"]["macro_f1"] == 1.0
    assert validation["client_talk_type"]["macro_f1"] == 1.0
    assert validation["client_emotion"]["n"] == 8  # only the comments carry emotion codes
    assert validation["client_emotion"]["macro_f1"] >= 0.9
    # an epoch shows the 16 session turns twice and a random half of the 8 comments: 36 rows, 9 steps
    assert result.metrics["steps"] == 25 * 9


def test_embedding_context_reaches_only_the_heads_that_read_it(joint, codebook):
    result, out = joint
    model = load_model(out, codebook)
    assert model.embeds_context and not model.head("client_emotion").reads_context
    texts = ["I could try the patch next week."] * 2
    contexts = ["What would you like to try?", "My brother died last winter and I cannot sleep."]
    probs = model.predict_proba(texts, contexts)
    assert not np.array_equal(probs["client_talk_type"][0], probs["client_talk_type"][1])
    assert np.array_equal(probs["client_emotion"][0], probs["client_emotion"][1])
    np.testing.assert_allclose(probs["client_talk_type"], result.model.predict_proba(texts, contexts)["client_talk_type"],
                               atol=1e-5)


def test_a_units_probabilities_do_not_depend_on_the_other_units_in_the_call(joint, codebook):
    """Fixed-shape batches: the same bits alone, in a small call and in a large mixed one."""
    _, out = joint
    model = load_model(out, codebook)
    rng = np.random.default_rng(0)
    words = "so you feel like the drinking has been getting worse since the summer and work is hard".split()
    crowd = [" ".join(rng.choice(words, size=int(rng.integers(1, 60)))) for _ in range(150)]
    unit, context = "You want to cut down, and you also worry what your friends will say.", "I like a drink."
    alone = model.predict_proba([unit], [context])
    for others in (crowd[:3], crowd):
        mixed = model.predict_proba([*others[: len(others) // 2], unit, *others[len(others) // 2:]],
                                    [*others[1: len(others) // 2 + 1], context, *others[len(others) // 2:]])
        for scheme, rows in alone.items():
            assert np.array_equal(mixed[scheme][len(others) // 2], rows[0]), scheme


def test_fixed_shape_batches_cover_every_input_once_in_few_shapes():
    """Full batches of a bucket share one shape; its last batch is padded to the next power of two
    rows (so a short session's inputs cost little), never beyond a full batch."""
    from transcript_coder.model import BATCH_TOKENS, batch_rows, fixed_shape_batches

    lengths = [3, 17, 16, 40, 128, 5, 90, 33, 64, 65] * 7
    seen, shapes = [], {}
    for length, rows_per_batch, rows in fixed_shape_batches(lengths, max_length=128, batch_size=64):
        full = batch_rows(length, 64)
        assert all(lengths[i] <= length for i in rows) and 1 <= len(rows) <= rows_per_batch <= full
        assert rows_per_batch * length <= max(BATCH_TOKENS, length)
        assert rows_per_batch == full or (rows_per_batch & (rows_per_batch - 1) == 0 and rows_per_batch < 2 * len(rows))
        shapes.setdefault(length, set()).add(rows_per_batch)
        seen += rows
    assert sorted(seen) == list(range(len(lengths)))
    assert set(shapes) == {16, 32, 48, 64, 96, 128}
    assert all(len(rows) <= 2 for rows in shapes.values())  # a full batch and one last batch per bucket
    # three inputs of one bucket run as a batch of 4 rows, not of a full 64
    assert [(length, n) for length, n, _ in fixed_shape_batches([10, 12, 14], 128, 64)] == [(16, 4)]
