"""Cross-session windows: the same bytes whatever the window, and memory bounded by one window."""

from __future__ import annotations

import gc
import shutil
import weakref

import pytest

from transcript_coder.errors import UsageError
from transcript_coder.pipeline import CodeOptions, code, windows_of
from transcript_coder.results import CodedSession
from transcript_coder.types import Session

from .pipeline_support import (  # noqa: F401 (fixtures)
    BAD,
    SESSIONS,
    TRANSCRIPTS,
    model_set,
    output_files,
    quickstart,
)


def test_windows_close_at_their_unit_budget_or_session_cap():
    sizes = [3, 0, 5, 1, 9, 2, 2]
    assert list(windows_of(sizes, int, 6)) == [[3, 0, 5], [1, 9], [2, 2]]
    assert list(windows_of(sizes, int, 1)) == [[3], [0, 5], [1], [9], [2], [2]]  # no empty window
    assert list(windows_of(sizes, int, 100, max_sessions=3)) == [[3, 0, 5], [1, 9, 2], [2]]
    assert list(windows_of([], int, 6)) == []


@pytest.fixture(scope="module")
def mixed_inputs(tmp_path_factory):
    """Every reader fixture, the quickstart sessions and the bad inputs: 43 inputs, of which 13 fail
    (the 12 bad ones, and a TSV whose columns need options)."""
    folder = tmp_path_factory.mktemp("mixed")
    for source in (TRANSCRIPTS, SESSIONS, BAD):
        shutil.copytree(source, folder / source.name)
    return folder


def test_one_session_per_window_and_one_big_window_write_the_same_bytes(tmp_path, mixed_inputs, model_set):
    one = code([mixed_inputs], tmp_path / "one", CodeOptions(window_units=1), models=model_set)
    big = code([mixed_inputs], tmp_path / "big", CodeOptions(window_units=100_000), models=model_set)
    statuses = [r.status for r in one.records]
    assert statuses == [r.status for r in big.records] and statuses.count("failed") == 13
    assert statuses.count("coded") == len(statuses) - 13 == 30
    files = output_files(tmp_path / "one")
    assert any(name.startswith("coded/") for name in files) and "errors.csv" in files
    assert files == output_files(tmp_path / "big")  # coded CSVs, states, codes, sessions, errors, run.json


def test_sentence_units_in_windows_match_a_window_per_session(tmp_path, model_set):
    inputs = [SESSIONS / "sleep_mi.vtt", SESSIONS / "smoking_mi_whisperx.json", TRANSCRIPTS / "docx_table.docx"]
    code(inputs, tmp_path / "one", CodeOptions(unit="sentence", window_units=1), models=model_set)
    code(inputs, tmp_path / "big", CodeOptions(unit="sentence", window_units=50), models=model_set)
    assert output_files(tmp_path / "one") == output_files(tmp_path / "big")


def test_the_engine_holds_one_window_of_sessions_at_a_time(tmp_path, model_set, monkeypatch):
    """Memory is bounded by the window: count the sessions and coded sessions still alive each
    time the model is called, over 16 inputs in windows of two sessions (40 units)."""
    import transcript_coder.engines.local as local

    inputs = tmp_path / "in"
    inputs.mkdir()
    for copy in range(4):
        for path in sorted(SESSIONS.iterdir()):
            shutil.copy(path, inputs / f"{path.stem}_{copy}{path.suffix}")
    sessions: list[weakref.ref] = []  # dataclasses compare by value, so no WeakSet
    coded: list[weakref.ref] = []

    def alive_count(refs: list[weakref.ref]) -> int:
        return sum(ref() is not None for ref in refs)

    real_prepare, real_window, real_predict = local.prepare_session, local.code_window, model_set.predict

    def tracked_prepare(*args, **kwargs):
        prepared = real_prepare(*args, **kwargs)
        assert isinstance(prepared.session, Session)
        sessions.append(weakref.ref(prepared.session))
        return prepared

    def tracked_window(window, resources):
        results = real_window(window, resources)
        for result in results:
            assert isinstance(result, CodedSession)
            coded.append(weakref.ref(result))
        window_sizes.append(len(window))
        return results

    alive = []  # (sessions, coded sessions) alive at each model call
    window_sizes: list[int] = []

    def tracked_predict(units, wanted, **kwargs):
        gc.collect()
        alive.append((alive_count(sessions), alive_count(coded)))
        return real_predict(units, wanted, **kwargs)

    monkeypatch.setattr(local, "prepare_session", tracked_prepare)
    monkeypatch.setattr(local, "code_window", tracked_window)
    monkeypatch.setattr(model_set, "predict", tracked_predict)
    result = code([inputs], tmp_path / "out", CodeOptions(window_units=40), models=model_set)
    assert [r.status for r in result.records] == ["coded"] * 16
    assert window_sizes == [2] * 8
    # Two model calls per window at most (role evidence, then codes); at each, only the current
    # window's sessions are alive and no coded session of an earlier window is.
    assert len(alive) >= len(window_sizes)
    assert max(s for s, _ in alive) <= max(window_sizes)
    assert max(c for _, c in alive) == 0
    gc.collect()
    assert len(sessions) == len(coded) == 16 and alive_count(sessions) == alive_count(coded) == 0  # only records stay


@pytest.mark.parametrize("option, value", [("window_units", 0), ("jobs", 0), ("ray_actors", 0)])
def test_throughput_options_below_one_are_usage_errors(tmp_path, model_set, option, value):
    with pytest.raises(UsageError) as caught:
        code([SESSIONS], tmp_path / "out", CodeOptions(**{option: value}), models=model_set)
    assert caught.value.code == "E410" and option.replace("_", "-") in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_an_unknown_engine_is_a_usage_error(tmp_path, model_set):
    with pytest.raises(UsageError) as caught:
        code([SESSIONS], tmp_path / "out", CodeOptions(engine="spark"), models=model_set)
    assert caught.value.code == "E412" and "local, ray" in str(caught.value)
