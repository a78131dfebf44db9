"""``--jobs N``: reading and segmenting in a process pool, writing in a thread, same bytes."""

from __future__ import annotations

import shutil

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
    assert len(failed) == 13 and failed["missing"] == "E115" and failed["no_labels"] == "E103"
    assert output_files(tmp_path / "one") == output_files(tmp_path / "two")
