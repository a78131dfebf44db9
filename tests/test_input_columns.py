"""Extra input columns (issue 13): a CSV's other columns (``Notes``) reach the coded CSV as
``input_<name>``, through segmentation, the state a rerun renders from, and the Python API."""

from __future__ import annotations

from transcript_coder.batch import CodeOptions, code
from transcript_coder.readers import read_transcript
from transcript_coder.writers.tables import CODED_CSV_V3

from .pipeline_support import model_set, read_rows  # noqa: F401 (fixture)

CSV = ("speaker,text,Notes,Minute\n"
       "Therapist,What brings you here today?,opening,1\n"
       "Client,My drinking. I want to cut down.,\"key, change talk\",2\n"
       "Therapist,You want to cut down.,,3\n"
       "Client,Yes.,short,4\n")


def test_a_csv_reader_keeps_the_other_columns(tmp_path):
    path = tmp_path / "notes.csv"
    path.write_text(CSV, encoding="utf-8")
    session = read_transcript(path)
    assert [t.extra for t in session.turns] == [
        (("Notes", "opening"), ("Minute", "1")), (("Notes", "key, change talk"), ("Minute", "2")),
        (("Notes", ""), ("Minute", "3")), (("Notes", "short"), ("Minute", "4"))]


def test_coded_csv_passes_input_columns_through_prefixed(tmp_path, model_set):
    path = tmp_path / "notes.csv"
    path.write_text(CSV, encoding="utf-8")
    out = tmp_path / "out"
    code([path], out, CodeOptions(unit="sentence"), models=model_set)
    header, rows = read_rows(out / "coded" / "notes.csv")
    assert header == [*CODED_CSV_V3, "input_Notes", "input_Minute"]
    # Sentences keep their turn's cells: turn 1 has two sentences.
    assert [(r["turn_index"], r["input_Notes"], r["input_Minute"]) for r in rows] == [
        ("0", "opening", "1"), ("1", "key, change talk", "2"), ("1", "key, change talk", "2"), ("2", "", "3"),
        ("3", "short", "4")]
    # A coded CSV deleted is rendered again from the session's state, input columns included.
    before = (out / "coded" / "notes.csv").read_bytes()
    (out / "coded" / "notes.csv").unlink()
    again = code([path], out, CodeOptions(unit="sentence"), models=model_set)
    assert [r.status for r in again.records] == ["skipped"]
    assert (out / "coded" / "notes.csv").read_bytes() == before


def test_a_file_without_other_columns_has_none(tmp_path, model_set):
    path = tmp_path / "plain.txt"
    path.write_text("Therapist: Hello, what brings you here?\nClient: My sleep.\n", encoding="utf-8")
    code([path], tmp_path / "out", models=model_set)
    header, _ = read_rows(tmp_path / "out" / "coded" / "plain.csv")
    assert header == list(CODED_CSV_V3)


def test_the_api_frame_has_the_input_columns(tmp_path, model_set):
    from transcript_coder import Coder

    path = tmp_path / "notes.csv"
    path.write_text(CSV, encoding="utf-8")
    frame = Coder(models=model_set).code_file(path).to_pandas()
    assert list(frame.columns[-2:]) == ["input_Notes", "input_Minute"]
    notes = frame["input_Notes"]
    assert notes.isna().tolist() == [False, False, True, False]  # an empty cell is missing, as in the CSV
    assert [notes[i] for i in (0, 1, 3)] == ["opening", "key, change talk", "short"]
