"""REFI-QDA exchange files: a coding output folder as a QDA project (``.qdpx``), the codebook as a
codebook exchange file (``.qdc``), for NVivo, ATLAS.ti, MAXQDA, QualCoder and other QDA tools.

The formats are REFI's QDA-XML 1.0 (schemas in ``data/schemas/refi/``):

``.qdpx``  a zip holding ``project.qde`` (namespace ``urn:QDA-XML:project:1.0``) and ``Sources/``,
           one plain-text file per session, referred to as ``internal://<guid>.txt``;
``.qdc``   a bare ``<CodeBook>`` (namespace ``urn:QDA-XML:codebook:1.0``).

What goes where:

* **CodeBook/Codes**: every scheme as a parent code (not codable), its code ids as codable children,
  each with its definition as ``Description`` and a colour from the scheme's own palette
  (:data:`PALETTES`, fixed: a code keeps its colour across exports).
* **Sources**: one ``TextSource`` per session. Its text is the units in order, one line each,
  ``<speaker>: <unit text>``; each unit is a ``PlainTextSelection`` whose offsets cut exactly the
  unit's text (0-based, end exclusive, counted in Unicode code points, as REFI's "characters"),
  holding one ``Coding`` per code given to it.
* **Users**: one per model that coded (its name and fingerprint, from ``run.json``), one per rule
  tagger of a ``kind: rules`` scheme, and one per human reviewer whose reviewed codes are exported.
  Every coding names the user who made it.
* **Variables** and **Cases**: one case per session, with the ``sessions.csv`` columns (the session
  scores, turns per role, reader...) as variable values.

GUIDs are UUID 5 of stable keys (a code's is its scheme and id; a selection's its session and unit
index), so re-exporting the same folder gives the same GUIDs, and the codes of a ``.qdc`` keep their
GUIDs in a later ``.qdpx``. The output is deterministic: document order follows the codebook and
the sessions sorted by id, and the zip has fixed timestamps and sorted entries, so the same folder
exports to the same bytes.

Which codes are exported is ``columns`` as in ``evaluate`` (:data:`~transcript_coder.codings.COLUMN_SOURCES`):
``codes`` (the model's), ``reviewed`` (reviewers' only) or ``merged`` (a reviewer's code where one
was given for a scheme, else the model's unless a reviewed code makes it moot). The model's codes
are the coded CSVs' columns completed from ``codes.csv`` (schemes such as ``client_emotion_fine``
are only there), as the review workbook reads them, and the codes of rule-based schemes; roll-up
schemes are derived codes and are not exported as codings.
"""

from __future__ import annotations

import csv
import logging
import re
import uuid
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from .. import __version__
from ..codebook import NO_CODES, Codebook, Scheme, load_codebook, split_codes
from ..codings import COLUMN_SOURCES, CodedFile, CodedRow, read_coded_files
from ..errors import DataError, UsageError
from .atomic import atomic_open

log = logging.getLogger(__name__)

PROJECT_NAMESPACE = "urn:QDA-XML:project:1.0"
CODEBOOK_NAMESPACE = "urn:QDA-XML:codebook:1.0"

#: The UUID 5 namespace of every GUID this module makes. Never change it: GUIDs would change.
GUID_NAMESPACE = uuid.UUID("6f1b2c4e-3a9d-5e27-9c41-7d0a8b5e2f13")

