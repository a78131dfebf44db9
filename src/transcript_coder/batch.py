"""The batch run behind ``transcript-coder code``: transcript files in, an output folder out.

The coding itself is :mod:`transcript_coder.coding` (sessions in, coded sessions out, no folders);
this module is the thin layer around it that knows about files and folders:

* inputs are files, folders (searched recursively for transcript extensions) and glob patterns
  (:mod:`transcript_coder.inputs`);
* sessions stream in **windows** through an engine (:mod:`.engines.local`, :mod:`.engines.ray_engine`):
  inputs are read and segmented until the window holds about ``window_units`` units, the window is
  coded, its files are written and it is dropped, so memory depends on the window, never on the
  number of inputs;
* one bad input never stops the batch: its problem goes to ``errors.csv`` with its code, file and
  line, and the next input is read;
* each session's results are written as soon as its window is done (:func:`store`): first its
  state (``DIR/.state/<id>.json``, the complete coded session and a fingerprint of everything that
  produced it), then ``DIR/coded/<id>.csv``;
* a re-run into the same ``DIR`` skips every session whose fingerprint (input bytes, models,
  codebook, role and score configs, options) matches its state (:func:`admit`), so an interrupted
  run resumes where it stopped; ``force`` recodes everything;
* the aggregate files (``codes.csv``, ``sessions.csv``, ``errors.csv``, ``run.json``) are
  rebuilt at the end from the states, so a resumed run ends with the same bytes as an
  uninterrupted one (``run.json``'s ``this_run`` block, timings and what this invocation coded,
  excepted). When they cannot be written (a full disk), the run still returns, with the error in
  :attr:`RunResult.unwritten` and every session that failed in its records;
* one run at a time writes to a folder: :func:`output_folder` creates it (E406 when it cannot)
  and holds an exclusive ``flock`` on ``DIR/.transcript-coder.lock`` for the whole run; a second
  run into the same folder stops with E416. The kernel releases the lock when the process ends,
  however it ends, so a killed run never leaves the folder locked;
* one session is bounded in memory by refusing, with E123, an input file over ``max_input_mb``
  (before it is read) and a session over ``max_units`` turns or units (before it is coded).

An engine turns entries into records with the public functions here: :func:`admit` an input
(fingerprint it, skip or fail it, or mark it ``pending``), code the pending ones with
:func:`transcript_coder.coding.code_window`, :func:`store` each result, and report it to
:class:`Progress`. Coding makes no network connection: models, tokenizers and the sentencizer are
all local.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import re
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from . import __version__
from .classify import ModelSet
from .codings import CodedRow, text_hash
from .codebook import Codebook, load_codebook
from .coding import CodingResources
from .configfile import file_sha256
from .engines import DEFAULT_MAX_INPUT_MB, DEFAULT_MAX_UNITS, DEFAULT_WINDOW_UNITS, ENGINES
from .engines.prepare import PreparedSession
from .environment import environment
from .writers.parquet import TABLE_FORMATS, require_pyarrow, write_parquet_tables
from .errors import DataError, InputError, TranscriptCoderError, UsageError
from .inputs import InputFile, unreadable_reason
from .paths import codebooks_dir
from .progress import NullHook, ProgressHook
from . import review_store
from .readers import ReaderOptions
from .devices import resolve_device
from .runtime import DEFAULT_RUNTIME, resolve_runtime
from .results import CodedSession, Problem, RunResult, SessionRecord
from .roles import RoleConfig, RoleOverrides, default_role_config_path, load_role_config, load_role_mapping, parse_speaker_roles
from .reader_config import ReaderResolver, load_reader_rules, relevant_reader_options
from .segment import resolve_segmenter
from .session_ids import load_id_mapping, session_file_name, session_inputs
from .summarize import ScoreConfig, default_score_config_path, load_score_config, summarize
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
#: ``DIR/.transcript-coder.json``: how this folder names its sessions. A folder without it that
#: has states was written by a version whose ids were file stems (see :func:`check_folder`).
FOLDER_FILE = ".transcript-coder.json"
FOLDER_FORMAT = {"format": 2, "session_ids": "relative_path.v1"}
#: The lock file a run holds in its output folder (see :func:`output_folder`).
LOCK_FILE = ".transcript-coder.lock"


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
        device: ``auto`` (CUDA, then MPS, then the CPU), ``cpu``, ``cuda`` or ``mps``; recorded
            resolved in ``run.json``.
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
        ids: a CSV of ``path,session_id`` naming inputs explicitly (``--ids``); other inputs are
            named by their path under the folder given (:mod:`transcript_coder.session_ids`).
        prune: drop from the output folder the sessions whose input files no longer exist (their
            reviewed cells stay in ``DIR/reviews/``).
        reader_options: a YAML/JSON file of glob patterns and the reader options of the inputs
            they match (``--reader-options``); ``transcript_coder.yaml`` sidecars in input folders
            apply too (:mod:`transcript_coder.reader_config`).
        max_input_mb: an input file larger than this (MB) is refused with E123 before it is read.
        max_units: a session with more turns or units than this is refused with E123 before it
            is coded (a session's memory grows with its units).
        tables: formats of the run's tables: ``"csv"`` (always written) and ``"parquet"`` (also
            ``codes.parquet`` and ``sessions.parquet``; :mod:`transcript_coder.writers.parquet`).
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
    ids: Path | None = None
    prune: bool = False
    reader_options: Path | None = None
    max_input_mb: float = DEFAULT_MAX_INPUT_MB
    max_units: int = DEFAULT_MAX_UNITS
    device: str = "auto"
    tables: tuple[str, ...] = ("csv",)



# ------------------------------------------------------------------------------ fingerprints
def _digest(data: object) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def codebook_digest(codebook: Codebook) -> str:
    """SHA-256 over every scheme file's content, keyed by scheme id, and over the lexicon of every
    rule-based scheme (an edited lexicon recodes, as an edited scheme does)."""
    files = {scheme: file_sha256(path) for scheme, path in sorted(codebook.files.items())}
    files.update({f"{scheme}.lexicon": file_sha256(codebook.lexicon_path(scheme))
                  for scheme in sorted(codebook.schemes) if codebook[scheme].lexicon})
    return _digest(files)


def session_fingerprint(run_key: str, sha256: str, session_id: str, overrides: Mapping[str, str],
                        reader: Mapping | None = None) -> str:
    """What a session's coding depends on: the run's models, configs and options (``run_key``),
    the input's bytes, its id, the role overrides that apply to it, and the reader options its
    reader uses (:func:`~transcript_coder.reader_config.relevant_reader_options`)."""
    return _digest({"run": run_key, "input": sha256, "session_id": session_id, "overrides": dict(overrides),
                    "reader": dict(reader or {})})[:32]


# ------------------------------------------------------------------------------- the batch
@dataclass
class BatchRun:
    """The resolved configuration of one :func:`code` call (built by :func:`resolve_run`): what
    engines read to code and store sessions."""

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
    #: Sessions coded into the folder by earlier runs and not among this run's inputs (filled
    #: while the aggregates are written), and those ``prune`` dropped.
    kept: list[SessionRecord] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    readers_: ReaderResolver | None = None

    def config(self) -> dict:
        """The resolved options, for ``run.json``."""
        options = self.options
        config = {
            "unit": self.unit,
            "layout": options.layout,
            "batch_size": options.batch_size,
            "threads": options.threads,
            "limits": {"max_input_mb": options.max_input_mb, "max_units": options.max_units},
            "reader": asdict(options.reader),
            "roles": {**self.overrides.serialize(), "config": str(self.role_config_path),
                      "config_sha256": file_sha256(self.role_config_path)},
            "scores": {"config": str(self.score_config_path), "config_sha256": file_sha256(self.score_config_path)},
            "codebooks": str(options.codebooks or codebooks_dir()),
        }
        config["runtime"] = options.runtime  # resolved: "auto" is recorded as what it chose
        config["device"] = options.device  # resolved likewise
        return config

    def key(self) -> str:
        """Everything but the input that a session's codes depend on."""
        key = {
            "version": __version__,
            "models": [(d["name"], d["fingerprint"], d["schemes"]) for d in self.models.manifest()],
            "codebook": codebook_digest(self.codebook),
            "unit": self.unit,
            "layout": self.options.layout,
            "roles": file_sha256(self.role_config_path),
            "runtime": self.options.runtime,  # resolved, so "auto" on another CPU recodes
        }
        if self.options.device != "cpu":  # CPU runs keep the keys (and resume) they had before devices
            key["device"] = self.options.device
        return _digest(key)

    def reader_resolver(self) -> ReaderResolver:
        """The reader options of each input (loaded once; E426 for a bad ``--reader-options`` file)."""
        if self.readers_ is None:
            rules = load_reader_rules(self.options.reader_options) if self.options.reader_options else ()
            self.readers_ = ReaderResolver(self.options.reader, rules)
        return self.readers_

    def reader_for(self, item: InputFile) -> ReaderOptions:
        """``item``'s reader options: the command line's, refined by sidecars and ``--reader-options``."""
        return self.reader_resolver().options_for(item.path, getattr(item, "root", None))

    def resources(self, models: ModelSet | None = None) -> CodingResources:
        """What :func:`code_sessions` needs, with this run's models (or ``models``: a Ray actor's own)."""
        return CodingResources(codebook=self.codebook, models=models or self.models, role_config=self.role_config,
                               unit=self.unit, batch_size=self.options.batch_size,
                               unattributed=(self.options.reader.unknown_speaker,))


