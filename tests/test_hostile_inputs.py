"""Issue 14: hostile inputs and faults. Nothing is lost, nothing is written where it should not
be, and every case ends in one line with a stable code, never a traceback.

Every fixture is generated inside ``tmp_path``. The batch tests code a hostile input beside a
clean session and check both the exact code and that the clean session was coded.
"""

from __future__ import annotations

import csv
import io
import pickle
import shutil
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from transcript_coder.errors import InputError
from transcript_coder.readers import read_transcript, read_transcript_text
from transcript_coder.readers.text_io import decode_transcript
from transcript_coder.report import page_file_names, report
from transcript_coder.writers import write_text

from .pipeline_support import model_set, quickstart, read_rows  # noqa: F401 (fixtures)

CLEAN = ("Therapist: What brings you here today?\n"
         "Client: I have been drinking too much and I want to cut down.\n"
         "Therapist: You want to cut down on drinking.\n"
         "Client: Yes, my wife is worried.\n")


def read_error(path: Path) -> InputError:
    with pytest.raises(InputError) as caught:
        read_transcript(path)
    return caught.value


# ------------------------------------------------------------------ 1. lone surrogates (reader)
def test_lone_surrogate_in_a_json_speaker_label_and_text_is_replaced_with_e120(tmp_path):
    path = tmp_path / "surrogate.json"
    path.write_text('[{"speaker": "Client \\ud800", "text": "I feel stuck."},\n'
                    ' {"speaker": "Therapist", "text": "Stuck \\udfff how?"},\n'
                    ' {"speaker": "Client \\ud800", "text": "At work."}]', encoding="utf-8")
    session = read_transcript(path)
    assert [t.speaker for t in session.turns] == ["Client \ufffd", "Therapist", "Client \ufffd"]
    assert session.turns[1].text == "Stuck \ufffd how?"
    assert [(p.code, p.fields["where"], p.fields["what"]) for p in session.problems] == [
        ("E120", "turn 1", "speaker label"), ("E120", "turn 2", "text"), ("E120", "turn 3", "speaker label")]
    assert "\\ud800" in str(session.problems[0]) and str(path) in str(session.problems[0])
    # what the batch stores and tokenizes is now encodable
    for turn in session.turns:
        (turn.speaker + turn.text).encode("utf-8")


def test_lone_surrogate_in_jsonl_names_the_file_line(tmp_path):
    path = tmp_path / "surrogate.jsonl"
    path.write_text('{"speaker": "Therapist", "text": "Hello."}\n\n{"speaker": "Client", "text": "Hi \\ud83d"}\n',
                    encoding="utf-8")
    [problem] = read_transcript(path).problems
    assert problem.code == "E120" and problem.line == 3 and "line 3" in str(problem)


def test_pasted_text_with_a_lone_surrogate_is_sanitised():
    session = read_transcript_text("Therapist: Hello \ud800 there.\nClient: Hi.\n")
    assert session.turns[0].text == "Hello \ufffd there."
    assert [p.code for p in session.problems] == ["E120"]


def test_reader_errors_cross_a_process_boundary_intact():
    error = InputError("E120", path="a.json", where="turn 2", line=None, what="text", escape="\\ud800")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is InputError and copy.code == "E120" and str(copy) == str(error)
    assert copy.fields == error.fields