#: One palette per scheme, in codebook order (a scheme's codes take its colours in codebook order;
#: the scheme's own parent code takes the first). Hues differ between palettes, so the same colour
#: never means two codes of different schemes unless there are more schemes than palettes.
PALETTES: tuple[tuple[str, ...], ...] = (
    ("#08519C", "#3182BD", "#6BAED6", "#9ECAE1", "#C6DBEF", "#2171B5", "#4292C6", "#084594"),  # blues
    ("#A63603", "#E6550D", "#FD8D3C", "#FDAE6B", "#FDD0A2", "#D94801", "#F16913", "#8C2D04"),  # oranges
    ("#006D2C", "#31A354", "#74C476", "#A1D99B", "#C7E9C0", "#238B45", "#41AB5D", "#00441B"),  # greens
    ("#54278F", "#756BB1", "#9E9AC8", "#BCBDDC", "#DADAEB", "#6A51A3", "#807DBA", "#3F007D"),  # purples
    ("#A50F15", "#DE2D26", "#FB6A4A", "#FC9272", "#FCBBA1", "#CB181D", "#EF3B2C", "#67000D"),  # reds
    ("#252525", "#636363", "#969696", "#BDBDBD", "#D9D9D9", "#525252", "#737373", "#000000"),  # greys
    ("#8C510A", "#BF812D", "#DFC27D", "#F6E8C3", "#C7A26B", "#A6611A", "#D8B365", "#543005"),  # browns
    ("#01665E", "#35978F", "#80CDC1", "#C7EAE5", "#5AB4AC", "#018571", "#2A9D8F", "#003C30"),  # teals
    ("#AE017E", "#DD3497", "#F768A1", "#FA9FB5", "#FCC5C0", "#C51B8A", "#E7298A", "#7A0177"),  # pinks
    ("#4D5E00", "#7A8F00", "#A3B818", "#C9D96B", "#E3EBA8", "#667A00", "#8FA31F", "#333F00"),  # olives
    ("#1A237E", "#3949AB", "#5C6BC0", "#9FA8DA", "#C5CAE9", "#283593", "#7986CB", "#0D1452"),  # indigos
    ("#B58900", "#D4A017", "#E8C547", "#F2DC8C", "#FAEFC6", "#9C7A00", "#C99A2E", "#6B5200"),  # golds
)

#: Zip entries are dated 1980-01-01 (the earliest a zip can hold), so exports do not differ by date.
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)

#: Characters XML 1.0 cannot hold (most control characters, lone surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[^\u0009\u000A\u000D\u0020-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")
_INTEGER = re.compile(r"^-?\d+$")


def guid(*key: object) -> str:
    """The stable GUID of a key: UUID 5 of its parts in :data:`GUID_NAMESPACE`."""
    return str(uuid.uuid5(GUID_NAMESPACE, "\x1f".join(str(part) for part in key)))


def code_guid(scheme_id: str, code_id: str | None = None) -> str:
    """The GUID of a scheme's parent code (``code_id`` None) or of one of its codes."""
    return guid("scheme", scheme_id) if code_id is None else guid("code", scheme_id, code_id)


def _xml_text(value: object) -> str:
    return _NOT_XML.sub("\ufffd", str(value))


def _element(parent: ET.Element | None, tag: str, attrib: Mapping[str, object] | None = None,
             text: str | None = None) -> ET.Element:
    """An element with its attributes in the given order (None values left out)."""
    attrs = {k: _xml_text(v) for k, v in (attrib or {}).items() if v is not None}
    node = ET.Element(tag, attrs) if parent is None else ET.SubElement(parent, tag, attrs)
    if text is not None:
        node.text = _xml_text(text)
    return node


def _serialize(root: ET.Element) -> bytes:
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


# ------------------------------------------------------------------------------------ codebook
def exported_schemes(codebook: Codebook) -> list[Scheme]:
    """The schemes a QDA tool gets as codes, in codebook order: all but ``role: any`` ones (such as
    ``speaker_role``, which role inference reads and no coded CSV holds)."""
    return [s for s in codebook.ordered() if s.role != "any"]


def code_colours(codebook: Codebook) -> dict[tuple[str, str | None], str]:
    """``(scheme, code)`` -> colour (``(scheme, None)`` for the scheme's parent code)."""
    colours: dict[tuple[str, str | None], str] = {}
    for number, scheme in enumerate(exported_schemes(codebook)):
        palette = PALETTES[number % len(PALETTES)]
        colours[(scheme.id, None)] = palette[0]
        for index, code in enumerate(scheme.codes):
            colours[(scheme.id, code.id)] = palette[(index + 1) % len(palette)]
    return colours


