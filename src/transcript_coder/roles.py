"""Who is the therapist: speaker labels to roles, by what the user says, the input says, or the talk.

Every speaker of a session gets a role (``therapist``, ``client`` or ``other``) from the first of
these that decides it:

1. an **override** the user gives: a mapping file entry for this session (``--roles FILE``),
   then ``--role SPEAKER=ROLE``, then ``--therapist LABEL`` (these apply to every session that
   has that speaker);
2. the input's **role column** (``Turn.role``), per turn: a turn whose role cell names a role
   keeps it, whatever its speaker's role is;
3. the transcript's **metadata**: a header line ``Therapist: Dr. Smith`` / ``Client: Jane D.``
   (``Session.metadata``) makes the speaker with that name (``Dr. Smith``, ``Smith``, ``Jane``)
   that role;
4. the **alias map** in ``configs/roles.yaml`` (``Therapist``, ``Counsellor``, ``T``, ``Dr. Lee``
   / ``Client``, ``Patient``, ``C`` / ``Partner``...);
5. **elimination**: one speaker left and one role missing;
6. **inference** for anonymous labels (``SPEAKER_00``, ``Speaker 1``, first names): the
   ``speaker_role`` head's per-unit probabilities, pooled per speaker (see :func:`assign_roles`).

Speakers no step maps (a third person once therapist and client are taken, the reader's
``UNKNOWN`` speaker) are ``other``: nothing is predicted for them.

The stage is pure: :func:`resolve_roles` reads a :class:`~transcript_coder.types.Session`,
:func:`assign_roles` takes pooled evidence as plain arrays, :func:`attach_roles` returns new
utterances. Reporting (warnings E112, E117, E125, E126) is left to the caller via
:func:`role_warnings`.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from pydantic import Field, model_validator

from .codebook import Codebook
from .configfile import StrictModel, load_yaml_config
from .errors import ConfigError, InputError, TranscriptCoderError, UsageError
from .paths import project_home
from .readers.options import UNKNOWN_SPEAKER
from .types import CLIENT, OTHER, ROLES, THERAPIST, Session, Utterance

log = logging.getLogger(__name__)

#: How a speaker's role was decided, in the order the steps are tried.
SOURCES = ("override", "column", "metadata", "alias", "elimination", "inferred", "unattributed", "unmapped")

RoleName = Literal["therapist", "client", "other"]
_PROBABILITY_FLOOR = 1e-6
#: Forms of address that are part of a written name but not of the person's name.
_HONORIFICS = frozenset({"mr", "mrs", "ms", "miss", "mx"})


# ------------------------------------------------------------------------------------ config
class InferenceSpec(StrictModel):
    """Which scheme role inference pools, which of its codes stands for each role, and the
    confidence below which a session gets warning E117."""

    scheme: str
    codes: dict[Literal["therapist", "client"], str]
    low_confidence: float = Field(default=0.75, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _both_roles(self) -> "InferenceSpec":
        if set(self.codes) != {THERAPIST, CLIENT}:
            raise ValueError("codes must name the code for both 'therapist' and 'client'")
        return self


class RoleConfig(StrictModel):
    """``configs/roles.yaml``: role aliases, title prefixes and how inference decides."""

    version: int = Field(ge=1)
    aliases: dict[RoleName, list[str]]
    title_prefixes: dict[RoleName, list[str]] = Field(default_factory=dict)
    inference: InferenceSpec

    @model_validator(mode="after")
    def _aliases_unique(self) -> "RoleConfig":
        seen: dict[str, str] = {}
        for role, labels in self.aliases.items():
            for label in labels:
                key = label_key(label)
                if not key:
                    raise ValueError(f"alias '{label}' of role '{role}' is empty once punctuation is ignored")
                if seen.setdefault(key, role) != role:
                    raise ValueError(f"alias '{label}' is listed for both '{seen[key]}' and '{role}'")
        return self

    @cached_property
    def alias_index(self) -> dict[str, str]:
        """Normalised label -> role."""
        return {label_key(label): role for role, labels in self.aliases.items() for label in labels}

    @cached_property
    def prefix_index(self) -> dict[str, str]:
        """Normalised title word -> role."""
        return {label_key(word): role for role, words in self.title_prefixes.items() for word in words}


def default_role_config_path() -> Path:
    """``configs/roles.yaml`` in the project home."""
    return project_home() / "configs" / "roles.yaml"


def load_role_config(path: str | Path | None = None, codebook: Codebook | None = None) -> RoleConfig:
    """Read and validate the role config (default ``configs/roles.yaml``).

    With a ``codebook``, the inference scheme and its codes must exist in it.

    Raises:
        ConfigError: E001/E002/E007 for an unreadable or invalid file, E005 for an inference scheme
            or code the codebook lacks.
    """
    path = Path(path) if path is not None else default_role_config_path()
    config = load_yaml_config(path, RoleConfig)
    if codebook is not None:
        scheme_id = config.inference.scheme
        if scheme_id not in codebook:
            raise ConfigError("E005", path=path, key="inference.scheme", ref=scheme_id)
        for code in config.inference.codes.values():
            if code not in codebook[scheme_id].code_ids:
                raise ConfigError("E005", path=path, key="inference.codes", ref=f"{scheme_id}.{code}")
    return config


# ---------------------------------------------------------------------------------- aliases
_PUNCTUATION_RE = re.compile(r"[^\w]+|_+")
_PAREN_RE = re.compile(r"\(([^()]*)\)|\[([^\[\]]*)\]")
_TRAILING_ID_RE = re.compile(r"^(?P<base>.*?[a-z])(?: ?\d{1,3}| [a-z])$")


def label_key(label: str) -> str:
    """A speaker label folded for comparison: case, accents kept, punctuation and underscores
    read as spaces (``"Dr. Lee"`` -> ``"dr lee"``, ``"SPEAKER_00"`` -> ``"speaker 00"``)."""
    text = unicodedata.normalize("NFKC", label).casefold()
    return " ".join(_PUNCTUATION_RE.sub(" ", text).split())


def role_from_label(label: str, config: RoleConfig) -> str | None:
    """The role a speaker label names by itself, or ``None`` for an anonymous label.

    Tried in order: the whole label (``"Counsellor"``); a parenthesis naming a role
    (``"Maria (client)"``); the label without a parenthesis (``"Therapist (Jane)"``); an alias
    followed by a number or a letter (``"Therapist 2"``, ``"T1"``, ``"Client B"``); a title prefix
    (``"Dr. Okafor"``).
    """
    key = label_key(label)
    if not key:
        return None
    index = config.alias_index
    if key in index:
        return index[key]
    for match in _PAREN_RE.finditer(label):
        inner = label_key(match.group(1) or match.group(2) or "")
        if inner in index:
            return index[inner]
    outer = label_key(_PAREN_RE.sub(" ", label))
    if outer and outer != key and outer in index:
        return index[outer]
    trailing = _TRAILING_ID_RE.match(key)
    if trailing is not None and trailing.group("base").strip() in index:
        return index[trailing.group("base").strip()]
    words = key.split()
    if len(words) > 1 and words[0] in config.prefix_index:
        return config.prefix_index[words[0]]
    return None


def _name_words(text: str, config: RoleConfig) -> list[str]:
    return [w for w in label_key(text).split() if w not in config.prefix_index and w not in _HONORIFICS]


def names_person(speaker: str, name: str, config: RoleConfig) -> bool:
    """Whether speaker label ``speaker`` names the person a header calls ``name``: the same name,
    or part of it without titles (``Dr. Smith``, ``Smith`` and ``Dr Smith`` for ``Dr. Smith``;
    ``Jane`` for ``Jane D.``; not a bare initial)."""
    speaker_words, name_words = _name_words(speaker, config), _name_words(name, config)
    return (bool(speaker_words) and all(w in name_words for w in speaker_words)
            and any(len(w) > 1 for w in speaker_words))


def metadata_roles(session: Session, config: RoleConfig) -> dict[str, str]:
    """Roles the transcript's header gives its speakers: ``{speaker: role}`` for each speaker
    whose label names the person of a ``Therapist: <name>`` / ``Client: <name>`` header line (the
    header's label is read with the alias map). A speaker matching both roles' names gets none."""
    named: list[tuple[str, str]] = []
    for label, name in session.metadata.items():
        role = role_from_label(label, config)
        if role in (THERAPIST, CLIENT) and name.strip():
            named.append((role, name))
    roles: dict[str, str] = {}
    for speaker in session.speakers:
        matches = {role for role, name in named if names_person(speaker, name, config)}
        if len(matches) == 1:
            roles[speaker] = matches.pop()
    return roles


def parse_role(value: str, config: RoleConfig) -> str | None:
    """A role named by a role cell, a mapping file or ``--role`` (``"Therapist"``, ``"patient"``,
    ``"other"``), or ``None`` when the value names no role."""
    key = label_key(value)
    if key in ROLES:
        return key
    return config.alias_index.get(key)


def parse_speaker_roles(roles: Mapping[str, str], config: RoleConfig) -> tuple[tuple[str, str], ...]:
    """``{speaker label: role name}`` (``--role``, ``Coder(roles=...)``) as ``(label, role)`` pairs.

    Raises:
        UsageError: E404 for a role name that names no role.
    """
    pairs = []
    for label, text in roles.items():
        role = parse_role(text, config)
        if role is None:
            raise UsageError("E404", roles=", ".join(ROLES), value=f"{label}={text}")
        pairs.append((label, role))
    return tuple(pairs)


# -------------------------------------------------------------------------------- overrides
@dataclass(frozen=True)
class RoleOverrides:
    """Roles the user states.

    Attributes:
        therapist: labels that are the therapist in every session that has them (``--therapist``).
        speakers: ``(label, role)`` pairs for every session (``--role SPEAKER=ROLE``).
        sessions: per-session ``{session_id: {label: role}}`` from a mapping file; the session id
            ``"*"`` applies to every session.
        source: the mapping file, for the run manifest.
    """

    therapist: tuple[str, ...] = ()
    speakers: tuple[tuple[str, str], ...] = ()
    sessions: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    source: Path | None = None

    def for_session(self, session_id: str) -> dict[str, str]:
        """``{label_key: role}`` that applies to ``session_id`` (mapping file beats ``--role``
        beats ``--therapist``)."""
        found: dict[str, str] = {}
        for label in self.therapist:
            found[label_key(label)] = THERAPIST
        for label, role in self.speakers:
            found[label_key(label)] = role
        for scope in ("*", session_id):
            for label, role in self.sessions.get(scope, {}).items():
                found[label_key(label)] = role
        return found

    def serialize(self) -> dict:
        """A JSON-ready dict, for the run manifest."""
        return {
            "therapist": list(self.therapist),
            "speakers": {label: role for label, role in self.speakers},
            "mapping_file": str(self.source) if self.source else None,
            "sessions": {sid: dict(entries) for sid, entries in sorted(self.sessions.items())},
        }


def split_role_option(value: str) -> tuple[str, str]:
    """``"SPEAKER_01=client"`` -> ``("SPEAKER_01", "client")`` (split at the last ``=``); the role
    text is checked later, against the alias map.

    Raises:
        UsageError: E404 when there is no ``=`` or either side is empty.
    """
    label, sep, role_text = value.rpartition("=")
    if not sep or not label.strip() or not role_text.strip():
        raise UsageError("E404", roles=", ".join(ROLES), value=value)
    return label.strip(), role_text.strip()


def _mapping_error(path: Path, line: int, detail: str) -> UsageError:
    return UsageError("E403", path=path, line=line or None, at=f" line {line}" if line else "", detail=detail)


def load_role_mapping(path: str | Path, config: RoleConfig) -> dict[str, dict[str, str]]:
    """Read a mapping file of ``session_id, speaker, role`` into ``{session_id: {speaker: role}}``.

    CSV or TSV with a header naming those three columns, or YAML / JSON: either a list of
    ``{session_id, speaker, role}`` records or a mapping ``{session_id: {speaker: role}}``. A
    session id of ``*`` applies to every session.

    Raises:
        UsageError: E403 naming the file (and the line, where one applies) for anything it cannot use.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise _mapping_error(path, 0, detail="file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _mapping_error(path, 0, detail=f"cannot read it ({exc})") from None
    records: list[tuple[int, object, object, object]] = []
    if path.suffix.lower() in (".yaml", ".yml", ".json"):
        try:
            raw = yaml.safe_load(text) if path.suffix.lower() != ".json" else json.loads(text)
        except (yaml.YAMLError, json.JSONDecodeError) as exc:
            raise _mapping_error(path, getattr(exc, "lineno", 0) or 0,
                             detail=f"not valid {path.suffix[1:].upper()}: {str(exc).splitlines()[0]}") from None
        if isinstance(raw, dict):
            for session_id, entries in raw.items():
                if not isinstance(entries, dict):
                    raise _mapping_error(path, 0,
                                     detail=f"session '{session_id}' must map speakers to roles")
                records += [(0, session_id, speaker, role) for speaker, role in entries.items()]
        elif isinstance(raw, list):
            for number, item in enumerate(raw, 1):
                if not isinstance(item, dict):
                    raise _mapping_error(path, number, detail="expected {session_id, speaker, role}")
                records.append((number, item.get("session_id"), item.get("speaker"), item.get("role")))
        else:
            raise _mapping_error(path, 0, detail="expected a list of records or a mapping")
    else:
        first = text.split("\n", 1)[0]
        delimiter = "\t" if first.count("\t") > first.count(",") else ","
        reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
        fields = {label_key(name): name for name in (reader.fieldnames or [])}
        needed = {"session id": None, "speaker": None, "role": None}
        for key in needed:
            needed[key] = fields.get(key) or fields.get(key.replace(" ", ""))
        missing = [key.replace(" ", "_") for key, name in needed.items() if name is None]
        if missing:
            raise _mapping_error(path, 1, detail=f"missing column(s) {', '.join(missing)}")
        for row in reader:
            records.append((reader.line_num, row[needed["session id"]], row[needed["speaker"]], row[needed["role"]]))
    mapping: dict[str, dict[str, str]] = {}
    for line, session_id, speaker, role_text in records:
        if not str(session_id or "").strip() or not str(speaker or "").strip():
            raise _mapping_error(path, line, detail="session_id and speaker must not be empty")
        role = parse_role(str(role_text or ""), config)
        if role is None:
            raise _mapping_error(path, line,
                             detail=f"unknown role '{role_text}' (expected one of {', '.join(ROLES)})")
        mapping.setdefault(str(session_id).strip(), {})[str(speaker).strip()] = role
    return mapping


# ------------------------------------------------------------------------------- assignment
@dataclass
class SpeakerRole:
    """One speaker's role and how it was decided.

    ``therapist_probability`` is the pooled evidence (the sigmoid of the mean per-unit log-odds
    that the unit is the therapist's) when the inference scheme was predicted for the speaker.
    """

    speaker: str
    role: str | None
    source: str | None = None
    units: int = 0
    therapist_probability: float | None = None


@dataclass
class RoleAssignment:
    """Roles for every speaker of a session, per-turn role-column exceptions, and the confidence
    of whatever part was inferred (``None`` when nothing was)."""

    speakers: dict[str, SpeakerRole]
    turn_roles: dict[int, str] = field(default_factory=dict)
    confidence: float | None = None

    @property
    def unresolved(self) -> list[str]:
        """Speakers no step has decided yet (before :func:`assign_roles`)."""
        return [s.speaker for s in self.speakers.values() if s.role is None]

    def role_of(self, speaker: str, turn_index: int) -> str:
        """The role of one turn: its role cell if it had one, else its speaker's role."""
        if turn_index in self.turn_roles:
            return self.turn_roles[turn_index]
        entry = self.speakers.get(speaker)
        return entry.role if entry is not None and entry.role is not None else OTHER

    @property
    def method(self) -> str:
        """The steps that decided the therapist and client speakers (``"alias"``,
        ``"inferred"``, ``"column+alias"``)."""
        used = {s.source for s in self.speakers.values() if s.role in (THERAPIST, CLIENT) and s.source}
        if self.turn_roles:
            used.add("column")
        return "+".join(source for source in SOURCES if source in used)

    def describe(self) -> str:
        """``"SPEAKER_00=therapist (0.91), SPEAKER_01=client (0.12)"`` for messages."""
        parts = []
        for entry in self.speakers.values():
            evidence = f" ({entry.therapist_probability:.2f})" if entry.therapist_probability is not None else ""
            parts.append(f"{entry.speaker}={entry.role or '?'}{evidence}")
        return ", ".join(parts)

    def serialize(self) -> dict:
        """A JSON-ready dict (turn indices become string keys)."""
        return {
            "speakers": [vars(entry).copy() for entry in self.speakers.values()],
            "turn_roles": {str(k): v for k, v in sorted(self.turn_roles.items())},
            "confidence": self.confidence,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> "RoleAssignment":
        """Inverse of :meth:`serialize`."""
        speakers = {entry["speaker"]: SpeakerRole(**entry) for entry in data["speakers"]}
        return cls(speakers=speakers, turn_roles={int(k): v for k, v in data["turn_roles"].items()},
                   confidence=data["confidence"])


def resolve_roles(session: Session, config: RoleConfig, overrides: Mapping[str, str] | None = None,
                  unattributed: Sequence[str] = (UNKNOWN_SPEAKER,)) -> RoleAssignment:
    """Roles that follow from what the user and the input say (steps 1-3), before any inference.

    Args:
        session: the transcript as read.
        config: the role config.
        overrides: ``{label_key: role}`` for this session (:meth:`RoleOverrides.for_session`).
        unattributed: labels a reader gives turns whose speaker the input does not state; these
            are ``other`` unless overridden, and never enter inference.

    Returns:
        An assignment in which undecided speakers have ``role=None``.
    """
    overrides = dict(overrides or {})
    unattributed_keys = {label_key(label) for label in unattributed}
    column: dict[str, Counter] = {}
    turn_roles: dict[int, str] = {}
    units: Counter = Counter(turn.speaker for turn in session.turns)
    for index, turn in enumerate(session.turns):
        if not turn.role:
            continue
        role = parse_role(turn.role, config)
        if role is None:
            log.info("%s: turn %d: role cell '%s' names no role; ignored", session.source, index, turn.role)
            continue
        column.setdefault(turn.speaker, Counter())[role] += 1
        if label_key(turn.speaker) not in overrides:
            turn_roles[index] = role
    speakers: dict[str, SpeakerRole] = {}
    from_metadata = metadata_roles(session, config) if session.metadata else {}
    for speaker in session.speakers:
        key = label_key(speaker)
        entry = SpeakerRole(speaker=speaker, role=None, units=units[speaker])
        if key in overrides:
            entry.role, entry.source = overrides[key], "override"
        elif speaker in column:
            entry.role, entry.source = column[speaker].most_common(1)[0][0], "column"
        elif speaker in from_metadata:
            entry.role, entry.source = from_metadata[speaker], "metadata"
        elif key in unattributed_keys:
            entry.role, entry.source = OTHER, "unattributed"
        else:
            alias = role_from_label(speaker, config)
            if alias is not None:
                entry.role, entry.source = alias, "alias"
        speakers[speaker] = entry
    # Only keep per-turn role cells that differ from their speaker's role: the rest add nothing.
    turn_roles = {i: r for i, r in turn_roles.items() if r != speakers[session.turns[i].speaker].role}
    return RoleAssignment(speakers=speakers, turn_roles=turn_roles)


def needs_evidence(known: RoleAssignment) -> bool:
    """Whether :func:`assign_roles` needs pooled evidence to finish ``known``: some speaker is
    undecided and neither "every role is taken" nor elimination settles it."""
    unresolved = known.unresolved
    if not unresolved:
        return False
    missing = _missing_roles(known)
    if not missing:
        return False
    return not (len(unresolved) == 1 and len(missing) == 1)


def _missing_roles(known: RoleAssignment) -> list[str]:
    present = {s.role for s in known.speakers.values()} | set(known.turn_roles.values())
    return [role for role in (THERAPIST, CLIENT) if role not in present]


def pool_evidence(speakers: Sequence[str], probabilities: np.ndarray, labels: Sequence[str],
                  config: RoleConfig) -> dict[str, np.ndarray]:
    """Per speaker, each unit's probability of being the therapist's.

    ``probabilities`` are the inference scheme's rows (one per unit, columns in ``labels`` order);
    ``speakers[i]`` is unit ``i``'s speaker. The therapist and client codes' probabilities are
    renormalised against each other, so a head with extra codes still gives a two-way split.
    """
    codes = config.inference.codes
    t_col, c_col = list(labels).index(codes[THERAPIST]), list(labels).index(codes[CLIENT])
    p_t, p_c = probabilities[:, t_col].astype(float), probabilities[:, c_col].astype(float)
    share = p_t / np.maximum(p_t + p_c, _PROBABILITY_FLOOR)
    pooled: dict[str, list[float]] = {}
    for speaker, value in zip(speakers, share):
        if not math.isnan(value):
            pooled.setdefault(speaker, []).append(float(value))
    return {speaker: np.asarray(values) for speaker, values in pooled.items()}


def mean_log_odds(p_therapist: np.ndarray) -> float:
    """The mean over a speaker's units of ``log(p / (1 - p))``, ``p`` the therapist probability.

    The mean (not the sum, which naive Bayes would use) keeps the pooled evidence on the scale
    of one unit: consecutive units of a speaker are far from independent, and summing would make
    any session look certain.
    """
    p = np.clip(np.asarray(p_therapist, dtype=float), _PROBABILITY_FLOOR, 1 - _PROBABILITY_FLOOR)
    return float(np.mean(np.log(p) - np.log1p(-p))) if p.size else 0.0


def _softmax_pick(scores: dict[str, float], pick: str) -> float:
    top = max(scores.values())
    weights = {s: math.exp(v - top) for s, v in scores.items()}
    return weights[pick] / sum(weights.values())


def assign_roles(known: RoleAssignment, evidence: Mapping[str, np.ndarray] | None = None,
                 session: Session | None = None, scheme: str = "") -> RoleAssignment:
    """Finish an assignment: elimination, inference from pooled evidence, and ``other`` for the rest.

    Inference works on each undecided speaker's score ``m`` = :func:`mean_log_odds` of its units'
    therapist probabilities. A missing therapist is the undecided speaker with the highest ``m``,
    a missing client the one (of those left) with the lowest. Each pick's confidence is the
    softmax of the scores over the candidates at that pick; with two speakers, that is
    ``sigmoid(m_therapist - m_client)``: the probability the classifier itself would give the
    swap decision for one average unit of each. The session's confidence is its least
    confident pick. A lone undecided speaker who could be either role (a one-speaker session)
    is the therapist when ``m > 0``, with confidence ``sigmoid(|m|)``. Speakers left over are
    ``other``.

    Args:
        known: the result of :func:`resolve_roles` (not modified).
        evidence: per-speaker therapist probabilities (:func:`pool_evidence`), needed only when
            :func:`needs_evidence` says so.
        session: for error messages.
        scheme: the inference scheme's name, for error messages.

    Raises:
        InputError: E118 when evidence is needed but ``None`` (no model provides the scheme).
    """
    speakers = {name: replace(entry) for name, entry in known.speakers.items()}
    result = RoleAssignment(speakers=speakers, turn_roles=dict(known.turn_roles))
    unresolved = result.unresolved
    if not unresolved:
        return result
    missing = _missing_roles(known)
    for name in unresolved:
        if evidence is not None and name in evidence and len(evidence[name]):
            speakers[name].therapist_probability = 1.0 / (1.0 + math.exp(-mean_log_odds(evidence[name])))
    if missing and len(unresolved) == 1 and len(missing) == 1:
        speakers[unresolved[0]].role, speakers[unresolved[0]].source = missing[0], "elimination"
        return result
    if missing:
        if evidence is None:
            path = session.source if session is not None and session.source else "<input>"
            raise InputError("E118", path=path, speakers=", ".join(repr(s) for s in unresolved), scheme=scheme)
        scores = {name: mean_log_odds(evidence.get(name, np.empty(0))) for name in unresolved}
        confidences: list[float] = []
        if len(missing) == 2 and len(unresolved) == 1:
            name, m = unresolved[0], scores[unresolved[0]]
            speakers[name].role = THERAPIST if m > 0 else CLIENT
            speakers[name].source = "inferred"
            confidences.append(1.0 / (1.0 + math.exp(-abs(m))))
        else:
            remaining = dict(scores)
            if THERAPIST in missing:
                pick = max(remaining, key=lambda s: (remaining[s], -unresolved.index(s)))
                confidences.append(_softmax_pick(remaining, pick))
                speakers[pick].role, speakers[pick].source = THERAPIST, "inferred"
                del remaining[pick]
            if CLIENT in missing and remaining:
                negated = {s: -v for s, v in remaining.items()}
                pick = max(negated, key=lambda s: (negated[s], -unresolved.index(s)))
                confidences.append(_softmax_pick(negated, pick))
                speakers[pick].role, speakers[pick].source = CLIENT, "inferred"
        result.confidence = min(confidences)
    for name in result.unresolved:
        speakers[name].role, speakers[name].source = OTHER, "unmapped"
    return result


def attach_roles(units: Sequence[Utterance], assignment: RoleAssignment) -> list[Utterance]:
    """The units with their roles set from ``assignment`` (new objects; inputs untouched)."""
    return [replace(u, role=assignment.role_of(u.speaker, u.turn_index)) for u in units]


def role_warnings(session: Session, assignment: RoleAssignment, config: RoleConfig) -> list[TranscriptCoderError]:
    """Things about a finished assignment the user should check, as (unraised) errors:
    E112 for a session with one speaker, E117 when inferred roles have low confidence, E125 for
    each speaker with several turns that is neither therapist nor client (unless the user said
    so), and E126 when the therapist or the client has a single turn (a header line read as a
    turn, a mislabelled line)."""
    path = session.source or session.session_id
    warnings: list[TranscriptCoderError] = []
    named = [s for s in assignment.speakers.values() if s.source != "unattributed"]
    if len(named) == 1:
        warnings.append(InputError("E112", path=path, speaker=named[0].speaker, role=named[0].role))
    threshold = config.inference.low_confidence
    if assignment.confidence is not None and assignment.confidence < threshold and len(named) > 1:
        warnings.append(InputError("E117", path=path, confidence=assignment.confidence, threshold=threshold,
                                   assignment=assignment.describe()))
    for entry in named:
        if entry.role == OTHER and entry.source != "override" and entry.units > 1:
            warnings.append(InputError("E125", path=path, speaker=entry.speaker, turns=entry.units))
    if len(named) > 1:
        turns_of: dict[str, list[int]] = {}
        for index, turn in enumerate(session.turns):
            turns_of.setdefault(assignment.role_of(turn.speaker, index), []).append(index)
        for role in (THERAPIST, CLIENT):
            if len(turns_of.get(role, ())) == 1:
                turn = session.turns[turns_of[role][0]]
                warnings.append(InputError("E126", path=path, role=role, speaker=turn.speaker, line=turn.line,
                                           at=f", line {turn.line}" if turn.line is not None else ""))
    return warnings

