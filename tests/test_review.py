"""The corrections loop: reviewed coded CSVs (re-saved by a spreadsheet) -> validated training data
-> ``read_coded_csv`` -> a tiny training run."""

from __future__ import annotations

import csv
import io
import shutil

import pytest

from transcript_coder.cli import main
from transcript_coder.corpora import read_coded_csv
from transcript_coder.review import ReviewError, review_import

from .pipeline_support import model_set, quickstart, read_rows  # noqa: F401 (fixtures)


def resave_like_a_spreadsheet(path, edits: dict[tuple[int, str], str]) -> None:
    """Set cells (0-based data row, column) and write the file back with a UTF-8 BOM and CRLF line
    ends, as Excel's "CSV UTF-8" does."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header, rows = list(reader.fieldnames), list(reader)
    for (index, column), value in edits.items():
        rows[index][column] = value
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8"))


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory, quickstart):
    """sleep_mi's coded CSV with a supervisor's corrections, re-saved by a spreadsheet; drinking_mi as coded.

    sleep_mi unit 0 is a therapist question (open) and unit 1 a client turn; unit 2 a reflection."""
    folder = tmp_path_factory.mktemp("reviewed")
    for sid in ("sleep_mi", "drinking_mi"):
        shutil.copy(quickstart[0] / "coded" / f"{sid}.csv", folder / f"{sid}.csv")
    _, rows = read_rows(folder / "sleep_mi.csv")
    assert (rows[0]["therapist_behaviour"], rows[0]["question_type"], rows[1]["role"]) == ("question", "open", "client")
    assert rows[2]["therapist_behaviour"] == "reflection"
    resave_like_a_spreadsheet(folder / "sleep_mi.csv", {
        (0, "reviewed_therapist_behaviour"): "reflection",  # a question corrected to a reflection ...
        (0, "reviewed_reflection_type"): "complex",         # ... and its reflection type given
        (1, "reviewed_client_talk_type"): "sustain",
        (1, "reviewed_client_emotion"): "sadness",
        (2, "reviewed_therapist_behaviour"): "reflection",  # confirmed
    })
    assert (folder / "sleep_mi.csv").read_bytes().startswith(b"\xef\xbb\xbfsession_id,")
    return folder, rows


def test_reviewed_codes_override_the_model_and_stale_subcodes_are_dropped(reviewed, codebook, tmp_path):
    folder, original = reviewed
    result = review_import([folder / "sleep_mi.csv"], tmp_path / "corrections.csv", codebook=codebook)
    units = {u.utterance_index: u for u in result.units}
    assert len(units) == len(original)
    assert units[0].codes == {"therapist_behaviour": "reflection", "reflection_type": "complex"}  # no question_type
    assert units[0].reviewed == ["therapist_behaviour", "reflection_type"]
    assert units[1].codes["client_talk_type"] == "sustain" and units[1].codes["client_emotion"] == "sadness"
    assert units[3].codes == {s: original[3][s] for s in units[3].codes} and not units[3].reviewed  # model's codes
    assert result.n_reviewed_cells == 5
    header, written = read_rows(tmp_path / "corrections.csv")
    assert header[:4] == ["session_id", "turn_index", "role", "text"] and "reviewed_schemes" in header
    assert not any(h.startswith("reviewed_") and h != "reviewed_schemes" for h in header)
    assert written[0]["question_type"] == "" and written[0]["reviewed_schemes"] == "therapist_behaviour|reflection_type"


def test_only_reviewed_keeps_the_units_a_supervisor_touched(reviewed, codebook, tmp_path):
    folder, _ = reviewed
    result = review_import([folder], tmp_path / "c.csv", only_reviewed=True, codebook=codebook)
    assert [(u.session_id, u.utterance_index) for u in result.units] == [("sleep_mi", 0), ("sleep_mi", 1),
                                                                         ("sleep_mi", 2)]
    dataset = read_coded_csv(tmp_path / "c.csv", codebook)
    assert dataset.num_rows == 3 and dataset[0]["therapist_behaviour"] == ["reflection"]


def test_every_bad_cell_is_reported_with_file_row_and_column(reviewed, tmp_path, codebook, capsys):
    folder, _ = reviewed
    bad = tmp_path / "bad.csv"
    shutil.copy(folder / "drinking_mi.csv", bad)
    _, rows = read_rows(bad)
    client = next(i for i, r in enumerate(rows) if r["role"] == "client")
    reflection = next(i for i, r in enumerate(rows) if r["therapist_behaviour"] == "reflection")
    resave_like_a_spreadsheet(bad, {
        (0, "reviewed_therapist_behaviour"): "reflektion",           # not a code
        (client, "reviewed_therapist_behaviour"): "question",       # a therapist scheme on a client row
        (reflection, "reviewed_question_type"): "open",             # a question type on a reflection
        (3, "reviewed_client_emotion"): "Joyy",                     # a typo (case alone would be accepted)
    })
    out = tmp_path / "corrections.csv"
    with pytest.raises(ReviewError) as err:
        review_import([bad, folder / "sleep_mi.csv"], out, codebook=codebook)
    problems = {(p.code, p.fields["row"], p.fields["column"]) for p in err.value.problems}
    assert problems == {("E501", 2, "reviewed_therapist_behaviour"),
                        ("E502", client + 2, "reviewed_therapist_behaviour"),
                        ("E503", reflection + 2, "reviewed_question_type"),
                        ("E501", 5, "reviewed_client_emotion")}
    assert err.value.code == "E504" and all(p.fields["path"] == bad for p in err.value.problems)
    assert "bad.csv row 2, column 'reviewed_therapist_behaviour': 'reflektion' is not a code" in str(err.value)
    assert not out.exists()
    assert main(["review", "import", str(bad), "--out", str(out)]) == 1
    printed = capsys.readouterr().err
    assert printed.count("bad.csv row") == 4 and "E503" in printed and not out.exists()


@pytest.mark.slow
def test_corrections_train_a_tiny_model_end_to_end(reviewed, tmp_path, codebook, capsys):
    from transcript_coder.train import DataConfig, TrainConfig, train

    folder, _ = reviewed
    data = tmp_path / "corrections.csv"
    assert main(["review", "import", str(folder / "sleep_mi.csv"), str(folder / "drinking_mi.csv"),
                 "--out", str(data)]) == 0
    assert "5 reviewed code(s)" in capsys.readouterr().out
    dataset = read_coded_csv(data, codebook)
    assert dataset.num_rows == 44 and set(dataset.unique("session_id")) == {"sleep_mi", "drinking_mi"}
    first = dataset.filter(lambda r: r["session_id"] == "sleep_mi" and r["turn_index"] == 0)[0]
    assert first["therapist_behaviour"] == ["reflection"] and first["question_type"] == []
    config = TrainConfig(
        name="corrections", data=DataConfig(format="coded_csv.v1", path=str(data), validation_path=str(data),
                                            license="test fixture"),
        schemes=["therapist_behaviour", "client_talk_type"], epochs=1, batch_size=4, eval_every=1,
        learning_rate=2e-4, head_learning_rate=5e-3, warmup_ratio=0.0, class_weighting="none",
        save_dtype="float32", threads=2, max_length=48)
    result = train(config, codebook=codebook, output=tmp_path / "model")
    assert (tmp_path / "model" / "model.safetensors").is_file()
    assert set(result.metrics["validation"]) == {"therapist_behaviour", "client_talk_type"}
    assert result.metrics["validation"]["therapist_behaviour"]["n"] == 22


def test_the_workbook_highlights_exactly_the_units_the_report_flags(quickstart, codebook, tmp_path):
    """On real coded output: a row is highlighted when any of its codes in codes.csv is below the
    report's threshold, the rule behind the report's "check" flag."""
    import openpyxl

    from transcript_coder.report import load_report_config
    from transcript_coder.review import review_export
    from transcript_coder.writers.workbook import LOW_CONFIDENCE_FILL

    out = quickstart[0]
    threshold = load_report_config().low_confidence
    _, decisions = read_rows(out / "codes.csv")
    flagged = {(r["session_id"], int(r["utterance_index"])) for r in decisions
               if r["confidence"] and float(r["confidence"]) < threshold}
    result = review_export([out], tmp_path / "review.xlsx", codebook=codebook)
    sheet = openpyxl.load_workbook(tmp_path / "review.xlsx")["review"]
    header = [c.value for c in sheet[1]]
    text = header.index("text")
    highlighted = {(row[0].value, row[1].value) for row in sheet.iter_rows(min_row=2)
                   if row[text].fill.fgColor.rgb.endswith(LOW_CONFIDENCE_FILL)}
    assert flagged and highlighted == flagged and result.low_confidence == len(flagged)
    assert result.total == sum(1 for _ in sheet.iter_rows(min_row=2))