def _codes_element(parent: ET.Element, codebook: Codebook) -> ET.Element:
    """``<Codes>``: schemes as parent codes, their codes as children (the parts the project and the
    codebook dialects share: ``Description``, then child codes)."""
    colours = code_colours(codebook)
    codes = _element(parent, "Codes")
    for scheme in exported_schemes(codebook):
        about = scheme.description.strip() or scheme.name
        if scheme.source:
            about += f" (source: {scheme.source.strip()})"
        node = _element(codes, "Code", {"guid": code_guid(scheme.id), "name": scheme.name, "isCodable": "false",
                                        "color": colours[(scheme.id, None)]})
        _element(node, "Description", text=f"Scheme '{scheme.id}' (version {scheme.version}, {scheme.role} units"
                                            f"{', several codes per unit' if scheme.multi_label else ''}): {about}")
        for code in scheme.codes:
            child = _element(node, "Code", {"guid": code_guid(scheme.id, code.id), "name": code.id,
                                            "isCodable": "true", "color": colours[(scheme.id, code.id)]})
            _element(child, "Description", text=f"{code.name}: {code.definition.strip()}")
    return codes


def codebook_document(codebook: Codebook) -> bytes:
    """The REFI codebook exchange document (``.qdc``) of ``codebook``."""
    root = _element(None, "CodeBook", {"xmlns": CODEBOOK_NAMESPACE, "origin": f"transcript_coder {__version__}"})
    _codes_element(root, codebook)
    return _serialize(root)


def export_codebook(out: str | Path, *, codebook: Codebook | None = None) -> Path:
    """Write the codebook (default: ``configs/codebooks``) as a REFI ``.qdc`` file, atomically."""
    codebook = codebook or load_codebook()
    out = Path(out)
    with atomic_open(out, "wb") as handle:
        handle.write(codebook_document(codebook))
    log.info("wrote the codebook (%d schemes) to %s", len(exported_schemes(codebook)), out)
    return out


# ---------------------------------------------------------------------------------- sessions
@dataclass(frozen=True)
class QdaUser:
    """A REFI ``User``: a model that coded, a rule tagger, or a human reviewer. ``key`` makes the
    GUID (``model:<name>:<fingerprint>``, ``rules:<tagger>``, ``reviewer:<name>``)."""

    key: str
    name: str
    id: str | None = None

    @property
    def guid(self) -> str:
        """The user's stable GUID."""
        return guid("user", self.key)


@dataclass
class UnitSpan:
    """Where a unit's text sits in its session's source text: ``text[start:end]``."""

    utterance_index: int
    start: int
    end: int


def session_text(rows: Sequence[CodedRow]) -> tuple[str, list[UnitSpan]]:
    """A session's plain text, one line per unit (``<speaker>: <text>``, the role when no speaker
    is known), and where each unit's text sits in it. ``rows`` in unit order."""
    parts: list[str] = []
    spans = []
    position = 0
    for row in rows:
        label = f"{row.speaker or row.role or 'UNKNOWN'}: "
        start = position + len(label)
        spans.append(UnitSpan(row.utterance_index, start, start + len(row.text)))
        line = label + row.text + "\n"
        parts.append(line)
        position += len(line)
    return "".join(parts), spans


@dataclass
class Reviewer:
    """A human reviewer and the reviewed codes they gave: ``(session_id, utterance_index)`` ->
    ``{scheme: cell}`` (the cell as in a ``reviewed_`` column)."""

    user: QdaUser
    codes: dict[tuple[str, int], dict[str, str]] = field(default_factory=dict)