# ------------------------------------------------------------------ 4. docx zip bomb
def _docx(path: Path, chunk: bytes, repeat: int) -> Path:
    """A zip archive shaped like a .docx whose document is ``chunk`` repeated, deflated."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        member = zipfile.ZipInfo("word/document.xml")
        member.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(member, "w", force_zip64=True) as handle:
            for _ in range(repeat):
                handle.write(chunk)
    return path


def test_docx_zip_bomb_is_refused_before_it_is_inflated(tmp_path):
    # 80 MiB of one repeated run, about 80 KB compressed (a ratio near 1000)
    path = _docx(tmp_path / "bomb.docx", b"<w:t>aaaaa</w:t>" * 65536, 80)
    assert path.stat().st_size < 1024 * 1024
    tracemalloc.start()
    try:
        error = read_error(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.code == "E122"
    assert "word/document.xml would unpack to 80.0 MB (limit 64.0 MB)" in str(error)
    assert peak < 20 * 1024 * 1024  # the 80 MB member was never inflated


def test_docx_member_compressed_a_thousand_times_is_refused(tmp_path):
    error = read_error(_docx(tmp_path / "ratio.docx", b"\0" * 1024 * 1024, 4))
    assert error.code == "E122" and "compressed" in str(error) and "limit 100" in str(error)


def test_docx_that_lies_about_its_size_inflates_no_more_than_it_declares(tmp_path):
    """A member declaring 1 KB whose stream inflates to 100 MB: zipfile stops at the declared size,
    so the check on declared sizes bounds the inflation."""
    pytest.importorskip("docx")
    path = _docx(tmp_path / "liar.docx", b"\0" * 1024 * 1024, 100)
    data = bytearray(path.read_bytes())
    # the central directory entry's uncompressed size (offset 24) is what zipfile trusts
    entry = data.rindex(b"PK\x01\x02", 0, data.rindex(b"word/document.xml"))
    assert int.from_bytes(data[entry + 24:entry + 28], "little") == 100 * 1024 * 1024
    data[entry + 24:entry + 28] = (1024).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    assert zipfile.ZipFile(path).getinfo("word/document.xml").file_size == 1024
    tracemalloc.start()
    try:
        error = read_error(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.code == "E115"
    assert peak < 20 * 1024 * 1024


# ------------------------------------------------------------------ 5. UTF-8 with bad bytes
def test_one_bad_byte_in_utf8_keeps_utf8_and_warns_e121_with_the_line(tmp_path):
    text = "Therapist: Bonjour, café?\nClient: Oui, un café au lait.\nTherapist: Très bien.\nClient: Merci.\n"
    data = text.encode("utf-8").replace(b"au lait", b"au \xff lait")
    path = tmp_path / "damaged.txt"
    path.write_bytes(data)
    session = read_transcript(path)
    assert [t.text for t in session.turns] == ["Bonjour, café?", "Oui, un café au \ufffd lait.", "Très bien.",
                                               "Merci."]
    [problem] = session.problems
    assert problem.code == "E121" and problem.line == 2
    assert "1 byte sequence(s)" in str(problem) and "lines 2" in str(problem)
    assert not any("cp1252" in note for note in session.warnings)


def test_bad_bytes_on_several_lines_with_crlf_and_a_bom_are_all_counted(tmp_path):
    data = ("\ufeffTherapist: Ça va?\r\nClient: \x00\r\nTherapist: Où?\r\nClient: Là-bas \x00\r\n"
            .encode("utf-8").replace(b"\x00", b"\xc3\x28"))
    result = decode_transcript(data, "x.txt")
    assert result.encoding == "utf-8" and result.bom
    assert result.replaced_lines == (2, 4)
    assert result.text.split("\n")[1] == "Client: \ufffd("


def test_a_real_cp1252_file_is_still_read_as_cp1252(tmp_path):
    path = tmp_path / "windows.txt"
    path.write_bytes("Therapist: Café? Naïve “quotes”.\nClient: Très bien.\n".encode("cp1252"))
    session = read_transcript(path)
    assert session.turns[0].text == "Café? Naïve “quotes”."
    assert session.problems == []
    assert any("cp1252" in note for note in session.warnings)


def test_bytes_that_are_neither_utf8_nor_cp1252_are_still_e106(tmp_path):
    path = tmp_path / "garbage.txt"
    path.write_bytes(b"Therapist: caf\xe9 \x81\x8d\x90 ok\nClient: yes\n")
    assert read_error(path).code == "E106"


# ------------------------------------------------------------------ 2. report page names
def test_page_names_never_collide_with_the_index_or_leave_the_folder():
    ids = ["index", "INDEX", "../../evil", "a#b", "plain", "Plain", ".hidden", "x/y", "Müller 2"]
    names = page_file_names(ids)
    assert names["Plain"] == "Plain.html" and names["a#b"] == "a#b.html" and names["Müller 2"] == "Müller 2.html"
    assert names["plain"].startswith("plain-")  # "Plain.html" is the same file on a case-blind file system
    for session_id, name in names.items():
        assert "/" not in name and "\\" not in name and not name.startswith(".")
        assert name.casefold() != "index.html"
    assert names["index"].startswith("index-") and names["../../evil"].startswith("_.._evil-")
    assert len({n.casefold() for n in names.values()}) == len(ids)
    assert page_file_names(list(reversed(ids))) == names  # deterministic, order-independent
    assert len(page_file_names(["x" * 300])["x" * 300].encode()) <= 255


def _rename_session(out: Path, old: str, new: str) -> None:
    """Edit a session id in the coded CSV, codes.csv and sessions.csv, as a user editing cells would."""
    for path in [out / "coded" / f"{old}.csv", out / "codes.csv", out / "sessions.csv"]:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        column = rows[0].index("session_id")
        for row in rows[1:]:
            if row[column] == old:
                row[column] = new
        buffer = io.StringIO(newline="")
        csv.writer(buffer).writerows(rows)
        write_text(path, buffer.getvalue())


def test_report_pages_of_hostile_session_ids_stay_inside_report(tmp_path, quickstart):
    out = tmp_path / "out"
    shutil.copytree(quickstart[0], out)
    _rename_session(out, "drinking_mi", "index")
    _rename_session(out, "sleep_mi", "../../evil")
    _rename_session(out, "smoking_mi_whisperx", "hash#tag")
    outside_report = lambda: {p for p in tmp_path.rglob("*") if out / "report" not in p.parents}  # noqa: E731
    before = outside_report()
    view = report(out)
    assert outside_report() == before | {out / "report"}
    assert not (tmp_path / "evil.html").exists() and not (out / "evil.html").exists()
    assert all(path.parent == out / "report" for name, path in view.files.items())
    index = (out / "report" / "index.html").read_text(encoding="utf-8")
    assert index.startswith("<!DOCTYPE html>") and "<h1>Coding report: out</h1>" in index
    pages = {s.session_id: s.page for s in view.sessions}
    assert pages["index"] != "index.html" and (out / "report" / pages["index"]).is_file()
    assert "<h1>Session index</h1>" in (out / "report" / pages["index"]).read_text(encoding="utf-8")
    assert pages["hash#tag"] == "hash#tag.html"
    assert '<a href="hash%23tag.html">hash#tag</a>' in index
    assert '<a href="work_anxiety_mi.html">work_anxiety_mi</a>' in index


# ------------------------------------------------------------------ 10. long file names
def test_a_255_byte_file_name_can_be_written_atomically(tmp_path):
    name = "s" * 251 + ".csv"  # the ext4/xfs/btrfs limit
    path = write_text(tmp_path / name, "x\n")
    assert path.read_text() == "x\n"
    assert [p.name for p in tmp_path.iterdir()] == [name]


# ------------------------------------------------------------------ 8. review import: repeated units
def test_review_import_refuses_a_csv_with_a_repeated_utterance_index(tmp_path, quickstart, codebook, capsys):
    from transcript_coder.cli import main
    from transcript_coder.review import ReviewError, review_import

    reviewed = tmp_path / "reviewed"
    reviewed.mkdir()
    for name in ("drinking_mi.csv", "sleep_mi.csv"):
        shutil.copy(quickstart[0] / "coded" / name, reviewed / name)
    path = reviewed / "drinking_mi.csv"
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    rows.append(list(rows[2]))  # utterance_index 1 again, as a copy-paste in a spreadsheet leaves it
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    with pytest.raises(ReviewError) as caught:
        review_import([reviewed], tmp_path / "corrections.csv", codebook=codebook)
    [problem] = caught.value.problems
    assert problem.code == "E510" and problem.fields["session"] == "drinking_mi" and problem.fields["index"] == 1
    assert problem.fields["rows"] == f"row 3, row {len(rows)}"
    assert str(path) in str(problem)
    assert not (tmp_path / "corrections.csv").exists()
    assert main(["review", "import", str(reviewed), "--out", str(tmp_path / "corrections.csv")]) == 1
    assert "E510" in capsys.readouterr().err and not (tmp_path / "corrections.csv").exists()
