"""The stage before the model, for one input: read the transcript and segment it into units.

:func:`prepare_session` is what the local engine runs in its reading processes (``--jobs N``)
and what a Ray actor runs on bytes the driver sent it. It never raises for a bad input: the
problem comes back in :attr:`PreparedSession.problem` (a :class:`~transcript_coder.results.Problem`,
which, unlike an exception carrying its message fields, crosses a process boundary intact).
This module imports neither torch nor ray, so a reading process starts in a fraction of a second.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError, TranscriptCoderError
from ..readers import ReaderOptions, read_transcript
from ..results import Problem
from ..segment import segment
from ..types import Session, Utterance

log = logging.getLogger(__name__)


@dataclass
class PreparedSession:
    """One input after reading and segmenting: its session and units, or the problem that
    stopped it. ``seconds`` is the time the two stages took."""

    session_id: str
    path: Path
    session: Session | None = None
    units: list[Utterance] = field(default_factory=list)
    problem: Problem | None = None
    seconds: float = 0.0


def read_transcript_bytes(data: bytes, path: Path, options: ReaderOptions, session_id: str) -> Session:
    """Read a transcript from its bytes; ``path`` (the original file, which need not exist here)
    names it in messages and its extension helps detection, exactly as :func:`read_transcript`
    would for the file itself."""
    from ..readers import _read  # the byte-level entry point read_transcript itself uses

    return _read(path, data, options, session_id)


def prepare_session(path: str | Path, session_id: str, options: ReaderOptions, unit: str,
                    data: bytes | None = None, max_units: int | None = None) -> PreparedSession:
    """Read (from ``data`` when given, else from ``path``) and segment one input with the
    registered segmenter ``unit``; never raises for a bad input or a bug (E405). A session with
    more than ``max_units`` turns (checked before segmenting) or units is refused with E123, so
    that one session cannot take all the memory coding it."""
    started = time.perf_counter()
    path = Path(path)
    prepared = PreparedSession(session_id=session_id, path=path)
    try:
        session = (read_transcript(path, options, session_id) if data is None
                   else read_transcript_bytes(data, path, options, session_id))
        _check_size(len(session.turns), "turns", max_units, session.source or path)
        units = segment(session, unit)
        _check_size(len(units), "units", max_units, session.source or path)
        prepared.session, prepared.units = session, units
        if not prepared.units:
            raise InputError("E109", path=session.source or path)
    except TranscriptCoderError as error:
        prepared.session, prepared.units, prepared.problem = None, [], Problem.from_error(error)
    except Exception as error:  # a bug must not stop the batch or show the user a traceback
        log.debug("unexpected failure reading %s", path, exc_info=True)
        problem = TranscriptCoderError("E405", path=path, detail=f"{type(error).__name__}: {error}")
        prepared.session, prepared.units, prepared.problem = None, [], Problem.from_error(problem)
    prepared.seconds = time.perf_counter() - started
    return prepared


def _check_size(count: int, what: str, limit: int | None, path: Path) -> None:
    if limit is not None and count > limit:
        raise InputError("E123", path=path, what=f"the session has {count:,} {what}", limit=f"{limit:,} units",
                         option="--max-units")


def ignore_interrupts() -> None:
    """Initializer of a reading process: Ctrl-C reaches the whole process group, and it is the
    main process's to handle (it stops the pool); a reader printing its own traceback helps no one."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
