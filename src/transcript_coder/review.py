"""The corrections loop: a supervisor corrects codes in a review workbook (or the coded CSVs), and
the corrections become training data.

:func:`review_export` writes the review workbook of a coding output folder (one row per unit, the
model's codes and confidence, empty ``reviewed_<scheme>`` columns with drop-downs of the codebook's
code ids, low-confidence rows highlighted), optionally only the least confident units of the batch
(a review queue). ``transcript-coder code`` also writes every per-session CSV with empty
``reviewed_<scheme>`` columns. A supervisor fills in the code they would have given where the model
was wrong (or confirms it). :func:`review_import` reads workbooks and CSVs back, checks every
reviewed cell against the codebook, and writes the generic coded-CSV layout
(:func:`transcript_coder.corpora.read_coded_csv`) that ``transcript-coder train --data`` reads.

Import is forgiving where intent is clear and strict where it is not: a code id typed with other
case or spacing (``Reflection``, `` open ``) is read as the code, with a note; an unknown code is
an error that suggests the nearest code id; a unit on two rows is an error; a text cell that no
longer matches the coded text (a spreadsheet evaluated it as a formula) is a warning.

A multi-label scheme's reviewed cell (``reviewed_mi_relational``, ``reviewed_client_relationships``)
lists code ids joined by ``;`` (any order, written back in codebook order), or ``none`` for "none of
them" (an empty cell means "not reviewed"); each id is checked like a single code.

What a unit's code becomes (per scheme): the reviewed code where the supervisor gave one, else the
model's code; a sub-scheme whose condition no longer holds after a correction (a question corrected
to a reflection keeps no question type) is left empty. ``only_reviewed`` keeps only the units in
which a supervisor filled at least one reviewed cell.
"""

from __future__ import annotations

import csv
import difflib
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .codebook import NO_CODES, Codebook, Scheme, join_codes, load_codebook, split_codes
from .codings import TEXT_HASH_COLUMN, CodedFile, CodedRow, read_coded_files, text_hash
from .corpora import CODE_SEPARATOR, CODED_CSV_COLUMNS
from .errors import DataError, TranscriptCoderError, UsageError
from .writers.tables import CONFIDENCE_SUFFIX, REVIEWED_PREFIX, write_csv

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
    notes: list[str] = field(default_factory=list)
    warnings: list[DataError] = field(default_factory=list)
    into: Path | None = None
    stored: dict[str, int] = field(default_factory=dict)
    unplaced: list[TranscriptCoderError | str] = field(default_factory=list)

    @property
    def n_reviewed_cells(self) -> int:
        """How many codes a supervisor gave."""
        return sum(len(u.reviewed) for u in self.units)

    def report(self) -> str:
        """One line for the terminal."""
        touched = sum(1 for u in self.units if u.reviewed)
        line = (f"read {len(self.files)} file(s): {len(self.units)} unit(s), {touched} reviewed "
                f"({self.n_reviewed_cells} reviewed code(s))")
        if self.out is not None:
            line += f"; wrote {self.out}"
        if self.into is not None:
            line += (f"; kept {sum(self.stored.values())} new reviewed code(s) of {len(self.stored)} session(s) in "
                     f"{self.into} (its coded CSVs show them, and every recode keeps them)")
            if self.unplaced:
                line += f"; {len(self.unplaced)} not kept (listed above)"
        return line


def _code_key(value: str) -> str:
    """A code id folded for a forgiving match: case, surrounding space, and spaces or hyphens
    inside read as ``_`` (``" Therapist input "`` -> ``"therapist_input"``)."""
    return re.sub(r"[\s\-_]+", "_", value.strip()).casefold()


