"""The batch engine end to end, in process, with the real models in models/."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from transcript_coder import __version__
from transcript_coder.classify import ModelSet
from transcript_coder.contexts import last_turn
from transcript_coder.errors import UsageError
from transcript_coder.pipeline import CodeOptions, code, expand_inputs, unique_session_ids
from transcript_coder.progress import RecordingHook
from transcript_coder.results import SessionRecord
from transcript_coder.writers import CODED_CSV_V1, CODED_CSV_V2, CODED_CSV_V3, CODES_COLUMNS, ERRORS_COLUMNS, session_header

from .conftest import ROOT
from .pipeline_support import (  # noqa: F401 (fixtures)
    BAD,
    FIVE_MB,
    SESSIONS,
    TRANSCRIPTS,
    model_set,
    output_files,
    quickstart,
    read_rows,
)

THERAPIST_CELLS = ["therapist_behaviour", "therapist_behaviour_confidence", "question_type", "reflection_type",
                   "therapist_input_type"]
CLIENT_CELLS = ["client_talk_type", "client_talk_type_confidence", "client_emotion", "client_emotion_confidence"]
SUBTYPES = {"question_type": "question", "reflection_type": "reflection", "therapist_input_type": "therapist_input"}


# --- output schema ------------------------------------------------------------------------------

def test_every_session_is_coded_with_progress_reported(quickstart):
    out, result, hook = quickstart
    assert result.ok and [r.status for r in result.records] == ["coded"] * 4
    assert [r.session_id for r in result.records] == ["drinking_mi", "sleep_mi", "smoking_mi_whisperx",
                                                       "work_anxiety_mi"]
    assert sorted(p.name for p in (out / "coded").iterdir()) == [f"{r.session_id}.csv" for r in result.records]
    assert hook.events[0] == ("start", "code", 4) and hook.events[-1] == ("finish", "code")
    advances = [e for e in hook.events if e[0] == "advance"]
    assert len(advances) == 4 and all(e[3]["turns_s"] > 0 for e in advances)


def test_coded_csv_has_exactly_the_issue_columns_and_empty_cells_for_other_roles(quickstart):
    out, result, _ = quickstart
    assert list(CODED_CSV_V1) == [
        "session_id", "utterance_index", "turn_index", "speaker", "role", "start", "end", "text",
        "therapist_behaviour", "therapist_behaviour_confidence", "question_type", "reflection_type",
        "therapist_input_type", "client_talk_type", "client_talk_type_confidence", "client_emotion",
        "client_emotion_confidence", "reviewed_therapist_behaviour", "reviewed_question_type",
        "reviewed_reflection_type", "reviewed_therapist_input_type", "reviewed_client_talk_type",
        "reviewed_client_emotion"]
    # v2 (the default, issue 12) adds the interpersonal-process schemes after v1's code columns.
    assert list(CODED_CSV_V2) == [*CODED_CSV_V1[:17], "mi_relational", "client_relationships", *CODED_CSV_V1[17:],
                                  "reviewed_mi_relational", "reviewed_client_relationships"]
    for record in result.records:
        header, rows = read_rows(out / "coded" / f"{record.session_id}.csv")
        assert header == list(CODED_CSV_V3)  # the default (issue 13): v2 + sub-code confidences + check
        # No model provides mi_relational: its column is empty; the relationship rules code clients.
        assert all(r["mi_relational"] == "" for r in rows)
        assert all(r["client_relationships"] == "" for r in rows if r["role"] != "client")
        assert [int(r["utterance_index"]) for r in rows] == list(range(len(rows))) == list(range(record.units))
        assert {r["session_id"] for r in rows} == {record.session_id}
        for row in rows:
            assert all(row[c] == "" for c in header if c.startswith("reviewed_"))  # for a supervisor to fill
            if row["role"] == "therapist":
                assert all(row[c] == "" for c in CLIENT_CELLS)
                assert row["therapist_behaviour"] and 0 < float(row["therapist_behaviour_confidence"]) <= 1
                for subtype, behaviour in SUBTYPES.items():
                    assert bool(row[subtype]) == (row["therapist_behaviour"] == behaviour)
            else:
                assert row["role"] == "client"
                assert all(row[c] == "" for c in THERAPIST_CELLS)
                assert row["client_talk_type"] and row["client_emotion"]
                assert len(row["client_emotion_confidence"].split(".")[1]) == 4


def test_coded_csv_keeps_speakers_text_and_timestamps(quickstart):
    out, _, _ = quickstart
    _, sleep = read_rows(out / "coded" / "sleep_mi.csv")
    assert (sleep[0]["speaker"], sleep[0]["role"], sleep[0]["start"], sleep[0]["end"]) == (
        "Therapist", "therapist", "2", "6.5")
    assert sleep[0]["text"] == "Last time we agreed you'd keep a sleep diary. How did that go?"
    assert sleep[3]["text"] == "Yeah. I'm in bed for nine hours and asleep for maybe five."  # cue lines joined
    _, drinking = read_rows(out / "coded" / "drinking_mi.csv")
    assert drinking[0]["start"] == drinking[0]["end"] == ""  # labelled text has no times
    _, work = read_rows(out / "coded" / "work_anxiety_mi.csv")
    assert [(r["speaker"], r["role"]) for r in work[:2]] == [("Counsellor", "therapist"), ("Tom", "client")]


def test_coded_csv_reads_back_as_training_data(quickstart, codebook):
    from transcript_coder.corpora import corpora

    out, _, _ = quickstart
    _, rows = read_rows(out / "coded" / "sleep_mi.csv")
    dataset = corpora.get("coded_csv.v1")(out / "coded" / "sleep_mi.csv", codebook)
    assert dataset.num_rows == len(rows)
    assert dataset[0]["therapist_behaviour"] == [rows[0]["therapist_behaviour"]]
    assert dataset[1]["client_talk_type"] == [rows[1]["client_talk_type"]] and last_turn(dataset[1]["context"]) == rows[0]["text"]


def test_codes_csv_is_the_long_table_of_the_same_decisions(quickstart, codebook):
    out, _, _ = quickstart
    header, rows = read_rows(out / "codes.csv")
    assert header == list(CODES_COLUMNS)
    coded = {}
    for record_id in ("drinking_mi", "sleep_mi", "smoking_mi_whisperx", "work_anxiety_mi"):
        for row in read_rows(out / "coded" / f"{record_id}.csv")[1]:
            coded[(record_id, row["utterance_index"])] = row
    by_unit: dict = {}
    for row in rows:
        by_unit.setdefault((row["session_id"], row["utterance_index"]), {})[row["scheme"]] = row
    assert set(by_unit) == set(coded)
    for key, schemes in by_unit.items():
        wide = coded[key]
        expected = {"therapist": {"therapist_behaviour", "integrative"}, "client": {
            "client_talk_type", "client_emotion", "client_emotion_fine"}}[wide["role"]]
        assert expected <= set(schemes) and "speaker_role" not in schemes
        for scheme, row in schemes.items():
            if scheme in CODED_CSV_V2:
                assert row["code"] == wide[scheme]
            if scheme == "client_relationships":  # rules: probabilities 1/0, no confidence
                probabilities = json.loads(row["probabilities"])
                assert row["confidence"] == "" and list(probabilities) == codebook[scheme].code_ids
                assert row["code"] == ";".join(c for c, p in probabilities.items() if p == 1.0)
                continue
            if scheme == "integrative":
                assert row["confidence"] == row["probabilities"] == ""
                continue
            probabilities = json.loads(row["probabilities"])
            assert list(probabilities) == codebook[scheme].code_ids
            assert max(probabilities, key=probabilities.get) == row["code"]
            assert float(row["confidence"]) == pytest.approx(probabilities[row["code"]], abs=1e-4)
            if scheme in ("therapist_behaviour", "client_talk_type", "question_type"):
                assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-3)


def test_sessions_csv_has_one_row_per_session_with_scores_from_the_counts(quickstart, codebook):
    out, result, _ = quickstart
    from transcript_coder.summarize import load_score_config

    header, rows = read_rows(out / "sessions.csv")
    assert header == session_header(codebook, load_score_config(codebook=codebook))
    assert header[:12] == ["session_id", "input", "reader", "unit", "turns", "units", "speakers", "role_method",
                           "role_confidence", "turns_therapist", "turns_client", "turns_other"]
    assert header[12] == "score_method" and {r["score_method"] for r in rows} == {"hard_counts"}
    assert [r["session_id"] for r in rows] == [r.session_id for r in result.records]
    for row in rows:
        _, units = read_rows(out / "coded" / f"{row['session_id']}.csv")
        behaviours = [u["therapist_behaviour"] for u in units if u["therapist_behaviour"]]
        questions, reflections = behaviours.count("question"), behaviours.count("reflection")
        assert int(row["n_therapist_behaviour.question"]) == questions
        assert int(row["n_therapist_behaviour.reflection"]) == reflections
        expected = "" if questions == 0 else f"{reflections / questions:.4f}"
        assert row["reflection_to_question"] == expected
        talk = [u["client_talk_type"] for u in units if u["client_talk_type"]]
        change, sustain = talk.count("change"), talk.count("sustain")
        assert row["pct_change_talk"] == ("" if change + sustain == 0 else f"{100 * change / (change + sustain):.4f}")
        emotions = [float(row[f"pct_client_emotion.{c}"]) for c in codebook["client_emotion"].code_ids]
        assert sum(emotions) == pytest.approx(100.0, abs=1e-3)
        assert int(row["turns_therapist"]) + int(row["turns_client"]) == int(row["turns"])
    methods = {r["session_id"]: (r["role_method"], r["role_confidence"]) for r in rows}
    assert methods["drinking_mi"] == ("alias", "") and methods["work_anxiety_mi"] == ("column", "")
    assert methods["smoking_mi_whisperx"][0] == "inferred" and 0.5 <= float(methods["smoking_mi_whisperx"][1]) <= 1


def test_run_json_names_versions_models_config_and_input_hashes(quickstart, codebook):
    out, result, _ = quickstart
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["transcript_coder"] == __version__
    assert [m["name"] for m in manifest["models"]] == ["annomi", "goemotions"]
    assert all(len(m["fingerprint"]) == 16 for m in manifest["models"])
    assert manifest["codebook"]["versions"] == codebook.versions()
    assert manifest["config"]["unit"] == "turn.v1" and manifest["config"]["batch_size"] == 64
    assert manifest["config"]["reader"]["text_columns"][0] == "text"
    for entry, path in zip(manifest["inputs"], sorted(SESSIONS.iterdir())):
        assert entry["input"] == str(path) and entry["status"] == "coded"
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest["counts"] == {"inputs": 4, "coded": 4, "failed": 0, "turns": 84,
                                  "units": sum(r.units for r in result.records),
                                  "warnings": len(result.problems("warning"))}
    assert manifest["this_run"]["coded"] == [r.session_id for r in result.records]
    assert all(entry["notes"] == [] for entry in manifest["inputs"])  # the quickstart files read cleanly
    assert manifest["this_run"]["skipped"] == []


def test_errors_csv_lists_only_warnings_for_a_clean_batch(quickstart):
    out, result, _ = quickstart
    header, rows = read_rows(out / "errors.csv")
    assert header == list(ERRORS_COLUMNS) == ["input", "session_id", "code", "line", "message", "level"]
    assert all(r["level"] == "warning" for r in rows)
    assert len(rows) == len(result.problems("warning"))


# --- resume ---------------------------------------------------------------------------------------

class InterruptAfter(RecordingHook):
    """Stops the run (as Ctrl-C would) once ``n`` sessions are done."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def advance(self, stage: str, n: int = 1, **postfix: object) -> None:
        super().advance(stage, n, **postfix)
        if sum(1 for e in self.events if e[0] == "advance") >= self.n:
            raise KeyboardInterrupt