def resolve_run(out: Path, options: CodeOptions, models: ModelSet | None) -> BatchRun:
    """Check ``options`` and load what they name (codebook, configs, role overrides, models).

    Raises:
        UsageError: E402-E414 for options that cannot work.
    """
    if options.batch_size < 1:
        raise UsageError("E410", option="batch-size", detail="at least 1", value=options.batch_size)
    if options.threads is not None and options.threads < 1:
        raise UsageError("E410", option="threads", detail="at least 1", value=options.threads)
    for option, value in (("window-units", options.window_units), ("jobs", options.jobs),
                          ("ray-actors", options.ray_actors)):
        if value is not None and value < 1:
            raise UsageError("E410", option=option, detail="at least 1", value=value)
    if options.max_units < 1:
        raise UsageError("E410", option="max-units", detail="at least 1", value=options.max_units)
    if not options.max_input_mb > 0:
        raise UsageError("E410", option="max-input-mb", detail="more than 0", value=options.max_input_mb)
    if options.layout not in layouts:
        raise UsageError("E402", detail=f"unknown layout '{options.layout}' (known: {', '.join(layouts.names())})")
    unknown_tables = [t for t in options.tables if t not in TABLE_FORMATS]
    if unknown_tables:
        raise UsageError("E508", option="tables", known=", ".join(TABLE_FORMATS), value=unknown_tables[0])
    if "parquet" in options.tables:
        require_pyarrow()  # before anything is coded
    if options.engine not in ENGINES:
        raise UsageError("E412", value=options.engine, known=", ".join(ENGINES))
    if options.engine == "ray":
        from .engines.ray_engine import require_ray

        require_ray()
    # "auto" becomes the runtime it stands for here, so fingerprints, run.json and Ray actors on
    # other machines all use this one.
    options = replace(options, runtime=resolve_runtime(options.runtime), device=resolve_device(options.device).type)
    unit = resolve_segmenter(options.unit)
    codebook = load_codebook(options.codebooks)
    role_config_path = Path(options.role_config) if options.role_config else default_role_config_path()
    role_config = load_role_config(role_config_path, codebook)
    score_config_path = Path(options.score_config) if options.score_config else default_score_config_path()
    score_config = load_score_config(score_config_path, codebook)
    speakers = parse_speaker_roles(options.speaker_roles, role_config)
    sessions = load_role_mapping(options.role_mapping, role_config) if options.role_mapping else {}
    overrides = RoleOverrides(therapist=tuple(options.therapist), speakers=tuple(speakers), sessions=sessions,
                              source=Path(options.role_mapping) if options.role_mapping else None)
    if out.exists() and not out.is_dir():
        raise UsageError("E406", path=out, detail="it is a file, not a folder")
    if models is None:
        models = ModelSet(options.models, codebook, threads=options.threads, runtime=options.runtime,
                          device=options.device)
    models.describe()
    return BatchRun(out=out, options=options, codebook=codebook, role_config=role_config,
                role_config_path=role_config_path, score_config=score_config, score_config_path=score_config_path,
                overrides=overrides, models=models, unit=unit)


