"""The batch engine behind ``transcript-coder code``: transcript files in, coded CSVs out.

The stages, for a window of sessions at a time::

    read_transcript -> segment                              (per session: engines.prepare)
        -> resolve_roles -> predict speaker_role -> assign_roles -> attach_roles
        -> predict -> attach_codes -> CodedSession          (per window: code_sessions)
        -> state + coded CSV                                (per session)

:func:`code_sessions` is the middle part without any I/O: sessions and their units in, one
:class:`CodedSession` (or the error that stopped it) per session out, with **one** model call per
phase for the whole window (phase 1: the role-inference scheme over the units of sessions whose
roles need evidence; phase 2: the schemes every unit still needs). :func:`code_transcript` is the
same for a single :class:`Session`. :func:`code` adds the batch behaviour around them:

* inputs are files, folders (searched recursively for transcript extensions) and glob patterns;
  a session's id is its file's stem, made unique (``name``, ``name-2``...) in input order;
* sessions stream in **windows**: inputs are read and segmented until the window holds about
  ``window_units`` units, the window is coded, its files are written and it is dropped, so memory
  depends on the window, never on the number of inputs. With ``jobs > 1`` a pool of processes
  reads and segments the next window and a thread writes the previous one while the model codes
  the current one;
* one bad input never stops the batch: its problem goes to ``errors.csv`` with its code, file and
  line, and the next input is read;
* each session's results are written as soon as its window is done: first its state
  (``DIR/.state/<id>.json``, the complete coded session and a fingerprint of everything that
  produced it), then ``DIR/coded/<id>.csv``;
* a re-run into the same ``DIR`` skips every session whose fingerprint (input bytes, models,
  codebook, role and score configs, options) matches its state, so an interrupted run resumes
  where it stopped; ``force`` recodes everything;
* the aggregate files (``codes.csv``, ``sessions.csv``, ``errors.csv``, ``run.json``) are
  rebuilt at the end from the states, so a resumed run ends with the same bytes as an
  uninterrupted one (``run.json``'s ``this_run`` block, timings and what this invocation coded,
  excepted).

Windows do not change a single digit: ``ModelSet.predict`` is row-deterministic (a unit's
probabilities do not depend on the other units of the call), so a session's codes are the same
whichever sessions share its window, its engine (``engine="ray"``: :mod:`.engines.ray_engine`)
or its run, which is what keeps resumed outputs byte-identical. Coding makes no network
connection: models, tokenizers and the sentencizer are all local.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import logging
import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from . import __version__
from .classify import ModelSet, Predictions
from .codebook import Codebook, load_codebook
from .codes import attach_codes, wanted_schemes
from .configfile import file_sha256
from .engines import DEFAULT_WINDOW_UNITS, ENGINES
from .engines.prepare import PreparedSession, ignore_interrupts, prepare_session
from .errors import InputError, TranscriptCoderError, UsageError
from .paths import codebooks_dir
from .progress import NullHook, ProgressHook
from .readers import UNKNOWN_SPEAKER, ReaderOptions
from .readers.detect import EXTENSION_READERS
from .runtime import DEFAULT_RUNTIME, resolve_runtime
from .results import CodedSession, Problem, RunResult, SessionRecord
from .roles import (
    RoleConfig,
    RoleOverrides,
    assign_roles,
    attach_roles,
    default_role_config_path,
    load_role_config,
    load_role_mapping,
    needs_evidence,
    parse_role,
    pool_evidence,
    resolve_roles,
    role_warnings,
)
from .segment import resolve_segmenter, segment
from .summarize import ScoreConfig, default_score_config_path, load_score_config, summarize
from .types import CLIENT, ROLES, THERAPIST, Session, Utterance
from .writers import (
    DEFAULT_LAYOUT,
    layouts,
    remove_stale_temporaries,
    session_header,
    session_row,
    write_codes,
    write_coded_session,
    write_csv,
    write_errors,
    write_json,
)

log = logging.getLogger(__name__)

CODED_DIR = "coded"
STATE_DIR = ".state"
STATE_FORMAT = 1
#: A window also closes after this many inputs, so a run that mostly skips already coded
#: sessions still reports progress and writes as it goes.
WINDOW_MAX_SESSIONS = 256
_UNSAFE_ID_RE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


@dataclass(frozen=True)
class CodeOptions:
    """Everything that decides how inputs are coded (``transcript-coder code`` options).

    Attributes:
        unit: ``"turn"``, ``"sentence"`` or a registered segmenter name.
        models: model folders; ``None`` uses every model in ``models/``.
        codebooks: codebook folder; ``None`` uses ``configs/codebooks``.
        reader: how transcripts are read (format, column names, encoding).
        therapist: speaker labels that are the therapist wherever they occur.
        speaker_roles: ``{speaker label: role}`` for every session (a role may be an alias).
        role_mapping: a CSV/YAML/JSON file of ``session_id, speaker, role``.
        role_config: the alias and inference config; ``None`` uses ``configs/roles.yaml``.
        score_config: the session scores; ``None`` uses ``configs/scores.yaml``.
        batch_size: units per model batch.
        threads: torch threads; ``None`` leaves torch's default.
        runtime: the registered runtime executing the encoders (``"onnx_int8.v1"`` is opt-in).
        force: recode sessions already coded in the output folder.
        layout: the per-session CSV layout.
        window_units: units per window: sessions are read until a window holds about this many
            units, then coded with one model call per phase (memory grows with it, not with the
            number of inputs).
        jobs: processes reading and segmenting the next window while the model codes the
            current one (and a thread writing the previous one); 1 does everything in turn. The
            processes are spawned, so a script calling :func:`code` with ``jobs > 1`` needs the
            usual ``if __name__ == "__main__":`` guard.
        engine: ``"local"`` (this process) or ``"ray"`` (a Ray Data job; extra ``[ray]``).
        ray_address: the Ray cluster for ``engine="ray"`` (``"auto"``, ``"ray://host:10001"``);
            ``None`` starts a local Ray.
        ray_actors: model-holding actors for ``engine="ray"``; ``None``: as many as the
            cluster's CPUs allow at ``threads`` CPUs each.
    """

    unit: str = "turn"
    models: tuple[Path, ...] | None = None
    codebooks: Path | None = None
    reader: ReaderOptions = field(default_factory=ReaderOptions)
    therapist: tuple[str, ...] = ()
    speaker_roles: Mapping[str, str] = field(default_factory=dict)
    role_mapping: Path | None = None
    role_config: Path | None = None
    score_config: Path | None = None
    batch_size: int = 64
    threads: int | None = None
    force: bool = False
    layout: str = DEFAULT_LAYOUT
    runtime: str = DEFAULT_RUNTIME
    window_units: int = DEFAULT_WINDOW_UNITS
    jobs: int = 1
    engine: str = "local"
    ray_address: str | None = None
    ray_actors: int | None = None


@dataclass(frozen=True)
class InputFile:
    """One transcript file to code, as the user's input named it, and its session id."""

    path: Path
    session_id: str


