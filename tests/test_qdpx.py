"""REFI-QDA export (issue 13): ``export qdpx`` writes a project that validates against REFI's
Project.xsd, whose selections cut exactly each unit's text, whose codings are the coded CSVs' codes
made by the model (or the reviewers) that gave them, with stable GUIDs and byte-identical re-exports;
``--codebook-only`` writes a ``.qdc`` that validates against Codebook.xsd."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema

from transcript_coder.cli import main
from transcript_coder.codebook import split_codes
from transcript_coder.codings import CodedRow, read_coded_files
from transcript_coder.errors import DataError, UsageError
from transcript_coder.review import ReviewError, review_export
from transcript_coder.writers.qdpx import (PALETTES, PROJECT_NAMESPACE, code_guid, exported_schemes, export_codebook,
                                           export_qdpx, session_text)

from .pipeline_support import model_set, quickstart, read_rows  # noqa: F401 (fixtures)
from .test_review import resave_like_a_spreadsheet
from .test_review_workbook import fill, write_coded_output

SCHEMAS = Path(__file__).resolve().parents[1] / "data" / "schemas" / "refi"
NS = {"q": PROJECT_NAMESPACE}


@pytest.fixture(scope="module")
def project_schema():
    return xmlschema.XMLSchema(SCHEMAS / "Project.xsd")


@pytest.fixture(scope="module")
def coded_run(quickstart, tmp_path_factory):
    """A copy of the quickstart output folder (the four fixture sessions coded by the real models)."""
    folder = tmp_path_factory.mktemp("qdpx") / "coded_run"
    shutil.copytree(quickstart[0], folder)
    return folder


def unpack(path: Path) -> tuple[ET.Element, bytes, dict[str, str]]:
    """The project's root element, ``project.qde``'s bytes, and the source texts by zip name."""
    with zipfile.ZipFile(path) as archive:
        document = archive.read("project.qde")
        texts = {n: archive.read(n).decode("utf-8") for n in archive.namelist() if n.startswith("Sources/")}
    return ET.fromstring(document), document, texts


def codings_by_unit(root: ET.Element) -> dict[tuple[str, int], set[tuple[str, str, str]]]:
    """``(session, unit)`` -> ``{(scheme, code, user name)}`` of every coding."""
    codes = {}
    for parent in root.findall("q:CodeBook/q:Codes/q:Code", NS):
        for child in parent.findall("q:Code", NS):
            codes[child.get("guid")] = (parent.get("name"), child.get("name"))
    users = {u.get("guid"): u.get("name") for u in root.findall("q:Users/q:User", NS)}
    found = {}
    for source in root.findall("q:Sources/q:TextSource", NS):
        for selection in source.findall("q:PlainTextSelection", NS):
            index = int(selection.get("name").split("#")[1].split()[0])
            found[(source.get("name"), index)] = {
                (*codes[c.find("q:CodeRef", NS).get("targetGUID")], users[c.get("creatingUser")])
                for c in selection.findall("q:Coding", NS)}
    return found


def model_user_name(model: dict) -> str:
    """The QDA user name of a model recorded in run.json."""
    return f"{model['name']} (transcript_coder model {model['fingerprint']})"


@pytest.fixture(scope="module")
def exported(coded_run, tmp_path_factory, codebook):
    out = tmp_path_factory.mktemp("export") / "project.qdpx"
    result = export_qdpx(coded_run, out, codebook=codebook)
    return out, result


def test_project_validates_against_the_official_refi_schema(exported, project_schema):
    out, result = exported
    root, document, texts = unpack(out)
    project_schema.validate(io.BytesIO(document))  # raises on any violation
    assert root.tag == f"{{{PROJECT_NAMESPACE}}}Project"
    sources = root.findall("q:Sources/q:TextSource", NS)
    assert [s.get("name") for s in sources] == ["drinking_mi", "sleep_mi", "smoking_mi_whisperx", "work_anxiety_mi"]
    # every source's text is a Sources/ file of the zip, referred to as internal://
    assert sorted(f"Sources/{s.get('plainTextPath').removeprefix('internal://')}" for s in sources) == sorted(texts)
    assert result.n_sessions == 4 and result.n_selections == 84


def test_the_schema_check_catches_a_broken_document(exported, project_schema):
    """The validation above is not vacuous: a selection without its required endPosition fails."""
    _, document, _ = unpack(exported[0])
    broken = document.replace(b' endPosition="', b' endposition="', 1)
    assert broken != document
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        project_schema.validate(io.BytesIO(broken))


def test_every_selection_cuts_exactly_its_units_text(exported, coded_run, codebook):
    root, _, texts = unpack(exported[0])
    rows = {row.key: row for f in read_coded_files([coded_run], codebook) for row in f.rows}
    seen = set()
    for source in root.findall("q:Sources/q:TextSource", NS):
        text = texts["Sources/" + source.get("plainTextPath").removeprefix("internal://")]
        for selection in source.findall("q:PlainTextSelection", NS):
            index = int(selection.get("name").split("#")[1].split()[0])
            row = rows[(source.get("name"), index)]
            start, end = int(selection.get("startPosition")), int(selection.get("endPosition"))
            assert text[start:end] == row.text
            assert text[:start].endswith(f"{row.speaker}: ")  # the speaker precedes the unit on its line
            seen.add(row.key)
    assert seen == set(rows)  # one selection per unit, none missing


def test_session_text_offsets_survive_hostile_text():
    """Emoji (outside the BMP), combining marks, a newline inside a unit, an empty unit and a unit
    without a speaker: offsets are code points and cut each unit exactly."""
    texts = ["Caf\u00e9 \U0001F600 ok", "e\u0301\u0301 line one\nline two", "", "=SUM(A1) \u05e9\u05dc\u05d5\u05dd"]
    rows = [CodedRow(path=Path("x.csv"), row=i + 2, session_id="s", utterance_index=i, turn_index=i,
                     speaker="" if i == 3 else f"Speaker {i}", role="client", text=t) for i, t in enumerate(texts)]
    text, spans = session_text(rows)
    assert [text[s.start:s.end] for s in spans] == texts
    assert text.splitlines()[0] == "Speaker 0: Caf\u00e9 \U0001F600 ok" and "client: =SUM(A1)" in text


def test_codings_are_the_coded_csvs_codes_by_the_model_that_gave_them(exported, coded_run, codebook):
    root, _, _ = unpack(exported[0])
    run = json.loads((coded_run / "run.json").read_text())
    # who codes a scheme: the model run.json names for it, a rule-based scheme's tagger, else a fallback
    model_of = {s.id: f"{s.tagger} (transcript_coder rules)" if s.kind == "rules" else "transcript_coder model"
                for s in codebook}
    model_of |= {s: model_user_name(m) for m in run["models"] for s in m["schemes"]}
    names = {s.id: s.name for s in codebook}
    found = codings_by_unit(root)
    expected = {}
    for file in read_coded_files([coded_run], codebook):
        for row in file.rows:
            expected[row.key] = {(names[s], code, model_of[s])
                                 for s, cell in row.codes.items() for code in split_codes(cell)}
    # schemes only codes.csv has (the fine-grained emotions) are coded too; roll-ups are derived, not coded
    _, long_rows = read_rows(coded_run / "codes.csv")
    in_csv = {s for f in read_coded_files([coded_run], codebook) for s in f.schemes}
    only_long = {r["scheme"] for r in long_rows} - in_csv
    assert "client_emotion_fine" in only_long
    for r in long_rows:
        if r["scheme"] in only_long and codebook[r["scheme"]].kind == "classifier":
            key = (r["session_id"], int(r["utterance_index"]))
            expected[key] |= {(names[r["scheme"]], code, model_of[r["scheme"]]) for code in split_codes(r["code"])}
    assert found == expected
    assert any(scheme == "Client emotion (fine-grained)" for v in found.values() for scheme, _, _ in v)
    users = {u.get("name"): u.get("id") for u in root.findall("q:Users/q:User", NS)}
    assert set(users) == {user for v in found.values() for _, _, user in v}  # the users are the coders
    assert {name: id_ for name, id_ in users.items() if id_} == {model_user_name(m): m["fingerprint"]
                                                                 for m in run["models"]}
    assert found[("sleep_mi", 0)] == {("Therapist behaviour", "question", model_of["therapist_behaviour"]),
                                      ("Question type", "open", model_of["question_type"])}
    assert sum(len(v) for v in found.values()) == exported[1].n_codings > 84


def test_codebook_schemes_are_parent_codes_with_definitions_and_their_own_colours(exported, codebook):
    root, _, _ = unpack(exported[0])
    parents = root.findall("q:CodeBook/q:Codes/q:Code", NS)
    schemes = exported_schemes(codebook)
    assert [p.get("name") for p in parents] == [s.name for s in schemes]
    assert "speaker_role" not in {s.id for s in schemes}  # role: any, never a code column
    colours = {}
    for parent, scheme in zip(parents, schemes):
        assert parent.get("isCodable") == "false" and parent.get("guid") == code_guid(scheme.id)
        children = parent.findall("q:Code", NS)
        assert [c.get("name") for c in children] == scheme.code_ids
        for child, spec in zip(children, scheme.codes):
            assert child.get("isCodable") == "true" and child.get("guid") == code_guid(scheme.id, spec.id)
            assert child.find("q:Description", NS).text == f"{spec.name}: {spec.definition.strip()}"
        colours[scheme.id] = {parent.get("color")} | {c.get("color") for c in children}
    # a colour never means codes of two schemes (there are fewer schemes than palettes)
    ids = list(colours)
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            assert not colours[a] & colours[b], (a, b)


def test_palettes_share_no_colour():
    colours = [c.upper() for palette in PALETTES for c in palette]
    assert len(colours) == len(set(colours)) and all(re.fullmatch(r"#[0-9A-F]{6}", c) for c in colours)


def test_sessions_scores_are_case_variables(exported, coded_run):
    root, _, _ = unpack(exported[0])
    variables = {v.get("guid"): (v.get("name"), v.get("typeOfVariable"))
                 for v in root.findall("q:Variables/q:Variable", NS)}
    kinds = dict(variables.values())
    assert kinds["pct_open_questions"] == "Float" and kinds["turns"] == "Integer" and kinds["reader"] == "Text"
    _, sessions = read_rows(coded_run / "sessions.csv")
    cases = {c.get("name"): c for c in root.findall("q:Cases/q:Case", NS)}
    assert sorted(cases) == sorted(r["session_id"] for r in sessions)
    for row in sessions:
        values = {}
        for value in cases[row["session_id"]].findall("q:VariableValue", NS):
            name, kind = variables[value.find("q:VariableRef", NS).get("targetGUID")]
            values[name] = value.find(f"q:{kind}Value", NS).text
        assert float(values["pct_open_questions"]) == pytest.approx(float(row["pct_open_questions"]))
        assert values["turns"] == row["turns"] and values["reader"] == row["reader"]
        source = cases[row["session_id"]].find("q:SourceRef", NS).get("targetGUID")
        assert root.find(f"q:Sources/q:TextSource[@guid='{source}']", NS).get("name") == row["session_id"]


def test_re_export_is_byte_identical_with_fixed_zip_dates(exported, coded_run, tmp_path, codebook):
    again = export_qdpx(coded_run, tmp_path / "again.qdpx", codebook=codebook).out
    assert again.read_bytes() == exported[0].read_bytes()
    with zipfile.ZipFile(again) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}


def test_another_process_exports_the_same_bytes(exported, coded_run, tmp_path):
    """No hash-seed or process state leaks into the output: a fresh interpreter with another
    PYTHONHASHSEED writes the same file."""
    out = tmp_path / "other.qdpx"
    env = {**os.environ, "PYTHONHASHSEED": "12345", "OMP_NUM_THREADS": "1"}
    code = "import sys; from transcript_coder.cli import main; sys.exit(main(sys.argv[1:]))"
    subprocess.run([sys.executable, "-c", code, "export", "qdpx", str(coded_run), "--out", str(out)],
                   check=True, env=env, capture_output=True)
    assert out.read_bytes() == exported[0].read_bytes()


def test_guids_are_stable_keys_not_positions(exported, coded_run, tmp_path, codebook):
    """Exporting only two of the sessions keeps those sessions' source, selection and coding GUIDs."""
    partial = tmp_path / "coded_run"
    shutil.copytree(coded_run, partial)
    for sid in ("drinking_mi", "smoking_mi_whisperx"):
        (partial / "coded" / f"{sid}.csv").unlink()
    full, _, _ = unpack(exported[0])
    part, _, _ = unpack(export_qdpx(partial, tmp_path / "part.qdpx", codebook=codebook).out)

    def guids(root, session):
        source = root.find(f"q:Sources/q:TextSource[@name='{session}']", NS)
        return [e.get("guid") for e in source.iter() if e.get("guid")]

    for session in ("sleep_mi", "work_anxiety_mi"):
        assert guids(part, session) == guids(full, session) and len(guids(full, session)) > 20


