"""Session summaries: coded units to the scores supervisors know.

A :class:`~transcript_coder.types.SessionSummary` holds, for one session, the count of every
code of every coded scheme, the scores defined in ``configs/scores.yaml`` (reflection-to-question
ratio, % complex reflections, % open questions, % change talk, the emotion distribution), the
number of turns per role and the role-inference confidence. The scores are ratios of code counts
named in the config, so no scheme or code is named here.

A score without a denominator is a count (MITI summary scores: MI-adherent, MI-non-adherent); a
selection without ``codes`` counts every unit coded with the scheme (the units a multi-label scheme
coded, with or without codes: "per 100 therapist units"). A score is empty (``None``) when no unit
of the session is coded with the scheme it counts, so a scheme no model provides shows as missing,
not as zero. Multi-label codes count once per code (a unit coded ``affirm;emphasize_autonomy``
adds one to each). A *map* (``maps:``, the relationship map) profiles, for every code of a
multi-label scheme (each figure in the client's life), the units coded with it: how many, their
codes in a profile scheme (emotion) and a share (change talk among change and sustain talk).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field

from .codebook import Codebook, split_codes
from .configfile import StrictModel, load_yaml_config
from .errors import ConfigError
from .paths import project_home
from .types import ROLES, CodedUtterance, SessionSummary


class CodeSelection(StrictModel):
    """Codes ``codes`` of ``scheme`` in a session's units (each code of a multi-label unit counts);
    without ``codes``, the units coded with ``scheme`` at all."""

    scheme: str
    codes: list[str] | None = Field(default=None, min_length=1)


class ScoreSpec(StrictModel):
    """``scale * count(numerator) / count(denominator)``; ``None`` when the denominator is 0. Without
    a denominator, ``scale * count(numerator)`` (a count), ``None`` when no unit is coded with the
    numerator's scheme."""

    description: str = ""
    numerator: CodeSelection
    denominator: CodeSelection | None = None
    scale: float = 1.0


class ShareSpec(StrictModel):
    """A percentage of a profiled figure's units: ``numerator`` codes among ``denominator`` codes."""

    scheme: str
    numerator: list[str] = Field(min_length=1)
    denominator: list[str] = Field(min_length=1)


class MapSpec(StrictModel):
    """For every code (figure) of the multi-label ``scheme``, the units coded with it: their number,
    their codes in ``profile`` and ``share`` (a percentage named ``share_name``)."""

    description: str = ""
    scheme: str
    profile: str | None = None
    share: ShareSpec | None = None
    share_name: str = "pct"


class DistributionSpec(StrictModel):
    """Every code of ``scheme`` as a share (times ``scale``) of the units coded with it."""

    description: str = ""
    scheme: str
    scale: float = 1.0


class ScoreConfig(StrictModel):
    """``configs/scores.yaml``. ``method`` names how scores count codes, and is written to every
    ``sessions.csv`` row: ``hard_counts`` counts each unit's assigned codes. (Expected counts, the
    sums of calibrated probabilities, agreed less with expert codes on AnnoMI validation sessions:
    ``benchmarks/session_scores.py``.)"""

    version: int = Field(ge=1)
    method: Literal["hard_counts"] = "hard_counts"
    scores: dict[str, ScoreSpec] = Field(default_factory=dict)
    distributions: dict[str, DistributionSpec] = Field(default_factory=dict)
    maps: dict[str, MapSpec] = Field(default_factory=dict)

    def map_columns(self, codebook: Codebook) -> list[str]:
        """The ``sessions.csv`` columns of every map: ``<map>.<figure>.units``, ``.<profile>`` and
        ``.<share_name>`` per figure, in codebook order."""
        columns = []
        for name, spec in self.maps.items():
            for figure in codebook[spec.scheme].code_ids:
                columns.append(f"{name}.{figure}.units")
                if spec.profile:
                    columns.append(f"{name}.{figure}.{spec.profile}")
                if spec.share:
                    columns.append(f"{name}.{figure}.{spec.share_name}")
        return columns

    def score_names(self, codebook: Codebook) -> list[str]:
        """Every score key a summary has, in config order (distributions expand per code)."""
        names = list(self.scores)
        for name, spec in self.distributions.items():
            names += [f"{name}.{code}" for code in codebook[spec.scheme].code_ids]
        return names