def state_file(out: Path, session_id: str) -> Path:
    """``DIR/.state/<name>.json`` (the id escaped: :func:`~transcript_coder.session_ids.session_file_name`)."""
    return Path(out) / STATE_DIR / f"{session_file_name(session_id)}.json"


def coded_file(out: Path, session_id: str) -> Path:
    """``DIR/coded/<name>.csv`` (the id escaped: :func:`~transcript_coder.session_ids.session_file_name`)."""
    return Path(out) / CODED_DIR / f"{session_file_name(session_id)}.csv"


def _state_session(path: Path) -> CodedSession | None:
    state = read_state(path)
    return CodedSession.from_dict(state["session"]) if state is not None else None


def write_session_csv(out: Path, coded: CodedSession, layout: str, previous: CodedSession | None = None
                      ) -> Problem | None:
    """Write ``coded/<name>.csv`` with the review store's cells merged in; first harvest the
    reviewed cells typed into the file it replaces (``previous``: the coding that file was written
    from, whose unit texts key the cells). Returns the harvest's warning (E424), if any."""
    path = coded_file(out, coded.session_id)
    problem = review_store.harvest(out, coded.session_id, path, previous)
    placed, _ = review_store.placed_for(out, coded, layouts.get(layout))
    write_coded_session(path, coded, layout, placed)
    return problem


@dataclass
class StoredReviews:
    """What :func:`store_reviews` did: per session, the reviewed cells newly kept (its coded CSV was
    rewritten with them); the cells it did not store and why (E515, E516); and warnings (E424)."""

    cells: dict[str, int] = field(default_factory=dict)
    unplaced: list[TranscriptCoderError] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


