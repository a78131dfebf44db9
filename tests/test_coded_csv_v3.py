"""The coded CSV (issue 13): every code with its confidence beside it, sub-codes included, and a
``check`` column listing the codes below the report's threshold."""

from __future__ import annotations

from transcript_coder.report import load_report_config
from transcript_coder.writers.tables import CODED_CSV_V3, DEFAULT_CHECK_BELOW, DEFAULT_LAYOUT

from .pipeline_support import model_set, quickstart, read_rows  # noqa: F401 (fixtures)

SUB_CODES = ("question_type", "reflection_type", "therapist_input_type")


def test_v3_is_the_default_with_sub_code_confidences_and_check():
    assert DEFAULT_LAYOUT == "coded_csv.v3"
    columns = list(CODED_CSV_V3)
    for scheme in SUB_CODES + ("therapist_behaviour", "client_talk_type", "client_emotion"):
        assert columns[columns.index(scheme) + 1] == f"{scheme}_confidence"
    assert "check" in columns and columns.index("check") < columns.index("reviewed_therapist_behaviour")
    assert "reviewed_check" not in columns and not any(c.startswith("reviewed_") and c.endswith("_confidence")
                                                       for c in columns)


def test_check_threshold_is_the_reports():
    assert DEFAULT_CHECK_BELOW == load_report_config().low_confidence


def test_coded_csv_confidences_match_codes_csv_and_check_lists_the_low_ones(quickstart):
    out, result, _ = quickstart
    _, long_rows = read_rows(out / "codes.csv")
    confidence = {(r["session_id"], r["utterance_index"], r["scheme"]): r["confidence"] for r in long_rows}
    seen_sub, seen_check = 0, 0
    for record in result.records:
        header, rows = read_rows(out / "coded" / f"{record.session_id}.csv")
        assert header == list(CODED_CSV_V3)
        for row in rows:
            key = (row["session_id"], row["utterance_index"])
            for scheme in SUB_CODES:
                if row[scheme]:
                    seen_sub += 1
                    assert row[f"{scheme}_confidence"] == confidence[(*key, scheme)] != ""
                else:
                    assert row[f"{scheme}_confidence"] == ""
            low = [c for c in header if c in {k[2] for k in confidence if k[:2] == key} and row[c]
                   and f"{c}_confidence" in header and row[f"{c}_confidence"]
                   and float(row[f"{c}_confidence"]) < DEFAULT_CHECK_BELOW]
            assert row["check"] == ";".join(low)
            seen_check += bool(low)
    assert seen_sub > 5 and seen_check > 0