def test_interrupted_run_resumes_to_identical_outputs(tmp_path, quickstart, model_set):
    reference, _, _ = quickstart  # one window of all four sessions
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):  # a window per session: the first one is written
        code([SESSIONS], out, CodeOptions(window_units=1), hook=InterruptAfter(1), models=model_set)
    assert [p.name for p in (out / "coded").iterdir()] == ["drinking_mi.csv"]
    assert not (out / "codes.csv").exists()
    result = code([SESSIONS], out, models=model_set)
    assert [r.status for r in result.records] == ["skipped", "coded", "coded", "coded"]
    assert output_files(out) == output_files(reference)


def test_a_run_killed_after_its_first_window_resumes_across_windows(tmp_path, quickstart, model_set):
    reference, _, _ = quickstart
    out = tmp_path / "out"
    # drinking_mi (24 units) + sleep_mi (20) fill the first 40-unit window, the other two the next.
    with pytest.raises(KeyboardInterrupt):
        code([SESSIONS], out, CodeOptions(window_units=40), hook=InterruptAfter(1), models=model_set)
    assert sorted(p.name for p in (out / "coded").iterdir()) == ["drinking_mi.csv", "sleep_mi.csv"]
    assert sorted(p.name for p in (out / ".state").iterdir()) == ["drinking_mi.json", "sleep_mi.json"]
    result = code([SESSIONS], out, CodeOptions(window_units=1), models=model_set)
    assert [r.status for r in result.records] == ["skipped", "skipped", "coded", "coded"]
    assert output_files(out) == output_files(reference)


