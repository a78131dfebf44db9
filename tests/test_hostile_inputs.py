"""Issue 14: hostile inputs and faults. Nothing is lost, nothing is written where it should not
be, and every case ends in one line with a stable code, never a traceback.

Every fixture is generated inside ``tmp_path``. The batch tests code a hostile input beside a
clean session and check both the exact code and that the clean session was coded.
"""

from __future__ import annotations

import csv
import io
import json
import pickle
import shutil
import time
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

#: Peak RSS (MB) a run coding a 5 MB transcript of short turns may reach (it is refused; the
#: models and reading the file set the peak). Measured: see the README's "Limits" paragraph.
PEAK_RSS_BOUND_MB = 1100

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


# ================================================================== batch runs
# Each case codes a hostile input beside a clean session, checks the exact code, and that the clean
# session was coded (and the aggregates written).
def _clean(folder: Path, name: str = "clean.txt") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(CLEAN, encoding="utf-8")
    return path


def _errors(out: Path) -> list[tuple[str, str, str, str]]:
    """errors.csv as (session_id, level, code, line) rows."""
    return [(r["session_id"], r["level"], r["code"], r["line"]) for r in read_rows(out / "errors.csv")[1]]


def _assert_clean_coded(result, out: Path, session_id: str = "clean") -> None:
    record = next(r for r in result.records if r.session_id == session_id)
    assert record.status == "coded" and record.units == 4
    assert len(read_rows(out / "coded" / f"{session_id}.csv")[1]) == 4
    assert session_id in [r["session_id"] for r in read_rows(out / "sessions.csv")[1]]
    assert (out / "codes.csv").is_file() and (out / "run.json").is_file()


def test_batch_with_a_lone_surrogate_codes_every_session_and_resumes(tmp_path, model_set):
    from transcript_coder.batch import code

    inputs = tmp_path / "in"
    _clean(inputs)
    (inputs / "surrogate.json").write_text(
        '[{"speaker": "Client \\ud800", "text": "I feel stuck \\udfff."},'
        ' {"speaker": "Therapist", "text": "Stuck how?"}]', encoding="utf-8")
    out = tmp_path / "out"
    result = code([inputs], out, models=model_set)
    assert {r.session_id: r.status for r in result.records} == {"clean": "coded", "surrogate": "coded"}
    assert ("surrogate", "warning", "E120", "") in _errors(out)
    coded = read_rows(out / "coded" / "surrogate.csv")[1]
    assert coded[0]["speaker"] == "Client \ufffd" and coded[0]["text"] == "I feel stuck \ufffd."
    _assert_clean_coded(result, out)
    again = code([inputs], out, models=model_set)  # the resume no longer crashes on it
    assert {r.status for r in again.records} == {"skipped"}


def test_batch_with_a_damaged_utf8_byte_warns_e121_with_the_line(tmp_path, model_set):
    from transcript_coder.batch import code

    inputs = tmp_path / "in"
    _clean(inputs)
    (inputs / "damaged.txt").write_bytes(
        "Therapist: Un café?\nClient: Oui, un caf\xff au lait.\nTherapist: Très bien.\nClient: Merci.\n"
        .encode("utf-8").replace(b"\xc3\xbf", b"\xff"))
    out = tmp_path / "out"
    result = code([inputs], out, models=model_set)
    assert ("damaged", "warning", "E121", "2") in _errors(out)
    texts = [r["text"] for r in read_rows(out / "coded" / "damaged.csv")[1]]
    assert texts[0] == "Un café?" and texts[1] == "Oui, un caf\ufffd au lait."
    assert "E121: " in result.report()
    _assert_clean_coded(result, out)


def test_a_failure_while_storing_one_session_is_that_sessions_error(tmp_path, model_set, monkeypatch):
    import transcript_coder.batch as batch

    inputs = tmp_path / "in"
    _clean(inputs)
    _clean(inputs, "poison.txt")
    real = batch.write_coded_session

    def failing(path, session, *args, **kwargs):
        if session.session_id == "poison":
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        return real(path, session, *args, **kwargs)

    monkeypatch.setattr(batch, "write_coded_session", failing)
    out = tmp_path / "out"
    result = batch.code([inputs], out, models=model_set)
    poison = next(r for r in result.records if r.session_id == "poison")
    assert poison.status == "failed" and [p.code for p in poison.problems] == ["E405"]
    assert "could not be stored" in poison.problems[0].message
    assert ("poison", "error", "E405", "") in _errors(out)
    assert not (out / "coded" / "poison.csv").exists() and not (out / ".state" / "poison.json").exists()
    _assert_clean_coded(result, out)


