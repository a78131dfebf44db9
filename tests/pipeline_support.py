"""Shared by the pipeline tests: the real models loaded once per test session, and output readers."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

SESSIONS = ROOT / "data" / "fixtures" / "sessions"
TRANSCRIPTS = ROOT / "data" / "fixtures" / "transcripts"
BAD = ROOT / "data" / "fixtures" / "bad"
FIVE_MB = 5 * 1024 * 1024

csv.field_size_limit(sys.maxsize)  # a coded 5 MB turn is one cell

# Each test module imports these fixtures, which makes pytest build them once per module; the
# cache makes that once per test session.
_SHARED: dict = {}


@pytest.fixture(scope="session")
def model_set(codebook):
    """The models in models/, loaded once (real weights, no mocks)."""
    from transcript_coder.classify import ModelSet

    if "model_set" not in _SHARED:
        _SHARED["model_set"] = ModelSet(None, codebook).load()
    return _SHARED["model_set"]


@pytest.fixture(scope="session")
def quickstart(tmp_path_factory, model_set):
    """The four quickstart sessions coded once (``code([SESSIONS], out)``) with a recorded progress
    hook: the reference output several tests compare against."""
    from transcript_coder.pipeline import code
    from transcript_coder.progress import RecordingHook

    if "quickstart" not in _SHARED:
        out = tmp_path_factory.mktemp("quickstart") / "out"
        hook = RecordingHook()
        result = code([SESSIONS], out, hook=hook, models=model_set)
        _SHARED["quickstart"] = (out, result, hook)
    return _SHARED["quickstart"]


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """A CSV's header and rows."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def output_files(out: Path) -> dict[str, bytes]:
    """Every file's bytes, by path relative to ``out`` (states and any stray temporary file
    included; run.json without its ``this_run`` block, which records timings and what one
    invocation did)."""
    files = {}
    for path in sorted(out.rglob("*")):
        relative = path.relative_to(out).as_posix()
        if path.is_dir():
            continue
        data = path.read_bytes()
        if relative == "run.json":
            manifest = json.loads(data)
            manifest.pop("this_run")
            data = json.dumps(manifest, sort_keys=True).encode()
        files[relative] = data
    return files
