"""Writers: a coding run's results to files, each written atomically.

==========================  =============================================================
``DIR/coded/<id>.csv``      one row per unit: :data:`.tables.CODED_CSV_V3` columns
``DIR/codes.csv``           one row per unit and scheme, with every code's probability
``DIR/sessions.csv``        one row per session: roles, turns per role, scores, counts
``DIR/errors.csv``          one row per problem: inputs not coded, sessions to check
``DIR/run.json``            the run manifest (versions, models, config, inputs, timings)
==========================  =============================================================
"""

from __future__ import annotations

from .atomic import atomic_open, remove_stale_temporaries, write_json, write_text
from .tables import (
    CODED_CSV_V1,
    CODED_CSV_V2,
    CODED_CSV_V3,
    CODES_COLUMNS,
    DEFAULT_LAYOUT,
    ERRORS_COLUMNS,
    layouts,
    session_header,
    session_row,
    write_codes,
    write_coded_session,
    write_csv,
    write_errors,
)

__all__ = [
    "CODED_CSV_V1",
    "CODED_CSV_V2",
    "CODED_CSV_V3",
    "CODES_COLUMNS",
    "DEFAULT_LAYOUT",
    "ERRORS_COLUMNS",
    "atomic_open",
    "layouts",
    "remove_stale_temporaries",
    "session_header",
    "session_row",
    "write_codes",
    "write_coded_session",
    "write_csv",
    "write_errors",
    "write_json",
    "write_text",
]