# ---------------------------------------------------------------------------------- inputs
def _is_pattern(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def _inside(path: Path, folder: Path | None) -> bool:
    if folder is None:
        return False
    try:
        path.resolve().relative_to(folder)
        return True
    except ValueError:
        return False


def _folder_files(folder: Path, exclude: Path | None) -> list[Path]:
    """Transcript files under ``folder`` (recursive, hidden folders and files skipped), sorted by
    their path relative to it."""
    found = []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        if path.suffix.lower() in EXTENSION_READERS and not _inside(path, exclude):
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def expand_inputs(inputs: Sequence[str | Path], exclude: Path | None = None) -> list[Path | SessionRecord]:
    """The files named by ``inputs`` in order: a file as is, a folder's transcript files
    (recursively, sorted), a glob pattern's matches (sorted). A path counted twice is kept once.
    An input that names nothing becomes a failed :class:`SessionRecord` (E401). Files under
    ``exclude`` (the output folder) are left out.
    """
    seen: set[Path] = set()
    result: list[Path | SessionRecord] = []
    for given in inputs:
        text = str(given)
        path = Path(text).expanduser()
        if path.is_dir():
            matches = _folder_files(path, exclude)
        elif path.exists():
            matches = [path]
        elif _is_pattern(text):
            matches = []
            for match in sorted(glob.glob(str(path), recursive=True)):
                match_path = Path(match)
                matches += _folder_files(match_path, exclude) if match_path.is_dir() else [match_path]
        else:
            matches = []
        if not matches:
            result.append(SessionRecord(input=text, session_id="", status="failed",
                                        problems=[Problem.from_error(InputError("E401", path=text))]))
            continue
        for match in matches:
            key = match.resolve()
            if key not in seen:
                seen.add(key)
                result.append(match)
    return result


def session_id_for(path: Path) -> str:
    """A file's stem, made safe as a file name (path separators and control characters become
    ``_``; leading dots are dropped)."""
    stem = _UNSAFE_ID_RE.sub("_", path.stem).strip().lstrip(".")
    return stem or "session"


def unique_session_ids(paths: Sequence[Path]) -> list[str]:
    """Session ids for ``paths`` in order: each file's stem; a stem already taken (compared
    case-insensitively, as some file systems do) gets ``-2``, ``-3``... The same input list
    always gives the same ids."""
    taken: set[str] = set()
    ids = []
    for path in paths:
        base = candidate = session_id_for(path)
        number = 1
        while candidate.casefold() in taken:
            number += 1
            candidate = f"{base}-{number}"
        taken.add(candidate.casefold())
        ids.append(candidate)
    return ids


# ------------------------------------------------------------------------- one session, no I/O
@dataclass
class CodingResources:
    """What coding a session needs, loaded once per run."""

    codebook: Codebook
    models: ModelSet
    role_config: RoleConfig
    unit: str = "turn.v1"
    batch_size: int = 64
    unattributed: tuple[str, ...] = (UNKNOWN_SPEAKER,)


@dataclass
class SessionUnits:
    """A session read and segmented, ready for :func:`code_sessions`: its units, the role
    overrides that apply to it, and the input to name as its source."""

    session: Session
    units: list[Utterance]
    overrides: Mapping[str, str] = field(default_factory=dict)
    source: str | None = None


def _rows(predictions: Predictions, start: int, stop: int) -> Predictions:
    """Rows ``start:stop`` of a window's predictions: one session's share."""
    return Predictions(n_units=stop - start, labels=dict(predictions.labels),
                       probabilities={s: rows[start:stop] for s, rows in predictions.probabilities.items()})


def _predict_split(models: ModelSet, parts: Sequence[tuple[Sequence[Utterance], list[set[str]]]],
                   batch_size: int) -> list[Predictions]:
    """One :meth:`ModelSet.predict` call over the units of every part; the predictions split back
    per part, in order."""
    units = [u for part_units, _ in parts for u in part_units]
    wanted = [w for _, part_wanted in parts for w in part_wanted]
    if not units:
        return [Predictions.empty(0) for _ in parts]
    predictions = models.predict(units, wanted, batch_size=batch_size)
    split, start = [], 0
    for part_units, _ in parts:
        split.append(_rows(predictions, start, start + len(part_units)))
        start += len(part_units)
    return split


def _session_path(item: SessionUnits) -> Path | str:
    return item.session.source or item.session.session_id


def code_sessions(sessions: Sequence[SessionUnits], resources: CodingResources
                  ) -> list[CodedSession | TranscriptCoderError]:
    """Code a window of sessions: decide roles (inferring them where needed), predict, and attach
    codes, with one model call per phase for the whole window. No files are read or written.

    Phase 1 runs the role-inference scheme's model over every unit of the sessions whose roles
    need evidence (all its heads at once, which phase 2 then reuses); phase 2 runs the models
    for the schemes each unit of every session still needs.

    Returns:
        Per session, in order, its :class:`CodedSession` or the error that stopped it: E109 no
        unit with text, E118 roles cannot be inferred without a model, E119 no speaker is a
        therapist or a client, E405 an unexpected failure in this session's own steps.

    Raises:
        Exception: whatever a window-wide model call raises (the caller can code the sessions
            one by one to find the one it chokes on).
    """
    results: list[CodedSession | TranscriptCoderError | None] = [None] * len(sessions)
    scheme = resources.role_config.inference.scheme
    models = resources.models

    def guard(index: int, step: Callable[[], object]) -> object:
        """Run one session's own step; a failure stops that session only."""
        try:
            return step()
        except TranscriptCoderError as error:
            results[index] = error
        except Exception as error:  # a bug must not stop the other sessions of the window
            log.debug("unexpected failure coding %s", _session_path(sessions[index]), exc_info=True)
            results[index] = TranscriptCoderError("E405", path=_session_path(sessions[index]),
                                                  detail=f"{type(error).__name__}: {error}")
            results[index].__cause__ = error  # code_transcript's caller sees the original traceback
        return None

    known = {}
    for i, item in enumerate(sessions):
        if not item.units:
            results[i] = InputError("E109", path=_session_path(item))
            continue
        known[i] = guard(i, lambda item=item: resolve_roles(item.session, resources.role_config, item.overrides,
                                                             resources.unattributed))
    # Phase 1: role evidence, one call for every session that needs it.
    infer = [i for i, k in known.items() if k is not None and needs_evidence(k) and models.provides(scheme)]
    first = dict(zip(infer, _predict_split(
        models, [(sessions[i].units, [{scheme}] * len(sessions[i].units)) for i in infer], resources.batch_size)))
    assignments, wanted = {}, {}
    for i, k in known.items():
        if k is None:
            continue
        item = sessions[i]

        def decide(i=i, k=k, item=item):
            evidence = None
            if i in first:
                evidence = pool_evidence([u.speaker for u in item.units], first[i].probabilities[scheme],
                                         first[i].labels[scheme], resources.role_config)
            assignment = assign_roles(k, evidence, item.session, scheme)
            units = attach_roles(item.units, assignment)
            if not any(u.role in (THERAPIST, CLIENT) for u in units):
                raise InputError("E119", path=_session_path(item),
                                 speakers=", ".join(repr(s) for s in item.session.speakers))
            done = first.get(i, Predictions.empty(len(units)))
            schemes = {role: wanted_schemes(role, resources.codebook) for role in {u.role for u in units}}
            need = [{s for s in schemes[u.role] if not done.covers(s, j)} for j, u in enumerate(units)]
            return assignment, units, need

        decided = guard(i, decide)
        if decided is not None:
            assignments[i], units, need = decided
            wanted[i] = (units, need)
    # Phase 2: every scheme every unit still needs, one call for the window.
    order = list(wanted)
    second = dict(zip(order, _predict_split(models, [wanted[i] for i in order], resources.batch_size)))
    for i in order:
        item, (units, _) = sessions[i], wanted[i]

        def finish(i=i, item=item, units=units):
            predictions = first.get(i, Predictions.empty(len(units))).merge(second[i])
            coded = attach_codes(units, predictions, resources.codebook)
            warnings = [Problem.from_error(w, "warning")
                        for w in role_warnings(item.session, assignments[i], resources.role_config)]
            session = item.session
            return CodedSession(session_id=session.session_id, source=item.source or str(_session_path(item)),
                                reader=session.reader, unit=resources.unit, n_turns=len(session.turns),
                                roles=assignments[i], utterances=coded, notes=list(session.warnings),
                                problems=warnings)

        coded = guard(i, finish)
        if coded is not None:
            results[i] = coded
    return results


def code_transcript(session: Session, resources: CodingResources, overrides: Mapping[str, str] | None = None,
                    source: str | None = None) -> CodedSession:
    """Code one session: segment it, decide roles (inferring them when needed), predict, and
    attach codes. No files are read or written (:func:`code_sessions` with a window of one).

    Raises:
        InputError: E109 no unit with text, E118 roles cannot be inferred without a model,
            E119 no speaker is a therapist or a client.
    """
    units = segment(session, resources.unit)
    [result] = code_sessions([SessionUnits(session, units, dict(overrides or {}), source)], resources)
    if isinstance(result, TranscriptCoderError):
        raise result
    return result


def code_window(sessions: Sequence[SessionUnits], resources: CodingResources) -> list[CodedSession | Problem]:
    """:func:`code_sessions` for an engine: never raises. Errors become :class:`Problem` s; when a
    window-wide model call fails, the sessions are coded one by one so the failure is reported
    for the session that causes it (E405) and the others are still coded."""
    try:
        results = code_sessions(sessions, resources)
    except Exception as error:
        if len(sessions) > 1:
            log.info("a window of %d sessions failed; coding them one by one", len(sessions), exc_info=True)
            return [result for item in sessions for result in code_window([item], resources)]
        if not isinstance(error, TranscriptCoderError):
            log.debug("unexpected failure coding %s", _session_path(sessions[0]), exc_info=True)
            error = TranscriptCoderError("E405", path=_session_path(sessions[0]),
                                         detail=f"{type(error).__name__}: {error}")
        return [Problem.from_error(error)]
    return [Problem.from_error(r) if isinstance(r, TranscriptCoderError) else r for r in results]


def windows_of(items: Iterable, units_of: Callable[[object], int], window_units: int,
               max_sessions: int = WINDOW_MAX_SESSIONS) -> Iterator[list]:
    """``items`` in consecutive windows, in order: a window closes once it holds ``window_units``
    units or ``max_sessions`` items (a session larger than a window is a window of its own)."""
    window, units = [], 0
    for item in items:
        window.append(item)
        units += units_of(item)
        if units >= window_units or len(window) >= max_sessions:
            yield window
            window, units = [], 0
    if window:
        yield window


# ------------------------------------------------------------------------------ fingerprints
def _digest(data: object) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def codebook_digest(codebook: Codebook) -> str:
    """SHA-256 over every scheme file's content, keyed by scheme id."""
    return _digest({scheme: file_sha256(path) for scheme, path in sorted(codebook.files.items())})


def session_fingerprint(run_key: str, sha256: str, session_id: str, overrides: Mapping[str, str]) -> str:
    """What a session's coding depends on: the run's models, configs and options (``run_key``),
    the input's bytes, its id and the role overrides that apply to it."""
    return _digest({"run": run_key, "input": sha256, "session_id": session_id, "overrides": dict(overrides)})[:32]


# ------------------------------------------------------------------------------- the batch
@dataclass
class _Run:
    """The resolved configuration of one :func:`code` call."""

    out: Path
    options: CodeOptions
    codebook: Codebook
    role_config: RoleConfig
    role_config_path: Path
    score_config: ScoreConfig
    score_config_path: Path
    overrides: RoleOverrides
    models: ModelSet
    unit: str

    def config(self) -> dict:
        """The resolved options, for ``run.json``."""
        options = self.options
        config = {
            "unit": self.unit,
            "layout": options.layout,
            "batch_size": options.batch_size,
            "threads": options.threads,
            "reader": asdict(options.reader),
            "roles": {**self.overrides.serialize(), "config": str(self.role_config_path),
                      "config_sha256": file_sha256(self.role_config_path)},
            "scores": {"config": str(self.score_config_path), "config_sha256": file_sha256(self.score_config_path)},
            "codebooks": str(options.codebooks or codebooks_dir()),
        }
        config["runtime"] = options.runtime  # resolved: "auto" is recorded as what it chose
        return config

    def key(self) -> str:
        """Everything but the input that a session's codes depend on."""
        key = {
            "version": __version__,
            "models": [(d["name"], d["fingerprint"], d["schemes"]) for d in self.models.manifest()],
            "codebook": codebook_digest(self.codebook),
            "unit": self.unit,
            "layout": self.options.layout,
            "reader": asdict(self.options.reader),
            "roles": file_sha256(self.role_config_path),
            "runtime": self.options.runtime,  # resolved, so "auto" on another CPU recodes
        }
        return _digest(key)

    def resources(self, models: ModelSet | None = None) -> CodingResources:
        """What :func:`code_sessions` needs, with this run's models (or ``models``: a Ray actor's own)."""
        return CodingResources(codebook=self.codebook, models=models or self.models, role_config=self.role_config,
                               unit=self.unit, batch_size=self.options.batch_size,
                               unattributed=(self.options.reader.unknown_speaker,))


def _resolve(out: Path, options: CodeOptions, models: ModelSet | None) -> _Run:
    if options.batch_size < 1:
        raise UsageError("E410", option="batch-size", detail="at least 1", value=options.batch_size)
    if options.threads is not None and options.threads < 1:
        raise UsageError("E410", option="threads", detail="at least 1", value=options.threads)
    for option, value in (("window-units", options.window_units), ("jobs", options.jobs),
                          ("ray-actors", options.ray_actors)):
        if value is not None and value < 1:
            raise UsageError("E410", option=option, detail="at least 1", value=value)
    if options.layout not in layouts:
        raise UsageError("E402", detail=f"unknown layout '{options.layout}' (known: {', '.join(layouts.names())})")
    if options.engine not in ENGINES:
        raise UsageError("E412", value=options.engine, known=", ".join(ENGINES))
    if options.engine == "ray":
        from .engines.ray_engine import require_ray

        require_ray()
    # "auto" becomes the runtime it stands for here, so fingerprints, run.json and Ray actors on
    # other machines all use this one.
    options = replace(options, runtime=resolve_runtime(options.runtime))
    unit = resolve_segmenter(options.unit)
    codebook = load_codebook(options.codebooks)
    role_config_path = Path(options.role_config) if options.role_config else default_role_config_path()
    role_config = load_role_config(role_config_path, codebook)
    score_config_path = Path(options.score_config) if options.score_config else default_score_config_path()
    score_config = load_score_config(score_config_path, codebook)
    speakers = []
    for label, role_text in options.speaker_roles.items():
        role = parse_role(role_text, role_config)
        if role is None:
            raise UsageError("E404", roles=", ".join(ROLES), value=f"{label}={role_text}")
        speakers.append((label, role))
    sessions = load_role_mapping(options.role_mapping, role_config) if options.role_mapping else {}
    overrides = RoleOverrides(therapist=tuple(options.therapist), speakers=tuple(speakers), sessions=sessions,
                              source=Path(options.role_mapping) if options.role_mapping else None)
    if out.exists() and not out.is_dir():
        raise UsageError("E406", path=out, detail="it is a file, not a folder")
    if models is None:
        models = ModelSet(options.models, codebook, threads=options.threads, runtime=options.runtime)
    models.describe()
    return _Run(out=out, options=options, codebook=codebook, role_config=role_config,
                role_config_path=role_config_path, score_config=score_config, score_config_path=score_config_path,
                overrides=overrides, models=models, unit=unit)


def _read_state(path: Path) -> dict | None:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and state.get("format") == STATE_FORMAT else None


def _remove_outputs(run: _Run, session_id: str) -> None:
    """Drop a session's outputs from an earlier run that no longer match its input."""
    for path in (run.out / STATE_DIR / f"{session_id}.json", run.out / CODED_DIR / f"{session_id}.csv"):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            log.info("removed outdated %s", path)


@dataclass
class _Entry:
    """One input on its way through a window: what happened to it so far (``record``), and while
    it is being coded its read session (``prepared``) and then its result."""

    index: int
    record: SessionRecord
    item: InputFile | None = None  # None: an input that named no file (E401)
    overrides: dict[str, str] = field(default_factory=dict)
    pending: bool = False  # to be read and coded (not skipped, not failed)
    data: bytes | None = None  # the input's bytes, for engines that ship them
    future: object = None  # the reading process's PreparedSession, while it is read
    prepared: PreparedSession | None = None
    result: CodedSession | Problem | None = None

    @property
    def units(self) -> int:
        """Units this input adds to its window."""
        return len(self.prepared.units) if self.prepared is not None else 0


def _admit(run: _Run, index: int, item: InputFile, run_key: str, read: bool = False) -> _Entry:
    """Fingerprint an input and decide: skip it (already coded by an earlier run: its coded CSV
    is re-rendered from the state if missing), fail it (unreadable), or code it (``pending``).
    ``read`` keeps the input's bytes in ``data``. Never raises for a bad input."""
    started = time.perf_counter()
    record = SessionRecord(input=str(item.path), session_id=item.session_id, status="failed")
    entry = _Entry(index=index, record=record, item=item)
    state_path = run.out / STATE_DIR / f"{item.session_id}.json"
    coded_path = run.out / CODED_DIR / f"{item.session_id}.csv"
    try:
        try:
            if read:
                entry.data = item.path.read_bytes()
                record.sha256 = hashlib.sha256(entry.data).hexdigest()
            else:
                record.sha256 = file_sha256(item.path)
        except OSError as exc:
            raise InputError("E116", path=item.path, detail=exc.strerror or str(exc)) from None
        entry.overrides = run.overrides.for_session(item.session_id)
        record.fingerprint = session_fingerprint(run_key, record.sha256, item.session_id, entry.overrides)
        state = None if run.options.force else _read_state(state_path)
        if state is not None and state.get("fingerprint") == record.fingerprint:
            coded = CodedSession.from_dict(state["session"])
            if not coded_path.is_file():
                write_coded_session(coded_path, coded, run.options.layout)
            record.status, record.turns, record.units = "skipped", coded.n_turns, len(coded.utterances)
            record.problems, record.notes = list(coded.problems), list(coded.notes)
            entry.data = None
        else:
            entry.pending = True
    except TranscriptCoderError as error:
        record.problems, entry.data = [Problem.from_error(error)], None
        if record.sha256 is not None:
            _remove_outputs(run, item.session_id)
    except Exception as error:  # a bug must not stop the batch or show the user a traceback
        log.debug("unexpected failure checking %s", item.path, exc_info=True)
        problem = TranscriptCoderError("E405", path=item.path, detail=f"{type(error).__name__}: {error}")
        record.problems, entry.data = [Problem.from_error(problem)], None
    record.seconds += time.perf_counter() - started
    return entry


def _store(run: _Run, entry: _Entry) -> None:
    """Write a coded session's state, then its coded CSV; or record why it was not coded.

    The state goes first: once it exists the session counts as coded, and the CSV is re-rendered
    from it if a kill came in between."""
    started = time.perf_counter()
    record, result, entry.result = entry.record, entry.result, None
    if isinstance(result, CodedSession):
        coded_path = run.out / CODED_DIR / f"{record.session_id}.csv"
        try:
            write_json(run.out / STATE_DIR / f"{record.session_id}.json",
                       {"format": STATE_FORMAT, "fingerprint": record.fingerprint, "input": record.input,
                        "sha256": record.sha256, "session": result.serialize()}, compact=True)
            write_coded_session(coded_path, result, run.options.layout)
        except OSError as exc:
            result = Problem.from_error(TranscriptCoderError("E406", path=coded_path, detail=exc.strerror or str(exc)))
        else:
            record.status, record.turns, record.units = "coded", result.n_turns, len(result.utterances)
            record.problems, record.notes = list(result.problems), list(result.notes)
    if isinstance(result, Problem):
        record.problems = [result]
        _remove_outputs(run, record.session_id)
    record.seconds += time.perf_counter() - started


class _Progress:
    """Reports finished inputs to the hook (one ``advance`` per input file) and the log."""

    def __init__(self, hook: ProgressHook) -> None:
        self.hook = hook
        self.turns = 0
        self.seconds = 0.0

    def done(self, entry: _Entry) -> None:
        record = entry.record
        if record.status == "coded":
            self.turns += record.turns
            self.seconds += record.seconds
            log.info("coded %s (%d units, %.1f s)", record.input, record.units, record.seconds)
        elif record.status == "failed":
            log.info("failed %s: %s", record.input, record.problems[0])
        if entry.item is not None:  # inputs naming no file are not counted in the bar's total
            self.hook.advance("code", 1, turns_s=self.turns / self.seconds if self.seconds else 0.0)


# --------------------------------------------------------------------------- the local engine
def _prepared(run: _Run, entries: Sequence[InputFile | SessionRecord], run_key: str,
              submit: Callable[[InputFile], object] | None, ahead: int) -> Iterator[_Entry]:
    """Every input in order, admitted and, when it is to be coded, read and segmented: here, or
    by ``submit`` (a process pool's) with up to ``ahead`` inputs in flight."""
    waiting: deque[_Entry] = deque()

    def resolved(entry: _Entry) -> _Entry:
        if entry.future is not None:
            future, entry.future = entry.future, None
            try:
                entry.prepared = future.result()
            except Exception as error:  # a reading process died (killed, out of memory)
                problem = TranscriptCoderError("E405", path=entry.item.path,
                                               detail=f"the reading process failed: {type(error).__name__}: {error}")
                entry.prepared = PreparedSession(entry.item.session_id, entry.item.path,
                                                 problem=Problem.from_error(problem))
        return entry

    for index, given in enumerate(entries):
        if isinstance(given, SessionRecord):
            entry = _Entry(index=index, record=given)
        else:
            entry = _admit(run, index, given, run_key)
            if entry.pending and submit is None:
                entry.prepared = prepare_session(given.path, given.session_id, run.options.reader, run.unit)
            elif entry.pending:
                entry.future = submit(given)
        waiting.append(entry)
        while len(waiting) > ahead:
            yield resolved(waiting.popleft())
    while waiting:
        yield resolved(waiting.popleft())


def _code_entries(window: Sequence[_Entry], resources: CodingResources) -> None:
    """Code a window's read sessions (one model call per phase) into each entry's ``result``;
    entries that could not be read get their problem. Their sessions are dropped."""
    readable = [e for e in window if e.prepared is not None and e.prepared.problem is None]
    started = time.perf_counter()
    results = code_window([SessionUnits(e.prepared.session, e.prepared.units, e.overrides, str(e.item.path))
                           for e in readable], resources)
    seconds, total = time.perf_counter() - started, sum(e.units for e in readable) or 1
    for entry, result in zip(readable, results):
        entry.result = result
        entry.record.seconds += seconds * entry.units / total  # the window's time, shared by units
    for entry in window:
        if entry.prepared is not None:
            if entry.prepared.problem is not None:
                entry.result = entry.prepared.problem
            entry.record.seconds += entry.prepared.seconds
            entry.prepared = None


def _store_window(run: _Run, window: Sequence[_Entry]) -> Sequence[_Entry]:
    """Write every coded session of a window (or record its problem)."""
    for entry in window:
        if entry.result is not None:
            _store(run, entry)
    return window


class _ReadAhead:
    """Runs a window generator in a thread, one window ahead of the loop that consumes it, so
    the next window is read while the model codes the current one."""

    def __init__(self, windows: Iterator[list[_Entry]]) -> None:
        self._windows = windows
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="transcript-coder-reader", daemon=True)

    def __enter__(self) -> "_ReadAhead":
        self._thread.start()
        return self

    def _put(self, message: tuple) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(message, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for window in self._windows:
                if not self._put(("window", window)):
                    return
            self._put(("end", None))
        except BaseException as error:  # handed to the consuming thread, which raises it
            self._put(("error", error))

    def __iter__(self) -> Iterator[list[_Entry]]:
        while True:
            kind, value = self._queue.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._windows.close()


def _code_locally(run: _Run, entries: Sequence[InputFile | SessionRecord], run_key: str,
                  progress: _Progress) -> list[SessionRecord]:
    """The local engine: windows coded in this process, in input order. With ``jobs > 1`` a
    process pool reads and segments ahead and a thread writes behind the model."""
    options = run.options
    resources = run.resources()
    done: list[_Entry] = []

    def report(window: Sequence[_Entry]) -> None:
        for entry in window:
            done.append(entry)
            progress.done(entry)

    with contextlib.ExitStack() as stack:
        submit, ahead, writer = None, 0, None
        if options.jobs > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

            # spawn, not fork: forking a process that has loaded torch is unsafe.
            pool = stack.enter_context(ProcessPoolExecutor(options.jobs, mp_context=multiprocessing.get_context("spawn"),
                                                           initializer=ignore_interrupts))
            stack.callback(pool.shutdown, wait=True, cancel_futures=True)

            def prepare_in_pool(item: InputFile):
                return pool.submit(prepare_session, item.path, item.session_id, options.reader, run.unit)

            submit, ahead = prepare_in_pool, 4 * options.jobs
        windows = windows_of(_prepared(run, entries, run_key, submit, ahead), lambda e: e.units, options.window_units)
        if options.jobs > 1:
            windows = stack.enter_context(_ReadAhead(windows))
            writer = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="transcript-coder-writer"))
        writing = None
        for window in windows:
            _code_entries(window, resources)
            if writer is None:
                report(_store_window(run, window))
                continue
            previous, writing = writing, writer.submit(_store_window, run, window)
            if previous is not None:
                report(previous.result())
        if writing is not None:
            report(writing.result())
    return [entry.record for entry in done]


