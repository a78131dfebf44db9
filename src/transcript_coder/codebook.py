"""Codebooks: the coding schemes, their codes and the conditions under which they apply.

Schemes live once, in ``configs/codebooks/*.yaml``; every other part of the package (training,
model loading, coding, summaries, reports) reads labels from here. Files are validated on load
against a schema that rejects unknown keys, so a typo fails with the file and the key's path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from .configfile import StrictModel, load_yaml_config
from .errors import ConfigError
from .paths import codebooks_dir

_ID_PATTERN = r"^[a-z][a-z0-9_]*$"

#: A multi-label cell lists its code ids in codebook order joined by this (``affirm;persuade``).
MULTI_SEPARATOR = ";"
#: What a reviewer types in a multi-label ``reviewed_`` cell for "none of the codes" (an empty
#: reviewed cell means "not reviewed").
NO_CODES = "none"


def split_codes(cell: str | None) -> list[str]:
    """The code ids of a cell: ``"a;b"`` -> ``["a", "b"]``; empty or ``None`` -> ``[]``. A
    single-label cell gives its one code."""
    return [c.strip() for c in cell.split(MULTI_SEPARATOR) if c.strip()] if cell else []


def join_codes(scheme: "Scheme", codes) -> str:
    """The cell of a set of ``scheme``'s code ids: codebook order, joined, each once; ``""`` when none."""
    chosen = set(codes)
    return MULTI_SEPARATOR.join(c for c in scheme.code_ids if c in chosen)


class CodeSpec(StrictModel):
    """One code of a scheme: its id (used in files and models), display name and definition."""

    id: str = Field(pattern=_ID_PATTERN)
    name: str = Field(min_length=1)
    definition: str = Field(min_length=1)


class Condition(StrictModel):
    """A scheme applies to a unit only when another scheme's code is one of ``codes``."""

    scheme: str = Field(pattern=_ID_PATTERN)
    codes: list[str] = Field(min_length=1)


class RollupRule(StrictModel):
    """``code`` is assigned when, for every scheme in ``when``, the unit's code is in the list."""

    code: str
    when: dict[str, list[str]] = Field(min_length=1)


class Scheme(StrictModel):
    """A coding scheme: who it applies to, its codes, and (for a roll-up) the mapping rules.

    ``role: any`` marks a scheme predicted for every unit whatever its speaker (``speaker_role``,
    which role inference reads); it is not written as a code column.

    ``kind: classifier`` schemes are predicted by a model head; ``kind: rollup`` schemes are
    derived from other schemes' codes by ``rules`` (first match wins, else ``default``; with
    ``multi_label`` every matching rule's code); ``kind: rules`` schemes are assigned from the
    unit's text by the registered ``tagger`` (:mod:`transcript_coder.taggers`) reading ``lexicon``
    (a file path relative to the scheme file), no model involved.

    ``multi_label: true`` codes a unit with a *set* of the scheme's codes (possibly empty), written
    as the code ids in codebook order joined by :data:`MULTI_SEPARATOR`; otherwise a unit has one code.
    """

    id: str = Field(pattern=_ID_PATTERN)
    version: int = Field(ge=1)
    name: str = Field(min_length=1)
    role: Literal["therapist", "client", "other", "any"]
    kind: Literal["classifier", "rollup", "rules"] = "classifier"
    multi_label: bool = False
    tagger: str | None = None
    lexicon: str | None = None
    source: str = ""
    description: str = ""
    applies_when: Condition | None = None
    codes: list[CodeSpec] = Field(min_length=2)
    rules: list[RollupRule] = Field(default_factory=list)
    default: str | None = None

    @field_validator("codes")
    @classmethod
    def _unique_codes(cls, codes: list[CodeSpec]) -> list[CodeSpec]:
        ids = [c.id for c in codes]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"code id(s) defined twice: {', '.join(dupes)}")
        return codes

    @model_validator(mode="after")
    def _rollup_fields(self) -> "Scheme":
        ids = set(self.code_ids)
        if self.kind == "rollup":
            if not self.rules:
                raise ValueError("a rollup scheme needs 'rules'")
            for rule in self.rules:
                if rule.code not in ids:
                    raise ValueError(f"rule code '{rule.code}' is not one of this scheme's codes")
            if self.default is not None and self.default not in ids:
                raise ValueError(f"default '{self.default}' is not one of this scheme's codes")
        elif self.rules or self.default is not None:
            raise ValueError("'rules' and 'default' are only for kind: rollup")
        if self.kind == "rules" and not self.tagger:
            raise ValueError("a kind: rules scheme needs 'tagger' (a registered tagger name)")
        if self.kind != "rules" and (self.tagger or self.lexicon):
            raise ValueError("'tagger' and 'lexicon' are only for kind: rules")
        if self.multi_label and NO_CODES in ids:
            raise ValueError(f"a multi_label scheme cannot have a code '{NO_CODES}' (it marks an empty set in reviews)")
        return self

    @property
    def code_ids(self) -> list[str]:
        """Code ids in codebook order."""
        return [c.id for c in self.codes]

    def code(self, code_id: str) -> CodeSpec:
        """The code with this id (KeyError if none)."""
        for c in self.codes:
            if c.id == code_id:
                return c
        raise KeyError(code_id)

    def applies(self, codes: dict[str, str]) -> bool:
        """Whether this scheme applies to a unit whose other schemes coded it as ``codes``."""
        cond = self.applies_when
        return cond is None or codes.get(cond.scheme) in cond.codes

    def roll_up(self, codes: dict[str, str]) -> str | None:
        """The roll-up code for a unit already coded with ``codes`` (rollup schemes only).

        A condition on a multi-label scheme holds when any of the unit's codes of it is allowed
        (``codes`` holds its :data:`MULTI_SEPARATOR`-joined cell). A multi-label roll-up gets every
        matching rule's code, in codebook order and joined; the others the first match's.
        """
        matched = [rule.code for rule in self.rules
                   if all(set(split_codes(codes.get(scheme))) & set(allowed) for scheme, allowed in rule.when.items())]
        if not matched:
            return self.default
        return join_codes(self, matched) if self.multi_label else matched[0]

    def schemes_read(self, code_id: str | None = None) -> list[str]:
        """The schemes this roll-up's rules read (only the rules of ``code_id`` when given), sorted."""
        return sorted({s for rule in self.rules if code_id in (None, rule.code) for s in rule.when})