def test_rerun_skips_everything_and_force_recodes_to_the_same_bytes(tmp_path, quickstart, model_set):
    out = tmp_path / "out"
    shutil.copytree(quickstart[0], out)  # the shared reference output stays untouched
    before = output_files(out)
    (out / "coded" / "sleep_mi.csv").unlink()  # a deleted coded file is re-rendered from its state
    again = code([SESSIONS], out, models=model_set)
    assert [r.status for r in again.records] == ["skipped"] * 4 and again.ok
    assert output_files(out) == before
    forced = code([SESSIONS], out, CodeOptions(force=True), models=model_set)
    assert [r.status for r in forced.records] == ["coded"] * 4
    assert output_files(out) == before
    assert json.loads((out / "run.json").read_text())["this_run"]["force"] is True


def test_changed_input_is_recoded_and_unchanged_ones_skipped(tmp_path, model_set):
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(SESSIONS / "drinking_mi.txt", inputs)
    shutil.copy(TRANSCRIPTS / "labelled_basic.txt", inputs)
    out = tmp_path / "out"
    code([inputs], out, models=model_set)
    with open(inputs / "labelled_basic.txt", "a") as handle:
        handle.write("Therapist: One more thing before we stop.\n")
    result = code([inputs], out, models=model_set)
    assert {r.session_id: r.status for r in result.records} == {"drinking_mi": "skipped", "labelled_basic": "coded"}
    assert read_rows(out / "coded" / "labelled_basic.csv")[1][-1]["text"] == "One more thing before we stop."


