"""The supervisor review report: a coding output folder to a self-contained HTML report.

:func:`report` reads ``DIR/coded/*.csv``, ``DIR/codes.csv``, ``DIR/sessions.csv`` and
``DIR/run.json`` (the edges), builds a :class:`ReportView` of plain dataclasses (this module; no
UI library is imported here), and hands it to :func:`transcript_coder.writers.html.write_report`,
which renders ``DIR/report/index.html`` and one page per session (matplotlib plots inlined as
SVG), named by :func:`page_file_names`: ``<session_id>.html`` unless that would be unsafe. What is shown (reference thresholds, plots, the roll-up, colours, the
low-confidence threshold) comes from ``configs/report.yaml``; no scheme or code is named here.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import Field

from .agreement import Agreement, agreement
from .codebook import Codebook, load_codebook, split_codes
from .codings import CodedRow, read_coded_files
from .configfile import StrictModel, load_yaml_config
from .errors import ConfigError, DataError
from .paths import project_home
from .summarize import ScoreConfig, load_score_config

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------- config
class Reference(StrictModel):
    """Published reference values for one score (shown, never used to judge)."""

    label: str
    fair: float | None = None
    good: float | None = None
    unit: Literal["ratio", "percent"] = "percent"
    source: str = ""


class PlotSpec(StrictModel):
    """One plot of a session page."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    scheme: str
    kind: Literal["timeline", "cumulative"] = "timeline"
    codes: list[str] = Field(default_factory=list)
    section: Literal["session", "relational"] = "session"


class RelationalSpec(StrictModel):
    """The "Relational process" section: the roll-up whose ``rupture_codes`` mark rupture-risk
    moments, and the map (``configs/scores.yaml`` ``maps:``) of the client's relationships."""

    rollup: str
    rupture_codes: list[str] = Field(default_factory=list)
    map: str | None = None


class NestedSpec(StrictModel):
    """A fine-grained scheme shown under a coarse one (``client_emotion_fine`` under the Ekman
    ``client_emotion``): its tag appears only where the fine code falls in the unit's coarse code
    (``groups``: coarse code -> its fine codes), and takes that code's colour."""

    scheme: str
    within: str
    groups: dict[str, list[str]]


class ReportConfig(StrictModel):
    """``configs/report.yaml``."""

    version: int = Field(ge=1)
    low_confidence: float = Field(default=0.6, ge=0, le=1)
    references: dict[str, Reference] = Field(default_factory=dict)
    plots: list[PlotSpec] = Field(default_factory=list)
    rollup: str | None = None
    relational: RelationalSpec | None = None
    palette: list[str] = Field(min_length=1)
    palettes: dict[str, list[str]] = Field(default_factory=dict)
    nested: list[NestedSpec] = Field(default_factory=list)