def canonical_code(value: str, scheme: Scheme) -> str | None:
    """The scheme's code id that ``value`` names exactly or up to case and spacing, else ``None``.
    For a multi-label scheme, ``value`` lists ids joined by ``;`` (or is ``none``): the cell of
    them all in codebook order, ``""`` for ``none``, ``None`` if any id is unknown."""
    if scheme.multi_label:
        if _code_key(value) == NO_CODES:
            return ""
        parts = [canonical_code(part, scheme.model_copy(update={"multi_label": False}))
                 for part in split_codes(value)]
        return None if not parts or None in parts else join_codes(scheme, parts)
    if value in scheme.code_ids:
        return value
    matches = [code for code in scheme.code_ids if _code_key(code) == _code_key(value)]
    return matches[0] if len(matches) == 1 else None


def nearest_code(value: str, scheme: Scheme) -> str | None:
    """The code id closest to a mistyped ``value`` (difflib ratio at least 0.6), else ``None``."""
    keys = {_code_key(code): code for code in scheme.code_ids}
    close = difflib.get_close_matches(_code_key(value), list(keys), n=1, cutoff=0.6)
    return keys[close[0]] if close else None


def normalise_reviewed(file: CodedFile, codebook: Codebook) -> list[str]:
    """Rewrite reviewed cells that name a code up to case or spacing as the code id itself; one
    note per rewritten cell. Cells naming no code are left for :func:`check_reviewed`."""
    notes = []
    for row in file.rows:
        for scheme_id, value in row.reviewed.items():
            code = canonical_code(value, codebook[scheme_id])
            if code is not None and codebook[scheme_id].multi_label and code == "":
                code = NO_CODES  # kept as the marker until the unit's labels are built
            if code is not None and code != value:
                row.reviewed[scheme_id] = code
                notes.append(f"{file.path} row {row.row}, column '{REVIEWED_PREFIX}{scheme_id}': "
                             f"'{value}' read as '{code}'")
    return notes


def check_reviewed(file: CodedFile, codebook: Codebook) -> list[DataError]:
    """Every invalid reviewed cell of one file, each as an error naming file, row and column:
    a code the scheme does not have (E501, with the nearest code id when one is close), a scheme
    for another role (E502), or a sub-code whose condition the unit's (reviewed or model) codes
    do not meet (E503)."""
    problems: list[DataError] = []
    for row in file.rows:
        merged = row.codes_from("merged")
        for scheme_id, value in row.reviewed.items():
            scheme = codebook[scheme_id]
            column = REVIEWED_PREFIX + scheme_id
            where = {"path": file.path, "row": row.row, "column": column}
            if scheme.multi_label:
                bad = [] if value == NO_CODES else [v for v in split_codes(value) if v not in scheme.code_ids]
                if bad or not split_codes(value):
                    problems.append(DataError("E501", **where, value=(bad or [value])[0], scheme=scheme_id,
                                              suggestion=f"; did you mean '{nearest_code(bad[0], scheme)}'?"
                                              if bad and nearest_code(bad[0], scheme) else
                                              f"; list codes joined by ';', or '{NO_CODES}'",
                                              codes=", ".join(scheme.code_ids)))
                elif scheme.role != row.role:
                    problems.append(DataError("E502", **where, scheme=scheme_id, scheme_role=scheme.role, role=row.role))
                continue
            if value not in scheme.code_ids:
                near = nearest_code(value, scheme)
                problems.append(DataError("E501", **where, value=value, scheme=scheme_id,
                                          suggestion=f"; did you mean '{near}'?" if near else "",
                                          codes=", ".join(scheme.code_ids)))
            elif scheme.role != row.role:
                problems.append(DataError("E502", **where, scheme=scheme_id, scheme_role=scheme.role, role=row.role))
            elif not scheme.applies(merged):
                cond = scheme.applies_when
                problems.append(DataError("E503", **where, scheme=scheme_id, condition=cond.scheme,
                                          allowed=", ".join(cond.codes), value=merged.get(cond.scheme, "")))
    return problems