def store_reviews(out: str | Path, rows: Iterable[CodedRow]) -> StoredReviews:
    """Keep the reviewed cells of ``rows`` (from review workbooks or coded CSVs) in the review store
    of the coding folder ``out``, and rewrite their sessions' coded CSVs with the store merged in,
    under the folder's lock, so they survive every later recode as typed cells do.

    A row's unit is found by the hash of its text (the workbook's hidden hash, else the row's text)
    against the session's current coding: the unit at its ``utterance_index`` when the texts agree,
    else the one unit with that text (it moved), else none: the session was recoded since the file
    was written, and the row's cells are E515, not stored. So are cells of a scheme the run's coded
    CSVs have no ``reviewed_`` column for, and rows of a session the folder has not coded. Nothing
    kept is ever replaced: cells typed into the coded CSVs are kept first, and a cell that differs
    from a kept one is E516 (type it into the coded CSV to replace the kept one).

    Raises:
        DataError: E509 when ``out`` is not a coding output folder.
        UsageError: E416 when a run is writing to it; E406 when it cannot be written.
    """
    from .writers.workbook import cell_text

    out = Path(out)
    if not (out / "run.json").is_file():
        raise DataError("E509", path=out, missing="run.json")
    result = StoredReviews()
    by_session: dict[str, list[CodedRow]] = {}
    for row in rows:
        if row.reviewed:
            by_session.setdefault(row.session_id, []).append(row)
    with output_folder(out):
        try:
            layout = json.loads((out / "run.json").read_text(encoding="utf-8"))["config"]["layout"]
            columns = set(review_store.reviewed_schemes(layouts.get(layout)))
        except (OSError, ValueError, KeyError, TypeError):
            raise DataError("E509", path=out, missing="a readable run.json") from None

        def refuse(row: CodedRow, detail: str, scheme: str | None = None) -> None:
            column = f"reviewed_{scheme}" if scheme else "codes"
            result.unplaced.append(TranscriptCoderError("E515", path=row.path, row=row.row, column=column,
                                                        session=row.session_id, index=row.utterance_index,
                                                        out=out, detail=detail))

        for session_id, reviewed in by_session.items():
            try:
                coded = _state_session(state_file(out, session_id))
            except (KeyError, TypeError, ValueError):
                coded = None
            if coded is None:
                for row in reviewed:
                    refuse(row, "the folder holds no readable coding of this session")
                continue
            texts = {u.utterance.utterance_index: u.utterance.text for u in coded.utterances}
            hashes, by_hash = review_store.unit_hashes(coded, cell_text)  # as the workbook hashed them
            path = coded_file(out, session_id)
            problem = review_store.harvest(out, session_id, path, coded)  # cells typed into the CSV first
            if problem is not None:
                result.warnings.append(problem)
            stored = {cell.key: cell for cell in review_store.load_reviews(out, session_id)}
            added = 0
            for row in reviewed:
                index = review_store.unit_of(row.utterance_index, row.text_hash or text_hash(cell_text(row.text)),
                                             hashes, by_hash)
                if index is None:
                    refuse(row, "its text is not the text of any one unit of the session's current coding "
                                "(was the session recoded after this file was written?)")
                    continue
                for scheme, code in row.reviewed.items():
                    if scheme not in columns:
                        refuse(row, f"the run's coded CSVs ({layout}) have no column reviewed_{scheme}", scheme)
                        continue
                    cell = review_store.ReviewedCell(session_id=session_id, utterance_index=index,
                                                     text_hash=text_hash(texts[index]), scheme=scheme, code=code,
                                                     text=texts[index])
                    kept = stored.get(cell.key)
                    if kept is not None and kept.code != code:
                        result.unplaced.append(TranscriptCoderError(
                            "E516", path=row.path, row=row.row, session=session_id, index=index, out=out,
                            column=f"reviewed_{scheme}", kept=kept.code, value=code, coded=path))
                    elif kept is None:
                        stored[cell.key] = cell
                        added += 1
            if added:
                review_store.save_reviews(out, session_id, stored.values())
                result.cells[session_id] = added
                log.info("kept %d reviewed cell(s) of %s in %s", added, session_id,
                         review_store.store_file(out, session_id))
            placed, _ = review_store.placed_for(out, coded, layouts.get(layout))
            write_coded_session(path, coded, layout, placed)
    return result


def read_state(path: Path) -> dict | None:
    """A session's state file, or ``None`` when it is missing, unreadable or of another format."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and state.get("format") == STATE_FORMAT else None


def remove_outputs(run: BatchRun, session_id: str) -> None:
    """Drop a session's outputs from an earlier run that no longer match its input."""
    coded_path = coded_file(run.out, session_id)
    if coded_path.is_file():  # what a supervisor typed into it goes to the review store first
        review_store.harvest(run.out, session_id, coded_path, _state_session(state_file(run.out, session_id)))
    for path in (state_file(run.out, session_id), coded_path):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            log.info("removed outdated %s", path)


@dataclass
class Entry:
    """One input on its way through a window: what happened to it so far (``record``), and while
    it is being coded its read session (``prepared``) and then its result."""

    index: int
    record: SessionRecord
    item: InputFile | None = None  # None: an input that named no file (E401)
    overrides: dict[str, str] = field(default_factory=dict)
    reader: ReaderOptions | None = None  # this input's reader options (sidecars, --reader-options)
    pending: bool = False  # to be read and coded (not skipped, not failed)
    data: bytes | None = None  # the input's bytes, for engines that ship them
    future: object = None  # the reading process's PreparedSession, while it is read
    prepared: PreparedSession | None = None
    result: CodedSession | Problem | None = None

    @property
    def units(self) -> int:
        """Units this input adds to its window."""
        return len(self.prepared.units) if self.prepared is not None else 0


