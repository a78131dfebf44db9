"""What a coding run produces, as plain dataclasses shared by the pipeline and the writers.

:class:`CodedSession` is one session's result (what ``DIR/coded/<session_id>.csv`` and the
aggregate tables are written from, and what ``DIR/.state/`` keeps so an interrupted run can
resume); :class:`Problem` is a row of ``errors.csv``; :class:`SessionRecord` says what happened to
one input; :class:`RunResult` is what :func:`transcript_coder.batch.code` returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from .errors import TranscriptCoderError
from .roles import RoleAssignment
from .types import Code, CodedUtterance, Utterance

Level = Literal["error", "warning"]
Status = Literal["coded", "skipped", "failed", "ignored"]


@dataclass(frozen=True)
class Problem:
    """Something the user should know about an input: an ``error`` (it was not coded) or a
    ``warning`` (it was coded, but check it). ``line`` is 1-based, when one applies."""

    level: Level
    code: str
    message: str
    line: int | None = None

    @classmethod
    def from_error(cls, error: TranscriptCoderError, level: Level = "error") -> "Problem":
        """From a catalogued error (its code, message without the code, and line)."""
        return cls(level=level, code=error.code, message=error.detail, line=error.line)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass
class CodedSession:
    """One session, coded: its units with their codes, how roles were assigned, and notes.

    Attributes:
        session_id: unique within the run (the input file's stem, made unique).
        source: the input file as given.
        reader: the registered reader that read it.
        unit: the registered segmenter that made the units.
        n_turns: turns the reader found.
        roles: who is who, and the confidence of anything inferred.
        utterances: units in input order, with the codes of every scheme that applies.
        notes: the reader's remarks (skipped lines, an encoding fallback).
        problems: warnings with codes (one speaker, low role confidence).
    """

    session_id: str
    source: str
    reader: str
    unit: str
    n_turns: int
    roles: RoleAssignment
    utterances: list[CodedUtterance]
    notes: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def serialize(self) -> dict:
        """A JSON-ready dict; :meth:`from_dict` reads it back exactly."""
        return {
            "session_id": self.session_id, "source": self.source, "reader": self.reader, "unit": self.unit,
            "n_turns": self.n_turns, "roles": self.roles.serialize(),
            "utterances": [u.serialize() for u in self.utterances],
            "notes": list(self.notes), "problems": [asdict(p) for p in self.problems],
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> "CodedSession":
        """Inverse of :meth:`serialize`."""
        utterances = [
            CodedUtterance(utterance=Utterance(**u["utterance"]),
                           codes={k: Code(**c) for k, c in u["codes"].items()})
            for u in data["utterances"]
        ]
        return cls(session_id=data["session_id"], source=data["source"], reader=data["reader"], unit=data["unit"],
                   n_turns=data["n_turns"], roles=RoleAssignment.from_dict(data["roles"]), utterances=utterances,
                   notes=list(data["notes"]), problems=[Problem(**p) for p in data["problems"]])


@dataclass
class SessionRecord:
    """What a run did with one input.

    ``status`` is ``coded`` (by this run), ``skipped`` (already coded from the same input,
    models, codebook and options), ``failed`` (see ``problems``) or ``ignored`` (an entry of an
    input folder that is not a readable file, such as a dangling link: no session, one warning).
    ``notes`` are the reader's remarks on a coded input (skipped lines, an encoding fallback).
    """

    input: str
    session_id: str
    status: Status
    sha256: str | None = None
    fingerprint: str | None = None
    turns: int = 0
    units: int = 0
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class RunResult:
    """The outcome of :func:`transcript_coder.batch.code`: one record per input, in input
    order, and the paths written. ``unwritten`` holds the errors that kept run-wide files
    (``codes.csv``, ``sessions.csv``, ``errors.csv``, ``run.json``) from being written, a full
    disk for one; the summary then still lists every session that failed."""

    out: Path
    records: list[SessionRecord]
    files: dict[str, Path] = field(default_factory=dict)
    unwritten: list[Problem] = field(default_factory=list)

    def _with(self, status: str) -> list[SessionRecord]:
        return [r for r in self.records if r.status == status]

    @property
    def coded(self) -> list[SessionRecord]:
        """Inputs coded by this run."""
        return self._with("coded")

    @property
    def skipped(self) -> list[SessionRecord]:
        """Inputs already coded by an earlier run into the same folder."""
        return self._with("skipped")

    @property
    def failed(self) -> list[SessionRecord]:
        """Inputs that could not be coded."""
        return self._with("failed")

    @property
    def ignored(self) -> list[SessionRecord]:
        """Entries of input folders that are not readable files (each with warning E415)."""
        return self._with("ignored")

    @property
    def ok(self) -> bool:
        """True when every input was coded (now or earlier) and every run-wide file written."""
        return not self.failed and not self.unwritten

    def problems(self, level: Level | None = None) -> list[tuple[SessionRecord, Problem]]:
        """Every problem of every input, optionally only errors or only warnings."""
        return [(r, p) for r in self.records for p in r.problems if level is None or p.level == level]

    def report(self, warnings: bool = True) -> str:
        """A plain-text summary for the terminal: counts, every error, optionally every warning,
        and where the results are."""
        inputs = len(self.records) - len(self.ignored)
        lines = [f"coded {len(self.coded) + len(self.skipped)} of {inputs} input(s) into {self.out} "
                 f"({len(self.coded)} now, {len(self.skipped)} already coded); {len(self.failed)} failed"]
        errors = self.problems("error")
        if errors:
            lines.append("failed:")
            lines += [f"  {record.session_id}: {problem}" if record.session_id else f"  {problem}"
                      for record, problem in errors]
        if self.unwritten:
            lines.append("not written (so errors.csv and run.json may not list what is above):")
            lines += [f"  {problem}" for problem in self.unwritten]
        notes = self.problems("warning")
        if warnings and notes:
            lines.append("warnings:")
            lines += [f"  {problem}" for _, problem in notes]
        if self.files:
            lines.append("results: " + ", ".join(str(path) for path in self.files.values()))
        return "\n".join(lines)
