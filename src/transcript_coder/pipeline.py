"""The batch engine behind ``transcript-coder code``: transcript files in, coded CSVs out.

:func:`code` runs every input through the stages, one session at a time::

    read_transcript -> segment -> resolve_roles -> (predict speaker_role, assign_roles)
        -> attach_roles -> predict -> attach_codes -> CodedSession -> files

:func:`code_transcript` is that chain without any I/O (a :class:`Session` in, a
:class:`CodedSession` out). :func:`code` adds the batch behaviour around it:

* inputs are files, folders (searched recursively for transcript extensions) and glob patterns;
  a session's id is its file's stem, made unique (``name``, ``name-2``...) in input order;
* one bad input never stops the batch: its problem goes to ``errors.csv`` with its code, file and
  line, and the next input is read;
* each session's results are written as soon as it is done: first its state
  (``DIR/.state/<id>.json``, the complete coded session and a fingerprint of everything that
  produced it), then ``DIR/coded/<id>.csv``;
* a re-run into the same ``DIR`` skips every session whose fingerprint (input bytes, models,
  codebook, role and score configs, options) matches its state, so an interrupted run resumes
  where it stopped; ``force`` recodes everything;
* the aggregate files (``codes.csv``, ``sessions.csv``, ``errors.csv``, ``run.json``) are
  rebuilt at the end from the states, so a resumed run ends with the same bytes as an
  uninterrupted one (``run.json``'s ``this_run`` block, timings and what this invocation coded,
  excepted).

Model calls do not span sessions: a session's predictions then never depend on which other
sessions share its run (padding in a mixed batch changes the last float digits), which is what
keeps resumed outputs byte-identical. Coding makes no network connection: models, tokenizers
and the sentencizer are all local.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from . import __version__
from .classify import ModelSet, Predictions
from .codebook import Codebook, load_codebook
from .codes import attach_codes, wanted_schemes
from .configfile import file_sha256
from .errors import InputError, TranscriptCoderError, UsageError
from .paths import codebooks_dir
from .progress import NullHook, ProgressHook
from .readers import UNKNOWN_SPEAKER, ReaderOptions, read_transcript
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
from .types import CLIENT, ROLES, THERAPIST, Session
from .writers import (
    DEFAULT_LAYOUT,
    layouts,
    remove_stale_temporaries,
    write_codes,
    write_coded_session,
    write_errors,
    write_json,
    write_sessions,
)

log = logging.getLogger(__name__)

CODED_DIR = "coded"
STATE_DIR = ".state"
STATE_FORMAT = 1
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


def code_transcript(session: Session, resources: CodingResources, overrides: Mapping[str, str] | None = None,
                    source: str | None = None) -> CodedSession:
    """Code one session: segment it, decide roles (inferring them when needed), predict, and
    attach codes. No files are read or written.

    Raises:
        InputError: E109 no unit with text, E118 roles cannot be inferred without a model,
            E119 no speaker is a therapist or a client.
    """
    path = session.source or session.session_id
    units = segment(session, resources.unit)
    if not units:
        raise InputError("E109", path=path)
    known = resolve_roles(session, resources.role_config, overrides, resources.unattributed)
    scheme = resources.role_config.inference.scheme
    predictions = Predictions.empty(len(units))
    evidence = None
    if needs_evidence(known) and resources.models.provides(scheme):
        # The model providing the inference scheme runs over every unit, all its heads at once;
        # the second pass below then only runs models this one does not cover.
        predictions = resources.models.predict(units, [{scheme}] * len(units), batch_size=resources.batch_size)
        evidence = pool_evidence([u.speaker for u in units], predictions.probabilities[scheme],
                                 predictions.labels[scheme], resources.role_config)
    assignment = assign_roles(known, evidence, session, scheme)
    units = attach_roles(units, assignment)
    if not any(u.role in (THERAPIST, CLIENT) for u in units):
        raise InputError("E119", path=path, speakers=", ".join(repr(s) for s in session.speakers))
    wanted = [{s for s in wanted_schemes(u.role, resources.codebook) if not predictions.covers(s, i)}
              for i, u in enumerate(units)]
    predictions = predictions.merge(resources.models.predict(units, wanted, batch_size=resources.batch_size))
    coded = attach_codes(units, predictions, resources.codebook)
    warnings = [Problem.from_error(w, "warning") for w in role_warnings(session, assignment, resources.role_config)]
    return CodedSession(session_id=session.session_id, source=source or str(path), reader=session.reader,
                        unit=resources.unit, n_turns=len(session.turns), roles=assignment, utterances=coded,
                        notes=list(session.warnings), problems=warnings)


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
        if options.runtime != DEFAULT_RUNTIME:  # named only when not the default: old run.json bytes hold
            config["runtime"] = options.runtime
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
        }
        if self.options.runtime != DEFAULT_RUNTIME:  # as in config(): default fingerprints unchanged
            key["runtime"] = self.options.runtime
        return _digest(key)


def _resolve(out: Path, options: CodeOptions, models: ModelSet | None) -> _Run:
    if options.batch_size < 1:
        raise UsageError("E410", option="batch-size", detail="at least 1", value=options.batch_size)
    if options.threads is not None and options.threads < 1:
        raise UsageError("E410", option="threads", detail="at least 1", value=options.threads)
    if options.layout not in layouts:
        raise UsageError("E402", detail=f"unknown layout '{options.layout}' (known: {', '.join(layouts.names())})")
    resolve_runtime(options.runtime)
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


def _code_one(run: _Run, item: InputFile, run_key: str, resources: CodingResources) -> SessionRecord:
    """Code (or skip) one input and write its per-session outputs; never raises for bad input."""
    started = time.perf_counter()
    record = SessionRecord(input=str(item.path), session_id=item.session_id, status="failed")
    state_path = run.out / STATE_DIR / f"{item.session_id}.json"
    coded_path = run.out / CODED_DIR / f"{item.session_id}.csv"
    try:
        try:
            record.sha256 = file_sha256(item.path)
        except OSError as exc:
            raise InputError("E116", path=item.path, detail=exc.strerror or str(exc)) from None
        overrides = run.overrides.for_session(item.session_id)
        record.fingerprint = session_fingerprint(run_key, record.sha256, item.session_id, overrides)
        state = None if run.options.force else _read_state(state_path)
        if state is not None and state.get("fingerprint") == record.fingerprint:
            coded = CodedSession.from_dict(state["session"])
            if not coded_path.is_file():
                write_coded_session(coded_path, coded, run.options.layout)
            record.status, record.turns, record.units = "skipped", coded.n_turns, len(coded.utterances)
            record.problems, record.notes = list(coded.problems), list(coded.notes)
            return record
        session = read_transcript(item.path, run.options.reader, item.session_id)
        coded = code_transcript(session, resources, overrides, source=str(item.path))
        # The state goes first: once it exists the session counts as coded, and the CSV is
        # re-rendered from it if a kill came in between.
        try:
            write_json(state_path, {"format": STATE_FORMAT, "fingerprint": record.fingerprint, "input": str(item.path),
                                    "sha256": record.sha256, "session": coded.serialize()})
            write_coded_session(coded_path, coded, run.options.layout)
        except OSError as exc:
            raise TranscriptCoderError("E406", path=coded_path, detail=exc.strerror or str(exc)) from None
        record.status, record.turns, record.units = "coded", coded.n_turns, len(coded.utterances)
        record.problems, record.notes = list(coded.problems), list(coded.notes)
    except TranscriptCoderError as error:
        record.problems = [Problem.from_error(error)]
        if record.sha256 is not None:
            _remove_outputs(run, item.session_id)
    except Exception as error:  # a bug must not stop the batch or show the user a traceback
        log.debug("unexpected failure coding %s", item.path, exc_info=True)
        problem = TranscriptCoderError("E405", path=item.path, detail=f"{type(error).__name__}: {error}")
        record.problems = [Problem.from_error(problem)]
    finally:
        record.seconds = time.perf_counter() - started
    return record


def code(inputs: Sequence[str | Path], out: str | Path, options: CodeOptions | None = None,
         hook: ProgressHook | None = None, *, models: ModelSet | None = None) -> RunResult:
    """Code transcript files into ``out``; see the module docstring for the batch behaviour.

    Args:
        inputs: files, folders and glob patterns.
        out: the output folder (created if needed).
        options: how to read, segment, assign roles and code; defaults throughout when ``None``.
        hook: progress over sessions (stage ``"code"``, postfix ``turns_s``).
        models: an already built :class:`ModelSet` to reuse (it must match ``options``).

    Returns:
        A :class:`RunResult` with one record per input in input order (``failed`` records carry
        the problem) and the paths of the aggregate files.

    Raises:
        UsageError: E401 when no input names a file; E402-E410 for options that cannot work.
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
    resources = CodingResources(codebook=run.codebook, models=run.models, role_config=run.role_config,
                                unit=run.unit, batch_size=options.batch_size,
                                unattributed=(options.reader.unknown_speaker,))
    records: list[SessionRecord] = []
    turns_done, coding_seconds = 0, 0.0
    hook.start("code", total=len(files), unit="session")
    try:
        for entry in entries:
            if isinstance(entry, SessionRecord):
                records.append(entry)
                continue
            record = _code_one(run, entry, run_key, resources)
            records.append(record)
            if record.status == "coded":
                turns_done += record.turns
                coding_seconds += record.seconds
                log.info("coded %s (%d units, %.1f s)", entry.path, record.units, record.seconds)
            elif record.status == "failed":
                log.info("failed %s: %s", entry.path, record.problems[0])
            hook.advance("code", 1, turns_s=turns_done / coding_seconds if coding_seconds else 0.0)
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
    try:
        codes_path = write_codes(out / "codes.csv", _coded_sessions(run, records))
        summaries = ((s, summarize(s.session_id, s.utterances, run.codebook, run.score_config, s.roles.confidence))
                     for s in _coded_sessions(run, records))
        sessions_path = write_sessions(out / "sessions.csv", summaries, run.codebook, run.score_config)
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
            "coded": [r.session_id for r in records if r.status == "coded"],
            "skipped": [r.session_id for r in records if r.status == "skipped"],
            "session_seconds": {r.session_id: round(r.seconds, 3) for r in records if r.session_id},
        },
    }
