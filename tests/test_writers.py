"""Writers: atomic writes and number formatting."""

from __future__ import annotations

import os
import stat

import pytest

from transcript_coder.writers import atomic_open, remove_stale_temporaries, write_csv, write_text
from transcript_coder.writers.tables import format_probability, format_seconds


def test_failed_write_leaves_neither_a_partial_file_nor_a_temporary(tmp_path):
    target = tmp_path / "codes.csv"

    def rows():
        yield ["a", 1]
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        write_csv(target, ["x", "y"], rows())
    assert list(tmp_path.iterdir()) == []


def test_failed_rewrite_keeps_the_old_file_intact(tmp_path):
    target = tmp_path / "sessions.csv"
    write_text(target, "old,complete\n")
    with pytest.raises(KeyboardInterrupt):
        with atomic_open(target) as handle:
            handle.write("new,half")
            raise KeyboardInterrupt  # a Ctrl-C mid-write
    assert target.read_text() == "old,complete\n"
    assert [p.name for p in tmp_path.iterdir()] == ["sessions.csv"]


def test_atomic_files_get_ordinary_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        path = write_text(tmp_path / "run.json", "{}\n")
    finally:
        os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_stale_temporaries_of_a_killed_run_are_removed(tmp_path):
    (tmp_path / ".tc-codes.csv.abc123.tmp").write_text("half")
    (tmp_path / "keep.csv").write_text("x")
    removed = remove_stale_temporaries(tmp_path)
    assert [p.name for p in removed] == [".tc-codes.csv.abc123.tmp"]
    assert [p.name for p in tmp_path.iterdir()] == ["keep.csv"]


def test_number_formats():
    assert format_seconds(None) == "" and format_seconds(0.0) == "0" and format_seconds(12.5) == "12.5"
    assert format_seconds(3661.1234) == "3661.123" and format_seconds(7.0) == "7"
    assert format_probability(None) == "" and format_probability(float("nan")) == ""
    assert format_probability(0.123456) == "0.1235" and format_probability(1.0) == "1.0000"