def admit(run: BatchRun, index: int, item: InputFile, run_key: str, read: bool = False) -> Entry:
    """Fingerprint an input and decide: skip it (already coded by an earlier run: its coded CSV
    is re-rendered from the state if missing), fail it (unreadable), or code it (``pending``).
    ``read`` keeps the input's bytes in ``data``; so does an input that is not a regular file (a
    pipe handed over as ``/dev/fd/N``), which can be read only once. An input over
    ``max_input_mb`` is refused (E123) without being read. Never raises for a bad input."""
    started = time.perf_counter()
    record = SessionRecord(input=str(item.path), session_id=item.session_id, status="failed")
    entry = Entry(index=index, record=record, item=item)
    state_path, coded_path = state_file(run.out, item.session_id), coded_file(run.out, item.session_id)
    taken = _owner_problem(item, state_path)
    if taken is not None:  # not ours to overwrite, nor to remove
        record.problems = [taken]
        return entry
    limit = int(run.options.max_input_mb * 1024 * 1024)
    try:
        try:
            once = not item.path.is_file()
            if not once and item.path.stat().st_size > limit:
                raise _too_large(item.path, item.path.stat().st_size, run.options.max_input_mb)
            if read or once:
                with open(item.path, "rb") as handle:
                    entry.data = handle.read(limit + 1)
                if len(entry.data) > limit:
                    raise _too_large(item.path, len(entry.data), run.options.max_input_mb, more=True)
                record.sha256 = hashlib.sha256(entry.data).hexdigest()
            else:
                record.sha256 = file_sha256(item.path)
        except OSError as exc:
            raise InputError("E116", path=item.path, detail=exc.strerror or str(exc)) from None
        entry.overrides = run.overrides.for_session(item.session_id)
        entry.reader = run.reader_for(item)
        state = None if run.options.force else read_state(state_path)
        # Only the options the reader that read these same bytes last time uses count.
        read_by = state["session"]["reader"] if state is not None and state.get("sha256") == record.sha256 else None
        record.fingerprint = session_fingerprint(run_key, record.sha256, item.session_id, entry.overrides,
                                                 relevant_reader_options(read_by, entry.reader))
        if state is not None and state.get("fingerprint") == record.fingerprint:
            coded = CodedSession.from_dict(state["session"])
            if not coded_path.is_file():
                write_session_csv(run.out, coded, run.options.layout)
            record.status, record.turns, record.units = "skipped", coded.n_turns, len(coded.utterances)
            record.problems, record.notes = list(coded.problems), list(coded.notes)
            entry.data = None
        else:
            entry.pending = True
    except TranscriptCoderError as error:
        record.problems, entry.data = [Problem.from_error(error)], None
        if record.sha256 is not None or error.code == "E123":
            remove_outputs(run, item.session_id)
    except Exception as error:  # a bug must not stop the batch or show the user a traceback
        log.debug("unexpected failure checking %s", item.path, exc_info=True)
        problem = TranscriptCoderError("E405", path=item.path, detail=f"{type(error).__name__}: {error}")
        record.problems, entry.data = [Problem.from_error(problem)], None
    record.seconds += time.perf_counter() - started
    return entry


def _too_large(path: Path, size: int, limit_mb: float, more: bool = False) -> InputError:
    """E123 for an input of ``size`` bytes (``more``: at least that many; a pipe is not read on)."""
    what = f"the input is {'over ' if more else ''}{size / (1024 * 1024):.1f} MB"
    return InputError("E123", path=path, what=what, limit=f"{limit_mb:g} MB", option="--max-input-mb")


def store(run: BatchRun, entry: Entry) -> None:
    """Write a coded session's state, then its coded CSV; or record why it was not coded.

    The state goes first: once it exists the session counts as coded, and the CSV is re-rendered
    from it if a kill came in between."""
    started = time.perf_counter()
    record, result, entry.result = entry.record, entry.result, None
    if isinstance(result, CodedSession):
        coded_path, state_path = coded_file(run.out, record.session_id), state_file(run.out, record.session_id)
        try:
            record.fingerprint = session_fingerprint(  # now that the reader is known
                run.key(), record.sha256, record.session_id, entry.overrides,
                relevant_reader_options(result.reader, entry.reader or run.options.reader))
            previous = _state_session(state_path) if coded_path.is_file() else None
            write_json(state_path,
                       {"format": STATE_FORMAT, "fingerprint": record.fingerprint, "input": record.input,
                        "input_path": str(Path(record.input).absolute()), "sha256": record.sha256,
                        "session": result.serialize()}, compact=True)
            harvested = write_session_csv(run.out, result, run.options.layout, previous)
        except OSError as exc:
            result = Problem.from_error(TranscriptCoderError("E406", path=coded_path, detail=exc.strerror or str(exc)))
        except Exception as exc:  # whatever goes wrong storing one session is that session's problem
            log.debug("unexpected failure storing %s", record.input, exc_info=True)
            result = Problem.from_error(TranscriptCoderError(
                "E405", path=record.input, detail=f"it could not be stored: {type(exc).__name__}: {exc}"))
        else:
            record.status, record.turns, record.units = "coded", result.n_turns, len(result.utterances)
            record.problems, record.notes = list(result.problems), list(result.notes)
            record.problems += [harvested] if harvested is not None else []
    if isinstance(result, Problem):
        record.problems = [result]
        remove_outputs(run, record.session_id)
    record.seconds += time.perf_counter() - started


