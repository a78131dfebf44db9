"""The CSV tables of a coding run: per-session coded files, ``codes.csv``, ``sessions.csv`` and
``errors.csv``. Every table is written atomically (:mod:`.atomic`) as UTF-8 with ``\\n`` line
ends; numbers are formatted here and nowhere else, so the same data always gives the same bytes.

Writers format; they never compute. Scores and counts come in a
:class:`~transcript_coder.types.SessionSummary`, codes in a
:class:`~transcript_coder.results.CodedSession`.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from ..codebook import Codebook
from ..registry import Registry
from ..results import CodedSession, Problem
from ..summarize import ScoreConfig, counted_schemes
from ..types import ROLES, Code, SessionSummary
from .atomic import atomic_open

#: Column layouts of the per-session coded CSV, by versioned name. A layout names its columns;
#: a column that is a scheme id holds that scheme's code, ``<scheme>_confidence`` its confidence.
layouts: Registry = Registry("coded table layout")

UNIT_COLUMNS = ("session_id", "utterance_index", "turn_index", "speaker", "role", "start", "end", "text")
CONFIDENCE_SUFFIX = "_confidence"

#: A supervisor's correction of scheme S goes in column ``reviewed_S`` (written empty; read back
#: by :mod:`transcript_coder.review`).
REVIEWED_PREFIX = "reviewed_"

_CODED_V1_CODES = (
    "therapist_behaviour", "therapist_behaviour_confidence", "question_type", "reflection_type",
    "therapist_input_type", "client_talk_type", "client_talk_type_confidence", "client_emotion",
    "client_emotion_confidence",
)

#: The layout issue 3 specifies, then one empty ``reviewed_<scheme>`` column per code column
#: (issue 4). Schemes it does not list (``client_emotion_fine``, ``integrative``) are in ``codes.csv``.
CODED_CSV_V1 = layouts.register("coded_csv.v1")(UNIT_COLUMNS + _CODED_V1_CODES + tuple(
    REVIEWED_PREFIX + column for column in _CODED_V1_CODES if not column.endswith("_confidence")))

#: v1 plus the interpersonal-process schemes (issue 12): ``mi_relational`` (therapist rows) and
#: ``client_relationships`` (client rows), multi-label cells of code ids joined by ``;`` in
#: codebook order (empty when none, and empty while no model provides ``mi_relational``).
_CODED_V2_CODES = _CODED_V1_CODES + ("mi_relational", "client_relationships")
CODED_CSV_V2 = layouts.register("coded_csv.v2")(UNIT_COLUMNS + _CODED_V2_CODES + tuple(
    REVIEWED_PREFIX + column for column in _CODED_V2_CODES if not column.endswith("_confidence")))

#: v3 (issue 13): every code column with its confidence beside it (the sub-codes ``question_type``,
#: ``reflection_type``, ``therapist_input_type`` too), and ``check``: the schemes of the row whose
#: confidence is below :data:`DEFAULT_CHECK_BELOW` (``;``-joined in column order; empty when none),
#: so a reader of the CSV sees what the report flags "check".
_CODED_V3_CODES = (
    "therapist_behaviour", "therapist_behaviour_confidence", "question_type", "question_type_confidence",
    "reflection_type", "reflection_type_confidence", "therapist_input_type", "therapist_input_type_confidence",
    "client_talk_type", "client_talk_type_confidence", "client_emotion", "client_emotion_confidence",
    "mi_relational", "client_relationships",
)
CHECK_COLUMN = "check"
CODED_CSV_V3 = layouts.register("coded_csv.v3")(UNIT_COLUMNS + _CODED_V3_CODES + (CHECK_COLUMN,) + tuple(
    REVIEWED_PREFIX + column for column in _CODED_V3_CODES if not column.endswith("_confidence")))
DEFAULT_LAYOUT = "coded_csv.v3"
#: The confidence below which a code is listed in ``check``: the report's default threshold
#: (``low_confidence`` in ``configs/report.yaml``; a test keeps the two equal).
DEFAULT_CHECK_BELOW = 0.6
#: The input's other columns (a CSV's ``Notes``) follow the layout's columns as ``input_<name>``.
INPUT_PREFIX = "input_"


def input_columns(session: CodedSession) -> list[str]:
    """The ``input_<name>`` columns of a session's coded CSV: its input's other columns, in the
    order they first appear."""
    names: dict[str, None] = {}
    for coded in session.utterances:
        for name, _ in coded.utterance.extra:
            names.setdefault(INPUT_PREFIX + name, None)
    return list(names)


def coded_header(session: CodedSession, layout: str = DEFAULT_LAYOUT) -> list[str]:
    """The columns of a session's coded CSV: the layout's, then :func:`input_columns`."""
    columns = list(layouts.get(layout))
    return columns + [c for c in input_columns(session) if c not in columns]

CODES_COLUMNS = ("session_id", "utterance_index", "turn_index", "speaker", "role", "scheme", "code",
                 "confidence", "probabilities")
ERRORS_COLUMNS = ("input", "session_id", "code", "line", "message", "level")
SESSION_COLUMNS = ("session_id", "input", "reader", "unit", "turns", "units", "speakers", "role_method",
                   "role_confidence")


# ------------------------------------------------------------------------------ formatting
def format_probability(value: float | None) -> str:
    """A probability or score with four decimals; empty for ``None`` or NaN."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def format_seconds(value: float | None) -> str:
    """Seconds to the millisecond, without trailing zeros (``12.5``, ``0``); empty if unknown."""
    if value is None:
        return ""
    return (f"{value:.3f}".rstrip("0").rstrip(".")) or "0"


