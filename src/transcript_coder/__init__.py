"""transcript_coder: code psychotherapy session transcripts with fine-tuned transformer models.

From Python (a notebook or a script), :class:`Coder` loads the models once and codes in memory::

    from transcript_coder import Coder

    coder = Coder()          # every model in models/; or Coder(models=["models/annomi"], runtime="torch_fp32.v1")
    result = coder.code_text("Therapist: What brings you here today?\\n"
                             "Client: My drinking. I really want to cut down.")
    result.to_pandas()       # one row per unit, the coded-CSV columns
    result.scores            # {"reflection_to_question": ..., "pct_change_talk": ..., ...}
    coder.code_file("session.vtt")                          # any format transcript-coder code reads
    coder.code_turns([("T", "How are you?"), ("C", "Tired.")])  # (speaker, text) pairs or dicts

Folders of transcripts are coded with :func:`transcript_coder.batch.code` (``transcript-coder
code``), which writes coded CSVs, summaries and a manifest and resumes where it stopped.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import TranscriptCoderError  # noqa: E402

__all__ = ["__version__", "Coder", "CodingResult", "TranscriptCoderError"]


def __getattr__(name: str):
    # Coder pulls in torch and the models' code: imported on first use, so `import transcript_coder`
    # (and the CLI's start) stays light.
    if name in ("Coder", "CodingResult"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'transcript_coder' has no attribute {name!r}")
