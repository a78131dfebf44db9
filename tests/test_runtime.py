"""Runtimes: the opt-in ONNX Runtime int8 encoder must code like the float32 torch default."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from transcript_coder.errors import UsageError
from transcript_coder.registry import runtimes

from .conftest import FIXTURES, ROOT

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

#: Real-shaped fixture sessions plus every labelled-text and structured transcript fixture.
INPUTS = [FIXTURES / "sessions", *sorted((FIXTURES / "transcripts").glob("*.txt")),
          *sorted((FIXTURES / "transcripts").glob("*.json*")), *sorted((FIXTURES / "transcripts").glob("*.csv")),
          *sorted((FIXTURES / "transcripts").glob("*.vtt")), *sorted((FIXTURES / "transcripts").glob("*.srt"))]

_CODED: dict = {}


def _codes(out: Path) -> dict[tuple[str, int, str], str]:
    """``{(session, utterance, scheme): code}`` from a run's per-session states."""
    found = {}
    for path in sorted((out / ".state").glob("*.json")):
        session = json.loads(path.read_text(encoding="utf-8"))["session"]
        for index, unit in enumerate(session["utterances"]):
            for scheme, code in unit["codes"].items():
                found[(path.stem, index, scheme)] = code["code"]
    return found


def _coded(runtime: str, tmp_path_factory) -> dict:
    if runtime not in _CODED:
        from transcript_coder.pipeline import CodeOptions, code

        out = tmp_path_factory.mktemp(runtime.replace(".", "_"))
        result = code(INPUTS, out, CodeOptions(runtime=runtime))
        assert result.ok, [r.problems for r in result.records if r.status == "failed"]
        _CODED[runtime] = (out, _codes(out))
    return _CODED[runtime]


def test_runtimes_are_registered():
    import transcript_coder.runtime  # noqa: F401  (registers them)

    assert {"torch_fp32.v1", "onnx_int8.v1", "onnx_fp32.v1"} <= set(runtimes.names())


def test_unknown_runtime_is_a_usage_error(tmp_path):
    from transcript_coder.pipeline import CodeOptions, code

    with pytest.raises(UsageError) as info:
        code([FIXTURES / "sessions"], tmp_path / "out", CodeOptions(runtime="onnx_int4.v9"))
    assert info.value.code == "E411"


def test_onnx_fp32_export_matches_torch_for_any_batch_and_length(codebook):
    """The traced graph generalises: other batch sizes and lengths than the export sample give
    torch's probabilities (to float rounding)."""
    from transcript_coder.model import load_model
    from transcript_coder.runtime import apply_runtime

    texts = ["Yes.", "So you want to cut down, and part of you is not sure it is worth the trouble. " * 4,
             "How are things at home?", "I don't know.", "Mm-hm, tell me more about that evening."] * 3
    contexts = ["", "Client: I drink most evenings.", "", "Therapist: What would help?", ""] * 3
    reference = load_model(ROOT / "models" / "annomi", codebook).predict_proba(texts, contexts, batch_size=4)
    onnx = apply_runtime(load_model(ROOT / "models" / "annomi", codebook), "onnx_fp32.v1")
    for batch_size in (1, 7, 64):
        probs = onnx.predict_proba(texts, contexts, batch_size=batch_size)
        for scheme, values in reference.items():
            np.testing.assert_allclose(probs[scheme], values, atol=1e-4)


def _agreement(tmp_path_factory) -> dict[str, float]:
    """Share of identical codes per scheme between onnx_int8.v1 and the float32 default."""
    fp32_out, fp32 = _coded("torch_fp32.v1", tmp_path_factory)
    int8_out, int8 = _coded("onnx_int8.v1", tmp_path_factory)
    # A scheme that applies only under some parent code (reflection_type under a reflection) is
    # present in one run and absent in the other when the parent differs: that counts against it.
    keys = fp32.keys() | int8.keys()
    assert len(fp32) > 200
    agreement, counts = {}, {}
    for scheme in sorted({k[2] for k in keys}):
        mine = [k for k in keys if k[2] == scheme]
        agreement[scheme] = sum(fp32.get(k) == int8.get(k) for k in mine) / len(mine)
        counts[scheme] = len(mine)
    print("int8 vs fp32 agreement:", {s: f"{a:.4f} of {counts[s]}" for s, a in agreement.items()})
    return agreement


@pytest.mark.xfail(strict=True, reason="onnx_int8.v1 agrees 87-100 % per scheme on the fixtures (2026-11); "
                                       "when this passes, int8 may become the default (issue 5)")
def test_int8_codes_agree_with_fp32_on_fixtures_to_99_percent(tmp_path_factory):
    """The gate for making int8 the default: >= 99 % of codes per scheme agree with float32."""
    agreement = _agreement(tmp_path_factory)
    assert min(agreement.values()) >= 0.99, agreement


def test_int8_codes_mostly_agree_with_fp32(tmp_path_factory):
    """A regression floor for the opt-in runtime: a broken export or quantiser lands far below."""
    agreement = _agreement(tmp_path_factory)
    assert min(agreement.values()) >= 0.85, agreement
    assert sum(agreement.values()) / len(agreement) >= 0.93, agreement


def test_runtime_is_recorded_only_when_not_the_default(tmp_path_factory):
    fp32_out, _ = _coded("torch_fp32.v1", tmp_path_factory)
    int8_out, _ = _coded("onnx_int8.v1", tmp_path_factory)
    assert "runtime" not in json.loads((fp32_out / "run.json").read_text())["config"]
    assert json.loads((int8_out / "run.json").read_text())["config"]["runtime"] == "onnx_int8.v1"
