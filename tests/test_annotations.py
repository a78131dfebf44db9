"""The team's annotation files: loading keyed by transcript and utterance, errors for bad files,
and the agreement figures between passes."""

from __future__ import annotations

import math

import pytest

from transcript_coder.annotations import (PASSES, annotation_agreement, binary_agreement, cohen_kappa,
                                          label_scores, read_pass)
from transcript_coder.errors import DataError


def _write_set(folder, pass1: str, pass2: str, round2: str = ""):
    """Every file of the mi_relational set: ``pass1`` in round 1's first pass-1 file, ``round2`` in
    round 2's, ``pass2`` in round 1's pass-2 file; the others empty."""
    header = "transcript_id,utterance_id,codes,annotator\n"
    for files in PASSES["mi_relational"].values():
        for name in files:
            (folder / name).write_text(header, encoding="utf-8")
    (folder / "pass1_part_a.csv").write_text(header + pass1, encoding="utf-8")
    (folder / "pass1_part_c.csv").write_text(header + round2, encoding="utf-8")
    (folder / "pass2.csv").write_text(header + pass2, encoding="utf-8")


def test_pass_is_keyed_and_codes_in_codebook_order(tmp_path, codebook):
    _write_set(tmp_path, "1,0,confront;affirm,a\n1,2,,a\n", "")
    units = read_pass("mi_relational", "pass1", codebook, tmp_path)
    assert units[("1", "0")].codes == {"mi_relational": ["affirm", "confront"]}
    assert units[("1", "2")].codes == {"mi_relational": []}


def test_rounds_select_files_and_default_to_every_round(tmp_path, codebook):
    _write_set(tmp_path, "1,0,affirm,a\n", "", round2="2,0,persuade,c\n")
    assert set(read_pass("mi_relational", "pass1", codebook, tmp_path)) == {("1", "0"), ("2", "0")}
    assert set(read_pass("mi_relational", "pass1", codebook, tmp_path, rounds=[1])) == {("1", "0")}
    assert set(read_pass("mi_relational", "pass1", codebook, tmp_path, rounds=[2])) == {("2", "0")}


def test_unknown_code_is_e520_with_row_and_column(tmp_path, codebook):
    _write_set(tmp_path, "1,0,affirm,a\n1,2,afirm,a\n", "")
    with pytest.raises(DataError) as info:
        read_pass("mi_relational", "pass1", codebook, tmp_path)
    assert info.value.code == "E520" and "row 3" in str(info.value) and "'afirm'" in str(info.value)


def test_unit_labelled_twice_is_e521(tmp_path, codebook):
    _write_set(tmp_path, "1,0,affirm,a\n1,0,,a\n", "")
    with pytest.raises(DataError) as info:
        read_pass("mi_relational", "pass1", codebook, tmp_path)
    assert info.value.code == "E521"


def test_binary_agreement_by_hand():
    # 10 units; pass a codes the code on units 0-2, pass b on units 0, 1 and 3.
    a = [["x"]] * 3 + [[]] * 7
    b = [["x"], ["x"], [], ["x"]] + [[]] * 6
    result = binary_agreement("x", a, b)
    # observed 0.8; expected 0.3*0.3 + 0.7*0.7 = 0.58; kappa = 0.22 / 0.42
    assert result.percent_agreement == pytest.approx(0.8)
    assert result.kappa == pytest.approx(0.22 / 0.42)
    assert (result.count_a, result.count_b, result.prevalence_a) == (3, 3, 0.3)
    # Krippendorff: 20 values, 6 x, 14 not; disagreements 2 pairs -> 1 - (19 * 4/20... ) computed directly
    n, nx, no = 20, 6, 14
    expected_alpha = 1 - (n - 1) * (2 * 2 / 1) / (2 * nx * no)
    assert result.alpha == pytest.approx(expected_alpha)


def test_kappa_undefined_when_nobody_uses_the_code():
    assert math.isnan(cohen_kappa([False] * 5, [False] * 5))
    assert math.isnan(binary_agreement("x", [[]] * 4, [[]] * 4).alpha)


def test_label_scores():
    scores = label_scores(["a", "b"], [["a"], ["a", "b"], []], [["a"], ["a"], ["b"]])
    assert scores["a"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2, "predicted": 2}
    assert scores["b"]["precision"] == 0.0 and scores["b"]["recall"] == 0.0
    assert scores["micro"]["precision"] == pytest.approx(2 / 3) and scores["micro"]["recall"] == pytest.approx(2 / 3)


def test_team_labels_against_annomi(shared_data, codebook, monkeypatch):
    """The repository's labels load, match AnnoMI therapist / client turns, cover the issue's
    minimum (60 transcripts, 20 % double-coded) and give the figures the README reports."""
    monkeypatch.setenv("TRANSCRIPT_CODER_DATA", str(shared_data))
    result = annotation_agreement(codebook)
    cov = result.coverage["mi_relational"]
    assert cov["pass1 transcripts"] >= 60 and cov["pass2 transcripts"] >= 0.2 * cov["pass1 transcripts"]
    mi = next(s for s in result.schemes if s.scheme == "mi_relational")
    assert mi.units == 791 and [c.code for c in mi.codes][:6] == codebook["mi_relational"].code_ids
    assert next(c for c in mi.codes if c.code == "affirm").kappa == pytest.approx(0.94, abs=0.01)
    assert cov["pass1 transcripts"] == 106 and result.coverage["client_turns"]["pass1 units"] == 4098
    assert result.relationships_rules["micro"]["support"] == 656
    # round 3's transcripts, never read while writing the patterns
    assert result.relationships_rules_unseen["micro"]["support"] == 273


def test_cli_writes_the_agreement_json(shared_data, monkeypatch, tmp_path, capsys):
    import json

    from transcript_coder.cli import main

    monkeypatch.setenv("TRANSCRIPT_CODER_DATA", str(shared_data))
    out = tmp_path / "agreement.json"
    assert main(["annotations", "agreement", "--no-rules", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| `affirm` | 791 |" in printed and f"wrote {out}" in printed
    data = json.loads(out.read_text(encoding="utf-8"))
    mi = next(s for s in data["schemes"] if s["scheme"] == "mi_relational")
    assert mi["units"] == 791 and data["client_relationships_rules_vs_pass1"] == {}


def test_agreement_by_code_for_a_model_card(codebook):
    from transcript_coder.annotations import agreement_by_code

    figures = agreement_by_code("mi_relational", codebook)
    assert list(figures)[:6] == codebook["mi_relational"].code_ids
    assert figures["affirm"]["n"] == 791 and figures["affirm"]["kappa"] == pytest.approx(0.94, abs=0.01)
    assert figures["confront"]["prevalence"] == pytest.approx(9 / 791, abs=1e-4)


def test_a_config_names_rounds_for_several_label_sets_at_once():
    """``team_label_rounds: [1, 2, 3]`` reads rounds 1-2 of `mi_relational` (it has no third) and
    all three of `client_turns`; a round no label set has is left for read_pass to refuse (E524)."""
    from transcript_coder.annotations import rounds_of

    both = ["mi_relational", "client_turns"]
    assert rounds_of("mi_relational", "pass1", (1, 2, 3), both) == (1, 2)
    assert rounds_of("client_turns", "pass1", (1, 2, 3), both) == (1, 2, 3)
    assert rounds_of("mi_relational", "pass1", (1, 3), ["mi_relational"]) == (1, 3)  # E524 follows
    assert rounds_of("client_turns", "pass1", (1, 7), both) == (1, 7)