class Progress:
    """Reports finished inputs to the hook (one ``advance`` per input file) and the log."""

    def __init__(self, hook: ProgressHook) -> None:
        self.hook = hook
        self.turns = 0
        self.seconds = 0.0

    def done(self, entry: Entry) -> None:
        """Count a finished entry (coded, skipped or failed) and advance the bar."""
        record = entry.record
        if record.status == "coded":
            self.turns += record.turns
            self.seconds += record.seconds
            log.info("coded %s (%d units, %.1f s)", record.input, record.units, record.seconds)
        elif record.status == "failed":
            log.info("failed %s: %s", record.input, record.problems[0])
        if entry.item is not None:  # inputs naming no file are not counted in the bar's total
            self.hook.advance("code", 1, turns_s=self.turns / self.seconds if self.seconds else 0.0)


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
        UsageError: E401 when no input names a file (E116 when the only inputs name something that
            is not a file); E402-E414 for options that cannot work; E406 when ``out`` cannot be
            created or written; E416 when another run is writing to ``out``.
        ConfigError, ModelError: when the codebook, configs or models cannot be loaded.
    """
    options = options or CodeOptions()
    hook = hook or NullHook()
    out = Path(out)
    started_at, started = datetime.now(timezone.utc), time.perf_counter()
    run = resolve_run(out, options, models)
    id_mapping = load_id_mapping(options.ids) if options.ids else None
    expanded = session_inputs(inputs, exclude=out.resolve(), ids=id_mapping)
    files = [entry for entry in expanded if isinstance(entry, InputFile)]
    if not files and not any(_clashed(e) for e in expanded if isinstance(e, SessionRecord)):
        given = ", ".join(str(i) for i in inputs) or "(no inputs)"
        for record in expanded:  # say what an unreadable input is, not merely that nothing matched
            reason = unreadable_reason(Path(record.input)) if record.status == "failed" else None
            if reason is not None:
                raise UsageError("E116", path=record.input, detail=reason)
        raise UsageError("E401", path=given)
    entries = expanded
    run.reader_resolver()  # a bad --reader-options file stops the run before anything is read
    with output_folder(out):
        return _code_into(run, entries, len(files), hook, started_at, started)


def _code_into(run: BatchRun, entries: Sequence[InputFile | SessionRecord], n_files: int, hook: ProgressHook,
               started_at: datetime, started: float) -> RunResult:
    """The run itself, once the output folder is ready and locked."""
    out, options = run.out, run.options
    check_folder(out, entries)
    run_key = run.key()
    progress = Progress(hook)
    hook.start("code", total=n_files, unit="session")
    try:
        if options.engine == "ray":
            from .engines.ray_engine import code_with_ray

            records = code_with_ray(run, entries, run_key, progress)
        else:
            from .engines.local import code_locally

            records = code_locally(run, entries, run_key, progress)
    finally:
        hook.finish("code")
    try:
        files_written = _write_aggregates(run, records)
        manifest = _manifest(run, [*records, *run.kept], started_at, time.perf_counter() - started)
        files_written["run"] = out / "run.json"
        write_json(files_written["run"], manifest)
    except (OSError, TranscriptCoderError) as error:
        # A full disk: the sessions that failed are in the records, which the caller still gets
        # (and the console summary lists), since errors.csv may be what could not be written.
        if not isinstance(error, TranscriptCoderError):
            error = TranscriptCoderError("E406", path=out, detail=error.strerror or str(error))
        log.debug("the run-wide files of %s could not be written", out, exc_info=True)
        return RunResult(out=out, records=records, unwritten=[Problem.from_error(error)])
    return RunResult(out=out, records=records, files=files_written)


@contextlib.contextmanager
def output_folder(out: Path) -> Iterator[Path]:
    """Create ``out`` (with ``coded/`` and ``.state/``) and hold an exclusive lock on it while the
    block runs; stale temporary files of a killed run are removed once the lock is held.

    The lock is ``flock`` on ``out/.transcript-coder.lock``, which records the holder's process id.
    The kernel drops it when the file is closed or the process ends, killed or not.

    Raises:
        UsageError: E406 when a folder or the lock file cannot be created (a read-only file
            system, a path below a regular file, ``/proc``); E416 when another run holds the lock.
    """
    import fcntl  # POSIX; the tool runs on Linux and macOS

    for folder in (out, out / CODED_DIR, out / STATE_DIR):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError("E406", path=folder, detail=_why(exc)) from None
    lock_path = out / LOCK_FILE
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise UsageError("E406", path=out, detail=_why(exc)) from None
    locked = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise UsageError("E406", path=lock_path, detail=_why(exc)) from None
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise UsageError("E416", path=out, pid=holder) from None
        locked = True
        with contextlib.suppress(OSError):  # the pid is for the message only
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        for folder in (out, out / CODED_DIR, out / STATE_DIR):
            remove_stale_temporaries(folder)  # only now: another run's temporaries are never in flight
        yield out
    finally:
        if locked:
            with contextlib.suppress(OSError):  # an empty file when no run holds it: same bytes every run
                os.ftruncate(fd, 0)
        os.close(fd)  # releases the lock


def _why(error: OSError) -> str:
    """An OS error in words, with what the user can do about the common ones."""
    detail = error.strerror or str(error)
    if error.errno == errno.EROFS:
        return f"{detail} (choose an --out on a writable disk)"
    if error.errno in (errno.ENOTDIR, errno.EEXIST):
        return f"{detail} (a part of the path is a file, not a folder)"
    return detail


def _owner_problem(item: InputFile, state_path: Path) -> Problem | None:
    """E425 when ``item`` would be coded over a session of the same id coded from another input
    file that still exists (runs naming different folders can give two inputs one id). A session
    whose input moved (the old path is gone) is taken over."""
    try:
        with open(state_path, "rb") as handle:
            head = handle.read(65536).decode("utf-8", errors="replace")
    except OSError:
        return None
    found = re.search(r'"input_path":("(?:[^"\\]|\\.)*")', head)
    if not found:
        return None
    previous = Path(json.loads(found.group(1)))
    here = Path(item.path)
    if previous == here.absolute() or not previous.exists() or previous.resolve() == here.resolve():
        return None
    return Problem.from_error(InputError("E425", path=item.path, session_id=item.session_id, other=previous))


def _clashed(record: SessionRecord) -> bool:
    """A file refused only because its id clashed with another's (E420): it still names a file."""
    return any(p.code == "E420" for p in record.problems)