def code(inputs: Sequence[str | Path], out: str | Path, options: CodeOptions | None = None,
         hook: ProgressHook | None = None, *, models: ModelSet | None = None) -> RunResult:
    """Code transcript files into ``out``; see the module docstring for the batch behaviour.

    Args:
        inputs: files, folders and glob patterns.
        out: the output folder (created if needed).
        options: how to read, segment, assign roles and code, and which engine runs it; defaults
            throughout when ``None``.
        hook: progress over sessions (stage ``"code"``, postfix ``turns_s``), advanced once per
            input file when its window is written.
        models: an already built :class:`ModelSet` to reuse (it must match ``options``).

    Returns:
        A :class:`RunResult` with one record per input in input order (``failed`` records carry
        the problem) and the paths of the aggregate files.

    Raises:
        UsageError: E401 when no input names a file; E402-E414 for options that cannot work.
        ConfigError, ModelError: when the codebook, configs or models cannot be loaded.
    """
    options = options or CodeOptions()
    hook = hook or NullHook()
    out = Path(out)
    started_at, started = datetime.now(timezone.utc), time.perf_counter()
    run = _resolve(out, options, models)
    expanded = expand_inputs(inputs, exclude=out.resolve())
    files = [entry for entry in expanded if isinstance(entry, Path)]
    if not files:
        given = ", ".join(str(i) for i in inputs) or "(no inputs)"
        raise UsageError("E401", path=given)
    ids = iter(unique_session_ids(files))
    entries = [InputFile(entry, next(ids)) if isinstance(entry, Path) else entry for entry in expanded]

    for folder in (out, out / CODED_DIR, out / STATE_DIR):
        folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(folder)
    run_key = run.key()
    progress = _Progress(hook)
    hook.start("code", total=len(files), unit="session")
    try:
        if options.engine == "ray":
            from .engines.ray_engine import code_with_ray

            records = code_with_ray(run, entries, run_key, progress)
        else:
            records = _code_locally(run, entries, run_key, progress)
    finally:
        hook.finish("code")
    files_written = _write_aggregates(run, records)
    manifest = _manifest(run, records, started_at, time.perf_counter() - started)
    files_written["run"] = out / "run.json"
    write_json(files_written["run"], manifest)
    return RunResult(out=out, records=records, files=files_written)


