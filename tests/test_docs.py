"""The README's quickstart is what CI runs, and every set-up path pins the CPU build of torch."""

from __future__ import annotations

import re

from .conftest import ROOT


def quickstart_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```(?:bash|sh)?\n(.*?)```", section, flags=re.S)]


def test_quickstart_has_two_commands_and_ci_runs_the_second():
    commands = quickstart_commands()
    assert len(commands) == 2
    install_and_code, install_and_test = commands
    assert "transcript-coder code" in install_and_code
    assert "pytest" in install_and_test
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert install_and_test in ci


def test_every_setup_path_installs_cpu_torch_first():
    for path in ("README.md", "Makefile", ".ci/run"):
        text = (ROOT / path).read_text(encoding="utf-8")
        torch_at = text.find("pip install torch==2.13.0")
        assert torch_at != -1, path
        assert torch_at < text.find("pip install -e"), path


def test_readme_documents_every_cli_command():
    from transcript_coder.cli import COMMANDS

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in COMMANDS:
        assert f"transcript-coder {name}" in readme, name