@pytest.fixture(scope="module")
def reviewed_run(coded_run, tmp_path_factory):
    """The coded run with a supervisor's reviewed cells in sleep_mi (units 0-2), re-saved by a
    spreadsheet; and a second reviewer's coded CSV of sleep_mi with their own cells."""
    folder = tmp_path_factory.mktemp("reviewed") / "coded_run"
    shutil.copytree(coded_run, folder)
    second = folder.parent / "ben_sleep_mi.csv"
    shutil.copy(folder / "coded" / "sleep_mi.csv", second)
    resave_like_a_spreadsheet(folder / "coded" / "sleep_mi.csv", {
        (0, "reviewed_therapist_behaviour"): "reflection",
        (0, "reviewed_reflection_type"): "Complex",  # another case: read as the code id
        (1, "reviewed_client_emotion"): "sadness",
        (2, "reviewed_therapist_behaviour"): "reflection",
    })
    resave_like_a_spreadsheet(second, {(0, "reviewed_therapist_behaviour"): "question"})
    return folder, second


def test_reviewed_codes_come_from_a_reviewer_user(reviewed_run, exported, project_schema, tmp_path, codebook):
    folder, _ = reviewed_run
    result = export_qdpx(folder, tmp_path / "merged.qdpx", columns="merged", reviewers=[("Ana Lopez", None)],
                         codebook=codebook)
    root, document, _ = unpack(result.out)
    project_schema.validate(io.BytesIO(document))
    users = [u.get("name") for u in root.findall("q:Users/q:User", NS)]
    assert users[-1] == "Ana Lopez"  # after the coders
    assert users[:-1] == [u.get("name") for u in unpack(exported[0])[0].findall("q:Users/q:User", NS)]
    found = codings_by_unit(root)
    run = json.loads((folder / "run.json").read_text())

    def model_of(scheme):
        return next(model_user_name(m) for m in run["models"] if scheme in m["schemes"])
    # unit 0: a question the model called open, which Ana made a complex reflection: her codes replace
    # the model's, and the model's question type no longer applies (a reflection has none)
    assert found[("sleep_mi", 0)] == {("Therapist behaviour", "reflection", "Ana Lopez"),
                                      ("Reflection type", "complex", "Ana Lopez")}
    assert ("Client emotion", "sadness", "Ana Lopez") in found[("sleep_mi", 1)]
    assert ("Client talk type", "neutral", model_of("client_talk_type")) in found[("sleep_mi", 1)]  # not reviewed
    assert all(user != "Ana Lopez" for (sid, index), v in found.items() if sid != "sleep_mi" or index > 2
               for _, _, user in v)
    # every other unit is exactly as in the model-only export
    codes_only = codings_by_unit(unpack(export_qdpx(folder, tmp_path / "m.qdpx", codebook=codebook).out)[0])
    assert {k: v for k, v in found.items() if k[0] != "sleep_mi" or k[1] > 2} == \
        {k: v for k, v in codes_only.items() if k[0] != "sleep_mi" or k[1] > 2}

    only = export_qdpx(folder, tmp_path / "reviewed.qdpx", columns="reviewed", codebook=codebook)  # default name
    root, _, _ = unpack(only.out)
    assert [u.get("name") for u in root.findall("q:Users/q:User", NS)] == ["reviewer"]
    found = codings_by_unit(root)
    assert {k: v for k, v in found.items() if v} == {
        ("sleep_mi", 0): {("Therapist behaviour", "reflection", "reviewer"),
                          ("Reflection type", "complex", "reviewer")},
        ("sleep_mi", 1): {("Client emotion", "sadness", "reviewer")},
        ("sleep_mi", 2): {("Therapist behaviour", "reflection", "reviewer")}}


