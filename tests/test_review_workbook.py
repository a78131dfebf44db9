"""The review workbook and queue: export (text cells never formulas, drop-downs of code ids,
low-confidence rows, frozen header), the least-confident queue, and import of workbooks (forgiving
case, suggesting codes, refusing repeated units, warning on changed text). Fixtures are written here."""

from __future__ import annotations

import csv

import openpyxl
import pytest

from transcript_coder.cli import main
from transcript_coder.codings import TEXT_HASH_COLUMN, text_hash
from transcript_coder.errors import DataError, UsageError
from transcript_coder.review import ReviewError, parse_queue_size, review_export, review_import
from transcript_coder.writers.tables import CODED_CSV_V1
from transcript_coder.writers.workbook import LOW_CONFIDENCE_FILL

HOSTILE = ["=HYPERLINK(\"http://evil.example\",\"click\")", "+44 20 7946 0000", "-5 is what I scored", "@SUM(A1:A9)",
           "=1+1"]

# (session, speaker, role, text, codes with confidences)
UNITS = {
    "s1": [
        ("T", "therapist", "What brings you here today?", {"therapist_behaviour": ("question", 0.91),
                                                           "question_type": ("open", 0.88)}),
        ("C", "client", HOSTILE[0], {"client_talk_type": ("neutral", 0.55), "client_emotion": ("neutral", 0.70)}),
        ("T", "therapist", HOSTILE[1], {"therapist_behaviour": ("reflection", 0.42),
                                        "reflection_type": ("simple", 0.80)}),
        # client_emotion_fine is only in codes.csv (not a coded CSV column), as code writes it
        ("C", "client", HOSTILE[2], {"client_talk_type": ("sustain", 0.97), "client_emotion": ("sadness", 0.93),
                                     "client_emotion_fine": ("grief", 0.45)}),
    ],
    "s2": [
        ("T", "therapist", HOSTILE[3], {"therapist_behaviour": ("question", 0.95), "question_type": ("closed", 0.30)}),
        ("C", "client", HOSTILE[4], {"client_talk_type": ("change", 0.99), "client_emotion": ("joy", 0.98)}),
        ("X", "other", "Sorry, wrong room.", {}),
    ],
}


def write_coded_output(out, units=UNITS, codes_csv=True):
    """A coding output folder as ``code`` writes it: coded/<id>.csv in the v1 layout, codes.csv."""
    (out / "coded").mkdir(parents=True)
    long_rows = []
    for session, items in units.items():
        with open(out / "coded" / f"{session}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=CODED_CSV_V1, lineterminator="\n")
            writer.writeheader()
            for i, (speaker, role, text, codes) in enumerate(items):
                row = {"session_id": session, "utterance_index": i, "turn_index": i, "speaker": speaker,
                       "role": role, "text": text}
                for scheme, (code, confidence) in codes.items():
                    if scheme in CODED_CSV_V1:
                        row[scheme] = code
                    if scheme + "_confidence" in CODED_CSV_V1:
                        row[scheme + "_confidence"] = f"{confidence:.4f}"
                    long_rows.append([session, i, i, speaker, role, scheme, code, f"{confidence:.4f}", ""])
                writer.writerow(row)
    if codes_csv:
        with open(out / "codes.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["session_id", "utterance_index", "turn_index", "speaker", "role", "scheme", "code",
                             "confidence", "probabilities"])
            writer.writerows(long_rows)
    return out


def sheet_rows(path):
    workbook = openpyxl.load_workbook(path)
    sheet = workbook["review"]
    header = [c.value for c in sheet[1]]
    return workbook, sheet, header, [dict(zip(header, (c.value for c in row))) for row in sheet.iter_rows(min_row=2)]


@pytest.fixture()
def coded_out(tmp_path):
    return write_coded_output(tmp_path / "out")