@dataclass(frozen=True)
class Codebook:
    """All schemes from one codebook folder, keyed by scheme id, with their source files."""

    schemes: dict[str, Scheme]
    files: dict[str, Path]

    def __getitem__(self, scheme_id: str) -> Scheme:
        try:
            return self.schemes[scheme_id]
        except KeyError:
            raise ConfigError("E004", scheme=scheme_id, known=", ".join(sorted(self.schemes))) from None

    def __contains__(self, scheme_id: object) -> bool:
        return scheme_id in self.schemes

    def __iter__(self):
        return iter(self.schemes.values())

    def for_role(self, role: str, kind: str | None = None) -> list[Scheme]:
        """Schemes that apply to speakers of ``role``, optionally of one ``kind``, in dependency order."""
        return [s for s in self.ordered() if s.role == role and (kind is None or s.kind == kind)]

    def ordered(self) -> list[Scheme]:
        """Schemes ordered so that each comes after the schemes its condition or rules read
        (computed once per set of schemes: coding asks for it for every unit)."""
        key = tuple(self.schemes)
        cached = self.__dict__.get("_ordered")
        if cached is not None and cached[0] == key:
            return list(cached[1])
        done: dict[str, Scheme] = {}

        def visit(scheme: Scheme) -> None:
            if scheme.id in done:
                return
            deps = [scheme.applies_when.scheme] if scheme.applies_when else []
            deps += [s for rule in scheme.rules for s in rule.when]
            for dep in deps:
                visit(self.schemes[dep])
            done[scheme.id] = scheme

        for scheme in sorted(self.schemes.values(), key=lambda s: s.id):
            visit(scheme)
        self.__dict__["_ordered"] = (key, tuple(done.values()))
        return list(done.values())

    def lexicon_path(self, scheme_id: str) -> Path | None:
        """The lexicon file of a ``kind: rules`` scheme, resolved against its scheme file's folder."""
        scheme = self[scheme_id]
        return None if scheme.lexicon is None else (self.files[scheme_id].parent / scheme.lexicon).resolve()

    def versions(self) -> dict[str, int]:
        """Scheme id -> version, for run manifests."""
        return {s.id: s.version for s in self.schemes.values()}


def load_scheme(path: str | Path) -> Scheme:
    """Read and validate one scheme file; errors name the file and the offending key."""
    return load_yaml_config(path, Scheme)


def load_codebook(directory: str | Path | None = None) -> Codebook:
    """Load every ``*.yaml`` scheme in ``directory`` (default: ``configs/codebooks``) and check
    that conditions and roll-up rules refer to schemes and codes that exist."""
    directory = Path(directory) if directory is not None else codebooks_dir()
    if not directory.is_dir():
        raise ConfigError("E007", path=directory)
    files = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml"))
    if not files:
        raise ConfigError("E006", path=directory)
    schemes: dict[str, Scheme] = {}
    sources: dict[str, Path] = {}
    for path in files:
        scheme = load_scheme(path)
        if scheme.id in schemes:
            raise ConfigError("E003", path=path, scheme=scheme.id, other=sources[scheme.id])
        schemes[scheme.id] = scheme
        sources[scheme.id] = path
    for scheme in schemes.values():
        path = sources[scheme.id]
        if scheme.lexicon is not None and not (path.parent / scheme.lexicon).is_file():
            raise ConfigError("E002", path=path, key="lexicon", detail=f"file not found: {path.parent / scheme.lexicon}")
        refs: list[tuple[str, str, list[str]]] = []
        if scheme.applies_when:
            refs.append(("applies_when", scheme.applies_when.scheme, scheme.applies_when.codes))
        for i, rule in enumerate(scheme.rules):
            refs += [(f"rules.{i}.when", s, codes) for s, codes in rule.when.items()]
        for key, ref_scheme, ref_codes in refs:
            if ref_scheme not in schemes:
                raise ConfigError("E005", path=path, key=key, ref=ref_scheme)
            for code in ref_codes:
                if code not in schemes[ref_scheme].code_ids:
                    raise ConfigError("E005", path=path, key=key, ref=f"{ref_scheme}.{code}")
    return Codebook(schemes=schemes, files=sources)