def _input_gone(state: dict) -> bool:
    """Whether the input a state was coded from no longer exists (``prune``)."""
    return not Path(state.get("input_path") or state["input"]).exists()


def _folder_sessions(run: BatchRun, records: Sequence[SessionRecord]) -> Iterator[tuple[SessionRecord, CodedSession]]:
    """Every session coded into the folder, read back from its state: this run's inputs in input
    order, then the sessions earlier runs coded there (in file name order), each with its record;
    those become ``run.kept``. With ``prune``, an earlier session whose input is gone is removed
    instead (its reviewed cells stay in the review store)."""
    seen = set()
    for record in records:
        if record.status in ("coded", "skipped"):
            state = read_state(state_file(run.out, record.session_id))
            if state is None:  # removed under our feet; report rather than crash
                raise TranscriptCoderError("E406", path=run.out / STATE_DIR,
                                           detail=f"the state of {record.session_id} vanished during the run")
            seen.add(session_file_name(record.session_id))
            yield record, CodedSession.from_dict(state["session"])
    for path in sorted((run.out / STATE_DIR).glob("*.json")):
        if path.stem in seen or path.name.startswith("."):
            continue
        state = read_state(path)
        if state is None:
            continue
        session = CodedSession.from_dict(state["session"])
        if run.options.prune and _input_gone(state):
            remove_outputs(run, session.session_id)
            run.pruned.append(session.session_id)
            log.info("pruned %s: its input %s is gone", session.session_id, state["input"])
            continue
        record = SessionRecord(input=state["input"], session_id=session.session_id, status="kept",
                               sha256=state.get("sha256"), fingerprint=state.get("fingerprint"),
                               turns=session.n_turns, units=len(session.utterances),
                               problems=list(session.problems), notes=list(session.notes))
        run.kept.append(record)
        yield record, session


