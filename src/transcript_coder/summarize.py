"""Session summaries: coded units to the scores supervisors know.

A :class:`~transcript_coder.types.SessionSummary` holds, for one session, the count of every
code of every coded scheme, the scores defined in ``configs/scores.yaml`` (reflection-to-question
ratio, % complex reflections, % open questions, % change talk, the emotion distribution), the
number of turns per role and the role-inference confidence. The scores are ratios of code counts
named in the config, so no scheme or code is named here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import Field

from .codebook import Codebook
from .configfile import StrictModel, load_yaml_config
from .errors import ConfigError
from .paths import project_home
from .types import ROLES, CodedUtterance, SessionSummary


class CodeSelection(StrictModel):
    """Units of a session coded with one of ``codes`` in ``scheme``."""

    scheme: str
    codes: list[str] = Field(min_length=1)


class ScoreSpec(StrictModel):
    """``scale * count(numerator) / count(denominator)``; ``None`` when the denominator is 0."""

    description: str = ""
    numerator: CodeSelection
    denominator: CodeSelection
    scale: float = 1.0


class DistributionSpec(StrictModel):
    """Every code of ``scheme`` as a share (times ``scale``) of the units coded with it."""

    description: str = ""
    scheme: str
    scale: float = 1.0


class ScoreConfig(StrictModel):
    """``configs/scores.yaml``."""

    version: int = Field(ge=1)
    scores: dict[str, ScoreSpec] = Field(default_factory=dict)
    distributions: dict[str, DistributionSpec] = Field(default_factory=dict)

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
                      for name, spec in config.scores.items() for part in ("numerator", "denominator")]
        for key, selection in selections:
            if selection.scheme not in codebook:
                raise ConfigError("E005", path=path, key=key, ref=selection.scheme)
            for code in selection.codes:
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
            if scheme in counts and code.code in counts[scheme]:
                counts[scheme][code.code] += 1
    return counts


def _ratio(numerator: int, denominator: int, scale: float) -> float | None:
    return None if denominator == 0 else scale * numerator / denominator


def summarize(session_id: str, coded: Sequence[CodedUtterance], codebook: Codebook, config: ScoreConfig,
              role_confidence: float | None = None) -> SessionSummary:
    """The summary of one coded session.

    ``turns_per_role`` counts turns (not units: with sentence units a turn is counted once) per
    role, every role present as a key.
    """
    counts = count_codes(coded, codebook)
    scores: dict[str, float | None] = {}
    for name, spec in config.scores.items():
        num = sum(counts[spec.numerator.scheme].get(c, 0) for c in spec.numerator.codes)
        den = sum(counts[spec.denominator.scheme].get(c, 0) for c in spec.denominator.codes)
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
                          role_confidence=role_confidence)
