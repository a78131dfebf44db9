"""``transcript-coder code --config FILE``: every ``code`` option from one YAML or JSON file.

The file holds the options by their :class:`~transcript_coder.batch.CodeOptions` names, plus
``inputs`` and ``out``::

    inputs: [sessions/]
    out: coded_run
    models: [models/annomi, models/goemotions]
    unit: sentence
    therapist: ["Dr. Lee"]
    reader: {speaker_columns: [Name], text_columns: [Said]}
    batch_size: 32

A run's ``run.json`` is valid input too: its resolved ``config`` block (unit, layout, reader,
roles, scores, codebooks, runtime, limits) and its models' paths are read, so a lab re-runs a
published coding from the one file a methods section cites. When a config file or model recorded
there has changed since (its sha256 or fingerprint differs), warning E009 says so.

Unknown keys are errors (E002 with the key), as in every config. Options given on the command
line win over the file.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

from pydantic import ConfigDict, Field

from .batch import CodeOptions
from .configfile import StrictModel, file_sha256, read_yaml_mapping, validate_config
from .errors import ConfigError, TranscriptCoderError
from .readers import ReaderOptions

log = logging.getLogger(__name__)


class _Roles(StrictModel):
    """``roles`` as run.json records it (the role overrides and the alias config)."""

    therapist: list[str] = Field(default_factory=list)
    speakers: dict[str, str] = Field(default_factory=dict)
    mapping_file: str | None = None
    sessions: dict[str, dict[str, str]] = Field(default_factory=dict)  # what mapping_file held
    config: str | None = None
    config_sha256: str | None = None


class _Scores(StrictModel):
    config: str | None = None
    config_sha256: str | None = None


class _Limits(StrictModel):
    max_input_mb: float | None = None
    max_units: int | None = None


class _Model(StrictModel):
    """A model as run.json lists it."""

    name: str | None = None
    path: str
    fingerprint: str | None = None
    schemes: list[str] = Field(default_factory=list)


class CodeConfigSchema(StrictModel):
    """The keys a ``--config`` file may hold (all optional). Any other key must be a field of
    :class:`CodeOptions` added since (``device``...): it is checked against the field's default."""

    model_config = ConfigDict(extra="allow", frozen=True)

    inputs: list[str] | None = None
    out: str | None = None
    unit: str | None = None
    models: list[str | _Model] | None = None
    codebooks: str | None = None
    reader: dict[str, str | list[str] | None] | None = None  # ReaderOptions fields, checked below
    therapist: list[str] | None = None
    speaker_roles: dict[str, str] | None = None
    role_mapping: str | None = None
    role_config: str | None = None
    score_config: str | None = None
    roles: _Roles | None = None
    scores: _Scores | None = None
    batch_size: int | None = None
    threads: int | None = None
    force: bool | None = None
    layout: str | None = None
    runtime: str | None = None
    device: str | None = None
    window_units: int | None = None
    jobs: int | None = None
    engine: str | None = None
    ray_address: str | None = None
    ray_actors: int | None = None
    ids: str | None = None
    prune: bool | None = None
    reader_options: str | None = None
    max_input_mb: float | None = None
    max_units: int | None = None
    limits: _Limits | None = None
    tables: list[str] | None = None


@dataclass
class CodeConfig:
    """What a ``--config`` file asks for: inputs and output folder (when it names them) and options."""

    inputs: list[str]
    out: str | None
    options: CodeOptions


def _read(path: Path) -> dict:
    if path.suffix.lower() == ".json":
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError("E007", path=path) from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConfigError("E001", path=path, detail=str(exc)) from None
        if not isinstance(raw, dict):
            raise ConfigError("E002", path=path, key="(top level)", detail="expected a mapping of keys to values")
        return raw
    return read_yaml_mapping(path)


def _warn(path: Path, key: str, detail: str) -> None:
    log.warning("%s", TranscriptCoderError("E009", path=path, key=key, detail=detail))


def _check_sha(path: Path, key: str, config: str | None, recorded: str | None) -> None:
    if config and recorded and Path(config).is_file() and file_sha256(config) != recorded:
        _warn(path, key, f"{config} has changed since the run that recorded it (sha256 {recorded[:12]}...)")


