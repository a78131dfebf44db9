"""Bad input always ends in an InputError with a stable code, the file name and the line."""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

import pytest

from transcript_coder.errors import InputError
from transcript_coder.readers import ReaderOptions, read_transcript, read_transcript_text

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "fixtures"
BAD = FIXTURES / "bad"
FIVE_MB = 5 * 1024 * 1024


def read_error(path: Path, options: ReaderOptions | None = None) -> InputError:
    with pytest.raises(InputError) as caught:
        read_transcript(path, options)
    return caught.value


@pytest.mark.parametrize(
    ("name", "code", "line", "detail"),
    [
        ("empty.txt", "E101", None, "empty"),
        ("whitespace_only.txt", "E101", None, "only whitespace"),
        ("binary.txt", "E102", None, "binary"),
        ("no_labels.txt", "E103", 3, "no speaker label"),
        ("malformed_timestamp.vtt", "E104", 6, "'00:00:0x.500'"),
        ("malformed_timing.srt", "E104", 6, "'00:00:03,500 -> 00:00:06,000'"),
        ("timestamp_out_of_range.txt", "E104", 3, "'00:75:10'"),
        ("truncated.json", "E105", 4, "column 60"),
        ("truncated_lines.jsonl", "E105", 3, "column 34"),
        ("undecodable.txt", "E106", None, "tried utf-8, cp1252"),
        ("no_text_column.csv", "E108", None, "'comment'"),
        ("vtt_no_speakers.vtt", "E103", 4, "no speaker label"),
    ],
)
def test_bad_fixture_gives_code_file_and_line(name, code, line, detail):
    error = read_error(BAD / name)
    message = str(error)
    assert error.code == code
    assert message.startswith(f"{code}: ")
    assert name in message
    assert error.path == str(BAD / name)
    assert error.line == line
    if line is not None:
        assert f"line {line}" in message
    assert detail in message


def test_truncated_json_says_it_was_cut_short():
    assert "cut short" in str(read_error(BAD / "truncated.json"))


def test_missing_file_and_directory():
    missing = read_error(BAD / "does_not_exist.txt")
    assert (missing.code, missing.fields["detail"]) == ("E116", "no such file")
    directory = read_error(BAD)
    assert (directory.code, directory.fields["detail"]) == ("E116", "it is a directory")


def test_unsupported_formats(tmp_path):
    pdf = tmp_path / "session.pdf"
    pdf.write_bytes(b"%PDF-1.7\n...")
    error = read_error(pdf)
    assert error.code == "E107" and "'.pdf'" in str(error) and ".vtt" in str(error)
    rtf = tmp_path / "session.txt"
    rtf.write_text("{\\rtf1\\ansi Therapist: hello}")
    assert read_error(rtf).code == "E107"


