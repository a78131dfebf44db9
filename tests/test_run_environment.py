"""run.json records the software a run used (issue 13): Python, torch, transformers, spaCy, the platform."""

from __future__ import annotations

import json
import platform

import spacy
import torch
import transformers

from .pipeline_support import model_set, quickstart  # noqa: F401 (fixtures)


def test_run_json_records_python_library_versions_and_platform(quickstart):
    out = quickstart[0]
    env = json.loads((out / "run.json").read_text(encoding="utf-8"))["environment"]
    assert env["python"] == platform.python_version()
    assert env["packages"]["torch"] == torch.__version__
    assert env["packages"]["transformers"] == transformers.__version__
    assert env["packages"]["spacy"] == spacy.__version__
    assert env["platform"] == platform.platform() and env["machine"] == platform.machine()


def test_environment_of_a_package_not_installed_is_none():
    from transcript_coder.environment import package_version

    assert package_version("no-such-distribution-transcript-coder") is None
    assert package_version("transcript_coder") is not None
