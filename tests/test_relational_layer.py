"""The interpersonal-process layer end to end without a model for mi_relational and with one
simulated: MITI summary scores, the relationship map in sessions.csv, the review loop for
multi-label cells, and the report's "Relational process" section."""

from __future__ import annotations

import csv

import pytest

from transcript_coder.codings import CodedRow
from transcript_coder.report import build_session_view, load_report_config
from transcript_coder.review import ReviewError, review_import
from transcript_coder.summarize import load_score_config, summarize
from transcript_coder.types import Code, CodedUtterance, Utterance
from transcript_coder.writers.html import session_page
from transcript_coder.writers.tables import CODED_CSV_V2, session_header, write_csv


def unit(i: int, role: str, text: str = "", **codes: str) -> CodedUtterance:
    u = Utterance(utterance_index=i, turn_index=i, speaker=role.title(), role=role, text=text or f"unit {i}")
    return CodedUtterance(u, {s: Code(scheme=s, code=c, confidence=0.9, probabilities={}) for s, c in codes.items()})


@pytest.fixture(scope="module")
def scores(codebook):
    return load_score_config(codebook=codebook)


def session_units(with_mi: bool) -> list[CodedUtterance]:
    mi = (lambda code: {"mi_relational": code}) if with_mi else (lambda code: {})
    return [
        unit(0, "therapist", therapist_behaviour="question", question_type="open", **mi("seek_collaboration")),
        unit(1, "client", client_talk_type="change", client_emotion="sadness", client_relationships="partner;child"),
        unit(2, "therapist", therapist_behaviour="reflection", **mi("affirm;emphasize_autonomy")),
        unit(3, "client", client_talk_type="sustain", client_emotion="anger", client_relationships="partner"),
        unit(4, "therapist", therapist_behaviour="therapist_input", therapist_input_type="advice", **mi("persuade;confront")),
        unit(5, "client", client_talk_type="neutral", client_emotion="neutral", client_relationships=""),
        unit(6, "therapist", therapist_behaviour="other", **mi("")),
    ]


def test_miti_summary_scores_from_mi_relational(codebook, scores):
    summary = summarize("s", session_units(True), codebook, scores)
    assert summary.scores["mi_adherent"] == 3.0       # seek_collaboration + affirm + emphasize_autonomy
    assert summary.scores["mi_non_adherent"] == 2.0   # persuade + confront
    assert summary.scores["mi_adherent_per_100"] == pytest.approx(75.0)      # 3 per 4 therapist units
    assert summary.scores["mi_non_adherent_per_100"] == pytest.approx(50.0)
    assert summary.counts["mi_relational"]["affirm"] == 1 and "mi_relational" not in summary.unavailable
    assert "integrative" not in summary.unavailable


def test_without_a_model_the_scores_and_categories_are_unknown_not_zero(codebook, scores):
    summary = summarize("s", session_units(False), codebook, scores)
    assert summary.scores["mi_adherent"] is None and summary.scores["mi_adherent_per_100"] is None
    assert summary.unavailable["mi_relational"] == codebook["mi_relational"].code_ids
    assert summary.unavailable["integrative"] == ["alliance_building", "direction", "rupture_risk"]
    assert summary.scores["reflection_to_question"] == 1.0  # the other scores are untouched


def test_relationship_map_profiles_each_figure(codebook, scores):
    summary = summarize("s", session_units(True), codebook, scores)
    figures = summary.maps["relationship_map"]
    assert figures["partner"]["units"] == 2 and figures["child"]["units"] == 1 and figures["friend"]["units"] == 0
    assert {k: v for k, v in figures["partner"]["profile"].items() if v} == {"sadness": 1, "anger": 1}
    assert figures["partner"]["share"] == pytest.approx(50.0)   # one change, one sustain
    assert figures["child"]["share"] == pytest.approx(100.0)
    assert figures["friend"]["share"] is None
    header = session_header(codebook, scores)
    assert header.index("relationship_map.partner.units") < header.index("relationship_map.partner.client_emotion") \
        < header.index("relationship_map.partner.pct_change") < header.index("relationship_map.parent.units")


def _coded_csv(path, rows: list[dict]) -> None:
    write_csv(path, CODED_CSV_V2, ([r.get(c, "") for c in CODED_CSV_V2] for r in rows))


BASE = {"session_id": "s", "speaker": "T", "text": "x"}


def test_review_of_multi_label_cells(tmp_path, codebook):
    _coded_csv(tmp_path / "s.csv", [
        {**BASE, "utterance_index": 0, "turn_index": 0, "role": "therapist", "therapist_behaviour": "other",
         "reviewed_mi_relational": "Confront; affirm"},
        {**BASE, "utterance_index": 1, "turn_index": 1, "role": "client", "client_relationships": "partner",
         "reviewed_client_relationships": "none"},
        {**BASE, "utterance_index": 2, "turn_index": 2, "role": "client", "client_relationships": "friend;parent"},
    ])
    result = review_import([tmp_path / "s.csv"], tmp_path / "out.csv", codebook=codebook)
    units = {u.utterance_index: u for u in result.units}
    assert units[0].codes["mi_relational"] == "affirm;confront" and units[0].reviewed == ["mi_relational"]
    assert units[1].codes["client_relationships"] == ""
    with (tmp_path / "out.csv").open(encoding="utf-8", newline="") as handle:
        written = list(csv.DictReader(handle))
    assert written[0]["mi_relational"] == "affirm|confront"  # the training layout's separator
    assert written[2]["client_relationships"] == "friend|parent"