def test_batch_with_a_docx_zip_bomb_refuses_it_and_codes_the_rest(tmp_path, model_set):
    from transcript_coder.batch import code

    inputs = tmp_path / "in"
    _clean(inputs)
    _docx(inputs / "bomb.docx", b"<w:t>aaaaa</w:t>" * 65536, 80)
    out = tmp_path / "out"
    result = code([inputs], out, models=model_set)
    assert ("bomb", "error", "E122", "") in _errors(out)
    _assert_clean_coded(result, out)


# ------------------------------------------------------------------ 3. memory inside one session
def test_a_session_over_the_unit_limit_is_refused_with_e123(tmp_path, model_set):
    from transcript_coder.batch import CodeOptions, code

    inputs = tmp_path / "in"
    _clean(inputs)
    (inputs / "long.txt").write_text("".join(f"Therapist: Turn {i}.\nClient: Yes {i}.\n" for i in range(30)))
    out = tmp_path / "out"
    result = code([inputs], out, CodeOptions(max_units=50), models=model_set)
    [problem] = next(r for r in result.records if r.session_id == "long").problems
    assert problem.code == "E123" and "60 turns" in problem.message and "50 units" in problem.message
    assert "--max-units" in problem.message
    _assert_clean_coded(result, out)


def test_an_input_over_the_size_limit_is_refused_before_it_is_read(tmp_path, model_set, monkeypatch):
    import transcript_coder.readers as readers
    from transcript_coder.batch import CodeOptions, code

    inputs = tmp_path / "in"
    _clean(inputs)
    (inputs / "big.txt").write_text("Therapist: Hello.\nClient: Hi.\n" * 40000)  # 1.1 MB
    read = []
    real = readers.read_transcript
    monkeypatch.setattr(readers, "read_transcript", lambda path, *a, **k: read.append(Path(path).name) or real(path, *a, **k))
    out = tmp_path / "out"
    result = code([inputs], out, CodeOptions(max_input_mb=1), models=model_set)
    [problem] = next(r for r in result.records if r.session_id == "big").problems
    assert problem.code == "E123" and "1.1 MB" in problem.message and "--max-input-mb" in problem.message
    assert "big.txt" not in read
    _assert_clean_coded(result, out)


def test_peak_memory_of_a_5_mb_session_is_bounded(tmp_path):
    """A 5 MB transcript of 230,000 short turns (over the default unit limit) beside a clean
    session, through the CLI in its own process: refused with E123 after reading, the clean
    session coded, and the process's peak RSS stays near the models' own footprint (before the
    limits, a 2 MB file of such turns peaked at 1.26 GB and 5 MB at several GB)."""
    import os
    import subprocess
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from session_memory import run, write_session

    big, clean = tmp_path / "big.txt", tmp_path / "clean.txt"
    turns = write_session(big, mb=5)
    clean.write_text(CLEAN, encoding="utf-8")
    assert turns > 200_000
    result = run(big, clean, tmp_path / "out", [])
    assert result["exit"] == 1, result["output"]
    assert result["errors"] == {"big.txt": "E123"} and result["coded"] == ["clean"]
    assert result["peak_rss_mb"] < PEAK_RSS_BOUND_MB, result


# ------------------------------------------------------------------ 6, 7, 12. inputs that are not files
def test_unreadable_folder_entries_are_listed_as_warnings_e415(tmp_path, model_set):
    import os

    from transcript_coder.batch import code

    inputs = tmp_path / "in"
    _clean(inputs)
    (inputs / "dangling.txt").symlink_to(tmp_path / "gone.txt")
    (inputs / "loop_a.txt").symlink_to(inputs / "loop_b.txt")
    (inputs / "loop_b.txt").symlink_to(inputs / "loop_a.txt")
    os.mkfifo(inputs / "pipe.txt")
    out = tmp_path / "out"
    result = code([inputs], out, models=model_set)
    warned = {Path(r["input"]).name: (r["level"], r["code"], r["message"]) for r in read_rows(out / "errors.csv")[1]}
    assert {name: w[:2] for name, w in warned.items()} == {
        "dangling.txt": ("warning", "E415"), "loop_a.txt": ("warning", "E415"), "loop_b.txt": ("warning", "E415"),
        "pipe.txt": ("warning", "E415")}
    assert "which does not exist" in warned["dangling.txt"][2] and "loop" in warned["loop_a.txt"][2]
    assert "named pipe" in warned["pipe.txt"][2]
    assert result.ok and [r.session_id for r in result.records if r.status == "coded"] == ["clean"]
    assert "E415" in result.report()
    _assert_clean_coded(result, out)


