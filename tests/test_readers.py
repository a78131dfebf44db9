"""Every reader on its fixtures: exact speakers, texts, times, line numbers and turn counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from transcript_coder.errors import InputError
from transcript_coder.readers import ReaderOptions, read_transcript
from transcript_coder.registry import readers

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "fixtures"
TRANSCRIPTS = FIXTURES / "transcripts"
SESSIONS = FIXTURES / "sessions"


def rows(session, *fields):
    """The turns as tuples of the given fields, for one exact comparison."""
    return [tuple(getattr(turn, name) for name in fields) for turn in session.turns]


def test_all_readers_are_registered_with_versions():
    assert readers.names() == [
        "csv.v1",
        "docx.v1",
        "docx.v2",
        "json_turns.v1",
        "jsonl_turns.v1",
        "labelled_text.v1",
        "labelled_text.v2",
        "srt.v1",
        "webvtt.v1",
        "whisperx_json.v1",
    ]


# --- labelled text -------------------------------------------------------------------------------


def test_labelled_text_joins_continuations_and_keeps_each_labelled_line_a_turn():
    session = read_transcript(TRANSCRIPTS / "labelled_basic.txt")
    assert session.reader == "labelled_text.v2"
    assert session.session_id == "labelled_basic"
    assert session.source == TRANSCRIPTS / "labelled_basic.txt"
    assert rows(session, "line", "speaker", "text") == [
        (1, "Therapist", "Thanks for coming back this week. Last time you mentioned the nights have been "
                         "rough. How has sleep been since then?"),
        (3, "Client", "Honestly, not much better. I get into bed around eleven and I'm still staring at "
                      "the ceiling at two."),
        (6, "Client", "Sometimes three."),
        (7, "Therapist", "So the hours in bed are there, but the sleep isn't coming."),
        # "Note:" inside a turn is prose, not a speaker.
        (8, "Client", "Right. And then I drag myself through the morning on coffee. Note: I counted, it "
                      "was five cups on Tuesday."),
        (10, "Therapist", "Five cups. What do you make of that?"),
        # A line starting with a URL ("https:") is not a label either.
        (11, "Client", "I know it probably doesn't help. My sister sent me this page, "
                       "https://example.org/sleep-hygiene, and it says to stop caffeine after noon."),
        (13, "Therapist", "What would it be like to try that for a week?"),
        (14, "Client", "Scary, to be honest. But I'd like to wake up feeling like a person again."),
    ]
    assert all(turn.start is None and turn.end is None and turn.role is None for turn in session.turns)
    assert session.warnings == ["line 9: 'Note:' read as text, not as a speaker label"]


def test_labelled_text_crlf_one_letter_labels_and_a_title_header():
    session = read_transcript(TRANSCRIPTS / "labelled_crlf_short_labels.txt")
    assert session.speakers == ["T", "C"]
    assert [t.line for t in session.turns] == [4, 5, 6, 7, 8, 9, 10, 11]
    assert [t.speaker for t in session.turns] == ["T", "C", "T", "C", "T", "C", "C", "T"]
    assert session.turns[0].text == "You said on the phone you'd like to talk about the cigarettes."
    assert session.turns[-1].text == "So the breaks give you something you need, and the cigarettes come with them."
    assert not any("\r" in t.text for t in session.turns)
    # "Session 4 - smoking" / "Date: 3 March" above the dialogue are the header, not skipped text
    assert session.metadata == {"title": "Session 4 - smoking", "session": "4", "Date": "3 March"}
    assert not any("skipped" in w for w in session.warnings)


WORK_ANXIETY = [
    ("Counselor", "Last week you described the Monday meetings as “the worst hour of the week.” Is that still true?"),
    ("Patient", "Pretty much. My heart starts racing before I’ve even opened the door."),
    ("Counselor", "What goes through your mind right before you walk in?"),
    ("Patient", "That I’ll be asked something I can’t answer — and everyone will see it."),
    ("Counselor", "You’re expecting to be caught out in front of the whole team."),
    ("Patient", "Yes. Even though, when I think about it, it’s never actually happened."),
    ("Counselor", "What do you do afterwards, once the meeting is over?"),
    ("Patient", "I go down to the café on the corner and sit there for twenty minutes until my hands stop shaking."),
]


@pytest.mark.parametrize(
    "name",
    [
        "labelled_utf8_bom.txt",
        "labelled_utf16le_bom.txt",
        "labelled_utf16be_bom.txt",
        "labelled_utf16le_nobom.txt",
        "labelled_utf16be_nobom.txt",
        "labelled_cp1252.txt",
        "labelled_cr_only.txt",
    ],
)
def test_every_encoding_and_line_ending_reads_to_the_same_turns(name):
    session = read_transcript(TRANSCRIPTS / name)
    assert rows(session, "speaker", "text") == WORK_ANXIETY
    assert [t.line for t in session.turns] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert session.turns[0].speaker == "Counselor"  # no BOM left on the first label
    cp1252_note = "the file is not valid UTF-8; it was decoded as cp1252 (Windows-1252)"
    assert (cp1252_note in session.warnings) == (name == "labelled_cp1252.txt")


def test_bracketed_timestamps_before_named_speakers():
    session = read_transcript(TRANSCRIPTS / "labelled_timestamps_bracket.txt")
    assert session.speakers == ["Dr. Lee", "Maria"]
    assert [t.start for t in session.turns] == [4.0, 11.0, 24.0, 29.0, 35.0, 41.0, 49.5, 52.0]
    assert [t.line for t in session.turns] == [1, 2, 4, 5, 6, 7, 8, 9]
    assert session.turns[1].text == (
        "The weekends. Weekdays I have maybe a glass of wine with dinner, but Friday and Saturday it's "
        "more like a bottle each night."
    )
    assert session.turns[6].text == "On paper the weekends don't look light."


def test_timestamps_after_the_name_in_parentheses_and_brackets():
    session = read_transcript(TRANSCRIPTS / "labelled_timestamps_paren.txt")
    assert rows(session, "speaker", "start") == [
        ("Therapist", 5.0), ("Jordan", 9.0), ("Therapist", 17.0), ("Jordan", 21.0),
        ("Therapist", 29.5), ("Jordan", 34.25), ("Therapist", 43.0), ("Jordan", 47.0),
    ]
    assert session.turns[4].text == "It fills the time, but it doesn't give you much back."


def test_three_speakers_are_kept_apart():
    session = read_transcript(TRANSCRIPTS / "labelled_three_speakers.txt")
    assert session.speakers == ["Therapist", "Dana", "Sam"]
    assert [t.speaker for t in session.turns] == [
        "Therapist", "Dana", "Sam", "Therapist", "Sam", "Dana", "Therapist", "Dana", "Therapist", "Dana", "Sam",
    ]
    assert session.turns[-1].text == "I'd be happy to do that with you."


def test_anonymous_diarisation_labels():
    session = read_transcript(TRANSCRIPTS / "labelled_speaker00.txt")
    assert [t.speaker for t in session.turns] == [
        "SPEAKER_00", "SPEAKER_01", "SPEAKER_00", "SPEAKER_01", "SPEAKER_01", "SPEAKER_00", "SPEAKER_01",
    ]
    assert session.turns[4].text == "I know he's not actually checking on me. It just feels like it."


def test_markdown_bold_labels_heading_and_rule():
    session = read_transcript(TRANSCRIPTS / "labelled_speaker_numbers.md")
    assert rows(session, "line", "speaker") == [
        (3, "Speaker 1"), (5, "Speaker 2"), (7, "Speaker 1"), (9, "Speaker 2"), (14, "Speaker 1"), (16, "Speaker 2"),
    ]
    assert session.turns[3].text == "Because my daughter asked me to stop. She's nine and she worries. That one really got to me."
    assert session.turns[4].text == "She's given you a big reason."
    assert session.warnings == []  # the heading and the rule are not preamble text


# --- tables ---------------------------------------------------------------------------------------


def test_csv_with_role_column_quotes_and_a_multiline_cell():
    session = read_transcript(TRANSCRIPTS / "csv_role_column.csv")
    assert session.reader == "csv.v1"
    assert rows(session, "line", "speaker", "role", "start", "end") == [
        (2, "Dr. Okafor", "therapist", 0.0, 6.2),
        (3, "Alex", "client", 6.8, 14.1),
        (4, "Dr. Okafor", "therapist", 14.5, 19.0),
        (5, "Alex", "client", 19.4, 31.75),
        (6, "Dr. Okafor", "therapist", 32.0, 36.5),
        (7, "Alex", "client", 37.0, 52.0),
        (9, "Dr. Okafor", "therapist", 52.4, 58.0),
        (10, "Alex", "client", 58.5, 66.0),
    ]
    assert session.turns[1].text == "My drinking, I suppose. My GP said my liver numbers are up."
    assert session.turns[3].text == (
        'Shocked, honestly. I\'m 38. I thought that was something that happened to "old drinkers", not me.'
    )
    assert session.turns[5].text == (
        "No. And I've been thinking, maybe I should take a month off completely and see how I feel."
    )


def test_tsv_with_custom_column_names_needs_options():
    path = TRANSCRIPTS / "tsv_custom_columns.tsv"
    with pytest.raises(InputError) as caught:
        read_transcript(path)
    assert caught.value.code == "E108"
    message = str(caught.value)
    assert "tsv_custom_columns.tsv" in message and "'words'" in message and "text_columns" in message

    options = ReaderOptions(
        speaker_columns=("person",), text_columns=("words",), start_columns=("onset",), end_columns=("offset",)
    )
    session = read_transcript(path, options)
    assert rows(session, "line", "speaker", "start", "end") == [
        (2, "Counsellor", 2.0, 7.0),
        (3, "Priya", 8.0, 19.0),
        (4, "Counsellor", 20.0, 25.0),
        (5, "Priya", 26.0, 33.0),
        (6, "Counsellor", 34.0, 41.0),
        (7, "Priya", 42.0, 55.0),
    ]
    assert session.turns[1].text == (
        "I haven't slept properly since the baby arrived, and now that she sleeps through, I still don't."
    )
    assert all(t.role is None for t in session.turns)


def test_csv_semicolon_is_sniffed_and_gaps_are_reported():
    session = read_transcript(TRANSCRIPTS / "csv_semicolon.csv")
    assert rows(session, "line", "speaker", "text") == [
        (2, "Therapist", "What have you noticed about when you smoke most?"),
        (3, "Client", "After meals, and whenever I'm on the phone with my mother."),
        (4, "Client", "Those calls always stress me out."),  # empty speaker cell: previous speaker
        (5, "Therapist", "Smoking helps you get through the hard conversations."),
        (7, "Client", "It does. But I'm starting to think there must be another way."),  # line 6 is empty
    ]
    assert session.warnings == [
        "1 row(s) with empty text were skipped",
        "1 row(s) without a speaker were given the previous row's speaker",
    ]


# --- captions -------------------------------------------------------------------------------------


def test_webvtt_voice_tags_notes_styles_settings_and_overlaps():
    session = read_transcript(TRANSCRIPTS / "webvtt_voice_tags.vtt")
    assert session.reader == "webvtt.v1"
    assert rows(session, "line", "speaker", "start", "end", "text") == [
        (14, "Therapist", 1.0, 5.5, "Good to see you again. How did the week go with the drinking plan?"),
        (18, "Client", 6.0, 12.25, "Mixed. I kept to two drinks on Wednesday and Thursday, which felt good."),
        (22, "Client", 12.5, 15.0, "But Saturday was a disaster."),
        (27, "Therapist", 15.2, 19.0,
         "You did what you set out to do on two nights & then Saturday got away from you."),
        (30, "Client", 18.4, 20.0, "Yeah, that's fair."),  # overlaps the cue before; kept in order
        (33, "Therapist", 20.5, 26.0, "What was different about Saturday?"),
        (34, "Client", 20.5, 26.0, "My brother's birthday. Everyone was buying rounds."),
        (37, "Therapist", 91.0, 96.0, "So the setting made it harder to stick to your number."),
    ]
    assert session.warnings == []


def test_webvtt_name_prefixes_continuations_and_unknown_speakers():
    session = read_transcript(TRANSCRIPTS / "webvtt_name_colon.vtt")
    assert rows(session, "line", "speaker", "start", "end") == [
        (5, "Therapist", 0.5, 4.0),
        (9, "Client", 4.2, 13.0),  # cue 3 has no speaker and touches cue 2: it continues it
        (17, "Therapist", 13.4, 17.9),
        (21, "Client", 18.1, 22.0),
        (25, "UNKNOWN", 21.5, 23.0),  # no speaker and overlapping: someone else
        (29, "Therapist", 23.5, 29.0),
        (30, "UNKNOWN", 23.5, 29.0),  # "- " marks a new, unnamed speaker
    ]
    assert session.turns[1].text == (
        "Yes. I've been dreading it. I keep rehearsing it in my head at night. "
        "Every time I picture it, I forget the second slide."
    )
    assert session.turns[4].text == "Mm-hm."
    assert session.turns[6].text == "It is. I just want it to be over."
    assert session.warnings == [
        "1 cue(s) without a speaker were joined to the previous speaker's turn",
        "2 cue(s) without an identifiable speaker were given the speaker 'UNKNOWN'",
    ]


def test_srt_speaker_prefixes_dialogue_dashes_and_markup():
    session = read_transcript(TRANSCRIPTS / "srt_basic.srt")
    assert session.reader == "srt.v1"
    assert rows(session, "line", "speaker", "start", "end", "text") == [
        (3, "THERAPIST", 1.0, 4.2, "How many cigarettes did you have yesterday?"),
        (7, "Lena", 4.6, 12.0, "About fifteen. Fewer than last week, but still more than I'd like. "
                               "And I didn't have one with my morning coffee."),
        (16, "THERAPIST", 12.4, 16.8, "That's new for you."),
        (17, "Lena", 12.4, 16.8, "It is! First time in years."),
        (21, "THERAPIST", 17.1, 21.5, "How did you manage it?"),
        (25, "Lena", 21.9, 87.0, "I took the dog out instead. By the time we got back the craving had passed."),
    ]


def test_txt_holding_webvtt_is_read_as_webvtt():
    session = read_transcript(TRANSCRIPTS / "webvtt_saved_as.txt")
    assert session.reader == "webvtt.v1"
    assert rows(session, "speaker", "start", "end") == [
        ("Therapist", 2.0, 6.0), ("Client", 6.5, 10.0), ("Therapist", 10.4, 14.0),
        ("Client", 14.3, 19.5), ("Therapist", 20.0, 23.0), ("Client", 23.4, 28.0),
    ]


# --- JSON -----------------------------------------------------------------------------------------


def test_whisperx_word_speakers_missing_speakers_and_empty_segments():
    session = read_transcript(TRANSCRIPTS / "whisperx_word_speakers.json")
    assert session.reader == "whisperx_json.v1"
    assert rows(session, "line", "speaker", "start", "end", "text") == [
        (1, "SPEAKER_00", 0.52, 3.9, "Okay, so let's pick up where we left off with the evenings."),
        # no segment speaker: 5 of its 6 labelled words are SPEAKER_01
        (2, "SPEAKER_01", 4.31, 6.02, "Right, the evenings are when it's worst."),
        # segment 3 is empty and skipped; 4 and 5 are separate turns of the same speaker
        (4, "SPEAKER_01", 6.5, 11.75,
         "I come home, I'm wound up from work, and the first thing I do is open a beer."),
        (5, "SPEAKER_01", 11.8, 14.0, "Sometimes before I've even taken my coat off."),  # no speaker at all
        (6, "SPEAKER_00", 14.6, 17.2, "So the beer is how you switch off from the day."),
        (8, "SPEAKER_01", 17.9, 21.3, "Yeah. I'd like a different way to switch off, though."),
    ]
    assert session.warnings == [
        "2 segment(s) with empty text were skipped",
        "1 segment(s) without a speaker took the majority speaker of their words",
        "1 segment(s) without any speaker were given the previous segment's speaker",
    ]


def test_json_turn_list_with_roles_and_clock_times():
    session = read_transcript(TRANSCRIPTS / "turns.json")
    assert session.reader == "json_turns.v1"
    assert rows(session, "line", "speaker", "role", "start", "end") == [
        (1, "Therapist", "therapist", 0.0, 4.5),
        (2, "Ben", "client", 5.0, 11.0),
        (3, "Therapist", "therapist", 11.5, 15.0),
        (4, "Ben", "client", 15.2, 21.0),
        (5, "Therapist", "therapist", 21.4, 26.0),
        (6, "Ben", "client", 26.5, 31.0),
    ]
    assert session.turns[5].text == "Yes. I just need something else to do at four a.m."


def test_json_turns_wrapped_in_an_object():
    session = read_transcript(TRANSCRIPTS / "turns_wrapped.json")
    assert session.reader == "json_turns.v1"
    assert [t.speaker for t in session.turns] == ["Counselor", "Nadia"] * 3
    assert session.turns[1].text == "I didn't have it. I got as far as her door and turned around."
    assert all(t.start is None and t.role is None for t in session.turns)


def test_json_lines_with_an_utterance_key_and_a_blank_line():
    session = read_transcript(TRANSCRIPTS / "turns_lines.jsonl")
    assert session.reader == "jsonl_turns.v1"
    assert rows(session, "line", "speaker", "start") == [
        (1, "Therapist", 3.0), (2, "Omar", 7.5), (4, "Therapist", 12.0),
        (5, "Omar", 15.25), (6, "Therapist", 20.0), (7, "Omar", 24.0),
    ]
    assert session.turns[3].text == "I'd stop smelling like an ashtray at my kid's football games."


# --- docx -----------------------------------------------------------------------------------------


def test_docx_paragraphs_are_read_as_labelled_text():
    pytest.importorskip("docx")
    session = read_transcript(TRANSCRIPTS / "docx_paragraphs.docx")
    assert session.reader == "docx.v2"
    assert rows(session, "line", "speaker") == [
        (2, "Counselor"), (3, "Client"), (4, "Counselor"), (5, "Client"),
        (8, "Counselor"), (9, "Client"), (10, "Counselor"), (11, "Client"),
    ]
    # paragraph 6 has no label and continues paragraph 5; paragraph 9 has a line break inside
    assert session.turns[3].text == (
        "Three or four pints after work. More at the weekend. It's just what everyone on my team does."
    )
    assert session.turns[5].text == "Pretty much. I'd feel odd ordering a lemonade. But I have been thinking about it."
    assert session.warnings == [] and session.metadata == {"title": "Session 3 – drinking", "session": "3"}


def test_docx_table_with_speaker_and_utterance_columns():
    pytest.importorskip("docx")
    session = read_transcript(TRANSCRIPTS / "docx_table.docx")
    assert rows(session, "line", "speaker", "start") == [
        (2, "Therapist", 3.0), (3, "Ruth", 8.0), (4, "Therapist", 15.0),
        (5, "Ruth", 20.0), (6, "Therapist", 29.0), (7, "Ruth", 34.0),
    ]
    assert session.turns[3].text == "It is. I check my inbox at midnight in case there's news."


# --- quickstart sessions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reader", "speakers", "n_turns", "last_text"),
    [
        ("drinking_mi.txt", "labelled_text.v2", ["Therapist", "Client"], 24,
         "Honestly, my brother-in-law comes over on Wednesdays and he always brings beer."),
        ("sleep_mi.vtt", "webvtt.v1", ["Therapist", "Client"], 20,
         "Thanks. I actually feel a bit more hopeful about it now."),
        ("smoking_mi_whisperx.json", "whisperx_json.v1", ["SPEAKER_00", "SPEAKER_01"], 20,
         "That's scary. But okay, let's say the first of next month."),
        ("work_anxiety_mi.csv", "csv.v1", ["Counsellor", "Tom"], 20,
         "Maybe a six. Higher if I practise what to say first."),
    ],
)
def test_quickstart_sessions_read_cleanly(name, reader, speakers, n_turns, last_text):
    session = read_transcript(SESSIONS / name)
    assert session.reader == reader
    assert session.speakers == speakers
    assert len(session.turns) == n_turns
    assert session.turns[-1].text == last_text
    assert session.warnings == []
    # the quickstart sessions alternate speakers strictly
    assert all(a.speaker != b.speaker for a, b in zip(session.turns, session.turns[1:]))


def test_session_id_defaults_to_the_stem_and_can_be_set():
    assert read_transcript(SESSIONS / "sleep_mi.vtt").session_id == "sleep_mi"
    assert read_transcript(SESSIONS / "sleep_mi.vtt", session_id="client-7").session_id == "client-7"


# --- smaller shapes, written inline ---------------------------------------------------------------


def test_otter_style_speaker_and_time_on_their_own_line(tmp_path):
    path = tmp_path / "otter.txt"
    path.write_text(
        "Speaker 1  0:03\nHow many nights did you sleep through?\n\n"
        "Speaker 2  0:09\nTwo. Maybe three.\nThe weekend was better.\n\n"
        "Speaker 1  1:02:15\nThat's more than last week.\n"
    )
    session = read_transcript(path)
    assert rows(session, "line", "speaker", "start", "text") == [
        (1, "Speaker 1", 3.0, "How many nights did you sleep through?"),
        (4, "Speaker 2", 9.0, "Two. Maybe three. The weekend was better."),
        (8, "Speaker 1", 3735.0, "That's more than last week."),
    ]


def test_timestamp_alone_on_a_line_is_not_text(tmp_path):
    path = tmp_path / "stamps.txt"
    path.write_text("[00:05:00]\nTherapist: Shall we start?\n00:05:10\nClient: Yes.\n")
    session = read_transcript(path)
    assert rows(session, "speaker", "text") == [("Therapist", "Shall we start?"), ("Client", "Yes.")]


def test_docx_headerless_two_column_table_and_role_column(tmp_path):
    docx = pytest.importorskip("docx")
    document = docx.Document()
    table = document.add_table(rows=0, cols=2)
    for speaker, text in [("Therapist:", "What would help?"), ("Client:", "Less overtime."), ("Therapist:", "Go on.")]:
        cells = table.add_row().cells
        cells[0].text, cells[1].text = speaker, text
    document.save(tmp_path / "two_columns.docx")
    session = read_transcript(tmp_path / "two_columns.docx")
    assert rows(session, "line", "speaker", "text") == [
        (1, "Therapist:", "What would help?"), (2, "Client:", "Less overtime."), (3, "Therapist:", "Go on."),
    ]

    document = docx.Document()
    table = document.add_table(rows=0, cols=3)
    for row in [("Name", "Role", "Text"), ("Ana", "Therapist", "How was the week?"), ("Joe", "Client", "Long.")]:
        cells = table.add_row().cells
        for cell, value in zip(cells, row):
            cell.text = value
    document.save(tmp_path / "roles.docx")
    session = read_transcript(tmp_path / "roles.docx")
    assert rows(session, "line", "speaker", "role") == [(2, "Ana", "therapist"), (3, "Joe", "client")]


def test_whisper_output_without_any_speaker(tmp_path):
    path = tmp_path / "whisper.json"
    segments = [{"start": 0.0, "end": 1.0, "text": " Hello."}, {"start": 1.0, "end": 2.0, "text": " Hi there."}]
    path.write_text(json.dumps({"text": "Hello. Hi there.", "segments": segments}))
    session = read_transcript(path)
    assert rows(session, "line", "speaker") == [(1, "UNKNOWN"), (2, "UNKNOWN")]
    assert session.warnings[0] == "no segment names a speaker (was the transcript diarised?)"


def test_webvtt_cues_without_blank_lines_between_them(tmp_path):
    path = tmp_path / "squashed.vtt"
    path.write_text(
        "WEBVTT\n00:00:01.000 --> 00:00:02.000\n<v Therapist>Hello.\n"
        "00:00:02.500 --> 00:00:04.000\n<v Client>Hi.\n"
    )
    session = read_transcript(path)
    assert rows(session, "line", "speaker", "start", "end") == [
        (3, "Therapist", 1.0, 2.0), (5, "Client", 2.5, 4.0),
    ]


def test_srt_without_cue_numbers_and_with_a_blank_line_inside_a_cue(tmp_path):
    path = tmp_path / "loose.srt"
    path.write_text(
        "00:00:01,000 --> 00:00:03,000\nTherapist: How was the week?\n\n"
        "00:00:03,500 --> 00:00:06,000\nClient: Long.\n\nReally long.\n"
    )
    session = read_transcript(path)
    assert rows(session, "speaker", "text", "start", "end") == [
        ("Therapist", "How was the week?", 1.0, 3.0), ("Client", "Long. Really long.", 3.5, 6.0),
    ]
    assert session.warnings[0].startswith("1 block(s) without a cue number or timing were joined")


def test_a_name_that_labels_one_line_is_a_speaker_with_a_warning(tmp_path):
    path = tmp_path / "visit.txt"
    path.write_text(
        "Therapist: How has the week been for you both?\n"
        "Client: Long. Priya came with me today.\n"
        "Priya: Hello. I hope that's all right.\n"
        "Therapist: Of course. Welcome.\n"
        "Client: Honestly: it was a hard week.\n"
    )
    session = read_transcript(path)
    assert session.speakers == ["Therapist", "Client", "Priya"]
    assert session.turns[-1].text == "Honestly: it was a hard week."
    assert session.warnings == [
        "line 3: 'Priya:' was read as a speaker label though it occurs only once; "
        "check it is not the start of a sentence"
    ]
