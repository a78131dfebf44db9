"""Roles: aliases, the role column, overrides, mapping files, and inference from pooled evidence."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from transcript_coder.errors import ConfigError, InputError, UsageError
from transcript_coder.roles import (
    RoleOverrides,
    assign_roles,
    attach_roles,
    label_key,
    load_role_config,
    load_role_mapping,
    mean_log_odds,
    needs_evidence,
    parse_role,
    pool_evidence,
    resolve_roles,
    role_from_label,
    role_warnings,
    split_role_option,
)
from transcript_coder.segment import segment
from transcript_coder.types import Session, Turn

from .conftest import FIXTURES, ROOT


@pytest.fixture(scope="module")
def config(codebook):
    return load_role_config(ROOT / "configs" / "roles.yaml", codebook)


def session(*turns: tuple, source: str = "s.txt") -> Session:
    """``session(("A", "text"), ("B", "text", "client"))``: turns with an optional role cell."""
    return Session(session_id="s", turns=[Turn(speaker=t[0], text=t[1], role=t[2] if len(t) > 2 else None)
                                          for t in turns], source=Path(source))


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def logit(p: float) -> float:
    return math.log(p / (1 - p))


# --- aliases ------------------------------------------------------------------------------------

def test_label_key_ignores_case_punctuation_and_underscores():
    assert label_key("Dr. Lee") == "dr lee"
    assert label_key("  SPEAKER_00 ") == "speaker 00"
    assert label_key("Co-Therapist:") == "co therapist"
    assert label_key("T.") == "t"


@pytest.mark.parametrize("label, role", [
    ("Therapist", "therapist"), ("THERAPIST", "therapist"), ("T", "therapist"), ("T.", "therapist"),
    ("Th", "therapist"), ("Counselor", "therapist"), ("Counsellor", "therapist"), ("Clinician", "therapist"),
    ("Interviewer", "therapist"), ("MI", "therapist"), ("Dr. Okafor", "therapist"), ("Doctor Lee", "therapist"),
    ("Therapist 2", "therapist"), ("T1", "therapist"), ("Co-therapist", "therapist"), ("Jane (therapist)", "therapist"),
    ("Therapist (Jane)", "therapist"),
    ("Client", "client"), ("client", "client"), ("C", "client"), ("Patient", "client"), ("P", "client"),
    ("Pt", "client"), ("Pt.", "client"), ("Client B", "client"), ("Maria (client)", "client"),
    ("Partner", "other"), ("Mother", "other"), ("Interpreter", "other"),
    ("SPEAKER_00", None), ("Speaker 1", None), ("Maria", None), ("Dana", None), ("UNKNOWN", None), ("", None),
])
def test_role_from_label(config, label, role):
    assert role_from_label(label, config) == role


def test_parse_role_accepts_role_names_and_aliases(config):
    assert parse_role("Therapist", config) == "therapist"
    assert parse_role("patient", config) == "client"
    assert parse_role("OTHER", config) == "other"
    assert parse_role("moderator", config) is None


def test_role_config_rejects_an_alias_listed_for_two_roles(tmp_path):
    path = tmp_path / "roles.yaml"
    path.write_text("version: 1\naliases:\n  therapist: [t, Counselor]\n  client: [counselor]\n"
                    "inference: {scheme: speaker_role, codes: {therapist: therapist, client: client}}\n")
    with pytest.raises(ConfigError) as caught:
        load_role_config(path)
    assert caught.value.code == "E002" and "both 'therapist' and 'client'" in str(caught.value)


def test_role_config_rejects_unknown_keys_and_unknown_codes(tmp_path, codebook):
    path = tmp_path / "roles.yaml"
    path.write_text("version: 1\naliases: {therapist: [t]}\nalias: {}\n"
                    "inference: {scheme: speaker_role, codes: {therapist: therapist, client: client}}\n")
    with pytest.raises(ConfigError) as caught:
        load_role_config(path)
    assert caught.value.code == "E002" and "alias: unknown key" in str(caught.value)
    path.write_text("version: 1\naliases: {therapist: [t]}\n"
                    "inference: {scheme: speaker_role, codes: {therapist: therapist, client: patient}}\n")
    with pytest.raises(ConfigError) as caught:
        load_role_config(path, codebook)
    assert caught.value.code == "E005" and "speaker_role.patient" in str(caught.value)


# --- known roles: column, alias, override -------------------------------------------------------

def test_aliases_decide_without_evidence(config):
    known = resolve_roles(session(("Counsellor", "Hi."), ("Patient", "Hello.")), config)
    assert {s: e.role for s, e in known.speakers.items()} == {"Counsellor": "therapist", "Patient": "client"}
    assert not needs_evidence(known)
    final = assign_roles(known)
    assert final.method == "alias" and final.confidence is None


def test_role_column_wins_over_the_alias_per_turn(config):
    # "Client" is an alias for client, but the role cells say otherwise; one turn differs.
    s = session(("Client", "How are you?", "therapist"), ("Ann", "Fine.", "client"),
                ("Client", "Good to hear.", "therapist"), ("Client", "Me? I'm fine.", "client"))
    known = resolve_roles(s, config)
    assert known.speakers["Client"].role == "therapist" and known.speakers["Client"].source == "column"
    assert known.turn_roles == {3: "client"}
    units = attach_roles(segment(s), assign_roles(known))
    assert [u.role for u in units] == ["therapist", "client", "therapist", "client"]


def test_override_wins_over_column_and_alias(config):
    s = session(("Therapist", "Hi.", "therapist"), ("SPEAKER_01", "Hello."))
    overrides = RoleOverrides(therapist=("speaker_01",), speakers=(("THERAPIST", "client"),))
    known = resolve_roles(s, config, overrides.for_session("s"))
    assert known.speakers["SPEAKER_01"].role == "therapist" and known.speakers["SPEAKER_01"].source == "override"
    assert known.speakers["Therapist"].role == "client" and known.turn_roles == {}


def test_mapping_file_entry_beats_cli_options():
    overrides = RoleOverrides(therapist=("A",), speakers=(("B", "client"),),
                              sessions={"s1": {"A": "client", "B": "therapist"}, "*": {"C": "other"}})
    assert overrides.for_session("s1") == {"a": "client", "b": "therapist", "c": "other"}
    assert overrides.for_session("s2") == {"a": "therapist", "b": "client", "c": "other"}


def test_unattributed_speaker_is_other_and_never_inferred(config):
    known = resolve_roles(session(("Therapist", "Hi."), ("UNKNOWN", "[noise]"), ("Maria", "Hi.")), config)
    assert known.speakers["UNKNOWN"].role == "other" and known.speakers["UNKNOWN"].source == "unattributed"
    final = assign_roles(known)  # Maria is the client by elimination; no evidence needed
    assert final.speakers["Maria"].role == "client" and final.speakers["Maria"].source == "elimination"


def test_third_speaker_is_other_when_both_roles_are_taken(config):
    known = resolve_roles(session(("T", "Hi."), ("C", "Hi."), ("Sam", "Hi.")), config)
    assert not needs_evidence(known)
    assert assign_roles(known).speakers["Sam"].role == "other"


# --- inference from pooled evidence -------------------------------------------------------------

def test_two_anonymous_speakers_pick_the_therapist_with_the_higher_mean_log_odds(config):
    known = resolve_roles(session(("SPEAKER_00", "a"), ("SPEAKER_01", "b")), config)
    assert needs_evidence(known)
    evidence = {"SPEAKER_00": np.array([0.2, 0.4]), "SPEAKER_01": np.array([0.9, 0.7])}
    final = assign_roles(known, evidence)
    assert final.speakers["SPEAKER_01"].role == "therapist" and final.speakers["SPEAKER_00"].role == "client"
    m0 = (logit(0.2) + logit(0.4)) / 2
    m1 = (logit(0.9) + logit(0.7)) / 2
    assert final.confidence == pytest.approx(sigmoid(m1 - m0))
    assert final.speakers["SPEAKER_01"].therapist_probability == pytest.approx(sigmoid(m1))
    assert final.method == "inferred"


def test_confidence_uses_the_mean_not_the_sum_of_unit_evidence():
    # Ten units at 0.6 are no more certain per unit than one: the mean keeps it on one unit's scale.
    assert mean_log_odds(np.full(10, 0.6)) == pytest.approx(mean_log_odds(np.array([0.6])))
    assert mean_log_odds(np.array([1.0, 0.0])) == pytest.approx(0.0, abs=1e-9)  # clipped, symmetric


def test_equal_evidence_gives_confidence_one_half_and_a_warning(config):
    s = session(("A", "x"), ("B", "y"))
    final = assign_roles(resolve_roles(s, config), {"A": np.array([0.5]), "B": np.array([0.5])})
    assert final.confidence == pytest.approx(0.5)
    assert final.speakers["A"].role == "therapist"  # ties go to the first speaker
    warnings = role_warnings(s, final, config)
    # (each role also has a single turn here: E126 twice)
    assert [w.code for w in warnings] == ["E117", "E126", "E126"] and "A=therapist (0.50)" in str(warnings[0])


def test_three_anonymous_speakers_map_therapist_and_client_and_mark_the_rest_other(config):
    s = session(("A", "x"), ("B", "y"), ("Z", "z"))
    evidence = {"A": np.array([0.3]), "B": np.array([0.95]), "Z": np.array([0.05])}
    final = assign_roles(resolve_roles(s, config), evidence)
    assert {n: e.role for n, e in final.speakers.items()} == {"A": "other", "B": "therapist", "Z": "client"}
    scores = {n: logit(evidence[n][0]) for n in evidence}
    t_conf = math.exp(scores["B"]) / sum(math.exp(v) for v in scores.values())
    c_conf = math.exp(-scores["Z"]) / (math.exp(-scores["Z"]) + math.exp(-scores["A"]))
    assert final.confidence == pytest.approx(min(t_conf, c_conf))


def test_known_therapist_and_two_anonymous_speakers_infers_only_the_client(config):
    s = session(("Therapist", "x"), ("Dana", "y"), ("Sam", "z"))
    final = assign_roles(resolve_roles(s, config), {"Dana": np.array([0.1]), "Sam": np.array([0.4])})
    assert final.speakers["Dana"].role == "client" and final.speakers["Sam"].role == "other"
    assert final.method == "alias+inferred"
    assert final.confidence == pytest.approx(sigmoid(logit(0.4) - logit(0.1)))


def test_one_speaker_session_takes_the_side_of_its_evidence_with_warning_e112(config):
    s = session(("SPEAKER_00", "x"), ("SPEAKER_00", "y"))
    final = assign_roles(resolve_roles(s, config), {"SPEAKER_00": np.array([0.2, 0.3])})
    assert final.speakers["SPEAKER_00"].role == "client"
    assert final.confidence == pytest.approx(sigmoid(abs((logit(0.2) + logit(0.3)) / 2)))
    warnings = role_warnings(s, final, config)
    assert [w.code for w in warnings] == ["E112"]
    assert "only one speaker ('SPEAKER_00'); coding it as client" in str(warnings[0])


def test_inference_without_a_model_is_error_e118(config):
    with pytest.raises(InputError) as caught:
        assign_roles(resolve_roles(session(("A", "x"), ("B", "y")), config), None, session(("A", "x")))
    assert caught.value.code == "E118" and "'A', 'B'" in str(caught.value)


def test_pool_evidence_renormalises_the_two_role_codes(config):
    probabilities = np.array([[0.6, 0.2], [0.1, 0.3], [np.nan, np.nan]], dtype=np.float32)
    pooled = pool_evidence(["A", "B", "A"], probabilities, ["therapist", "client"], config)
    assert pooled["A"] == pytest.approx([0.75]) and pooled["B"] == pytest.approx([0.25])


# --- options and mapping files ------------------------------------------------------------------

def test_split_role_option():
    assert split_role_option("SPEAKER_01=client") == ("SPEAKER_01", "client")
    assert split_role_option(" Dr. A = Therapist ") == ("Dr. A", "Therapist")
    for bad in ("SPEAKER_01", "=client", "A="):
        with pytest.raises(UsageError) as caught:
            split_role_option(bad)
        assert caught.value.code == "E404"


def test_load_role_mapping_csv_yaml_and_json(tmp_path, config):
    csv_path = tmp_path / "roles.csv"
    csv_path.write_text("session_id,speaker,role\ns1,SPEAKER_00,Therapist\ns1,SPEAKER_01,patient\n*,Mum,other\n")
    expected = {"s1": {"SPEAKER_00": "therapist", "SPEAKER_01": "client"}, "*": {"Mum": "other"}}
    assert load_role_mapping(csv_path, config) == expected
    yaml_path = tmp_path / "roles.yaml"
    yaml_path.write_text("s1: {SPEAKER_00: therapist, SPEAKER_01: client}\n'*': {Mum: other}\n")
    assert load_role_mapping(yaml_path, config) == expected
    json_path = tmp_path / "roles.json"
    json_path.write_text(json.dumps([{"session_id": "s1", "speaker": "SPEAKER_00", "role": "T"}]))
    assert load_role_mapping(json_path, config) == {"s1": {"SPEAKER_00": "therapist"}}


@pytest.mark.parametrize("content, detail", [
    ("session_id,speaker,role\ns1,A,therapist\ns1,B,boss\n", "line 3: unknown role 'boss'"),
    ("session,speaker\ns1,A\n", "line 1: missing column(s) session_id, role"),
    ("session_id,speaker,role\n,A,client\n", "line 2: session_id and speaker must not be empty"),
])
def test_bad_mapping_file_names_file_and_line(tmp_path, config, content, detail):
    path = tmp_path / "map.csv"
    path.write_text(content)
    with pytest.raises(UsageError) as caught:
        load_role_mapping(path, config)
    assert caught.value.code == "E403" and "map.csv" in str(caught.value) and detail in str(caught.value)


# --- end to end with the real model (needs the trained one) -------------------------------------

@pytest.fixture(scope="module")
def annomi_resources(codebook, config):
    from transcript_coder.classify import ModelSet
    from transcript_coder.pipeline import CodingResources

    return CodingResources(codebook=codebook, models=ModelSet([ROOT / "models" / "annomi"], codebook).load(),
                           role_config=config)


@pytest.mark.needs_trained_models
@pytest.mark.parametrize("name, therapist", [
    ("transcripts/labelled_speaker00.txt", "SPEAKER_00"),
    ("transcripts/labelled_speaker_numbers.md", "Speaker 1"),
    ("transcripts/whisperx_word_speakers.json", "SPEAKER_00"),
    ("sessions/smoking_mi_whisperx.json", "SPEAKER_00"),
])
def test_inference_finds_the_therapist_among_anonymous_speakers(annomi_resources, config, name, therapist):
    from transcript_coder.pipeline import code_transcript
    from transcript_coder.readers import read_transcript

    coded = code_transcript(read_transcript(FIXTURES / name), annomi_resources)
    roles = {s.speaker: s.role for s in coded.roles.speakers.values()}
    assert roles[therapist] == "therapist"
    assert sorted(roles.values()) == ["client", "therapist"]
    assert coded.roles.confidence >= config.inference.low_confidence


@pytest.mark.needs_trained_models
def test_inference_does_not_depend_on_who_speaks_first_or_label_order(annomi_resources, tmp_path):
    """Swap the anonymous labels and drop the opening turns so the client speaks first: the
    therapist must still be found from what each speaker says."""
    from transcript_coder.pipeline import code_transcript
    from transcript_coder.readers import read_transcript

    lines = (FIXTURES / "transcripts" / "labelled_speaker00.txt").read_text(encoding="utf-8").splitlines()
    swapped = [line.replace("SPEAKER_00", "@@").replace("SPEAKER_01", "SPEAKER_00").replace("@@", "SPEAKER_01")
               for line in lines]
    first_client = next(i for i, line in enumerate(swapped) if line.startswith("SPEAKER_00"))
    path = tmp_path / "swapped.txt"
    path.write_text("\n".join(swapped[first_client:]) + "\n", encoding="utf-8")
    session = read_transcript(path)
    assert session.turns[0].speaker == "SPEAKER_00"
    coded = code_transcript(session, annomi_resources)
    roles = {s.speaker: s.role for s in coded.roles.speakers.values()}
    assert roles == {"SPEAKER_00": "client", "SPEAKER_01": "therapist"}