def _coded_sessions(run: _Run, records: Sequence[SessionRecord]):
    """The coded sessions of this run's inputs, read back from their states, in input order."""
    for record in records:
        if record.status in ("coded", "skipped"):
            state = _read_state(run.out / STATE_DIR / f"{record.session_id}.json")
            if state is None:  # removed under our feet; report rather than crash
                raise TranscriptCoderError("E406", path=run.out / STATE_DIR,
                                           detail=f"the state of {record.session_id} vanished during the run")
            yield CodedSession.from_dict(state["session"])


def _write_aggregates(run: _Run, records: Sequence[SessionRecord]) -> dict[str, Path]:
    """``codes.csv``, ``sessions.csv`` and ``errors.csv`` from the per-session states."""
    out = run.out
    # Each state is read once: while codes.csv streams the sessions, their sessions.csv rows
    # (one short row each, so all of them fit in memory where the sessions might not) are kept.
    session_rows: list[list] = []

    def summarised(sessions: Iterable[CodedSession]) -> Iterator[CodedSession]:
        for session in sessions:
            summary = summarize(session.session_id, session.utterances, run.codebook, run.score_config,
                                session.roles.confidence)
            session_rows.append(session_row(session, summary, run.codebook, run.score_config))
            yield session

    try:
        codes_path = write_codes(out / "codes.csv", summarised(_coded_sessions(run, records)))
        sessions_path = write_csv(out / "sessions.csv", session_header(run.codebook, run.score_config), session_rows)
        errors_path = write_errors(out / "errors.csv",
                                   ((r.input, r.session_id, p) for r in records for p in r.problems))
    except OSError as exc:
        raise TranscriptCoderError("E406", path=out, detail=exc.strerror or str(exc)) from None
    return {"codes": codes_path, "sessions": sessions_path, "errors": errors_path, "coded": out / CODED_DIR}


