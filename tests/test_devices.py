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
