"""``transcript-coder code`` as a user runs it: exit codes, stdout, a killed run resumed, no network."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from transcript_coder.cli import main

from .pipeline_support import (  # noqa: F401 (fixtures)
    BAD,
    SESSIONS,
    TRANSCRIPTS,
    model_set,
    output_files,
    quickstart,
    read_rows,
)

SCRIPT = Path(sys.executable).with_name("transcript-coder")
COMMAND = [str(SCRIPT)] if SCRIPT.is_file() else [sys.executable, "-m", "transcript_coder.cli"]


def test_killed_run_resumes_to_the_outputs_of_an_uninterrupted_one(tmp_path, quickstart):
    reference, _, _ = quickstart  # code([SESSIONS], reference) in one uninterrupted run
    all_ids = sorted(p.stem for p in SESSIONS.iterdir())
    out = tmp_path / "killed"
    command = [*COMMAND, "code", str(SESSIONS), "--out", str(out), "--quiet"]
    # A window per session, so the kill lands between sessions; the resumed run uses one window.
    process = subprocess.Popen([*command, "--window-units", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while not list((out / "coded").glob("*.csv")):
        assert process.poll() is None, process.communicate()[1].decode()[-2000:]
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("no session was coded within 180 s")
        time.sleep(0.005)
    process.kill()  # SIGKILL: no clean-up code runs
    process.wait()
    coded_before = sorted(p.stem for p in (out / ".state").glob("*.json"))
    assert 1 <= len(coded_before) < len(all_ids)
    assert not (out / "run.json").exists() and not (out / "codes.csv").exists()

    resumed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"({len(all_ids) - len(coded_before)} now, {len(coded_before)} already coded)" in resumed.stdout
    this_run = json.loads((out / "run.json").read_text())["this_run"]
    assert sorted(this_run["skipped"]) == coded_before  # coded by the killed run, not again
    assert sorted(this_run["coded"] + this_run["skipped"]) == all_ids
    assert not set(this_run["coded"]) & set(this_run["skipped"])
    assert output_files(out) == output_files(reference)


def test_cli_codes_a_mixed_batch_without_any_network_connection(tmp_path, monkeypatch, capsys):
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network blocked by the test")

    for name in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    inputs = [SESSIONS / "drinking_mi.txt", SESSIONS / "sleep_mi.vtt", TRANSCRIPTS / "tsv_custom_columns.tsv",
              BAD / "no_labels.txt", BAD / "truncated.json"]
    out = tmp_path / "out"
    # Models are loaded inside the blocked section: loading must not reach for the network either.
    status = main(["code", *map(str, inputs), "--out", str(out), "--text-column", "words", "--speaker-column",
                   "person", "--start-column", "onset", "--end-column", "offset", "--quiet"])
    stdout = capsys.readouterr().out
    assert attempts == []
    assert status == 1
    assert "coded 3 of 5 input(s)" in stdout and "2 failed" in stdout
    assert f"E103: {BAD / 'no_labels.txt'} line 3: no speaker label" in stdout
    assert f"E105: {BAD / 'truncated.json'}: invalid JSON at line 4, column 60" in stdout
    assert "Traceback" not in stdout
    _, errors = read_rows(out / "errors.csv")
    assert [(r["session_id"], r["code"], r["line"], r["level"]) for r in errors] == [
        ("no_labels", "E103", "3", "error"), ("truncated", "E105", "4", "error")]
    _, rows = read_rows(out / "coded" / "tsv_custom_columns.csv")
    assert rows[0]["text"] and rows[0]["start"] != "" and rows[0]["speaker"]


def test_usage_errors_exit_2_from_the_shell(tmp_path):
    missing_inputs = subprocess.run([*COMMAND, "code", "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert missing_inputs.returncode == 2 and "E402: code needs INPUT" in missing_inputs.stderr
    no_files = subprocess.run([*COMMAND, "code", str(tmp_path / "nothing.txt"), "--out", str(tmp_path / "out")],
                              capture_output=True, text=True)
    assert no_files.returncode == 2
    assert no_files.stderr.startswith(f"error: E401: {tmp_path / 'nothing.txt'}: no transcript files matched")
    assert "Traceback" not in no_files.stderr


@pytest.mark.parametrize("extra, message", [
    (["--role", "SPEAKER_00"], "E404: --role expects SPEAKER=ROLE"),
    (["--role", "SPEAKER_00=boss"], "E404: --role expects SPEAKER=ROLE"),
    (["--unit", "paragraph"], "E409: unknown unit 'paragraph'"),
    (["--batch-size", "0"], "E410: --batch-size must be at least 1; got 0"),
    (["--roles", "no_such_mapping.csv"], "E403: no_such_mapping.csv: role mapping: file not found"),
    (["--model", "no_such_model"], "E201: no_such_model: not a transcript_coder model folder"),
])
def test_bad_options_exit_with_a_coded_message(tmp_path, capsys, extra, message):
    status = main(["code", str(SESSIONS / "drinking_mi.txt"), "--out", str(tmp_path / "out"), *extra])
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert status == 2


@pytest.mark.parametrize("option", ["--window-units", "--jobs", "--ray-actors"])
def test_throughput_options_below_one_exit_2_with_e410(tmp_path, capsys, option):
    status = main(["code", str(SESSIONS / "drinking_mi.txt"), "--out", str(tmp_path / "out"), option, "0"])
    assert status == 2
    assert f"E410: {option} must be at least 1; got 0" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
