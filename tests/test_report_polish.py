"""Report polish (issue 13): a palette per scheme and a legend, fine emotions consistent with the
Ekman ones, the index with reference values, roles and warnings, integer count axes, no empty
Time column."""

from __future__ import annotations

import csv
import html
import re
import shutil

import pytest

from transcript_coder.codebook import split_codes
from transcript_coder.report import PlotData, load_report_config, report
from transcript_coder.summarize import load_score_config

from .pipeline_support import model_set, quickstart, read_rows  # noqa: F401 (fixtures)

TAG_RE = re.compile(r'<span class="tag[^"]*" style="background:(#[0-9a-f]{6})" title="[^"]*" data-scheme="([a-z_]+)">')
ROW_RE = re.compile(r'<tr class="[^"]*" id="u(\d+)">(.*?)</tr>', re.S)


@pytest.fixture(scope="module")
def coded(tmp_path_factory, quickstart):
    out = tmp_path_factory.mktemp("polish") / "out"
    shutil.copytree(quickstart[0], out)
    return out, report(out)


@pytest.fixture(scope="module")
def config(codebook):
    return load_report_config(None, codebook, load_score_config(codebook=codebook))


def _page(out, session) -> str:
    return (out / "report" / session.page).read_text(encoding="utf-8")


def test_each_scheme_has_its_own_colours_and_a_legend(coded, codebook, config):
    out, view = coded
    owner: dict[str, str] = {}
    for session in view.sessions:
        text = _page(out, session)
        for colour, scheme in TAG_RE.findall(text):
            if scheme == "client_emotion_fine":
                continue  # coloured as its Ekman group (checked below)
            assert owner.setdefault(colour, scheme) == scheme, f"{colour} used by {owner[colour]} and {scheme}"
            palette = config.palettes.get(scheme) or config.palette
            assert colour in palette
        schemes = {scheme for _, scheme in TAG_RE.findall(text)}
        legends = re.findall(r'<div class="legend" data-scheme="([a-z_]+)">(.*?)</div>', text)
        assert {s for s, _ in legends} == schemes
        for scheme, line in legends:  # every code of the scheme, with the colour its tags use
            swatches = re.findall(r'background:(#[0-9a-f]{6})"></span>([^<]+)', line)
            assert [html.unescape(n).strip() for _, n in swatches] == [c.name for c in codebook[scheme].codes]
    assert len(owner) > 8


def test_fine_emotions_agree_with_the_ekman_emotion_or_are_explained(coded, codebook, config):
    out, view = coded
    groups = {fine: coarse for coarse, members in config.nested[0].groups.items() for fine in members}
    ekman_colours = dict(zip(codebook["client_emotion"].code_ids, config.palettes["client_emotion"]))
    _, codes = read_rows(out / "codes.csv")
    for session in view.sessions:
        by_unit: dict[int, dict[str, str]] = {}
        for row in codes:
            if row["session_id"] == session.session_id:
                by_unit.setdefault(int(row["utterance_index"]), {})[row["scheme"]] = row["code"]
        disagree = sum(1 for u in by_unit.values() if u.get("client_emotion_fine")
                       and not any(groups[c] == u.get("client_emotion") for c in split_codes(u["client_emotion_fine"])))
        text = _page(out, session)
        for index, cells in ROW_RE.findall(text):
            tags = dict((s, c) for c, s in TAG_RE.findall(cells))
            if "client_emotion_fine" in tags:  # shown only inside the unit's Ekman emotion, in its colour
                ekman = by_unit[int(index)]["client_emotion"]
                assert tags["client_emotion_fine"] == ekman_colours[ekman]
        assert session.nested_hidden.get("Client emotion (fine-grained)", 0) == disagree
        if disagree:
            assert f"On {disagree} unit(s) they disagree" in text


def test_index_shows_reference_values_roles_and_flags_warnings(tmp_path, model_set):
    from transcript_coder.batch import code

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "fine.txt").write_text("Therapist: What brings you here today?\nClient: My drinking worries me.\n"
                                     "Therapist: It worries you.\nClient: Yes, I want to cut down.\n", encoding="utf-8")
    # The client speaks once: warning E126.
    (folder / "single.txt").write_text("Therapist: Hello, welcome.\nClient: Hi.\nTherapist: How are you?\n"
                                       "Therapist: Take your time.\n", encoding="utf-8")
    out = tmp_path / "out"
    code([folder], out, models=model_set)
    view = report(out)
    index = (out / "report" / "index.html").read_text(encoding="utf-8")
    sessions = {row["session_id"]: row for row in csv.DictReader(open(out / "sessions.csv", encoding="utf-8"))}
    assert "E126" in sessions["single"]["warnings"] and "E126" not in sessions["fine"]["warnings"]
    row = re.search(r'<tr data-session="single" class="warned">(.*?)</tr>', index, re.S)
    assert row and "E126" in row.group(1)
    assert re.search(r'<tr data-session="fine">', index)
    assert "1 session(s) with warnings to check" in index
    for name, session in sessions.items():
        cells = re.search(rf'<tr data-session="{name}"[^>]*>(.*?)</tr>', index, re.S).group(1)
        assert f"<td>{session['role_method']}" in cells
    assert re.search(r'data-score="reflection_to_question">[^<]*<br><span class="note">reference: fair 1.00, good 2.00',
                     index)
    assert re.search(r'data-score="pct_open_questions">[^<]*<br><span class="note">reference: fair 50.0 %, good 70.0 %',
                     index)
    page = (out / "report" / next(s.page for s in view.sessions if s.session_id == "single")).read_text()
    assert "warnings: E126" in page and "Roles: alias" in page


def test_time_column_only_when_the_input_has_times(coded):
    out, view = coded
    by_id = {s.session_id: s for s in view.sessions}
    assert not by_id["drinking_mi"].has_times and by_id["sleep_mi"].has_times
    plain, timed = _page(out, by_id["drinking_mi"]), _page(out, by_id["sleep_mi"])
    assert "<th>Time (s)</th>" not in plain and "<th>Time (s)</th>" in timed
    assert all(cells.count("<td") == 4 for _, cells in ROW_RE.findall(plain))
    assert all(cells.count("<td") == 5 for _, cells in ROW_RE.findall(timed))


def test_count_axes_have_integer_ticks_only():
    from transcript_coder.writers.html import plot_figure

    plot = PlotData(id="p", title="t", kind="cumulative", scheme_name="s", codes=["change", "sustain"],
                    code_names=["Change", "Sustain"], colours=["#1e8449", "#922b21"],
                    points=[(1, "change"), (3, "change"), (4, "sustain")], n_units=6)
    axes = plot_figure(plot).axes[0]
    ticks = [t for t in axes.get_yticks() if axes.get_ylim()[0] <= t <= axes.get_ylim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    xticks = [t for t in axes.get_xticks() if axes.get_xlim()[0] <= t <= axes.get_xlim()[1]]
    assert all(float(t).is_integer() for t in xticks)
