"""Command line conventions (issue 13): ``python -m``, common options after the sub-command,
examples in every ``--help``, a closed pipe ends quietly, a missing optional dependency is an E-code."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from transcript_coder.cli import EXAMPLES, build_parser

from .conftest import ROOT

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=120,
                          **kwargs)


def _commands(parser: argparse.ArgumentParser, prefix: str = ""):
    """Every (sub-)command parser, by its words after ``transcript-coder``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                words = f"{prefix} {name}".strip()
                yield words, sub
                yield from _commands(sub, words)


def test_python_dash_m_runs_the_cli():
    done = _run("-m", "transcript_coder", "codebooks")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("client_emotion v")
    assert "client_emotion_fine" in done.stdout


@pytest.mark.parametrize("argv, verbose, quiet", [
    (["codebooks"], False, False),
    (["-v", "codebooks"], True, False),
    (["codebooks", "-v"], True, False),
    (["codebooks", "--verbose"], True, False),
    (["--quiet", "codebooks"], False, True),
    (["codebooks", "--quiet"], False, True),
    (["review", "import", "a.xlsx", "--out", "b.csv", "--quiet", "-v"], True, True),
    (["code", "x.txt", "--out", "o", "--quiet"], False, True),
])
def test_verbose_and_quiet_are_accepted_before_and_after_the_command(argv, verbose, quiet):
    args = build_parser().parse_args(argv)
    assert (args.verbose, args.quiet) == (verbose, quiet)


def test_every_command_help_ends_with_its_examples():
    commands = dict(_commands(build_parser()))
    assert {"code", "report", "review export", "encoders assemble", "codebooks"} <= set(commands)
    for words, parser in commands.items():
        text = parser.format_help()
        assert "examples:" in text, words
        examples = text.split("examples:", 1)[1].strip().splitlines()
        assert 1 <= len(examples) <= 2, words
        assert all(line.strip().startswith(f"transcript-coder {words}") for line in examples), (words, examples)


def test_examples_parse():
    """Every example in a --help is a valid command line (comments after '#' dropped)."""
    import shlex

    parser = build_parser()
    for words, lines in EXAMPLES.items():
        for line in lines:
            argv = shlex.split(line.split("#", 1)[0].split("|", 1)[0])[1:]
            if argv == words.split():  # "transcript-coder review" alone is not a full command
                continue
            parser.parse_args(argv)


def test_a_closed_pipe_ends_quietly():
    # The reader closes its end before the command writes (imports take far longer than this), as
    # `head` does once it has its lines: the write fails with EPIPE.
    process = subprocess.Popen([sys.executable, "-m", "transcript_coder", "codebooks"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, cwd=ROOT, env=ENV)
    process.stdout.close()
    stderr = process.stderr.read().decode()
    status = process.wait(timeout=120)
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    assert stderr == ""
    assert status == 141


def test_a_shell_pipe_into_head_prints_no_traceback():
    done = subprocess.run(f"'{sys.executable}' -m transcript_coder codebooks | head -n 1", shell=True,
                          capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=120)
    assert done.stdout.startswith("client_emotion v") and done.stdout.count("\n") == 1
    assert "Traceback" not in done.stderr


def test_report_without_matplotlib_is_E417_naming_the_extra(tmp_path):
    # sys.modules[name] = None makes "import name" raise ImportError, as an install without it would.
    script = ("import sys; sys.modules['matplotlib'] = None; from transcript_coder.cli import main; "
              f"sys.exit(main(['report', {str(tmp_path)!r}]))")
    done = _run("-c", script)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: E417: the HTML report needs matplotlib")
    assert 'pip install "transcript_coder[report]"' in done.stderr
    assert not (tmp_path / "report").exists()


def test_matplotlib_and_openpyxl_are_core_dependencies():
    """A supervisor's report and review workbook work after a plain ``pip install``."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = {dep.split(">")[0].split("=")[0].split("[")[0] for dep in project["dependencies"]}
    assert {"matplotlib", "openpyxl"} <= core