def default_score_config_path() -> Path:
    """``configs/scores.yaml`` in the project home."""
    return project_home() / "configs" / "scores.yaml"


def load_score_config(path: str | Path | None = None, codebook: Codebook | None = None) -> ScoreConfig:
    """Read and validate the score config; with a codebook, every scheme and code must exist.

    Raises:
        ConfigError: E001/E002/E007 for an unreadable or invalid file, E005 for an unknown
            scheme or code.
    """
    path = Path(path) if path is not None else default_score_config_path()
    config = load_yaml_config(path, ScoreConfig)
    if codebook is not None:
        selections = [(f"scores.{name}.{part}", getattr(spec, part))
                      for name, spec in config.scores.items() for part in ("numerator", "denominator")
                      if getattr(spec, part) is not None]
        for name, spec in config.maps.items():
            selections.append((f"maps.{name}.scheme", CodeSelection(scheme=spec.scheme)))
            if spec.profile:
                selections.append((f"maps.{name}.profile", CodeSelection(scheme=spec.profile)))
            if spec.share:
                selections.append((f"maps.{name}.share", CodeSelection(
                    scheme=spec.share.scheme, codes=spec.share.numerator + spec.share.denominator)))
        for key, selection in selections:
            if selection.scheme not in codebook:
                raise ConfigError("E005", path=path, key=key, ref=selection.scheme)
            for code in selection.codes or ():
                if code not in codebook[selection.scheme].code_ids:
                    raise ConfigError("E005", path=path, key=key, ref=f"{selection.scheme}.{code}")
        for name, spec in config.distributions.items():
            if spec.scheme not in codebook:
                raise ConfigError("E005", path=path, key=f"distributions.{name}", ref=spec.scheme)
    return config


def counted_schemes(codebook: Codebook) -> list[str]:
    """Schemes whose codes are counted per session: everything coded for a therapist, client or
    other speaker (not ``role: any`` schemes such as the one role inference reads)."""
    return [s.id for s in codebook.ordered() if s.role in ROLES]


def count_codes(coded: Sequence[CodedUtterance], codebook: Codebook) -> dict[str, dict[str, int]]:
    """``{scheme: {code: number of units}}`` for every counted scheme, zeros included."""
    counts = {scheme: {code: 0 for code in codebook[scheme].code_ids} for scheme in counted_schemes(codebook)}
    for unit in coded:
        for scheme, code in unit.codes.items():
            if scheme in counts:
                for one in (split_codes(code.code) if codebook[scheme].multi_label else (code.code,)):
                    if one in counts[scheme]:
                        counts[scheme][one] += 1
    return counts


def unavailable_codes(coded: Sequence[CodedUtterance], codebook: Codebook) -> dict[str, list[str]]:
    """The counted codes a session *could not* get: every code of a classifier or rule scheme that
    coded none of the units it applies to although some exist (no model provides it), and every
    roll-up code all of whose rules read such a scheme (``integrative.alliance_building`` while
    ``mi_relational`` has no model). Their counts are unknown, not zero."""
    present = {scheme for unit in coded for scheme in unit.codes}
    missing: dict[str, list[str]] = {}
    for scheme in codebook.ordered():
        if scheme.role not in ROLES or scheme.kind == "rollup" or scheme.id in present:
            continue
        decided = ({s: c.code for s, c in u.codes.items()} for u in coded if u.utterance.role == scheme.role)
        if any(scheme.applies(codes) for codes in decided):
            missing[scheme.id] = list(scheme.code_ids)
    for scheme in codebook.ordered():
        if scheme.role not in ROLES or scheme.kind != "rollup":
            continue
        blocked = [c for c in scheme.code_ids if any(r.code == c for r in scheme.rules)
                   and all(any(s in missing for s in r.when) for r in scheme.rules if r.code == c)]
        if blocked:
            missing[scheme.id] = blocked
    return missing


