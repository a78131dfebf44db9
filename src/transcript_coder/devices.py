"""Where tensors live: ``--device auto|cpu|cuda|mps`` for ``train``, ``evaluate`` and ``code``.

``auto`` picks CUDA when torch sees a CUDA device, else Apple's MPS when present, else the CPU. Code
paths stay device-agnostic: models move to the device once, batches follow the module's device,
and results come back to the CPU as NumPy arrays. Training on a CUDA GPU with bfloat16 support runs
under bfloat16 autocast (:func:`autocast_for`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Literal

import torch

from .errors import UsageError

log = logging.getLogger(__name__)

DeviceName = Literal["auto", "cpu", "cuda", "mps"]
DEVICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(name: str | None = "auto", *, cuda_available: Callable[[], bool] = torch.cuda.is_available,
                   mps_available: Callable[[], bool] = _mps_available) -> torch.device:
    """The ``torch.device`` a device name stands for on this machine.

    ``auto`` (or None) prefers CUDA, then MPS, then the CPU. Asking for a device that is not there
    is an error (E418) rather than a silent fallback, so a cluster job that lost its GPU says so.
    """
    name = (name or "auto").lower()
    if name not in DEVICES:
        raise UsageError("E418", value=name, detail=f"known: {', '.join(DEVICES)}")
    if name == "auto":
        if cuda_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not cuda_available():
        raise UsageError("E418", value=name, detail="torch sees no CUDA device here (a CPU build, or no GPU)")
    if name == "mps" and not mps_available():
        raise UsageError("E418", value=name, detail="torch sees no MPS device here")
    return torch.device(name)


def autocast_for(device: torch.device, precision: str = "float32"):
    """The autocast context for training or inference on ``device``.

    On CUDA, bfloat16 autocast is used wherever the GPU supports bfloat16 (Ampere and newer),
    whatever ``precision`` says: it needs no loss scaling. Older GPUs and MPS run in float32, since
    float16 autocast without a gradient scaler can underflow small gradients. On the CPU,
    ``precision: bfloat16`` autocasts to bfloat16 (fast only with bf16 matrix units); ``float32``
    disables autocast.
    """
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()
    if device.type == "cpu" and precision == "bfloat16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def module_device(module: torch.nn.Module) -> torch.device:
    """The device a module's parameters are on (the CPU for a module without parameters)."""
    for parameter in module.parameters():
        return parameter.device
    return torch.device("cpu")