def check_folder(out: Path, entries: Sequence[InputFile | SessionRecord]) -> None:
    """Make sure the output folder names its sessions the way this version does, migrating a
    folder written when ids were file stems, and mark it (``DIR/.transcript-coder.json``).

    Migration renames each old session to its input's new id (its reviewed cells are harvested
    into the review store under the new id, its old files removed; it is then recoded), which
    needs every old session's input among ``entries``.

    Raises:
        UsageError: E421 when some old session's input is not among this run's inputs.
    """
    marker = Path(out) / FOLDER_FILE
    if marker.is_file():
        return
    old = [(path, read_state(path)) for path in sorted((Path(out) / STATE_DIR).glob("*.json"))
           if not path.name.startswith(".")]
    old = [(path, state) for path, state in old if state is not None]
    new_ids = {Path(e.path).absolute(): e.session_id for e in entries if isinstance(e, InputFile)}
    new_ids.update({Path(e.path).resolve(): e.session_id for e in entries if isinstance(e, InputFile)})
    missing = [state["session"]["session_id"] for _, state in old
               if Path(state["input"]).absolute() not in new_ids and Path(state["input"]).resolve() not in new_ids]
    if missing:
        raise UsageError("E421", path=out, example=", ".join(f"'{m}'" for m in missing[:3]),
                         detail=f"{len(missing)} of its sessions are not among this run's inputs, so they cannot "
                                "be renamed; code every input coded there before in this run (their reviewed "
                                "cells are kept), or choose a new --out")
    for path, state in old:
        old_id = state["session"]["session_id"]
        new_id = new_ids.get(Path(state["input"]).absolute()) or new_ids[Path(state["input"]).resolve()]
        old_csv = Path(out) / CODED_DIR / f"{path.stem}.csv"
        if session_file_name(new_id) == path.stem:
            continue
        review_store.harvest(out, new_id, old_csv, CodedSession.from_dict(state["session"]))
        for stale in (path, old_csv):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        log.info("renamed session %s to %s (new-style id)", old_id, new_id)
    write_json(marker, FOLDER_FORMAT)


def _write_aggregates(run: BatchRun, records: Sequence[SessionRecord]) -> dict[str, Path]:
    """``codes.csv``, ``sessions.csv`` and ``errors.csv`` from the per-session states."""
    out = run.out
    # Each state is read once: while codes.csv streams the sessions, their sessions.csv rows
    # (one short row each, so all of them fit in memory where the sessions might not) are kept.
    session_rows: list[list] = []

    orphans: list[review_store.Orphan] = []
    columns = layouts.get(run.options.layout)

    def summarised(sessions: Iterable[tuple[SessionRecord, CodedSession]]) -> Iterator[CodedSession]:
        for record, session in sessions:
            _, lost = review_store.placed_for(out, session, columns)
            if lost:  # reviewed cells this coding cannot place: kept, and said so every run
                orphans.extend(lost)
                record.problems.append(review_store.orphan_warning(record.input, session.session_id, lost))
            summary = summarize(session.session_id, session.utterances, run.codebook, run.score_config,
                                session.roles.confidence)
            session_rows.append(session_row(session, summary, run.codebook, run.score_config))
            yield session

    try:
        codes_path = write_codes(out / "codes.csv", summarised(_folder_sessions(run, records)))
        sessions_path = write_csv(out / "sessions.csv", session_header(run.codebook, run.score_config), session_rows)
        errors_path = write_errors(out / "errors.csv",
                                   ((r.input, r.session_id, p) for r in [*records, *run.kept] for p in r.problems))
        review_store.write_orphans(out, orphans)
    except OSError as exc:
        raise TranscriptCoderError("E406", path=out, detail=exc.strerror or str(exc)) from None
    paths = {"codes": codes_path, "sessions": sessions_path, "errors": errors_path, "coded": out / CODED_DIR}
    if "parquet" in run.options.tables:
        try:
            paths.update(write_parquet_tables(out, run.codebook))
        except OSError as exc:
            raise TranscriptCoderError("E406", path=out, detail=exc.strerror or str(exc)) from None
    return paths


def _manifest(run: BatchRun, records: Sequence[SessionRecord], started_at: datetime, seconds: float) -> dict:
    """``run.json``. Everything but ``this_run`` depends only on the inputs, models, configs and
    options, so a resumed run writes the same manifest as an uninterrupted one."""
    inputs = []
    for r in records:
        entry = {"input": r.input, "session_id": r.session_id,
                 "status": r.status if r.status in ("failed", "ignored") else "coded",
                 "sha256": r.sha256, "fingerprint": r.fingerprint, "turns": r.turns, "units": r.units,
                 "errors": [p.code for p in r.problems if p.level == "error"],
                 "warnings": [p.code for p in r.problems if p.level == "warning"], "notes": r.notes}
        if r.status == "kept":  # coded into this folder by an earlier run
            entry["status"] = "kept"
        inputs.append(entry)
    coded = [r for r in records if r.status in ("coded", "skipped")]
    ignored = [r for r in records if r.status == "ignored"]
    return {
        "transcript_coder": __version__,
        "environment": environment(),
        "config": run.config(),
        "models": run.models.manifest(),
        "codebook": {"versions": run.codebook.versions(), "sha256": codebook_digest(run.codebook)},
        "inputs": inputs,
        "counts": {"inputs": len(records) - len(ignored), "coded": len(coded),
                   "failed": len(records) - len(coded) - len(ignored),
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
            "pruned": list(run.pruned),
            "skipped": [r.session_id for r in records if r.status == "skipped"],
            "session_seconds": {r.session_id: round(r.seconds, 3) for r in records if r.session_id},
        },
    }
