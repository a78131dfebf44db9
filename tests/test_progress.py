"""Progress without a terminal (issue 13): periodic log lines with counts, rate and ETA; a small
batch reports each session."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys

from transcript_coder.progress import LogHook, NullHook, TqdmHook, progress_hook

from .conftest import ROOT
from .pipeline_support import SESSIONS, model_set  # noqa: F401 (fixture)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "transcript_coder.progress"]


def test_log_hook_writes_a_line_per_interval_with_rate_and_eta(caplog):
    clock = Clock()
    hook = LogHook(interval=30, clock=clock)
    with caplog.at_level(logging.INFO, logger="transcript_coder.progress"):
        hook.start("code", 100, unit="session")
        for _ in range(10):  # 10 sessions in 20 s: no line yet
            clock.now += 2
            hook.advance("code", 1, turns_s=45.25)
        assert _lines(caplog) == ["code: started, 100 sessions"]
        for _ in range(10):  # 30 s have passed at session 15: a line, ETA 85 sessions at 2 s each
            clock.now += 2
            hook.advance("code", 1, turns_s=50.0)
        hook.finish("code")
    lines = _lines(caplog)
    assert lines[1] == "code: 15/100 sessions (15 %), 50.0 turns/s, elapsed 0:00:30, ETA 0:02:50"
    assert lines[-1] == "code: 20/100 sessions (20 %), 50.0 turns/s, elapsed 0:00:40, ETA 0:02:40 (finished)"
    assert len(lines) == 3


def test_log_hook_reports_every_session_of_a_small_batch(caplog):
    clock = Clock()
    hook = LogHook(interval=30, clock=clock)
    with caplog.at_level(logging.INFO, logger="transcript_coder.progress"):
        hook.start("code", 3, unit="session")
        for _ in range(3):
            clock.now += 1
            hook.advance("code", 1, turns_s=10.0)
    assert _lines(caplog)[1:] == [
        "code: 1/3 sessions (33 %), 10.0 turns/s, elapsed 0:00:01, ETA 0:00:02",
        "code: 2/3 sessions (67 %), 10.0 turns/s, elapsed 0:00:02, ETA 0:00:01",
        "code: 3/3 sessions (100 %), 10.0 turns/s, elapsed 0:00:03"]


def test_progress_hook_is_a_bar_on_a_terminal_and_log_lines_elsewhere():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert isinstance(progress_hook(stream=Terminal()), TqdmHook)
    assert isinstance(progress_hook(stream=io.StringIO()), LogHook)
    assert isinstance(progress_hook(quiet=True, stream=Terminal()), NullHook)


def test_code_without_a_terminal_logs_progress_per_session(tmp_path):
    """The real command with stderr a pipe: a line per session as it is written, no bar."""
    inputs = [str(SESSIONS / "drinking_mi.txt"), str(SESSIONS / "sleep_mi.vtt")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "transcript_coder", "code", *inputs, "--out", str(tmp_path / "out"),
                           "--threads", "1"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    progress = [line for line in done.stderr.splitlines() if "transcript_coder.progress" in line]
    assert progress[0].endswith("code: started, 2 sessions")
    assert "code: 1/2 sessions (50 %)" in progress[1] and "turns/s" in progress[1] and "ETA" in progress[1]
    assert "code: 2/2 sessions (100 %)" in progress[2]
    assert "\r" not in done.stderr and "it/s" not in done.stderr  # no tqdm bar in a log file
    quiet = subprocess.run([sys.executable, "-m", "transcript_coder", "code", *inputs, "--out", str(tmp_path / "out"),
                            "--quiet"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_a_small_batch_is_coded_and_written_session_by_session(tmp_path, model_set):
    """With the default window a small batch does not wait for its last session: when the first
    session is reported, it alone has been written."""
    from transcript_coder.batch import code
    from transcript_coder.progress import RecordingHook

    out = tmp_path / "out"

    class Watching(RecordingHook):
        def advance(self, stage, n=1, **postfix):
            super().advance(stage, n, **postfix)
            self.events.append(("written", sorted(p.name for p in (out / "coded").iterdir())))

    hook = Watching()
    code([SESSIONS], out, hook=hook, models=model_set)
    written = [e[1] for e in hook.events if e[0] == "written"]
    assert written == [["drinking_mi.csv"], ["drinking_mi.csv", "sleep_mi.csv"],
                       ["drinking_mi.csv", "sleep_mi.csv", "smoking_mi_whisperx.csv"],
                       ["drinking_mi.csv", "sleep_mi.csv", "smoking_mi_whisperx.csv", "work_anxiety_mi.csv"]]