def parse_reviewer(value: str) -> tuple[str, str | None]:
    """``--reviewer NAME`` or ``NAME=PATH`` -> ``(name, path or None)``.

    Raises:
        UsageError: E402 for an empty name or path.
    """
    name, sep, path = value.partition("=")
    name, path = name.strip(), path.strip()
    if not name or (sep and not path):
        raise UsageError("E402", detail=f"--reviewer expects NAME or NAME=PATH, got '{value}'")
    return name, (path or None)


def _check_cells(files: Sequence[CodedFile], codebook: Codebook) -> None:
    """Reviewed cells must name codes, as for ``review import``; every bad cell is listed."""
    from ..review import ReviewError, check_reviewed, check_unique_units, normalise_reviewed

    for file in files:
        normalise_reviewed(file, codebook)
    problems = [p for f in files for p in check_reviewed(f, codebook)] + check_unique_units(files)
    if problems:
        raise ReviewError(problems)


def _read_run(out_dir: Path) -> dict:
    """The output folder's ``run.json`` (``{}`` when there is none, as in a folder of coded CSVs)."""
    import json

    run_path = out_dir / "run.json"
    return json.loads(run_path.read_text(encoding="utf-8")) if run_path.is_file() else {}


def run_codebook(out_dir: str | Path) -> Codebook | None:
    """The codebook a run recorded in its ``run.json`` (``config.codebooks``), when that folder still
    exists, so an export describes the codes the sessions were coded with; else ``None``."""
    recorded = (_read_run(Path(out_dir)).get("config") or {}).get("codebooks")
    return load_codebook(recorded) if recorded and Path(recorded).is_dir() else None


def _model_users(run: Mapping) -> tuple[dict[str, QdaUser], QdaUser]:
    """scheme -> the user of the model that coded it (from ``run.json``), and the fallback user for
    a scheme no recorded model provides (a folder without ``run.json``)."""
    fallback = QdaUser(key="model", name="transcript_coder model")
    users = {}
    for model in run.get("models") or []:
        name, fingerprint = str(model.get("name") or "model"), str(model.get("fingerprint") or "")
        user = QdaUser(key=f"model:{name}:{fingerprint}", name=f"{name} (transcript_coder model {fingerprint})",
                       id=fingerprint or None)
        for scheme in model.get("schemes") or []:
            users.setdefault(str(scheme), user)
    return users, fallback


def scheme_user(scheme: Scheme, model_users: Mapping[str, QdaUser], fallback: QdaUser) -> QdaUser:
    """Who codes ``scheme`` when no reviewer does: its rule tagger for a ``kind: rules`` scheme (no
    model involved), else the model that provides it, else ``fallback``."""
    if scheme.kind == "rules":
        return QdaUser(key=f"rules:{scheme.tagger}", name=f"{scheme.tagger} (transcript_coder rules)")
    return model_users.get(scheme.id, fallback)


