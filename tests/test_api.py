"""The Python API (issue 13): Coder loads models once, codes text, files and turns in memory, and
gives the same codes as a batch run; the README's "From Python" section runs as written."""

from __future__ import annotations

import contextlib
import io
import math
import re

import pytest

import transcript_coder
from transcript_coder import classify
from transcript_coder.errors import UsageError
from transcript_coder.writers.tables import DEFAULT_LAYOUT, coded_rows, layouts

from .conftest import ROOT
from .pipeline_support import SESSIONS, model_set, quickstart, read_rows  # noqa: F401 (fixtures)


def _readme_python() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## From Python\n", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    return block


def test_readme_from_python_runs_and_a_second_call_does_not_reload_models(monkeypatch):
    loads = []
    real = classify.load_model

    def counted(path, *args, **kwargs):  # the real loader, counted
        loads.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(classify, "load_model", counted)
    namespace: dict = {}
    with contextlib.chdir(ROOT), contextlib.redirect_stdout(io.StringIO()) as printed:
        exec(compile(_readme_python(), "README.md", "exec"), namespace)
    coder, first_loads = namespace["coder"], list(loads)
    assert sorted(first_loads) == sorted(str(d.path) for d in coder.models_.descriptions_)  # each model once
    assert "question" in printed.getvalue()
    frame = namespace["frame"]
    assert list(frame.columns) == list(layouts.get(DEFAULT_LAYOUT)) and len(frame) == 4
    assert list(frame["role"]) == ["therapist", "client", "therapist", "client"]
    assert frame["utterance_index"].tolist() == [0, 1, 2, 3]
    assert frame["therapist_behaviour"][0] == "question" and math.isnan(frame["therapist_behaviour_confidence"][1])
    # The README's three calls loaded each model once; a fourth call loads nothing either.
    models, resources = coder.models_, coder.resources_
    again = coder.code_text("Therapist: And how is sleep?\nClient: Bad, I wake at four.")
    assert loads == first_loads and coder.models_ is models and coder.resources_ is resources
    assert [r["role"] for r in again.rows()] == ["therapist", "client"]


def test_code_file_gives_the_batch_runs_codes_and_scores(quickstart, model_set):
    out = quickstart[0]
    coder = transcript_coder.Coder(models=model_set)
    for name in ("drinking_mi.txt", "smoking_mi_whisperx.json"):  # aliases; anonymous speakers (inferred roles)
        result = coder.code_file(SESSIONS / name)
        header, rows = read_rows(out / "coded" / f"{result.session.session_id}.csv")
        assert header == list(layouts.get(result.layout))
        assert [[str(c) for c in row] for row in coded_rows(result.session, result.layout)] == \
            [[row[c] for c in header] for row in rows]
        _, sessions = read_rows(out / "sessions.csv")
        [expected] = [s for s in sessions if s["session_id"] == result.session.session_id]
        for name_, value in result.scores.items():
            if name_ in expected and expected[name_] != "":
                assert value == pytest.approx(float(expected[name_]), abs=1e-3), name_


def test_code_turns_takes_pairs_dicts_and_stated_roles(model_set):
    coder = transcript_coder.Coder(models=model_set)
    pairs = coder.code_turns([("Dr Lee", "What would you like to change?"), ("Sam", "I want to stop smoking."),
                              ("Dr Lee", "You want to stop."), ("Sam", "Yes, I do.")], session_id="s1")
    assert pairs.session.session_id == "s1" and len(pairs.rows()) == 4
    assert [r["role"] for r in pairs.rows()] == ["therapist", "client", "therapist", "client"]
    stated = transcript_coder.Coder(models=model_set, roles={"Sam": "therapist"}).code_turns(
        [("Dr Lee", "What would you like to change?"), ("Sam", "I want to stop smoking.")])
    assert [r["role"] for r in stated.rows()][1] == "therapist"
    # Dicts with roles stated and times: roles come from the input, times travel through.
    dicts = coder.code_turns([{"speaker": "A", "text": "What would you like to change?", "role": "therapist",
                               "start": 0.0, "end": 2.5},
                              {"speaker": "B", "text": "I want to stop smoking.", "role": "client", "start": 2.5}])
    frame = dicts.to_pandas()
    assert list(frame["role"]) == ["therapist", "client"]
    assert frame["start"].tolist() == [0.0, 2.5] and frame["end"].tolist()[0] == 2.5 and math.isnan(frame["end"][1])
    assert dicts.session.roles.confidence is None  # stated, not inferred
    assert dicts.codes("client_emotion_fine")[0] is None and dicts.codes("client_emotion_fine")[1] is not None
    with pytest.raises(UsageError) as caught:
        coder.code_turns([("only a speaker",)])
    assert caught.value.code == "E402"


def test_code_text_reads_other_formats(model_set):
    vtt = ("WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n<v Therapist>What brings you in?\n\n"
           "00:00:03.500 --> 00:00:06.000\n<v Client>I can't sleep and it scares me.\n")
    result = transcript_coder.Coder(models=model_set).code_text(vtt, format="webvtt")
    frame = result.to_pandas()
    assert frame["start"].tolist() == [1.0, 3.5] and list(frame["role"]) == ["therapist", "client"]


def test_help_of_the_package_shows_how_to_use_it():
    assert "coder = Coder()" in transcript_coder.__doc__ and "to_pandas()" in transcript_coder.__doc__
    assert "Coder" in transcript_coder.__all__


def test_a_coder_built_from_folders_runs_on_the_device_asked_for():
    coder = transcript_coder.Coder(models=[ROOT / "models" / "annomi", ROOT / "models" / "goemotions"], device="cpu",
                                   runtime="torch_fp32.v1").load()
    assert coder.models_.device == "cpu" and coder.models_.runtime == "torch_fp32.v1"
    assert [d.name for d in coder.models_.descriptions_] == ["annomi", "goemotions"]
