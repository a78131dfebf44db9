"""Peak memory of one very large session (issue 14, item 3).

Writes a labelled-text transcript of about ``--mb`` MB made of short turns (the worst case: most
units per byte) next to a normal session, runs ``transcript-coder code`` on both in a subprocess,
and reports the subprocess's peak RSS, its wall time, what happened to each input (errors.csv)
and the exit status. A session over the limits (``--max-input-mb``, ``--max-units``) is refused
with E123 before it is read (file size) or before it is coded (units), so peak RSS stays near the
models' own footprint however large the input::

    python benchmarks/session_memory.py --mb 50              # the issue's 50 MB case
    python benchmarks/session_memory.py --mb 5
    python benchmarks/session_memory.py --turns 20000        # a session at the unit limit
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHORT_TURNS = ["Okay.", "How are you feeling today?", "I am tired of it.", "Tell me more.", "Yes, I think so.",
               "Mm-hm.", "What happened next?", "I went home."]


def write_session(path: Path, *, mb: float | None = None, turns: int | None = None, seed: int = 0) -> int:
    """A labelled-text session of short alternating turns, ``mb`` MB or ``turns`` turns long;
    returns the number of turns."""
    rng = random.Random(seed)
    target = None if mb is None else int(mb * 1024 * 1024)
    written = count = 0
    with path.open("w", encoding="utf-8") as handle:
        while (target is not None and written < target) or (turns is not None and count < turns):
            line = ("Therapist: " if count % 2 == 0 else "Client: ") + rng.choice(SHORT_TURNS) + "\n"
            handle.write(line)
            written += len(line)
            count += 1
    return count


# Runs the CLI and, at exit, writes the process's own peak RSS (VmHWM) to the file named by
# TC_PEAK_RSS_FILE. VmHWM starts afresh at exec; wait4's ru_maxrss does not: it keeps the peak of
# the forked copy of the parent, so a large parent (a pytest run) would inflate it.
_PEAK_WRAPPER = """
import atexit, os, sys
def _peak():
    with open('/proc/self/status') as status, open(os.environ['TC_PEAK_RSS_FILE'], 'w') as out:
        out.write(next(line.split()[1] for line in status if line.startswith('VmHWM:')))
atexit.register(_peak)
from transcript_coder.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run(big: Path, clean: Path, out: Path, extra: list[str]) -> dict:
    """``transcript-coder code big clean --out out`` in a subprocess: exit status, seconds, peak
    RSS (MB, the subprocess's own VmHWM) and the code of each input in errors.csv."""
    started = time.perf_counter()
    log = out.parent / "console.txt"
    peak_file = out.parent / "peak_rss_kb.txt"
    with log.open("w") as console:
        child = subprocess.Popen([sys.executable, "-c", _PEAK_WRAPPER, "code", str(big), str(clean),
                                  "--out", str(out), "--quiet", "--threads", "1", *extra],
                                 stdout=console, stderr=subprocess.STDOUT,
                                 env={**os.environ, "TC_PEAK_RSS_FILE": str(peak_file)})
        _, status, usage = os.wait4(child.pid, 0)
    peak_kb = int(peak_file.read_text()) if peak_file.is_file() else usage.ru_maxrss
    seconds = time.perf_counter() - started
    errors = {}
    if (out / "errors.csv").is_file():
        with open(out / "errors.csv", newline="", encoding="utf-8") as handle:
            errors = {Path(row["input"]).name: row["code"] for row in csv.DictReader(handle) if row["level"] == "error"}
    coded = sorted(p.stem for p in (out / "coded").glob("*.csv")) if (out / "coded").is_dir() else []
    return {"exit": os.waitstatus_to_exitcode(status), "seconds": round(seconds, 1),
            "peak_rss_mb": round(peak_kb / 1024, 1), "errors": errors, "coded": coded,
            "output": log.read_text().strip().splitlines()[:6]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--mb", type=float, default=50.0, help="size of the large session in MB (default 50)")
    size.add_argument("--turns", type=int, help="number of turns of the large session instead of --mb")
    parser.add_argument("--keep", action="store_true", help="keep the generated folder")
    parser.add_argument("extra", nargs="*", help="more options for transcript-coder code (after --)")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="tc-session-memory-"))
    big = folder / "big.txt"
    turns = write_session(big, mb=None if args.turns else args.mb, turns=args.turns)
    clean = folder / "clean.txt"
    write_session(clean, turns=40, seed=1)
    print(f"large session: {big.stat().st_size / 1024 / 1024:.1f} MB, {turns} turns", flush=True)
    result = run(big, clean, folder / "out", args.extra)
    for key, value in result.items():
        print(f"{key}: {value}")
    if not args.keep:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
