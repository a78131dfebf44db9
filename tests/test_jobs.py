"""``--jobs N``: reading and segmenting in a process pool, writing in a thread, same bytes."""

from __future__ import annotations

import shutil

import pytest

from transcript_coder.pipeline import CodeOptions, code

from .pipeline_support import BAD, SESSIONS, TRANSCRIPTS, model_set, output_files  # noqa: F401 (fixtures)


def test_jobs_write_the_same_bytes_as_one_job_bad_inputs_included(tmp_path, model_set):
    inputs = tmp_path / "in"
    for source in (SESSIONS, BAD):
        shutil.copytree(source, inputs / source.name)
    shutil.copy(TRANSCRIPTS / "docx_table.docx", inputs)
    (inputs / "bad" / "missing.docx").write_bytes(b"not a zip")  # fails inside a reading process
    # Sentence units: the spaCy sentencizer runs in the reading processes; small windows make the
    # pool read several windows ahead while earlier ones are coded and written.
    options = dict(unit="sentence", window_units=40)
    one = code([inputs], tmp_path / "one", CodeOptions(**options), models=model_set)
    two = code([inputs], tmp_path / "two", CodeOptions(**options, jobs=2), models=model_set)
    assert [(r.session_id, r.status) for r in one.records] == [(r.session_id, r.status) for r in two.records]
    failed = {r.session_id: r.problems[0].code for r in two.records if r.status == "failed"}
    # Ids are paths under the folder given (bad/truncated, bad/truncated_lines).
    assert len(failed) == 13 and failed["bad/missing"] == "E115" and failed["bad/no_labels"] == "E103"
    assert failed["bad/truncated"] == failed["bad/truncated_lines"] == "E105"
    assert output_files(tmp_path / "one") == output_files(tmp_path / "two")


def test_an_interrupted_run_with_jobs_stops_cleanly_and_resumes_to_the_same_bytes(tmp_path, model_set):
    from transcript_coder.progress import RecordingHook

    from .test_pipeline import InterruptAfter

    reference = tmp_path / "reference"
    code([SESSIONS], reference, CodeOptions(window_units=1), models=model_set)
    out = tmp_path / "out"
    hook = InterruptAfter(1)
    with pytest.raises(KeyboardInterrupt):  # raised in the main thread while the pool reads ahead
        code([SESSIONS], out, CodeOptions(window_units=1, jobs=2), hook=hook, models=model_set)
    assert hook.events[-1] == ("finish", "code")
    written = sorted(p.stem for p in (out / ".state").iterdir())
    assert "drinking_mi" in written and len(written) <= 2  # the first window, maybe the one being written
    resumed = code([SESSIONS], out, CodeOptions(jobs=2), hook=RecordingHook(), models=model_set)
    assert [r.status for r in resumed.records].count("skipped") == len(written)
    assert output_files(out) == output_files(reference)
