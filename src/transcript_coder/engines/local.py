"""``--engine local`` (the default): windows coded in this process, in input order.

Inputs are admitted (:func:`transcript_coder.batch.admit`), read and segmented
(:func:`.prepare.prepare_session`) until a window holds about ``window_units`` units, the window is
coded with one model call per phase (:func:`transcript_coder.coding.code_window`), each session is
stored (:func:`transcript_coder.batch.store`) and the window is dropped. With ``jobs > 1`` a pool of
processes reads and segments the next window and a thread writes the previous one while the model
codes the current one.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence

from ..batch import BatchRun, Entry, Progress, admit, store
from ..coding import CodingResources, SessionUnits, code_window, windows_of
from ..errors import TranscriptCoderError
from ..inputs import InputFile
from ..readers import ReaderOptions
from ..results import Problem, SessionRecord
from . import DEFAULT_WINDOW_UNITS
from .prepare import PreparedSession, ignore_interrupts, prepare_session

#: A run of at most this many inputs with the default ``--window-units`` codes one session per
#: window, so its progress moves per session instead of once at the end (a few sessions cannot
#: fill a window's batches anyway; an explicit ``--window-units`` is always honoured).
SMALL_BATCH = 16


def _prepared(run: BatchRun, entries: Sequence[InputFile | SessionRecord], run_key: str,
              submit: Callable[[InputFile, bytes | None, ReaderOptions | None], object] | None,
              ahead: int) -> Iterator[Entry]:
    """Every input in order, admitted and, when it is to be coded, read and segmented: here, or
    by ``submit`` (a process pool's) with up to ``ahead`` inputs in flight."""
    waiting: deque[Entry] = deque()

    def resolved(entry: Entry) -> Entry:
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
            entry = Entry(index=index, record=given)
        else:
            entry = admit(run, index, given, run_key)
            # entry.data holds the bytes of an input that can be read only once (a pipe)
            if entry.pending and submit is None:
                entry.prepared = prepare_session(given.path, given.session_id, entry.reader or run.options.reader,
                                                 run.unit, data=entry.data, max_units=run.options.max_units)
            elif entry.pending:
                entry.future = submit(given, entry.data, entry.reader)
            entry.data = None
        waiting.append(entry)
        while len(waiting) > ahead:
            yield resolved(waiting.popleft())
    while waiting:
        yield resolved(waiting.popleft())


def _code_entries(window: Sequence[Entry], resources: CodingResources) -> None:
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


def _store_window(run: BatchRun, window: Sequence[Entry]) -> Sequence[Entry]:
    """Write every coded session of a window (or record its problem)."""
    for entry in window:
        if entry.result is not None:
            store(run, entry)
    return window


class _ReadAhead:
    """Runs a window generator in a thread, one window ahead of the loop that consumes it, so
    the next window is read while the model codes the current one."""

    def __init__(self, windows: Iterator[list[Entry]]) -> None:
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

    def __iter__(self) -> Iterator[list[Entry]]:
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


def code_locally(run: BatchRun, entries: Sequence[InputFile | SessionRecord], run_key: str,
                  progress: Progress) -> list[SessionRecord]:
    """The local engine: windows coded in this process, in input order. With ``jobs > 1`` a
    process pool reads and segments ahead and a thread writes behind the model."""
    options = run.options
    resources = run.resources()
    done: list[Entry] = []

    def report(window: Sequence[Entry]) -> None:
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

            def prepare_in_pool(item: InputFile, data: bytes | None, reader: ReaderOptions | None):
                return pool.submit(prepare_session, item.path, item.session_id, reader or options.reader, run.unit,
                                   data, options.max_units)

            submit, ahead = prepare_in_pool, 4 * options.jobs
        window_units = options.window_units
        if window_units == DEFAULT_WINDOW_UNITS and len(entries) <= SMALL_BATCH:
            window_units = 1  # a session longer than a window is a window of its own
        windows = windows_of(_prepared(run, entries, run_key, submit, ahead), lambda e: e.units, window_units)
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