def check_unique_units(files: Sequence[CodedFile]) -> list[DataError]:
    """E510 for every unit (session, utterance_index) on more than one row, in one file or across
    files (a workbook and the CSV it came from given together), naming every row."""
    seen: dict[tuple[str, int], list[CodedRow]] = {}
    for file in files:
        for row in file.rows:
            seen.setdefault(row.key, []).append(row)
    problems = []
    for (session, index), rows in seen.items():
        if len(rows) > 1:
            first = rows[0].path
            where = ", ".join(f"row {r.row}" if r.path == first else f"{r.path} row {r.row}" for r in rows)
            problems.append(DataError("E510", path=first, session=session, index=index, rows=where))
    return problems


#: What a spreadsheet leaves in a cell whose text it evaluated as a formula.
SPREADSHEET_ERRORS = frozenset({"#NAME?", "#VALUE!", "#REF!", "#DIV/0!", "#N/A", "#NUM!", "#NULL!", "#SPILL!",
                                "#CALC!", "#FIELD!", "#ERROR!", "Err:502", "Err:508", "Err:509", "Err:510"})


def check_texts(file: CodedFile) -> list[DataError]:
    """E511 warnings for text cells that no longer hold the coded text: the hash a workbook keeps
    of each unit's text differs, or (for a CSV, which keeps no hash) the cell holds a spreadsheet's
    formula error (``#NAME?``)."""
    warnings = []
    for row in file.rows:
        if row.text_hash and text_hash(row.text) != row.text_hash:
            cut = len(row.text) == CELL_LIMIT and row.text.endswith(_CUT_MARK)
            detail = (f"the workbook holds only its first {CELL_LIMIT - len(_CUT_MARK):,} characters, the most a cell "
                      "takes" if cut else f"now '{_shorten(row.text)}'")
        elif row.text.strip() in SPREADSHEET_ERRORS:
            detail = f"the cell holds the formula error '{row.text.strip()}'"
        else:
            continue
        warnings.append(DataError("E511", path=file.path, row=row.row, detail=detail))
    return warnings


