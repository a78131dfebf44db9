"""Issue 11: stable session ids, reviewed cells that survive every recode, and an output folder
that accumulates (with --prune for sessions whose inputs are gone)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from transcript_coder.batch import CodeOptions, code
from transcript_coder.errors import UsageError
from transcript_coder.inputs import InputFile
from transcript_coder.results import SessionRecord
from transcript_coder.session_ids import (
    load_id_mapping,
    session_file_name,
    session_id_from_file_name,
    session_inputs,
)

from .conftest import ROOT
from .pipeline_support import SESSIONS, model_set, read_rows  # noqa: F401 (fixtures)

FAST_MODEL = ROOT / "models" / "fast" / "annomi_goemotions"


def _tree(tmp_path: Path) -> Path:
    """clientA/session1.txt and clientB/session1.csv (two real sessions sharing a stem)."""
    data = tmp_path / "data"
    for client, source in (("clientA", "drinking_mi.txt"), ("clientB", "work_anxiety_mi.csv")):
        (data / client).mkdir(parents=True)
        shutil.copy(SESSIONS / source, data / client / ("session1" + Path(source).suffix))
    return data


def _ids(entries) -> list[str]:
    return [e.session_id for e in entries if isinstance(e, InputFile)]


# --- ids --------------------------------------------------------------------------------------

def test_ids_are_paths_under_the_folder_given_and_never_depend_on_other_inputs(tmp_path):
    data = _tree(tmp_path)
    assert _ids(session_inputs([data])) == ["clientA/session1", "clientB/session1"]
    shutil.copy(data / "clientA" / "session1.txt", data / "client0.txt")
    (data / "client0").mkdir()
    shutil.copy(data / "clientA" / "session1.txt", data / "client0" / "session1.txt")
    assert _ids(session_inputs([data])) == ["client0", "client0/session1", "clientA/session1", "clientB/session1"]
    # Reordered, or named through a glob and a file inside the folder: the same ids.
    glob = str(data / "client*" / "session1.*")
    assert sorted(_ids(session_inputs([data / "clientB", glob]))) == [
        "client0/session1", "clientA/session1", "clientB/session1"]
    assert _ids(session_inputs([data / "clientB" / "session1.csv", data])) == _ids(session_inputs([data]))[3:4] + \
        _ids(session_inputs([data]))[:3]
    assert _ids(session_inputs([data / "clientA" / "session1.txt"])) == ["session1"]  # a file named directly


def test_inputs_whose_ids_clash_are_refused_not_renumbered(tmp_path):
    data = _tree(tmp_path)
    entries = session_inputs([data / "clientA" / "session1.txt", data / "clientB" / "session1.csv"])
    assert all(isinstance(e, SessionRecord) and e.problems[0].code == "E420" for e in entries)
    assert "--ids" in entries[0].problems[0].message and "clientB" in entries[0].problems[0].message


def test_an_id_mapping_file_names_inputs(tmp_path):
    data = _tree(tmp_path)
    mapping = tmp_path / "ids.csv"
    mapping.write_text("path,session_id\ndata/clientA/session1.txt,jane/intake\n", encoding="utf-8")
    entries = session_inputs([data], ids=load_id_mapping(mapping))
    assert _ids(entries) == ["jane/intake", "clientB/session1"]
    mapping.write_text("path,session_id\ndata/clientA/session1.txt,x\ndata/clientB/session1.csv,X\n")
    with pytest.raises(UsageError) as caught:
        load_id_mapping(mapping)
    assert caught.value.code == "E422" and "line 3" in str(caught.value)


@pytest.mark.parametrize("session_id, name", [
    ("clientA/session1", "clientA~session1"), ("a~b", "a%7Eb"), ("50%", "50%25"), (".hidden", "%2Ehidden"),
    ("x:y", "x%3Ay"), ("con", "%63on"), ("émotion/séance 1", "émotion~séance 1"),
])
def test_session_file_names_are_escaped_injectively(session_id, name):
    assert session_file_name(session_id) == name
    assert session_id_from_file_name(name) == session_id


def test_a_long_id_is_cut_with_a_hash():
    long = "client/" + "x" * 400
    name = session_file_name(long)
    assert len(name.encode()) <= 200 and name != session_file_name(long + "y")
    assert session_id_from_file_name(name) is None


# --- reviewed cells -------------------------------------------------------------------------------

def _fill(path: Path, cells: dict[tuple[int, str], str]) -> None:
    """Type codes into a coded CSV's reviewed_ cells, as a supervisor would."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    for (index, column), value in cells.items():
        rows[1 + index][header.index(column)] = value
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def _reviewed(path: Path) -> dict[tuple[int, str], str]:
    _, rows = read_rows(path)
    return {(int(r["utterance_index"]), c): v for r in rows for c, v in r.items() if c.startswith("reviewed_") and v}