def test_two_reviewers_are_two_users_with_their_own_codings(reviewed_run, tmp_path, codebook):
    folder, second = reviewed_run
    result = export_qdpx(folder, tmp_path / "two.qdpx", columns="reviewed",
                         reviewers=[("ana", None), ("ben", second)], codebook=codebook)
    root, _, _ = unpack(result.out)
    users = {u.get("name"): u.get("guid") for u in root.findall("q:Users/q:User", NS)}
    assert list(users) == ["ana", "ben"] and len(set(users.values())) == 2
    assert codings_by_unit(root)[("sleep_mi", 0)] == {
        ("Therapist behaviour", "reflection", "ana"), ("Reflection type", "complex", "ana"),
        ("Therapist behaviour", "question", "ben")}


def test_bad_reviewed_cells_and_units_outside_the_run_are_refused(reviewed_run, coded_run, tmp_path, codebook):
    folder, second = reviewed_run
    bad = tmp_path / "bad.csv"
    shutil.copy(coded_run / "coded" / "sleep_mi.csv", bad)
    resave_like_a_spreadsheet(bad, {(1, "reviewed_client_emotion"): "sadnes"})
    with pytest.raises(ReviewError) as caught:
        export_qdpx(folder, tmp_path / "x.qdpx", columns="merged", reviewers=[("ben", bad)], codebook=codebook)
    assert caught.value.code == "E504" and caught.value.problems[0].code == "E501"
    stray = tmp_path / "stray.csv"
    stray.write_text(second.read_text(encoding="utf-8-sig").replace("sleep_mi,", "other_session,"), encoding="utf-8")
    with pytest.raises(DataError) as caught:
        export_qdpx(folder, tmp_path / "x.qdpx", columns="reviewed", reviewers=[("ben", stray)], codebook=codebook)
    assert caught.value.code == "E514" and caught.value.fields["session"] == "other_session"
    assert not (tmp_path / "x.qdpx").exists()


