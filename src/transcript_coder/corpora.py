"""Training and evaluation data readers, built on Hugging Face ``datasets``.

Every reader returns a :class:`datasets.Dataset` with the same columns, so training and evaluation
never care where the data came from:

``text``        the unit's text
``context``     the preceding turns of the same session, stored as segmentation stores a unit's
                (:mod:`transcript_coder.contexts`), or ``""``
``role``        therapist / client / other (also the ``speaker_role`` label, when the codebook has
                that scheme: the head that infers roles for anonymous speakers)
``group``       the unit that must not be split across train and validation (AnnoMI: the source
                video; coded CSV: the session; GoEmotions: the comment itself)
``session_id``, ``turn_index``
one column per scheme: a list of code ids (empty = not labelled for that scheme; single-label
schemes hold one code, multi-label ones may hold several)

Readers registered here (``annomi.v1``, ``goemotions.v1``, ``coded_csv.v1``) take paths as
arguments; nothing is downloaded.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Sequence
from pathlib import Path

from datasets import Dataset, Features, Sequence as SequenceFeature, Value

from .codebook import Codebook
from .contexts import MAX_CONTEXT_TURNS, clean_turn, history, same_speaker
from .errors import DataError
from .registry import Registry
from .types import ROLES

log = logging.getLogger(__name__)

corpora: Registry = Registry("training data format")

#: Columns of the generic coded-CSV layout (one column per scheme follows them).
CODED_CSV_COLUMNS = ("session_id", "turn_index", "role", "text")

#: Multi-label cells in a coded CSV separate codes with this character.
CODE_SEPARATOR = "|"

#: The scheme whose head predicts a unit's speaker role from its text (used to infer roles).
SPEAKER_ROLE = "speaker_role"


#: Training sets pooled from several sources say which source each row came from in this column.
SOURCE_COLUMN = "source"


def features_for(schemes: Sequence[str]) -> Features:
    """The columns of a dataset with these scheme columns (as every reader here makes them)."""
    cols = {
        "text": Value("string"),
        "context": Value("string"),
        "role": Value("string"),
        "group": Value("string"),
        "session_id": Value("string"),
        "turn_index": Value("int32"),
    }
    cols.update({s: SequenceFeature(Value("string")) for s in schemes})
    return Features(cols)


def _with_context(rows: list[dict], context_turns: int) -> None:
    """Fill each row's ``context`` as segmentation fills a unit's: the preceding turns with text of
    its session (up to :data:`~transcript_coder.contexts.MAX_CONTEXT_TURNS`, however many the model
    reads: each model renders its own number), stored by :func:`transcript_coder.contexts.history`.

    Rows must be in session order. Rows of one turn (sentence units: same ``turn_index``) share
    the context of their turn and make one turn of the later rows' history, their texts joined.
    A turn is marked as said by the row's speaker by its ``speaker`` key where rows have one (coded
    CSVs), else by its role (AnnoMI has two speakers, one per role). ``context_turns`` 0 leaves
    every context empty.
    """
    previous: list[tuple[str, str]] = []
    session = turn = None
    context, texts = "", []
    for row in rows:
        who = row.pop("speaker", None) or row["role"]
        if row["session_id"] != session:
            session, turn, previous = row["session_id"], None, []
        if row["turn_index"] != turn:
            if texts and turn is not None:
                previous.append((turn_speaker, " ".join(texts)))
            turn, turn_speaker, texts = row["turn_index"], who, []
            kept = previous[-MAX_CONTEXT_TURNS:] if context_turns else []
            context = history([(same_speaker(s, who), t) for s, t in kept])
        row["context"] = context
        if clean_turn(row["text"]):
            texts.append(clean_turn(row["text"]))


#: A multi-label cell that was coded and carries no code ("labelled, none"), as opposed to ``[]``
#: (not coded at all). Not a valid code id, so it never collides with one.
NO_CODE = "__none__"


def codes_of(cell: Sequence[str]) -> list[str]:
    """The real codes of a scheme cell (without the :data:`NO_CODE` marker)."""
    return [c for c in cell if c != NO_CODE]


def _team_labels(label_sets: Sequence[str], codebook: Codebook, directory: str | Path | None = None,
                 rounds: Sequence[int] | None = None) -> dict[str, dict[tuple[str, str], list[str]]]:
    """The team's first-pass labels of the annotation ``rounds`` per scheme, keyed by
    (transcript_id, utterance_id); ``directory`` holds one folder per label set (default
    ``data/annotations``; ``rounds`` as :func:`~transcript_coder.annotations.training_rounds` reads them)."""
    from .annotations import COLUMNS, read_pass, rounds_of, training_rounds

    rounds = training_rounds(rounds)  # `team_label_rounds: 2` in a config
    labels: dict[str, dict[tuple[str, str], list[str]]] = {}
    for label_set in label_sets:
        folder = Path(directory) / label_set if directory is not None else None
        units = read_pass(label_set, "pass1", codebook, directory=folder,
                          rounds=rounds_of(label_set, "pass1", rounds, label_sets))
        for scheme in COLUMNS[label_set].values():
            if scheme in codebook:
                labels[scheme] = {key: unit.codes[scheme] for key, unit in units.items()}
    return labels


@corpora.register("annomi.v1")
def read_annomi(path: str | Path, codebook: Codebook, context_turns: int = 1,
                team_labels: Sequence[str] = (), team_labels_dir: str | Path | None = None,
                team_label_rounds: Sequence[int] | None = None) -> Dataset:
    """Read the AnnoMI CSV layout (``AnnoMI-full.csv`` columns; missing values are ``n/a``).

    Therapist rows carry ``therapist_behaviour`` and, where AnnoMI marks the behaviour as present
    (``*_exists``), its subtype; client rows carry ``client_talk_type``. Groups are source videos,
    because several transcripts are cut from one video.

    ``team_labels`` adds the team's own labels (``data/annotations/``, pass 1) by transcript and
    utterance id, e.g. ``[mi_relational]``: an annotated turn with no code gets :data:`NO_CODE`, so a
    multi-label head learns from the many turns that carry none. ``team_label_rounds`` names the
    annotation rounds to read (default ``[1]``, the labels of every fold recorded before round 2;
    ``[1, 2]`` for every round; E524 for a round that does not exist).
    """
    path = Path(path)
    team = _team_labels(team_labels, codebook, team_labels_dir, team_label_rounds)
    required = ["transcript_id", "video_url", "utterance_id", "interlocutor", "utterance_text",
                "main_therapist_behaviour", "client_talk_type", "question_exists", "question_subtype",
                "reflection_exists", "reflection_subtype", "therapist_input_exists", "therapist_input_subtype"]
    subtypes = {
        "question_type": ("question_exists", "question_subtype"),
        "reflection_type": ("reflection_exists", "reflection_subtype"),
        "therapist_input_type": ("therapist_input_exists", "therapist_input_subtype"),
    }
    schemes = ["therapist_behaviour", "client_talk_type", *subtypes, SPEAKER_ROLE, *team]
    schemes = [s for s in schemes if s in codebook]
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError("E301", path=path, columns=", ".join(missing))
        raw = list(reader)
    raw.sort(key=lambda r: (int(r["transcript_id"]), int(r["utterance_id"])))
    rows = []
    for i, r in enumerate(raw, start=2):
        role = r["interlocutor"].strip().lower()
        labels: dict[str, list[str]] = {s: [] for s in schemes}
        if role == "therapist":
            labels["therapist_behaviour"] = [r["main_therapist_behaviour"]]
            for scheme, (exists, subtype) in subtypes.items():
                if scheme in labels and r[exists] == "True" and r[subtype] != "n/a":
                    labels[scheme] = [r[subtype]]
        elif role == "client" and "client_talk_type" in labels:
            labels["client_talk_type"] = [r["client_talk_type"]]
        if SPEAKER_ROLE in labels:
            labels[SPEAKER_ROLE] = [role]
        for scheme, by_key in team.items():
            codes = by_key.get((r["transcript_id"], r["utterance_id"]))
            if codes is not None:
                labels[scheme] = codes or [NO_CODE]
        _check_codes(path, i, {s: codes_of(c) for s, c in labels.items()}, codebook)
        rows.append({"text": r["utterance_text"], "context": "", "role": role, "group": r["video_url"],
                     "session_id": f"annomi-{r['transcript_id']}", "turn_index": int(r["utterance_id"]),
                     **labels})
    _with_context(rows, context_turns)
    return Dataset.from_list(rows, features=features_for(schemes))


@corpora.register("goemotions.v1")
def read_goemotions(path: str | Path, codebook: Codebook, context_turns: int = 0,
                    emotions_file: str | Path | None = None, ekman_file: str | Path | None = None) -> Dataset:
    """Read a GoEmotions TSV (no header: text, comma-separated label ids, comment id).

    Texts are split on tabs, not parsed as CSV (some texts keep literal quotes). Fine labels fill
    ``client_emotion_fine`` and their Ekman groups ``client_emotion``, when those schemes exist.
    ``emotions.txt`` and ``ekman_mapping.json`` are looked up beside the TSV unless given.
    """
    path = Path(path)
    emotions_file = Path(emotions_file) if emotions_file else path.with_name("emotions.txt")
    ekman_file = Path(ekman_file) if ekman_file else path.with_name("ekman_mapping.json")
    fine = emotions_file.read_text(encoding="utf-8").split()
    ekman_of = {"neutral": "neutral"}
    for group, members in json.loads(ekman_file.read_text(encoding="utf-8")).items():
        ekman_of.update({m: group for m in members})
    schemes = [s for s in ("client_emotion", "client_emotion_fine") if s in codebook]
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            line = line.rstrip("\n")
            if not line:
                continue
            parts = line.split("\t")
            if len(parts) != 3:
                raise DataError("E304", path=path, line=line_no, detail=f"expected 3 tab-separated fields, found {len(parts)}")
            text, ids, comment_id = parts
            try:
                names = [fine[int(i)] for i in ids.split(",")]
            except (ValueError, IndexError):
                raise DataError("E304", path=path, line=line_no, detail=f"bad label ids '{ids}'") from None
            labels = {"client_emotion": sorted({ekman_of[n] for n in names}), "client_emotion_fine": names}
            labels = {s: labels[s] for s in schemes}
            _check_codes(path, line_no, labels, codebook)
            rows.append({"text": text, "context": "", "role": "client", "group": comment_id,
                         "session_id": comment_id, "turn_index": 0, **labels})
    return Dataset.from_list(rows, features=features_for(schemes))


@corpora.register("coded_csv.v1")
def read_coded_csv(path: str | Path, codebook: Codebook, context_turns: int = 1,
                   schemes: Sequence[str] | None = None) -> Dataset:
    """Read the generic coded-CSV layout: ``session_id, turn_index, role, text`` and one column per
    scheme holding a code id (empty = not coded; ``a|b`` for several codes of a multi-label scheme).

    Columns named after no scheme are ignored, so the coded CSVs that ``transcript-coder code``
    writes (with their extra columns) train as they are. Every code is checked against the codebook.
    """
    path = Path(path)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = reader.fieldnames or []
        missing = [c for c in CODED_CSV_COLUMNS if c not in fields]
        if missing:
            raise DataError("E301", path=path, columns=", ".join(missing))
        present = [s for s in (schemes or [f for f in fields if f in codebook]) if s in fields]
        for s in schemes or []:
            if s not in fields:
                raise DataError("E301", path=path, columns=s)
        present = [s for s in present if codebook[s].kind == "classifier"]
        derive_role = SPEAKER_ROLE in codebook and SPEAKER_ROLE not in fields
        if derive_role:
            present.append(SPEAKER_ROLE)
        rows = []
        for row_no, r in enumerate(reader, start=2):
            role = (r["role"] or "").strip().lower()
            if role not in ROLES:
                raise DataError("E306", path=path, row=row_no, value=r["role"], roles=", ".join(ROLES))
            try:
                turn_index = int(r["turn_index"])
            except ValueError:
                raise DataError("E304", path=path, line=row_no, detail=f"turn_index '{r['turn_index']}' is not a whole number") from None
            labels = {s: [c.strip() for c in (r[s] or "").split(CODE_SEPARATOR) if c.strip()]
                      for s in present if not (derive_role and s == SPEAKER_ROLE)}
            if derive_role:
                labels[SPEAKER_ROLE] = [role] if role in codebook[SPEAKER_ROLE].code_ids else []
            _check_codes(path, row_no, labels, codebook)
            rows.append({"text": r["text"] or "", "context": "", "role": role, "group": r["session_id"],
                         "session_id": r["session_id"], "turn_index": turn_index, **labels,
                         "speaker": (r.get("speaker") or "").strip()})
    rows.sort(key=lambda r: (r["session_id"], r["turn_index"]))
    _with_context(rows, context_turns)
    return Dataset.from_list(rows, features=features_for(present))


def _check_codes(path: Path, row: int, labels: dict[str, list[str]], codebook: Codebook) -> None:
    for scheme, codes in labels.items():
        known = codebook[scheme].code_ids
        for code in codes:
            if code not in known:
                raise DataError("E302", path=path, row=row, value=code, column=scheme, scheme=scheme)


def read_corpus(format_name: str, path: str | Path, codebook: Codebook, **options) -> Dataset:
    """Read training data of a registered format (``annomi.v1``, ``goemotions.v1``, ``coded_csv.v1``)."""
    if format_name not in corpora:
        raise DataError("E307", name=format_name, known=", ".join(corpora.names()))
    return corpora.get(format_name)(path, codebook, **options)


def labelled_schemes(dataset: Dataset) -> list[str]:
    """The scheme columns of a dataset made by a reader here."""
    base = {"text", "context", "role", "group", "session_id", "turn_index", SOURCE_COLUMN}
    return [c for c in dataset.column_names if c not in base]