def test_reviewed_cells_survive_force_another_model_and_other_options(tmp_path, model_set):
    data, out = _tree(tmp_path), tmp_path / "out"
    code([data], out, models=model_set)
    coded = out / "coded" / "clientA~session1.csv"
    typed = {(0, "reviewed_therapist_behaviour"): "reflection", (1, "reviewed_client_talk_type"): "change",
             (2, "reviewed_question_type"): "open"}
    _fill(coded, typed)
    code([data], out, CodeOptions(force=True), models=model_set)
    assert _reviewed(coded) == typed
    store = out / "reviews" / "sessions" / "clientA~session1.csv"
    assert len(read_rows(store)[1]) == 3
    # A cell typed after the first harvest joins the others; another option (roles stated)
    # recodes every session, and another model too.
    typed[(3, "reviewed_client_talk_type")] = "sustain"
    _fill(coded, {(3, "reviewed_client_talk_type"): "sustain"})
    code([data], out, CodeOptions(therapist=("Therapist",)), models=model_set)
    assert _reviewed(coded) == typed
    result = code([data], out, CodeOptions(models=(FAST_MODEL,)))
    assert [r.status for r in result.records] == ["coded", "coded"]
    assert _reviewed(coded) == typed
    assert not (out / "reviews" / "orphans.csv").exists()
    assert not any(p.code == "E423" for _, p in result.problems())


def test_a_cell_whose_unit_text_changed_is_reported_and_kept(tmp_path, model_set):
    data, out = _tree(tmp_path), tmp_path / "out"
    code([data], out, models=model_set)
    coded = out / "coded" / "clientA~session1.csv"
    _fill(coded, {(0, "reviewed_therapist_behaviour"): "reflection", (2, "reviewed_question_type"): "open"})
    source = data / "clientA" / "session1.txt"
    _, rows = read_rows(coded)
    first = rows[0]["text"]
    source.write_text(source.read_text(encoding="utf-8").replace(first, first + " Truly?", 1), encoding="utf-8")
    result = code([data], out, models=model_set)
    assert _reviewed(coded) == {(2, "reviewed_question_type"): "open"}  # the unchanged unit keeps its cell
    warnings = [p for r, p in result.problems("warning") if p.code == "E423"]
    assert len(warnings) == 1 and "reviewed_therapist_behaviour=reflection" in warnings[0].message
    _, errors = read_rows(out / "errors.csv")
    assert [e["session_id"] for e in errors if e["code"] == "E423"] == ["clientA/session1"]
    _, orphans = read_rows(out / "reviews" / "orphans.csv")
    assert [(o["session_id"], o["utterance_index"], o["scheme"], o["code"], o["text"], o["reason"]) for o in orphans] \
        == [("clientA/session1", "0", "therapist_behaviour", "reflection", first, "the unit's text changed")]
    # Put the text back: the cell is placed again and the orphan file goes away.
    source.write_text(source.read_text(encoding="utf-8").replace(first + " Truly?", first, 1), encoding="utf-8")
    code([data], out, models=model_set)
    assert _reviewed(coded) == {(0, "reviewed_therapist_behaviour"): "reflection",
                                (2, "reviewed_question_type"): "open"}
    assert not (out / "reviews" / "orphans.csv").exists()


# --- the folder accumulates ------------------------------------------------------------------------

def test_an_output_folder_accumulates_and_prune_drops_sessions_whose_inputs_are_gone(tmp_path, model_set):
    data, out = _tree(tmp_path), tmp_path / "out"
    code([str(data / "clientA*")], out, models=model_set)
    code([str(data / "clientB*")], out, models=model_set)
    _, sessions = read_rows(out / "sessions.csv")
    assert [s["session_id"] for s in sessions] == ["clientB/session1", "clientA/session1"]
    assert all(s["turns_client"] not in ("", "0") for s in sessions)  # no "n/a" session
    manifest = json.loads((out / "run.json").read_text())
    assert [(e["session_id"], e["status"]) for e in manifest["inputs"]] == [
        ("clientB/session1", "coded"), ("clientA/session1", "kept")]
    _, codes = read_rows(out / "codes.csv")
    assert {r["session_id"] for r in codes} == {"clientA/session1", "clientB/session1"}
    # The same id from another folder still on disk is refused, not coded over the first.
    code([data / "clientA"], tmp_path / "other", models=model_set)
    result = code([data / "clientB"], tmp_path / "other", models=model_set)
    assert [(r.session_id, r.problems[0].code) for r in result.records] == [("session1", "E425")]
    assert "clientA" in read_rows(tmp_path / "other" / "sessions.csv")[1][0]["input"]
    shutil.rmtree(data / "clientA")
    code([str(data / "clientB*")], out, CodeOptions(prune=True), models=model_set)
    _, sessions = read_rows(out / "sessions.csv")
    assert [s["session_id"] for s in sessions] == ["clientB/session1"]
    assert json.loads((out / "run.json").read_text())["this_run"]["pruned"] == ["clientA/session1"]
    assert sorted(p.name for p in (out / "coded").iterdir()) == ["clientB~session1.csv"]


