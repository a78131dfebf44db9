"""``--engine ray``: a Ray Data job on a local 2-CPU Ray writes the local engine's bytes."""

from __future__ import annotations

import importlib.util
import shutil
import sys
import time

import pytest

from transcript_coder.errors import UsageError
from transcript_coder.pipeline import CodeOptions, code

from .pipeline_support import BAD, TRANSCRIPTS, model_set, output_files  # noqa: F401 (fixtures)

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="ray is not installed (pip install -e '.[ray]')")


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray with 2 CPUs for the module (starting Ray takes seconds)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


@needs_ray
def test_ray_engine_writes_the_local_engines_bytes(tmp_path, local_ray, model_set):
    inputs = tmp_path / "in"
    shutil.copytree(TRANSCRIPTS, inputs)
    shutil.copy(BAD / "truncated.json", inputs)
    timings = {}
    for engine in ("local", "ray"):
        started = time.perf_counter()
        result = code([inputs], tmp_path / engine, CodeOptions(engine=engine), models=model_set)
        timings[engine] = time.perf_counter() - started
        failed = {r.session_id: r.problems[0].code for r in result.records if r.status == "failed"}
        assert failed == {"truncated": "E105", "tsv_custom_columns": "E108"}  # named by their original path
        assert len(result.records) == 28
    print(f"fixture run: local {timings['local']:.1f} s, ray {timings['ray']:.1f} s")
    local, on_ray = output_files(tmp_path / "local"), output_files(tmp_path / "ray")
    assert {"codes.csv", "sessions.csv", "errors.csv", "coded/docx_table.csv"} <= set(local)
    assert str(inputs / "truncated.json") in local["errors.csv"].decode()
    assert local == on_ray  # coded/*.csv, codes.csv, sessions.csv, errors.csv, states and run.json

    # The driver skips what the local engine coded: nothing reaches an actor, nothing is rewritten.
    states = sorted((tmp_path / "local" / ".state").iterdir())
    before = {path.name: path.stat().st_mtime_ns for path in states}
    again = code([inputs / "labelled_basic.txt", inputs / "srt_basic.srt"], tmp_path / "local",
                 CodeOptions(engine="ray"), models=model_set)
    assert [r.status for r in again.records] == ["skipped", "skipped"]
    assert {path.name: path.stat().st_mtime_ns for path in states} == before


def test_ray_engine_without_ray_installed_says_how_to_install_it(tmp_path, model_set, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(UsageError) as caught:
        code([TRANSCRIPTS / "labelled_basic.txt"], tmp_path / "out", CodeOptions(engine="ray"), models=model_set)
    assert caught.value.code == "E413" and "pip install 'transcript_coder[ray]'" in str(caught.value)
    assert not (tmp_path / "out").exists()
