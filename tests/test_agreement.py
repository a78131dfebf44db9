"""Agreement of two codings: exact kappa / F1 on a hand-built pair, ICC against the Shrout & Fleiss
(1979) example and an independent two-rater formula, alignment, columns, CLI and JSON."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from transcript_coder.agreement import agreement, compare_codings, icc
from transcript_coder.cli import main
from transcript_coder.codings import CodedRow
from transcript_coder.errors import DataError, UsageError
from transcript_coder.metrics import krippendorff_alpha
from transcript_coder.summarize import load_score_config
from transcript_coder.writers.tables import CODED_CSV_V1

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges.
SHROUT_FLEISS = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]

REFERENCE = list("qqqqrrrroo")
COMPARE = list("qqqrrrrooq")
NAMES = {"q": "question", "r": "reflection", "o": "other"}


def rows(session: str, behaviours: str | list[str], column: str = "codes", start: int = 0) -> list[CodedRow]:
    """Therapist units of one session coded with the given behaviours (one letter each)."""
    out = []
    for i, letter in enumerate(behaviours, start=start):
        codes = {"therapist_behaviour": NAMES[letter]}
        if letter == "q":
            codes["question_type"] = "open"
        out.append(CodedRow(path=None, row=i + 2, session_id=session, utterance_index=i, turn_index=i,
                            speaker="T", role="therapist", text=f"unit {i}",
                            **{column: codes}))
    return out


def two_rater_icc(x: np.ndarray) -> tuple[float, float]:
    """ICC(2,1) and ICC(3,1) for two raters from sums and differences (an independent formula):
    with S = var(a + b), D = var(a - b) and m = mean(a - b), ICC(3,1) = (S - D) / (S + D) and
    ICC(2,1) = (S - D) / (S + D + 2 (n m^2 - D) / n)."""
    a, b = x[:, 0], x[:, 1]
    n = len(a)
    s, d, m = np.var(a + b, ddof=1), np.var(a - b, ddof=1), np.mean(a - b)
    return (s - d) / (s + d + 2 * (n * m * m - d) / n), (s - d) / (s + d)


def test_icc_reproduces_shrout_and_fleiss():
    assert icc(SHROUT_FLEISS, "2,1") == pytest.approx(0.2898, abs=5e-5)  # published: .29
    assert icc(SHROUT_FLEISS, "3,1") == pytest.approx(0.7148, abs=5e-5)  # published: .71


def test_icc_two_raters_by_hand_and_by_an_independent_formula():
    x = np.array(SHROUT_FLEISS, dtype=float)[:, :2]
    # by hand: sums 11 7 12 8 15 8 -> var 9.3667; differences 7 5 4 6 5 4 -> var 1.3667, mean 31/6
    assert icc(x, "3,1") == pytest.approx(8.0 / 10.7333, abs=1e-4)  # 0.7453
    assert icc(x, "2,1") == pytest.approx(8.0 / 63.6667, abs=1e-4)  # 0.1257
    expected_2, expected_3 = two_rater_icc(x)
    assert icc(x, "2,1") == pytest.approx(expected_2) and icc(x, "3,1") == pytest.approx(expected_3)
    assert icc([[1, 1], [2, 2], [3, 3]], "2,1") == pytest.approx(1.0)
    assert math.isnan(icc([[1, 2]], "2,1"))


def test_krippendorff_alpha_reproduces_the_textbook_examples():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", example C: 4 observers, 12 units,
    # missing values, nominal: alpha = 0.743. By hand: 40 pairable values, margins n_c = 9, 13, 10, 5, 3,
    # off-diagonal coincidences 8, so alpha = 1 - 39 * 8 / (40^2 - 384) = 113/152
    n = None
    observers = [[1, 2, 3, 3, 2, 1, 4, 1, 2, n, n, n],
                 [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, n, 3],
                 [n, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, n],
                 [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, n]]
    assert krippendorff_alpha(observers) == pytest.approx(113 / 152)
    assert round(krippendorff_alpha(observers), 3) == 0.743
    # example A: two observers, binary, no missing data: alpha = 0.095 (= 1 - 19 * 8 / (2 * 14 * 6) = 2/21)
    assert krippendorff_alpha([[0, 1, 0, 0, 0, 0, 0, 0, 1, 0], [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]]) == pytest.approx(2 / 21)
    # the last unit of example C (one value) and a unit nobody coded add nothing
    assert krippendorff_alpha([row + [n] for row in observers]) == pytest.approx(113 / 152)
    assert krippendorff_alpha([["a", "b"], ["a", "b"]]) == 1.0
    assert math.isnan(krippendorff_alpha([["a", "a"], ["a", "a"]]))  # no variation: undefined
    assert math.isnan(krippendorff_alpha([["a", n], [n, "b"]]))  # nothing pairable


def test_kappa_and_f1_on_a_hand_built_pair(codebook):
    scores = load_score_config(codebook=codebook)
    result = compare_codings(rows("s1", REFERENCE), rows("s1", COMPARE), codebook, scores)
    report = result.schemes["therapist_behaviour"]
    # confusion (reference rows): q -> 3 q, 1 r; r -> 3 r, 1 o; o -> 1 o, 1 q
    assert report.n == 10 and report.accuracy == pytest.approx(0.7)
    assert report.kappa == pytest.approx((0.7 - 0.36) / (1 - 0.36))  # p_e = .4*.4 + .4*.4 + .2*.2
    # alpha by hand: coincidences o_qq = o_rr = 6, o_oo = 2, each off-diagonal pair 1 (both orders: 6 in
    # all); margins n_q = n_r = 8, n_o = 4, n = 20; alpha = 1 - 19 * 6 / (20^2 - 64 - 64 - 16) = 142/256
    assert report.alpha == pytest.approx(142 / 256)
    assert "Krippendorff's alpha 0.555" in report.table() and report.to_json()["alpha"] == pytest.approx(142 / 256)
    assert report.per_code["question"]["f1"] == pytest.approx(0.75)
    assert report.per_code["reflection"]["f1"] == pytest.approx(0.75)
    assert report.per_code["other"]["f1"] == pytest.approx(0.5)
    assert report.macro_f1 == pytest.approx(2.0 / 3.0)
    # question_type only where both coded a question: 3 units, all open
    assert result.schemes["question_type"].n == 3 and result.schemes["question_type"].accuracy == 1.0


def test_session_scores_and_their_icc_use_the_score_definitions(codebook):
    scores = load_score_config(codebook=codebook)
    ref = rows("a", "rrq") + rows("b", "rqq") + rows("c", "rrrrq") + rows("d", "oo")
    cmp = rows("a", "rqq") + rows("b", "rqq") + rows("c", "rrrqq") + rows("d", "oo")
    result = compare_codings(ref, cmp, codebook, scores)
    rq = result.scores["reflection_to_question"]
    assert rq.sessions == ["a", "b", "c"]  # d has no questions: no ratio on either side
    assert rq.reference == [2.0, 0.5, 4.0] and rq.compare == [0.5, 0.5, 1.5]
    expected_2, expected_3 = two_rater_icc(np.array([rq.reference, rq.compare]).T)
    assert rq.icc_2_1 == pytest.approx(expected_2) and rq.icc_3_1 == pytest.approx(expected_3)
    oq = result.scores["pct_open_questions"]
    assert oq.reference == [100.0] * 3 and oq.compare == [100.0] * 3
    assert math.isnan(oq.icc_2_1)  # no variance between sessions: undefined, reported as n/a
    assert "n/a" in result.table() and result.to_json()["scores"]["pct_open_questions"]["icc_2_1"] is None


def test_units_that_do_not_align_are_reported_not_scored(codebook):
    scores = load_score_config(codebook=codebook)
    result = compare_codings(rows("s1", "qqr"), rows("s1", "qq") + rows("s2", "r"), codebook, scores)
    assert result.n_aligned == 2 and result.only_reference == [("s1", 2)] and result.only_compare == [("s2", 0)]
    assert result.schemes["therapist_behaviour"].n == 2
    assert "only in reference: s1#2" in result.table()
    with pytest.raises(DataError) as err:
        compare_codings(rows("s1", "q"), rows("s2", "q"), codebook, scores)
    assert err.value.code == "E507"


def write_coded(path, session: str, behaviours: str, reviewed: str | None = None) -> None:
    """A coded CSV in the layout ``code`` writes; ``reviewed`` fills reviewed_therapist_behaviour."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CODED_CSV_V1)
        writer.writeheader()
        for i, letter in enumerate(behaviours):
            row = {c: "" for c in CODED_CSV_V1}
            row.update(session_id=session, utterance_index=i, turn_index=i, speaker="T", role="therapist",
                       text=f"unit {i}", therapist_behaviour=NAMES[letter], therapist_behaviour_confidence="0.9000")
            if reviewed:
                row["reviewed_therapist_behaviour"] = NAMES[reviewed[i]]
            writer.writerow(row)