def load_report_config(path: str | Path | None = None, codebook: Codebook | None = None,
                       scores: ScoreConfig | None = None) -> ReportConfig:
    """Read ``configs/report.yaml`` (or ``path``); with a codebook (and score config), every scheme,
    code and score it names must exist.

    Raises:
        ConfigError: E001/E002/E007 for an unreadable or invalid file, E005 for an unknown reference.
    """
    path = Path(path) if path is not None else project_home() / "configs" / "report.yaml"
    config = load_yaml_config(path, ReportConfig)
    if codebook is not None:
        for i, plot in enumerate(config.plots):
            if plot.scheme not in codebook:
                raise ConfigError("E005", path=path, key=f"plots.{i}.scheme", ref=plot.scheme)
            for code in plot.codes:
                if code not in codebook[plot.scheme].code_ids:
                    raise ConfigError("E005", path=path, key=f"plots.{i}.codes", ref=f"{plot.scheme}.{code}")
        if config.rollup is not None and config.rollup not in codebook:
            raise ConfigError("E005", path=path, key="rollup", ref=config.rollup)
        if config.relational is not None:
            if config.relational.rollup not in codebook:
                raise ConfigError("E005", path=path, key="relational.rollup", ref=config.relational.rollup)
            for code in config.relational.rupture_codes:
                if code not in codebook[config.relational.rollup].code_ids:
                    raise ConfigError("E005", path=path, key="relational.rupture_codes",
                                      ref=f"{config.relational.rollup}.{code}")
        for scheme_id in config.palettes:
            if scheme_id not in codebook:
                raise ConfigError("E005", path=path, key=f"palettes.{scheme_id}", ref=scheme_id)
        for i, nested in enumerate(config.nested):
            for key in ("scheme", "within"):
                if getattr(nested, key) not in codebook:
                    raise ConfigError("E005", path=path, key=f"nested.{i}.{key}", ref=getattr(nested, key))
            for coarse, fine in nested.groups.items():
                if coarse not in codebook[nested.within].code_ids:
                    raise ConfigError("E005", path=path, key=f"nested.{i}.groups", ref=f"{nested.within}.{coarse}")
                for code in fine:
                    if code not in codebook[nested.scheme].code_ids:
                        raise ConfigError("E005", path=path, key=f"nested.{i}.groups.{coarse}",
                                          ref=f"{nested.scheme}.{code}")
    if scores is not None:
        for name in config.references:
            if name not in scores.scores:
                raise ConfigError("E005", path=path, key=f"references.{name}", ref=name)
        if config.relational is not None and config.relational.map and config.relational.map not in scores.maps:
            raise ConfigError("E005", path=path, key="relational.map", ref=config.relational.map)
    return config


# ------------------------------------------------------------------------------------- views
@dataclass
class CodeTag:
    """One code of one unit as shown: display names, confidence, whether to check it, colour."""

    scheme: str
    scheme_name: str
    code: str
    code_name: str
    confidence: float | None
    low_confidence: bool
    colour: str


@dataclass
class UnitView:
    """One coded unit (a turn, or a sentence of one) with its tags."""

    utterance_index: int
    turn_index: int
    speaker: str
    role: str
    start: str
    end: str
    text: str
    tags: list[CodeTag]

    @property
    def needs_review(self) -> bool:
        """True when any of its codes is below the confidence threshold."""
        return any(tag.low_confidence for tag in self.tags)


@dataclass
class ScoreView:
    """A session score beside its reference values."""

    name: str
    label: str
    value: float | None
    unit: str
    fair: float | None
    good: float | None
    source: str
    note: str = ""  # why there is no value, when a scheme it needs was not coded


@dataclass
class RollupShare:
    """How often the therapist's units fell in one roll-up category (``share``: of the units the
    roll-up coded). ``count`` is ``None`` when the category needs a scheme the session was not
    coded with (``needs``: no model provides it), so its count is unknown, not zero."""

    code: str
    name: str
    count: int | None
    share: float | None
    colour: str
    needs: list[str] = field(default_factory=list)
    partial: list[str] = field(default_factory=list)  # schemes missing from some of its rules
    definition: str = ""


@dataclass
class FigureView:
    """One figure of the relationship map: the client units mentioning them, their emotions, and
    their change talk as a percentage of change plus sustain talk."""

    code: str
    name: str
    units: int
    profile: str
    share: float | None


@dataclass
class RelationalView:
    """The "Relational process" section: its plots, the categories, the relationship map and the
    rupture-risk moments. ``needs`` names the schemes it lacks (no model provides them)."""

    plots: list["PlotData"]
    categories: list[RollupShare]
    figures: list[FigureView]
    ruptures: list["UnitView"]
    needs: list[str]
    map_name: str = ""
    rupture_names: list[str] = field(default_factory=list)


@dataclass
class PlotData:
    """The points of one plot: ``(position, code)`` per unit of the plotted scheme, positions being
    the units' ``utterance_index`` in a session of ``n_units`` units."""

    id: str
    title: str
    kind: str
    scheme_name: str
    codes: list[str]
    code_names: list[str]
    colours: list[str]
    points: list[tuple[int, str]]
    n_units: int


@dataclass
class LegendEntry:
    """One scheme's colours as a session page shows them."""

    scheme: str
    scheme_name: str
    codes: list[tuple[str, str]]  # (code name, colour), in codebook order
    note: str = ""