def test_workbook_has_one_row_per_unit_with_codes_confidence_and_empty_reviewed_columns(coded_out, codebook):
    result = review_export([coded_out], coded_out / "review.xlsx", low_confidence=0.6, codebook=codebook)
    assert result.total == 7 and len(result.units) == 7
    _, sheet, header, rows = sheet_rows(coded_out / "review.xlsx")
    assert header[:8] == ["session_id", "utterance_index", "turn_index", "speaker", "role", "start", "end", "text"]
    assert [(r["session_id"], r["utterance_index"], r["speaker"], r["role"]) for r in rows] == [
        ("s1", 0, "T", "therapist"), ("s1", 1, "C", "client"), ("s1", 2, "T", "therapist"), ("s1", 3, "C", "client"),
        ("s2", 0, "T", "therapist"), ("s2", 1, "C", "client"), ("s2", 2, "X", "other")]
    first = rows[0]
    assert (first["therapist_behaviour"], first["therapist_behaviour_confidence"]) == ("question", 0.91)
    # question_type has no confidence column in the coded CSV: it comes from codes.csv, as in the report
    assert (first["question_type"], first["question_type_confidence"], first["lowest_confidence"]) == ("open", 0.88, 0.88)
    assert rows[4]["lowest_confidence"] == 0.30 and rows[6]["lowest_confidence"] is None
    reviewed = [h for h in header if h.startswith("reviewed_")]
    assert reviewed == ["reviewed_therapist_behaviour", "reviewed_question_type", "reviewed_reflection_type",
                        "reviewed_therapist_input_type", "reviewed_client_talk_type", "reviewed_client_emotion",
                        "reviewed_client_emotion_fine"]
    # a scheme only codes.csv has is shown (and ranks the unit) as the report shows it
    assert (rows[3]["client_emotion_fine"], rows[3]["client_emotion_fine_confidence"]) == ("grief", 0.45)
    assert rows[3]["lowest_confidence"] == 0.45 and rows[1]["client_emotion_fine"] is None
    assert all(r[h] is None for r in rows for h in reviewed)
    assert rows[1][TEXT_HASH_COLUMN] == text_hash(HOSTILE[0])


def test_transcript_text_is_never_a_formula(coded_out, codebook):
    review_export([coded_out], coded_out / "review.xlsx", codebook=codebook)
    workbook, sheet, header, rows = sheet_rows(coded_out / "review.xlsx")
    texts = [r["text"] for r in rows]
    for hostile in HOSTILE:
        assert hostile in texts  # exactly as spoken, not a computed value
    formulas = [(ws.title, c.coordinate) for ws in workbook.worksheets for row in ws.iter_rows() for c in row
                if c.data_type == "f"]
    assert formulas == []
    # and in the file itself: no formula element anywhere, each text stored as a string
    import zipfile
    from xml.sax.saxutils import escape

    with zipfile.ZipFile(coded_out / "review.xlsx") as archive:
        names = archive.namelist()
        xml = "".join(archive.read(n).decode() for n in names
                      if n.startswith("xl/worksheets/sheet") or n == "xl/sharedStrings.xml")
    assert "<f>" not in xml and "<f " not in xml
    assert all(f"<t>{escape(h)}</t>" in xml or f'<t xml:space="preserve">{escape(h)}</t>' in xml for h in HOSTILE)
    text_col = header.index("text") + 1
    for row in sheet.iter_rows(min_row=2, min_col=text_col, max_col=text_col):
        assert row[0].data_type == "s"
        assert row[0].quotePrefix == row[0].value.startswith(("=", "+", "-", "@"))


