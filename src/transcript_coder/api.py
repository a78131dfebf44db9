"""Coding from Python (a notebook, a script): :class:`Coder` loads the models once and codes text,
files or lists of turns in memory; no folder, no state, no files written.

It calls the same pure stages as ``transcript-coder code`` (:func:`transcript_coder.coding.code_transcript`,
then :func:`transcript_coder.summarize.summarize`), so a session gets the same codes and scores
here as in a batch run with the same models and options::

    >>> from transcript_coder import Coder
    >>> coder = Coder()                                   # doctest: +SKIP
    >>> result = coder.code_text("Therapist: What brings you here?\\nClient: I want to drink less.")  # doctest: +SKIP
    >>> result.to_pandas()[["speaker", "therapist_behaviour", "client_talk_type"]]  # doctest: +SKIP
    >>> result.scores["pct_change_talk"]                  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .classify import ModelSet
from .codebook import Codebook, load_codebook
from .coding import CodingResources, code_transcript
from .errors import UsageError
from .readers import ReaderOptions, read_transcript, read_transcript_text
from .results import CodedSession, Problem
from .roles import RoleConfig, RoleOverrides, load_role_config, parse_speaker_roles
from .runtime import DEFAULT_RUNTIME, resolve_runtime
from .segment import resolve_segmenter
from .summarize import ScoreConfig, load_score_config, summarize
from .types import SessionSummary, Turn
from .writers.tables import CONFIDENCE_SUFFIX, DEFAULT_LAYOUT, coded_header, coded_rows

#: Coded-CSV columns that hold whole numbers, and those that hold seconds.
_INTEGER_COLUMNS = ("utterance_index", "turn_index")
_SECONDS_COLUMNS = ("start", "end")


@dataclass
class CodingResult:
    """One coded session, in memory.

    Attributes:
        session: the units with the codes of every scheme (roll-ups included), the roles and how
            they were decided, and the warnings (:class:`~transcript_coder.results.CodedSession`).
        summary: the session's counts and scores (:class:`~transcript_coder.types.SessionSummary`).
        layout: the coded-CSV layout :meth:`to_pandas` follows.
    """

    session: CodedSession
    summary: SessionSummary
    layout: str = DEFAULT_LAYOUT

    @property
    def scores(self) -> dict[str, float | None]:
        """The session scores by name (``reflection_to_question``, ``pct_change_talk``, ...), as in
        ``sessions.csv``; ``None`` where a score is undefined (no question to divide by)."""
        return dict(self.summary.scores)

    @property
    def warnings(self) -> list[Problem]:
        """Warnings with their codes (E112 one speaker, E117 low role confidence, ...)."""
        return list(self.session.problems)

    def rows(self) -> list[dict[str, object]]:
        """One dict per unit with the coded-CSV columns, typed: indices ``int``, times and
        confidences ``float`` (``None`` when empty), codes ``str`` (``None`` when the scheme does
        not apply to the unit)."""
        columns = coded_header(self.session, self.layout)
        typed = []
        for row in coded_rows(self.session, self.layout):
            record: dict[str, object] = {}
            for column, cell in zip(columns, row):
                if column in _INTEGER_COLUMNS:
                    record[column] = int(cell)
                elif column in _SECONDS_COLUMNS or column.endswith(CONFIDENCE_SUFFIX):
                    record[column] = float(cell) if cell not in ("", None) else None
                else:  # codes, check, input_ columns: text
                    record[column] = None if cell == "" and column not in ("text", "speaker") else cell
            typed.append(record)
        return typed

    def to_pandas(self):
        """A :class:`pandas.DataFrame` with one row per unit and the coded-CSV columns (the
        layout's order, then the input's own columns as ``input_<name>``; numbers as numbers,
        NaN / None where a cell is empty)."""
        import pandas as pd

        frame = pd.DataFrame(self.rows(), columns=coded_header(self.session, self.layout))
        for column in frame.columns:
            if column in _SECONDS_COLUMNS or column.endswith(CONFIDENCE_SUFFIX):
                frame[column] = frame[column].astype("float64")
        return frame

    def codes(self, scheme: str) -> list[str | None]:
        """The code of ``scheme`` for every unit (``None`` where it does not apply), including
        schemes the coded CSV leaves to ``codes.csv`` (``client_emotion_fine``, ``integrative``)."""
        return [(u.codes[scheme].code if scheme in u.codes else None) for u in self.session.utterances]


@dataclass
class Coder:
    """Codes transcripts in memory with models loaded once.

    Constructing a coder stores its options; the codebook, configs and model weights are loaded
    by the first call (or :meth:`load`) and reused by every later call: ``models_`` and
    ``resources_`` are set once.

    Args:
        models: model folders, or an already loaded :class:`~transcript_coder.classify.ModelSet`
            (default: every model in ``models/``, as ``transcript-coder code`` without ``--model``).
        runtime: how encoders run (``auto``, ``torch_fp32.v1``, ``torch_bf16.v1``, ``onnx_int8.v1``).
        codebooks: codebook folder (default ``configs/codebooks``).
        unit: ``turn`` or ``sentence``.
        therapist: speaker labels that are the therapist (``--therapist``).
        roles: ``{speaker: role}`` for any speaker (``--role SPEAKER=ROLE``).
        batch_size: units per model batch.
        threads: torch threads (default: torch's choice).
        device: ``auto`` (CUDA, then MPS, then the CPU), ``cpu``, ``cuda`` or ``mps``.

    Example::

        coder = Coder(models=["models/annomi", "models/goemotions"])
        result = coder.code_file("session.vtt")
        result.to_pandas().head()
    """

    models: Sequence[str | Path] | ModelSet | None = None
    runtime: str = DEFAULT_RUNTIME
    codebooks: str | Path | None = None
    unit: str = "turn"
    therapist: Sequence[str] = ()
    roles: Mapping[str, str] = field(default_factory=dict)
    batch_size: int = 64
    threads: int | None = None
    device: str = "auto"

    def __post_init__(self) -> None:
        self.codebook_: Codebook | None = None
        self.models_: ModelSet | None = None
        self.resources_: CodingResources | None = None
        self.score_config_: ScoreConfig | None = None
        self.overrides_: RoleOverrides | None = None

    # ------------------------------------------------------------------------------- loading
    def load(self) -> "Coder":
        """Load the codebook, configs and models (once; later calls return at once).

        Raises:
            ConfigError, ModelError: when the codebook, configs or models cannot be loaded.
            UsageError: E404 for a role that is not one of therapist, client, other.
        """
        if self.resources_ is not None:
            return self
        codebook = load_codebook(self.codebooks)
        role_config: RoleConfig = load_role_config(None, codebook)
        speakers = parse_speaker_roles(self.roles, role_config)
        if isinstance(self.models, ModelSet):
            models = self.models
        else:
            paths = None if self.models is None else [Path(p) for p in self.models]
            from .devices import resolve_device

            models = ModelSet(paths, codebook, threads=self.threads, runtime=resolve_runtime(self.runtime),
                              device=resolve_device(self.device).type)
        self.models_ = models.load()
        self.codebook_ = codebook
        self.score_config_ = load_score_config(None, codebook)
        self.overrides_ = RoleOverrides(therapist=tuple(self.therapist), speakers=tuple(speakers))
        self.resources_ = CodingResources(codebook=codebook, models=self.models_, role_config=role_config,
                                          unit=resolve_segmenter(self.unit), batch_size=self.batch_size)
        return self

    # -------------------------------------------------------------------------------- coding
    def _code(self, session, source: str | None) -> CodingResult:
        self.load()
        coded = code_transcript(session, self.resources_, self.overrides_.for_session(session.session_id), source)
        summary = summarize(coded.session_id, coded.utterances, self.codebook_, self.score_config_,
                            coded.roles.confidence)
        return CodingResult(session=coded, summary=summary)

    def code_text(self, text: str, format: str | None = None, *, session_id: str = "text") -> CodingResult:
        """Code a transcript held in a string (labelled text by default; ``format`` names any
        reader: ``webvtt``, ``srt``, ``csv``, ``json``, ``whisperx``...).

        Raises:
            InputError: for text that cannot be read or coded (E101 empty, E103 no speaker
                labels, E119 no therapist or client...).
        """
        return self._code(read_transcript_text(text, f"{session_id}.txt", ReaderOptions(format=format),
                                               session_id=session_id), None)

    def code_file(self, path: str | Path, format: str | None = None) -> CodingResult:
        """Code one transcript file (any format ``transcript-coder code`` reads; detected unless
        ``format`` is given). Its session id is the file's stem."""
        session = read_transcript(path, ReaderOptions(format=format))
        return self._code(session, str(path))

    def code_turns(self, turns: Iterable[Mapping[str, object] | Sequence[object] | Turn], *,
                   session_id: str = "turns") -> CodingResult:
        """Code a list of turns: ``(speaker, text)`` pairs, dicts with ``speaker`` and ``text``
        (and optionally ``role``, ``start``, ``end``), or :class:`~transcript_coder.types.Turn` s.

        Raises:
            UsageError: E402 for a turn without a speaker or text.
            InputError: when the turns cannot be coded (E109 no text, E119 no therapist or client).
        """
        from .types import Session

        parsed = []
        for number, turn in enumerate(turns, start=1):
            if isinstance(turn, Turn):
                parsed.append(turn)
                continue
            if isinstance(turn, Mapping):
                speaker, text = turn.get("speaker"), turn.get("text")
                extra = {k: turn.get(k) for k in ("role", "start", "end") if turn.get(k) is not None}
            elif isinstance(turn, Sequence) and not isinstance(turn, str) and len(turn) == 2:
                (speaker, text), extra = turn, {}
            else:
                raise UsageError("E402", detail=f"turn {number}: expected (speaker, text) or a dict, got {turn!r}")
            if not isinstance(speaker, str) or not isinstance(text, str):
                raise UsageError("E402", detail=f"turn {number}: speaker and text must be strings")
            start, end = extra.get("start"), extra.get("end")
            parsed.append(Turn(speaker=speaker, text=text, role=extra.get("role"), line=number,
                               start=None if start is None or math.isnan(float(start)) else float(start),
                               end=None if end is None or math.isnan(float(end)) else float(end)))
        return self._code(Session(session_id=session_id, turns=parsed, reader="turns"), None)