def test_a_fifo_named_on_the_command_line_is_refused_up_front(tmp_path, model_set):
    import os

    from transcript_coder.batch import code

    clean = _clean(tmp_path / "in")
    os.mkfifo(tmp_path / "in" / "fifo.txt")
    (tmp_path / "in" / "dangling.txt").symlink_to(tmp_path / "nowhere.txt")
    out = tmp_path / "out"
    started = time.monotonic()
    result = code([tmp_path / "in" / "fifo.txt", tmp_path / "in" / "dangling.txt", clean], out, models=model_set)
    assert time.monotonic() - started < 120  # it never waits for a writer
    problems = {Path(r.input).name: r.problems[0] for r in result.records if r.status == "failed"}
    assert problems["fifo.txt"].code == "E116" and "named pipe" in problems["fifo.txt"].message
    assert problems["dangling.txt"].code == "E116"
    assert "symbolic link to" in problems["dangling.txt"].message and "does not exist" in problems["dangling.txt"].message
    _assert_clean_coded(result, out)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_pipe_input_is_read_once(tmp_path, model_set, jobs):
    """``transcript-coder code <(cat session.txt)``: the shell hands over /dev/fd/N, a pipe that
    can be read once; it used to be read for the hash and then parsed as empty. With ``--jobs`` the
    bytes read once go to the reading process."""
    import os
    import threading

    from transcript_coder.batch import CodeOptions, code

    clean = _clean(tmp_path / "in")
    read_end, write_end = os.pipe()

    def writer():
        with os.fdopen(write_end, "wb") as handle:
            handle.write(CLEAN.replace("drinking", "smoking").encode("utf-8"))

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        out = tmp_path / "out"
        result = code([f"/dev/fd/{read_end}", clean], out, CodeOptions(jobs=jobs), models=model_set)
    finally:
        thread.join()
        os.close(read_end)
    piped = result.records[0]
    assert piped.status == "coded" and piped.units == 4, piped.problems
    rows = read_rows(out / "coded" / f"{piped.session_id}.csv")[1]
    assert "smoking" in rows[1]["text"]
    _assert_clean_coded(result, out)