def _manifest(run: _Run, records: Sequence[SessionRecord], started_at: datetime, seconds: float) -> dict:
    """``run.json``. Everything but ``this_run`` depends only on the inputs, models, configs and
    options, so a resumed run writes the same manifest as an uninterrupted one."""
    inputs = []
    for r in records:
        entry = {"input": r.input, "session_id": r.session_id,
                 "status": "failed" if r.status == "failed" else "coded",
                 "sha256": r.sha256, "fingerprint": r.fingerprint, "turns": r.turns, "units": r.units,
                 "errors": [p.code for p in r.problems if p.level == "error"],
                 "warnings": [p.code for p in r.problems if p.level == "warning"], "notes": r.notes}
        inputs.append(entry)
    coded = [r for r in records if r.status != "failed"]
    return {
        "transcript_coder": __version__,
        "config": run.config(),
        "models": run.models.manifest(),
        "codebook": {"versions": run.codebook.versions(), "sha256": codebook_digest(run.codebook)},
        "inputs": inputs,
        "counts": {"inputs": len(records), "coded": len(coded), "failed": len(records) - len(coded),
                   "turns": sum(r.turns for r in coded), "units": sum(r.units for r in coded),
                   "warnings": sum(1 for r in coded for p in r.problems if p.level == "warning")},
        "this_run": {
            "started": started_at.isoformat(timespec="seconds"),
            "seconds": round(seconds, 3),
            "force": run.options.force,
            "engine": run.options.engine,
            "jobs": run.options.jobs,
            "window_units": run.options.window_units,
            "coded": [r.session_id for r in records if r.status == "coded"],
            "skipped": [r.session_id for r in records if r.status == "skipped"],
            "session_seconds": {r.session_id: round(r.seconds, 3) for r in records if r.session_id},
        },
    }
