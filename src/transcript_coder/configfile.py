"""Reading a YAML configuration file into a strict schema, with errors that name the file and key.

Shared by the role (``configs/roles.yaml``) and score (``configs/scores.yaml``) configs. Schemas
forbid unknown keys, so a typo fails loudly with its path instead of being ignored.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for config schemas: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def read_yaml_mapping(path: str | Path) -> dict:
    """The top-level mapping of a YAML file.

    Raises:
        ConfigError: E007 missing file, E001 unreadable YAML, E002 when the top level is not a mapping.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("E007", path=path) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError("E001", path=path, detail=str(exc).replace("\n", " ")) from None
    if not isinstance(raw, dict):
        raise ConfigError("E002", path=path, key="(top level)", detail="expected a mapping of keys to values")
    return raw


def validate_config(raw: dict, schema: type[M], path: str | Path) -> M:
    """Validate ``raw`` against ``schema``; the first problem is raised as E002 with its dotted key."""
    try:
        return schema.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top level)"
        detail = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        raise ConfigError("E002", path=path, key=key, detail=detail) from None


def load_yaml_config(path: str | Path, schema: type[M]) -> M:
    """Read ``path`` and validate it against ``schema``.

    Raises:
        ConfigError: E007 missing file, E001 unreadable YAML, E002 a key with a bad value (its
            dotted path is in the message).
    """
    return validate_config(read_yaml_mapping(path), schema, path)


def file_sha256(path: str | Path, length: int | None = None) -> str:
    """SHA-256 of a file's bytes (hex; the first ``length`` digits when given)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    text = digest.hexdigest()
    return text[:length] if length else text
