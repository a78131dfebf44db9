"""``transcript-coder code --config FILE`` (issue 13): every option from a file, unknown keys
refused, the command line over the file, and a run's run.json re-runs it exactly."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from transcript_coder.batch import CodeOptions
from transcript_coder.cli import main
from transcript_coder.errors import ConfigError
from transcript_coder.readers import ReaderOptions
from transcript_coder.runconfig import load_code_config, merge_options, resolve_code_config

from .pipeline_support import SESSIONS, output_files


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_every_option_is_read_from_a_yaml_file(tmp_path):
    config = load_code_config(_write(tmp_path / "run.yaml", """
inputs: [sessions/, more/*.vtt]
out: coded
unit: sentence
models: [models/annomi, models/goemotions]
codebooks: my/codebooks
therapist: ["Dr. Lee"]
speaker_roles: {Mum: other}
role_mapping: roles.csv
reader: {speaker_columns: [Name], text_columns: [Said, text], encoding: cp1252}
batch_size: 16
threads: 2
force: true
runtime: torch_fp32.v1
window_units: 512
jobs: 2
max_units: 900
"""))
    assert config.inputs == ["sessions/", "more/*.vtt"] and config.out == "coded"
    options = config.options
    assert options.unit == "sentence" and options.models == (Path("models/annomi"), Path("models/goemotions"))
    assert options.codebooks == Path("my/codebooks") and options.role_mapping == Path("roles.csv")
    assert options.therapist == ("Dr. Lee",) and dict(options.speaker_roles) == {"Mum": "other"}
    assert options.reader.speaker_columns == ("Name",) and options.reader.text_columns == ("Said", "text")
    assert options.reader.encoding == "cp1252" and options.reader.role_columns == ReaderOptions().role_columns
    assert (options.batch_size, options.threads, options.force, options.runtime) == (16, 2, True, "torch_fp32.v1")
    assert (options.window_units, options.jobs, options.max_units) == (512, 2, 900)


@pytest.mark.parametrize("text, key", [("batch_sise: 16\n", "batch_sise"), ("reader: {speaker_column: [A]}\n",
                                                                              "reader.speaker_column"),
                                       ("batch_size: many\n", "batch_size")])
def test_an_unknown_key_or_bad_value_is_E002_naming_it(tmp_path, text, key):
    with pytest.raises(ConfigError) as caught:
        load_code_config(_write(tmp_path / "run.yaml", text))
    assert caught.value.code == "E002" and caught.value.fields["key"] == key


def test_the_command_line_wins_over_the_file(tmp_path):
    path = _write(tmp_path / "run.yaml", "inputs: [a.txt]\nout: o\nbatch_size: 16\nunit: sentence\n"
                                         "reader: {text_columns: [Said], encoding: cp1252}\n")
    given = CodeOptions(batch_size=8, reader=ReaderOptions(encoding="utf-8"))
    inputs, out, options = resolve_code_config(path, ["b.txt"], None, given)
    assert inputs == ["b.txt"] and out == "o"
    assert options.batch_size == 8 and options.unit == "sentence"  # given; from the file
    assert options.reader.encoding == "utf-8" and options.reader.text_columns == ("Said",)
    assert merge_options(CodeOptions(), CodeOptions(jobs=3)).jobs == 3


def test_run_json_reruns_the_run_exactly_from_the_command_line(tmp_path, caplog):
    inputs = [str(SESSIONS / "drinking_mi.txt"), str(SESSIONS / "work_anxiety_mi.csv")]
    first = tmp_path / "first"
    config = _write(tmp_path / "run.yaml", json.dumps({
        "inputs": inputs, "out": str(first), "unit": "sentence", "batch_size": 16,
        "models": ["models/annomi", "models/goemotions"], "speaker_roles": {"Counsellor": "therapist"},
        "reader": {"text_columns": ["utterance", "text"]}}))
    assert main(["code", "--config", str(config), "--quiet"]) == 0
    recorded = json.loads((first / "run.json").read_text())
    assert recorded["config"]["unit"] == "sentence.v1" and recorded["config"]["batch_size"] == 16
    assert recorded["config"]["roles"]["speakers"] == {"Counsellor": "therapist"}

    second = tmp_path / "second"
    with caplog.at_level(logging.WARNING):
        assert main(["code", "--config", str(first / "run.json"), *inputs, "--out", str(second), "--quiet"]) == 0
    assert not [r for r in caplog.records if "E009" in r.getMessage()]  # nothing changed since
    again = json.loads((second / "run.json").read_text())
    assert again["config"] == recorded["config"]
    assert [(m["name"], m["fingerprint"]) for m in again["models"]] == \
        [(m["name"], m["fingerprint"]) for m in recorded["models"]]
    ours, theirs = output_files(first), output_files(second)
    assert {k: v for k, v in ours.items() if k != "run.json"} == {k: v for k, v in theirs.items() if k != "run.json"}


def test_a_changed_role_config_since_the_run_is_warned_about(tmp_path, caplog):
    roles = _write(tmp_path / "roles.yaml", "x: 1\n")
    manifest = {"transcript_coder": "0.1.0", "config": {"roles": {"config": str(roles), "config_sha256": "0" * 64}},
                "models": []}
    path = _write(tmp_path / "run.json", json.dumps(manifest))
    with caplog.at_level(logging.WARNING):
        options = load_code_config(path).options
    assert options.role_config == roles and options.models == ()
    [warning] = [r.getMessage() for r in caplog.records if "E009" in r.getMessage()]
    assert "roles.config" in warning and str(roles) in warning


def test_an_option_added_to_code_later_is_read_by_its_default_type(tmp_path):
    """A CodeOptions field without a key of its own in the schema (device, from run.json) is read,
    checked against its default's type."""
    from dataclasses import fields

    if "device" not in {f.name for f in fields(CodeOptions)}:
        pytest.skip("CodeOptions has no device field")
    assert load_code_config(_write(tmp_path / "a.yaml", "device: cpu\n")).options.device == "cpu"
    with pytest.raises(ConfigError) as caught:
        load_code_config(_write(tmp_path / "b.yaml", "device: [cpu]\n"))
    assert caught.value.fields["key"] == "device"