def test_dropdowns_list_the_codebook_code_ids_and_the_layout_is_readable(coded_out, codebook):
    review_export([coded_out], coded_out / "review.xlsx", low_confidence=0.6, codebook=codebook)
    workbook, sheet, header, rows = sheet_rows(coded_out / "review.xlsx")
    codes_sheet = workbook["codes"]
    assert codes_sheet.sheet_state == "hidden"
    offered = {}
    for validation in sheet.data_validations.dataValidation:
        assert validation.type == "list" and validation.allow_blank
        column = str(validation.sqref).split(":")[0].rstrip("0123456789")
        ref = validation.formula1.split("!")[1].replace("$", "")
        offered[sheet[f"{column}1"].value] = [c.value for row in codes_sheet[ref] for c in row]
        assert str(validation.sqref) == f"{column}2:{column}8"
    assert offered == {f"reviewed_{s}": codebook[s].code_ids for s in
                       ("therapist_behaviour", "question_type", "reflection_type", "therapist_input_type", "client_talk_type",
                        "client_emotion", "client_emotion_fine")}
    assert sheet.freeze_panes == "A2"
    letter = {name: openpyxl.utils.get_column_letter(i + 1) for i, name in enumerate(header)}
    assert sheet.column_dimensions[letter["text"]].width == 80
    assert 8 <= sheet.column_dimensions[letter["session_id"]].width <= 40
    assert sheet.column_dimensions[letter[TEXT_HASH_COLUMN]].hidden
    # highlighted: rows with a code below 0.6 (s1#1 0.55, s1#2 0.42, s1#3 0.45, s2#0 0.30), not the others
    filled = [sheet[f"{letter['text']}{i + 2}"].fill.fgColor.rgb.endswith(LOW_CONFIDENCE_FILL) for i in range(7)]
    assert filled == [False, True, True, True, True, False, False]


def test_least_confident_queue_ranks_units_across_the_whole_batch(coded_out, codebook):
    result = review_export([coded_out], coded_out / "q.xlsx", least_confident="3", codebook=codebook)
    assert [(u.row.session_id, u.row.utterance_index, u.lowest) for u in result.units] == [
        ("s2", 0, 0.30), ("s1", 2, 0.42), ("s1", 3, 0.45)]
    _, _, _, rows = sheet_rows(coded_out / "q.xlsx")
    assert [(r["session_id"], r["utterance_index"]) for r in rows] == [("s2", 0), ("s1", 2), ("s1", 3)]
    # 6 units have a confidence (the 'other' unit has none): 50 % is 3 of them, 20 % rounds up to 2
    assert len(review_export([coded_out], coded_out / "h.xlsx", least_confident="50%", codebook=codebook).units) == 3
    assert len(review_export([coded_out], coded_out / "p.xlsx", least_confident="20%", codebook=codebook).units) == 2
    assert len(review_export([coded_out], coded_out / "all.xlsx", least_confident=100, codebook=codebook).units) == 6


@pytest.mark.parametrize("value", ["0", "-3", "abc", "0%", "150%", "2.5"])
def test_a_bad_queue_size_is_a_usage_error(value):
    with pytest.raises(UsageError) as err:
        parse_queue_size(value)
    assert err.value.code == "E410" and "least-confident" in str(err.value)


def test_a_queue_needs_confidences(tmp_path, codebook):
    out = write_coded_output(tmp_path / "out", {"s": [("X", "other", "Hello.", {})]}, codes_csv=False)
    with pytest.raises(DataError) as err:
        review_export([out], tmp_path / "q.xlsx", least_confident="5", codebook=codebook)
    assert err.value.code == "E512"


