"""The corrections loop: coded CSVs a supervisor corrected in a spreadsheet become training data.

``transcript-coder code`` writes every per-session CSV with empty ``reviewed_<scheme>`` columns.
A supervisor fills in the code they would have given where the model was wrong (or confirms it).
:func:`review_import` reads the files back, checks every reviewed cell against the codebook, and
writes the generic coded-CSV layout (:func:`transcript_coder.corpora.read_coded_csv`) that
``transcript-coder train --data`` reads.

What a unit's code becomes (per scheme): the reviewed code where the supervisor gave one, else the
model's code; a sub-scheme whose condition no longer holds after a correction (a question corrected
to a reflection keeps no question type) is left empty. ``only_reviewed`` keeps only the units in
which a supervisor filled at least one reviewed cell.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .codebook import Codebook, load_codebook
from .codings import CodedFile, CodedRow, read_coded_files
from .corpora import CODED_CSV_COLUMNS
from .errors import DataError
from .writers.tables import REVIEWED_PREFIX, write_csv

log = logging.getLogger(__name__)

#: Extra columns of the corrections file (ignored by the training reader, kept for tracing).
TRACE_COLUMNS = ("utterance_index", "speaker", "reviewed_schemes")


class ReviewError(DataError):
    """Some reviewed cells are invalid; ``problems`` holds one error per bad cell."""

    def __init__(self, problems: Sequence[DataError]) -> None:
        self.problems = list(problems)
        super().__init__("E504", count=len(self.problems), cells="\n".join(f"  {p}" for p in self.problems))


@dataclass
class CorrectedUnit:
    """One unit's training labels after review: the codes per scheme and which were reviewed."""

    session_id: str
    utterance_index: int
    turn_index: int
    speaker: str
    role: str
    text: str
    codes: dict[str, str]
    reviewed: list[str] = field(default_factory=list)


@dataclass
class ReviewImport:
    """What :func:`review_import` produced: the units written, the schemes, counts, the output."""

    units: list[CorrectedUnit]
    schemes: list[str]
    files: list[Path]
    out: Path | None = None

    @property
    def n_reviewed_cells(self) -> int:
        """How many codes a supervisor gave."""
        return sum(len(u.reviewed) for u in self.units)

    def report(self) -> str:
        """One line for the terminal."""
        touched = sum(1 for u in self.units if u.reviewed)
        return (f"read {len(self.files)} file(s): {len(self.units)} unit(s), {touched} reviewed "
                f"({self.n_reviewed_cells} reviewed code(s)); wrote {self.out}")


def check_reviewed(file: CodedFile, codebook: Codebook) -> list[DataError]:
    """Every invalid reviewed cell of one file, each as an error naming file, row and column:
    a code the scheme does not have (E501), a scheme for another role (E502), or a sub-code whose
    condition the unit's (reviewed or model) codes do not meet (E503)."""
    problems: list[DataError] = []
    for row in file.rows:
        merged = row.codes_from("merged")
        for scheme_id, value in row.reviewed.items():
            scheme = codebook[scheme_id]
            column = REVIEWED_PREFIX + scheme_id
            where = {"path": file.path, "row": row.row, "column": column}
            if value not in scheme.code_ids:
                problems.append(DataError("E501", **where, value=value, scheme=scheme_id,
                                          codes=", ".join(scheme.code_ids)))
            elif scheme.role != row.role:
                problems.append(DataError("E502", **where, scheme=scheme_id, scheme_role=scheme.role, role=row.role))
            elif not scheme.applies(merged):
                cond = scheme.applies_when
                problems.append(DataError("E503", **where, scheme=scheme_id, condition=cond.scheme,
                                          allowed=", ".join(cond.codes), value=merged.get(cond.scheme, "")))
    return problems


def correct_unit(row: CodedRow, codebook: Codebook) -> CorrectedUnit:
    """A unit's labels: reviewed codes over the model's, dropping sub-codes whose condition a
    correction removed (schemes are visited in dependency order)."""
    merged = row.codes_from("merged")
    codes: dict[str, str] = {}
    for scheme in codebook.ordered():
        if scheme.id in merged and scheme.applies(codes):
            codes[scheme.id] = merged[scheme.id]
    return CorrectedUnit(session_id=row.session_id, utterance_index=row.utterance_index, turn_index=row.turn_index,
                         speaker=row.speaker, role=row.role, text=row.text, codes=codes,
                         reviewed=[s for s in codes if s in row.reviewed])


def review_import(files: Sequence[str | Path], out: str | Path | None = None, *, only_reviewed: bool = False,
                  codebook: Codebook | None = None) -> ReviewImport:
    """Read reviewed coded CSVs (files or folders), validate them, and write training data to ``out``.

    Nothing is written when any reviewed cell is invalid: every bad cell is collected first.

    Raises:
        ReviewError: E504, with one E501/E502/E503 per bad cell in ``problems``.
        DataError: E505/E506 for files that are not coded CSVs or folders without any.
    """
    codebook = codebook or load_codebook()
    coded = read_coded_files(files, codebook)
    problems = [p for f in coded for p in check_reviewed(f, codebook)]
    if problems:
        raise ReviewError(problems)
    schemes = [s.id for s in codebook.ordered() if any(s.id in f.schemes or s.id in f.reviewed_schemes for f in coded)]
    units = [correct_unit(row, codebook) for f in coded for row in f.rows]
    if only_reviewed:
        units = [u for u in units if u.reviewed]
    result = ReviewImport(units=units, schemes=schemes, files=[f.path for f in coded])
    if out is not None:
        result.out = write_corrections(out, result)
        log.info("wrote %d unit(s) to %s", len(units), result.out)
    return result


def write_corrections(path: str | Path, result: ReviewImport) -> Path:
    """The generic coded-CSV layout: ``session_id, turn_index, role, text``, one column per scheme,
    then tracing columns (``utterance_index``, ``speaker``, ``reviewed_schemes``)."""
    header = [*CODED_CSV_COLUMNS, *result.schemes, *TRACE_COLUMNS]
    rows = ([u.session_id, u.turn_index, u.role, u.text, *(u.codes.get(s, "") for s in result.schemes),
             u.utterance_index, u.speaker, "|".join(u.reviewed)] for u in result.units)
    return write_csv(path, header, rows)