def test_files_folders_columns_cli_and_json(tmp_path, codebook, capsys):
    human, model = tmp_path / "human", tmp_path / "model"
    human.mkdir(), model.mkdir()
    write_coded(human / "s1.csv", "s1", "qqqqrrrroo", reviewed="qqqqrrrroo")  # plain columns say the same
    write_coded(model / "s1.csv", "s1", "".join(COMPARE))
    write_coded(tmp_path / "supervised.csv", "s1", "".join(COMPARE), reviewed="".join(REFERENCE))
    direct = agreement([human], [model], codebook=codebook)
    assert direct.schemes["therapist_behaviour"].kappa == pytest.approx(0.53125)
    # a supervisor's reviewed_ columns as the reference, the same file's model codes as the comparison
    reviewed = agreement([tmp_path / "supervised.csv"], [tmp_path / "supervised.csv"], reference_columns="reviewed",
                         codebook=codebook)
    assert reviewed.schemes["therapist_behaviour"].kappa == pytest.approx(0.53125)
    assert agreement([tmp_path / "supervised.csv"], [model], reference_columns="merged",
                     codebook=codebook).schemes["therapist_behaviour"].kappa == pytest.approx(0.53125)
    with pytest.raises(UsageError) as err:
        agreement([human], [model], reference_columns="human", codebook=codebook)
    assert err.value.code == "E508"

    out = tmp_path / "agreement.json"
    assert main(["evaluate", "--reference", str(human), "--compare", str(model / "s1.csv"), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Cohen's kappa 0.531" in printed and "ICC(2,1)" in printed
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["aligned_units"] == 10 and data["schemes"]["therapist_behaviour"]["kappa"] == pytest.approx(0.53125)
    assert set(data["scores"]) == {"reflection_to_question", "pct_complex_reflections", "pct_open_questions",
                                   "pct_change_talk", "mi_adherent", "mi_non_adherent", "mi_adherent_per_100",
                                   "mi_non_adherent_per_100"}
    assert data["scores"]["mi_adherent"]["n"] == 0  # neither coding has mi_relational codes
    assert main(["evaluate", "--reference", str(human)]) == 2
    assert main(["evaluate", "--reference", str(tmp_path / "missing"), "--compare", str(model)]) == 1
    assert "E506" in capsys.readouterr().err
