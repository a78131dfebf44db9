"""Format detection by content and extension, decoding, timestamps and label matching."""

from __future__ import annotations

import codecs
import json

import pytest

from transcript_coder.errors import InputError
from transcript_coder.readers import ReaderOptions, detect_format, read_transcript, resolve_reader
from transcript_coder.readers.labels import LabelVocabulary, match_label
from transcript_coder.readers.text_io import decode_transcript, sniff_utf16
from transcript_coder.readers.timestamps import parse_clock, parse_seconds

WHISPERX = json.dumps({"segments": [{"start": 0, "end": 1, "text": "Hi", "speaker": "SPEAKER_00"}]})
TURN_LIST = json.dumps([{"speaker": "T", "text": "Hi"}])
JSON_LINES = '{"speaker": "T", "text": "Hi"}\n{"speaker": "C", "text": "Hello"}\n'
SRT = "1\n00:00:01,000 --> 00:00:02,000\nT: Hi\n"
VTT_NO_HEADER = "00:01.000 --> 00:02.000\nT: Hi\n"


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("a.txt", "WEBVTT\n\n00:01.000 --> 00:02.000\nT: Hi\n", "webvtt.v1"),
        ("a.txt", "\ufeffWEBVTT\n", "webvtt.v1"),
        ("a.json", WHISPERX, "whisperx_json.v1"),
        ("a.json", TURN_LIST, "json_turns.v1"),
        ("a.json", '{"turns": [{"speaker": "T", "text": "mentions \\"segments\\": ["}]}', "json_turns.v1"),
        ("a.json", JSON_LINES, "jsonl_turns.v1"),
        ("a.txt", WHISPERX, "whisperx_json.v1"),
        ("a.txt", TURN_LIST, "json_turns.v1"),
        ("a.jsonl", JSON_LINES, "jsonl_turns.v1"),
        ("a.txt", SRT, "srt.v1"),
        ("a", VTT_NO_HEADER, "webvtt.v1"),
        ("a.srt", VTT_NO_HEADER, "srt.v1"),
        ("a.txt", "speaker,text\nT,Hi\n", "csv.v1"),
        ("a.txt", "Speaker\tUtterance\nT\tHi\n", "csv.v1"),
        ("a.csv", "T: hi, there\n", "csv.v1"),
        ("a.txt", "T: hi, there; and text\n", "labelled_text.v2"),
        ("a.txt", "[00:01:02] Therapist: hi\n", "labelled_text.v2"),  # not a JSON array
        ("a.log", "Therapist: hi\n", "labelled_text.v2"),
        ("a.vtt", "Therapist: hi\nClient: hello\n", "labelled_text.v2"),  # no cue timing at all
        ("a.md", "**T:** hi\n", "labelled_text.v2"),
    ],
)
def test_detect_format_by_content(name, text, expected):
    assert detect_format(name, text) == expected


def test_detect_format_by_extension_only():
    assert detect_format("x.vtt") == "webvtt.v1"
    assert detect_format("x.TSV") == "csv.v1"
    assert detect_format("x.docx") == "docx.v2"
    assert detect_format("x.unknown") == "labelled_text.v2"
    with pytest.raises(InputError) as caught:
        detect_format("x.doc")
    assert caught.value.code == "E107"


def test_custom_columns_make_a_txt_table_detectable():
    text = "person|words\nT|Hi\n"
    assert detect_format("a.txt", text) == "labelled_text.v2"
    options = ReaderOptions(speaker_columns=("person",), text_columns=("words",))
    assert detect_format("a.txt", text, options) == "csv.v1"


def test_forced_format_overrides_detection(tmp_path):
    path = tmp_path / "captions.txt"
    path.write_text("00:00:01,000 --> 00:00:02,000\nTherapist: Hi\n")
    assert read_transcript(path).reader == "srt.v1"
    assert read_transcript(path, ReaderOptions(format="vtt")).reader == "webvtt.v1"
    assert resolve_reader("whisperx") == "whisperx_json.v1"
    assert resolve_reader("labelled_text.v1") == "labelled_text.v1"
    assert resolve_reader("TSV") == "csv.v1"


def test_json_lines_content_in_a_json_file_is_read(tmp_path):
    path = tmp_path / "export.json"
    path.write_text(JSON_LINES)
    session = read_transcript(path)
    assert session.reader == "jsonl_turns.v1"
    assert [(t.speaker, t.line) for t in session.turns] == [("T", 1), ("C", 2)]


# --- decoding -------------------------------------------------------------------------------------

TEXT = "Therapist: “Hi” — café\nClient: ok\n"


