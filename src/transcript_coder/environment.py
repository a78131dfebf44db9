"""The software a run used, for ``run.json``: a methods section cites it, and a lab re-running a
published coding can tell whether a difference may come from a library version."""

from __future__ import annotations

import platform
from importlib import metadata

#: Distributions whose versions can change a code: the model stack and the sentencizer.
RECORDED_PACKAGES = ("torch", "transformers", "tokenizers", "safetensors", "spacy", "numpy")


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name`` (without importing it), or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def environment() -> dict:
    """Python's version and implementation, the versions of :data:`RECORDED_PACKAGES`, and the
    platform (``platform.platform()``, the machine and the processor count)."""
    import os

    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "packages": {name: package_version(name) for name in RECORDED_PACKAGES},
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
