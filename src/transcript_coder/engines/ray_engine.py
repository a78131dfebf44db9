"""``--engine ray``: the same stages as a Ray Data job, on a local or remote Ray cluster.

The driver (the process running :func:`transcript_coder.batch.code`) does everything that
touches the output folder or the inputs' paths, exactly as the local engine does: it expands the
inputs, fingerprints them, skips sessions already coded, and reads each remaining file's
**bytes**. Those go into a Ray Data dataset of rows ``{index, session_id, path, data, overrides, reader}``
that flows through ``map_batches`` into a pool of :class:`SessionCoder` actors. Each actor loads
the models once (their files are shipped from the driver through the object store) and codes its
batches with the local engine's own stages: :func:`~transcript_coder.engines.prepare.prepare_session`
on the bytes (messages name the original path) and :func:`~transcript_coder.coding.code_window`
over windows of ``window_units`` units. It returns each session as its serialized
:class:`~transcript_coder.results.CodedSession` or its problem, and the driver writes states,
coded CSVs and the aggregates. Nothing needs a shared file system: inputs, models and results
all travel through Ray.

The outputs are byte-identical to the local engine's: the same code runs, ``ModelSet.predict`` is
row-deterministic (which sessions share a batch does not matter), and every actor runs torch with
the thread count the local engine would use (``--threads``, else the driver's torch default).
Throughput scales with actors x threads per actor until the driver (reading inputs, writing
outputs) becomes the limit.

Ray is optional (``pip install "transcript_coder[ray]"``) and imported only here, lazily.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from ..errors import TranscriptCoderError, UsageError
from ..results import CodedSession, Problem, SessionRecord
from .prepare import prepare_session

log = logging.getLogger(__name__)

#: Sessions per ``map_batches`` call; an actor splits its batch into windows of ``window_units``.
RAY_BATCH_SESSIONS = 32


def require_ray() -> None:
    """Check that Ray (with Ray Data) can be imported.

    Raises:
        UsageError: E413 with the install command.
    """
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError as error:
        raise UsageError("E413", detail=str(error)) from None


def _connect(address: str | None) -> bool:
    """Connect to the cluster at ``address`` (``None``: start a local Ray) unless this process
    already is; returns whether this call started the connection (and so must end it)."""
    import ray

    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
    except Exception as error:  # ConnectionError, RuntimeError, ValueError: all a bad address
        raise UsageError("E414", address=address or "a new local Ray",
                         detail=f"{type(error).__name__}: {error}") from None
    return True


def model_files(models) -> list[tuple[str, dict[str, bytes]]]:
    """Every file of every model folder of ``models`` (a described ModelSet), as ``(name,
    {relative path: bytes})``, so actors on machines without the folders can load them."""
    shipped = []
    for description in models.describe().descriptions_:
        folder = Path(description.path)
        files = {path.relative_to(folder).as_posix(): path.read_bytes()
                 for path in sorted(folder.rglob("*")) if path.is_file()}
        shipped.append((description.name, files))
    return shipped


class SessionCoder:
    """A Ray Data actor: holds the models and codes batches of sessions sent as bytes.

    Args:
        spec: what coding needs besides the models: ``codebook``, ``role_config``, ``unit``,
            ``batch_size``, ``unattributed``, ``reader`` (ReaderOptions), ``threads``,
            ``runtime`` and ``window_units``.
        model_ref: ``[ObjectRef]`` of :func:`model_files` (in a list, so Ray hands the reference
            over instead of resolving it into the constructor's arguments).
    """

    def __init__(self, spec: dict, model_ref: list) -> None:
        import ray
        import torch

        from ..classify import ModelSet
        from ..coding import CodingResources

        torch.set_num_threads(spec["threads"])  # Ray sets 1 thread per CPU; match the local engine
        folder = Path(tempfile.mkdtemp(prefix="transcript-coder-models-"))
        try:
            paths = []
            for number, (name, files) in enumerate(ray.get(model_ref[0])):
                target = folder / f"{number}-{name}"
                for relative, data in files.items():
                    (target / relative).parent.mkdir(parents=True, exist_ok=True)
                    (target / relative).write_bytes(data)
                paths.append(target)
            models = ModelSet(paths, spec["codebook"], threads=spec["threads"], runtime=spec["runtime"]).load()
        finally:
            shutil.rmtree(folder, ignore_errors=True)  # the weights are in memory now
        self.resources = CodingResources(codebook=spec["codebook"], models=models, role_config=spec["role_config"],
                                         unit=spec["unit"], batch_size=spec["batch_size"],
                                         unattributed=tuple(spec["unattributed"]))
        self.reader = spec["reader"]
        self.window_units = spec["window_units"]
        self.max_units = spec.get("max_units")

    def __call__(self, batch: dict) -> dict:
        """Code a batch of sessions; one output row per input row: ``index``, ``result`` (JSON:
        ``{"coded": CodedSession}`` or ``{"problem": Problem}``) and ``seconds``."""
        import time

        import numpy as np

        from ..coding import SessionUnits, code_window, windows_of

        rows = []
        for index, session_id, path, data, overrides, reader in zip(
                batch["index"], batch["session_id"], batch["path"], batch["data"], batch["overrides"], batch["reader"]):
            options = reader_options_from_json(str(reader)) if reader else self.reader  # per input (sidecars)
            prepared = prepare_session(path, str(session_id), options, self.resources.unit, data=bytes(data),
                                       max_units=self.max_units)
            rows.append((int(index), prepared, json.loads(overrides)))
        out_index, out_result, out_seconds = [], [], []
        for window in windows_of(rows, lambda row: len(row[1].units), self.window_units):
            readable = [row for row in window if row[1].problem is None]
            started = time.perf_counter()
            results = iter(code_window([SessionUnits(p.session, p.units, overrides, str(p.path))
                                        for _, p, overrides in readable], self.resources))
            seconds, total = time.perf_counter() - started, sum(len(p.units) for _, p, _ in readable) or 1
            for index, prepared, _ in window:
                if prepared.problem is not None:
                    payload, spent = {"problem": asdict(prepared.problem)}, prepared.seconds
                else:
                    result = next(results)
                    payload = ({"coded": result.serialize()} if isinstance(result, CodedSession)
                               else {"problem": asdict(result)})
                    spent = prepared.seconds + seconds * len(prepared.units) / total
                out_index.append(index)
                out_result.append(json.dumps(payload))
                out_seconds.append(spent)
        return {"index": np.array(out_index, dtype=np.int64), "result": np.array(out_result, dtype=object),
                "seconds": np.array(out_seconds, dtype=np.float64)}


def reader_options_from_json(text: str):
    """A :class:`~transcript_coder.readers.ReaderOptions` sent as JSON (lists back to tuples)."""
    from ..readers import ReaderOptions

    return ReaderOptions(**{k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(text).items()})


def _largest_node_cpus(ray) -> int:
    cpus = [node["Resources"].get("CPU", 0) for node in ray.nodes() if node.get("Alive")]
    return max(1, int(max(cpus, default=1)))


def code_with_ray(run, entries: Sequence, run_key: str, progress) -> list[SessionRecord]:
    """Code ``entries`` (input files in order, and failed records of inputs naming no file) on
    Ray; write each session's state and coded CSV as its result comes back. Returns the records
    in input order. ``run`` and ``progress`` are the batch run's (see :func:`~transcript_coder.batch.code`).

    Raises:
        UsageError: E413 without Ray, E414 when the cluster cannot be reached.
    """
    from ..batch import Entry, admit, store

    require_ray()
    import ray
    import torch

    options = run.options
    started_ray = _connect(options.ray_address)
    try:
        threads = options.threads or torch.get_num_threads()
        records: list[SessionRecord | None] = [None] * len(entries)
        pending: dict[int, Entry] = {}
        rows = []
        for index, given in enumerate(entries):
            if isinstance(given, SessionRecord):
                records[index] = given
                progress.done(Entry(index=index, record=given))
                continue
            entry = admit(run, index, given, run_key, read=True)
            if not entry.pending:
                records[index] = entry.record
                progress.done(entry)
                continue
            rows.append({"index": index, "session_id": given.session_id, "path": str(given.path),
                         "data": entry.data, "overrides": json.dumps(entry.overrides, sort_keys=True),
                         "reader": "" if entry.reader in (None, options.reader) else json.dumps(asdict(entry.reader))})
            entry.data = None
            pending[index] = entry
        if rows:
            context = ray.data.DataContext.get_current()
            context.enable_progress_bars = False
            per_actor = min(threads, _largest_node_cpus(ray))
            actors = options.ray_actors or max(1, int(ray.cluster_resources().get("CPU", 1) // per_actor))
            spec = {"codebook": run.codebook, "role_config": run.role_config, "unit": run.unit,
                    "batch_size": options.batch_size, "unattributed": [options.reader.unknown_speaker],
                    "reader": options.reader, "threads": threads, "runtime": options.runtime,
                    "window_units": options.window_units, "max_units": options.max_units}
            blocks = max(1, min(len(rows), -(-len(rows) // RAY_BATCH_SESSIONS)))
            dataset = ray.data.from_items(rows, override_num_blocks=blocks)
            del rows  # the bytes live in Ray's object store now
            log.info("coding %d session(s) on Ray with %d actor(s) x %d thread(s)", len(pending), actors, threads)
            coded = dataset.map_batches(
                SessionCoder, fn_constructor_kwargs={"spec": spec, "model_ref": [ray.put(model_files(run.models))]},
                batch_size=RAY_BATCH_SESSIONS, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=actors),
                num_cpus=per_actor)
            try:
                for batch in coded.iter_batches(batch_size=None, batch_format="numpy"):
                    for index, result, seconds in zip(batch["index"], batch["result"], batch["seconds"]):
                        entry = pending.pop(int(index))
                        payload = json.loads(result)
                        entry.result = (CodedSession.from_dict(payload["coded"]) if "coded" in payload
                                        else Problem(**payload["problem"]))
                        entry.record.seconds += float(seconds)
                        store(run, entry)
                        records[entry.index] = entry.record
                        progress.done(entry)
            except TranscriptCoderError:
                raise
            except Exception as error:  # an actor died or could not start: the sessions written so far stay
                log.debug("the Ray job failed", exc_info=True)
                lines = [line for line in str(error).splitlines() if line.strip()]
                raise TranscriptCoderError("E414", address=options.ray_address or "the local Ray",
                                           detail=f"{type(error).__name__}: {lines[-1] if lines else ''}; "
                                                  "re-run to resume") from error
        if pending:  # Ray lost rows: report, do not pretend they were coded
            raise TranscriptCoderError("E414", address=options.ray_address or "the local Ray",
                                       detail=f"{len(pending)} session(s) came back without a result")
    finally:
        if started_ray:
            ray.shutdown()
    return records