def test_a_folder_with_old_style_ids_is_migrated_or_refused(tmp_path, model_set):
    data, out = _tree(tmp_path), tmp_path / "out"
    code([data], out, models=model_set)
    # Make it look like the old layout: stem ids, no folder marker.
    old = json.loads((out / ".state" / "clientA~session1.json").read_text())
    old["session"]["session_id"] = "session1"
    (out / ".state" / "clientA~session1.json").unlink()
    (out / ".transcript-coder.json").unlink()
    (out / ".state" / "session1.json").write_text(json.dumps(old))
    (out / "coded" / "clientA~session1.csv").rename(out / "coded" / "session1.csv")
    (out / ".state" / "clientB~session1.json").unlink()
    _fill(out / "coded" / "session1.csv", {(0, "reviewed_therapist_behaviour"): "question"})
    with pytest.raises(UsageError) as caught:
        code([data / "clientB"], out, models=model_set)
    assert caught.value.code == "E421" and "'session1'" in str(caught.value)
    code([data], out, models=model_set)
    assert not (out / "coded" / "session1.csv").exists()
    assert _reviewed(out / "coded" / "clientA~session1.csv") == {(0, "reviewed_therapist_behaviour"): "question"}


def test_a_reviewed_workbook_imported_into_its_run_is_shown_there_and_survives_a_recode(tmp_path, model_set):
    import openpyxl

    from transcript_coder.review import review_export, review_import

    data, out = _tree(tmp_path), tmp_path / "out"
    code([data], out, models=model_set)
    coded = out / "coded" / "clientA~session1.csv"
    roles = [r["role"] for r in read_rows(coded)[1]]
    therapist, client = roles.index("therapist"), roles.index("client")
    second_client = roles.index("client", client + 1)
    book = tmp_path / "review.xlsx"
    review_export([out], book)
    # After the export, a supervisor types into the coded CSV: one cell the workbook will give
    # another code (what is kept is never replaced by an import) and one it will not give.
    _fill(coded, {(therapist, "reviewed_therapist_behaviour"): "question",
                  (client, "reviewed_client_talk_type"): "sustain"})
    workbook = openpyxl.load_workbook(book)
    sheet = workbook["review"]
    header = [c.value for c in sheet[1]]
    rows = {(r[0].value, r[1].value): r for r in sheet.iter_rows(min_row=2)}
    rows[("clientA/session1", therapist)][header.index("reviewed_therapist_behaviour")].value = "reflection"
    rows[("clientA/session1", second_client)][header.index("reviewed_client_talk_type")].value = "change"
    # a unit whose text changed since the export (its hidden hash no longer matches any unit)
    moved = rows[("clientA/session1", roles.index("therapist", therapist + 1))]
    moved[header.index("reviewed_therapist_behaviour")].value = "other"
    moved[header.index("text_hash")].value = "0" * 16
    ghost = rows[("clientB/session1", 0)]
    ghost[0].value = "clientC/session9"  # a session this run never coded
    scheme, value = ("therapist_behaviour", "other") if ghost[4].value == "therapist" else ("client_talk_type", "neutral")
    ghost[header.index("reviewed_" + scheme)].value = value
    workbook.save(book)

    result = review_import([book], into=out)
    assert result.stored == {"clientA/session1": 1} and result.out is None
    assert sorted(e.code for e in result.unplaced) == ["E515", "E515", "E516"]
    conflict = next(e for e in result.unplaced if e.code == "E516")
    assert conflict.fields["kept"] == "question" and conflict.fields["value"] == "reflection"
    assert any("clientC/session9" in str(e) for e in result.unplaced)
    expected = {(therapist, "reviewed_therapist_behaviour"): "question",
                (client, "reviewed_client_talk_type"): "sustain",
                (second_client, "reviewed_client_talk_type"): "change"}
    assert _reviewed(coded) == expected
    assert not (out / "reviews" / "sessions" / "clientC~session9.csv").exists()
    code([data], out, CodeOptions(force=True), models=model_set)
    assert _reviewed(coded) == expected