#: ``json.dumps`` with any non-default option builds a new encoder per call; ``codes.csv`` has a
#: probabilities cell per decision, so the one encoder is built once.
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))


def format_probabilities(code: Code) -> str:
    """Every code's probability as a compact JSON object in codebook order; empty for roll-ups."""
    if not code.probabilities:
        return ""
    return _COMPACT_JSON.encode({k: round(v, 4) for k, v in code.probabilities.items()})


def write_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    """Write a CSV table atomically; ``None`` cells are empty."""
    with atomic_open(path) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if cell is None else cell for cell in row])
    return Path(path)


# --------------------------------------------------------------------------- coded sessions
def coded_rows(session: CodedSession, layout: str = DEFAULT_LAYOUT,
               reviewed: Mapping[tuple[int, str], str] | None = None) -> Iterable[list[object]]:
    """The rows of one session's coded CSV, one per unit in input order. ``reviewed`` holds the
    supervisors' codes by ``(utterance_index, scheme)`` (:mod:`transcript_coder.review_store`);
    the other ``reviewed_`` cells are empty."""
    columns = coded_header(session, layout)
    reviewed = reviewed or {}
    for coded in session.utterances:
        u = coded.utterance
        base = {"session_id": session.session_id, "utterance_index": u.utterance_index, "turn_index": u.turn_index,
                "speaker": u.speaker, "role": u.role, "start": format_seconds(u.start), "end": format_seconds(u.end),
                "text": u.text}
        given = {INPUT_PREFIX + name: value for name, value in u.extra}
        row = []
        for column in columns:
            if column in given:
                row.append(given[column])
            elif column in base:
                row.append(base[column])
            elif column == CHECK_COLUMN:
                row.append(";".join(c for c in columns if c in coded.codes and coded.codes[c].confidence is not None
                                    and coded.codes[c].confidence < DEFAULT_CHECK_BELOW))
            elif column.startswith(REVIEWED_PREFIX):  # a supervisor's, never the model's
                row.append(reviewed.get((u.utterance_index, column[len(REVIEWED_PREFIX):]), ""))
            elif column in coded.codes:
                row.append(coded.codes[column].code)
            elif column.endswith(CONFIDENCE_SUFFIX) and column[: -len(CONFIDENCE_SUFFIX)] in coded.codes:
                row.append(format_probability(coded.codes[column[: -len(CONFIDENCE_SUFFIX)]].confidence))
            else:
                row.append("")
        yield row


