"""Runtimes: bfloat16 (the default where the CPU has bfloat16 matrix units) and the opt-in ONNX
Runtime int8 encoder must code like float32."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from transcript_coder.errors import UsageError
from transcript_coder.registry import runtimes

from .conftest import FIXTURES, ROOT

#: Real-shaped fixture sessions plus every labelled-text and structured transcript fixture.
INPUTS = [FIXTURES / "sessions", *sorted((FIXTURES / "transcripts").glob("*.txt")),
          *sorted((FIXTURES / "transcripts").glob("*.json*")), *sorted((FIXTURES / "transcripts").glob("*.csv")),
          *sorted((FIXTURES / "transcripts").glob("*.vtt")), *sorted((FIXTURES / "transcripts").glob("*.srt"))]
#: Plus generated sessions (benchmarks/sessions.py: our own templates, no dataset text), so that
#: the common schemes have hundreds of units each (therapist_input_type, rarer, a few dozen).
GENERATED_SESSIONS, GENERATED_TURNS = 40, 30

_CODED: dict = {}
DEFAULT_MODEL = ROOT / "models" / "annomi"


def _generated(tmp_path_factory) -> Path:
    folder = tmp_path_factory.getbasetemp() / "generated-sessions"
    if not folder.is_dir():
        spec = importlib.util.spec_from_file_location("bench_sessions", ROOT / "benchmarks" / "sessions.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.make_sessions(folder, GENERATED_SESSIONS, GENERATED_TURNS, seed=7)
    return folder


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
        result = code([*INPUTS, _generated(tmp_path_factory)], out, CodeOptions(runtime=runtime))
        assert result.ok, [r.problems for r in result.records if r.status == "failed"]
        _CODED[runtime] = (out, _codes(out))
    return _CODED[runtime]


def _agreement(runtime: str, tmp_path_factory) -> dict[str, float]:
    """Share of identical codes per scheme between ``runtime`` and float32."""
    _, fp32 = _coded("torch_fp32.v1", tmp_path_factory)
    _, other = _coded(runtime, tmp_path_factory)
    # A scheme that applies only under some parent code (reflection_type under a reflection) is
    # present in one run and absent in the other when the parent differs: that counts against it.
    keys = fp32.keys() | other.keys()
    agreement, counts = {}, {}
    for scheme in sorted({k[2] for k in keys}):
        mine = [k for k in keys if k[2] == scheme]
        agreement[scheme] = sum(fp32.get(k) == other.get(k) for k in mine) / len(mine)
        counts[scheme] = len(mine)
    print(f"{runtime} vs fp32 agreement:", {s: f"{a:.4f} of {counts[s]}" for s, a in agreement.items()})
    assert min(counts.values()) >= 20 and sum(counts.values()) >= 3000, counts
    return agreement


def test_runtimes_are_registered():
    import transcript_coder.runtime  # noqa: F401  (registers them)

    assert {"torch_fp32.v1", "torch_bf16.v1", "onnx_int8.v1", "onnx_fp32.v1"} <= set(runtimes.names())


def test_unknown_runtime_is_a_usage_error(tmp_path):
    from transcript_coder.pipeline import CodeOptions, code

    with pytest.raises(UsageError) as info:
        code([FIXTURES / "sessions"], tmp_path / "out", CodeOptions(runtime="onnx_int4.v9"))
    assert info.value.code == "E411" and "auto" in str(info.value)


def test_auto_picks_bf16_only_where_the_cpu_multiplies_bf16_natively(tmp_path, monkeypatch):
    from transcript_coder import runtime

    with_amx, without = tmp_path / "amx", tmp_path / "plain"
    with_amx.write_text("flags\t\t: fpu sse avx2 avx512f amx_bf16 amx_tile\n")
    without.write_text("flags\t\t: fpu sse avx2 avx512f avx512_vnni\n")
    assert runtime.has_bf16_matrix_units(with_amx) and not runtime.has_bf16_matrix_units(without)
    assert not runtime.has_bf16_matrix_units(tmp_path / "missing")
    monkeypatch.setattr(runtime, "has_bf16_matrix_units", lambda: True)
    assert runtime.resolve_runtime("auto") == runtime.resolve_runtime(None) == "torch_bf16.v1"
    monkeypatch.setattr(runtime, "has_bf16_matrix_units", lambda: False)
    assert runtime.resolve_runtime("auto") == "torch_fp32.v1"
    assert runtime.resolve_runtime("torch_bf16.v1") == "torch_bf16.v1"


def test_bf16_codes_agree_with_fp32_to_99_percent(tmp_path_factory):
    """The gate that lets ``auto`` choose bfloat16: >= 99 % of codes per scheme agree with float32."""
    agreement = _agreement("torch_bf16.v1", tmp_path_factory)
    assert min(agreement.values()) >= 0.99, agreement


def _needs_onnx():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")


def test_onnx_fp32_export_matches_torch_for_any_batch_and_length(codebook):
    """The traced graph generalises: other batch sizes and lengths than the export sample give
    torch's probabilities (to float rounding)."""
    from transcript_coder.model import load_model
    from transcript_coder.runtime import apply_runtime

    _needs_onnx()
    texts = ["Yes.", "So you want to cut down, and part of you is not sure it is worth the trouble. " * 4,
             "How are things at home?", "I don't know.", "Mm-hm, tell me more about that evening."] * 3
    contexts = ["", "I drink most evenings.", "", "What would help?", ""] * 3
    reference = load_model(DEFAULT_MODEL, codebook).predict_proba(texts, contexts, batch_size=4)
    onnx = apply_runtime(load_model(DEFAULT_MODEL, codebook), "onnx_fp32.v1")
    for batch_size in (1, 7, 64):
        probs = onnx.predict_proba(texts, contexts, batch_size=batch_size)
        for scheme, values in reference.items():
            np.testing.assert_allclose(probs[scheme], values, atol=1e-4)


@pytest.mark.xfail(strict=True, reason="onnx_int8.v1 agrees 83-99 % per scheme (2026-11); when this "
                                       "passes, int8 could become a default (issue 5)")
def test_int8_codes_agree_with_fp32_to_99_percent(tmp_path_factory):
    """The gate int8 would need to pass to be chosen by default."""
    _needs_onnx()
    agreement = _agreement("onnx_int8.v1", tmp_path_factory)
    assert min(agreement.values()) >= 0.99, agreement


def test_int8_codes_mostly_agree_with_fp32(tmp_path_factory):
    """A regression floor for the opt-in runtime: a broken export or quantiser lands far below."""
    _needs_onnx()
    agreement = _agreement("onnx_int8.v1", tmp_path_factory)
    assert min(agreement.values()) >= 0.80, agreement
    assert sum(agreement.values()) / len(agreement) >= 0.90, agreement


def test_the_resolved_runtime_is_recorded_and_changes_the_fingerprint(tmp_path_factory):
    from transcript_coder.runtime import resolve_runtime

    fp32_out, _ = _coded("torch_fp32.v1", tmp_path_factory)
    bf16_out, _ = _coded("torch_bf16.v1", tmp_path_factory)
    fp32_run, bf16_run = (json.loads((out / "run.json").read_text()) for out in (fp32_out, bf16_out))
    assert fp32_run["config"]["runtime"] == "torch_fp32.v1" and bf16_run["config"]["runtime"] == "torch_bf16.v1"
    assert fp32_run["inputs"][0]["fingerprint"] != bf16_run["inputs"][0]["fingerprint"]
    assert resolve_runtime("auto") in ("torch_fp32.v1", "torch_bf16.v1")
