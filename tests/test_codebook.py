"""Codebook loading and validation: every error names the file and the key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from transcript_coder.codebook import load_codebook, load_scheme
from transcript_coder.errors import ConfigError

from .conftest import ROOT

DEFAULT = ROOT / "configs" / "codebooks"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def copy_default(tmp_path: Path) -> Path:
    target = tmp_path / "codebooks"
    shutil.copytree(DEFAULT, target)
    return target


def test_default_codebook_has_the_documented_schemes(codebook):
    assert codebook["therapist_behaviour"].code_ids == ["question", "reflection", "therapist_input", "other"]
    assert codebook["client_talk_type"].code_ids == ["change", "neutral", "sustain"]
    assert codebook["client_emotion"].code_ids == ["anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral"]
    assert len(codebook["client_emotion_fine"].codes) == 28
    assert codebook["question_type"].applies_when.codes == ["question"]
    assert codebook["integrative"].kind == "rollup"
    assert [s.id for s in codebook.for_role("client", kind="classifier")] == [
        "client_emotion", "client_emotion_fine", "client_talk_type"]
    assert codebook["speaker_role"].role == "any"


def test_dependency_order_puts_conditions_first(codebook):
    order = [s.id for s in codebook.ordered()]
    for dependent in ("question_type", "reflection_type", "therapist_input_type", "integrative"):
        assert order.index("therapist_behaviour") < order.index(dependent)
    assert order.index("question_type") < order.index("integrative")


@pytest.mark.parametrize("codes, expected", [
    ({"therapist_behaviour": "reflection", "reflection_type": "simple"}, "active_listening"),
    ({"therapist_behaviour": "question", "question_type": "open"}, "exploration"),
    ({"therapist_behaviour": "question", "question_type": "closed"}, "other"),
    ({"therapist_behaviour": "therapist_input", "therapist_input_type": "information"}, "information_feedback"),
    ({"therapist_behaviour": "therapist_input", "therapist_input_type": "advice"}, "information_feedback"),
    ({"therapist_behaviour": "other"}, "other"),
    # integrative v2 is multi-label and reads the relational behaviours (issue 12)
    ({"therapist_behaviour": "other", "mi_relational": "affirm"}, "alliance_building"),
    ({"therapist_behaviour": "reflection", "mi_relational": "emphasize_autonomy"}, "active_listening;alliance_building"),
    ({"therapist_behaviour": "therapist_input", "mi_relational": "persuade"}, "information_feedback;direction"),
    ({"therapist_behaviour": "other", "mi_relational": "persuade_with_permission"}, "information_feedback"),
    ({"therapist_behaviour": "other", "mi_relational": "persuade;confront"}, "direction;rupture_risk"),
    ({"therapist_behaviour": "other", "mi_relational": ""}, "other"),
])
def test_integrative_rollup(codebook, codes, expected):
    assert codebook["integrative"].roll_up(codes) == expected


def test_applies_when(codebook):
    scheme = codebook["reflection_type"]
    assert scheme.applies({"therapist_behaviour": "reflection"})
    assert not scheme.applies({"therapist_behaviour": "question"})
    assert codebook["therapist_behaviour"].applies({})


def test_unknown_key_names_file_and_key(tmp_path):
    path = write(tmp_path, "x.yaml", "id: x\nversion: 1\nname: X\nrole: client\ncodez: []\ncodes:\n"
                 "  - {id: a, name: A, definition: d}\n  - {id: b, name: B, definition: d}\n")
    with pytest.raises(ConfigError) as err:
        load_scheme(path)
    assert err.value.code == "E002"
    assert str(path) in str(err.value) and "codez" in str(err.value) and "unknown key" in str(err.value)


def test_unknown_key_inside_a_code(tmp_path):
    path = write(tmp_path, "x.yaml", "id: x\nversion: 1\nname: X\nrole: client\ncodes:\n"
                 "  - {id: a, name: A, definition: d, colour: red}\n  - {id: b, name: B, definition: d}\n")
    with pytest.raises(ConfigError) as err:
        load_scheme(path)
    assert "codes.0.colour" in str(err.value)


@pytest.mark.parametrize("body, key", [
    ("id: x\nversion: 1\nname: X\nrole: coach\n", "role"),
    ("id: X-1\nversion: 1\nname: X\nrole: client\n", "id"),
    ("id: x\nversion: 0\nname: X\nrole: client\n", "version"),
])
def test_bad_values_name_the_key(tmp_path, body, key):
    path = write(tmp_path, "x.yaml", body + "codes:\n  - {id: a, name: A, definition: d}\n  - {id: b, name: B, definition: d}\n")
    with pytest.raises(ConfigError) as err:
        load_scheme(path)
    assert err.value.code == "E002"
    assert err.value.fields["key"] == key


def test_duplicate_codes_rejected(tmp_path):
    path = write(tmp_path, "x.yaml", "id: x\nversion: 1\nname: X\nrole: client\ncodes:\n"
                 "  - {id: a, name: A, definition: d}\n  - {id: a, name: B, definition: d}\n")
    with pytest.raises(ConfigError, match="defined twice"):
        load_scheme(path)


def test_yaml_syntax_error(tmp_path):
    path = write(tmp_path, "x.yaml", "id: [unclosed\n")
    with pytest.raises(ConfigError) as err:
        load_scheme(path)
    assert err.value.code == "E001" and str(path) in str(err.value)


def test_duplicate_scheme_id_across_files(tmp_path):
    folder = copy_default(tmp_path)
    shutil.copy(folder / "client_talk_type.yaml", folder / "zz_copy.yaml")
    with pytest.raises(ConfigError) as err:
        load_codebook(folder)
    assert err.value.code == "E003" and "zz_copy.yaml" in str(err.value)


def test_condition_referring_to_missing_code(tmp_path):
    folder = copy_default(tmp_path)
    path = folder / "question_type.yaml"
    path.write_text(path.read_text().replace("codes: [question]", "codes: [questions]"))
    with pytest.raises(ConfigError) as err:
        load_codebook(folder)
    assert err.value.code == "E005" and "therapist_behaviour.questions" in str(err.value)


def test_rollup_rule_code_must_exist(tmp_path):
    folder = copy_default(tmp_path)
    path = folder / "integrative.yaml"
    path.write_text(path.read_text().replace("- code: direction", "- code: directing"))
    with pytest.raises(ConfigError) as err:
        load_codebook(folder)
    assert "directing" in str(err.value) and str(path) in str(err.value)


def test_a_lab_scheme_is_just_config(tmp_path):
    folder = copy_default(tmp_path)
    write(folder, "helping_skills.yaml", "id: helping_skills\nversion: 1\nname: Helping skills\nrole: therapist\ncodes:\n"
          "  - {id: restatement, name: Restatement, definition: Repeats the content.}\n"
          "  - {id: self_disclosure, name: Self-disclosure, definition: Shares own experience.}\n")
    codebook = load_codebook(folder)
    assert codebook["helping_skills"].code_ids == ["restatement", "self_disclosure"]


def test_missing_folder(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_codebook(tmp_path / "nope")
    assert err.value.code == "E007"