def _read_sessions_table(path: Path) -> tuple[list[str], dict[str, dict[str, str]]]:
    if not path.is_file():
        return [], {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = {row["session_id"]: row for row in reader if row.get("session_id")}
        return [c for c in reader.fieldnames or [] if c != "session_id"], rows


def _decimal(value: str) -> str | None:
    """``value`` as an ``xsd:decimal`` literal (no exponent), or None when it is not a finite number."""
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    return format(number, "f")


def _variable_type(values: Sequence[str]) -> str:
    filled = [v for v in values if v.strip()]
    if filled and all(_INTEGER.match(v.strip()) for v in filled):
        return "Integer"
    if filled and all(_decimal(v) is not None for v in filled):
        return "Float"
    return "Text"


def _variable_description(name: str, descriptions: Mapping[str, str]) -> str | None:
    if name in descriptions:
        return descriptions[name]
    base = name.split(".", 1)[0]
    return f"{descriptions[base]} ({name.split('.', 1)[1]})" if "." in name and base in descriptions else None


def _score_descriptions(codebook: Codebook) -> dict[str, str]:
    try:
        from ..summarize import load_score_config

        config = load_score_config(codebook=codebook)
    except Exception:  # a missing or broken scores config only costs the variables their descriptions
        log.debug("no score descriptions", exc_info=True)
        return {}
    return {**{k: v.description for k, v in config.scores.items() if v.description},
            **{k: v.description for k, v in config.distributions.items() if v.description}}


@dataclass
class QdpxExport:
    """What :func:`export_qdpx` wrote: the file, its users and how much it holds."""

    out: Path
    columns: str
    users: list[QdaUser]
    n_sessions: int = 0
    n_selections: int = 0
    n_codings: int = 0

    def report(self) -> str:
        """One line for the terminal."""
        return (f"wrote {self.out}: {self.n_sessions} session(s), {self.n_selections} unit selection(s), "
                f"{self.n_codings} coding(s) ({self.columns}) by {len(self.users)} user(s)")


def _unit_codings(row: CodedRow, scheme: Scheme, columns: str, model_user: QdaUser,
                  reviewers: Sequence[Reviewer], model_codes: Mapping[str, str]) -> list[tuple[str, QdaUser]]:
    """The ``(code, user)`` pairs a unit gets for one scheme under ``columns``: every reviewer's
    codes (``reviewed``), those or else the model's (``merged``), or the model's (``codes``). A
    reviewer's ``none`` (the empty set of a multi-label scheme) counts as reviewed, with no code.
    Under ``merged``, a model sub-code whose condition the merged codes no longer meet (a question
    type on a unit a reviewer made a reflection) is left out, as ``review import`` leaves it out."""
    if columns != "codes":
        cells = [(r.user, r.codes.get(row.key, {}).get(scheme.id)) for r in reviewers]
        cells = [(user, cell) for user, cell in cells if cell]
        if cells or columns == "reviewed":
            return [(code, user) for user, cell in cells for code in split_codes(cell) if code != NO_CODES]
        merged = dict(model_codes)
        for reviewer in reversed(reviewers):  # the first reviewer's code decides a condition
            merged.update(reviewer.codes.get(row.key, {}))
        if not scheme.applies(merged):
            return []
    return [(code, model_user) for code in split_codes(model_codes.get(scheme.id))]


def project_document(files: Sequence[CodedFile], codebook: Codebook, *, name: str, columns: str,
                     model_users: Mapping[str, QdaUser], fallback_user: QdaUser, reviewers: Sequence[Reviewer],
                     variables: Sequence[str], session_rows: Mapping[str, Mapping[str, str]],
                     descriptions: Mapping[str, str] | None = None,
                     model_codes: Mapping[tuple[str, int], Mapping[str, str]] | None = None,
                     ) -> tuple[bytes, dict[str, bytes], QdpxExport]:
    """``project.qde`` and the ``Sources/`` files (name -> UTF-8 bytes) of coded sessions; the
    stage behind :func:`export_qdpx` (nothing is read or written here). ``model_codes`` holds each
    unit's model codes per scheme when they are more than its row's (schemes only ``codes.csv``
    has); by default a row's own scheme columns.

    Raises:
        DataError: E501 when a coded cell names a code its scheme does not have.
    """
    schemes = [s for s in exported_schemes(codebook) if s.kind != "rollup"]
    sessions = sorted(((f.rows[0].session_id, f) for f in files if f.rows), key=lambda item: item[0])
    used: dict[str, QdaUser] = {}
    summary = QdpxExport(out=Path(), columns=columns, users=[])

    sources = _element(None, "Sources")
    texts: dict[str, bytes] = {}
    for session_id, file in sessions:
        rows = sorted(file.rows, key=lambda r: r.utterance_index)
        text, spans = session_text(rows)
        source_guid = guid("source", session_id)
        texts[f"Sources/{source_guid}.txt"] = text.encode("utf-8")
        source = _element(sources, "TextSource", {"guid": source_guid, "name": session_id,
                                                  "plainTextPath": f"internal://{source_guid}.txt"})
        summary.n_sessions += 1
        for row, span in zip(rows, spans):
            selection = _element(source, "PlainTextSelection", {
                "guid": guid("selection", session_id, row.utterance_index),
                "name": f"{session_id} #{row.utterance_index} ({row.role})",
                "startPosition": span.start, "endPosition": span.end})
            summary.n_selections += 1
            for scheme in schemes:
                model_user = scheme_user(scheme, model_users, fallback_user)
                model = (model_codes or {}).get(row.key, row.codes)
                for code, user in _unit_codings(row, scheme, columns, model_user, reviewers, model):
                    if code not in scheme.code_ids:
                        raise DataError("E501", path=file.path, row=row.row, column=scheme.id, value=code,
                                        scheme=scheme.id, suggestion="", codes=", ".join(scheme.code_ids))
                    used.setdefault(user.key, user)
                    coding = _element(selection, "Coding", {
                        "guid": guid("coding", session_id, row.utterance_index, scheme.id, code, user.key),
                        "creatingUser": user.guid})
                    _element(coding, "CodeRef", {"targetGUID": code_guid(scheme.id, code)})
                    summary.n_codings += 1

    # Users: the models that coded, then the reviewers, each in a fixed order.
    ordered = sorted((u for u in used.values() if not u.key.startswith("reviewer:")), key=lambda u: u.key)
    ordered += [r.user for r in reviewers if columns != "codes"]
    if not ordered:
        ordered = [fallback_user]
    summary.users = ordered
    root = _element(None, "Project", {"xmlns": PROJECT_NAMESPACE, "name": name,
                                      "origin": f"transcript_coder {__version__}",
                                      "creatingUserGUID": ordered[0].guid})
    users = _element(root, "Users")
    for user in ordered:
        _element(users, "User", {"guid": user.guid, "name": user.name, "id": user.id})
    _codes_element(_element(root, "CodeBook"), codebook)

    # Variables and cases: the sessions.csv columns, typed from their values.
    present = [session_id for session_id, _ in sessions]
    kinds = {v: _variable_type([session_rows.get(s, {}).get(v) or "" for s in present]) for v in variables}
    if variables:
        node = _element(root, "Variables")
        for variable in variables:
            var = _element(node, "Variable", {"guid": guid("variable", variable), "name": variable,
                                              "typeOfVariable": kinds[variable]})
            description = _variable_description(variable, descriptions or {})
            if description:
                _element(var, "Description", text=description)
    if sessions:
        cases = _element(root, "Cases")
        for session_id in present:
            case = _element(cases, "Case", {"guid": guid("case", session_id), "name": session_id})
            values = session_rows.get(session_id, {})
            for variable in variables:
                raw = (values.get(variable) or "").strip()
                if not raw:
                    continue
                value = _element(case, "VariableValue")
                _element(value, "VariableRef", {"targetGUID": guid("variable", variable)})
                kind = kinds[variable]
                _element(value, f"{kind}Value", text=_decimal(raw) if kind == "Float" else raw)
            _element(case, "SourceRef", {"targetGUID": guid("source", session_id)})
    if sessions:
        root.append(sources)
    _element(root, "Description", text=f"Coded with transcript_coder {__version__}; codes exported: {columns} "
                                        f"(units are selections; offsets count Unicode code points)")
    return _serialize(root), texts, summary


def write_zip(path: str | Path, members: Mapping[str, bytes]) -> Path:
    """A deterministic zip, atomically: entries in sorted order, fixed timestamp and permissions."""
    path = Path(path)
    with atomic_open(path, "wb") as handle:
        with zipfile.ZipFile(handle, "w") as archive:
            for name in sorted(members):
                info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3  # Unix, whichever system writes it
                info.external_attr = 0o644 << 16
                archive.writestr(info, members[name], compresslevel=6)
    return path


def export_qdpx(out_dir: str | Path, out: str | Path, *, columns: str = "codes",
                reviewers: Sequence[tuple[str, str | Path | None]] = (), codebook: Codebook | None = None,
                name: str | None = None) -> QdpxExport:
    """Export the coding output folder ``out_dir`` as a REFI-QDA project (``.qdpx``) at ``out``.

    ``columns`` chooses the codes exported (``codes``, ``reviewed`` or ``merged``, as in ``evaluate``).
    ``reviewers`` are ``(name, path)`` pairs, one per human reviewer: ``path`` holds that reviewer's
    ``reviewed_`` cells (a review workbook, coded CSVs, or a folder of them); ``None`` means the
    ``reviewed_`` columns of ``out_dir``'s own coded CSVs. With ``reviewed``/``merged`` and no
    reviewer given, ``out_dir``'s reviewed columns are one reviewer named ``reviewer``. The codebook
    is, by default, the one the run recorded (:func:`run_codebook`), else ``configs/codebooks``.

    Raises:
        UsageError: E508 for an unknown ``columns``; E402 for reviewers with ``columns="codes"`` or
            two reviewers of one name.
        DataError: E509 when ``out_dir`` is not a coding output folder; E514 when a reviewed unit is
            not in it; E501 for a coded cell that is not a code.
        ReviewError: E504 when reviewed cells are invalid (every bad cell listed).
    """
    if columns not in COLUMN_SOURCES:
        raise UsageError("E508", option="columns", known=", ".join(COLUMN_SOURCES), value=columns)
    if reviewers and columns == "codes":
        raise UsageError("E402", detail="--reviewer needs --columns reviewed or merged")
    names = [reviewer_name for reviewer_name, _ in reviewers]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise UsageError("E402", detail="--reviewer names must differ (one QDA user each); given twice: "
                                        + ", ".join(twice))
    out_dir = Path(out_dir)
    missing = [n for n in ("coded", "sessions.csv") if not (out_dir / n).exists()]
    if missing:
        raise DataError("E509", path=out_dir, missing=", ".join(missing))
    codebook = codebook or run_codebook(out_dir) or load_codebook()
    files = read_coded_files([out_dir], codebook)
    if columns != "codes" and not reviewers:
        reviewers = [("reviewer", None)]
    units = {row.key for f in files for row in f.rows}
    review = []
    for reviewer_name, path in reviewers if columns != "codes" else ():
        sources = files if path is None else read_coded_files([path], codebook)
        _check_cells(sources, codebook)
        person = Reviewer(QdaUser(key=f"reviewer:{reviewer_name}", name=reviewer_name))
        for file in sources:
            for row in file.rows:
                if not row.reviewed:
                    continue
                if row.key not in units:
                    raise DataError("E514", path=file.path, row=row.row, session=row.session_id,
                                    index=row.utterance_index, out=out_dir)
                person.codes[row.key] = dict(row.reviewed)
        review.append(person)
    # The model's codes: the coded CSVs' columns completed from codes.csv, which also has schemes
    # the coded CSVs leave out (client_emotion_fine), as the review workbook reads them.
    from ..review import review_units

    model_codes = {unit.row.key: unit.codes for unit in review_units(files, codebook)}
    model_users, fallback = _model_users(_read_run(out_dir))
    variables, session_rows = _read_sessions_table(out_dir / "sessions.csv")
    document, texts, summary = project_document(
        files, codebook, name=name or out_dir.resolve().name, columns=columns, model_users=model_users,
        fallback_user=fallback, reviewers=review, variables=variables, session_rows=session_rows,
        descriptions=_score_descriptions(codebook), model_codes=model_codes)
    summary.out = write_zip(out, {"project.qde": document, **texts})
    log.info("%s", summary.report())
    return summary
