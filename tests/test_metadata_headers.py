"""Header blocks in labelled transcripts (issue 11): ``Therapist: Dr. Smith`` / ``Client: Jane D.`` /
``Date:`` / ``Session 3`` lines are metadata, not turns, and their names decide roles; sessions whose
roles look wrong (a several-turn speaker left ``other``, a role with a single turn) are warned about,
and reader notes become coded warnings. Fixtures are written here."""

from __future__ import annotations

import pytest

from transcript_coder.readers import read_transcript, reader_warnings
from transcript_coder.readers.labelled_text import looks_like_person
from transcript_coder.roles import (
    RoleOverrides,
    assign_roles,
    load_role_config,
    names_person,
    resolve_roles,
    role_warnings,
)

from .pipeline_support import model_set  # noqa: F401 (fixture)

# The session of the issue: the header named the people, the dialogue used their names.
ISSUE_HEADER = """Transcript of session 3
Therapist: Dr. Smith
Client: Jane D.
Date: 12 March 2024

Smith: Hello Jane, what brings you in today?
Jane: I've been feeling low for a few weeks.
Smith: Low in what way?
Jane: Tired all the time, and I'm not sleeping.
Smith: That sounds exhausting.
Jane: It is. I can't focus at work.
Smith: What have you tried so far?
Jane: Coffee, mostly. And going to bed earlier, which doesn't work.
Smith: So you've been trying, and it hasn't helped yet.
Jane: Yes. I'm starting to think something is wrong with me.
Smith: What would you like to be different?
Jane: I'd like to wake up rested.
Smith: Let's look at that together.
Jane: Okay.
Smith: Tell me about a typical evening.
Jane: I get home late, eat, and then I'm on my phone until one.
"""


@pytest.fixture(scope="module")
def config():
    return load_role_config()


