"""Issue 11: reader options per input (a sidecar in an input folder, or --reader-options FILE), and a
session's fingerprint holding only the options its reader uses."""

from __future__ import annotations

import shutil

import pytest

from transcript_coder.batch import CodeOptions, code
from transcript_coder.errors import UsageError
from transcript_coder.reader_config import ReaderResolver, load_reader_rules, relevant_reader_options
from transcript_coder.readers import ReaderOptions

from .pipeline_support import SESSIONS, TRANSCRIPTS, model_set, read_rows  # noqa: F401 (fixtures)


def _inputs(tmp_path, sidecar: bool = True):
    clinic_a, clinic_b = tmp_path / "in" / "clinicA", tmp_path / "in" / "clinicB"
    clinic_a.mkdir(parents=True)
    clinic_b.mkdir()
    shutil.copy(TRANSCRIPTS / "tsv_custom_columns.tsv", clinic_a / "s1.tsv")
    if sidecar:
        (clinic_a / "transcript_coder.yaml").write_text("reader:\n  text_column: words\n  speaker_column: person\n")
    shutil.copy(SESSIONS / "work_anxiety_mi.csv", clinic_b / "s2.csv")
    shutil.copy(SESSIONS / "drinking_mi.txt", clinic_b / "s3.txt")
    shutil.copy(SESSIONS / "sleep_mi.vtt", clinic_b / "s4.vtt")
    return tmp_path / "in"


def test_sidecars_and_rules_refine_the_command_lines_options(tmp_path):
    root = _inputs(tmp_path)
    (root / "clinicA" / "deeper").mkdir()
    (root / "clinicA" / "deeper" / "transcript_coder.yaml").write_text("reader:\n  text_column: [utterance, words]\n")
    base = ReaderOptions(encoding="utf-8")
    resolver = ReaderResolver(base)
    a = resolver.options_for(root / "clinicA" / "s1.tsv", root)
    assert (a.text_columns, a.speaker_columns, a.encoding) == (("words",), ("person",), "utf-8")
    deeper = resolver.options_for(root / "clinicA" / "deeper" / "x.tsv", root)
    assert (deeper.text_columns, deeper.speaker_columns) == (("utterance", "words"), ("person",))
    assert resolver.options_for(root / "clinicB" / "s2.csv", root) == base
    rules = tmp_path / "rules.yaml"
    rules.write_text('"clinicB/*.csv": {delimiter: ";"}\n"s1.tsv": {text_column: utt}\n')
    ruled = ReaderResolver(base, load_reader_rules(rules))
    assert ruled.options_for(root / "clinicB" / "s2.csv", root).delimiter == ";"
    assert ruled.options_for(root / "clinicA" / "s1.tsv", root).text_columns == ("utt",)  # the file wins
    assert ruled.options_for(root / "clinicB" / "s3.txt", root) == base


def test_a_bad_option_name_is_e426(tmp_path, model_set):
    rules = tmp_path / "rules.yaml"
    rules.write_text('"*.csv": {text_colum: words}\n')
    with pytest.raises(UsageError) as caught:
        code([SESSIONS], tmp_path / "out", CodeOptions(reader_options=rules), models=model_set)
    assert caught.value.code == "E426" and "text_colum" in str(caught.value) and "text_column" in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_only_the_options_a_reader_uses_count():
    changed = ReaderOptions(text_columns=("words",))
    for reader in ("labelled_text.v2", "srt.v1", "webvtt.v1", "whisperx_json.v1"):
        assert relevant_reader_options(reader, changed) == relevant_reader_options(reader, ReaderOptions())
    assert relevant_reader_options("csv.v1", changed) != relevant_reader_options("csv.v1", ReaderOptions())


def test_two_csv_layouts_in_one_run_and_a_csv_option_recodes_only_csvs(tmp_path, model_set):
    root, out = _inputs(tmp_path), tmp_path / "out"
    result = code([root], out, models=model_set)
    assert [(r.session_id, r.status) for r in result.records] == [
        ("clinicA/s1", "coded"), ("clinicB/s2", "coded"), ("clinicB/s3", "coded"), ("clinicB/s4", "coded")]
    _, rows = read_rows(out / "coded" / "clinicA~s1.csv")
    assert rows and all(r["text"] for r in rows)
    # A text column for the CSVs, batch-wide: the CSV is recoded; the .txt and .vtt are not, nor the
    # .tsv, whose sidecar sets its own text column.
    again = code([root], out, CodeOptions(reader=ReaderOptions(text_columns=("text", "utterance"))), models=model_set)
    assert {r.session_id: r.status for r in again.records} == {
        "clinicA/s1": "skipped", "clinicB/s2": "coded", "clinicB/s3": "skipped", "clinicB/s4": "skipped"}
