"""``--tables parquet`` (issue 13): codes.parquet and sessions.parquet, typed, with the
probabilities as real columns, holding the same values as the CSV tables."""

from __future__ import annotations

import json
import math
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from transcript_coder.batch import CodeOptions, code
from transcript_coder.errors import UsageError
from transcript_coder.writers.parquet import parse_tables, probability_column

from .pipeline_support import SESSIONS, model_set, read_rows  # noqa: F401 (fixture)


@pytest.fixture(scope="module")
def parquet_run(tmp_path_factory, model_set):
    out = tmp_path_factory.mktemp("parquet") / "out"
    result = code([SESSIONS / "drinking_mi.txt", SESSIONS / "smoking_mi_whisperx.json"], out,
                  CodeOptions(tables=("csv", "parquet")), models=model_set)
    assert result.ok
    return out


def _same(a, b) -> bool:
    return (a is None and b == "") or (a is not None and b != "" and math.isclose(a, float(b), abs_tol=1e-9))


def test_codes_parquet_is_typed_with_a_column_per_probability(parquet_run, codebook):
    table = pq.read_table(parquet_run / "codes.parquet")
    schema = table.schema
    assert schema.field("utterance_index").type == pa.int64() and schema.field("turn_index").type == pa.int64()
    assert schema.field("confidence").type == pa.float64() and schema.field("code").type == pa.string()
    assert "probabilities" not in schema.names
    expected_probs = [probability_column(s.id, c) for s in codebook.ordered() for c in s.code_ids]
    assert schema.names[-len(expected_probs):] == expected_probs
    assert all(schema.field(name).type == pa.float64() for name in expected_probs)
    _, rows = read_rows(parquet_run / "codes.csv")
    data = table.to_pylist()
    assert len(data) == len(rows)
    for csv_row, row in zip(rows, data):
        assert row["utterance_index"] == int(csv_row["utterance_index"]) and row["code"] == (csv_row["code"] or None)
        assert _same(row["confidence"], csv_row["confidence"])
        probs = json.loads(csv_row["probabilities"]) if csv_row["probabilities"] else {}
        for scheme in codebook.ordered():
            for c in scheme.code_ids:
                value = row[probability_column(scheme.id, c)]
                if scheme.id == csv_row["scheme"] and c in probs:
                    assert value == probs[c]
                else:
                    assert value is None


def test_sessions_parquet_is_typed_and_holds_the_csv_values(parquet_run):
    table = pq.read_table(parquet_run / "sessions.parquet")
    types = {f.name: f.type for f in table.schema}
    assert types["session_id"] == pa.string() and types["turns"] == pa.int64() and types["units"] == pa.int64()
    assert types["pct_change_talk"] == pa.float64() and types["role_confidence"] == pa.float64()
    assert all(t == pa.int64() for name, t in types.items() if name.startswith("n_"))
    header, rows = read_rows(parquet_run / "sessions.csv")
    assert table.schema.names == header
    for csv_row, row in zip(rows, table.to_pylist()):
        for name in header:
            if types[name] == pa.string():
                assert row[name] == (csv_row[name] or None), name
            else:
                assert _same(row[name], csv_row[name]), name


def test_tables_option_parses_and_refuses_unknown_formats():
    assert parse_tables(None) == ("csv",) and parse_tables("parquet") == ("csv", "parquet")
    assert parse_tables("csv, parquet") == ("csv", "parquet")
    with pytest.raises(UsageError) as caught:
        parse_tables("csv,feather")
    assert caught.value.code == "E508"


def test_parquet_without_pyarrow_is_E417_before_anything_is_coded(tmp_path, model_set, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow raises ImportError
    with pytest.raises(UsageError) as caught:
        code([SESSIONS / "drinking_mi.txt"], tmp_path / "out", CodeOptions(tables=("csv", "parquet")), models=model_set)
    assert caught.value.code == "E417" and 'transcript_coder[parquet]' in str(caught.value)
    assert not (tmp_path / "out" / "coded").exists()