def write(tmp_path, text, name="session.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def roles_of(session, config, overrides=None):
    assignment = assign_roles(resolve_roles(session, config, overrides), None, session)
    return assignment, {s.speaker: (s.role, s.source) for s in assignment.speakers.values()}


def test_the_issue_header_is_metadata_and_its_names_decide_the_roles(tmp_path, config):
    session = read_transcript(write(tmp_path, ISSUE_HEADER))
    assert session.metadata == {"title": "Transcript of session 3", "session": "3", "Therapist": "Dr. Smith",
                                "Client": "Jane D.", "Date": "12 March 2024"}
    assert session.speakers == ["Smith", "Jane"] and len(session.turns) == 16
    assert session.turns[0].line == 6 and session.warnings == []
    assignment, roles = roles_of(session, config)
    assert roles == {"Smith": ("therapist", "metadata"), "Jane": ("client", "metadata")}
    assert assignment.method == "metadata"
    assert reader_warnings(session) == [] and role_warnings(session, assignment, config) == []


def test_a_header_above_role_labelled_dialogue(tmp_path, config):
    text = ("Therapist: Dr. Smith\nClient: Jane D.\nDate: 12 March 2024\n\n"
            "Therapist: How have the evenings been?\nClient: Better, actually.\n"
            "Therapist: What changed?\nClient: I put the phone away at ten.\n")
    session = read_transcript(write(tmp_path, text))
    assert session.metadata == {"Therapist": "Dr. Smith", "Client": "Jane D.", "Date": "12 March 2024"}
    assert [(t.line, t.speaker) for t in session.turns] == [(5, "Therapist"), (6, "Client"), (7, "Therapist"),
                                                            (8, "Client")]
    _, roles = roles_of(session, config)
    assert roles == {"Therapist": ("therapist", "alias"), "Client": ("client", "alias")}


def test_a_single_header_line_with_a_title_and_names_with_initials_and_surnames(tmp_path, config):
    text = "Counsellor: Dr. Okafor\n\nOkafor: Where shall we start?\nMaria: With my sister.\nOkafor: Go on.\n"
    session = read_transcript(write(tmp_path, text))
    assert session.metadata == {"Counsellor": "Dr. Okafor"}
    _, roles = roles_of(session, config)
    # Okafor by the header; Maria by elimination
    assert roles == {"Okafor": ("therapist", "metadata"), "Maria": ("client", "elimination")}


@pytest.mark.parametrize("text, first_turn", [
    # a first turn, not a header: the role label speaks again and nothing else vouches for a header
    ("Therapist: Hello.\nClient: Hi.\nTherapist: How are you?\nClient: Fine.\n", (1, "Therapist", "Hello.")),
    ("Client: Maria\nTherapist: And your surname?\nClient: Lopez.\n", (1, "Client", "Maria")),
    ("Therapist: Jane?\nClient: Yes.\nTherapist: Come in.\n", (1, "Therapist", "Jane?")),
    ("Therapist: Good morning\nClient: Morning.\nTherapist: Sit down.\n", (1, "Therapist", "Good morning")),
    # nothing after the "header": the lines are the dialogue
    ("Therapist: Jane\nClient: Tom\n", (1, "Therapist", "Jane")),
])
def test_first_turns_that_are_not_a_header_stay_turns(tmp_path, text, first_turn):
    session = read_transcript(write(tmp_path, text))
    assert (session.turns[0].line, session.turns[0].speaker, session.turns[0].text) == first_turn
    assert session.metadata == {}


def test_other_lines_above_the_header_are_still_skipped_with_a_note(tmp_path):
    text = ("CONFIDENTIAL - do not share\nSession 3\nTherapist: Dr. Lee\n\nLee: Welcome back.\nSam: Thanks.\n"
            "Lee: How was the week?\nSam: Quiet.\n")
    session = read_transcript(write(tmp_path, text))
    assert session.metadata == {"title": "Session 3", "session": "3", "Therapist": "Dr. Lee"}
    assert session.warnings == ["1 line(s) before the first speaker label were skipped (line 1)"]
    [warning] = reader_warnings(session)
    assert warning.code == "E124" and warning.line is None and "skipped (line 1)" in str(warning)


@pytest.mark.parametrize("value, expected", [
    ("Dr. Smith", True), ("Jane D.", True), ("Maria de Souza", True), ("J. Doe", True),
    ("Hello.", False), ("Fine.", False), ("Okay", False), ("Jane?", False), ("Good morning", False),
    ("I feel fine", False), ("Smith, Jane", False), ("Thanks", False),
])
def test_what_a_header_name_looks_like(value, expected):
    assert looks_like_person(value) is expected


@pytest.mark.parametrize("speaker, name, expected", [
    ("Smith", "Dr. Smith", True), ("Dr Smith", "Dr. Smith", True), ("Dr. Smith", "Dr. Smith", True),
    ("Jane", "Jane D.", True), ("Jane D", "Jane D.", True), ("D.", "Jane D.", False),
    ("Dr. Jones", "Dr. Smith", False), ("Therapist", "Dr. Smith", False), ("Ms. Lopez", "Maria Lopez", True),
])
def test_speaker_labels_that_name_a_header_person(config, speaker, name, expected):
    assert names_person(speaker, name, config) is expected


def test_a_speaker_matching_both_header_names_is_left_to_the_other_steps(tmp_path, config):
    text = ("Therapist: Dr. Ann Smith\nClient: Bob Smith\n\nSmith: Hello.\nBob: Hi.\nSmith: How are you?\n"
            "Bob: Fine.\n")
    session = read_transcript(write(tmp_path, text))
    _, roles = roles_of(session, config)
    assert roles["Bob"] == ("client", "metadata")
    assert roles["Smith"] == ("therapist", "elimination")  # "Smith" names both people: not by metadata


def test_a_several_turn_speaker_left_other_is_warned_about(tmp_path, config):
    text = ("Therapist: How was the week?\nClient: Long.\nMaria: Can I say something?\nTherapist: Please.\n"
            "Maria: He never sleeps.\nClient: That's not true.\nMaria: It is.\n")
    session = read_transcript(write(tmp_path, text))
    assignment, roles = roles_of(session, config)
    assert roles["Maria"] == ("other", "unmapped")
    warnings = role_warnings(session, assignment, config)
    assert [(w.code, w.fields.get("speaker"), w.fields.get("turns")) for w in warnings] == [("E125", "Maria", 3)]
    assert "speaker 'Maria' has 3 turns but is neither therapist nor client" in str(warnings[0])
    # said by the user: no warning
    overrides = RoleOverrides(speakers=(("Maria", "other"),)).for_session(session.session_id)
    assignment, _ = roles_of(session, config, overrides)
    assert role_warnings(session, assignment, config) == []


def test_a_role_with_a_single_turn_is_warned_about(tmp_path, config):
    # as in the issue before headers were read, where a header line was the therapist's only turn
    text = "Therapist: Hi.\nClient: Hello.\nClient: I'm here about my sleep.\nClient: It has been bad.\n"
    session = read_transcript(write(tmp_path, text))
    assignment, _ = roles_of(session, config)
    codes = [(w.code, w.fields.get("role"), w.line) for w in role_warnings(session, assignment, config)]
    assert ("E126", "therapist", 1) in codes
    assert "the therapist has a single turn (speaker 'Therapist', line 1)" in str(
        next(w for w in role_warnings(session, assignment, config) if w.code == "E126"))


def test_reader_notes_become_coded_warnings_with_their_line(tmp_path):
    text = "Therapist: Let's begin.\nClient: Okay.\nNote: the client arrived late.\nTherapist: How are you?\n"
    session = read_transcript(write(tmp_path, text))
    assert session.warnings == ["line 3: 'Note:' read as text, not as a speaker label"]
    [warning] = reader_warnings(session)
    assert (warning.code, warning.line, warning.path) == ("E124", 3, str(tmp_path / "session.txt"))


def test_header_sessions_are_coded_and_warnings_reach_the_console_and_errors_csv(tmp_path, model_set):
    """The issue's run, end to end with the real models: the header session codes all of the
    client's turns, and every reader and role warning is in errors.csv and on the console."""
    from transcript_coder.batch import code

    from .pipeline_support import read_rows

    inputs = tmp_path / "in"
    inputs.mkdir()
    write(inputs, ISSUE_HEADER, "header.txt")
    write(inputs, "Therapist: How was the week?\nClient: Long.\nMaria: Can I say something?\nTherapist: Please.\n"
                  "Maria: He never sleeps.\nClient: That's not true.\nMaria: It is.\nNote: the recording stops.\n",
          "family.txt")
    result = code([inputs], tmp_path / "out", models=model_set)
    assert result.ok
    _, sessions = read_rows(tmp_path / "out" / "sessions.csv")
    header = next(r for r in sessions if r["input"].endswith("header.txt"))
    assert (header["role_method"], header["turns_therapist"], header["turns_client"], header["turns_other"]) == (
        "metadata", "8", "8", "0")
    assert header["warnings"] == ""
    _, errors = read_rows(tmp_path / "out" / "errors.csv")
    assert [(r["input"].rsplit("/", 1)[-1], r["code"], r["line"], r["level"]) for r in errors] == [
        ("family.txt", "E124", "8", "warning"), ("family.txt", "E125", "", "warning")]
    assert "'Note:' read as text" in errors[0]["message"] and "'Maria' has 3 turns" in errors[1]["message"]
    console = result.report()
    assert "E124: " in console and "E125: " in console


def test_the_v1_readers_keep_reading_as_before(tmp_path):
    """Header blocks are a new reader version: --format labelled_text.v1 reads the header lines as
    it always did (a title skipped, the role lines as turns), so runs that forced it reproduce."""
    from transcript_coder.readers import ReaderOptions, resolve_reader

    path = write(tmp_path, ISSUE_HEADER)
    assert read_transcript(path).reader == "labelled_text.v2" == resolve_reader("labelled_text")
    old = read_transcript(path, ReaderOptions(format="labelled_text.v1"))
    assert old.reader == "labelled_text.v1" and old.metadata == {}
    # the issue's session as v1 read it: the header's role lines are turns, "Date:" continues one
    assert [(t.line, t.speaker, t.text) for t in old.turns[:2]] == [(2, "Therapist", "Dr. Smith"),
                                                                    (3, "Client", "Jane D. Date: 12 March 2024")]
    assert old.warnings[0] == "1 line(s) before the first speaker label were skipped (line 1)"
    assert len(old.turns) == 18 and old.speakers == ["Therapist", "Client", "Smith", "Jane"]