def coded_units(coded: Sequence[CodedUtterance]) -> dict[str, int]:
    """``{scheme: number of units coded with it}`` (a multi-label unit with no code counts: it was coded)."""
    units: dict[str, int] = {}
    for unit in coded:
        for scheme in unit.codes:
            units[scheme] = units.get(scheme, 0) + 1
    return units


def _selection_count(selection: CodeSelection, counts: dict[str, dict[str, int]], units: dict[str, int]) -> int:
    if selection.codes is None:
        return units.get(selection.scheme, 0)
    return sum(counts.get(selection.scheme, {}).get(c, 0) for c in selection.codes)


def session_maps(coded: Sequence[CodedUtterance], codebook: Codebook, config: ScoreConfig
                 ) -> dict[str, dict[str, dict]]:
    """Every map of ``config``: ``{map: {figure: {"units": n, "profile": {code: n}, "share": pct or None}}}``,
    figures in codebook order; ``{}`` for a map whose scheme codes no unit of the session."""
    maps: dict[str, dict[str, dict]] = {}
    for name, spec in config.maps.items():
        scheme = codebook[spec.scheme]
        if not any(spec.scheme in unit.codes for unit in coded):
            maps[name] = {}
            continue
        figures = {}
        for figure in scheme.code_ids:
            hits = [u for u in coded if spec.scheme in u.codes and figure in split_codes(u.codes[spec.scheme].code)]
            profile = {}
            if spec.profile:
                profile = {c: 0 for c in codebook[spec.profile].code_ids}
                for u in hits:
                    if spec.profile in u.codes:
                        for c in split_codes(u.codes[spec.profile].code):
                            profile[c] = profile.get(c, 0) + 1
            share = None
            if spec.share:
                values = [c for u in hits if spec.share.scheme in u.codes for c in split_codes(u.codes[spec.share.scheme].code)]
                den = sum(values.count(c) for c in spec.share.denominator)
                share = _ratio(sum(values.count(c) for c in spec.share.numerator), den, 100.0)
            figures[figure] = {"units": len(hits), "profile": profile, "share": share}
        maps[name] = figures
    return maps


def _ratio(numerator: int, denominator: int, scale: float) -> float | None:
    return None if denominator == 0 else scale * numerator / denominator


def summarize(session_id: str, coded: Sequence[CodedUtterance], codebook: Codebook, config: ScoreConfig,
              role_confidence: float | None = None) -> SessionSummary:
    """The summary of one coded session.

    ``turns_per_role`` counts turns (not units: with sentence units a turn is counted once) per
    role, every role present as a key.
    """
    counts = count_codes(coded, codebook)
    units = coded_units(coded)
    scores: dict[str, float | None] = {}
    for name, spec in config.scores.items():
        num = _selection_count(spec.numerator, counts, units)
        if spec.denominator is None:
            scores[name] = float(spec.scale * num) if units.get(spec.numerator.scheme) else None
            continue
        den = _selection_count(spec.denominator, counts, units)
        scores[name] = _ratio(num, den, spec.scale)
    for name, spec in config.distributions.items():
        total = sum(counts[spec.scheme].values())
        for code, n in counts[spec.scheme].items():
            scores[f"{name}.{code}"] = _ratio(n, total, spec.scale)
    turns: dict[str, set[int]] = {role: set() for role in ROLES}
    for unit in coded:
        turns.setdefault(unit.utterance.role, set()).add(unit.utterance.turn_index)
    return SessionSummary(session_id=session_id, counts=counts, scores=scores,
                          turns_per_role={role: len(indices) for role, indices in turns.items()},
                          role_confidence=role_confidence, maps=session_maps(coded, codebook, config),
                          unavailable=unavailable_codes(coded, codebook))