@dataclass
class SessionView:
    """Everything the session page shows."""

    session_id: str
    source: str
    units: list[UnitView]
    scores: list[ScoreView]
    rollup: list[RollupShare]
    rollup_name: str
    plots: list[PlotData]
    page: str = ""  # its file name in report/ (see page_file_names)
    relational: RelationalView | None = None
    role_method: str = ""
    role_confidence: float | None = None
    warnings: list[str] = field(default_factory=list)  # the codes of its warnings (E117, ...)
    legend: list["LegendEntry"] = field(default_factory=list)
    nested_hidden: dict[str, int] = field(default_factory=dict)  # fine scheme name -> tags not shown
    nested_notes: list[str] = field(default_factory=list)

    @property
    def has_times(self) -> bool:
        """Whether any unit has a start time (else the page has no Time column)."""
        return any(u.start for u in self.units)

    @property
    def n_flagged(self) -> int:
        """Units with at least one low-confidence code."""
        return sum(1 for u in self.units if u.needs_review)


@dataclass
class ReportView:
    """The whole report: run facts, sessions, score labels, and agreement when a human coding was given."""

    title: str
    run: dict
    low_confidence: float
    score_labels: dict[str, str]
    sessions: list[SessionView]
    agreement: Agreement | None = None
    human: str | None = None
    files: dict[str, Path] = field(default_factory=dict)


# ------------------------------------------------------------------------------ page names
#: Characters no page file name keeps: path separators, controls, and what Windows forbids.
_UNSAFE_PAGE_RE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
_RESERVED_PAGES = {"index"}
_MAX_PAGE_BYTES = 120  # a short name, well inside the 255-byte limit with the suffix and extension


def page_file_names(session_ids: Sequence[str]) -> dict[str, str]:
    """A file name in ``report/`` for each session's page: ``<session_id>.html`` when the id is a
    safe, short file name that is neither the index's nor (case-insensitively) another page's;
    otherwise the id made safe (separators and controls become ``_``, leading dots dropped, cut to
    120 bytes) plus ``-`` and 8 hex digits of the id's SHA-256. A page can thus never be
    ``index.html``, never leave ``report/``, and two sessions never share a page. Deterministic:
    the same ids give the same names."""
    names: dict[str, str] = {}
    taken = {f"{name}.html" for name in _RESERVED_PAGES}
    for session_id in sorted(session_ids):
        stem = _UNSAFE_PAGE_RE.sub("_", session_id).lstrip(". ") or "session"
        stem = stem.encode("utf-8")[:_MAX_PAGE_BYTES].decode("utf-8", "ignore")
        name = f"{stem}.html"
        if stem != session_id or name.casefold() in taken:
            name = f"{stem}-{hashlib.sha256(session_id.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}.html"
        taken.add(name.casefold())
        names[session_id] = name
    return names