@pytest.mark.parametrize(
    ("data", "encoding", "bom"),
    [
        (TEXT.encode("utf-8"), "utf-8", False),
        (codecs.BOM_UTF8 + TEXT.encode("utf-8"), "utf-8", True),
        (codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"), "utf-16-le", True),
        (codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"), "utf-16-be", True),
        (TEXT.encode("utf-16-le"), "utf-16-le", False),
        (TEXT.encode("utf-16-be"), "utf-16-be", False),
        (codecs.BOM_UTF32_LE + TEXT.encode("utf-32-le"), "utf-32-le", True),
        (TEXT.encode("cp1252"), "cp1252", False),
        (TEXT.replace("\n", "\r\n").encode("cp1252"), "cp1252", False),
    ],
)
def test_decode_transcript(data, encoding, bom):
    decoded = decode_transcript(data, "x.txt")
    assert decoded.text == TEXT
    assert (decoded.encoding, decoded.bom) == (encoding, bom)


def test_decode_forced_encoding_and_errors():
    assert decode_transcript("Therapist: é\n".encode("latin-1"), "x.txt", encoding="latin-1").text == "Therapist: é\n"
    with pytest.raises(InputError) as caught:
        decode_transcript(b"\xff\xfe\x00", "x.txt", encoding="utf-8")
    assert caught.value.code == "E106" and "utf-8" in str(caught.value)
    with pytest.raises(InputError) as caught:
        decode_transcript(b"Therapist: hi\x00\x01\x02 \x00 binary", "x.txt")
    assert caught.value.code == "E102"
    with pytest.raises(InputError) as caught:
        decode_transcript(b"\x01\x02\x03\x04\x05\x06 control soup \x07\x08\x0e\x0f", "x.txt")
    assert caught.value.code == "E102"
    with pytest.raises(InputError) as caught:
        decode_transcript(codecs.BOM_UTF16_LE + "  \r\n ".encode("utf-16-le"), "x.txt")
    assert caught.value.code == "E101"


def test_sniff_utf16_needs_the_nul_pattern():
    assert sniff_utf16("Therapist: hi".encode("utf-16-le")) == "utf-16-le"
    assert sniff_utf16("Therapist: hi".encode("utf-16-be")) == "utf-16-be"
    assert sniff_utf16(b"Therapist: hi") is None
    assert sniff_utf16(bytes(64)) is None  # all NULs: binary, not text


# --- timestamps -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("00:01:02", 62.0), ("1:02:03.5", 3723.5), ("01:02", 62.0), ("75:10", 4510.0), ("00:00:01,250", 1.25)],
)
def test_parse_clock(value, seconds):
    assert parse_clock(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["00:60:00", "00:00:61", "1:2:3:4", "ab:cd", "12"])
def test_parse_clock_rejects(value):
    with pytest.raises(ValueError):
        parse_clock(value)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(3, 3.0), (2.5, 2.5), ("12.5", 12.5), ("12,5", 12.5), ("4s", 4.0), ("00:00:26.5", 26.5), ("", None), (None, None)],
)
def test_parse_seconds(value, seconds):
    assert parse_seconds(value) == seconds


@pytest.mark.parametrize("value", ["soon", True, float("nan"), "1.2.3"])
def test_parse_seconds_rejects(value):
    with pytest.raises(ValueError):
        parse_seconds(value)


# --- labels ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "name", "text", "timestamp"),
    [
        ("Therapist: How are you?", "Therapist", "How are you?", None),
        ("T:Hello", "T", "Hello", None),
        ("Dr. Lee: Go on.", "Dr. Lee", "Go on.", None),
        ("SPEAKER_00: hm", "SPEAKER_00", "hm", None),
        ("Speaker 2: yes", "Speaker 2", "yes", None),
        ("[00:01:02] Maria: yes", "Maria", "yes", "00:01:02"),
        ("(01:02) Maria: yes", "Maria", "yes", "01:02"),
        ("00:01:02 - Maria: yes", "Maria", "yes", "00:01:02"),
        ("Maria (01:02): yes", "Maria", "yes", "01:02"),
        ("Maria [00:01:02.5]: yes", "Maria", "yes", "00:01:02.5"),
        ("**Client:** fine", "Client", "fine", None),
        ("**Client**: fine", "Client", "fine", None),
        ("- Sam: ok", "Sam", "ok", None),
        ("Client:", "Client", "", None),
        ("Speaker 1  0:03", "Speaker 1", "", "0:03"),
    ],
)
def test_match_label(line, name, text, timestamp):
    match = match_label(line)
    assert match is not None
    assert (match.name, match.text, match.timestamp) == (name, text, timestamp)


@pytest.mark.parametrize(
    "line",
    [
        "https://example.org/page",
        "We met at 10:30 as planned",
        "A sentence that is far too long to be a label: it goes on",
        "and then she said to me: no",  # six words before the colon
        "12:30: lunch",
        "",
        "   ",
    ],
)
def test_match_label_rejects(line):
    assert match_label(line) is None


def test_label_vocabulary_decides_per_file():
    vocabulary = LabelVocabulary(["Therapist", "Maria", "Note", "So", "honestly", "Jo", "Jo"], always=["Aside"])
    assert vocabulary.accepts("Therapist")  # a role word
    assert vocabulary.accepts("SPEAKER_03")  # an anonymous label
    assert vocabulary.accepts("Maria")  # looks like a name
    assert vocabulary.accepts("Jo")  # recurs
    assert vocabulary.accepts("Aside")  # asked for explicitly
    assert not vocabulary.accepts("Note")  # prose lead-in
    assert not vocabulary.accepts("So")
    assert not vocabulary.accepts("honestly")  # lower-case, once
    assert not vocabulary.accepts("and then she said")  # not a name
    assert not vocabulary.accepts("laughs")  # a sound, not a speaker


def test_speaker_labels_option_accepts_an_unusual_label(tmp_path):
    path = tmp_path / "odd.txt"
    path.write_text("Therapist: What did you write?\nNote: this one is a speaker here.\n")
    assert [t.speaker for t in read_transcript(path).turns] == ["Therapist"]
    session = read_transcript(path, ReaderOptions(speaker_labels=("Note",)))
    assert [t.speaker for t in session.turns] == ["Therapist", "Note"]
