"""transcript_coder: code psychotherapy session transcripts with fine-tuned transformer models."""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import TranscriptCoderError  # noqa: E402

__all__ = ["__version__", "TranscriptCoderError"]