def test_a_coded_cell_that_is_no_code_and_reviewers_sharing_a_name_are_refused(coded_run, tmp_path, codebook):
    folder = tmp_path / "coded_run"
    shutil.copytree(coded_run, folder)
    resave_like_a_spreadsheet(folder / "coded" / "sleep_mi.csv", {(0, "therapist_behaviour"): "questoin"})
    with pytest.raises(DataError) as caught:
        export_qdpx(folder, tmp_path / "x.qdpx", codebook=codebook)
    assert caught.value.code == "E501" and caught.value.fields["value"] == "questoin"
    with pytest.raises(UsageError) as caught:
        export_qdpx(coded_run, tmp_path / "x.qdpx", columns="merged", reviewers=[("ana", None), ("ana", None)],
                    codebook=codebook)
    assert caught.value.code == "E402" and "ana" in str(caught.value)
    assert not (tmp_path / "x.qdpx").exists()


def test_a_review_workbook_is_one_reviewers_codes(coded_run, tmp_path, codebook, project_schema):
    book = tmp_path / "review_ana.xlsx"
    review_export([coded_run], book, codebook=codebook)
    fill(book, {("work_anxiety_mi", 0, "reviewed_question_type"): "closed",
                ("work_anxiety_mi", 1, "reviewed_client_talk_type"): " Change "})  # read as 'change'
    result = export_qdpx(coded_run, tmp_path / "ana.qdpx", columns="merged", reviewers=[("ana", book)],
                         codebook=codebook)
    root, document, _ = unpack(result.out)
    project_schema.validate(io.BytesIO(document))
    found = codings_by_unit(root)
    assert ("Question type", "closed", "ana") in found[("work_anxiety_mi", 0)]
    assert not any(s == "Question type" and u != "ana" for s, _, u in found[("work_anxiety_mi", 0)])
    assert ("Client talk type", "change", "ana") in found[("work_anxiety_mi", 1)]