# ---------------------------------------------------------------------------------- reading
def _read_table(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _float(value: str | None) -> float | None:
    try:
        number = float(value) if value not in (None, "") else None
    except ValueError:
        return None
    return None if number is None or math.isnan(number) else number


# --------------------------------------------------------------------------------- building
def build_session_view(session_id: str, rows: Sequence[CodedRow], codes: Sequence[dict[str, str]],
                       session_row: dict[str, str] | None, codebook: Codebook, scores: ScoreConfig,
                       config: ReportConfig, low_confidence: float) -> SessionView:
    """One session page's content from its coded rows, its ``codes.csv`` rows and its
    ``sessions.csv`` row (the stage; nothing is read or written here)."""
    colour = scheme_colours(config, codebook)
    nested = {n.scheme: n for n in config.nested}
    hidden: dict[str, int] = {}

    by_unit: dict[int, dict[str, dict[str, str]]] = {}
    for row in codes:
        by_unit.setdefault(int(row["utterance_index"]), {})[row["scheme"]] = row
    order = [s.id for s in codebook.ordered()]
    units = []
    for row in sorted(rows, key=lambda r: r.utterance_index):
        unit_codes = by_unit.get(row.utterance_index) or {
            s: {"code": c, "confidence": str(row.confidence.get(s, ""))} for s, c in row.codes.items()}
        tags = []
        for scheme_id in sorted(unit_codes, key=lambda s: order.index(s) if s in order else len(order)):
            if scheme_id not in codebook:
                continue
            scheme, cell = codebook[scheme_id], unit_codes[scheme_id]
            code = cell["code"]
            confidence = _float(cell.get("confidence"))
            if scheme_id in nested:
                spec = nested[scheme_id]
                coarse = (unit_codes.get(spec.within) or {}).get("code", "")
                parts = [c for c in (split_codes(code) if scheme.multi_label else [code])
                         if c in spec.groups.get(coarse, ())]
                if not parts:  # disagrees with the coarse code shown beside it: not shown
                    if code:
                        hidden[scheme.name] = hidden.get(scheme.name, 0) + 1
                    continue
                code = ";".join(parts) if scheme.multi_label else parts[0]
            if scheme.multi_label:
                if not code:
                    continue  # coded, with none of the scheme's codes: nothing to tag
                parts = split_codes(code)
                name = ", ".join(scheme.code(c).name if c in scheme.code_ids else c for c in parts)
                tags.append(CodeTag(scheme=scheme_id, scheme_name=scheme.name, code=code, code_name=name,
                                    confidence=confidence,
                                    low_confidence=confidence is not None and confidence < low_confidence,
                                    colour=colour(scheme_id, parts[0])))
                continue
            name = scheme.code(code).name if code in scheme.code_ids else code
            tags.append(CodeTag(scheme=scheme_id, scheme_name=scheme.name, code=code, code_name=name,
                                confidence=confidence,
                                low_confidence=confidence is not None and confidence < low_confidence,
                                colour=colour(scheme_id, code)))
        units.append(UnitView(utterance_index=row.utterance_index, turn_index=row.turn_index, speaker=row.speaker,
                              role=row.role, start=row.start, end=row.end, text=row.text, tags=tags))
    session_row = session_row or {}
    missing = missing_schemes(session_row, codebook)
    score_views = []
    for name, spec in scores.scores.items():
        ref = config.references.get(name)
        score_views.append(ScoreView(
            name=name, label=ref.label if ref else (spec.description or name), value=_float(session_row.get(name)),
            unit=ref.unit if ref else ("percent" if spec.scale == 100 else "ratio"),
            fair=ref.fair if ref else None, good=ref.good if ref else None, source=ref.source if ref else "",
            note=(f"not coded: no model provides {spec.numerator.scheme} yet"
                  if _float(session_row.get(name)) is None and spec.numerator.scheme in missing else "")))
    rollup: list[RollupShare] = []
    rollup_name = ""
    if config.rollup:
        rollup_name = codebook[config.rollup].name
        rollup = rollup_shares(codebook[config.rollup], session_row, codebook, units, colour)
    plots = [_plot(spec, codebook, units, colour) for spec in config.plots if spec.section == "session"]
    relational = None
    if config.relational is not None:
        relational = build_relational_view(config, codebook, scores, session_row, units, colour)
    shown = {t.scheme for u in units for t in u.tags}
    legend = []
    for scheme in codebook.ordered():
        if scheme.id not in shown:
            continue
        note = ""
        if scheme.id in nested:
            within = codebook[nested[scheme.id].within]
            note = f"coloured as its {within.name.lower()} group; shown only where it falls within the unit's {within.name.lower()}"
        legend.append(LegendEntry(scheme=scheme.id, scheme_name=scheme.name, note=note,
                                  codes=[(c.name, colour(scheme.id, c.id)) for c in scheme.codes]))
    nested_notes = []
    for spec in config.nested:
        fine, coarse = codebook[spec.scheme], codebook[spec.within]
        count = hidden.get(fine.name, 0)
        if count:
            nested_notes.append(
                f"{fine.name} is shown only where it falls within the unit's {coarse.name.lower()} (the two come from "
                f"separate heads and can disagree). On {count} unit(s) they disagree: only the {coarse.name.lower()} is "
                f"shown there; the {fine.name.lower()} is in codes.csv.")
    warnings = sorted(set(re.findall(r"\bE\d{3}\b", session_row.get("warnings", ""))))
    return SessionView(session_id=session_id, source=session_row.get("input", ""), units=units, scores=score_views,
                       rollup=rollup, rollup_name=rollup_name, plots=plots, relational=relational,
                       role_method=session_row.get("role_method", ""),
                       role_confidence=_float(session_row.get("role_confidence")), warnings=warnings,
                       legend=legend, nested_hidden=hidden, nested_notes=nested_notes)


def scheme_colours(config: ReportConfig, codebook: Codebook):
    """``colour(scheme_id, code)``: a scheme's own palette (``palettes``), in codebook order, else
    the shared ``palette``; a nested scheme's code takes the colour of its coarse group."""
    group_of = {(n.scheme, fine): (n.within, coarse) for n in config.nested
                for coarse, members in n.groups.items() for fine in members}

    def colour(scheme_id: str, code: str) -> str:
        if (scheme_id, code) in group_of:
            scheme_id, code = group_of[(scheme_id, code)]
        palette = config.palettes.get(scheme_id) or config.palette
        ids = codebook[scheme_id].code_ids
        return palette[ids.index(code) % len(palette)] if code in ids else palette[-1]

    return colour


def missing_schemes(session_row: dict[str, str], codebook: Codebook) -> set[str]:
    """Schemes the session could not be coded with (no model provides them): every code count of
    the scheme is empty in its ``sessions.csv`` row."""
    missing = set()
    for scheme in codebook:
        cells = [session_row.get(f"n_{scheme.id}.{c}") for c in scheme.code_ids]
        if scheme.kind != "rollup" and cells and all(cell == "" for cell in cells):
            missing.add(scheme.id)
    return missing


def rollup_shares(scheme, session_row: dict[str, str], codebook: Codebook, units: Sequence["UnitView"],
                  colour) -> list[RollupShare]:
    """Each roll-up category's count (``sessions.csv``), its share of the units the roll-up coded,
    and which missing schemes it needs (all its rules read one: no count) or lacks in part."""
    missing = missing_schemes(session_row, codebook)
    n_units = sum(1 for u in units if any(t.scheme == scheme.id for t in u.tags)) or None
    shares = []
    for c in scheme.codes:
        rules = [r for r in scheme.rules if r.code == c.id]
        lacking = [sorted(set(r.when) & missing) for r in rules]
        cell = session_row.get(f"n_{scheme.id}.{c.id}")
        count = int(cell) if cell not in (None, "") else (None if rules and all(lacking) else 0)
        needs = sorted({s for group in lacking for s in group}) if count is None else []
        partial = sorted({s for group in lacking for s in group}) if count is not None else []
        shares.append(RollupShare(code=c.id, name=c.name, count=count,
                                  share=count / n_units if count is not None and n_units else None,
                                  colour=colour(scheme.id, c.id), needs=needs, partial=partial, definition=c.definition))
    return shares


def _plot(spec: PlotSpec, codebook: Codebook, units: Sequence["UnitView"], colour) -> "PlotData":
    """One plot's points: a point per unit and shown code (each code of a multi-label cell)."""
    scheme = codebook[spec.scheme]
    shown = spec.codes or scheme.code_ids
    points = [(u.utterance_index, code) for u in units for tag in u.tags if tag.scheme == spec.scheme
              for code in (split_codes(tag.code) if scheme.multi_label else [tag.code]) if code in shown]
    return PlotData(id=spec.id, title=spec.title, kind=spec.kind, scheme_name=scheme.name, codes=list(shown),
                    code_names=[scheme.code(c).name for c in shown], colours=[colour(spec.scheme, c) for c in shown],
                    points=points, n_units=len(units))


def build_relational_view(config: ReportConfig, codebook: Codebook, scores: ScoreConfig, session_row: dict[str, str],
                          units: Sequence["UnitView"], colour) -> RelationalView:
    """The "Relational process" section: the relational plots, the roll-up's categories, the
    relationship map (``sessions.csv`` map columns) and the units with a rupture code, in order."""
    spec = config.relational
    rollup = codebook[spec.rollup]
    categories = rollup_shares(rollup, session_row, codebook, units, colour)
    needs = sorted({s for c in categories for s in c.needs})
    plots = [_plot(p, codebook, units, colour) for p in config.plots if p.section == "relational"]
    ruptures = [u for u in units if any(t.scheme == rollup.id and set(split_codes(t.code)) & set(spec.rupture_codes)
                                        for t in u.tags)]
    figures = []
    if spec.map:
        map_spec = scores.maps[spec.map]
        for c in codebook[map_spec.scheme].codes:
            cell = session_row.get(f"{spec.map}.{c.id}.units", "")
            if cell in ("", None):
                continue
            figures.append(FigureView(
                code=c.id, name=c.name, units=int(cell),
                profile=session_row.get(f"{spec.map}.{c.id}.{map_spec.profile}", "") if map_spec.profile else "",
                share=_float(session_row.get(f"{spec.map}.{c.id}.{map_spec.share_name}")) if map_spec.share else None))
    return RelationalView(plots=plots, categories=categories, figures=figures, ruptures=ruptures, needs=needs,
                          map_name=spec.map or "",
                          rupture_names=[rollup.code(c).name for c in spec.rupture_codes])


def report(out_dir: str | Path, *, human: Sequence[str | Path] | None = None, human_columns: str = "codes",
           low_confidence: float | None = None, config_path: str | Path | None = None,
           codebook: Codebook | None = None) -> ReportView:
    """Write the review report of the coding output folder ``out_dir`` into ``out_dir/report/``.

    ``human`` (coded CSVs or folders of them, read from ``human_columns``) adds the agreement of the
    model's codes with that human coding to the index page (the human coding is the reference).
    ``low_confidence`` overrides the config's threshold. Returns the view, with ``files`` set.

    Raises:
        DataError: E509 when ``out_dir`` is not a coding output folder.
        ConfigError: for an invalid ``configs/report.yaml``.
        UsageError: E417 when matplotlib cannot be imported.
    """
    from .writers.html import require_matplotlib, write_report  # the only place matplotlib is imported

    require_matplotlib()  # before any work: a missing dependency is E417, never a traceback halfway
    out_dir = Path(out_dir)
    missing = [name for name in ("coded", "codes.csv", "sessions.csv") if not (out_dir / name).exists()]
    if missing:
        raise DataError("E509", path=out_dir, missing=", ".join(missing))
    codebook = codebook or load_codebook()
    scores = load_score_config(codebook=codebook)
    config = load_report_config(config_path, codebook, scores)
    threshold = config.low_confidence if low_confidence is None else low_confidence
    coded = read_coded_files([out_dir], codebook)
    codes_rows = _read_table(out_dir / "codes.csv")
    session_rows = {row["session_id"]: row for row in _read_table(out_dir / "sessions.csv")}
    run_path = out_dir / "run.json"
    run = json.loads(run_path.read_text(encoding="utf-8")) if run_path.is_file() else {}
    run.pop("this_run", None)  # timings differ per run; the report must not
    sessions = []
    for file in coded:
        if not file.rows:
            continue
        session_id = file.rows[0].session_id
        sessions.append(build_session_view(
            session_id, file.rows, [r for r in codes_rows if r["session_id"] == session_id],
            session_rows.get(session_id), codebook, scores, config, threshold))
    sessions.sort(key=lambda s: s.session_id)
    pages = page_file_names([s.session_id for s in sessions])
    for session in sessions:
        session.page = pages[session.session_id]
    result = agreement(list(human), [out_dir], reference_columns=human_columns, compare_columns="codes",
                       codebook=codebook, score_config=scores) if human else None
    labels = {name: (config.references[name].label if name in config.references else name) for name in scores.scores}
    view = ReportView(title=f"Coding report: {out_dir.name}", run=run, low_confidence=threshold, score_labels=labels,
                      sessions=sessions, agreement=result, human=" ".join(map(str, human)) if human else None)
    view.files = write_report(view, out_dir / "report")
    log.info("wrote %d page(s) to %s", len(view.files), out_dir / "report")
    return view