def _shorten(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def correct_unit(row: CodedRow, codebook: Codebook) -> CorrectedUnit:
    """A unit's labels: reviewed codes over the model's, dropping sub-codes whose condition a
    correction removed (schemes are visited in dependency order)."""
    merged = row.codes_from("merged")
    codes: dict[str, str] = {}
    for scheme in codebook.ordered():
        if scheme.id in merged and scheme.applies(codes):
            codes[scheme.id] = "" if merged[scheme.id] == NO_CODES else merged[scheme.id]
    return CorrectedUnit(session_id=row.session_id, utterance_index=row.utterance_index, turn_index=row.turn_index,
                         speaker=row.speaker, role=row.role, text=row.text, codes=codes,
                         reviewed=[s for s in codes if s in row.reviewed])


def review_import(files: Sequence[str | Path], out: str | Path | None = None, *, only_reviewed: bool = False,
                  codebook: Codebook | None = None, into: str | Path | None = None) -> ReviewImport:
    """Read reviewed coded tables (review workbooks, coded CSVs, or folders of them), validate them,
    and write training data to ``out``; with ``into`` (a coding output folder), also keep the
    reviewed cells in that folder's review store and merge them into its coded CSVs
    (:func:`transcript_coder.batch.store_reviews`; rows it cannot place are ``unplaced``).

    Code ids typed with other case or spacing are accepted (``notes`` says which); text cells that
    no longer match the coded text are ``warnings`` (E511). Nothing is written when any reviewed
    cell is invalid or a unit is on two rows: every problem is collected first.

    Raises:
        ReviewError: E504, with one E501/E502/E503 per bad cell and one E510 per repeated unit in
            ``problems``.
        DataError: E505/E506 for files that are not coded tables or folders without any.
    """
    codebook = codebook or load_codebook()
    coded = read_coded_files(files, codebook)
    notes = [note for f in coded for note in normalise_reviewed(f, codebook)]
    problems = [p for f in coded for p in check_reviewed(f, codebook)] + check_unique_units(coded)
    if problems:
        raise ReviewError(problems)
    warnings = [w for f in coded for w in check_texts(f)]
    for note in notes:
        log.info("%s", note)
    for warning in warnings:
        log.info("%s", warning)
    schemes = [s.id for s in codebook.ordered() if any(s.id in f.schemes or s.id in f.reviewed_schemes for f in coded)]
    units = [correct_unit(row, codebook) for f in coded for row in f.rows]
    if only_reviewed:
        units = [u for u in units if u.reviewed]
    result = ReviewImport(units=units, schemes=schemes, files=[f.path for f in coded], notes=notes, warnings=warnings)
    if into is not None:
        from .batch import store_reviews

        stored = store_reviews(into, [row for f in coded for row in f.rows])
        result.into, result.stored = Path(into), stored.cells
        result.unplaced = [*stored.unplaced, *(f"{p.code}: {p.message}" for p in stored.warnings)]
    if out is not None:
        result.out = write_corrections(out, result)
        log.info("wrote %d unit(s) to %s", len(units), result.out)
    return result


def write_corrections(path: str | Path, result: ReviewImport) -> Path:
    """The generic coded-CSV layout: ``session_id, turn_index, role, text``, one column per scheme,
    then tracing columns (``utterance_index``, ``speaker``, ``reviewed_schemes``)."""
    header = [*CODED_CSV_COLUMNS, *result.schemes, *TRACE_COLUMNS]
    # The training layout separates a multi-label cell's codes with corpora.CODE_SEPARATOR.
    rows = ([u.session_id, u.turn_index, u.role, u.text,
             *(CODE_SEPARATOR.join(split_codes(u.codes.get(s, ""))) for s in result.schemes),
             u.utterance_index, u.speaker, "|".join(u.reviewed)] for u in result.units)
    return write_csv(path, header, rows)


# ---------------------------------------------------------------------------------- export
#: Excel keeps at most this many characters in a cell; longer text is cut (and says so).
CELL_LIMIT = 32_767
_CUT_MARK = " [...]"
#: Columns of the review workbook before the scheme columns.
WORKBOOK_UNIT_COLUMNS = ("session_id", "utterance_index", "turn_index", "speaker", "role", "start", "end", "text")
LOWEST_CONFIDENCE_COLUMN = "lowest_confidence"


@dataclass(frozen=True)
class QueueSize:
    """How many units a review queue holds: ``count`` units, or ``percent`` of the ranked units."""

    count: int | None = None
    percent: float | None = None

    def of(self, n: int) -> int:
        """The number of units to take out of ``n`` (a share rounds up, so 20 % of 3 is 1)."""
        if self.count is not None:
            return min(self.count, n)
        return min(n, math.ceil(n * self.percent / 100 - 1e-9))

    def __str__(self) -> str:
        return f"{self.count}" if self.count is not None else f"{self.percent:g}%"


def parse_queue_size(value: str | int) -> QueueSize:
    """``"20%"`` (a share, above 0 and at most 100) or ``"50"`` / ``50`` (a count, at least 1).

    Raises:
        UsageError: E410 for anything else.
    """
    text = str(value).strip()
    try:
        if text.endswith("%"):
            percent = float(text[:-1])
            if 0 < percent <= 100:
                return QueueSize(percent=percent)
        else:
            count = int(text)
            if count >= 1:
                return QueueSize(count=count)
    except ValueError:
        pass
    raise UsageError("E410", option="least-confident", detail="a count (50) or a percentage above 0 (20%)",
                     value=value)


@dataclass
class ReviewUnit:
    """One unit as the workbook shows it: its coded row, and its codes and their confidence for
    every scheme (the coded CSV's, and those only ``codes.csv`` has, such as ``client_emotion_fine``)."""

    row: CodedRow
    confidence: dict[str, float]
    codes: dict[str, str] = field(default_factory=dict)

    @property
    def lowest(self) -> float | None:
        """Its least confident code's confidence (``None`` when nothing was predicted)."""
        return min(self.confidence.values()) if self.confidence else None


Decisions = dict[tuple[str, int], dict[str, tuple[str, float]]]


def _read_decisions(codes_csv: Path, codebook: Codebook) -> Decisions:
    """``codes.csv``: per unit, each classifier scheme's code and confidence (roll-ups have none)."""
    decisions: Decisions = {}
    with codes_csv.open(encoding="utf-8", newline="") as handle:
        for cells in csv.DictReader(handle):
            try:
                scheme = cells["scheme"]
                if scheme not in codebook or codebook[scheme].kind != "classifier":
                    continue
                key = (cells["session_id"], int(cells["utterance_index"]))
                decisions.setdefault(key, {})[scheme] = (cells["code"], float(cells["confidence"]))
            except (KeyError, ValueError, TypeError):
                continue
    return decisions


def review_units(files: Sequence[CodedFile], codebook: Codebook) -> list[ReviewUnit]:
    """Every unit of the coded files, in file order, with every code and its confidence: the coded
    CSV's columns, completed from its output folder's ``codes.csv`` (``DIR/coded/x.csv`` ->
    ``DIR/codes.csv``), which has every scheme's, exactly as the report shows and flags them."""
    tables: dict[Path, Decisions] = {}
    units = []
    for file in files:
        codes_csv = file.path.parent.parent / "codes.csv"
        decisions: Decisions = {}
        if file.path.parent.name == "coded" and codes_csv.is_file():
            if codes_csv not in tables:
                tables[codes_csv] = _read_decisions(codes_csv, codebook)
            decisions = tables[codes_csv]
        for row in file.rows:
            known = decisions.get(row.key, {})
            codes = {**row.codes, **{s: code for s, (code, _) in known.items() if s not in row.codes}}
            confidence = {s: known[s][1] if s in known else row.confidence.get(s) for s in codes}
            units.append(ReviewUnit(row, {s: c for s, c in confidence.items() if c is not None}, codes))
    return units


def least_confident_units(units: Sequence[ReviewUnit], size: QueueSize) -> list[ReviewUnit]:
    """The review queue: the ``size`` units with the lowest confidence across the whole batch,
    least confident first (ties by session and position). Units without any confidence (nothing
    was predicted for them: ``other`` speakers) are not ranked."""
    ranked = sorted((u for u in units if u.lowest is not None),
                    key=lambda u: (u.lowest, u.row.session_id, u.row.utterance_index))
    return ranked[: size.of(len(ranked))]


@dataclass
class ReviewExport:
    """What :func:`review_export` wrote: the workbook, its rows, and how they were chosen."""

    out: Path
    units: list[ReviewUnit]
    total: int
    threshold: float
    low_confidence: int
    queue: QueueSize | None = None

    def report(self) -> str:
        """One line for the terminal."""
        chosen = (f"the {len(self.units)} least confident of {self.total} unit(s) (--least-confident {self.queue})"
                  if self.queue else f"{len(self.units)} unit(s)")
        return (f"wrote {self.out}: {chosen}; {self.low_confidence} below confidence {self.threshold:g} "
                "highlighted")


def workbook_schemes(files: Sequence[CodedFile], units: Sequence[ReviewUnit], codebook: Codebook) -> list[str]:
    """The classifier schemes to show: those the files have columns for, in the files' column
    order, then those only ``codes.csv`` has (``client_emotion_fine``), in codebook order."""
    present = {s: None for f in files for s in (*f.schemes, *f.reviewed_schemes) if s in codebook}
    extra = {s for u in units for s in u.codes if s not in present}
    return [*present, *(s.id for s in codebook.ordered() if s.id in extra)]


def build_review_sheet(units: Sequence[ReviewUnit], schemes: Sequence[str], codebook: Codebook, threshold: float,
                       about: Sequence[tuple[str, str]] = ()):
    """The workbook's content (the stage; :func:`review_export` reads and writes): one row per unit
    with its codes, their confidence and the lowest of them, an empty ``reviewed_<scheme>`` column
    per scheme with the scheme's code ids as choices, and a hidden hash of the text."""
    from .writers.workbook import ReviewSheet, cell_text

    columns = [*WORKBOOK_UNIT_COLUMNS]
    for scheme in schemes:
        columns += [scheme, scheme + CONFIDENCE_SUFFIX]
    columns += [LOWEST_CONFIDENCE_COLUMN, *(REVIEWED_PREFIX + s for s in schemes), TEXT_HASH_COLUMN]
    rows, low = [], []
    for unit in units:
        row = unit.row
        text = cell_text(row.text)
        if len(text) > CELL_LIMIT:
            text = text[: CELL_LIMIT - len(_CUT_MARK)] + _CUT_MARK
        values: list[object] = [row.session_id, row.utterance_index, row.turn_index, row.speaker, row.role,
                                row.start, row.end, text]
        for scheme in schemes:
            values += [unit.codes.get(scheme, ""), unit.confidence.get(scheme)]
        values += [unit.lowest, *(row.reviewed.get(s, "") for s in schemes), text_hash(cell_text(row.text))]
        rows.append(values)
        low.append(unit.lowest is not None and unit.lowest < threshold)
    return ReviewSheet(
        columns=columns, rows=rows, low_confidence=low,
        # A multi-label cell holds several ids joined by ';', which a list drop-down would refuse.
        choices={REVIEWED_PREFIX + s: list(codebook[s].code_ids) for s in schemes if not codebook[s].multi_label},
        hidden=[TEXT_HASH_COLUMN], widths={"text": 80.0}, about=list(about))


def review_export(inputs: Sequence[str | Path], out: str | Path, *, least_confident: str | int | None = None,
                  low_confidence: float | None = None, config_path: str | Path | None = None,
                  codebook: Codebook | None = None) -> ReviewExport:
    """Write the review workbook (``.xlsx``) of coding output folders (or coded CSVs).

    One row per unit, in session order; with ``least_confident`` (``"20%"`` or a count) only the
    least confident units across all sessions, least confident first. Rows with a code below
    ``low_confidence`` (default: the report's threshold, ``configs/report.yaml``) are highlighted.

    Raises:
        UsageError: E410 for a bad ``least_confident`` or an ``out`` not ending in ``.xlsx``.
        DataError: E505/E506 for inputs that are not coded output; E512 when a queue is asked for
            but no unit has a confidence.
    """
    from .report import load_report_config
    from .writers.workbook import write_review_workbook

    if Path(out).suffix.lower() != ".xlsx":
        raise UsageError("E410", option="out", detail="a workbook file name ending in .xlsx", value=out)
    codebook = codebook or load_codebook()
    queue = parse_queue_size(least_confident) if least_confident is not None else None
    threshold = load_report_config(config_path).low_confidence if low_confidence is None else low_confidence
    files = read_coded_files(inputs, codebook)
    units = review_units(files, codebook)
    schemes = workbook_schemes(files, units, codebook)
    total = len(units)
    if queue is not None:
        units = least_confident_units(units, queue)
        if not units:
            raise DataError("E512", path=" ".join(map(str, inputs)))
    about = [("coded output", " ".join(map(str, inputs))),
             ("rows", f"the {len(units)} least confident of {total} units, least confident first "
                      f"(--least-confident {queue})" if queue else f"all {total} units"),
             ("highlighted", f"rows with a code below confidence {threshold:g}"),
             ("how to review", "type or pick a code id in a reviewed_<scheme> cell where the model is wrong "
                               "(or to confirm it); leave it empty otherwise. Do not edit the text column."),
             ("then", f"transcript-coder review import {Path(out).name} --out corrections.csv")]
    sheet = build_review_sheet(units, schemes, codebook, threshold, about)
    path = write_review_workbook(out, sheet)
    result = ReviewExport(out=path, units=units, total=total, threshold=threshold,
                          low_confidence=sum(sheet.low_confidence), queue=queue)
    log.info("%s", result.report())
    return result