def load_code_config(path: str | Path) -> CodeConfig:
    """Read a ``--config`` file (YAML, JSON, or a run's ``run.json``) into :class:`CodeOptions`.

    Raises:
        ConfigError: E007 missing file, E001 unreadable, E002 an unknown key or a bad value.
    """
    path = Path(path)
    raw = _read(path)
    manifest = "config" in raw and "transcript_coder" in raw  # a run.json
    if manifest:
        raw = {**raw["config"], "models": raw.get("models")}
    config = validate_config(raw, CodeConfigSchema, path)
    values: dict = {}
    for name in ("unit", "codebooks", "batch_size", "threads", "force", "layout", "runtime", "device", "window_units",
                 "jobs", "engine", "ray_address", "ray_actors", "prune", "max_input_mb", "max_units",
                 "role_mapping", "role_config", "score_config", "ids", "reader_options"):
        value = getattr(config, name)
        if value is not None:
            values[name] = value
    if config.tables is not None:
        values["tables"] = tuple(config.tables)
    if config.limits is not None:
        values.update({k: v for k, v in config.limits.model_dump().items() if v is not None})
    therapist, speakers = list(config.therapist or ()), dict(config.speaker_roles or {})
    if config.roles is not None:
        therapist += [t for t in config.roles.therapist if t not in therapist]
        speakers.update(config.roles.speakers)
        if config.roles.mapping_file:
            values["role_mapping"] = config.roles.mapping_file
        elif config.roles.sessions:
            raise ConfigError("E002", path=path, key="roles.sessions",
                              detail="per-session roles need their mapping file (roles.mapping_file)")
        if config.roles.config:
            values["role_config"] = config.roles.config
        _check_sha(path, "roles.config", config.roles.config, config.roles.config_sha256)
    if config.scores is not None:
        if config.scores.config:
            values["score_config"] = config.scores.config
        _check_sha(path, "scores.config", config.scores.config, config.scores.config_sha256)
    if therapist:
        values["therapist"] = tuple(therapist)
    if speakers:
        values["speaker_roles"] = speakers
    if config.models is not None:
        paths = []
        for model in config.models:
            if isinstance(model, str):
                paths.append(Path(model))
                continue
            paths.append(Path(model.path))
            if model.fingerprint:
                _check_fingerprint(path, model)
        values["models"] = tuple(paths)
    for name in ("codebooks", "role_mapping", "role_config", "score_config", "ids", "reader_options"):
        if name in values:
            values[name] = Path(values[name])
    if config.reader is not None:
        reader_fields = {f.name for f in fields(ReaderOptions)}
        for key in config.reader:
            if key not in reader_fields:
                raise ConfigError("E002", path=path, key=f"reader.{key}", detail="unknown key")
        given = {k: (tuple(v) if isinstance(v, list) else v) for k, v in config.reader.items()}
        values["reader"] = replace(ReaderOptions(), **given)
    known = {f.name for f in fields(CodeOptions)}
    defaults = CodeOptions()
    for key, value in (config.model_extra or {}).items():
        if key not in known:
            raise ConfigError("E002", path=path, key=key, detail="unknown key")
        values[key] = _coerce(path, key, value, getattr(defaults, key))
    return CodeConfig(inputs=list(config.inputs or []), out=config.out,
                      options=CodeOptions(**{k: v for k, v in values.items() if k in known}))


def _coerce(path: Path, key: str, value: object, default: object) -> object:
    """``value`` for a :class:`CodeOptions` field whose default is ``default`` (its type decides)."""
    if value is None or isinstance(default, bool) and isinstance(value, bool):
        return value
    if isinstance(default, tuple) and isinstance(value, list):
        return tuple(value)
    if isinstance(default, Path) or default is None and isinstance(value, str):
        return value if default is None else Path(value)
    if isinstance(default, (int, float, str)) and not isinstance(default, bool) and isinstance(value, type(default)):
        return value
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    raise ConfigError("E002", path=path, key=key, detail=f"expected a value like {default!r}, got {value!r}")


def _check_fingerprint(path: Path, model: _Model) -> None:
    from .classify import describe_model

    try:
        now = describe_model(model.path).fingerprint
    except TranscriptCoderError:
        return  # a missing or broken model is reported when the run loads it
    if now != model.fingerprint:
        _warn(path, f"models.{model.name or model.path}",
              f"the model at {model.path} has fingerprint {now}, not the recorded {model.fingerprint}")


def merge_options(given: CodeOptions, from_file: CodeOptions) -> CodeOptions:
    """``given`` (the command line) over ``from_file``: a field still at its default in ``given``
    takes the file's value (reader options field by field)."""
    defaults = CodeOptions()
    merged = {}
    for f in fields(CodeOptions):
        mine, default = getattr(given, f.name), getattr(defaults, f.name)
        if f.name == "reader":
            merged["reader"] = replace(from_file.reader, **{
                r.name: getattr(mine, r.name) for r in fields(ReaderOptions)
                if getattr(mine, r.name) != getattr(default, r.name)})
        else:
            merged[f.name] = mine if mine != default else getattr(from_file, f.name)
    return CodeOptions(**merged)


def resolve_code_config(path: str | Path, inputs: Sequence[str], out: str | None, given: CodeOptions
                        ) -> tuple[list[str], str, CodeOptions]:
    """The inputs, output folder and options of a ``code --config FILE`` call: the command line's
    inputs, ``--out`` and options where given, else the file's.

    Raises:
        UsageError: E402 when neither names inputs or an output folder.
    """
    from .errors import UsageError

    config = load_code_config(path)
    inputs = list(inputs) or config.inputs
    out = out or config.out
    if not inputs:
        raise UsageError("E402", detail=f"no inputs: name them on the command line or as 'inputs' in {path}")
    if not out:
        raise UsageError("E402", detail=f"no output folder: give --out or 'out' in {path}")
    return inputs, out, merge_options(given, config.options)