def test_review_refuses_an_unknown_code_in_a_multi_label_cell(tmp_path, codebook):
    _coded_csv(tmp_path / "s.csv", [
        {**BASE, "utterance_index": 0, "turn_index": 0, "role": "therapist", "therapist_behaviour": "other",
         "reviewed_mi_relational": "affirm;persuad"},
    ])
    with pytest.raises(ReviewError) as info:
        review_import([tmp_path / "s.csv"], tmp_path / "out.csv", codebook=codebook)
    [problem] = info.value.problems
    assert problem.code == "E501" and "persuade" in str(problem) and not (tmp_path / "out.csv").exists()


def _view(codebook, scores, with_mi: bool):
    from transcript_coder.writers.tables import session_row
    from transcript_coder.results import CodedSession
    from transcript_coder.roles import RoleAssignment

    units = session_units(with_mi)
    # the roll-up as coding derives it
    from transcript_coder.codes import code_unit  # noqa: F401 (documentation of where roll-ups come from)
    for u in units:
        if u.utterance.role == "therapist":
            decided = {s: c.code for s, c in u.codes.items()}
            code = codebook["integrative"].roll_up(decided)
            u.codes["integrative"] = Code(scheme="integrative", code=code, confidence=None, probabilities={})
    summary = summarize("s", units, codebook, scores)
    session = CodedSession(session_id="s", source="s.txt", reader="r", unit="turn.v1", n_turns=len(units),
                           roles=RoleAssignment.from_dict({"speakers": [], "turn_roles": {}, "confidence": None}),
                           utterances=units)
    row = dict(zip(session_header(codebook, scores), [str(c) for c in session_row(session, summary, codebook, scores)]))
    rows = [CodedRow(path=None, row=i + 2, session_id="s", utterance_index=u.utterance.utterance_index,
                     turn_index=u.utterance.turn_index, speaker=u.utterance.speaker, role=u.utterance.role,
                     text=u.utterance.text, codes={s: c.code for s, c in u.codes.items()}) for i, u in enumerate(units)]
    config = load_report_config(codebook=codebook, scores=scores)
    return build_session_view("s", rows, [], row, codebook, scores, config, 0.6)


def test_report_relational_section_with_mi_relational(codebook, scores):
    from transcript_coder.report import ReportView

    view = _view(codebook, scores, True)
    rel = view.relational
    assert rel.needs == []
    counts = {c.code: c.count for c in rel.categories}
    assert counts["alliance_building"] == 2 and counts["direction"] == 1 and counts["rupture_risk"] == 1
    assert [u.utterance_index for u in rel.ruptures] == [4]
    assert [(f.code, f.units) for f in rel.figures if f.units] == [("partner", 2), ("child", 1)]
    [plot] = rel.plots
    assert sorted(plot.points) == [(0, "alliance_building"), (2, "alliance_building"), (4, "direction"),
                                   (4, "rupture_risk")]
    page = session_page(view, ReportView(title="t", run={}, low_confidence=0.6, score_labels={}, sessions=[view]))
    section = page[page.index('<h2 id="relational">'):page.index("<h2>Transcript</h2>")]
    assert '<figure class="plot" id="plot-relational">' in section and "<svg" in section
    assert 'data-figure="partner"' in section and "anger 1, sadness 1" in section
    assert '<a href="#u4">4</a>' in section and "No model provides" not in section


def test_report_relational_section_without_mi_relational_says_so(codebook, scores):
    from transcript_coder.report import ReportView

    view = _view(codebook, scores, False)
    assert view.relational.needs == ["mi_relational"]
    counts = {c.code: c.count for c in view.rollup}
    assert counts["alliance_building"] is None and counts["active_listening"] == 1
    page = session_page(view, ReportView(title="t", run={}, low_confidence=0.6, score_labels={}, sessions=[view]))
    section = page[page.index('<h2 id="relational">'):page.index("<h2>Transcript</h2>")]
    assert "No model provides mi_relational yet" in section and "<svg" not in section
    assert 'data-figure="partner"' in section  # the rule-based map needs no model
    assert 'data-rollup="rupture_risk" class="unavailable"' in page


def test_review_workbook_offers_no_drop_down_for_multi_label_columns(codebook):
    from transcript_coder.review import ReviewUnit, build_review_sheet

    row = CodedRow(path=None, row=2, session_id="s", utterance_index=0, turn_index=0, speaker="C", role="client",
                   text="My wife.", codes={"client_emotion": "neutral", "client_relationships": "partner"})
    sheet = build_review_sheet([ReviewUnit(row, {"client_emotion": 0.9})],
                               ["client_emotion", "client_relationships"], codebook, 0.6)
    assert "reviewed_client_emotion" in sheet.choices and "reviewed_client_relationships" not in sheet.choices
    assert "reviewed_client_relationships" in sheet.columns