# --- bad input ----------------------------------------------------------------------------------

def test_bad_inputs_are_reported_and_the_rest_still_coded(tmp_path, model_set):
    inputs = tmp_path / "in"
    shutil.copytree(BAD, inputs)
    shutil.copy(SESSIONS / "drinking_mi.txt", inputs)
    (inputs / "huge_line.txt").write_text("word " * (FIVE_MB // 5))
    (inputs / "huge_turn.txt").write_text("Therapist: " + "so " * (FIVE_MB // 3) + "\nClient: Yes.\n")
    (inputs / "one_speaker.txt").write_text("Therapist: Hello?\nTherapist: Is anyone there?\n")
    out = tmp_path / "out"
    result = code([inputs, tmp_path / "missing.txt"], out, models=model_set)
    status = {r.session_id: r.status for r in result.records}
    assert status.pop("drinking_mi") == status.pop("huge_turn") == status.pop("one_speaker") == "coded"
    assert set(status.values()) == {"failed"} and not result.ok
    _, errors = read_rows(out / "errors.csv")
    by_id = {(r["session_id"], r["level"]): r for r in errors}
    expected = {
        "empty": ("E101", ""), "whitespace_only": ("E101", ""), "binary": ("E102", ""), "no_labels": ("E103", "3"),
        "vtt_no_speakers": ("E103", "4"), "malformed_timestamp": ("E104", "6"), "malformed_timing": ("E104", "6"),
        "timestamp_out_of_range": ("E104", "3"), "truncated": ("E105", "4"), "truncated_lines": ("E105", "3"),
        "undecodable": ("E106", ""), "no_text_column": ("E108", ""), "huge_line": ("E103", "1"), "": ("E401", ""),
    }
    assert {k[0] for k in by_id if k[1] == "error"} == set(expected)
    for session_id, (error_code, line) in expected.items():
        row = by_id[(session_id, "error")]
        assert (row["code"], row["line"]) == (error_code, line)
        assert Path(row["input"]).name in row["message"] and len(row["message"]) < 400
        assert "Traceback" not in row["message"]
    one = by_id[("one_speaker", "warning")]
    assert one["code"] == "E112" and "only one speaker ('Therapist'); coding it as therapist" in one["message"]
    assert not (out / "coded" / "no_labels.csv").exists()
    _, huge = read_rows(out / "coded" / "huge_turn.csv")
    assert len(huge[0]["text"]) == len("so " * (FIVE_MB // 3)) - 1 and huge[0]["therapist_behaviour"]
    _, sessions = read_rows(out / "sessions.csv")
    assert [r["session_id"] for r in sessions] == ["drinking_mi", "huge_turn", "one_speaker"]
    assert sessions[2]["warnings"].startswith("E112: ")


@pytest.mark.parametrize("stage", ["reading", "roles", "model call"])
def test_a_bug_in_one_session_is_reported_without_a_traceback(tmp_path, model_set, monkeypatch, stage):
    import transcript_coder.coding as coding
    import transcript_coder.engines.prepare as prepare

    if stage == "reading":
        real_segment = prepare.segment

        def flaky(session, *args):
            if session.session_id == "sleep_mi":
                raise ZeroDivisionError("division by zero")
            return real_segment(session, *args)

        monkeypatch.setattr(prepare, "segment", flaky)
    elif stage == "roles":
        real_warnings = coding.role_warnings

        def flaky(session, *args):
            if session.session_id == "sleep_mi":
                raise ZeroDivisionError("division by zero")
            return real_warnings(session, *args)

        monkeypatch.setattr(coding, "role_warnings", flaky)
    else:  # the window's one model call fails: its sessions are retried alone
        real_predict = model_set.predict

        def flaky(units, *args, **kwargs):
            if any("sleep diary" in u.text for u in units):
                raise ZeroDivisionError("division by zero")
            return real_predict(units, *args, **kwargs)

        monkeypatch.setattr(model_set, "predict", flaky)
    result = code([SESSIONS / "sleep_mi.vtt", SESSIONS / "drinking_mi.txt"], tmp_path / "out", models=model_set)
    assert [r.status for r in result.records] == ["failed", "coded"]
    problem = result.records[0].problems[0]
    assert problem.code == "E405" and "ZeroDivisionError: division by zero" in problem.message
    assert str(SESSIONS / "sleep_mi.vtt") in problem.message
    assert not (tmp_path / "out" / "coded" / "sleep_mi.csv").exists()


# --- inputs and session ids --------------------------------------------------------------------

def test_session_ids_are_stems_made_unique_in_input_order():
    paths = [Path("a/session.txt"), Path("b/session.vtt"), Path("c/Session.csv"), Path("d/session-2.txt"),
             Path("e/x:y.txt"), Path("f/.hidden.txt")]
    assert unique_session_ids(paths) == ["session", "session-2", "Session-3", "session-2-2", "x_y", "hidden"]
    assert unique_session_ids(list(reversed(paths)))[-1] == "session-4"  # input order decides


def test_two_inputs_with_the_same_stem_are_named_by_their_folder(tmp_path, model_set):
    for folder in ("site_a", "site_b"):
        (tmp_path / "in" / folder).mkdir(parents=True)
        shutil.copy(SESSIONS / "drinking_mi.txt", tmp_path / "in" / folder / "session.txt")
    result = code([tmp_path / "in" / "site_a", tmp_path / "in" / "site_b"], tmp_path / "clash", models=model_set)
    assert [(r.session_id, r.status, r.problems[0].code) for r in result.records] == [("session", "failed", "E420")] * 2
    result = code([tmp_path / "in"], tmp_path / "out", models=model_set)
    assert [r.session_id for r in result.records] == ["site_a/session", "site_b/session"]
    assert sorted(p.name for p in (tmp_path / "out" / "coded").iterdir()) == ["site_a~session.csv", "site_b~session.csv"]
    assert read_rows(tmp_path / "out" / "coded" / "site_b~session.csv")[1][0]["session_id"] == "site_b/session"


def test_expand_inputs_folders_globs_duplicates_and_the_output_folder(tmp_path):
    shutil.copytree(TRANSCRIPTS, tmp_path / "in")
    (tmp_path / "in" / ".hidden").mkdir()
    (tmp_path / "in" / ".hidden" / "x.txt").write_text("T: hi\n")
    (tmp_path / "in" / "out").mkdir()
    (tmp_path / "in" / "out" / "coded.csv").write_text("speaker,text\nT,hi\n")
    entries = expand_inputs([tmp_path / "in", str(tmp_path / "in" / "*.srt"), tmp_path / "nothing*.txt"],
                            exclude=(tmp_path / "in" / "out").resolve())
    files = [e for e in entries if isinstance(e, Path)]
    names = [p.name for p in files]
    assert "make_fixtures.py" not in names and "x.txt" not in names and "coded.csv" not in names
    assert names == sorted(names) and names.count("srt_basic.srt") == 1  # the glob repeats a folder file
    failed = [e for e in entries if isinstance(e, SessionRecord)]
    assert len(failed) == 1 and failed[0].problems[0].code == "E401"


# --- roles through options ---------------------------------------------------------------------

def test_role_overrides_from_options_and_a_mapping_file(tmp_path, model_set):
    smoking = SESSIONS / "smoking_mi_whisperx.json"
    result = code([smoking], tmp_path / "a", CodeOptions(therapist=("speaker_01",)), models=model_set)
    _, rows = read_rows(tmp_path / "a" / "coded" / "smoking_mi_whisperx.csv")
    assert {(r["speaker"], r["role"]) for r in rows} == {("SPEAKER_01", "therapist"), ("SPEAKER_00", "client")}
    assert result.problems() == []  # nothing inferred, so no low-confidence warning
    mapping = tmp_path / "roles.csv"
    mapping.write_text("session_id,speaker,role\nsmoking_mi_whisperx,SPEAKER_00,Counsellor\n"
                       "smoking_mi_whisperx,SPEAKER_01,patient\n")
    code([smoking], tmp_path / "b", CodeOptions(role_mapping=mapping, therapist=("SPEAKER_01",)), models=model_set)
    _, rows = read_rows(tmp_path / "b" / "sessions.csv")
    assert rows[0]["speakers"] == "SPEAKER_00=therapist; SPEAKER_01=client" and rows[0]["role_method"] == "override"


def test_third_speaker_is_coded_as_other_with_nothing_predicted(tmp_path, model_set):
    code([TRANSCRIPTS / "labelled_three_speakers.txt"], tmp_path / "out", models=model_set)
    _, rows = read_rows(tmp_path / "out" / "coded" / "labelled_three_speakers.csv")
    roles = {r["speaker"]: r["role"] for r in rows}
    assert roles["Therapist"] == "therapist" and sorted([roles["Dana"], roles["Sam"]]) == ["client", "other"]
    for row in rows:
        if row["role"] == "other":
            assert all(row[c] == "" for c in THERAPIST_CELLS + CLIENT_CELLS)


def test_session_without_therapist_or_client_fails_with_e119(tmp_path, model_set):
    path = tmp_path / "parents.txt"
    path.write_text("Mother: He never listens.\nFather: That is not fair.\n")
    result = code([path], tmp_path / "out", models=model_set)
    problem = result.records[0].problems[0]
    assert result.records[0].status == "failed" and problem.code == "E119"
    assert "parents.txt: no speaker is a therapist or a client (speakers: 'Mother', 'Father')" in problem.message


def test_without_a_speaker_role_model_anonymous_sessions_fail_with_e118(tmp_path, model_set, codebook):
    emotions_only = ModelSet([ROOT / "models" / "goemotions"], codebook).describe()
    emotions_only.models_ = {"goemotions": model_set.models_["goemotions"]}  # reuse the loaded weights
    result = code([SESSIONS / "smoking_mi_whisperx.json", SESSIONS / "drinking_mi.txt"], tmp_path / "out",
                  models=emotions_only)
    assert [r.status for r in result.records] == ["failed", "coded"]
    assert result.records[0].problems[0].code == "E118"
    _, rows = read_rows(tmp_path / "out" / "coded" / "drinking_mi.csv")
    assert all(r["therapist_behaviour"] == "" for r in rows)  # no model provides it
    assert all(r["client_emotion"] for r in rows if r["role"] == "client")


# --- models run once per window and phase, over the units that need them ----------------------

def test_each_model_runs_once_per_window_phase_over_the_units_that_need_it(tmp_path, model_set, monkeypatch):
    calls = []
    for name, model in model_set.models_.items():
        real = model.predict_proba

        def spy(texts, contexts=None, *, _name=name, _real=real, **kwargs):
            calls.append((_name, len(texts), tuple(kwargs["schemes"])))
            return _real(texts, contexts, **kwargs)

        monkeypatch.setattr(model, "predict_proba", spy)
    code([SESSIONS / "drinking_mi.txt"], tmp_path / "alias", models=model_set)
    # Roles known from aliases: annomi over therapist + client units, goemotions over client units,
    # each once, computing all of its heads.
    assert [(n, k) for n, k, _ in calls] == [("annomi", 24), ("goemotions", 12)]
    assert calls[0][2] == tuple(model_set.models_["annomi"].schemes)
    calls.clear()
    code([SESSIONS / "smoking_mi_whisperx.json"], tmp_path / "anonymous", models=model_set)
    # Anonymous speakers: annomi runs once over every unit (its speaker_role head decides roles,
    # its other heads are kept), then goemotions over the client units only.
    assert [n for n, _, _ in calls] == ["annomi", "goemotions"] and calls[0][1] == 20 and calls[1][1] == 10
    calls.clear()
    code([SESSIONS / "drinking_mi.txt", SESSIONS / "smoking_mi_whisperx.json"], tmp_path / "window",
         CodeOptions(window_units=100), models=model_set)  # the default codes a small batch per session
    # One window of both: role evidence over the anonymous session's 20 units, then annomi over the
    # units its first call did not cover (drinking_mi's 24) and goemotions over both sessions'
    # client units (12 + 10), each in one call.
    assert [(n, k) for n, k, _ in calls] == [("annomi", 20), ("annomi", 24), ("goemotions", 22)]


def test_sentence_units_end_to_end(tmp_path, model_set):
    code([SESSIONS / "sleep_mi.vtt"], tmp_path / "out", CodeOptions(unit="sentence"), models=model_set)
    _, rows = read_rows(tmp_path / "out" / "coded" / "sleep_mi.csv")
    turns = [int(r["turn_index"]) for r in rows]
    assert len(rows) > len(set(turns)) == 20 and turns == sorted(turns)
    assert [r["text"] for r in rows if r["turn_index"] == "3"] == [
        "Yeah.", "I'm in bed for nine hours and asleep for maybe five."]
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    assert manifest["config"]["unit"] == "sentence.v1"


# --- usage errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("options, error_code", [
    (CodeOptions(batch_size=0), "E410"),
    (CodeOptions(unit="paragraph"), "E409"),
    (CodeOptions(speaker_roles={"SPEAKER_00": "boss"}), "E404"),
])
def test_options_that_cannot_work_are_usage_errors(tmp_path, options, error_code, model_set):
    with pytest.raises(UsageError) as caught:
        code([SESSIONS], tmp_path / "out", options, models=model_set)
    assert caught.value.code == error_code
    assert not (tmp_path / "out").exists()


def test_no_input_file_at_all_is_a_usage_error(tmp_path, model_set):
    with pytest.raises(UsageError) as caught:
        code([tmp_path / "nothing.txt", str(tmp_path / "*.vtt")], tmp_path / "out", models=model_set)
    assert caught.value.code == "E401"
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError) as caught:
        code([SESSIONS], tmp_path / "file", models=model_set)
    assert caught.value.code == "E406"



def test_model_presets_and_folders_of_models_resolve_to_their_model_folders(codebook):
    """``--model fast`` is the shipped fast model; a folder of models means every model in it; a
    model folder is itself; a name that is none of these stays as given and fails when loaded."""
    from transcript_coder.classify import resolve_model_paths
    from transcript_coder.errors import ModelError

    from .conftest import ROOT

    fast = ROOT / "models" / "fast" / "annomi_goemotions"
    assert resolve_model_paths(["fast"]) == [fast]
    assert resolve_model_paths([ROOT / "models" / "fast", ROOT / "models" / "annomi"]) == [fast, ROOT / "models" / "annomi"]
    described = ModelSet(["fast"], codebook).describe()
    assert {d.path for d in described.descriptions_} == {fast}
    assert "client_emotion" in described.providers_ and "therapist_behaviour" in described.providers_
    with pytest.raises(ModelError) as caught:
        ModelSet(["fastest"], codebook).describe()
    assert caught.value.code == "E201" and "fastest" in str(caught.value)