def write_coded_session(path: str | Path, session: CodedSession, layout: str = DEFAULT_LAYOUT,
                        reviewed: Mapping[tuple[int, str], str] | None = None) -> Path:
    """``DIR/coded/<name>.csv``: one row per unit, the layout's columns, with the reviewed cells
    ``reviewed`` places (see :func:`coded_rows`)."""
    return write_csv(path, coded_header(session, layout), coded_rows(session, layout, reviewed))


def codes_rows(session: CodedSession) -> Iterable[list[object]]:
    """One row per unit and coded scheme (roll-ups included), in input and dependency order."""
    for coded in session.utterances:
        u = coded.utterance
        for scheme, code in coded.codes.items():
            yield [session.session_id, u.utterance_index, u.turn_index, u.speaker, u.role, scheme, code.code,
                   format_probability(code.confidence), format_probabilities(code)]


def write_codes(path: str | Path, sessions: Iterable[CodedSession]) -> Path:
    """``DIR/codes.csv``: the long table of every decision with every code's probability."""
    return write_csv(path, CODES_COLUMNS, (row for session in sessions for row in codes_rows(session)))


# --------------------------------------------------------------------------------- sessions
def session_header(codebook: Codebook, scores: ScoreConfig) -> list[str]:
    """Columns of ``sessions.csv``: identity, roles, turns per role, scores, code counts, warnings."""
    counts = [f"n_{scheme}.{code}" for scheme in counted_schemes(codebook) for code in codebook[scheme].code_ids]
    return [*SESSION_COLUMNS, *(f"turns_{role}" for role in ROLES), "score_method", *scores.score_names(codebook),
            *scores.map_columns(codebook), *counts, "warnings"]


def format_profile(profile: dict[str, int]) -> str:
    """A map figure's profile as ``code:count`` pairs of the non-zero codes, in codebook order."""
    return ";".join(f"{code}:{n}" for code, n in profile.items() if n)


def map_cells(summary: SessionSummary, codebook: Codebook, scores: ScoreConfig) -> list[object]:
    """The map columns of one ``sessions.csv`` row (:meth:`ScoreConfig.map_columns` order); empty
    cells for a map whose scheme coded no unit of the session."""
    cells: list[object] = []
    for name, spec in scores.maps.items():
        figures = summary.maps.get(name) or {}
        for figure in codebook[spec.scheme].code_ids:
            data = figures.get(figure)
            cells.append("" if data is None else data["units"])
            if spec.profile:
                cells.append("" if data is None else format_profile(data["profile"]))
            if spec.share:
                cells.append("" if data is None else format_probability(data["share"]))
    return cells


def session_row(session: CodedSession, summary: SessionSummary, codebook: Codebook, scores: ScoreConfig) -> list:
    """One ``sessions.csv`` row."""
    speakers = "; ".join(f"{s.speaker}={s.role}" for s in session.roles.speakers.values())
    row: list[object] = [session.session_id, session.source, session.reader, session.unit, session.n_turns,
                         len(session.utterances), speakers, session.roles.method,
                         format_probability(summary.role_confidence)]
    row += [summary.turns_per_role.get(role, 0) for role in ROLES]
    row.append(scores.method)
    row += [format_probability(summary.scores.get(name)) for name in scores.score_names(codebook)]
    row += map_cells(summary, codebook, scores)
    # A code the session could not get (no model provides its scheme) has an unknown count: empty.
    row += ["" if code in summary.unavailable.get(scheme, ()) else summary.counts[scheme][code]
            for scheme in counted_schemes(codebook) for code in codebook[scheme].code_ids]
    row.append(" | ".join(str(p) for p in session.problems))
    return row


# ----------------------------------------------------------------------------------- errors
def write_errors(path: str | Path, problems: Iterable[tuple[str, str, Problem]]) -> Path:
    """``DIR/errors.csv``: ``(input, session_id, problem)`` rows; errors are inputs not coded,
    warnings are coded sessions to check."""
    return write_csv(path, ERRORS_COLUMNS,
                     ([source, session_id, p.code, p.line, p.message, p.level] for source, session_id, p in problems))
