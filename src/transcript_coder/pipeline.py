"""The names ``transcript_coder.pipeline`` has always offered, kept for existing callers.

The engine behind ``transcript-coder code`` is split in two:

* :mod:`transcript_coder.coding`: the pure coding stages (sessions in, coded sessions out, no
  folders): :func:`code_sessions`, :func:`code_transcript`, :func:`code_window`, :func:`windows_of`;
* :mod:`transcript_coder.batch`: the batch run around them (inputs, state, fingerprints, resume,
  manifests): :func:`code`, :class:`CodeOptions`;

with the input expansion in :mod:`transcript_coder.inputs` and the engines in
:mod:`transcript_coder.engines`. New code should import from those modules.
"""

from __future__ import annotations

from .batch import CODED_DIR, STATE_DIR, STATE_FORMAT, CodeOptions, code, codebook_digest, session_fingerprint
from .coding import (
    WINDOW_MAX_SESSIONS,
    CodingResources,
    SessionUnits,
    code_sessions,
    code_transcript,
    code_window,
    windows_of,
)
from .inputs import InputFile, expand_inputs, session_id_for, unique_session_ids

__all__ = [
    "CODED_DIR", "STATE_DIR", "STATE_FORMAT", "WINDOW_MAX_SESSIONS", "CodeOptions", "CodingResources", "InputFile",
    "SessionUnits", "code", "code_sessions", "code_transcript", "code_window", "codebook_digest",
    "expand_inputs", "session_fingerprint", "session_id_for", "unique_session_ids", "windows_of",
]