def test_hostile_texts_and_a_folder_without_run_json(tmp_path, codebook, project_schema):
    """Formula-like text, emoji, combining marks, a line break and a control character inside a unit,
    a right-to-left script; no run.json (one fallback model user) and no codes.csv."""
    texts = ["=1+1 \U0001F600", "line one\r\nline two", "e\u0301 \u05e9\u05dc\u05d5\u05dd", "bell\x07 here"]
    units = {"s\u00e9ance 1": [("T", "therapist", texts[0], {"therapist_behaviour": ("question", 0.9),
                                                              "question_type": ("open", 0.9)}),
                                ("C", "client", texts[1], {"client_talk_type": ("change", 0.8)}),
                                ("T", "therapist", texts[2], {"therapist_behaviour": ("other", 0.7)}),
                                ("C", "client", texts[3], {})]}
    out = write_coded_output(tmp_path / "out", units, codes_csv=False)
    (out / "sessions.csv").write_text("session_id,turns,note\ns\u00e9ance 1,4,bell\x07\n", encoding="utf-8")
    result = export_qdpx(out, tmp_path / "h.qdpx", codebook=codebook)
    root, document, sources = unpack(result.out)
    project_schema.validate(io.BytesIO(document))
    assert [u.get("name") for u in root.findall("q:Users/q:User", NS)] == ["transcript_coder model"]
    (text,) = sources.values()
    selections = root.findall("q:Sources/q:TextSource/q:PlainTextSelection", NS)
    assert [text[int(s.get("startPosition")):int(s.get("endPosition"))] for s in selections] == texts
    assert codings_by_unit(root)[("s\u00e9ance 1", 1)] == {("Client talk type", "change", "transcript_coder model")}
    case = root.find("q:Cases/q:Case", NS)
    assert case.get("name") == "s\u00e9ance 1"
    assert [v.find("q:TextValue", NS).text for v in case.findall("q:VariableValue", NS)
            if v.find("q:TextValue", NS) is not None] == ["bell\ufffd"]  # XML cannot hold U+0007


