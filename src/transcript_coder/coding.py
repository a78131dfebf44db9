"""The coding stages: sessions in, coded sessions out; no folders, no files, no state.

For a window of sessions at a time::

    resolve_roles -> predict speaker_role -> assign_roles -> attach_roles
        -> predict -> attach_codes -> CodedSession

:func:`code_sessions` takes sessions already read and segmented (:class:`SessionUnits`) and
returns one :class:`~transcript_coder.results.CodedSession` (or the error that stopped it) per
session, with **one** model call per phase for the whole window (phase 1: the role-inference
scheme over the units of sessions whose roles need evidence; phase 2: the schemes every unit
still needs). :func:`code_transcript` is the same for a single :class:`~transcript_coder.types.Session`;
:func:`code_window` is :func:`code_sessions` for an engine (it never raises), and
:func:`windows_of` groups a stream of sessions into windows of about ``window_units`` units.

Every engine (the local one, its reading processes, the Ray actors) calls these same public
functions; the batch run around them (inputs, state, fingerprints, resume, manifests) lives in
:mod:`transcript_coder.batch`. ``ModelSet.predict`` is row-deterministic (a unit's probabilities
do not depend on the other units of the call), so a session's codes are the same whichever
sessions share its window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .classify import ModelSet, Predictions
from .codebook import Codebook
from .codes import attach_codes, wanted_schemes
from .errors import InputError, TranscriptCoderError
from .readers import UNKNOWN_SPEAKER, reader_warnings
from .results import CodedSession, Problem
from .roles import RoleConfig, assign_roles, attach_roles, needs_evidence, pool_evidence, resolve_roles, role_warnings
from .segment import segment
from .types import CLIENT, THERAPIST, Session, Utterance

log = logging.getLogger(__name__)

#: A window also closes after this many inputs, so a run that mostly skips already coded
#: sessions still reports progress and writes as it goes.
WINDOW_MAX_SESSIONS = 256


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
                       probabilities={s: rows[start:stop] for s, rows in predictions.probabilities.items()},
                       thresholds=dict(predictions.thresholds))


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
            # What reading noticed (E120, E121, notes as E124), then what the roles look like.
            warnings = [Problem.from_error(w, "warning") for w in reader_warnings(item.session)
                        + role_warnings(item.session, assignments[i], resources.role_config)]
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