def fill(path, cells: dict[tuple[str, int, str], str]) -> None:
    """A supervisor's edits: (session, utterance_index, column) -> value, saved by openpyxl."""
    workbook = openpyxl.load_workbook(path)
    sheet = workbook["review"]
    header = [c.value for c in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        key = (row[0].value, row[1].value)
        for (session, index, column), value in cells.items():
            if (session, index) == key:
                row[header.index(column)].value = value
    workbook.save(path)


def test_a_filled_workbook_imports_as_training_data(coded_out, codebook, tmp_path):
    book = coded_out / "review.xlsx"
    review_export([coded_out], book, codebook=codebook)
    fill(book, {("s1", 2, "reviewed_therapist_behaviour"): "question",
                ("s1", 2, "reviewed_question_type"): " Open ",           # case and spacing: accepted
                ("s2", 1, "reviewed_client_emotion"): "fear"})
    result = review_import([book], tmp_path / "corrections.csv", codebook=codebook)
    units = {(u.session_id, u.utterance_index): u for u in result.units}
    assert units[("s1", 2)].codes == {"therapist_behaviour": "question", "question_type": "open"}  # no reflection type
    assert units[("s2", 1)].codes == {"client_talk_type": "change", "client_emotion": "fear"}
    assert units[("s1", 1)].text == HOSTILE[0] and units[("s2", 0)].text == HOSTILE[3]
    assert result.n_reviewed_cells == 3 and result.warnings == []
    assert result.notes == [f"{book} row 4, column 'reviewed_question_type': 'Open' read as 'open'"]


def test_a_typo_suggests_the_nearest_code_and_a_repeated_unit_is_refused(coded_out, codebook, tmp_path):
    book = coded_out / "review.xlsx"
    review_export([coded_out], book, codebook=codebook)
    fill(book, {("s1", 0, "reviewed_therapist_behaviour"): "reflecton",
                ("s1", 3, "reviewed_client_emotion"): "xyzzy",
                ("s1", 3, "utterance_index"): 1})  # now two rows claim s1#1
    with pytest.raises(ReviewError) as err:
        review_import([book], tmp_path / "c.csv", codebook=codebook)
    by_code = {p.code: p for p in err.value.problems if p.code != "E501"} | {
        p.fields["value"]: p for p in err.value.problems if p.code == "E501"}
    assert "did you mean 'reflection'?" in str(by_code["reflecton"])
    assert "did you mean" not in str(by_code["xyzzy"])
    assert by_code["E510"].fields["rows"] == "row 3, row 5" and by_code["E510"].fields["session"] == "s1"
    assert "review.xlsx: session 's1' has utterance_index 1 on more than one row (row 3, row 5)" in str(err.value)
    assert not (tmp_path / "c.csv").exists()


def test_the_same_unit_in_a_workbook_and_its_csv_is_refused(coded_out, codebook, tmp_path):
    book = coded_out / "review.xlsx"
    review_export([coded_out / "coded" / "s2.csv"], book, codebook=codebook)
    with pytest.raises(ReviewError) as err:
        review_import([book, coded_out / "coded" / "s2.csv"], tmp_path / "c.csv", codebook=codebook)
    assert [p.code for p in err.value.problems] == ["E510"] * 3
    assert err.value.problems[0].fields["rows"] == f"row 2, {coded_out / 'coded' / 's2.csv'} row 2"


def test_changed_text_cells_are_warned_about(coded_out, codebook, tmp_path, capsys):
    book = coded_out / "review.xlsx"
    review_export([coded_out], book, codebook=codebook)
    fill(book, {("s1", 1, "text"): "click"})  # what a spreadsheet shows once the HYPERLINK ran
    result = review_import([book], tmp_path / "c.csv", codebook=codebook)
    assert [(w.code, w.fields["row"]) for w in result.warnings] == [("E511", 3)]
    # a CSV keeps no hash; a formula error left in the text cell is recognised
    csv_path = coded_out / "coded" / "s2.csv"
    text = csv_path.read_text(encoding="utf-8").replace("=1+1", "#NAME?")
    csv_path.write_text(text, encoding="utf-8")
    assert main(["review", "import", str(csv_path), "--out", str(tmp_path / "c2.csv")]) == 0
    err = capsys.readouterr().err
    assert "warning: E511: " in err and "s2.csv row 3: the text cell no longer matches" in err


def test_cli_export_and_import(coded_out, tmp_path, capsys):
    book = tmp_path / "queue.xlsx"
    assert main(["review", "export", str(coded_out), "--out", str(book), "--least-confident", "2",
                 "--low-confidence", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "the 2 least confident of 7 unit(s)" in out and "2 below confidence 0.5 highlighted" in out
    fill(book, {("s2", 0, "reviewed_question_type"): "OPEN"})
    assert main(["review", "import", str(book), "--out", str(tmp_path / "c.csv"), "--only-reviewed"]) == 0
    out = capsys.readouterr().out
    assert "'OPEN' read as 'open'" in out and "1 reviewed (1 reviewed code(s))" in out
    assert main(["review", "export", str(coded_out), "--out", str(book), "--least-confident", "lots"]) == 2
    assert "E410" in capsys.readouterr().err
    assert main(["review", "import", str(book)]) == 2  # neither --out nor --into: nothing to do
    assert "E402" in capsys.readouterr().err
    # --into a folder that is not a coding output (this fixture has no run.json): E509, nothing stored
    assert main(["review", "import", str(book), "--into", str(coded_out)]) != 0
    assert "E509" in capsys.readouterr().err and not (coded_out / "reviews").exists()


def test_two_supervisors_workbooks_give_their_agreement(coded_out, tmp_path, capsys):
    import json
    import shutil

    first, second = tmp_path / "supervisor_a.xlsx", tmp_path / "supervisor_b.xlsx"
    review_export([coded_out], first)
    shutil.copy(first, second)
    fill(first, {("s1", 1, "reviewed_client_emotion"): "sadness", ("s1", 3, "reviewed_client_emotion"): "sadness",
                 ("s2", 1, "reviewed_client_emotion"): "joy", ("s1", 0, "reviewed_therapist_behaviour"): "question"})
    fill(second, {("s1", 1, "reviewed_client_emotion"): "sadness", ("s1", 3, "reviewed_client_emotion"): "joy",
                  ("s2", 1, "reviewed_client_emotion"): "joy"})  # s1#0 reviewed by one supervisor only
    out = tmp_path / "agreement.json"
    assert main(["evaluate", "--reference", str(first), "--reference-columns", "reviewed", "--compare", str(second),
                 "--compare-columns", "reviewed", "--json", str(out)]) == 0
    emotion = json.loads(out.read_text(encoding="utf-8"))["schemes"]["client_emotion"]
    # pairs (sadness, sadness), (sadness, joy), (joy, joy): p_o = 2/3, p_e = 2/3 * 1/3 + 1/3 * 2/3 = 4/9,
    # kappa = (2/3 - 4/9) / (5/9) = 0.4; coincidences o_ss = o_jj = 2, o_sj = o_js = 1, n_s = n_j = 3, n = 6:
    # alpha = 1 - 5 * 2 / (36 - 18) = 4/9
    assert emotion["n"] == 3
    assert emotion["kappa"] == pytest.approx(0.4) and emotion["alpha"] == pytest.approx(4 / 9)
    printed = capsys.readouterr().out
    assert "Cohen's kappa 0.400   Krippendorff's alpha 0.444" in printed
    assert "therapist_behaviour" not in json.loads(out.read_text(encoding="utf-8"))["schemes"]


def test_the_workbook_name_must_end_in_xlsx_and_the_review_sheet_is_found_wherever_it_is(coded_out, codebook,
                                                                                          tmp_path):
    with pytest.raises(UsageError) as err:
        review_export([coded_out], tmp_path / "review.csv", codebook=codebook)
    assert err.value.code == "E410" and ".xlsx" in str(err.value) and not (tmp_path / "review.csv").exists()
    book = tmp_path / "review.xlsx"
    review_export([coded_out], book, codebook=codebook)
    fill(book, {("s2", 1, "reviewed_client_emotion"): "fear"})
    workbook = openpyxl.load_workbook(book)
    workbook.move_sheet("review", offset=2)  # a supervisor dragged the sheet tab to the end
    workbook.save(book)
    assert openpyxl.load_workbook(book).sheetnames[0] != "review"
    result = review_import([book], tmp_path / "c.csv", codebook=codebook)
    assert len(result.units) == 7 and result.n_reviewed_cells == 1


def test_a_unit_longer_than_a_cell_is_cut_and_its_import_says_so(tmp_path, codebook):
    long_text = "I keep thinking about it. " * 1600  # 41,600 characters; a cell holds 32,767
    out = write_coded_output(tmp_path / "out", {"s": [("C", "client", long_text, {"client_talk_type": ("change", 0.5)}),
                                                      ("T", "therapist", "Go on.", {"therapist_behaviour": ("other", 0.9)})]})
    book = tmp_path / "review.xlsx"
    review_export([out], book, codebook=codebook)
    _, _, _, rows = sheet_rows(book)
    assert len(rows[0]["text"]) == 32_767 and rows[0]["text"].endswith(" [...]")
    result = review_import([book], tmp_path / "c.csv", codebook=codebook)
    [warning] = result.warnings
    assert warning.code == "E511" and warning.fields["row"] == 2 and "first 32,761 characters" in str(warning)