def test_the_codebook_the_run_recorded_describes_the_codes(tmp_path):
    """A run coded with a lab's own codebook folder exports that folder's names and definitions."""
    lab = tmp_path / "lab_codebooks"
    shutil.copytree(SCHEMAS.parents[2] / "configs" / "codebooks", lab)
    yaml = lab / "therapist_behaviour.yaml"
    yaml.write_text(yaml.read_text(encoding="utf-8").replace("name: Question\n", "name: Asking\n"), encoding="utf-8")
    out = write_coded_output(tmp_path / "out", {"s": [("T", "therapist", "Why?", {"therapist_behaviour": ("question", 0.9),
                                                                                  "question_type": ("open", 0.9)})]})
    (out / "sessions.csv").write_text("session_id,turns\ns,1\n", encoding="utf-8")
    (out / "run.json").write_text(json.dumps({"config": {"codebooks": str(lab)}, "models": []}), encoding="utf-8")
    root, _, _ = unpack(export_qdpx(out, tmp_path / "lab.qdpx").out)
    question = root.find(f"q:CodeBook/q:Codes/q:Code/q:Code[@guid='{code_guid('therapist_behaviour', 'question')}']", NS)
    assert question.find("q:Description", NS).text.startswith("Asking: ")
    assert main(["export", "qdpx", str(out), "--out", str(tmp_path / "cli.qdpx")]) == 0
    assert (tmp_path / "cli.qdpx").read_bytes() == (tmp_path / "lab.qdpx").read_bytes()


def test_codebook_only_writes_a_valid_qdc_with_the_projects_code_guids(exported, tmp_path, codebook):
    out = export_codebook(tmp_path / "codes.qdc", codebook=codebook)
    document = out.read_bytes()
    xmlschema.XMLSchema(SCHEMAS / "Codebook.xsd").validate(io.BytesIO(document))
    root = ET.fromstring(document)
    assert root.tag == "{urn:QDA-XML:codebook:1.0}CodeBook"
    qdc = [c.get("guid") for c in root.iter("{urn:QDA-XML:codebook:1.0}Code")]
    project, _, _ = unpack(exported[0])
    assert qdc == [c.get("guid") for c in project.find("q:CodeBook", NS).iter(f"{{{PROJECT_NAMESPACE}}}Code")]
    assert len(qdc) == len(set(qdc)) == sum(1 + len(s.codes) for s in exported_schemes(codebook))
    # the .qdc does not validate as a project: the two namespaces are not interchangeable
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        xmlschema.XMLSchema(SCHEMAS / "Project.xsd").validate(io.BytesIO(document))


def test_cli_export(coded_run, exported, tmp_path, capsys):
    assert main(["export", "qdpx", str(coded_run), "--out", str(tmp_path / "p.qdpx")]) == 0
    assert (tmp_path / "p.qdpx").read_bytes() == exported[0].read_bytes()
    assert main(["export", "qdpx", "--codebook-only", "--out", str(tmp_path / "c.qdc")]) == 0
    assert (tmp_path / "c.qdc").read_bytes().startswith(b"<?xml")
    assert "wrote" in capsys.readouterr().out
    assert main(["export", "qdpx", "--out", str(tmp_path / "n.qdpx")]) == 2  # no DIR
    assert main(["export", "qdpx", str(coded_run), "--out", str(tmp_path / "n.qdpx"), "--reviewer", "ana"]) == 2
    assert "E402" in capsys.readouterr().err
    assert main(["export", "qdpx", str(tmp_path), "--out", str(tmp_path / "n.qdpx")]) == 1  # not a run folder: E509
    assert "E509" in capsys.readouterr().err and not (tmp_path / "n.qdpx").exists()
