"""Device selection: ``auto`` prefers CUDA, then MPS, then the CPU; asking for a device that is not
there is E418, not a silent fallback; models and training run on whatever device they are given
(tested on the CPU, the only device here)."""

from __future__ import annotations

import pytest
import torch

from transcript_coder.devices import autocast_for, module_device, resolve_device
from transcript_coder.errors import UsageError


def _yes():
    return True


def _no():
    return False


@pytest.mark.parametrize("cuda, mps, expected", [(_yes, _yes, "cuda"), (_no, _yes, "mps"), (_no, _no, "cpu")])
def test_auto_prefers_cuda_then_mps_then_cpu(cuda, mps, expected):
    assert resolve_device("auto", cuda_available=cuda, mps_available=mps).type == expected
    assert resolve_device(None, cuda_available=cuda, mps_available=mps).type == expected


def test_an_absent_device_is_an_error_not_a_fallback():
    with pytest.raises(UsageError) as err:
        resolve_device("cuda", cuda_available=_no, mps_available=_no)
    assert err.value.code == "E418" and "no CUDA device" in str(err.value)
    with pytest.raises(UsageError) as err:
        resolve_device("mps", cuda_available=_yes, mps_available=_no)
    assert err.value.code == "E418"
    with pytest.raises(UsageError) as err:
        resolve_device("tpu")
    assert err.value.code == "E418" and "cpu, cuda, mps" in str(err.value)
    assert resolve_device("CPU").type == "cpu"


def test_this_machine_resolves_to_what_torch_sees():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type in (expected, "mps")


def test_cpu_autocast_only_for_bfloat16():
    with autocast_for(torch.device("cpu"), "float32"):
        assert not torch.is_autocast_enabled("cpu")
    with autocast_for(torch.device("cpu"), "bfloat16"):
        assert torch.is_autocast_enabled("cpu")


def test_module_device_follows_the_parameters():
    assert module_device(torch.nn.Linear(2, 2)).type == "cpu"
    assert module_device(torch.nn.ReLU()).type == "cpu"


def test_code_records_the_resolved_device_and_keeps_cpu_fingerprints(tmp_path, fixtures):
    """``code --device cpu`` and ``--device auto`` on a CPU-only machine are the same run: same
    session fingerprints (so a resume does not recode), and run.json records the resolved device."""
    import json

    from transcript_coder.cli import main

    src = fixtures / "sessions"
    one = sorted(p for p in src.iterdir() if p.is_file())[0]
    assert main(["code", str(one), "--out", str(tmp_path / "a"), "--device", "cpu", "--quiet"]) == 0
    assert main(["code", str(one), "--out", str(tmp_path / "b"), "--quiet"]) == 0
    a = json.loads((tmp_path / "a" / "run.json").read_text(encoding="utf-8"))
    b = json.loads((tmp_path / "b" / "run.json").read_text(encoding="utf-8"))
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert a["config"]["device"] == "cpu" and b["config"]["device"] == expected
    if expected == "cpu":
        assert a["inputs"][0]["fingerprint"] == b["inputs"][0]["fingerprint"]
    assert main(["code", str(one), "--out", str(tmp_path / "c"), "--device", "cuda", "--quiet"]) == \
        (0 if torch.cuda.is_available() else 2)
