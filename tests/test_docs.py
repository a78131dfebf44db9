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


def _readme_section(title: str) -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_readme_example_of_session_ids_is_what_the_code_does(tmp_path):
    from pathlib import Path

    from transcript_coder.inputs import InputFile
    from transcript_coder.session_ids import session_file_name, session_inputs

    section = _readme_section("Coding transcripts")
    found = re.search(r"For example, `code ([^`]+)` names `([^`]+)` session `([^`]+)`, written\s+to `coded/([^`]+)\.csv`",
                      section)
    assert found, "the README gives an example of a session id"
    root, path, session_id, name = found.groups()
    (tmp_path / path).parent.mkdir(parents=True)
    (tmp_path / path).write_text("Therapist: Hello.\nClient: Hi.\n", encoding="utf-8")
    [entry] = session_inputs([tmp_path / root])
    assert isinstance(entry, InputFile) and entry.session_id == session_id
    assert session_file_name(session_id) == name
    clash = re.search(r"such\s+as `([^`]+)` and `([^`]+)` named directly, are both refused with `(E\d+)`", section)
    assert clash, "the README says what happens to two inputs sharing an id"
    for name in clash.groups()[:2]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("Therapist: Hello.\nClient: Hi.\n", encoding="utf-8")
    refused = session_inputs([tmp_path / clash.group(1), tmp_path / clash.group(2)])
    assert [r.problems[0].code for r in refused] == [clash.group(3)] * 2


def _env_table() -> dict[str, tuple[str, str]]:
    rows = re.findall(r"^\| `(TRANSCRIPT_CODER_[A-Z_]+)` \| (.*?) \| (.*?) \|$",
                      _readme_section("Folders and environment variables"), flags=re.M)
    return {name: (what, default) for name, what, default in rows}


def test_readme_documents_every_environment_variable_the_code_reads():
    used = set()
    for folder in ("src", "tests", ".ci"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in {".py", ""} and "egg-info" not in str(path):
                used |= set(re.findall(r"TRANSCRIPT_CODER_[A-Z_]*[A-Z]", path.read_text(encoding="utf-8", errors="ignore")))
    assert set(_env_table()) == used


def test_readme_and_code_agree_on_transcript_coder_home(tmp_path, monkeypatch):
    from transcript_coder import paths
    from transcript_coder.encoders import encoders_dir
    from transcript_coder.report import load_report_config  # noqa: F401 (reads <home>/configs/report.yaml)
    from transcript_coder.roles import default_role_config_path
    from transcript_coder.summarize import default_score_config_path
    from transcript_coder.train import runs_dir

    table = _env_table()
    for name in ("TRANSCRIPT_CODER_ENCODERS", "TRANSCRIPT_CODER_RUNS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRANSCRIPT_CODER_HOME", str(tmp_path))
    derived = {paths.codebooks_dir(), paths.models_dir(), encoders_dir(), runs_dir(), default_role_config_path(),
               default_score_config_path()}
    section = _readme_section("Folders and environment variables")
    home_row = table["TRANSCRIPT_CODER_HOME"][0]
    for path in derived:
        relative = path.relative_to(tmp_path)
        assert f"`{relative.parts[0]}/`" in home_row, relative
        if len(relative.parts) > 1:  # a config file or folder under configs/ is named in the paragraph
            assert f"`{relative.as_posix()}" in section, relative
    assert encoders_dir() == tmp_path / table["TRANSCRIPT_CODER_ENCODERS"][1].strip("`").replace("<home>/", "")
    assert runs_dir() == tmp_path / table["TRANSCRIPT_CODER_RUNS"][1].strip("`").replace("<home>/", "")