# ------------------------------------------------------------------ 9. --out where nothing can be written
@pytest.mark.parametrize("where", ["proc", "below_a_file", "read_only"])
def test_an_unwritable_out_is_e406_and_exit_2(tmp_path, where, monkeypatch, capsys):
    import errno
    import os

    from transcript_coder.cli import main

    clean = _clean(tmp_path / "in")
    if where == "proc":
        out = Path("/proc/transcript-coder-test/out")
    elif where == "below_a_file":
        (tmp_path / "a_file").write_text("x")
        out = tmp_path / "a_file" / "out"
    else:
        out = tmp_path / "read_only" / "out"
        real = os.mkdir

        def read_only(path, *args, **kwargs):  # a read-only file system refuses every new entry
            if str(path).startswith(str(tmp_path / "read_only")):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
            return real(path, *args, **kwargs)

        monkeypatch.setattr(os, "mkdir", read_only)
    assert main(["code", str(clean), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "E406: " in err and "cannot write output" in err and "Traceback" not in err
    assert not out.exists()


# ------------------------------------------------------------------ 10. long file names
def test_a_249_byte_input_name_is_coded(tmp_path, model_set):
    from transcript_coder.batch import code

    inputs = tmp_path / "in"
    _clean(inputs)
    long_name = "s" * 245 + ".txt"
    (inputs / long_name).write_text(CLEAN, encoding="utf-8")
    out = tmp_path / "out"
    result = code([inputs], out, models=model_set)
    assert all(r.status == "coded" for r in result.records), [r.problems for r in result.records]
    [coded] = [p for p in (out / "coded").iterdir() if p.name.startswith("s" * 150)]  # whatever the escaping
    assert len(read_rows(coded)[1]) == 4
    _assert_clean_coded(result, out)


# ------------------------------------------------------------------ 11. full disk
def test_on_a_full_disk_the_sessions_not_written_are_listed_in_the_summary(tmp_path, model_set, monkeypatch, capsys):
    import errno
    import os

    import transcript_coder.writers.atomic as atomic
    from transcript_coder.batch import code
    from transcript_coder.results import RunResult

    inputs = tmp_path / "in"
    _clean(inputs)
    _clean(inputs, "later.txt")
    real = atomic.os.replace

    def replace(source, target):  # the disk fills up: the later session's files and the aggregates fail
        if Path(target).stem == "later" or Path(target).name in ("codes.csv", "sessions.csv", "errors.csv",
                                                                   "run.json"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))
        return real(source, target)

    monkeypatch.setattr(atomic.os, "replace", replace)
    out = tmp_path / "out"
    result = code([inputs], out, models=model_set)
    assert isinstance(result, RunResult) and not result.ok
    later = next(r for r in result.records if r.session_id == "later")
    assert later.status == "failed" and later.problems[0].code == "E406"
    assert next(r for r in result.records if r.session_id == "clean").status == "coded"
    assert [p.code for p in result.unwritten] == ["E406"] and not (out / "errors.csv").exists()
    summary = result.report()
    assert "later: E406: " in summary and "No space left on device" in summary and "not written" in summary
    assert not list(out.rglob(".tc-*"))  # no temporary left behind
    monkeypatch.undo()
    from transcript_coder.cli import main

    assert main(["code", str(inputs), "--out", str(out), "--quiet"]) == 0  # space again: resumes
    assert (out / "errors.csv").is_file() and (out / "coded" / "later.csv").is_file()


# ------------------------------------------------------------------ 13. one run per output folder
def test_a_second_run_into_a_locked_folder_is_e416_and_a_killed_holder_releases_it(tmp_path, model_set):
    import signal
    import subprocess
    import sys

    from transcript_coder.batch import LOCK_FILE, code
    from transcript_coder.errors import UsageError

    clean = _clean(tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time\n"
         "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\nfcntl.flock(fd, fcntl.LOCK_EX)\n"
         "os.write(fd, str(os.getpid()).encode())\nprint('locked', flush=True)\ntime.sleep(600)",
         str(out / LOCK_FILE)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(UsageError) as caught:
            code([clean], out, models=model_set)
        assert caught.value.code == "E416" and f"process {holder.pid}" in str(caught.value)
        assert not (out / "coded" / "clean.csv").exists()
    finally:
        holder.send_signal(signal.SIGKILL)  # a crash: the kernel drops the lock
        holder.wait()
    result = code([clean], out, models=model_set)
    _assert_clean_coded(result, out)
    assert (out / LOCK_FILE).read_bytes() == b""  # released and emptied at the end of the run


# ------------------------------------------------------------------ 14. spreadsheet formulas
def test_csvs_keep_formula_like_text_byte_faithful(tmp_path, model_set):
    from transcript_coder.batch import code

    inputs = tmp_path / "in"
    _clean(inputs)
    turns = [("Therapist", "=1+1 is what you wrote?"), ("@Client", "+44 is my number, -5 is my score"),
             ("Therapist", '=HYPERLINK("http://example.invalid","click")'), ("@Client", "@SUM(A1)")]
    (inputs / "formulas.json").write_text(json.dumps([{"speaker": who, "text": text} for who, text in turns]),
                                          encoding="utf-8")
    out = tmp_path / "out"
    result = code([inputs], out, models=model_set)
    rows = read_rows(out / "coded" / "formulas.csv")[1]
    assert [r["text"] for r in rows] == ["=1+1 is what you wrote?", "+44 is my number, -5 is my score",
                                         '=HYPERLINK("http://example.invalid","click")', "@SUM(A1)"]
    assert rows[1]["speaker"] == "@Client"
    assert '"=HYPERLINK(""http://example.invalid"",""click"")"' in (out / "coded" / "formulas.csv").read_text()
    _assert_clean_coded(result, out)


def test_readme_warns_about_formulas_where_it_tells_people_to_open_csvs():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    outputs = readme[readme.index("**Outputs**"):readme.index("**Batches.**")]
    assert "formula" in outputs and "=" in outputs and "review export" in outputs


def test_an_explicit_dangling_symlink_alone_says_what_it_is(tmp_path, capsys):
    """Item 12: it used to say 'E401 ... no transcript files matched'."""
    from transcript_coder.cli import main

    link = tmp_path / "session.txt"
    link.symlink_to(tmp_path / "moved_away.txt")
    assert main(["code", str(link), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "E116: " in err and "E401" not in err
    assert f"symbolic link to '{tmp_path / 'moved_away.txt'}', which does not exist" in err