def test_unknown_forced_format_is_a_readable_error(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("Therapist: hi\n")
    error = read_error(path, ReaderOptions(format="pdf"))
    assert error.code == "E111" and "unknown reader 'pdf'" in str(error) and "srt.v1" in str(error)


def test_only_prose_labels_is_no_label(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("Note: client was late.\nPlan: review diary next week.\nNote: bring the form.\n")
    error = read_error(path)
    assert (error.code, error.line) == ("E103", 1)


def test_json_structure_errors(tmp_path):
    not_turns = tmp_path / "meta.json"
    not_turns.write_text(json.dumps({"session": "x", "date": "2024-01-01"}))
    assert read_error(not_turns).code == "E111"

    bad_item = tmp_path / "items.json"
    bad_item.write_text(json.dumps([{"speaker": "T", "text": "Hi"}, "just a string"]))
    error = read_error(bad_item)
    assert error.code == "E113" and "turn 2" in str(error)

    no_text = tmp_path / "keys.json"
    no_text.write_text(json.dumps([{"speaker": "T", "words": "Hi"}]))
    error = read_error(no_text)
    assert error.code == "E108" and "'words'" in str(error)

    bad_time = tmp_path / "whisperx.json"
    bad_time.write_text(json.dumps({"segments": [
        {"speaker": "A", "start": 0, "end": 1, "text": "Hi"},
        {"speaker": "B", "start": "soon", "end": 2, "text": "Hello"},
    ]}))
    error = read_error(bad_time)
    assert error.code == "E113" and "segment 2" in str(error) and "'soon'" in str(error)

    segments_not_list = tmp_path / "segments.json"
    segments_not_list.write_text(json.dumps({"segments": {"0": "x"}}))
    assert read_error(segments_not_list).code == "E111"


def test_csv_bad_time_is_e104_with_the_row_line(tmp_path):
    path = tmp_path / "times.csv"
    path.write_text("speaker,start,text\nT,0.0,Hello\nC,half past,Hi\n")
    error = read_error(path)
    assert (error.code, error.line) == ("E104", 3)
    assert "'half past'" in str(error)


def test_csv_header_only_has_no_turns(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("speaker,text\n")
    assert read_error(path).code == "E109"


def test_srt_text_before_any_cue(tmp_path):
    path = tmp_path / "loose.srt"
    path.write_text("Therapist: hello\n\n1\n00:00:01,000 --> 00:00:02,000\nClient: hi\n")
    error = read_error(path)
    assert (error.code, error.line) == ("E110", 1)


def test_docx_without_python_docx_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "docx", None)  # makes "import docx" raise ImportError
    error = read_error(FIXTURES / "transcripts" / "docx_table.docx")
    assert error.code == "E114"
    assert 'pip install "transcript_coder[docx]"' in str(error)
    assert "docx_table.docx" in str(error)


def test_corrupt_docx(tmp_path):
    pytest.importorskip("docx")
    path = tmp_path / "broken.docx"
    path.write_bytes(b"PK\x03\x04 this is not really a zip archive word/document.xml")
    error = read_error(path)
    assert error.code == "E115" and "broken.docx" in str(error)


def test_one_speaker_is_not_an_error_for_the_reader(tmp_path):
    path = tmp_path / "monologue.txt"
    path.write_text("Client: I just want to talk today.\nClient: Is that all right?\n")
    session = read_transcript(path)
    assert session.speakers == ["Client"] and len(session.turns) == 2


# --- a single 5 MB line ---------------------------------------------------------------------------


def _timed_read(path: Path, options: ReaderOptions | None = None):
    started = time.perf_counter()
    try:
        result = read_transcript(path, options)
    except InputError as error:
        result = error
    return result, time.perf_counter() - started


def test_labelled_5mb_line_is_read_quickly(tmp_path):
    path = tmp_path / "long.txt"
    body = "I keep going over it " * (FIVE_MB // 21)
    path.write_text("Therapist: " + body + "\nClient: Yes.\n")
    session, seconds = _timed_read(path)
    assert seconds < 10
    assert [t.speaker for t in session.turns] == ["Therapist", "Client"]
    assert len(session.turns[0].text) == len(body.strip())


@pytest.mark.parametrize(
    "line",
    [
        "word " * (FIVE_MB // 5),  # no label at all
        ":" * FIVE_MB,
        "a" * FIVE_MB + ": text",  # a far too long "label"
        "Therapist" + " " * FIVE_MB + "x",
        "[" * FIVE_MB,
        "0:" * (FIVE_MB // 2),
        "[00:01:02] " + "Dr. " * (FIVE_MB // 4),
        "**" * (FIVE_MB // 2),
        "<v " * (FIVE_MB // 3),
    ],
    ids=["words", "colons", "long-label", "spaces", "brackets", "clock-like", "names", "stars", "voice-tags"],
)
def test_pathological_5mb_line_fails_fast_and_cleanly(tmp_path, line):
    path = tmp_path / "huge.txt"
    path.write_text(line)
    error, seconds = _timed_read(path)
    assert seconds < 10
    assert isinstance(error, InputError)
    assert error.code == "E103" and error.line == 1 and "huge.txt" in str(error)
    assert len(str(error)) < 300  # the line itself is never pasted into the message


@pytest.mark.parametrize(
    ("suffix", "content"),
    [
        (".csv", "speaker,text\nTherapist,{body}\n"),
        (".vtt", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Therapist>{body}\n"),
        (".srt", "1\n00:00:01,000 --> 00:00:02,000\nTherapist: {body}\n"),
        (".json", '[{{"speaker": "Therapist", "text": "{body}"}}]'),
    ],
)
def test_5mb_turn_in_other_formats(tmp_path, suffix, content):
    path = tmp_path / f"long{suffix}"
    path.write_text(content.format(body="so " * (FIVE_MB // 3)))
    session, seconds = _timed_read(path)
    assert seconds < 10
    assert len(session.turns) == 1 and session.turns[0].speaker == "Therapist"
    assert len(session.turns[0].text) == len("so " * (FIVE_MB // 3)) - 1


# --- never a traceback ----------------------------------------------------------------------------


def test_random_damage_never_escapes_as_a_traceback(tmp_path):
    """Truncate and corrupt every fixture; each result is a Session or an InputError."""
    rng = random.Random(7)
    sources = sorted(p for p in (FIXTURES / "transcripts").iterdir() if p.suffix != ".py")
    for source in sources:
        data = source.read_bytes()
        for attempt in range(3):
            damaged = bytearray(data[: rng.randrange(1, len(data) + 1)])
            for _ in range(rng.randrange(0, 4)):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            path = tmp_path / f"{attempt}_{source.name}"
            path.write_bytes(bytes(damaged))
            try:
                read_transcript(path)
            except InputError as error:
                assert path.name in str(error)
                assert "could not read it" not in str(error), f"reader bug on {source.name}: {error}"


def test_read_transcript_text_for_pasted_text():
    session = read_transcript_text("Therapist: How are you?\r\nClient: Tired.\r\n")
    assert (session.session_id, session.source) == ("pasted", None)
    assert [(t.speaker, t.text, t.line) for t in session.turns] == [
        ("Therapist", "How are you?", 1), ("Client", "Tired.", 2),
    ]
    with pytest.raises(InputError) as caught:
        read_transcript_text("  \n ")
    assert caught.value.code == "E101"


def test_webvtt_with_only_a_header_has_no_turns(tmp_path):
    path = tmp_path / "header.vtt"
    path.write_text("WEBVTT\n\nNOTE nothing was said\n")
    assert read_error(path).code == "E109"


@pytest.mark.parametrize(
    "cue_text",
    ["<v " * (FIVE_MB // 3), "<" + "a" * FIVE_MB, "<i>" * (FIVE_MB // 3), "{\\" * (FIVE_MB // 2), "- " * (FIVE_MB // 2)],
    ids=["voice-tags", "open-tag", "italics", "ass-override", "dashes"],
)
def test_pathological_5mb_caption_is_fast(tmp_path, cue_text):
    path = tmp_path / "huge.vtt"
    path.write_text("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n" + cue_text + "\n")
    result, seconds = _timed_read(path)
    assert seconds < 10
    assert isinstance(result, InputError) and result.code in ("E103", "E109")
