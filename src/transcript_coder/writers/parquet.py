"""``--tables parquet``: ``codes.parquet`` and ``sessions.parquet`` beside the CSV tables, for
batches too large to handle as CSV with JSON cells.

The Parquet files hold the same values as ``codes.csv`` and ``sessions.csv`` (they are written from
them, after them), typed: indices and counts ``int64``, confidences, scores and probabilities
``float64``, text ``string``; an empty CSV cell is null. ``codes.parquet`` has the probability of
every code as a column of its own, ``prob__<scheme>__<code>`` for every scheme and code of the
codebook (null on the rows of other schemes), instead of a JSON cell. This is the only module that
imports pyarrow (``pip install "transcript_coder[parquet]"``).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from ..codebook import Codebook
from ..errors import UsageError
from .atomic import atomic_open

#: The table formats ``--tables`` accepts; CSV is always written (resume, report and review read it).
TABLE_FORMATS = ("csv", "parquet")

_CODES_TYPES = {"utterance_index": "int", "turn_index": "int", "confidence": "float"}
_SESSION_TEXT = {"session_id", "input", "reader", "unit", "speakers", "role_method", "warnings"}


def probability_column(scheme: str, code: str) -> str:
    """The ``codes.parquet`` column holding the probability of ``code`` of ``scheme``."""
    return f"prob__{scheme}__{code}"


def require_pyarrow():
    """pyarrow, or E417 naming the extra.

    Raises:
        UsageError: E417 when pyarrow cannot be imported.
    """
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError as error:
        raise UsageError("E417", feature="--tables parquet", package="pyarrow", extra="parquet",
                         detail=str(error)) from None
    return pyarrow


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    csv.field_size_limit(sys.maxsize)  # a very long turn is one cell
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        return header, list(reader)


def _typed(values: list[str], kind: str):
    if kind == "int":
        return [int(v) if v != "" else None for v in values]
    if kind == "float":
        return [float(v) if v != "" else None for v in values]
    return [v if v != "" else None for v in values]


def _session_kind(column: str, values: list[str]) -> str:
    """The type of a ``sessions.csv`` column: by its name where that decides, else by its cells."""
    if column in _SESSION_TEXT:
        return "str"
    if column in ("turns", "units") or column.startswith(("turns_", "n_")) or column.endswith(".units"):
        return "int"
    try:
        for value in values:
            if value != "":
                float(value)
    except ValueError:
        return "str"
    return "float"


def _write(table, path: Path) -> Path:
    import pyarrow.parquet as pq

    with atomic_open(path, "wb") as handle:
        pq.write_table(table, handle, compression="zstd")
    return path


def write_parquet_tables(out: str | Path, codebook: Codebook) -> dict[str, Path]:
    """Write ``out/codes.parquet`` and ``out/sessions.parquet`` from ``codes.csv`` and
    ``sessions.csv`` (see the module docstring); returns their paths by name.

    Raises:
        UsageError: E417 when pyarrow is not installed.
    """
    pa = require_pyarrow()
    out = Path(out)
    types = {"int": pa.int64(), "float": pa.float64(), "str": pa.string()}

    header, rows = _read_csv(out / "codes.csv")
    columns = list(zip(*rows)) if rows else [() for _ in header]
    arrays, fields = [], []
    for name, values in zip(header, columns):
        if name == "probabilities":
            continue
        kind = _CODES_TYPES.get(name, "str")
        arrays.append(pa.array(_typed(list(values), kind), type=types[kind]))
        fields.append(pa.field(name, types[kind]))
    scheme_at, probs_at = header.index("scheme"), header.index("probabilities")
    parsed = [json.loads(row[probs_at]) if row[probs_at] else {} for row in rows]
    for scheme in codebook.ordered():
        for code in scheme.code_ids:
            values = [p.get(code) if row[scheme_at] == scheme.id else None for row, p in zip(rows, parsed)]
            arrays.append(pa.array(values, type=pa.float64()))
            fields.append(pa.field(probability_column(scheme.id, code), pa.float64()))
    paths = {"codes_parquet": _write(pa.Table.from_arrays(arrays, schema=pa.schema(fields)), out / "codes.parquet")}

    header, rows = _read_csv(out / "sessions.csv")
    columns = list(zip(*rows)) if rows else [() for _ in header]
    arrays, fields = [], []
    for name, values in zip(header, columns):
        kind = _session_kind(name, list(values))
        arrays.append(pa.array(_typed(list(values), kind), type=types[kind]))
        fields.append(pa.field(name, types[kind]))
    paths["sessions_parquet"] = _write(pa.Table.from_arrays(arrays, schema=pa.schema(fields)), out / "sessions.parquet")
    return paths


def parse_tables(value: str | None) -> tuple[str, ...]:
    """``--tables csv,parquet`` as a tuple of formats (CSV always included, first).

    Raises:
        UsageError: E508 for an unknown format.
    """
    formats = ["csv"]
    for part in (value or "csv").split(","):
        name = part.strip().lower()
        if name not in TABLE_FORMATS:
            raise UsageError("E508", option="tables", known=", ".join(TABLE_FORMATS), value=part)
        if name not in formats:
            formats.append(name)
    return tuple(formats)
